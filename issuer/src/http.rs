//! The issuance service's HTTP interface (axum), and the blocking client the officer's
//! command uses. Endpoints and bodies: docs/ISSUANCE.md. Every body is bounded before it is
//! read; store work runs in a task of its own, so a client that hangs up never cuts a
//! redemption in half (it commits whole or not at all, and the same wallet asking again
//! gets the same credential).
//!
//! Handlers are written as axum's own: what every request needs is an extractor (the
//! office's or admin's credential, the rate limit, the JSON body), and an error is an
//! `ApiError`, which is its own response.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{
    ConnectInfo, DefaultBodyLimit, FromRequest, FromRequestParts, Path as UrlPath, Request, State,
};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::de::DeserializeOwned;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use tuaton_common::offer::{
    ErrorResponse, OfferRequest, OfferResponse, RedeemRequest, RedeemResponse, RefreshRequest,
};

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::Engine as _;
use tuaton_common::offer;

use crate::pg::Office;

mod oid4vci;
use crate::{Actor, IssuedRecord, IssuerError, PublishReport, Result};

/// Largest request body: a record and a 64 KiB portrait in base64, with room to spare.
pub const MAX_BODY: usize = 256 * 1024;
/// Largest answer the clients read (a credential package with its portrait is ~100 KiB).
pub const MAX_ANSWER: u64 = 1024 * 1024;

pub use crate::app::{App, BundleCache, Limiter, RateLimit, INDEX_MAX_AGE_SECS};

/// The router.
pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/v1/offers", post(offers))
        .route("/v1/credential", post(credential))
        .route("/v1/refresh", post(refresh))
        .route("/v1/admin/revoke", post(admin_revoke))
        .route("/v1/admin/rotate", post(admin_rotate))
        .route("/v1/admin/revoke-key", post(admin_revoke_key))
        .route("/v1/admin/publish", post(admin_publish))
        .route("/bundle/{*path}", get(bundle))
        // OpenID4VCI 1.0, open to wallets that run in a browser (CORS).
        .merge(oid4vci::router())
        // The issuer's DID document, where did:web resolves a DID of this service's host.
        .route("/.well-known/did.json", get(did_document))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        // The officer console (its pages carry their own security headers).
        .merge(crate::console::router())
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(axum::middleware::from_fn_with_state(app.clone(), track))
        .with_state(app)
}

/// The stable code of an error answer, left on the response for [`track`].
#[derive(Clone, Copy)]
struct ErrorCode(&'static str);

/// A request id: the trusted proxy's `X-Request-Id` when it is 1 to 64 visible ASCII
/// characters (so one id follows a request through both logs), else 16 random hex digits.
/// Another client's is ignored: it could reuse a request's id to muddle the log.
fn request_id(headers: &HeaderMap, from_proxy: bool) -> String {
    headers
        .get("x-request-id")
        .filter(|_| from_proxy)
        .and_then(|v| v.to_str().ok())
        .filter(|v| (1..=64).contains(&v.len()) && v.bytes().all(|b| b.is_ascii_graphic()))
        .map(str::to_owned)
        .unwrap_or_else(|| hex::encode(rand::random::<[u8; 8]>()))
}

/// Every request: an id (answered in `X-Request-Id`, and on every log line of the request
/// through its span), one log line when answered, and the counts of `/metrics`.
async fn track(
    State(app): State<Arc<App>>,
    matched: Option<axum::extract::MatchedPath>,
    req: Request,
    next: axum::middleware::Next,
) -> Response {
    use tracing::Instrument as _;
    let from_proxy = app.trusted_proxy.is_some()
        && req
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip())
            == app.trusted_proxy;
    let id = request_id(req.headers(), from_proxy);
    let method = req.method().clone();
    let route = matched.as_ref().map(|m| m.as_str().to_owned());
    let span = tracing::info_span!(
        "request",
        id = %id,
        method = %method,
        route = route.as_deref().unwrap_or("unmatched")
    );
    let started = std::time::Instant::now();
    let mut res = next.run(req).instrument(span.clone()).await;
    let took = started.elapsed();
    let code = res.extensions().get::<ErrorCode>().map(|c| c.0);
    let status = res.status().as_u16();
    app.metrics
        .request(route.as_deref(), &method, status, code, took);
    span.in_scope(|| {
        tracing::info!(
            status,
            ms = took.as_secs_f64() * 1e3,
            error = code.unwrap_or(""),
            "answered"
        )
    });
    if let Ok(v) = header::HeaderValue::from_str(&id) {
        res.headers_mut().insert("x-request-id", v);
    }
    res
}

/// Readiness: the database answers with the issuer's schema, and the key token (if the
/// keys are in one) answers. 503 with the reason otherwise, so a balancer stops sending
/// officers here while either is down (`/healthz` only says the process runs).
async fn readyz(State(app): State<Arc<App>>) -> Response {
    let db = crate::pg::ping(app.issuer.store()).await;
    let (what, e) = match (db, app.issuer.token_ready()) {
        (Ok(()), Ok(())) => return (StatusCode::OK, "ready\n").into_response(),
        (Err(e), _) => ("the database", e),
        (Ok(()), Err(e)) => ("the key token", e),
    };
    // Which part, for the balancer's operator; the server's or token's own words (names,
    // addresses) only in the service's log.
    tracing::warn!("not ready: {what}: {e}");
    let mut res = (
        StatusCode::SERVICE_UNAVAILABLE,
        [(header::CACHE_CONTROL, "no-store")],
        Json(ErrorResponse {
            error: "not_ready".into(),
            message: format!("{what} does not answer; the detail is in the service's log"),
        }),
    )
        .into_response();
    res.extensions_mut().insert(ErrorCode("not_ready"));
    res
}

/// Prometheus' scrape (text format 0.0.4).
async fn metrics(State(app): State<Arc<App>>) -> Response {
    let pool = app.issuer.store().pool_use();
    (
        [
            (
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            ),
            (header::CACHE_CONTROL, "no-store"),
        ],
        app.metrics.render(pool),
    )
        .into_response()
}

// ---- Errors ----

/// An error as the service answers it: the status and stable code [`status_of`] gives,
/// in an [`ErrorResponse`]. Handlers and extractors return it, and `?` makes one of any
/// [`IssuerError`].
#[derive(Debug)]
struct ApiError(IssuerError);

impl From<IssuerError> for ApiError {
    fn from(e: IssuerError) -> Self {
        ApiError(e)
    }
}

/// What the client is told of an error beside its status and code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Detail {
    /// The error's own message: it is about the request, or says what the client can do.
    Shown,
    /// Only a message naming the code; the error itself goes to the operator's log (it is
    /// about the service's own state: a path, the database's or the token's words).
    Logged,
}

type Status = (StatusCode, &'static str, Detail);

/// The service's own failure, of no more use to the client than its code.
const INTERNAL: Status = (
    StatusCode::INTERNAL_SERVER_ERROR,
    "internal",
    Detail::Logged,
);

/// The HTTP status, stable code and detail of every error. No catch-all: a new
/// [`IssuerError`] variant does not compile until it is given its answer here.
fn status_of(e: &IssuerError) -> Status {
    use Detail::{Logged, Shown};
    use IssuerError as E;
    use StatusCode as S;
    match e {
        E::Core(c) => core_status(c),
        E::BadRequest(_) | E::Usage(_) => (S::BAD_REQUEST, "bad_request", Shown),
        // An admin's revoke-key of the active key before a rotate.
        E::NoStagedKey(_) => (S::CONFLICT, "no_staged_key", Shown),
        // CLI-only operations: never the service's answer.
        E::OfficeExists(_) | E::NoSuchOffice(_) | E::NotEnoughRootKeys { .. } => INTERNAL,
        // The service started with keys it cannot reach.
        E::KeysElsewhere(_) | E::KeysLocked => {
            (S::SERVICE_UNAVAILABLE, "key_token_unavailable", Logged)
        }
        E::BadOfficeCredential => (S::UNAUTHORIZED, "bad_office_credential", Shown),
        E::NotAdmin => (S::FORBIDDEN, "not_admin", Shown),
        E::UnknownOffer => (S::NOT_FOUND, "unknown_offer", Shown),
        E::OfferUsed => (S::CONFLICT, "offer_used", Shown),
        E::OfferExpired => (S::GONE, "offer_expired", Shown),
        E::RedeliveryOver => (S::GONE, "offer_redelivery_over", Shown),
        E::OfferClosed => (S::GONE, "offer_closed", Shown),
        E::WrongTxCode { .. } => (S::FORBIDDEN, "wrong_tx_code", Shown),
        E::UnknownCredential(_) => (S::NOT_FOUND, "unknown_credential", Shown),
        E::UnknownKid(_) => (S::NOT_FOUND, "unknown_kid", Shown),
        E::Revoked(_) => (S::FORBIDDEN, "credential_revoked", Shown),
        E::RateLimited => (S::TOO_MANY_REQUESTS, "rate_limited", Shown),
        // The standard flow's own: answered by its endpoints with the specification's
        // codes (http/oid4vci.rs); these are never reached there.
        E::AccessTokenInvalid => (S::UNAUTHORIZED, "invalid_token", Shown),
        E::UnsupportedGrantType => (S::BAD_REQUEST, "unsupported_grant_type", Shown),
        E::UnknownConfiguration(_) => (S::BAD_REQUEST, "unknown_credential_configuration", Shown),
        E::StaleNonce => (S::BAD_REQUEST, "invalid_nonce", Shown),
        // The console answers these with its own pages.
        E::WrongPassword => (S::UNAUTHORIZED, "wrong_password", Shown),
        // CLI-only.
        E::NoSuchOfficer(_) | E::OfficerExists(_) => INTERNAL,
        // Concurrent issuances, not a failure: the message says nothing was issued.
        E::Busy(_) => (S::SERVICE_UNAVAILABLE, "busy", Shown),
        E::NoActiveKey => (S::SERVICE_UNAVAILABLE, "no_active_key", Logged),
        E::Database(_) => (S::SERVICE_UNAVAILABLE, "database_unavailable", Logged),
        E::Token(_) => (S::SERVICE_UNAVAILABLE, "key_token_unavailable", Logged),
        // The service's own storage and set-up.
        E::Store(_)
        | E::StoreDamaged(_)
        | E::Io { .. }
        | E::AlreadyInitialised(_)
        | E::NotInitialised(_)
        | E::WrongPassphrase => INTERNAL,
        // The officer's client and the backup's: never the service's answer.
        E::Service { .. } | E::Unreachable { .. } | E::NotBackup { .. } => INTERNAL,
    }
}

/// A core error: the request's (a holder proof or card that does not verify, a record
/// refused, a card that does not decode) or the service's own (its key, its trust data).
fn core_status(e: &tuaton_common::Error) -> Status {
    use tuaton_common::Error as C;
    use Detail::{Logged, Shown};
    use StatusCode as S;
    match e {
        C::Signature(_) => (S::BAD_REQUEST, "bad_proof", Shown),
        C::InvalidField { .. } | C::Json(_) => (S::UNPROCESSABLE_ENTITY, "bad_record", Shown),
        // A card sent for renewal that does not decode.
        C::Cbor(_) | C::Payload(_) | C::UnsupportedVersion => {
            (S::BAD_REQUEST, "bad_request", Shown)
        }
        C::Signer(_) => (S::SERVICE_UNAVAILABLE, "key_token_unavailable", Logged),
        C::W3c(_)
        | C::Trust(_)
        | C::Threshold { .. }
        | C::Rollback { .. }
        | C::ChainGap { .. }
        | C::WrongRoot { .. }
        | C::StatusMismatch(_)
        | C::StatusMissing(_)
        | C::StatusProof(..)
        | C::ForeignSignature(_)
        | C::BadFingerprint
        | C::UnpinnedRoot { .. }
        | C::RootMismatch { .. }
        | C::RootExpired { .. }
        | C::Session(_)
        | C::WrongSecret => INTERNAL,
        // `tuaton_common::Error` is `#[non_exhaustive]`, so this crate must have an arm for
        // variants added there later: the service's fault until they are placed above.
        _ => INTERNAL,
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let ApiError(e) = self;
        let (status, code, detail) = status_of(&e);
        // Operators see the detail; clients see what they can act on.
        let message = match detail {
            Detail::Shown => e.to_string(),
            Detail::Logged => {
                tracing::error!(code, "{e}");
                format!(
                    "the service cannot issue right now ({code}); nothing was issued, try again"
                )
            }
        };
        let mut res = (
            status,
            Json(ErrorResponse {
                error: code.into(),
                message,
            }),
        )
            .into_response();
        res.extensions_mut().insert(ErrorCode(code));
        res
    }
}

// ---- Extractors ----
//
// Parts extractors run first, in argument order; `Body`, last, is the one that reads the
// body. So a handler's checks run as its arguments read: credential or rate limit, then
// the body.

fn body<T: DeserializeOwned>(b: std::result::Result<Bytes, BytesRejection>) -> Result<T> {
    let b = b.map_err(|e| {
        IssuerError::BadRequest(format!(
            "the body could not be read ({e}); at most {MAX_BODY} bytes"
        ))
    })?;
    serde_json::from_slice(&b).map_err(|e| IssuerError::BadRequest(format!("the body: {e}")))
}

fn bearer(h: &HeaderMap) -> Result<String> {
    h.get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        // The scheme's name is case-insensitive (RFC 9110 section 11.1).
        .and_then(|v| {
            v.get(..7)
                .filter(|s| s.eq_ignore_ascii_case("bearer "))
                .map(|_| &v[7..])
        })
        .map(|t| t.trim().to_owned())
        .filter(|t| !t.is_empty() && t.len() <= 200)
        .ok_or(IssuerError::BadOfficeCredential)
}

/// The JSON body, bounded by the router's [`DefaultBodyLimit`]; one that cannot be read
/// or does not parse is a `bad_request`.
struct Body<T>(T);

impl<T: DeserializeOwned> FromRequest<Arc<App>> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, app: &Arc<App>) -> Result<Self, Self::Rejection> {
        let b = Bytes::from_request(req, app).await;
        Ok(Body(body(b)?))
    }
}

/// The office whose bearer credential the request carries.
struct OfficeAuth(Office);

impl FromRequestParts<Arc<App>> for OfficeAuth {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        app: &Arc<App>,
    ) -> Result<Self, Self::Rejection> {
        let token = bearer(&parts.headers)?;
        Ok(OfficeAuth(app.issuer.authenticate(&token).await?))
    }
}

/// An office whose credential is an admin's.
struct AdminAuth(Office);

impl FromRequestParts<Arc<App>> for AdminAuth {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        app: &Arc<App>,
    ) -> Result<Self, Self::Rejection> {
        let OfficeAuth(office) = OfficeAuth::from_request_parts(parts, app).await?;
        if !office.admin {
            return Err(IssuerError::NotAdmin.into());
        }
        Ok(AdminAuth(office))
    }
}

/// A client within its redemption rate ([`App::redeem_limit`], per client address).
struct Admitted;

impl FromRequestParts<Arc<App>> for Admitted {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        app: &Arc<App>,
    ) -> Result<Self, Self::Rejection> {
        app.admit(
            parts.extensions.get::<ConnectInfo<SocketAddr>>(),
            &parts.headers,
        )?;
        Ok(Admitted)
    }
}

// ---- Handlers ----

/// A handler's answer: JSON, or the error's.
type Answer<T> = Result<Json<T>, ApiError>;

/// Runs store work in a task of its own: if the client goes away the work still finishes.
async fn detached<T: Send + 'static>(
    f: impl Future<Output = Result<T>> + Send + 'static,
) -> Result<T> {
    tokio::spawn(f)
        .await
        .unwrap_or_else(|e| Err(IssuerError::StoreDamaged(format!("a request failed: {e}"))))
}

async fn offers(
    State(app): State<Arc<App>>,
    OfficeAuth(office): OfficeAuth,
    Body(req): Body<OfferRequest>,
) -> Answer<OfferResponse> {
    let o = detached(async move {
        app.issuer
            .create_offer(&office, &app.public_url, &req, (app.now)())
            .await
    })
    .await?;
    Ok(Json(o))
}

async fn credential(
    State(app): State<Arc<App>>,
    _admitted: Admitted,
    Body(req): Body<RedeemRequest>,
) -> Answer<RedeemResponse> {
    let r = detached(async move { app.issuer.redeem(&app.public_url, &req, (app.now)()).await })
        .await?;
    Ok(Json(r))
}

async fn refresh(
    State(app): State<Arc<App>>,
    _admitted: Admitted,
    Body(req): Body<RefreshRequest>,
) -> Answer<RedeemResponse> {
    let r = detached(async move { app.issuer.refresh(&app.public_url, &req, (app.now)()).await })
        .await?;
    Ok(Json(r))
}

/// The audit's actor for an admin request: the admin credential's name and the officer
/// the body names (visible text, at most 64 characters, as on offers).
fn admin_actor(office: Office, officer: String) -> Result<Actor> {
    crate::pg::check_name("officer", &officer)?;
    Ok(Actor {
        office: office.name,
        officer,
    })
}

/// `POST /v1/admin/revoke` body: one credential, or every card of one citizen.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RevokeBody {
    #[serde(default)]
    credential_id: Option<String>,
    #[serde(default)]
    citizen_id: Option<String>,
    officer: String,
}

async fn admin_revoke(
    State(app): State<Arc<App>>,
    AdminAuth(office): AdminAuth,
    Body(r): Body<RevokeBody>,
) -> Answer<Vec<IssuedRecord>> {
    let actor = admin_actor(office, r.officer)?;
    let revoked = detached(async move {
        match (r.credential_id, r.citizen_id) {
            (Some(c), None) => Ok(vec![app.issuer.revoke(&c, &actor, (app.now)()).await?]),
            (None, Some(id)) => app.issuer.revoke_citizen(&id, &actor, (app.now)()).await,
            _ => Err(IssuerError::BadRequest(
                "give exactly one of credential_id and citizen_id".into(),
            )),
        }
    })
    .await?;
    Ok(Json(revoked))
}

/// `POST /v1/admin/rotate`, `/revoke-key` and `/publish` body.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct AdminBody {
    officer: String,
    #[serde(default)]
    valid_days: Option<u32>,
    #[serde(default)]
    kid: Option<String>,
}

async fn admin_rotate(
    State(app): State<Arc<App>>,
    AdminAuth(office): AdminAuth,
    Body(r): Body<AdminBody>,
) -> Answer<serde_json::Value> {
    let actor = admin_actor(office, r.officer)?;
    let k = detached(async move { app.issuer.rotate(&actor, (app.now)()).await }).await?;
    Ok(Json(
        serde_json::json!({"kid": hex::encode(&k.kid), "state": k.status.name()}),
    ))
}

async fn admin_revoke_key(
    State(app): State<Arc<App>>,
    AdminAuth(office): AdminAuth,
    Body(r): Body<AdminBody>,
) -> Answer<serde_json::Value> {
    let kid = r
        .kid
        .ok_or_else(|| IssuerError::BadRequest("kid is missing".into()))?;
    let actor = admin_actor(office, r.officer)?;
    let ks =
        detached(async move { app.issuer.revoke_key(&kid, &actor, (app.now)()).await }).await?;
    Ok(Json(
        serde_json::json!({"revoked": ks.iter().map(|k| hex::encode(&k.kid)).collect::<Vec<_>>()}),
    ))
}

async fn admin_publish(
    State(app): State<Arc<App>>,
    AdminAuth(office): AdminAuth,
    Body(r): Body<AdminBody>,
) -> Answer<PublishReport> {
    let days = r.valid_days.unwrap_or(7);
    let actor = admin_actor(office, r.officer)?;
    let built =
        detached(async move { app.issuer.publish(&actor, (app.now)(), days).await }).await?;
    Ok(Json(built.report))
}

/// `GET /.well-known/did.json`: the DID document of the newest publish.
async fn did_document(State(app): State<Arc<App>>) -> Result<Response, ApiError> {
    Ok(
        match app
            .bundles
            .get(&app.issuer, tuaton_common::bundle::DID_DOCUMENT)
            .await?
        {
            Some(b) => (
                [
                    (header::CONTENT_TYPE, "application/did+json"),
                    (header::CACHE_CONTROL, "public, max-age=60"),
                ],
                b,
            )
                .into_response(),
            None => StatusCode::NOT_FOUND.into_response(),
        },
    )
}

async fn bundle(
    State(app): State<Arc<App>>,
    UrlPath(path): UrlPath<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    if !tuaton_common::bundle::safe_rel(&path) {
        return Ok(StatusCode::NOT_FOUND.into_response());
    }
    let Some(body) = app.bundles.get(&app.issuer, &path).await? else {
        // Not cached by anyone: the file may appear with the next publish.
        return Ok((StatusCode::NOT_FOUND, [(header::CACHE_CONTROL, "no-store")]).into_response());
    };
    if path != tuaton_common::bundle::INDEX {
        // Named by version or content hash, these bytes never change under their name;
        // the JSON-LD context is named by format version only, so it lives a day.
        let cache = if path.starts_with("contexts/") {
            "public, max-age=86400"
        } else {
            "public, max-age=31536000, immutable"
        };
        return Ok(([(header::CACHE_CONTROL, cache)], body).into_response());
    }
    // The one file that changes: a short life, and revalidated by its digest.
    let etag = format!(
        "\"{}\"",
        hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&body))
    );
    let cache = format!("public, max-age={INDEX_MAX_AGE_SECS}");
    // RFC 9110, section 13.1.2: `*`, or any listed tag equal by the weak comparison.
    let unchanged = headers.get_all(header::IF_NONE_MATCH).iter().any(|v| {
        v.to_str().is_ok_and(|v| {
            v.split(',').any(|t| {
                let t = t.trim();
                t == "*" || t.strip_prefix("W/").unwrap_or(t) == etag
            })
        })
    });
    Ok(if unchanged {
        (
            StatusCode::NOT_MODIFIED,
            [(header::CACHE_CONTROL, cache), (header::ETAG, etag)],
        )
            .into_response()
    } else {
        ([(header::CACHE_CONTROL, cache), (header::ETAG, etag)], body).into_response()
    })
}

/// How long a client has to send a request's headers (a slowloris client holds a
/// connection by sending them a byte at a time).
pub const HEADER_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
/// How long a whole request may take, body and answer included.
pub const REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);
/// How long one connection may stay open, idle keep-alive included: a client holding
/// connections open without sending anything is cut off then (it reconnects if it still
/// has something to ask).
pub const CONNECTION_LIFETIME: std::time::Duration = std::time::Duration::from_secs(60);
/// Connections served at once; more wait in the listen backlog. Each idle one costs a
/// task and a file descriptor, and the header timeout frees a stalled one.
pub const MAX_CONNECTIONS: usize = 8192;

/// Serves on `listener` until SIGINT or SIGTERM, then finishes the requests in flight and
/// returns (the caller's runtime then closes the pool's connections). Each connection has
/// [`HEADER_TIMEOUT`] to send its headers, each request [`REQUEST_TIMEOUT`], and the
/// connection [`CONNECTION_LIFETIME`] in all; at most [`MAX_CONNECTIONS`] are served at
/// once.
pub async fn serve(app: Arc<App>, listener: std::net::TcpListener) -> Result<()> {
    use hyper_util::rt::{TokioIo, TokioTimer};
    let io = |source| IssuerError::Io {
        path: "the listening socket".into(),
        source,
    };
    listener.set_nonblocking(true).map_err(io)?;
    let mut term =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).map_err(io)?;
    let l = tokio::net::TcpListener::from_std(listener).map_err(io)?;
    let router = router(app).layer(axum::middleware::from_fn(request_timeout));
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .keep_alive(true);
    loop {
        let slot = tokio::select! {
            s = slots.clone().acquire_owned() => s.expect("never closed"),
            _ = tokio::signal::ctrl_c() => break,
            _ = term.recv() => break,
        };
        let (stream, peer) = tokio::select! {
            a = l.accept() => match a {
                Ok(a) => a,
                // Out of descriptors or a connection reset before accept: go on.
                Err(_) => {
                    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                    continue;
                }
            },
            _ = tokio::signal::ctrl_c() => break,
            _ = term.recv() => break,
        };
        let _ = stream.set_nodelay(true);
        let router = router.clone();
        let svc =
            hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
                req.extensions_mut()
                    .insert(axum::extract::ConnectInfo(peer));
                let mut r = router.clone();
                async move {
                    use tower::Service as _;
                    r.call(req.map(axum::body::Body::new)).await
                }
            });
        let conn = graceful.watch(http.serve_connection(TokioIo::new(stream), svc));
        tokio::spawn(async move {
            // A request in flight at the end of the lifetime is cut too; a wallet's
            // redemption still commits whole or not at all (its work is detached).
            let _ = tokio::time::timeout(CONNECTION_LIFETIME, conn).await;
            drop(slot);
        });
    }
    // No new connections; those open finish their request in flight (up to 30 s).
    tokio::select! {
        _ = graceful.shutdown() => {}
        _ = tokio::time::sleep(REQUEST_TIMEOUT) => {}
    }
    Ok(())
}

async fn request_timeout(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    match tokio::time::timeout(REQUEST_TIMEOUT, next.run(req)).await {
        Ok(r) => r,
        Err(_) => ApiError(IssuerError::BadRequest(format!(
            "the request took longer than {} s (a body sent too slowly?)",
            REQUEST_TIMEOUT.as_secs()
        )))
        .into_response(),
    }
}

/// A blocking JSON POST to the service through the programs' one bounded client
/// ([`tuaton_cli::net`]), the answer bounded to [`MAX_ANSWER`]; an error answer becomes
/// [`IssuerError::Service`] with the service's own code and message.
pub fn post_json<T: DeserializeOwned>(
    base: &str,
    path: &str,
    bearer: Option<&str>,
    body: &impl serde::Serialize,
) -> Result<T> {
    let url = format!("{}{path}", base.trim_end_matches('/'));
    let unreachable = |reason: String| IssuerError::Unreachable {
        url: base.into(),
        reason,
    };
    // One client per service and process, each exchange with its own deadline.
    static CLIENT: std::sync::Mutex<Option<(String, tuaton_cli::net::Http)>> =
        std::sync::Mutex::new(None);
    let http = {
        let mut c = CLIENT.lock().unwrap_or_else(|e| e.into_inner());
        match &*c {
            Some((b, h)) if b == base => Ok(h.renewed(CLIENT_DEADLINE)),
            _ => tuaton_cli::net::Http::new(base, CLIENT_DEADLINE).inspect(|h| {
                *c = Some((base.to_owned(), h.renewed(CLIENT_DEADLINE)));
            }),
        }
    };
    let a = http
        .and_then(|h| h.post_json(&url, bearer, body, MAX_ANSWER))
        .map_err(|e| match e {
            tuaton_cli::CliError::Unreachable { reason, .. } => unreachable(reason),
            other => unreachable(other.to_string()),
        })?;
    if !a.is_success() {
        let e: ErrorResponse = serde_json::from_slice(&a.body).map_err(|_| {
            unreachable(format!(
                "it answered HTTP {}, not a tuaton issuance service",
                a.status
            ))
        })?;
        let (code, message) = e.shown();
        return Err(IssuerError::Service {
            status: a.status,
            code,
            message,
        });
    }
    serde_json::from_slice(&a.body)
        .map_err(|e| unreachable(format!("its answer does not parse ({e})")))
}

/// How long the officer's client waits for one exchange with the service.
pub const CLIENT_DEADLINE: std::time::Duration = std::time::Duration::from_secs(30);
