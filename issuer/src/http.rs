//! The issuance service's HTTP interface (axum), and the blocking client the officer's
//! command uses. Endpoints and bodies: docs/FORMAT.md, "Issuance service". Store work runs
//! on tokio's blocking pool; every body is bounded before it is read.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path as UrlPath, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::de::DeserializeOwned;
use std::sync::Arc;
use tuaton_common::offer::{ErrorResponse, OfferRequest, RedeemRequest};

use crate::pg::{Office, PgIssuer};
use crate::{IssuerError, Result};

/// Largest request body: a record and a 64 KiB portrait in base64, with room to spare.
pub const MAX_BODY: usize = 256 * 1024;
/// Largest answer the clients read (a credential package with its portrait is ~100 KiB).
pub const MAX_ANSWER: u64 = 1024 * 1024;

/// What the handlers share.
pub struct App {
    /// The issuer.
    pub issuer: Arc<PgIssuer>,
    /// The address wallets reach this service at (it goes into offers, and holder proofs
    /// are bound to it).
    pub public_url: String,
    /// The clock (fixed in tests with `--at`).
    pub now: fn() -> i64,
}

/// The router.
pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/v1/offers", post(offers))
        .route("/v1/credential", post(credential))
        .route("/v1/admin/revoke", post(admin_revoke))
        .route("/v1/admin/rotate", post(admin_rotate))
        .route("/v1/admin/publish", post(admin_publish))
        .route("/bundle/{*path}", get(bundle))
        .route("/healthz", get(|| async { "ok" }))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(app)
}

/// The HTTP status and stable code of each error a client can cause or meet.
fn status_of(e: &IssuerError) -> (StatusCode, &'static str) {
    use IssuerError as E;
    match e {
        E::Core(tuaton_common::Error::Signature(_)) => (StatusCode::BAD_REQUEST, "bad_proof"),
        E::Core(_) => (StatusCode::UNPROCESSABLE_ENTITY, "bad_record"),
        E::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
        E::BadOfficeCredential => (StatusCode::UNAUTHORIZED, "bad_office_credential"),
        E::NotAdmin => (StatusCode::FORBIDDEN, "not_admin"),
        E::UnknownOffer => (StatusCode::NOT_FOUND, "unknown_offer"),
        E::OfferUsed => (StatusCode::CONFLICT, "offer_used"),
        E::OfferExpired => (StatusCode::GONE, "offer_expired"),
        E::OfferClosed => (StatusCode::GONE, "offer_closed"),
        E::WrongTxCode { .. } => (StatusCode::FORBIDDEN, "wrong_tx_code"),
        E::UnknownCredential(_) => (StatusCode::NOT_FOUND, "unknown_credential"),
        E::Database(_) => (StatusCode::SERVICE_UNAVAILABLE, "database_unavailable"),
        E::Token(_) => (StatusCode::SERVICE_UNAVAILABLE, "key_token_unavailable"),
        _ => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
    }
}

fn error_response(e: IssuerError) -> Response {
    let (status, code) = status_of(&e);
    // Operators see the detail; clients see what they can act on.
    let message = match &e {
        IssuerError::Database(_) | IssuerError::Token(_) | IssuerError::StoreDamaged(_) => {
            eprintln!("tuaton-issuer serve: {e}");
            format!("the service cannot issue right now ({code}); nothing was issued, try again")
        }
        _ => e.to_string(),
    };
    (
        status,
        axum::Json(ErrorResponse {
            error: code.into(),
            message,
        }),
    )
        .into_response()
}

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
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|t| t.trim().to_owned())
        .filter(|t| !t.is_empty() && t.len() <= 200)
        .ok_or(IssuerError::BadOfficeCredential)
}

/// Runs store work on the blocking pool. If the client goes away the work still finishes
/// (a redemption commits whole or not at all), and a redeeming wallet that asks again gets
/// the same credential.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .unwrap_or_else(|e| Err(IssuerError::StoreDamaged(format!("a request failed: {e}"))))
}

fn json_ok<T: serde::Serialize>(r: Result<T>) -> Response {
    match r {
        Ok(v) => axum::Json(v).into_response(),
        Err(e) => error_response(e),
    }
}

async fn offers(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    b: std::result::Result<Bytes, BytesRejection>,
) -> Response {
    let run = async {
        let token = bearer(&headers)?;
        let req: OfferRequest = body(b)?;
        let a = app.clone();
        blocking(move || {
            let office = a.issuer.authenticate(&token)?;
            a.issuer
                .create_offer(&office, &a.public_url, &req, (a.now)())
        })
        .await
    };
    json_ok(run.await)
}

async fn credential(
    State(app): State<Arc<App>>,
    b: std::result::Result<Bytes, BytesRejection>,
) -> Response {
    let run = async {
        let req: RedeemRequest = body(b)?;
        let a = app.clone();
        blocking(move || a.issuer.redeem(&a.public_url, &req, (a.now)())).await
    };
    json_ok(run.await)
}

async fn admin(app: &Arc<App>, headers: &HeaderMap) -> Result<Office> {
    let token = bearer(headers)?;
    let a = app.clone();
    let office = blocking(move || a.issuer.authenticate(&token)).await?;
    if !office.admin {
        return Err(IssuerError::NotAdmin);
    }
    Ok(office)
}

/// `POST /v1/admin/revoke` body.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RevokeBody {
    credential_id: String,
    officer: String,
}

async fn admin_revoke(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    b: std::result::Result<Bytes, BytesRejection>,
) -> Response {
    let run = async {
        let office = admin(&app, &headers).await?;
        let r: RevokeBody = body(b)?;
        let a = app.clone();
        blocking(move || {
            a.issuer
                .revoke(&r.credential_id, &office.name, &r.officer, (a.now)())
        })
        .await
    };
    json_ok(run.await)
}

/// `POST /v1/admin/rotate` and `/publish` body.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct AdminBody {
    officer: String,
    #[serde(default)]
    valid_days: Option<u32>,
}

async fn admin_rotate(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    b: std::result::Result<Bytes, BytesRejection>,
) -> Response {
    let run = async {
        let office = admin(&app, &headers).await?;
        let r: AdminBody = body(b)?;
        let a = app.clone();
        let k = blocking(move || a.issuer.rotate(&office.name, &r.officer, (a.now)())).await?;
        Ok(serde_json::json!({"kid": hex::encode(&k.kid)}))
    };
    json_ok(run.await)
}

async fn admin_publish(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    b: std::result::Result<Bytes, BytesRejection>,
) -> Response {
    let run = async {
        let office = admin(&app, &headers).await?;
        let r: AdminBody = body(b)?;
        let days = r.valid_days.unwrap_or(7);
        if !(1..=366).contains(&days) {
            return Err(IssuerError::BadRequest(
                "valid_days must be 1 to 366".into(),
            ));
        }
        let a = app.clone();
        let built =
            blocking(move || a.issuer.publish(&office.name, &r.officer, (a.now)(), days)).await?;
        Ok(built.report)
    };
    json_ok(run.await)
}

async fn bundle(State(app): State<Arc<App>>, UrlPath(path): UrlPath<String>) -> Response {
    if !tuaton_common::bundle::safe_rel(&path) {
        return StatusCode::NOT_FOUND.into_response();
    }
    let a = app.clone();
    match blocking(move || a.issuer.bundle_file(&path)).await {
        Ok(Some(b)) => b.into_response(),
        Ok(None) => StatusCode::NOT_FOUND.into_response(),
        Err(e) => error_response(e),
    }
}

/// Serves until SIGINT or SIGTERM, then finishes the requests in flight.
pub fn serve(app: Arc<App>, listener: std::net::TcpListener) -> Result<()> {
    let io = |source| IssuerError::Io {
        path: "the listening socket".into(),
        source,
    };
    listener.set_nonblocking(true).map_err(io)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(io)?;
    rt.block_on(async move {
        let l = tokio::net::TcpListener::from_std(listener).map_err(io)?;
        axum::serve(l, router(app))
            .with_graceful_shutdown(async {
                let mut term =
                    tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                        .expect("signal handler");
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            })
            .await
            .map_err(io)
    })
}

/// A blocking JSON POST to the service, the answer bounded to [`MAX_ANSWER`]; an error
/// answer becomes [`IssuerError::Service`] with the service's own code and message.
pub fn post_json<T: DeserializeOwned>(
    base: &str,
    path: &str,
    bearer: Option<&str>,
    body: &impl serde::Serialize,
) -> Result<T> {
    use std::io::Read;
    let url = format!("{}{path}", base.trim_end_matches('/'));
    let unreachable = |reason: String| IssuerError::Unreachable {
        url: base.into(),
        reason,
    };
    // One client per process: building one loads the TLS roots, which costs more than a
    // request on a quiet network.
    static CLIENT: std::sync::OnceLock<reqwest::blocking::Client> = std::sync::OnceLock::new();
    let client = match CLIENT.get() {
        Some(c) => c,
        None => {
            let c = reqwest::blocking::Client::builder()
                .timeout(std::time::Duration::from_secs(30))
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .map_err(|e| unreachable(e.to_string()))?;
            CLIENT.get_or_init(|| c)
        }
    };
    let mut req = client
        .post(&url)
        .header(header::CONTENT_TYPE.as_str(), "application/json")
        .body(serde_json::to_vec(body).expect("JSON"));
    if let Some(t) = bearer {
        req = req.bearer_auth(t);
    }
    let resp = req.send().map_err(|e| unreachable(without_url(&e)))?;
    let status = resp.status().as_u16();
    let mut bytes = Vec::new();
    resp.take(MAX_ANSWER + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| unreachable(e.to_string()))?;
    if bytes.len() as u64 > MAX_ANSWER {
        return Err(unreachable(format!(
            "the answer is larger than {MAX_ANSWER} bytes"
        )));
    }
    if !(200..300).contains(&status) {
        let e: ErrorResponse = serde_json::from_slice(&bytes).map_err(|_| {
            unreachable(format!(
                "it answered HTTP {status}, not a tuaton issuance service"
            ))
        })?;
        let (code, message) = e.shown();
        return Err(IssuerError::Service {
            status,
            code,
            message,
        });
    }
    serde_json::from_slice(&bytes)
        .map_err(|e| unreachable(format!("its answer does not parse ({e})")))
}

fn without_url(e: &reqwest::Error) -> String {
    let mut s = e.to_string();
    if let Some(u) = e.url() {
        s = s.replace(&format!(" for url ({u})"), "");
    }
    if let Some(src) = std::error::Error::source(e) {
        s = format!("{s}: {src}");
    }
    s
}
