//! The officer console: the registration office's screens in a browser, served by
//! `serve` under `/console`. Server-rendered pages; one small script (the offer's
//! countdown and state, by polling a JSON endpoint) and one style sheet, both served from
//! here, so it works inside an office network with no other host.
//!
//! - Officers sign in with their own password (`tuaton-issuer officer add`); a session
//!   is an HttpOnly, SameSite=Strict cookie (Secure when the service is https) that ends
//!   after 15 idle minutes.
//! - Every form that changes something carries the session's CSRF token, and a request
//!   another site's page started (its `Origin`, or `Sec-Fetch-Site: cross-site`) is
//!   refused before it is read.
//! - Every page has a strict Content-Security-Policy (no inline script, nothing from
//!   another origin, no framing) and `Cache-Control: no-store`.

mod officers;
mod page;

pub use officers::{hash_password, OfferState, Officer, IDLE_SECS, LOCK_SECS, MAX_FAILED};

use crate::app::App;
use crate::IssuerError;
use axum::body::Bytes;
use axum::extract::{Multipart, Path as UrlPath, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use std::collections::BTreeMap;
use std::sync::Arc;

const COOKIE: &str = "tuaton_console";
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The console's routes, with their security headers.
pub fn router() -> Router<Arc<App>> {
    Router::new()
        .route("/console", get(home))
        .route("/console/login", get(login_page).post(login))
        .route("/console/logout", post(logout))
        .route("/console/offers", post(create_offer))
        .route("/console/offers/{handle}/status", get(offer_status))
        .route("/console/today", get(today))
        .route("/console/admin", get(admin_page))
        .route("/console/admin/revoke", post(admin_revoke))
        .route("/console/admin/publish", post(admin_publish))
        .route("/console/admin/officers", post(admin_add_officer))
        .route("/console/admin/officers/revoke", post(admin_revoke_officer))
        .route("/console/admin/officers/unlock", post(admin_unlock_officer))
        .route("/console/admin/offices", post(admin_add_office))
        .route("/console/admin/offices/revoke", post(admin_revoke_office))
        .route("/console/static/console.css", get(css))
        .route("/console/static/console.js", get(js))
        .route("/console/static/thai-regular.ttf", get(font_regular))
        .route("/console/static/thai-bold.ttf", get(font_bold))
        .layer(axum::middleware::from_fn(headers))
}

/// The headers every console answer carries.
async fn headers(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // `same-origin`, not `no-referrer`: with no-referrer a browser sends `Origin: null` on
    // its own form posts, and the origin check needs the real one.
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    // Pages carry personal data: no cache keeps them (the static files may be kept).
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    res
}

fn html(status: StatusCode, body: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        body,
    )
        .into_response()
}

fn cookie_of(h: &HeaderMap) -> Option<String> {
    h.get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|kv| kv.trim().strip_prefix(&format!("{COOKIE}=")))
        .map(str::to_owned)
}

/// The signed-in officer and the session's CSRF token, or the answer for a browser that
/// is not signed in (to the sign-in page).
async fn signed_in(app: &App, h: &HeaderMap) -> Result<(Officer, String), Response> {
    let Some(cookie) = cookie_of(h) else {
        return Err(Redirect::to("/console/login").into_response());
    };
    match app.issuer.session(&cookie, (app.now)()).await {
        Ok(Some(s)) => Ok(s),
        Ok(None) => Err(Redirect::to("/console/login").into_response()),
        Err(e) => Err(failure(e)),
    }
}

/// The service's own failure, as a page (the detail goes to the log).
fn failure(e: IssuerError) -> Response {
    tracing::error!("console: {e}");
    html(
        StatusCode::SERVICE_UNAVAILABLE,
        page::message(
            "ขัดข้อง / Unavailable",
            "The service cannot do this right now; nothing was issued. Try again in a moment.",
            "/console",
        ),
    )
}

/// The refusal of a state-changing request another site's page started (its `Origin` is
/// not this service's, or the browser says it is cross-site); `None` for the console's own.
fn cross_site(app: &App, h: &HeaderMap) -> Option<Response> {
    let ours = tuaton_common::bundle::url_origin(&app.public_url);
    let origin_ok = match h.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
        None => true,
        Some(o) => ours.is_some() && tuaton_common::bundle::url_origin(o) == ours,
    };
    let site_ok = h
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok())
        .is_none_or(|s| s != "cross-site");
    if origin_ok && site_ok {
        None
    } else {
        tracing::warn!(
            origin = ?h.get(header::ORIGIN),
            site = ?h.get("sec-fetch-site"),
            "console: a cross-site form was refused"
        );
        Some(html(
            StatusCode::FORBIDDEN,
            page::message(
                "ปฏิเสธ / Refused",
                "This form was sent from another site's page, so it was refused. Open the console itself and try again.",
                "/console",
            ),
        ))
    }
}

fn csrf_ok(sent: Option<&str>, session: &str) -> bool {
    sent.is_some_and(|s| crate::same_secret(s.as_bytes(), session.as_bytes()))
}

fn refused_form() -> Response {
    html(
        StatusCode::FORBIDDEN,
        page::message(
            "ปฏิเสธ / Refused",
            "The form's security token is missing or old (the page may have been open too long). Open the page again and repeat.",
            "/console",
        ),
    )
}

async fn home(State(app): State<Arc<App>>, h: HeaderMap) -> Response {
    match signed_in(&app, &h).await {
        Ok((o, csrf)) => html(
            StatusCode::OK,
            page::record_form((&o.name, &o.office.name, &csrf), &BTreeMap::new(), None),
        ),
        Err(r) => r,
    }
}

async fn login_page() -> Response {
    html(StatusCode::OK, page::login(None, ""))
}

async fn login(
    State(app): State<Arc<App>>,
    parts: axum::http::request::Parts,
    body: Bytes,
) -> Response {
    let h = &parts.headers;
    let peer = parts
        .extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>();
    if let Some(r) = cross_site(&app, h) {
        return r;
    }
    // Each try costs a password hash: a client gets as many as a wallet's redemptions.
    if app.admit(peer, h).is_err() {
        return html(
            StatusCode::TOO_MANY_REQUESTS,
            page::login(Some("Too many tries from this address; wait a moment."), ""),
        );
    }
    let form: BTreeMap<String, String> = form_urlencoded::parse(&body).into_owned().collect();
    let name = form.get("name").map(String::as_str).unwrap_or("").trim();
    let password = form.get("password").map(String::as_str).unwrap_or("");
    let now = (app.now)();
    match app.issuer.sign_in(name, password, now).await {
        Ok(s) => {
            let secure = if app.public_url.starts_with("https://") {
                "; Secure"
            } else {
                ""
            };
            let cookie = format!(
                "{COOKIE}={}; Path=/console; HttpOnly; SameSite=Strict{secure}",
                s.cookie
            );
            let mut r = Redirect::to("/console").into_response();
            r.headers_mut().insert(
                header::SET_COOKIE,
                HeaderValue::from_str(&cookie).expect("ASCII"),
            );
            r
        }
        // One answer for an unknown name, a wrong password and a locked account: none of
        // them says which names exist.
        Err(IssuerError::WrongPassword) => html(
            StatusCode::UNAUTHORIZED,
            page::login(
                Some(&format!(
                    "ชื่อหรือรหัสผ่านไม่ถูกต้อง หรือบัญชีถูกล็อก / Wrong name or password, or the account is locked: after {MAX_FAILED} wrong passwords in a row it locks for {} minutes (an administrator can unlock it).",
                    LOCK_SECS / 60
                )),
                name,
            ),
        ),
        Err(e) => failure(e),
    }
}

async fn logout(State(app): State<Arc<App>>, h: HeaderMap, body: Bytes) -> Response {
    if let Some(r) = cross_site(&app, &h) {
        return r;
    }
    let (_, csrf) = match signed_in(&app, &h).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let form: BTreeMap<String, String> = form_urlencoded::parse(&body).into_owned().collect();
    if !csrf_ok(form.get("csrf").map(String::as_str), &csrf) {
        return refused_form();
    }
    if let Some(c) = cookie_of(&h) {
        if let Err(e) = app.issuer.sign_out(&c).await {
            return failure(e);
        }
    }
    let mut r = Redirect::to("/console/login").into_response();
    r.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static(
            "tuaton_console=; Path=/console; HttpOnly; SameSite=Strict; Max-Age=0",
        ),
    );
    r
}

/// The largest portrait accepted from the form (the issuer's own limit).
const MAX_PORTRAIT: usize = crate::issue::MAX_PORTRAIT_BYTES as usize;

async fn create_offer(State(app): State<Arc<App>>, h: HeaderMap, mut mp: Multipart) -> Response {
    if let Some(r) = cross_site(&app, &h) {
        return r;
    }
    let (officer, csrf) = match signed_in(&app, &h).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let who = (
        officer.name.as_str(),
        officer.office.name.as_str(),
        csrf.as_str(),
    );
    // Every part is read (bounded by the router's body limit) before anything is done.
    let mut values = BTreeMap::new();
    let mut portrait = None;
    let mut sent_csrf = None;
    loop {
        let field = match mp.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(_) => {
                return html(
                    StatusCode::BAD_REQUEST,
                    page::record_form(
                        who,
                        &values,
                        Some((
                            "",
                            "The form did not arrive whole (too large?); fill it in again.",
                        )),
                    ),
                )
            }
        };
        let name = field.name().unwrap_or("").to_owned();
        let Ok(bytes) = field.bytes().await else {
            return html(
                StatusCode::BAD_REQUEST,
                page::record_form(
                    who,
                    &values,
                    Some(("portrait", "The portrait is larger than 64 KiB.")),
                ),
            );
        };
        match name.as_str() {
            "csrf" => sent_csrf = Some(String::from_utf8_lossy(&bytes).into_owned()),
            "portrait" => portrait = Some(bytes),
            n if page::FIELDS.iter().any(|(f, ..)| *f == n) => {
                values.insert(
                    n.to_owned(),
                    String::from_utf8_lossy(&bytes).trim().to_owned(),
                );
            }
            _ => {}
        }
    }
    if !csrf_ok(sent_csrf.as_deref(), &csrf) {
        return refused_form();
    }
    let portrait = match portrait {
        Some(p) if !p.is_empty() && p.len() <= MAX_PORTRAIT => p,
        Some(p) if p.len() > MAX_PORTRAIT => {
            return html(
                StatusCode::UNPROCESSABLE_ENTITY,
                page::record_form(
                    who,
                    &values,
                    Some((
                        "portrait",
                        "The portrait is larger than 64 KiB: use a smaller JPEG.",
                    )),
                ),
            )
        }
        _ => {
            return html(
                StatusCode::UNPROCESSABLE_ENTITY,
                page::record_form(
                    who,
                    &values,
                    Some(("portrait", "Choose the citizen's portrait (a JPEG).")),
                ),
            )
        }
    };
    let mut record = serde_json::Map::new();
    for (k, v) in &values {
        record.insert(k.clone(), v.clone().into());
    }
    record.insert("portrait".into(), "portrait.jpg".into());
    let req = tuaton_common::offer::OfferRequest {
        officer: officer.name.clone(),
        record: serde_json::Value::Object(record),
        portrait: base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &portrait),
    };
    let now = (app.now)();
    let made = app
        .issuer
        .create_offer_as(
            &officer.office,
            Some(officer.id),
            &app.public_url,
            &req,
            now,
        )
        .await;
    let r = match made {
        Ok(r) => r,
        Err(IssuerError::Core(tuaton_common::Error::InvalidField { field, reason })) => {
            let field = if field.starts_with("portrait") {
                "portrait"
            } else {
                field
            };
            return html(
                StatusCode::UNPROCESSABLE_ENTITY,
                page::record_form(who, &values, Some((field, &format!("{field}: {reason}")))),
            );
        }
        Err(IssuerError::BadRequest(m)) => {
            return html(
                StatusCode::UNPROCESSABLE_ENTITY,
                page::record_form(who, &values, Some(("", &m))),
            )
        }
        Err(e) => return failure(e),
    };
    let offer = match tuaton_common::offer::Offer::parse(&r.offer) {
        Ok(o) => o,
        Err(e) => return failure(IssuerError::Core(e)),
    };
    let handle = hex::encode(tuaton_common::offer::code_hash(&offer.code));
    let svg = match tuaton_cli::qr::qr_low(&r.offer) {
        Ok(code) => qr_svg(&code),
        Err(e) => {
            return failure(IssuerError::Usage(format!(
                "the offer does not fit a QR code ({e})"
            )))
        }
    };
    html(
        StatusCode::OK,
        page::offer_screen(who, &svg, &r.offer, &r.tx_code, &handle, offer.expires, now),
    )
}

/// The QR as one SVG path, a run of dark modules per `h` (a quarter of the size of one
/// rectangle per module), with its quiet zone; crisp at any size.
fn qr_svg(code: &qrcode::QrCode) -> String {
    use std::fmt::Write as _;
    let (w, quiet) = (code.width(), 4);
    let dark = code.to_colors();
    let mut d = String::new();
    for y in 0..w {
        let mut x = 0;
        while x < w {
            if dark[y * w + x] != qrcode::Color::Dark {
                x += 1;
                continue;
            }
            let start = x;
            while x < w && dark[y * w + x] == qrcode::Color::Dark {
                x += 1;
            }
            let _ = write!(
                d,
                "M{} {}h{}v1h-{}z",
                start + quiet,
                y + quiet,
                x - start,
                x - start
            );
        }
    }
    let n = w + 2 * quiet;
    format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {n} {n}" shape-rendering="crispEdges" role="img" aria-label="QR code of the credential offer"><rect width="{n}" height="{n}" fill="#fff"/><path d="{d}" fill="#000"/></svg>"##
    )
}

async fn offer_status(
    State(app): State<Arc<App>>,
    UrlPath(handle): UrlPath<String>,
    h: HeaderMap,
) -> Response {
    let Ok((officer, _)) = signed_in(&app, &h).await else {
        return StatusCode::UNAUTHORIZED.into_response();
    };
    let Some(code_hash) = hex::decode(&handle).ok().filter(|b| b.len() == 32) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let now = (app.now)();
    match app
        .issuer
        .console_offer(&code_hash, officer.office.id, now)
        .await
    {
        Ok(Some((state, expires))) => axum::Json(serde_json::json!({
            "state": state.name(),
            "expires_in": (expires - now).max(0),
        }))
        .into_response(),
        Ok(None) => StatusCode::NOT_FOUND.into_response(),
        Err(e) => failure(e),
    }
}

async fn today(State(app): State<Arc<App>>, h: HeaderMap) -> Response {
    let (officer, csrf) = match signed_in(&app, &h).await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let now = (app.now)();
    // Midnight in Thailand (UTC+7), where the offices are.
    let day_start = now - (now + tuaton_common::gate::THAI_UTC_OFFSET).rem_euclid(86_400);
    match app
        .issuer
        .issued_since(&officer.office.name, day_start)
        .await
    {
        Ok(rows) => html(
            StatusCode::OK,
            page::today((&officer.name, &officer.office.name, &csrf), &rows),
        ),
        Err(e) => failure(e),
    }
}

/// The signed-in officer of an admin office, or the page that says they are not one.
async fn admin_signed_in(app: &App, h: &HeaderMap) -> Result<(Officer, String), Response> {
    let (o, csrf) = signed_in(app, h).await?;
    if !o.office.admin {
        return Err(html(
            StatusCode::FORBIDDEN,
            page::message(
                "ไม่มีสิทธิ์ / Not allowed",
                "Revocation and publishing are for officers of an admin office.",
                "/console",
            ),
        ));
    }
    Ok((o, csrf))
}

/// The admin page with `done` said at the top (and a new office's credential, shown
/// once), and the officers and offices as they are now.
async fn admin_answer(app: &App, o: &Officer, csrf: &str, done: Option<&str>) -> Response {
    admin_answer_with(app, o, csrf, done, None).await
}

async fn admin_answer_with(
    app: &App,
    o: &Officer,
    csrf: &str,
    done: Option<&str>,
    credential: Option<&str>,
) -> Response {
    let lists = async {
        Ok::<_, IssuerError>((
            app.issuer.officers((app.now)()).await?,
            app.issuer.offices().await?,
        ))
    };
    match lists.await {
        Ok((officers, offices)) => html(
            StatusCode::OK,
            page::admin(
                (&o.name, &o.office.name, csrf),
                done,
                &officers,
                &offices,
                credential,
            ),
        ),
        Err(e) => failure(e),
    }
}

async fn admin_add_office(State(app): State<Arc<App>>, f: AdminForm) -> Response {
    let (o, csrf) = (&f.officer, f.csrf.as_str());
    let name = f.text("name");
    let admin = f.form.contains_key("admin");
    match app
        .issuer
        .add_office_by(&name, admin, &f.actor(), (app.now)())
        .await
    {
        Ok(token) => {
            let cred = crate::pg::OfficeCredential {
                format: crate::pg::CREDENTIAL_FORMAT.into(),
                office: name.clone(),
                admin,
                token,
            };
            let json = serde_json::to_string_pretty(&cred).expect("JSON");
            let text = format!("Office {name} added.");
            admin_answer_with(&app, o, csrf, Some(&text), Some(&json)).await
        }
        Err(e @ (IssuerError::OfficeExists(_) | IssuerError::BadRequest(_))) => {
            admin_answer(&app, o, csrf, Some(&format!("Not added: {e}"))).await
        }
        Err(e) => failure(e),
    }
}

async fn admin_revoke_office(State(app): State<Arc<App>>, f: AdminForm) -> Response {
    let (o, csrf) = (&f.officer, f.csrf.as_str());
    let name = f.text("name");
    if name == o.office.name {
        let text = "Not revoked: an office cannot revoke itself here (use the command line).";
        return admin_answer(&app, o, csrf, Some(text)).await;
    }
    let text = match app
        .issuer
        .revoke_office_by(&name, &f.actor(), (app.now)(), None)
        .await
    {
        Ok(_) => format!("Office {name} revoked: its credential and its officers' sign-in stop working, and its open offers are closed."),
        Err(e @ IssuerError::NoSuchOffice(_)) => format!("Not revoked: {e}"),
        Err(e) => return failure(e),
    };
    admin_answer(&app, o, csrf, Some(&text)).await
}

async fn admin_page(State(app): State<Arc<App>>, h: HeaderMap) -> Response {
    match admin_signed_in(&app, &h).await {
        Ok((o, csrf)) => admin_answer(&app, &o, &csrf, None).await,
        Err(r) => r,
    }
}

async fn admin_add_officer(State(app): State<Arc<App>>, f: AdminForm) -> Response {
    let (o, csrf) = (&f.officer, f.csrf.as_str());
    let (name, office) = (f.text("name"), f.text("office"));
    // A password is taken as typed (spaces are characters of it).
    let password = f.form.get("password").cloned().unwrap_or_default();
    let text = match app
        .issuer
        .add_officer(&name, &office, &password, &f.actor(), (app.now)())
        .await
    {
        Ok(()) => format!("Officer {name} of {office} can sign in."),
        Err(
            e @ (IssuerError::OfficerExists(_)
            | IssuerError::NoSuchOffice(_)
            | IssuerError::Usage(_)
            | IssuerError::BadRequest(_)),
        ) => format!("Not added: {e}"),
        Err(e) => return failure(e),
    };
    admin_answer(&app, o, csrf, Some(&text)).await
}

async fn admin_unlock_officer(State(app): State<Arc<App>>, f: AdminForm) -> Response {
    let (o, csrf) = (&f.officer, f.csrf.as_str());
    let name = f.text("name");
    let text = match app
        .issuer
        .unlock_officer(&name, &f.actor(), (app.now)())
        .await
    {
        Ok(()) => format!("Officer {name} can sign in again."),
        Err(e @ IssuerError::NoSuchOfficer(_)) => format!("Not unlocked: {e}"),
        Err(e) => return failure(e),
    };
    admin_answer(&app, o, csrf, Some(&text)).await
}

async fn admin_revoke_officer(State(app): State<Arc<App>>, f: AdminForm) -> Response {
    let (o, csrf) = (&f.officer, f.csrf.as_str());
    let name = f.text("name");
    let text = match app
        .issuer
        .revoke_officer(&name, &f.actor(), (app.now)())
        .await
    {
        Ok(()) => format!("Officer {name} can no longer sign in; their sessions ended."),
        Err(e @ IssuerError::NoSuchOfficer(_)) => format!("Not revoked: {e}"),
        Err(e) => return failure(e),
    };
    admin_answer(&app, o, csrf, Some(&text)).await
}

/// A form post of the admin page, checked before its handler runs: its origin, the
/// session, an admin office, the CSRF token.
struct AdminForm {
    officer: Officer,
    csrf: String,
    form: BTreeMap<String, String>,
}

impl AdminForm {
    /// Who acts, for the audit.
    fn actor(&self) -> crate::Actor {
        crate::Actor {
            office: self.officer.office.name.clone(),
            officer: self.officer.name.clone(),
        }
    }

    /// A field, trimmed ("" when absent).
    fn text(&self, name: &str) -> String {
        self.form
            .get(name)
            .map(|v| v.trim().to_owned())
            .unwrap_or_default()
    }
}

impl axum::extract::FromRequest<Arc<App>> for AdminForm {
    type Rejection = Response;

    async fn from_request(
        req: axum::extract::Request,
        app: &Arc<App>,
    ) -> Result<Self, Self::Rejection> {
        let h = req.headers().clone();
        if let Some(r) = cross_site(app, &h) {
            return Err(r);
        }
        let (officer, csrf) = admin_signed_in(app, &h).await?;
        let body = Bytes::from_request(req, app)
            .await
            .map_err(|_| refused_form())?;
        let form: BTreeMap<String, String> = form_urlencoded::parse(&body).into_owned().collect();
        if !csrf_ok(form.get("csrf").map(String::as_str), &csrf) {
            return Err(refused_form());
        }
        Ok(AdminForm {
            officer,
            csrf,
            form,
        })
    }
}

async fn admin_revoke(State(app): State<Arc<App>>, f: AdminForm) -> Response {
    let (o, csrf) = (&f.officer, f.csrf.as_str());
    let actor = crate::Actor {
        office: o.office.name.clone(),
        officer: o.name.clone(),
    };
    let now = (app.now)();
    let (cred, citizen) = (f.text("credential_id"), f.text("citizen_id"));
    let done = match (cred.is_empty(), citizen.is_empty()) {
        (false, true) => app.issuer.revoke(&cred, &actor, now).await.map(|r| vec![r]),
        (true, false) => app.issuer.revoke_citizen(&citizen, &actor, now).await,
        _ => Err(IssuerError::BadRequest(
            "give a credential id or a citizen's ID number, one of the two".into(),
        )),
    };
    let text = match done {
        Ok(r) if r.is_empty() => "No valid card of that citizen: nothing was revoked.".to_owned(),
        Ok(r) => format!(
            "Revoked {}. Publish for gates to see it.",
            r.iter()
                .map(|c| c.credential_id.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Err(
            e @ (IssuerError::UnknownCredential(_)
            | IssuerError::BadRequest(_)
            | IssuerError::Core(_)),
        ) => format!("Not revoked: {e}"),
        Err(e) => return failure(e),
    };
    admin_answer(&app, o, csrf, Some(&text)).await
}

async fn admin_publish(State(app): State<Arc<App>>, f: AdminForm) -> Response {
    let (o, csrf) = (&f.officer, f.csrf.as_str());
    let actor = crate::Actor {
        office: o.office.name.clone(),
        officer: o.name.clone(),
    };
    match app.issuer.publish(&actor, (app.now)(), 7).await {
        Ok(b) => {
            let text = format!(
                "Published trust list version {} ({} revoked); gates take it at their next sync.",
                b.report.trust_list_version, b.report.revoked
            );
            admin_answer(&app, o, csrf, Some(&text)).await
        }
        Err(e) => failure(e),
    }
}

async fn css() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("console.css"),
    )
        .into_response()
}

/// Noto Sans Thai (SIL Open Font License 1.1, fonts/OFL.txt), served here so Thai shows
/// on an office machine without Thai fonts and without fetching from another host.
fn font(bytes: &'static [u8]) -> Response {
    (
        [
            (header::CONTENT_TYPE, "font/ttf"),
            (header::CACHE_CONTROL, "public, max-age=86400"),
        ],
        bytes,
    )
        .into_response()
}

async fn font_regular() -> Response {
    font(include_bytes!("fonts/NotoSansThai-Regular.ttf"))
}

async fn font_bold() -> Response {
    font(include_bytes!("fonts/NotoSansThai-Bold.ttf"))
}

async fn js() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("console.js"),
    )
        .into_response()
}
