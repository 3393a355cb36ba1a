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
use tuaton_common::holder::{HolderSecret, HolderSigner};
use tuaton_common::offer::{ErrorResponse, Offer, RedeemRequest, RedeemResponse};
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

/// Redeems the offer with the transaction code and the holder key's proof; returns the
/// credential package's bytes.
pub fn redeem(offer: &Offer, tx_code: &str, holder: &HolderSecret) -> Result<Vec<u8>> {
    let req = RedeemRequest {
        pre_authorized_code: B64URL.encode(offer.code),
        tx_code: tx_code.to_owned(),
        holder_key: B64URL.encode(holder.holder_key().as_bytes()),
        proof: B64URL.encode(tuaton_common::offer::prove(holder, offer)),
    };
    post(&offer.service, "/v1/credential", &req)
}

/// The offer text in a picture of the officer's screen (PNG or JPEG), through the
/// programs' one bounded decoder.
pub fn read_offer_image(path: &Path) -> Result<String> {
    use tuaton_cli::picture::{scan, Symbology};
    scan(path, &[Symbology::Qr], &|_| false)?
        .into_iter()
        .find(|t| t.starts_with(tuaton_common::offer::PREFIX))
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
    let unreachable = |reason: String| WalletError::Unreachable {
        url: service.into(),
        reason,
    };
    if !a.is_success() {
        let e: ErrorResponse = serde_json::from_slice(&a.body).map_err(|_| {
            unreachable(format!(
                "it answered HTTP {} and is not a tuaton issuance service",
                a.status
            ))
        })?;
        let (code, message) = e.shown();
        return Err(WalletError::Service { code, message });
    }
    let r: RedeemResponse = serde_json::from_slice(&a.body)
        .map_err(|e| unreachable(format!("its answer does not parse ({e})")))?;
    Ok(serde_json::to_vec(&r.package).expect("JSON"))
}
