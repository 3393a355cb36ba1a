//! Enrolment from an officer's offer (`tuaton-wallet enroll`): read the offer (text or a
//! picture of the officer's screen), fetch the service's trust bundle and check it starts
//! from the root the offer names, redeem the offer with the holder key's proof, and hand
//! the package to `import`. Every answer from the network is bounded before it is read.

use crate::{Result, WalletError};
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::Engine as _;
use ed25519_dalek::SigningKey;
use std::io::Read;
use std::path::Path;
use std::time::Duration;
use tuaton_common::bundle::{self, Source};
use tuaton_common::offer::{ErrorResponse, Offer, RedeemRequest, RedeemResponse};
use tuaton_common::trust::{Anchor, TrustState};

/// Largest answer read from the service (a package with its portrait is ~100 KiB).
pub const MAX_ANSWER: u64 = 1024 * 1024;
/// Largest picture of an offer read.
pub const MAX_IMAGE_BYTES: u64 = 20 * 1024 * 1024;

fn client() -> Result<reqwest::blocking::Client> {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(30))
        // An offer names one service; nothing it answers may send the wallet elsewhere.
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| unreachable("the network", e.to_string()))
}

fn unreachable(what: &str, reason: String) -> WalletError {
    WalletError::Unreachable {
        url: what.into(),
        reason,
    }
}

fn bounded(resp: reqwest::blocking::Response, max: u64, what: &str) -> Result<Vec<u8>> {
    let mut bytes = Vec::new();
    resp.take(max + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| unreachable(what, e.to_string()))?;
    if bytes.len() as u64 > max {
        return Err(unreachable(
            what,
            format!("the answer is larger than {max} bytes"),
        ));
    }
    Ok(bytes)
}

/// The service's bundle, at `SERVICE/bundle/`.
struct ServiceBundle {
    base: String,
    client: reqwest::blocking::Client,
}

impl Source for ServiceBundle {
    type Error = WalletError;
    fn read(&self, rel: &str, max: u64) -> Result<Vec<u8>> {
        let url = format!("{}/bundle/{rel}", self.base);
        let resp = self
            .client
            .get(&url)
            .send()
            .map_err(|e| unreachable(&url, e.to_string()))?;
        if !resp.status().is_success() {
            return Err(unreachable(
                &url,
                format!("HTTP {}", resp.status().as_u16()),
            ));
        }
        bounded(resp, max, &url)
    }
    fn location(&self) -> String {
        format!("{}/bundle/", self.base)
    }
}

/// Fetches the service's trust bundle and verifies it from the root the offer names (for
/// callers that pin nothing else; `enroll` pins the root the wallet trusts).
pub fn fetch_bundle(offer: &Offer, now: i64) -> Result<TrustState> {
    fetch_service_bundle(&offer.service, offer.root, now)
}

/// Redeems the offer with the transaction code and the holder key's proof; returns the
/// credential package's bytes.
pub fn redeem(offer: &Offer, tx_code: &str, holder: &SigningKey) -> Result<Vec<u8>> {
    let req = RedeemRequest {
        pre_authorized_code: B64URL.encode(offer.code),
        tx_code: tx_code.to_owned(),
        holder_key: B64URL.encode(holder.verifying_key().to_bytes()),
        proof: B64URL.encode(tuaton_common::offer::prove(holder, offer)),
    };
    post(&offer.service, "/v1/credential", &req)
}

/// The offer text in a picture of the officer's screen (PNG or JPEG): bounded in bytes and
/// pixels before decoding.
pub fn read_offer_image(path: &Path) -> Result<String> {
    let io = |source| WalletError::Io {
        path: path.into(),
        source,
    };
    let bytes = tuaton_cli::read_bounded(path, MAX_IMAGE_BYTES)
        .map_err(io)?
        .ok_or_else(|| {
            io(std::io::Error::other(format!(
                "larger than {MAX_IMAGE_BYTES} bytes"
            )))
        })?;
    let mut reader = image::ImageReader::new(std::io::Cursor::new(bytes))
        .with_guessed_format()
        .map_err(io)?;
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(8192);
    limits.max_image_height = Some(8192);
    limits.max_alloc = Some(512 << 20);
    reader.limits(limits);
    let img = reader
        .decode()
        .map_err(|e| io(std::io::Error::other(e.to_string())))?;
    let img = if img.width().max(img.height()) > 1280 {
        img.thumbnail(1280, 1280)
    } else {
        img
    };
    let mut prepared = rqrr::PreparedImage::prepare(img.to_luma8());
    for grid in prepared.detect_grids() {
        let mut out = Vec::new();
        if grid.decode_to(&mut out).is_ok() {
            if let Ok(t) = String::from_utf8(out) {
                if t.starts_with(tuaton_common::offer::PREFIX) {
                    return Ok(t);
                }
            }
        }
    }
    Err(WalletError::Usage(format!(
        "no credential offer QR code found in {}",
        path.display()
    )))
}

/// Fetches the trust bundle a service publishes at `SERVICE/bundle/` and verifies it from
/// the root `root` (the fingerprint the citizen pins).
pub fn fetch_service_bundle(service: &str, root: [u8; 32], now: i64) -> Result<TrustState> {
    let src = ServiceBundle {
        base: service.trim_end_matches('/').to_owned(),
        client: client()?,
    };
    let raw = bundle::fetch(&src, WalletError::Trust)?;
    TrustState::first(&raw.roots, &raw.trust_list, Anchor::Pinned(root), now)
        .map_err(WalletError::Trust)
}

/// Asks `service` to sign the card again (`POST /v1/refresh`), proving the holder key;
/// returns the new credential package's bytes.
pub fn refresh(
    service: &str,
    gate: &tuaton_common::gate::GateCredential,
    holder: &SigningKey,
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
    let resp = client()?
        .post(&url)
        .header("content-type", "application/json")
        .body(serde_json::to_vec(req).expect("JSON"))
        .send()
        .map_err(|e| unreachable(service, e.to_string()))?;
    let status = resp.status().as_u16();
    let bytes = bounded(resp, MAX_ANSWER, service)?;
    if !(200..300).contains(&status) {
        let e: ErrorResponse = serde_json::from_slice(&bytes).map_err(|_| {
            unreachable(
                service,
                format!("it answered HTTP {status} and is not a tuaton issuance service"),
            )
        })?;
        let (code, message) = e.shown();
        return Err(WalletError::Service { code, message });
    }
    let r: RedeemResponse = serde_json::from_slice(&bytes)
        .map_err(|e| unreachable(service, format!("its answer does not parse ({e})")))?;
    Ok(serde_json::to_vec(&r.package).expect("JSON"))
}
