//! Enrolment from an officer's offer (`tuaton-wallet enroll`): read the offer (text or a
//! picture of the officer's screen), fetch the service's trust bundle and check it starts
//! from the root the offer names, redeem the offer with the holder key's proof, and hand
//! the package to `import`. Every answer from the network is bounded before it is read.

use crate::{Result, WalletError};
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::Engine as _;
use std::path::Path;
use std::time::Duration;
use tuaton_common::bundle;
use tuaton_common::holder::HolderSecret;
use tuaton_common::offer::{ErrorResponse, Offer, RedeemResponse};
use tuaton_common::oid4vci::{
    self as spec, AsMetadata, CredentialRequest, CredentialResponse, IssuerMetadata, NonceResponse,
    Proofs, TokenResponse,
};
use tuaton_common::trust::{Anchor, TrustState};

/// Largest answer read from the service (a package with its portrait is ~100 KiB).
pub const MAX_ANSWER: u64 = 1024 * 1024;
/// How long one exchange with the service may take (fetching its whole bundle is one).
pub const DEADLINE: Duration = Duration::from_secs(60);

/// The shared client's errors in the wallet's words (the hint says nothing was added).
impl From<tuaton_cli::CliError> for WalletError {
    fn from(e: tuaton_cli::CliError) -> Self {
        use tuaton_cli::CliError as C;
        match e {
            C::Unreachable { url, reason } => WalletError::Unreachable { url, reason },
            // The wallet GETs only a service's trust bundle.
            C::HttpStatus { url, status: 404 } => WalletError::Unreachable {
                url,
                reason: "the service has published no trust bundle there (HTTP 404): the office must run `tuaton-issuer publish` first".into(),
            },
            C::HttpStatus { url, status } => WalletError::Unreachable {
                url,
                reason: format!("it answered HTTP {status}"),
            },
            C::TimedOut { ref url, .. } | C::TooLarge { ref url, .. } => WalletError::Unreachable {
                url: url.clone(),
                reason: e.to_string(),
            },
            C::Picture { path, reason } => WalletError::Io {
                path: path.into(),
                source: std::io::Error::other(reason),
            },
            other => WalletError::Usage(other.to_string()),
        }
    }
}

/// Fetches the service's trust bundle and verifies it from the root the offer names (for
/// callers that pin nothing else; `enroll` pins the root the wallet trusts).
pub fn fetch_bundle(offer: &Offer, now: i64) -> Result<TrustState> {
    fetch_service_bundle(&offer.service, offer.root, now)
}

/// Redeems the offer through the standard flow, OpenID4VCI 1.0 with the pre-authorised
/// code (docs/ISSUANCE.md, "OpenID4VCI"), and returns the credential package's bytes:
/// the issuer's metadata and its authorization server's, the token for the code and the
/// transaction code, a nonce, then the credential for a key proof JWT over that nonce.
/// Every endpoint must be on the origin of the service the issuer signed in the offer:
/// metadata cannot send the code, the token or the proof anywhere else.
pub fn redeem(offer: &Offer, tx_code: &str, holder: &HolderSecret, now: i64) -> Result<Vec<u8>> {
    let http = tuaton_cli::net::Http::new(&offer.service, DEADLINE)?;
    let origin = bundle::url_origin(&offer.service);
    let on_service = |what: &str, url: &str| -> Result<()> {
        if bundle::url_origin(url).is_none() || bundle::url_origin(url) != origin {
            return Err(unreachable(
                &offer.service,
                format!("its metadata puts the {what} elsewhere ({})", shown(url)),
            ));
        }
        Ok(())
    };
    let md: IssuerMetadata = get_json(
        &http,
        &offer.service,
        &well_known(&offer.service, spec::ISSUER_METADATA_PATH),
    )?;
    if md.credential_issuer != offer.service {
        return Err(unreachable(
            &offer.service,
            format!(
                "its metadata names another credential issuer ({})",
                shown(&md.credential_issuer)
            ),
        ));
    }
    // No authorization server named: the credential issuer is its own (section 12.2.4).
    let as_id = match md.authorization_servers.as_deref() {
        None => offer.service.clone(),
        Some([one]) => one.clone(),
        Some(_) => {
            return Err(unreachable(
                &offer.service,
                "its metadata names several authorization servers and the offer none".into(),
            ))
        }
    };
    on_service("authorization server", &as_id)?;
    let asm: AsMetadata = get_json(
        &http,
        &offer.service,
        &well_known(&as_id, spec::AS_METADATA_PATH),
    )?;
    if asm.issuer != as_id {
        return Err(unreachable(
            &offer.service,
            "its authorization server metadata names another issuer".into(),
        ));
    }
    on_service("token endpoint", &asm.token_endpoint)?;
    on_service("credential endpoint", &md.credential_endpoint)?;
    let nonce_endpoint = md.nonce_endpoint.as_deref().ok_or_else(|| {
        unreachable(
            &offer.service,
            "its metadata names no nonce endpoint".into(),
        )
    })?;
    on_service("nonce endpoint", nonce_endpoint)?;
    // Token request (section 6.1).
    let code = B64URL.encode(offer.code);
    let a = http.post_form(
        &asm.token_endpoint,
        &[
            ("grant_type", tuaton_common::oid4vci::PRE_AUTHORIZED_GRANT),
            ("pre-authorized_code", &code),
            ("tx_code", tx_code),
        ],
        SMALL_ANSWER,
    )?;
    let token: TokenResponse = answer(&offer.service, a)?;
    if !token.token_type.eq_ignore_ascii_case("bearer") {
        return Err(unreachable(
            &offer.service,
            "its access token is not a bearer token".into(),
        ));
    }
    // A nonce that went stale between the two requests is fetched once more (section 8.3.1.2).
    let mut tried = 0;
    loop {
        tried += 1;
        let a = http.post_form(nonce_endpoint, &[], SMALL_ANSWER)?;
        let nonce: NonceResponse = answer(&offer.service, a)?;
        let jwt = spec::proof_jwt(holder, &md.credential_issuer, &nonce.c_nonce, now)
            .map_err(WalletError::Core)?;
        let req = CredentialRequest {
            credential_configuration_id: Some(spec::CONFIG_CARD.into()),
            credential_identifier: None,
            proofs: Some(Proofs {
                jwt: Some(vec![jwt]),
            }),
        };
        let a = http.post_json(
            &md.credential_endpoint,
            Some(&token.access_token),
            &req,
            MAX_ANSWER,
        )?;
        match answer::<CredentialResponse>(&offer.service, a) {
            Err(WalletError::Service { code, .. }) if code == "invalid_nonce" && tried < 2 => {}
            Err(e) => return Err(e),
            Ok(r) => {
                let [c] = <[_; 1]>::try_from(r.credentials).map_err(|_| {
                    unreachable(
                        &offer.service,
                        "it answered other than one credential".into(),
                    )
                })?;
                return Ok(serde_json::to_vec(&c.credential).expect("JSON"));
            }
        }
    }
}

/// Largest answer read for metadata, a token or a nonce.
const SMALL_ANSWER: u64 = 64 * 1024;

/// Text from the network, cut and escaped for a message.
fn shown(s: &str) -> String {
    tuaton_common::text::for_display(&s.chars().take(120).collect::<String>()).into_owned()
}

fn unreachable(service: &str, reason: String) -> WalletError {
    WalletError::Unreachable {
        url: service.into(),
        reason,
    }
}

/// Where a well-known document of the identifier `id` is: the suffix goes between the
/// host and the path (OpenID4VCI 1.0 section 12.2.2, RFC 8414 section 3.1).
fn well_known(id: &str, suffix: &str) -> String {
    let (scheme, rest) = id.split_once("://").unwrap_or(("https", id));
    let (authority, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    format!(
        "{scheme}://{authority}{suffix}{}",
        path.trim_end_matches('/')
    )
}

fn get_json<T: serde::de::DeserializeOwned>(
    http: &tuaton_cli::net::Http,
    service: &str,
    url: &str,
) -> Result<T> {
    let body = http.get(url, SMALL_ANSWER).map_err(|e| match e {
        tuaton_cli::CliError::HttpStatus { status, .. } => unreachable(
            service,
            format!(
                "it has no OpenID4VCI metadata at {} (HTTP {status})",
                shown(url)
            ),
        ),
        e => e.into(),
    })?;
    serde_json::from_slice(&body).map_err(|e| {
        unreachable(
            service,
            format!("its metadata at {} does not parse ({e})", shown(url)),
        )
    })
}

/// A JSON answer, or the service's error (the standard endpoints' `error` and
/// `error_description`, or the service's own `error` and `message`).
fn answer<T: serde::de::DeserializeOwned>(service: &str, a: tuaton_cli::net::Answer) -> Result<T> {
    if !a.is_success() {
        let e: ErrorResponse = serde_json::from_slice(&a.body).map_err(|_| {
            unreachable(
                service,
                format!(
                    "it answered HTTP {} and is not an OpenID4VCI issuance service",
                    a.status
                ),
            )
        })?;
        let (code, message) = e.shown();
        return Err(WalletError::Service { code, message });
    }
    serde_json::from_slice(&a.body)
        .map_err(|e| unreachable(service, format!("its answer does not parse ({e})")))
}

/// The offer text in a picture of the officer's screen (PNG or JPEG), through the
/// programs' one bounded decoder.
pub fn read_offer_image(path: &Path) -> Result<String> {
    use tuaton_cli::picture::{scan, Symbology};
    scan(path, &[Symbology::Qr], &|_| false)?
        .into_iter()
        .find(|t| {
            t.starts_with(tuaton_common::offer::PREFIX)
                || t.starts_with(tuaton_common::offer::OID4VCI_SCHEME)
        })
        .ok_or_else(|| {
            WalletError::Usage(format!(
                "no credential offer QR code found in {}",
                path.display()
            ))
        })
}

/// Fetches the trust bundle a service publishes at `SERVICE/bundle/` and verifies it from
/// the root `root` (the fingerprint the citizen pins).
pub fn fetch_service_bundle(service: &str, root: [u8; 32], now: i64) -> Result<TrustState> {
    let base = format!("{}/bundle", service.trim_end_matches('/'));
    let src = tuaton_cli::net::HttpSource::<WalletError>::new(&base, DEADLINE)?;
    let raw = bundle::fetch(&src, WalletError::Trust)?;
    TrustState::first(&raw.roots, &raw.trust_list, Anchor::Pinned(root), now)
        .map_err(WalletError::Trust)
}

/// Asks `service` to sign the card again (`POST /v1/refresh`), proving the holder key;
/// returns the new credential package's bytes.
pub fn refresh(
    service: &str,
    gate: &tuaton_common::gate::GateCredential,
    holder: &HolderSecret,
    now: i64,
) -> Result<Vec<u8>> {
    let id = gate.full_member()?.payload.credential_id;
    let req = tuaton_common::offer::RefreshRequest {
        credential: B64URL.encode(gate.to_bytes()),
        at: now,
        proof: B64URL.encode(tuaton_common::offer::prove_refresh(
            holder, service, &id, now,
        )),
    };
    post(service, "/v1/refresh", &req)
}

fn post(service: &str, path: &str, req: &impl serde::Serialize) -> Result<Vec<u8>> {
    let url = format!("{}{path}", service.trim_end_matches('/'));
    let a =
        tuaton_cli::net::Http::new(service, DEADLINE)?.post_json(&url, None, req, MAX_ANSWER)?;
    let r: RedeemResponse = answer(service, a)?;
    Ok(serde_json::to_vec(&r.package).expect("JSON"))
}
