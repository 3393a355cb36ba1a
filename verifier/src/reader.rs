//! The gate as an ISO 18013-5 reader: its reader key, made on the gate and never leaving
//! the gate store, and the short-lived reader certificate the airport authority issues
//! for it (`tuaton-issuer reader-cert`), which names what this gate may request. Every
//! request the gate sends carries ReaderAuth with them; a wallet refuses a gate without.

use crate::store::META;
use crate::{Gate, GateError, Loaded, Result};
use p256::elliptic_curve::sec1::ToEncodedPoint as _;
use tuaton_common::mdoc_session::{check_reader_certificate, ReaderCertificate, ReaderSigner};

const READER_KEY: &str = "reader-key";
const READER_CERT: &str = "reader-cert";

/// The most a reader certificate file may be.
pub const MAX_READER_CERT: u64 = 16 * 1024;

/// `der` checked as this gate's reader certificate against the synced trust list at
/// `now` (its reader CAs and revoked certificates).
fn checked(der: &[u8], loaded: &Loaded, now: i64) -> Result<ReaderCertificate> {
    check_reader_certificate(
        der,
        &loaded.trust.reader_ca_list(),
        &loaded.trust.revoked_certificates,
        now,
    )
    .map_err(|e| GateError::ReaderCertificate(why(e)))
}

fn damaged_key() -> GateError {
    GateError::ReaderCertificate(
        "the stored reader key is damaged: `tuaton-verifier reader-key --new` makes a new one (then certify it again)".into(),
    )
}

/// Why a certificate does not serve, in the checker's own words (without the error's
/// category prefix).
fn why(e: tuaton_common::Error) -> String {
    use tuaton_common::error::MdocError as M;
    match e {
        tuaton_common::Error::Mdoc(M::Session(m) | M::Chain(m) | M::Malformed(m)) => m,
        other => other.to_string(),
    }
}

/// The elements a gate asking for `require` would request that `cert` does not allow
/// (`NAMESPACE/ELEMENT`).
pub fn not_allowed(
    cert: &ReaderCertificate,
    require: tuaton_common::verify::Requirement,
) -> Vec<String> {
    tuaton_common::mdoc_gate::request_for(require)
        .into_iter()
        .flat_map(|(ns, ids)| ids.into_iter().map(move |id| (ns.clone(), id)))
        .filter(|(ns, id)| !cert.allowed.get(ns).is_some_and(|a| a.contains(id)))
        .map(|(ns, id)| format!("{ns}/{id}"))
        .collect()
}

impl Gate {
    /// This gate's reader key (made and stored on first use, or replaced when `new`; a
    /// new key drops the installed certificate, which certified the old one). Returns the
    /// public key, SEC1 compressed, as `tuaton-issuer reader-cert --public-key` takes it.
    pub fn reader_key(&self, new: bool) -> Result<Vec<u8>> {
        let meta = self.db.open_tree(META)?;
        let secret = match meta.get(READER_KEY)? {
            Some(b) if !new => p256::SecretKey::from_slice(&b).map_err(|_| damaged_key())?,
            _ => {
                let k = p256::SecretKey::random(&mut rand::rngs::OsRng);
                // One batch: the key and the certificate it invalidates change together.
                let mut batch = sled::Batch::default();
                batch.insert(READER_KEY, k.to_bytes().to_vec());
                batch.remove(READER_CERT);
                meta.apply_batch(batch)?;
                tuaton_store::flush(&self.db)?;
                k
            }
        };
        Ok(secret
            .public_key()
            .to_encoded_point(true)
            .as_bytes()
            .to_vec())
    }

    /// Installs the reader certificate in `pem` after checking it: for this gate's reader
    /// key, chained to a reader CA of the synced trust list, valid at `now`, for reader
    /// authentication. Nothing is written when any check fails.
    pub fn install_reader_certificate(
        &self,
        pem: &str,
        loaded: &Loaded,
        now: i64,
    ) -> Result<ReaderCertificate> {
        let bad = |why: String| GateError::ReaderCertificate(why);
        let ders = tuaton_common::mdoc::x509::from_pem(pem)
            .map_err(|e| bad(format!("the file is not a PEM certificate ({})", why(e))))?;
        let [der] = ders.as_slice() else {
            return Err(bad(format!(
                "the file holds {} certificates, not one",
                ders.len()
            )));
        };
        let cert = checked(der, loaded, now)?;
        let meta = self.db.open_tree(META)?;
        let Some(secret) = meta.get(READER_KEY)? else {
            return Err(bad(
                "this gate has no reader key yet, so no certificate can be for it".into(),
            ));
        };
        let secret = p256::SecretKey::from_slice(&secret).map_err(|_| damaged_key())?;
        let mine = secret.public_key().to_encoded_point(false);
        if cert.public_key != mine.as_bytes() {
            return Err(bad(
                "the certificate is for another key than this gate's reader key".into(),
            ));
        }
        meta.insert(READER_CERT, der.as_slice())?;
        tuaton_store::flush(&self.db)?;
        Ok(cert)
    }

    /// The installed reader certificate, as checked against the synced trust list at
    /// `now`: `None` when none is installed, an error saying why it no longer serves
    /// (expired, its reader CA gone from the trust list).
    pub fn reader_certificate(
        &self,
        loaded: &Loaded,
        now: i64,
    ) -> Result<Option<ReaderCertificate>> {
        let Some(der) = self.db.open_tree(META)?.get(READER_CERT)? else {
            return Ok(None);
        };
        checked(&der, loaded, now).map(Some)
    }

    /// The key and certificate every 18013-5 request is signed with. A gate without a
    /// valid certificate does not start a session: wallets refuse unauthenticated readers,
    /// and the operator is told what to do instead of every citizen being refused.
    pub(crate) fn reader_signer(&self, loaded: &Loaded, now: i64) -> Result<ReaderSigner> {
        let meta = self.db.open_tree(META)?;
        let (Some(key), Some(der)) = (meta.get(READER_KEY)?, meta.get(READER_CERT)?) else {
            return Err(GateError::ReaderCertificate(
                "this gate has no reader certificate, and wallets answer only certified readers"
                    .into(),
            ));
        };
        let cert = checked(&der, loaded, now)?;
        let missing = not_allowed(&cert, self.policy.require);
        if !missing.is_empty() {
            return Err(GateError::ReaderCertificate(format!(
                "it does not allow {}, which this gate asks for (--require {}), so every wallet would decline",
                missing.join(", "),
                self.policy.require.code()
            )));
        }
        let key = p256::ecdsa::SigningKey::from_slice(&key).map_err(|_| damaged_key())?;
        Ok(ReaderSigner {
            key,
            certificate: der.to_vec(),
        })
    }
}
