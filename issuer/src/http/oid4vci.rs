//! The standard issuance flow, OpenID for Verifiable Credential Issuance 1.0 with the
//! pre-authorised code grant: the metadata at their well-known paths, the token, nonce
//! and credential endpoints, and errors as the specification names them. The offer and
//! the rules behind it are the compact flow's (docs/ISSUANCE.md, "OpenID4VCI").

use super::*;
use hmac::{Hmac, Mac};
use tuaton_common::oid4vci::{
    self as spec, CheckedProof, CredentialRequest, CredentialResponse, IssuedCredential,
    NonceResponse,
};

/// How long a `c_nonce` is good for.
pub const NONCE_TTL_SECS: i64 = 5 * 60;
const NONCE_TAG: &[u8] = b"tuaton c_nonce v1";

/// Which endpoint an error is answered for: each names its errors differently.
#[derive(Clone, Copy)]
pub(super) enum Endpoint {
    /// RFC 6749 section 5.2, OpenID4VCI 1.0 section 6.3.
    Token,
    /// OpenID4VCI 1.0 section 8.3.1.2 (and RFC 6750 section 3.1 for the access token).
    Credential,
}

/// An error as a standard endpoint answers it: `{"error", "error_description"}`.
pub(super) struct OauthError(IssuerError, Endpoint);

/// The code and status the specification gives an error at `at`; `None` for the
/// service's own conditions (rate limit, database, key token), answered with the codes
/// of the rest of the service.
fn spec_code(e: &IssuerError, at: Endpoint) -> Option<(StatusCode, &'static str)> {
    use Endpoint::*;
    use IssuerError as E;
    let bad = StatusCode::BAD_REQUEST;
    Some(match (at, e) {
        (Token, E::UnsupportedGrantType) => (bad, "unsupported_grant_type"),
        (Token, E::BadRequest(_)) => (bad, "invalid_request"),
        // A wrong, used, expired or closed code, or a wrong transaction code (section 6.3).
        (
            Token,
            E::UnknownOffer
            | E::OfferUsed
            | E::OfferExpired
            | E::OfferClosed
            | E::WrongTxCode { .. }
            | E::RedeliveryOver,
        ) => (bad, "invalid_grant"),
        (Credential, E::AccessTokenInvalid) => (StatusCode::UNAUTHORIZED, "invalid_token"),
        (Credential, E::BadRequest(_)) => (bad, "invalid_credential_request"),
        (Credential, E::UnknownConfiguration(_)) => (bad, "unknown_credential_configuration"),
        (Credential, E::StaleNonce) => (bad, "invalid_nonce"),
        (Credential, E::Core(tuaton_common::Error::Signature(_))) => (bad, "invalid_proof"),
        (Credential, E::OfferUsed | E::OfferClosed | E::RedeliveryOver | E::OfferExpired) => {
            (bad, "credential_request_denied")
        }
        _ => return None,
    })
}

impl IntoResponse for OauthError {
    fn into_response(self) -> Response {
        let OauthError(e, at) = self;
        let Some((status, code)) = spec_code(&e, at) else {
            // The service's own condition (rate limit, database, key token): its usual
            // answer, whose `error` and `message` a wallet shows as it would these.
            return ApiError(e).into_response();
        };
        let mut res = (
            status,
            [(header::CACHE_CONTROL, "no-store")],
            Json(serde_json::json!({"error": code, "error_description": e.to_string()})),
        )
            .into_response();
        if status == StatusCode::UNAUTHORIZED {
            // RFC 6750 section 3.
            res.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer error=\"invalid_token\""),
            );
        }
        res.extensions_mut().insert(ErrorCode(code));
        res
    }
}

impl From<ApiError> for OauthError {
    fn from(ApiError(e): ApiError) -> Self {
        // Extractor rejections (the rate limit) are the service's own.
        OauthError(e, Endpoint::Token)
    }
}

/// The standard flow's routes. The metadata is also found with the issuer's path after
/// the well-known part (section 12.2.2, RFC 8414 section 3.1), for a service published
/// under a path. Every one answers any origin (CORS), as wallets that run in a browser
/// need: nothing here rests on cookies or the origin, only on the code, the token and
/// the holder's proof.
pub(super) fn router() -> Router<Arc<App>> {
    Router::new()
        .route(spec::ISSUER_METADATA_PATH, get(issuer_metadata))
        .route(
            &format!("{}/{{*path}}", spec::ISSUER_METADATA_PATH),
            get(issuer_metadata),
        )
        .route(spec::AS_METADATA_PATH, get(as_metadata))
        .route(
            &format!("{}/{{*path}}", spec::AS_METADATA_PATH),
            get(as_metadata),
        )
        .route(spec::TOKEN_PATH, post(token))
        .route(spec::NONCE_PATH, post(nonce))
        .route(spec::CREDENTIAL_PATH, post(credential))
        .layer(axum::middleware::from_fn(cors))
}

/// CORS for the standard endpoints: a preflight is answered here; every answer allows any
/// origin (no credentials are involved, so `*`).
async fn cors(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    use header::HeaderValue;
    let mut res = if req.method() == axum::http::Method::OPTIONS {
        let mut r = StatusCode::NO_CONTENT.into_response();
        let h = r.headers_mut();
        h.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static("GET, POST"),
        );
        h.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static("authorization, content-type, dpop"),
        );
        h.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from_static("600"),
        );
        r
    } else {
        next.run(req).await
    };
    res.headers_mut().insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    res.headers_mut().insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static("www-authenticate"),
    );
    res
}

/// `GET /.well-known/openid-credential-issuer` (section 12.2.2).
pub(super) async fn issuer_metadata(State(app): State<Arc<App>>) -> Result<Response, ApiError> {
    let (name, _) = app.issuer.identity().await?;
    Ok(Json(spec::issuer_metadata(&app.public_url, &name)).into_response())
}

/// `GET /.well-known/oauth-authorization-server` (RFC 8414 section 3).
pub(super) async fn as_metadata(State(app): State<Arc<App>>) -> Response {
    Json(spec::as_metadata(&app.public_url)).into_response()
}

/// The token request's parameters (RFC 6749 section 4.1.3 form encoding): each at most
/// once (section 3.2).
fn form(body: &[u8]) -> Result<std::collections::BTreeMap<String, String>> {
    let mut m = std::collections::BTreeMap::new();
    for (k, v) in form_urlencoded::parse(body) {
        if m.insert(k.clone().into_owned(), v.into_owned()).is_some() {
            return Err(IssuerError::BadRequest(format!(
                "the parameter {:?} is given twice",
                k.chars().take(32).collect::<String>()
            )));
        }
    }
    Ok(m)
}

/// `POST /oid4vci/token`: the pre-authorised code and the transaction code for an access
/// token (section 6).
pub(super) async fn token(
    State(app): State<Arc<App>>,
    admitted: std::result::Result<Admitted, ApiError>,
    headers: HeaderMap,
    b: std::result::Result<Bytes, BytesRejection>,
) -> Result<Response, OauthError> {
    let at = Endpoint::Token;
    admitted?;
    let run = async {
        let form_type = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| {
                v.to_ascii_lowercase()
                    .starts_with("application/x-www-form-urlencoded")
            });
        if !form_type {
            return Err(IssuerError::BadRequest(
                "the token request must be application/x-www-form-urlencoded".into(),
            ));
        }
        let b = b.map_err(|e| IssuerError::BadRequest(format!("the body: {e}")))?;
        let p = form(&b)?;
        match p.get("grant_type").map(String::as_str) {
            Some(spec::PRE_AUTHORIZED_GRANT) => {}
            Some(_) => return Err(IssuerError::UnsupportedGrantType),
            None => return Err(IssuerError::BadRequest("grant_type is missing".into())),
        }
        let code = p
            .get("pre-authorized_code")
            .ok_or_else(|| IssuerError::BadRequest("pre-authorized_code is missing".into()))?
            .clone();
        let tx_code = p.get("tx_code").cloned();
        // The offer names its configurations; nothing narrows them here.
        if p.contains_key("authorization_details") {
            return Err(IssuerError::BadRequest(
                "authorization_details is not used with this issuer's offers: ask for the configurations the offer names at the credential endpoint".into(),
            ));
        }
        detached(async move {
            app.issuer
                .grant_token(&code, tx_code.as_deref(), (app.now)())
                .await
        })
        .await
    };
    let t = run.await.map_err(|e| OauthError(e, at))?;
    // RFC 6749 section 5.1: no cache keeps a token.
    Ok((
        [
            (header::CACHE_CONTROL, "no-store"),
            (header::PRAGMA, "no-cache"),
        ],
        Json(t),
    )
        .into_response())
}

/// A fresh `c_nonce`: when it was made, 16 random bytes, and the first 16 bytes of an
/// HMAC-SHA256 of both under the service's shared key. Any instance of the service can
/// check it; none needs to remember it.
fn make_nonce(key: &[u8; 32], now: i64) -> String {
    let random = rand::random::<[u8; 16]>();
    let mut b = now.to_be_bytes().to_vec();
    b.extend(random);
    let tag = nonce_mac(key, &b).finalize().into_bytes();
    b.extend(&tag[..16]);
    B64URL.encode(b)
}

fn nonce_mac(key: &[u8; 32], body: &[u8]) -> Hmac<sha2::Sha256> {
    let mut m = Hmac::<sha2::Sha256>::new_from_slice(key).expect("any key length");
    m.update(NONCE_TAG);
    m.update(body);
    m
}

/// Whether `nonce` is one this service made within [`NONCE_TTL_SECS`] of now.
fn fresh_nonce(key: &[u8; 32], nonce: &str, now: i64) -> bool {
    let Some(b) = B64URL.decode(nonce).ok().filter(|b| b.len() == 40) else {
        return false;
    };
    let made = i64::from_be_bytes(b[..8].try_into().expect("8 bytes"));
    // The MAC's own check, in constant time (the tag is a secret's work).
    let same = nonce_mac(key, &b[..24])
        .verify_truncated_left(&b[24..])
        .is_ok();
    same && made <= now + 5 && now - made <= NONCE_TTL_SECS
}

/// `POST /oid4vci/nonce` (section 7).
pub(super) async fn nonce(State(app): State<Arc<App>>) -> Result<Response, ApiError> {
    let key = app.nonce_key().await?;
    Ok((
        [(header::CACHE_CONTROL, "no-store")],
        Json(NonceResponse {
            c_nonce: make_nonce(&key, (app.now)()),
        }),
    )
        .into_response())
}

/// `POST /oid4vci/credential` (section 8): the access token, the configuration, and one
/// key proof JWT.
pub(super) async fn credential(
    State(app): State<Arc<App>>,
    admitted: std::result::Result<Admitted, ApiError>,
    headers: HeaderMap,
    b: std::result::Result<Bytes, BytesRejection>,
) -> Result<Response, OauthError> {
    let at = Endpoint::Credential;
    admitted?;
    let run = async {
        let token = bearer(&headers).map_err(|_| IssuerError::AccessTokenInvalid)?;
        // The token first: a caller without one makes the service check no signature,
        // and learns nothing from the proof's or the nonce's answer.
        app.issuer.token_lives(&token, (app.now)()).await?;
        let req: CredentialRequest = body(b)?;
        if req.credential_identifier.is_some() {
            return Err(IssuerError::BadRequest(
                "credential_identifier is not used by this issuer: send credential_configuration_id".into(),
            ));
        }
        let config = req.credential_configuration_id.ok_or_else(|| {
            IssuerError::BadRequest("credential_configuration_id is missing".into())
        })?;
        if !offer::CONFIGURATION_IDS.contains(&config.as_str()) {
            return Err(IssuerError::UnknownConfiguration(
                config.chars().take(64).collect(),
            ));
        }
        let jwts = req.proofs.and_then(|p| p.jwt).unwrap_or_default();
        let [jwt] = <[String; 1]>::try_from(jwts)
            .map_err(|_| IssuerError::BadRequest("proofs must hold exactly one jwt".into()))?;
        let now = (app.now)();
        let CheckedProof { holder, nonce } =
            spec::check_proof_jwt(&jwt, &app.public_url, now).map_err(IssuerError::Core)?;
        if !fresh_nonce(&app.nonce_key().await?, &nonce, now) {
            return Err(IssuerError::StaleNonce);
        }
        // Checked before the token is spent, so a wallet that asked for what it cannot
        // get can still ask for another configuration.
        if config == spec::CONFIG_MDOC {
            if !matches!(holder, tuaton_common::holder::HolderKey::P256(_)) {
                return Err(IssuerError::Core(tuaton_common::Error::Signature(
                    "an mso_mdoc credential needs a P-256 key (ES256 proof)".into(),
                )));
            }
            if !app.issuer.issues_mdoc().await? {
                return Err(IssuerError::UnknownConfiguration(config.clone()));
            }
        }
        let r =
            detached(async move { app.issuer.redeem_token(&token, &holder, now).await }).await?;
        let credential = if config == spec::CONFIG_LDP {
            // The W3C form alone, as the package carries it.
            r.package.get("w3c").cloned().ok_or_else(damaged_package)?
        } else if config == spec::CONFIG_MDOC {
            // Appendix A.2.4: the base64url of the IssuerSigned CBOR.
            let hex = r
                .package
                .get("mdoc")
                .and_then(|m| m.as_str())
                .ok_or_else(|| {
                    // A card issued without it (its document signer had expired, or before
                    // this issuer had mdoc keys): a refusal, not a server fault.
                    IssuerError::BadRequest("this card was issued without the mdoc form".into())
                })?;
            let bytes = hex::decode(hex).map_err(|_| damaged_package())?;
            serde_json::Value::String(B64URL.encode(bytes))
        } else {
            r.package
        };
        Ok(CredentialResponse {
            credentials: vec![IssuedCredential { credential }],
        })
    };
    let r = run.await.map_err(|e| OauthError(e, at))?;
    Ok(([(header::CACHE_CONTROL, "no-store")], Json(r)).into_response())
}

fn damaged_package() -> IssuerError {
    IssuerError::StoreDamaged("a credential package lacks the form asked for".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_nonce_is_good_for_five_minutes_and_only_under_its_key() {
        let key = [7; 32];
        let n = make_nonce(&key, 1000);
        assert!(fresh_nonce(&key, &n, 1000));
        assert!(fresh_nonce(&key, &n, 1000 + NONCE_TTL_SECS));
        assert!(!fresh_nonce(&key, &n, 1001 + NONCE_TTL_SECS));
        assert!(!fresh_nonce(&key, &n, 900), "made in the future");
        assert!(!fresh_nonce(&[8; 32], &n, 1000));
        let mut b = B64URL.decode(&n).unwrap();
        b[0..8].copy_from_slice(&2000i64.to_be_bytes());
        assert!(
            !fresh_nonce(&key, &B64URL.encode(&b), 2000),
            "a changed time"
        );
        assert!(!fresh_nonce(&key, "", 1000));
    }
}
