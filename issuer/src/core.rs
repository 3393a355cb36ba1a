//! The issuer core: every rule of issuance, written once over the store seam
//! ([`crate::seam`]). Records and claims, both credential forms, status allocation, the
//! key lifecycle (staged, active, retired, revoked at a compromise time), root rotation
//! with thresholds, what a publish reads, refresh, and the audit. The sled store and
//! PostgreSQL differ only in how they keep rows.

use ed25519_dalek::{SigningKey, VerifyingKey};
use rand::{rngs::OsRng, RngCore};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tuaton_common::gate::{GateCredential, StatusRef};
use tuaton_common::holder::HolderKey;
use tuaton_common::model::CardClaims;
use tuaton_common::seal::{self, KdfParams, Sealed};
use tuaton_common::signer::KeySigner;
use tuaton_common::trust::{IssuerKey, KeyState, Root, SignedRoot};
use zeroize::Zeroizing;

use crate::issue::{checked_claims, sign_package, MdocSigner, Signing};
use crate::publish::{build_bundle, BuiltBundle, BundleInput};
use crate::seam::*;
use crate::token::{Token, TokenConfig};
use crate::{core_error, IssuerError, Result};

/// How long a root is valid: gates refuse an expired root, so `rotate-root` must run
/// within this (the one place it is written).
pub const ROOT_LIFETIME_SECS: i64 = 5 * 365 * 86_400;
/// A list counts as full at 9/10 of its size, so random probing for a free index stays
/// quick (at most 10 tries expected).
pub const FILL_NUMERATOR: u64 = 9;
/// ... out of 10.
pub const FILL_DENOMINATOR: u64 = 10;
/// Random probes for a free index in one list before trying the next: at 90 % full, 256
/// misses in a row happen once in 10^11.
pub const PROBES_PER_LIST: usize = 256;
/// Lists tried per issuance before giving up (a fill count that disagrees with the
/// indices, or a race filling several small lists at once).
pub const LISTS_PER_ISSUE: u32 = 8;
/// How far a refresh proof's time may be from the service's clock.
pub const REFRESH_SKEW_SECS: i64 = 300;
/// Lists closed after the newest one a restored copy knows: the lost tail would have had
/// to open more than this many new lists (16 million cards at the default size) for an
/// index to be handed out twice.
pub const RESTORE_LIST_MARGIN: u32 = 16;
/// How long an IACA root certificate of the mdoc form is valid (18013-5 Annex B allows
/// up to 20 years; `rotate-root` makes a new one).
pub const IACA_LIFETIME_SECS: i64 = 10 * 365 * 86_400;
/// How long a document signer certificate is valid: a year, under Annex B's 457 days.
/// `rotate` makes a new one; an MSO never outlives the certificate that signed it.
pub const DS_LIFETIME_SECS: i64 = 365 * 86_400;
/// The store key's associated data.
const STORE_KEY_AAD: &[u8] = b"tuaton issuer store key";

/// How the issuer's private keys are reached.
pub enum KeySource {
    /// Sealed in the store under a passphrase-derived key (the default).
    Passphrase(Zeroizing<Vec<u8>>),
    /// In a PKCS#11 token: the issuer asks it to sign.
    Token(TokenConfig),
}

pub(crate) enum Keys {
    Sealed(Zeroizing<[u8; 32]>),
    Token(Arc<Token>),
}

/// Who acts: recorded in every audit row.
#[derive(Clone, Debug)]
pub struct Actor {
    /// The office ("cli" on the command line).
    pub office: String,
    /// The officer (the user on the command line).
    pub officer: String,
}

impl Actor {
    /// The command line's actor: office "cli", officer `$USER`.
    pub fn cli() -> Actor {
        Actor {
            office: "cli".into(),
            officer: std::env::var("USER").unwrap_or_else(|_| "admin".into()),
        }
    }
    fn who(&self) -> String {
        format!("{}/{}", self.office, self.officer)
    }
}

/// Settings fixed at init.
#[derive(Debug, Clone)]
pub struct InitOptions {
    /// Display name in the trust list.
    pub name: String,
    /// Issuer number.
    pub issuer_id: u32,
    /// Number of root keys.
    pub root_keys: u8,
    /// Signatures needed from them.
    pub threshold: u8,
    /// Entries per status list.
    pub status_list_size: u64,
    /// KDF cost for the passphrase.
    pub kdf: KdfParams,
    /// Valid cards one citizen may hold (0: no limit); a re-enrolment beyond it revokes
    /// the oldest card.
    pub cards_per_citizen: u32,
    /// The issuer's DID in the W3C form (`None`: the default of its number).
    pub did: Option<String>,
}

impl InitOptions {
    /// The rules every issuer store checks at init: a visible name, a threshold the root
    /// keys can meet, and a passphrase of 8 characters or more when one seals the keys.
    fn check(&self, passphrase: Option<&[u8]>) -> Result<()> {
        if self.name.trim().is_empty() {
            return Err(IssuerError::Usage("--name must not be empty".into()));
        }
        // Gates show this name beside every verdict: nothing in it may disguise text.
        if let Some(c) = tuaton_common::text::first_forbidden(&self.name) {
            return Err(IssuerError::Usage(format!(
                "--name contains {}, an invisible or control character that could disguise the text",
                tuaton_common::text::describe(c)
            )));
        }
        if self.root_keys == 0 || self.threshold == 0 || self.threshold > self.root_keys {
            return Err(IssuerError::Usage(format!(
                "--threshold must be between 1 and --root-keys ({}), got {}",
                self.root_keys, self.threshold
            )));
        }
        if !(8..=1 << 27).contains(&self.status_list_size) {
            return Err(IssuerError::Usage(
                "--status-list-size must be 8 to 134217728".into(),
            ));
        }
        if let Some(did) = &self.did {
            if !tuaton_common::w3c::is_issuer_did(did) {
                return Err(IssuerError::Usage(format!(
                    "--did must be a did:web of a lower-case domain (did:web:issue.example.go.th, optionally %3APORT and :path segments), at most {} characters",
                    tuaton_common::w3c::MAX_DID
                )));
            }
        }
        if passphrase.is_some_and(|p| p.len() < 8) {
            return Err(IssuerError::Usage(
                "the passphrase must have at least 8 characters".into(),
            ));
        }
        Ok(())
    }

    /// Defaults for `name`.
    pub fn new(name: &str) -> Self {
        InitOptions {
            name: name.to_owned(),
            issuer_id: 1,
            root_keys: 1,
            threshold: 1,
            // 2^20 entries: 128 KiB raw, large enough that one revoked bit says little
            // about whom it belongs to (herd privacy), small enough to sync daily.
            status_list_size: 1 << 20,
            kdf: KdfParams::RELEASE,
            // One phone, one card: re-enrolling (a new phone) revokes the old card.
            cards_per_citizen: 1,
            did: None,
        }
    }
}

/// A credential as the issuer reports it.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IssuedRecord {
    /// Credential id, hex.
    pub credential_id: String,
    /// Status list.
    pub list: u32,
    /// Index in it.
    pub index: u64,
    /// Issuance time.
    pub issued_at: i64,
    /// Key that signed it, hex.
    pub kid: String,
}

impl From<&CredentialRow> for IssuedRecord {
    fn from(c: &CredentialRow) -> Self {
        IssuedRecord {
            credential_id: hex::encode(c.id),
            list: c.list,
            index: c.index,
            issued_at: c.issued_at,
            kid: hex::encode(&c.kid),
        }
    }
}

/// A signing key as `keys` reports it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct KeyReport {
    /// Key id, hex.
    pub kid: String,
    /// Ed25519 public key, hex.
    pub public_key: String,
    /// staged, active, retired or revoked.
    pub state: &'static str,
    /// Signs from.
    pub not_before: String,
    /// Signed until.
    pub not_after: Option<String>,
    /// Compromise time.
    pub revoked_at: Option<String>,
    /// "token" or "sealed".
    pub held: &'static str,
}

/// The issuer: a store, and (once unlocked) its keys.
pub struct Issuer<S: Store> {
    store: S,
    keys: Option<Keys>,
    /// Keys already unsealed or found in the token, by kid (a token lookup costs a round
    /// trip, an unseal a decryption).
    signers: Mutex<HashMap<Vec<u8>, Arc<dyn KeySigner>>>,
    citizen_key: Mutex<Option<Zeroizing<[u8; 32]>>>,
    /// The newest root as last read and checked, by its signed bytes: every offer names
    /// it, and checking its signatures again for each one cost more than reading it.
    checked_root: Mutex<Option<(Vec<u8>, Root)>>,
    /// The document signer last unsealed, by its certificate.
    mdoc_signer: Mutex<Option<Arc<MdocSigner>>>,
}

/// How often an issuance that lost a race for a status place starts again.
pub const BUSY_RETRIES: usize = 4;

/// Runs a whole transaction again (up to [`BUSY_RETRIES`] times) when concurrent
/// issuances took the place it chose: it rolled back, so nothing is written twice.
pub(crate) async fn retry_busy<T, F, Fut>(mut attempt: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T>>,
{
    let mut tries = 0;
    loop {
        match attempt().await {
            Err(IssuerError::Busy(_)) if tries + 1 < BUSY_RETRIES => tries += 1,
            r => return r,
        }
    }
}

fn damaged(what: &str) -> IssuerError {
    IssuerError::StoreDamaged(format!("{what} does not decode"))
}

fn random<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    OsRng.fill_bytes(&mut b);
    b
}

fn to_issuer_key(issuer: u32, k: &KeyRow) -> Result<Option<IssuerKey>> {
    let state = match k.status {
        // A staged key is in no bundle: gates learn it with the publish that activates it.
        KeyStatus::Staged => return Ok(None),
        KeyStatus::Active => KeyState::Active,
        KeyStatus::Retired => KeyState::Retired,
        KeyStatus::Revoked { at } => KeyState::Revoked { at },
    };
    Ok(Some(IssuerKey {
        issuer,
        kid: k.kid.clone(),
        public: VerifyingKey::from_bytes(&k.public).map_err(|_| damaged("a public key"))?,
        not_before: k.not_before,
        not_after: k.not_after,
        state,
    }))
}

fn parse_cid(s: &str) -> Result<[u8; 8]> {
    hex::decode(s.trim())
        .ok()
        .and_then(|c| c.try_into().ok())
        .ok_or_else(|| IssuerError::UnknownCredential(s.escape_debug().to_string()))
}

impl<S: Store> Issuer<S> {
    /// An issuer over `store`, keys locked: what needs no key (keys, audit, revoke,
    /// offices) works; signing needs [`Issuer::unlock`].
    pub async fn open(store: S) -> Result<Self> {
        let iss = Issuer {
            store,
            keys: None,
            signers: Mutex::new(HashMap::new()),
            citizen_key: Mutex::new(None),
            checked_root: Mutex::new(None),
            mdoc_signer: Mutex::new(None),
        };
        iss.meta().await?;
        Ok(iss)
    }

    /// The store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// Creates the issuer in an empty store: root key(s) and a first signing key (active
    /// at once: nothing has been published, so no gate can be out of date), in the token
    /// or sealed under the passphrase.
    pub async fn init(store: S, opts: &InitOptions, source: KeySource, now: i64) -> Result<Self> {
        opts.check(match &source {
            KeySource::Passphrase(p) => Some(p.as_slice()),
            KeySource::Token(_) => None,
        })?;
        let (sealed, keys) = match source {
            KeySource::Passphrase(p) => {
                let store_key = Zeroizing::new(random::<32>());
                let sealed = Sealed::seal(
                    store_key.as_ref(),
                    &p,
                    opts.kdf,
                    random(),
                    random(),
                    STORE_KEY_AAD,
                )
                .map_err(core_error)?;
                (Some(sealed.to_bytes()), Keys::Sealed(store_key))
            }
            KeySource::Token(cfg) => (None, Keys::Token(Token::open(&cfg)?)),
        };
        let iss = Issuer {
            store,
            keys: Some(keys),
            signers: Mutex::new(HashMap::new()),
            citizen_key: Mutex::new(None),
            checked_root: Mutex::new(None),
            mdoc_signer: Mutex::new(None),
        };
        let citizen_key = match iss.keys()? {
            Keys::Sealed(_) => Secret::Sealed(iss.seal(&random::<32>(), b"citizen key")?),
            Keys::Token(_) => {
                let (_, secret) = iss.new_keys("citizen", 1)?;
                secret
            }
        };
        let mut tx = iss.store.begin().await?;
        let meta = Meta {
            issuer_id: opts.issuer_id,
            name: opts.name.clone(),
            status_size: opts.status_list_size,
            sealed_store_key: sealed,
            citizen_key: Some(citizen_key),
            created_at: now,
            cards_per_citizen: opts.cards_per_citizen,
            did: opts.did.clone(),
            mdoc: None,
        };
        // The mdoc form's certificates, for keys sealed here (a token holds Ed25519 keys
        // only in this version: such an issuer issues no mdoc).
        let meta = Meta {
            mdoc: iss.new_mdoc_keys(&meta, now)?,
            ..meta
        };
        if !tx.create(&meta).await? {
            return Err(IssuerError::AlreadyInitialised(iss.store.place()));
        }
        let (signers, secret) = iss.new_keys("root-1", opts.root_keys)?;
        let root = Root {
            version: 1,
            expires: now + ROOT_LIFETIME_SECS,
            threshold: opts.threshold,
            keys: signers.iter().map(|k| k.public_key().to_bytes()).collect(),
        };
        let refs: Vec<&dyn KeySigner> = signers.iter().map(|k| k.as_ref()).collect();
        let signed = SignedRoot::sign_with(root, &refs).map_err(core_error)?;
        tx.put_root(&RootRow {
            version: 1,
            signed: signed.signed.to_bytes(),
            secret: iss.reseal_root(secret, 1)?,
        })
        .await?;
        let key = iss.new_signing_key(0, now, KeyStatus::Active)?;
        tx.put_key(&key).await?;
        tx.audit(&audit(now, &Actor::cli(), "init", &hex::encode(&key.kid)))
            .await?;
        tx.commit().await?;
        Ok(iss)
    }

    /// Its unlocked keys, the store let go.
    pub(crate) fn into_keys(self) -> Option<Keys> {
        self.keys
    }

    /// An issuer over `store` with keys already unlocked.
    pub(crate) fn with_keys(store: S, keys: Option<Keys>) -> Self {
        Issuer {
            store,
            keys,
            signers: Mutex::new(HashMap::new()),
            citizen_key: Mutex::new(None),
            checked_root: Mutex::new(None),
            mdoc_signer: Mutex::new(None),
        }
    }

    /// Unlocks the keys: the passphrase opens the sealed store key, or the token opens.
    pub async fn unlock(&mut self, source: KeySource) -> Result<()> {
        let meta = self.meta().await?;
        self.keys = Some(match source {
            KeySource::Passphrase(p) => {
                let sealed = meta.sealed_store_key.ok_or(IssuerError::KeysElsewhere(
                    "this issuer's keys are in a PKCS#11 token: give --pkcs11-module and --token-label",
                ))?;
                let key = Sealed::from_bytes(&sealed)
                    .map_err(core_error)?
                    .open(&p, STORE_KEY_AAD)
                    .map_err(core_error)?;
                Keys::Sealed(key.key32().ok_or(IssuerError::WrongPassphrase)?)
            }
            KeySource::Token(cfg) => Keys::Token(Token::open(&cfg)?),
        });
        if meta.citizen_key.is_none() {
            // A database made before citizen binding: its key is made once, here.
            let k = match self.keys()? {
                Keys::Sealed(_) => Secret::Sealed(self.seal(&random::<32>(), b"citizen key")?),
                Keys::Token(_) => self.new_keys("citizen", 1)?.1,
            };
            let mut tx = self.store.begin().await?;
            tx.set_citizen_key(&k).await?;
            tx.commit().await?;
        }
        if meta.mdoc.is_none() {
            // An issuer made before the mdoc form: its certificates are made once, here.
            let mut tx = self.store.begin().await?;
            tx.lock_keys().await?;
            let meta = self.meta_in(&mut tx).await?;
            if meta.mdoc.is_none() {
                if let Some(k) = self.new_mdoc_keys(&meta, now_secs())? {
                    tx.set_mdoc(&k).await?;
                    tx.commit().await?;
                }
            }
        }
        Ok(())
    }

    /// An IACA root and a document signer under it, sealed (`None` for token keys).
    fn new_mdoc_keys(&self, meta: &Meta, now: i64) -> Result<Option<MdocKeys>> {
        if !matches!(self.keys()?, Keys::Sealed(_)) {
            return Ok(None);
        }
        let mut k = MdocKeys {
            iacas: vec![],
            signers: vec![],
            reader_cas: vec![],
            readers: vec![],
        };
        self.add_iaca(&mut k, meta, now)?;
        self.add_document_signer(&mut k, meta, now)?;
        Ok(Some(k))
    }

    fn seal_mdoc_key(
        &self,
        role: MdocRole,
        key: &p256::ecdsa::SigningKey,
        certificate: Vec<u8>,
        not_after: i64,
    ) -> Result<MdocKey> {
        let raw = Zeroizing::new(key.to_bytes().to_vec());
        let secret = Secret::Sealed(self.seal(&raw, mdoc_aad(role, &certificate).as_bytes())?);
        Ok(MdocKey {
            certificate: hex::encode(certificate),
            not_after,
            secret,
            published: false,
            revoked_at: None,
        })
    }

    fn open_mdoc_key(
        &self,
        role: MdocRole,
        k: &MdocKey,
    ) -> Result<(p256::ecdsa::SigningKey, Vec<u8>)> {
        let cert = hex::decode(&k.certificate).map_err(|_| damaged("an mdoc certificate"))?;
        let Secret::Sealed(rec) = &k.secret else {
            return Err(damaged("an mdoc key"));
        };
        let raw = self.unseal(rec, mdoc_aad(role, &cert).as_bytes())?;
        let b = raw.key32().ok_or_else(|| damaged("an mdoc key"))?;
        let key =
            p256::ecdsa::SigningKey::from_slice(&b[..]).map_err(|_| damaged("an mdoc key"))?;
        Ok((key, cert))
    }

    /// A new IACA root certificate (after `rotate-root`, the bundle lists old and new).
    fn add_iaca(&self, k: &mut MdocKeys, meta: &Meta, now: i64) -> Result<()> {
        use tuaton_common::mdoc::x509;
        let key = p256::ecdsa::SigningKey::random(&mut OsRng);
        let n = k.iacas.len() + 1;
        let cn = format!("{} IACA {n}", certificate_name(&meta.name));
        let not_after = now + IACA_LIFETIME_SECS;
        let (url, crl) = (
            authority_url(meta),
            crl_url(meta, &tuaton_common::bundle::iaca_crl(n)),
        );
        let der = x509::iaca(
            &key,
            &thai_subject(&cn, &url, &crl),
            cert_serial(),
            now,
            not_after,
        )
        .map_err(core_error)?;
        k.iacas
            .push(self.seal_mdoc_key(MdocRole::Iaca, &key, der, not_after)?);
        Ok(())
    }

    /// A new document signer under the newest IACA whose certificate a publish has carried
    /// (or the first: before any publish no reader holds any), so readers can chain it.
    fn add_document_signer(&self, k: &mut MdocKeys, meta: &Meta, now: i64) -> Result<()> {
        use tuaton_common::mdoc::x509;
        let at = k.iacas.iter().rposition(|i| i.published).unwrap_or(0);
        let iaca = k
            .iacas
            .get(at)
            .ok_or_else(|| damaged("the mdoc IACA certificates"))?;
        let (url, crl) = (
            authority_url(meta),
            crl_url(meta, &tuaton_common::bundle::iaca_crl(at + 1)),
        );
        let (iaca_key, iaca_der) = self.open_mdoc_key(MdocRole::Iaca, iaca)?;
        let key = p256::ecdsa::SigningKey::random(&mut OsRng);
        let n = k.signers.len() + 1;
        let cn = format!("{} DS {n}", certificate_name(&meta.name));
        let not_after = (now + DS_LIFETIME_SECS).min(iaca.not_after);
        let der = x509::document_signer(
            &iaca_key,
            &iaca_der,
            key.verifying_key(),
            &thai_subject(&cn, &url, &crl),
            cert_serial(),
            now,
            not_after,
        )
        .map_err(core_error)?;
        k.signers
            .push(self.seal_mdoc_key(MdocRole::DocumentSigner, &key, der, not_after)?);
        Ok(())
    }

    /// The document signer for a card bound to `holder`: mdocs need a P-256 device key
    /// (18013-5 section 9.1.2.4), and an issuer with no mdoc keys issues none.
    fn mdoc_for(&self, meta: &Meta, holder: &HolderKey) -> Result<Option<Arc<MdocSigner>>> {
        match (&meta.mdoc, holder) {
            (Some(k), HolderKey::P256(_)) => Ok(Some(self.mdoc_signer(k)?)),
            _ => Ok(None),
        }
    }

    /// A reader authentication certificate (ISO 18013-5 Annex B.1.7) for a gate's P-256
    /// key (SEC1, 33 or 65 bytes), valid `days` (1 to 30: short-lived, so a reader that is
    /// lost stops being trusted within days without a revocation list), listing the
    /// elements it may request. The reader CA is made at the first call. Returns the
    /// certificate (DER).
    pub async fn reader_certificate(
        &self,
        public_key: &[u8],
        name: &str,
        allowed: &tuaton_common::mdoc::Request,
        days: u32,
        actor: &Actor,
        now: i64,
    ) -> Result<(Vec<u8>, u64)> {
        use tuaton_common::mdoc::x509;
        if !(1..=30).contains(&days) {
            return Err(IssuerError::Usage(
                "--days must be 1 to 30 (reader certificates are short-lived)".into(),
            ));
        }
        if allowed.values().all(Vec::is_empty) {
            return Err(IssuerError::Usage(
                "--allow must name at least one element (NAMESPACE/ELEMENT)".into(),
            ));
        }
        let key = p256::PublicKey::from_sec1_bytes(public_key)
            .map(|k| p256::ecdsa::VerifyingKey::from(&k))
            .map_err(|_| {
                IssuerError::Usage("--public-key is not a P-256 public key (SEC1, hex)".into())
            })?;
        let mut tx = self.store.begin().await?;
        tx.lock_keys().await?;
        let meta = self.meta_in(&mut tx).await?;
        let Some(mut m) = meta.mdoc.clone() else {
            return Err(IssuerError::KeysElsewhere(
                "this issuer has no mdoc keys (its keys are in a token): it cannot certify readers",
            ));
        };
        let cert_end = now + i64::from(days) * 86_400;
        if m.reader_cas.last().is_none_or(|c| c.not_after <= cert_end) {
            let ca_key = p256::ecdsa::SigningKey::random(&mut OsRng);
            let n = m.reader_cas.len() + 1;
            let cn = format!("{} reader CA {n}", certificate_name(&meta.name));
            let not_after = now + IACA_LIFETIME_SECS;
            let (url, crl) = (
                authority_url(&meta),
                crl_url(&meta, &tuaton_common::bundle::reader_ca_crl(n)),
            );
            let der = x509::reader_ca(
                &ca_key,
                &thai_subject(&cn, &url, &crl),
                cert_serial(),
                now,
                not_after,
            )
            .map_err(core_error)?;
            m.reader_cas
                .push(self.seal_mdoc_key(MdocRole::ReaderCa, &ca_key, der, not_after)?);
            tx.set_mdoc(&m).await?;
            tx.audit(&audit(now, actor, "reader-ca", &cn)).await?;
        }
        let (ca_key, ca_der) =
            self.open_mdoc_key(MdocRole::ReaderCa, m.reader_cas.last().expect("made above"))?;
        let cn = certificate_name(name);
        let serial = cert_serial();
        let (url, crl) = (
            authority_url(&meta),
            crl_url(
                &meta,
                &tuaton_common::bundle::reader_ca_crl(m.reader_cas.len()),
            ),
        );
        let der = x509::reader_certificate(
            &ca_key,
            &ca_der,
            &key,
            &thai_subject(&cn, &url, &crl),
            serial,
            now,
            now + i64::from(days) * 86_400,
            allowed,
        )
        .map_err(core_error)?;
        // Remembered until a day after it expires (a wallet's clock may be behind), so it
        // can be revoked and stays listed; older ones are dropped.
        m.readers
            .retain(|r| r.not_after + REVOKED_LISTED_AFTER_EXPIRY >= now);
        m.readers.push(crate::seam::IssuedReader {
            serial,
            name: name.to_owned(),
            sha256: hex::encode(
                x509::Parsed::from_der(&der)
                    .map_err(core_error)?
                    .tbs_sha256(),
            ),
            ca: m.reader_cas.len(),
            not_after: now + i64::from(days) * 86_400,
            revoked_at: None,
        });
        tx.set_mdoc(&m).await?;
        tx.audit(&audit(
            now,
            actor,
            "reader-cert",
            &format!("{cn} serial {serial:x} for {days} days"),
        ))
        .await?;
        tx.commit().await?;
        Ok((der, serial))
    }

    /// The document signers' keys are compromised: every document signer not yet
    /// expired is revoked and a new one made, which signs from now on. The next publish
    /// names the revoked ones in the trust list (key 8), and gates refuse every mdoc they
    /// signed (`issuer_key_revoked`); citizens get a new mdoc when their wallets refresh.
    /// Returns how many were revoked.
    pub async fn revoke_signers(&self, actor: &Actor, now: i64) -> Result<usize> {
        let mut tx = self.store.begin().await?;
        tx.lock_keys().await?;
        let meta = self.meta_in(&mut tx).await?;
        let Some(mut m) = meta.mdoc.clone() else {
            return Err(IssuerError::KeysElsewhere(
                "this issuer has no mdoc keys (its keys are in a token): it has no document signer to revoke",
            ));
        };
        let mut n = 0;
        for s in m
            .signers
            .iter_mut()
            .filter(|s| s.revoked_at.is_none() && s.not_after >= now)
        {
            s.revoked_at = Some(now);
            n += 1;
        }
        self.add_document_signer(&mut m, &meta, now)?;
        tx.set_mdoc(&m).await?;
        tx.audit(&audit(
            now,
            actor,
            "revoke-signer",
            &format!("{n} document signer(s); DS {} signs now", m.signers.len()),
        ))
        .await?;
        tx.commit().await?;
        Ok(n)
    }

    /// Revokes the reader certificate with serial `serial_hex` (as `reader-cert` printed
    /// it): the next publish lists it in its reader CA's revocation list and in the trust
    /// list, so wallets refuse it and its gate stops using it. Revoking it again changes
    /// nothing.
    pub async fn revoke_reader(
        &self,
        serial_hex: &str,
        actor: &Actor,
        now: i64,
    ) -> Result<crate::seam::IssuedReader> {
        let serial = u64::from_str_radix(serial_hex.trim(), 16).map_err(|_| {
            IssuerError::Usage(format!(
                "`{}` is not a serial number (hex, as reader-cert printed it)",
                serial_hex.escape_debug()
            ))
        })?;
        let mut tx = self.store.begin().await?;
        tx.lock_keys().await?;
        let meta = self.meta_in(&mut tx).await?;
        let mut m = meta.mdoc.clone().unwrap_or_else(|| MdocKeys {
            iacas: vec![],
            signers: vec![],
            reader_cas: vec![],
            readers: vec![],
        });
        let Some(r) = m
            .readers
            .iter_mut()
            .find(|r| r.serial == serial && r.not_after >= now)
        else {
            return Err(IssuerError::Usage(format!(
                "no unexpired reader certificate has serial {serial:x}"
            )));
        };
        if r.revoked_at.is_none() {
            r.revoked_at = Some(now);
            let what = format!("{} serial {serial:x}", r.name);
            let done = r.clone();
            tx.set_mdoc(&m).await?;
            tx.audit(&audit(now, actor, "reader-revoke", &what)).await?;
            tx.commit().await?;
            return Ok(done);
        }
        Ok(r.clone())
    }

    /// Whether this issuer issues the mdoc form (its keys are sealed, and it has mdoc
    /// certificates).
    pub async fn issues_mdoc(&self) -> Result<bool> {
        Ok(self.meta().await?.mdoc.is_some())
    }

    /// The document signer of new MSOs (the newest), unsealed once.
    pub(crate) fn mdoc_signer(&self, k: &MdocKeys) -> Result<Arc<MdocSigner>> {
        let newest = k
            .signers
            .last()
            .ok_or_else(|| damaged("the mdoc document signers"))?;
        let mut cached = self.mdoc_signer.lock().expect("not poisoned");
        if let Some(s) = cached.as_ref() {
            // Compared as stored (hex), not encoded again for every issuance.
            if s.certificate_hex == newest.certificate {
                return Ok(s.clone());
            }
        }
        let (key, certificate) = self.open_mdoc_key(MdocRole::DocumentSigner, newest)?;
        let s = Arc::new(MdocSigner {
            certificate_hex: newest.certificate.clone(),
            signer: tuaton_common::mdoc::InMemorySigner { key, certificate },
            not_after: newest.not_after,
        });
        *cached = Some(s.clone());
        Ok(s)
    }

    /// Whether the key token answers (always, for sealed keys): readiness.
    pub fn token_ready(&self) -> Result<()> {
        match self.keys()? {
            Keys::Token(t) => t.ping(),
            Keys::Sealed(_) => Ok(()),
        }
    }

    /// Whether the keys were unlocked with a token.
    pub fn in_token(&self) -> bool {
        matches!(self.keys, Some(Keys::Token(_)))
    }

    fn keys(&self) -> Result<&Keys> {
        self.keys.as_ref().ok_or(IssuerError::KeysLocked)
    }

    async fn meta(&self) -> Result<Meta> {
        let mut tx = self.store.begin().await?;
        self.meta_in(&mut tx).await
    }

    /// The issuer row read in `tx`; a store without one was never initialised.
    async fn meta_in(&self, tx: &mut S::Tx) -> Result<Meta> {
        tx.meta()
            .await?
            .ok_or_else(|| IssuerError::NotInitialised(self.store.place()))
    }

    fn seal(&self, secret: &[u8], aad: &[u8]) -> Result<Vec<u8>> {
        let Keys::Sealed(k) = self.keys()? else {
            return Err(IssuerError::KeysElsewhere(
                "the keys are in a PKCS#11 token: nothing is sealed",
            ));
        };
        let nonce = random::<12>();
        let mut out = nonce.to_vec();
        out.extend(seal::encrypt(k, &nonce, secret, aad));
        Ok(out)
    }

    fn unseal(&self, rec: &[u8], aad: &[u8]) -> Result<seal::Secret> {
        let Keys::Sealed(k) = self.keys()? else {
            return Err(IssuerError::KeysElsewhere(
                "this key is sealed under the passphrase: unlock without --pkcs11-module",
            ));
        };
        let nonce: [u8; 12] = rec
            .get(..12)
            .and_then(|n| n.try_into().ok())
            .ok_or_else(|| damaged("a sealed secret"))?;
        seal::decrypt(k, &nonce, &rec[12..], aad).map_err(|_| {
            IssuerError::StoreDamaged("a sealed secret does not open with the store key".into())
        })
    }

    /// `n` new keys: in the token (labelled, with a random suffix so several issuers or
    /// test runs can share one token), or in memory with their secrets to be sealed.
    fn new_keys(&self, what: &str, n: u8) -> Result<(Vec<Arc<dyn KeySigner>>, Secret)> {
        match self.keys()? {
            Keys::Sealed(_) => {
                let keys: Vec<SigningKey> =
                    (0..n).map(|_| SigningKey::generate(&mut OsRng)).collect();
                let mut raw = Zeroizing::new(Vec::new());
                for k in &keys {
                    raw.extend_from_slice(&k.to_bytes());
                }
                let signers = keys
                    .into_iter()
                    .map(|k| Arc::new(k) as Arc<dyn KeySigner>)
                    .collect();
                // Sealed by the caller, who knows the associated data.
                Ok((signers, Secret::Sealed(raw.to_vec())))
            }
            Keys::Token(t) => {
                let mut signers = vec![];
                let mut labels = vec![];
                for i in 0..n {
                    let label = format!("tuaton-{what}-{i}-{}", hex::encode(random::<6>()));
                    signers.push(t.generate(&label)?);
                    labels.push(label);
                }
                Ok((signers, Secret::Token(labels)))
            }
        }
    }

    fn reseal_root(&self, s: Secret, version: u64) -> Result<Secret> {
        Ok(match s {
            Secret::Sealed(raw) => {
                let raw = Zeroizing::new(raw);
                Secret::Sealed(self.seal(&raw, format!("root {version}").as_bytes())?)
            }
            t => t,
        })
    }

    fn new_signing_key(&self, seq: u32, now: i64, status: KeyStatus) -> Result<KeyRow> {
        let (signers, secret) = self.new_keys("signing", 1)?;
        let signer = signers.into_iter().next().expect("one key");
        let public = signer.public_key();
        let kid = tuaton_common::trust::kid_of(&public);
        let secret = match secret {
            Secret::Sealed(raw) => {
                let raw = Zeroizing::new(raw);
                Secret::Sealed(self.seal(&raw, signing_aad(&kid).as_bytes())?)
            }
            t => t,
        };
        self.signers
            .lock()
            .expect("not poisoned")
            .insert(kid.clone(), signer);
        Ok(KeyRow {
            seq,
            kid,
            public: public.to_bytes(),
            not_before: now,
            not_after: None,
            status,
            secret,
        })
    }

    fn signer(&self, k: &KeyRow) -> Result<Arc<dyn KeySigner>> {
        if let Some(s) = self.signers.lock().expect("not poisoned").get(&k.kid) {
            return Ok(s.clone());
        }
        let s: Arc<dyn KeySigner> = match (&k.secret, self.keys()?) {
            (Secret::Sealed(rec), _) => {
                let raw = self.unseal(rec, signing_aad(&k.kid).as_bytes())?;
                let b = raw.key32().ok_or_else(|| damaged("a signing key"))?;
                Arc::new(SigningKey::from_bytes(&b))
            }
            (Secret::Token(labels), Keys::Token(t)) => {
                t.key(labels.first().ok_or_else(|| damaged("a key label"))?)?
            }
            (Secret::Token(_), Keys::Sealed(_)) => return Err(IssuerError::KeysElsewhere(
                "this signing key is in a PKCS#11 token: give --pkcs11-module and --token-label",
            )),
        };
        if s.public_key().to_bytes() != k.public {
            return Err(IssuerError::StoreDamaged(format!(
                "the private key of {} does not match its public key",
                hex::encode(&k.kid)
            )));
        }
        self.signers
            .lock()
            .expect("not poisoned")
            .insert(k.kid.clone(), s.clone());
        Ok(s)
    }

    fn root_signers(&self, r: &RootRow) -> Result<Vec<Arc<dyn KeySigner>>> {
        match (&r.secret, self.keys()?) {
            (Secret::Sealed(rec), _) => {
                let raw = self.unseal(rec, format!("root {}", r.version).as_bytes())?;
                if raw.expose().is_empty() || raw.expose().len() % 32 != 0 {
                    return Err(damaged("a root secret"));
                }
                Ok(raw
                    .expose()
                    .chunks(32)
                    .map(|c| {
                        Arc::new(SigningKey::from_bytes(c.try_into().expect("32")))
                            as Arc<dyn KeySigner>
                    })
                    .collect())
            }
            (Secret::Token(labels), Keys::Token(t)) => {
                labels.iter().map(|l| t.key(l)).collect::<Result<_>>()
            }
            (Secret::Token(_), Keys::Sealed(_)) => Err(IssuerError::KeysElsewhere(
                "the root keys are in a PKCS#11 token: give --pkcs11-module and --token-label",
            )),
        }
    }

    /// The keyed hash of a citizen ID: finds a citizen's cards (a lost phone) without the
    /// store keeping any ID.
    pub async fn citizen_hash(&self, citizen_id: u64) -> Result<[u8; 32]> {
        let meta = self.meta().await?;
        self.citizen_hash_with(&meta, citizen_id)
    }

    /// [`Issuer::citizen_hash`] with the issuer row already read (inside a transaction).
    fn citizen_hash_with(&self, meta: &Meta, citizen_id: u64) -> Result<[u8; 32]> {
        let cached = self.citizen_key.lock().expect("not poisoned").clone();
        let key = match cached {
            Some(k) => k,
            None => {
                let k = match (&meta.citizen_key, self.keys()?) {
                    (None, _) => {
                        return Err(IssuerError::KeysLocked)
                    }
                    (Some(Secret::Sealed(rec)), _) => self
                        .unseal(rec, b"citizen key")?
                        .key32()
                        .ok_or_else(|| damaged("the citizen key"))?,
                    (Some(Secret::Token(labels)), Keys::Token(t)) => {
                        let k = t.key(labels.first().ok_or_else(|| damaged("a key label"))?)?;
                        let sig = k.sign_message(b"tuaton citizen hash key v1").map_err(core_error)?;
                        Zeroizing::new(Sha256::digest(sig).into())
                    }
                    (Some(Secret::Token(_)), Keys::Sealed(_)) => {
                        return Err(IssuerError::KeysElsewhere(
                            "the citizen key is in a PKCS#11 token: give --pkcs11-module and --token-label",
                        ))
                    }
                };
                *self.citizen_key.lock().expect("not poisoned") = Some(k.clone());
                k
            }
        };
        let mut h = Sha256::new();
        h.update(b"tuaton citizen v1");
        h.update(key.as_ref());
        h.update(format!("{citizen_id:013}").as_bytes());
        Ok(h.finalize().into())
    }

    /// Issues both forms for checked `claims` to `holder`, inside `tx`: the credential id
    /// and status index are claimed there, so they commit with whatever else the caller
    /// records (an offer's redemption) or not at all.
    pub(crate) async fn issue_in(
        &self,
        tx: &mut S::Tx,
        claims: &CardClaims,
        holder: &HolderKey,
        actor: &Actor,
        now: i64,
    ) -> Result<(String, CredentialRow)> {
        // A publish or revoke-key that retires this key waits for this issuance, and this
        // issuance for it: a card is never signed by a key retired under it.
        tx.share_keys().await?;
        let (meta, keys) = tx.meta_and_keys().await?;
        let meta = meta.ok_or_else(|| IssuerError::NotInitialised(self.store.place()))?;
        let key = active_key(&keys)?;
        let signer = self.signer(&key)?;
        let citizen = self.citizen_hash_with(&meta, claims.citizen_id.as_u64())?;
        let row = self
            .allocate(tx, &meta, |id, list, index| CredentialRow {
                id,
                list,
                index,
                issued_at: now,
                kid: key.kid.clone(),
                holder: *holder,
                claims: tuaton_common::gate::claims_digest(claims),
                citizen,
                actor: actor.who(),
            })
            .await?;
        let mdoc = self.mdoc_for(&meta, holder)?;
        let package = sign_package(
            claims,
            &Signing {
                issuer: meta.issuer_id,
                did: &meta.did(),
                key: signer.as_ref(),
                kid: &key.kid,
                mdoc: mdoc.as_deref(),
            },
            holder,
            row.id,
            StatusRef {
                list: row.list,
                index: row.index,
            },
            now,
        )?;
        if meta.cards_per_citizen > 0 {
            // The citizen's other valid cards, oldest first: beyond the policy, the oldest
            // are superseded in this same commit (two redemptions for one citizen take
            // turns here, so both cannot stay).
            tx.lock_citizen(&citizen).await?;
            let mut others: Vec<CredentialRow> = tx
                .credentials_of(&citizen)
                .await?
                .into_iter()
                .filter(|c| c.id != row.id)
                .collect();
            others.sort_by_key(|c| (c.issued_at, c.id));
            let excess = (others.len() + 1).saturating_sub(meta.cards_per_citizen as usize);
            for old in others.iter().take(excess) {
                tx.revoke(old, now, Reason::Superseded).await?;
                tx.audit(&audit(
                    now,
                    actor,
                    "supersede",
                    &format!("{} by {}", hex::encode(old.id), hex::encode(row.id)),
                ))
                .await?;
            }
        }
        tx.audit(&audit(
            now,
            actor,
            "issue",
            &format!(
                "credential {} list {} index {} citizen {}",
                hex::encode(row.id),
                row.list,
                row.index,
                hex::encode(&row.citizen[..8])
            ),
        ))
        .await?;
        // Last, so the list's count is locked as briefly as the store can manage.
        let cap = meta.status_size * FILL_NUMERATOR / FILL_DENOMINATOR;
        tx.bump_fill(row.list, cap).await?;
        Ok((package, row))
    }

    /// A fresh credential id and a random free status index (random, so neighbours in a
    /// list say nothing about issuance order) in the first list under 90 % full. Bounded:
    /// [`PROBES_PER_LIST`] tries in each of at most [`LISTS_PER_ISSUE`] lists.
    async fn allocate(
        &self,
        tx: &mut S::Tx,
        meta: &Meta,
        row: impl Fn([u8; 8], u32, u64) -> CredentialRow,
    ) -> Result<CredentialRow> {
        let cap = meta.status_size * FILL_NUMERATOR / FILL_DENOMINATOR;
        let mut list = tx.open_list(0, cap).await?;
        for _ in 0..LISTS_PER_ISSUE {
            for _ in 0..PROBES_PER_LIST {
                let r = row(random(), list, OsRng.next_u64() % meta.status_size);
                if tx.claim(&r).await? {
                    return Ok(r);
                }
            }
            list = tx.open_list(list + 1, cap).await?;
        }
        Err(IssuerError::Busy("no free status index in the lists tried"))
    }

    /// Issues a credential package for a record (JSON and portrait bytes) and an
    /// enrollment request (the command line's issuance).
    pub async fn issue(
        &self,
        record_json: &[u8],
        portrait: &[u8],
        request: &str,
        actor: &Actor,
        now: i64,
    ) -> Result<(String, IssuedRecord)> {
        let claims = checked_claims(record_json, portrait, now)?;
        let req = tuaton_common::enroll::parse(request).map_err(core_error)?;
        retry_busy(|| async {
            let mut tx = self.store.begin().await?;
            let (package, row) = self
                .issue_in(&mut tx, &claims, &req.holder_key, actor, now)
                .await?;
            tx.commit().await?;
            Ok((package, IssuedRecord::from(&row)))
        })
        .await
    }

    /// Revokes one credential for cause (its bit is set at the next publish).
    pub async fn revoke(
        &self,
        credential_id: &str,
        actor: &Actor,
        now: i64,
    ) -> Result<IssuedRecord> {
        let id = parse_cid(credential_id)?;
        let mut tx = self.store.begin().await?;
        let c = tx.credential(&id).await?.ok_or_else(|| {
            IssuerError::UnknownCredential(credential_id.escape_debug().to_string())
        })?;
        tx.revoke(&c, now, Reason::Cause).await?;
        tx.audit(&audit(now, actor, "revoke", &hex::encode(id)))
            .await?;
        tx.commit().await?;
        Ok(IssuedRecord::from(&c))
    }

    /// Revokes every card of one citizen (a lost or stolen phone): found by the keyed hash
    /// of the ID, never by a stored ID.
    pub async fn revoke_citizen(
        &self,
        citizen_id: &str,
        actor: &Actor,
        now: i64,
    ) -> Result<Vec<IssuedRecord>> {
        let id: tuaton_common::model::CitizenId = citizen_id.trim().parse().map_err(core_error)?;
        let h = self.citizen_hash(id.as_u64()).await?;
        let mut tx = self.store.begin().await?;
        let cards = tx.credentials_of(&h).await?;
        for c in &cards {
            tx.revoke(c, now, Reason::Cause).await?;
            tx.audit(&audit(
                now,
                actor,
                "revoke",
                &format!("{} citizen {}", hex::encode(c.id), hex::encode(&h[..8])),
            ))
            .await?;
        }
        tx.commit().await?;
        Ok(cards.iter().map(IssuedRecord::from).collect())
    }

    /// Stages a new signing key. It signs nothing until the next publish names it in the
    /// trust list (and makes it active): a wallet or gate with the newest bundle always
    /// knows the key its card was signed with. Running it again while a key is staged
    /// returns that key.
    pub async fn rotate(&self, actor: &Actor, now: i64) -> Result<KeyRow> {
        let mut tx = self.store.begin().await?;
        tx.lock_keys().await?;
        let keys = tx.keys().await?;
        let staged = keys.iter().find(|k| k.status == KeyStatus::Staged).cloned();
        let k = match staged {
            Some(k) => k,
            None => {
                let k = self.new_signing_key(next_seq(&keys), now, KeyStatus::Staged)?;
                tx.put_key(&k).await?;
                tx.audit(&audit(now, actor, "rotate", &hex::encode(&k.kid)))
                    .await?;
                k
            }
        };
        // A new document signer too, even when a key was already staged (renewing an
        // expiring signer must not wait for a publish). It signs at once: readers trust the
        // IACA above it, which the bundle already carries.
        let meta = self.meta_in(&mut tx).await?;
        if let Some(mut m) = meta.mdoc.clone() {
            self.add_document_signer(&mut m, &meta, now)?;
            tx.set_mdoc(&m).await?;
            tx.audit(&audit(
                now,
                actor,
                "rotate-document-signer",
                &format!("DS {}", m.signers.len()),
            ))
            .await?;
        }
        tx.commit().await?;
        Ok(k)
    }

    /// A key is compromised: marked revoked at `now` (gates void everything it signed
    /// once they have the next bundle). Revoking the active key needs a staged one to take
    /// over (`rotate` first); it becomes active at once, since the old one must not sign
    /// again.
    pub async fn revoke_key(&self, kid_hex: &str, actor: &Actor, now: i64) -> Result<Vec<KeyRow>> {
        let kid = hex::decode(kid_hex.trim())
            .map_err(|_| IssuerError::UnknownKid(kid_hex.escape_debug().to_string()))?;
        let mut tx = self.store.begin().await?;
        tx.lock_keys().await?;
        let mut keys = tx.keys().await?;
        let Some(i) = keys.iter().position(|k| k.kid == kid) else {
            return Err(IssuerError::UnknownKid(kid_hex.escape_debug().to_string()));
        };
        if keys[i].status == KeyStatus::Active {
            let Some(j) = keys.iter().position(|k| k.status == KeyStatus::Staged) else {
                return Err(IssuerError::NoStagedKey(hex::encode(&kid)));
            };
            keys[j].status = KeyStatus::Active;
            keys[j].not_before = now;
            tx.put_key(&keys[j]).await?;
            tx.audit(&audit(now, actor, "activate", &hex::encode(&keys[j].kid)))
                .await?;
        }
        if keys[i].status.revoked_at().is_none() {
            keys[i].status = KeyStatus::Revoked { at: now };
            keys[i].not_after = Some(keys[i].not_after.unwrap_or(now).min(now));
            tx.put_key(&keys[i]).await?;
            tx.audit(&audit(now, actor, "revoke-key", &hex::encode(&kid)))
                .await?;
        }
        tx.commit().await?;
        Ok(vec![keys[i].clone()])
    }

    /// Root N+1 with fresh keys (same count and threshold), signed by a threshold of root
    /// N's keys and by all of its own; made in the token when the keys are there.
    pub async fn rotate_root(&self, actor: &Actor, now: i64) -> Result<Root> {
        let mut tx = self.store.begin().await?;
        tx.lock_keys().await?;
        let roots = tx.roots().await?;
        let cur_row = roots.last().ok_or_else(|| damaged("the root chain"))?;
        let cur = SignedRoot::from_bytes_self_signed(&cur_row.signed).map_err(core_error)?;
        let old = self.root_signers(cur_row)?;
        if old.len() < usize::from(cur.root.threshold) {
            return Err(IssuerError::NotEnoughRootKeys {
                version: cur.root.version,
                need: u32::from(cur.root.threshold),
                have: old.len() as u32,
            });
        }
        let version = cur.root.version + 1;
        let (new, secret) = self.new_keys(&format!("root-{version}"), cur.root.keys.len() as u8)?;
        let root = Root {
            version,
            expires: now + ROOT_LIFETIME_SECS,
            threshold: cur.root.threshold,
            keys: new.iter().map(|k| k.public_key().to_bytes()).collect(),
        };
        let mut signers: Vec<&dyn KeySigner> = old
            .iter()
            .take(cur.root.threshold.into())
            .map(|k| k.as_ref())
            .collect();
        signers.extend(new.iter().map(|k| k.as_ref()));
        let signed = SignedRoot::sign_with(root.clone(), &signers).map_err(core_error)?;
        // The chain must hold: the new root verifies as the successor of the current one.
        cur.verify_successor(&signed.signed.to_bytes())
            .map_err(core_error)?;
        tx.put_root(&RootRow {
            version,
            signed: signed.signed.to_bytes(),
            secret: self.reseal_root(secret, version)?,
        })
        .await?;
        tx.audit(&audit(
            now,
            actor,
            "rotate-root",
            &format!("root {version}"),
        ))
        .await?;
        // A new IACA root for the mdoc form. Document signers move under it at the first
        // `rotate` after a publish has carried it to readers.
        let meta = self.meta_in(&mut tx).await?;
        if let Some(mut m) = meta.mdoc.clone() {
            self.add_iaca(&mut m, &meta, now)?;
            tx.set_mdoc(&m).await?;
            tx.audit(&audit(
                now,
                actor,
                "rotate-iaca",
                &format!("IACA {}", m.iacas.len()),
            ))
            .await?;
        }
        tx.commit().await?;
        Ok(root)
    }

    /// Makes an issuer restored from a backup or a database dump safe to use: the copy may
    /// be older than what was lost, so every existing status list is closed (no index the
    /// lost tail handed out is given again) and the trust-list version jumps to at least
    /// `now` in seconds (the next publish is newer than anything gates hold). Revocations
    /// made after the copy are lost with it: revoke those cards again (docs/ISSUANCE.md).
    pub async fn resume_after_restore(&self, actor: &Actor, now: i64) -> Result<u64> {
        let mut tx = self.store.begin().await?;
        tx.lock_keys().await?;
        let meta = self.meta_in(&mut tx).await?;
        tx.close_lists(meta.status_size, RESTORE_LIST_MARGIN)
            .await?;
        let floor = u64::try_from(now).unwrap_or(0);
        tx.raise_version(floor).await?;
        tx.audit(&audit(
            now,
            actor,
            "resume",
            &format!("trust list version >= {floor}"),
        ))
        .await?;
        tx.commit().await?;
        Ok(floor)
    }

    /// The current root (its fingerprint is what gates and wallets pin).
    pub async fn root(&self) -> Result<Root> {
        let mut tx = self.store.begin().await?;
        let roots = tx.roots().await?;
        let r = roots.last().ok_or_else(|| damaged("the root chain"))?;
        if let Some((bytes, root)) = &*self.checked_root.lock().expect("not poisoned") {
            if *bytes == r.signed {
                return Ok(root.clone());
            }
        }
        let root = SignedRoot::from_bytes_self_signed(&r.signed)
            .map_err(core_error)?
            .root;
        *self.checked_root.lock().expect("not poisoned") = Some((r.signed.clone(), root.clone()));
        Ok(root)
    }

    /// The issuer's display name and number.
    pub async fn identity(&self) -> Result<(String, u32)> {
        let m = self.meta().await?;
        Ok((m.name, m.issuer_id))
    }

    /// The issuer's DID in the W3C form.
    pub async fn did(&self) -> Result<String> {
        Ok(self.meta().await?.did())
    }

    /// Every signing key, staged ones included.
    pub async fn keys_report(&self) -> Result<Vec<KeyReport>> {
        let mut tx = self.store.begin().await?;
        Ok(tx.keys().await?.iter().map(key_report).collect())
    }

    /// Every signing key as the trust list names it (staged keys are not listed).
    pub async fn listed_keys(&self) -> Result<Vec<IssuerKey>> {
        let mut tx = self.store.begin().await?;
        let issuer = self.meta_in(&mut tx).await?.issuer_id;
        let mut out = vec![];
        for k in tx.keys().await? {
            out.extend(to_issuer_key(issuer, &k)?);
        }
        Ok(out)
    }

    /// The issuer's number and the active key, which signs offers (the key the newest
    /// published bundle names, since rotation is staged).
    pub(crate) async fn active_signer(&self) -> Result<(u32, Vec<u8>, Arc<dyn KeySigner>)> {
        let mut tx = self.store.begin().await?;
        let (meta, keys) = tx.meta_and_keys().await?;
        let meta = meta.ok_or_else(|| IssuerError::NotInitialised(self.store.place()))?;
        let key = active_key(&keys)?;
        let signer = self.signer(&key)?;
        Ok((meta.issuer_id, key.kid, signer))
    }

    /// The newest audit rows.
    pub async fn audit_log(&self, limit: u32) -> Result<Vec<AuditRow>> {
        self.store.begin().await?.audit_rows(limit).await
    }

    /// Builds and signs the next bundle generation inside `tx`. A staged key becomes
    /// active here, in the same commit as the trust list that names it; the key it
    /// replaces retires now. The version is reserved in `tx`: never reused.
    pub(crate) async fn publish_in(
        &self,
        tx: &mut S::Tx,
        actor: &Actor,
        now: i64,
        valid_days: u32,
    ) -> Result<BuiltBundle> {
        if !(1..=366).contains(&valid_days) {
            return Err(IssuerError::Usage("--valid-days must be 1 to 366".into()));
        }
        tx.lock_keys().await?;
        let version = tx.next_version().await?;
        let meta = self.meta_in(tx).await?;
        let mut keys = tx.keys().await?;
        if let Some(j) = keys.iter().position(|k| k.status == KeyStatus::Staged) {
            for k in keys.iter_mut().filter(|k| k.status == KeyStatus::Active) {
                k.status = KeyStatus::Retired;
                k.not_after = Some(now);
                tx.put_key(k).await?;
            }
            keys[j].status = KeyStatus::Active;
            keys[j].not_before = now;
            tx.put_key(&keys[j]).await?;
            tx.audit(&audit(now, actor, "activate", &hex::encode(&keys[j].kid)))
                .await?;
        }
        let status_key = active_key(&keys)?;
        let status_signer = self.signer(&status_key)?;
        let roots = tx.roots().await?;
        let cur = roots.last().ok_or_else(|| damaged("the root chain"))?;
        let root = SignedRoot::from_bytes_self_signed(&cur.signed).map_err(core_error)?;
        let root_keys = self.root_signers(cur)?;
        let mut listed = vec![];
        for k in &keys {
            listed.extend(to_issuer_key(meta.issuer_id, k)?);
        }
        // Every IACA goes in the bundle; from now on document signers may chain to them.
        // Each CA's certificate for the bundle, and its revocation list (a reader CA's
        // names the reader certificates revoked; an IACA's none), valid as long as this
        // bundle. Every IACA published here may from now on have document signers.
        let (mut iacas, mut reader_cas, mut crls) = (vec![], vec![], vec![]);
        let mut revoked_certificates = vec![];
        if let Some(mut m) = meta.mdoc.clone() {
            for ds in &m.signers {
                if ds.revoked_at.is_some() && ds.not_after + REVOKED_LISTED_AFTER_EXPIRY >= now {
                    let der = hex::decode(&ds.certificate)
                        .map_err(|_| damaged("a document signer certificate"))?;
                    revoked_certificates.push(
                        tuaton_common::mdoc::x509::Parsed::from_der(&der)
                            .map_err(core_error)?
                            .tbs_sha256(),
                    );
                }
            }
            for r in &m.readers {
                if r.revoked_at.is_some() && r.not_after + REVOKED_LISTED_AFTER_EXPIRY >= now {
                    let h = hex::decode(&r.sha256)
                        .ok()
                        .and_then(|h| <[u8; 32]>::try_from(h).ok());
                    revoked_certificates
                        .push(h.ok_or_else(|| damaged("a reader certificate's SHA-256"))?);
                }
            }
            let lists = m
                .iacas
                .iter()
                .enumerate()
                .map(|(i, c)| (tuaton_common::bundle::iaca_crl(i + 1), MdocRole::Iaca, c))
                .chain(m.reader_cas.iter().enumerate().map(|(i, c)| {
                    (
                        tuaton_common::bundle::reader_ca_crl(i + 1),
                        MdocRole::ReaderCa,
                        c,
                    )
                }));
            let live_revoked = |ca: usize| -> Vec<(u64, i64)> {
                m.readers
                    .iter()
                    .filter(|r| r.ca == ca && r.not_after + REVOKED_LISTED_AFTER_EXPIRY >= now)
                    .filter_map(|r| Some((r.serial, r.revoked_at?)))
                    .collect()
            };
            let mut reader_ca_n = 0;
            for (file, role, ca) in lists {
                let (key, der) = self.open_mdoc_key(role, ca)?;
                // A reader CA lists the certificates it revoked that have not expired;
                // an IACA none (document signers are not revoked one by one).
                let revoked = match role {
                    MdocRole::ReaderCa => {
                        reader_ca_n += 1;
                        live_revoked(reader_ca_n)
                    }
                    _ => vec![],
                };
                let crl = tuaton_common::mdoc::x509::crl(
                    &key,
                    &der,
                    &revoked,
                    version,
                    now,
                    now + i64::from(valid_days) * 86_400,
                )
                .map_err(core_error)?;
                crls.push((file, crl));
                match role {
                    MdocRole::ReaderCa => reader_cas.push(der),
                    _ => iacas.push(der),
                }
            }
            if m.iacas.iter().any(|i| !i.published) {
                m.iacas.iter_mut().for_each(|i| i.published = true);
                tx.set_mdoc(&m).await?;
            }
        }
        let built = build_bundle(&BundleInput {
            roots: roots
                .iter()
                .map(|r| (r.version, r.signed.clone()))
                .collect(),
            root: &root,
            root_signers: root_keys
                .iter()
                .take(root.root.threshold.into())
                .map(|k| k.as_ref())
                .collect(),
            status_signer: status_signer.as_ref(),
            issuer: meta.issuer_id,
            did: meta.did(),
            name: meta.name,
            keys: listed,
            size: meta.status_size,
            lists: tx.lists().await?,
            revoked: tx.revoked().await?,
            version,
            now,
            expires: now + i64::from(valid_days) * 86_400,
            iacas,
            reader_cas,
            crls,
            revoked_certificates,
        })?;
        tx.audit(&audit(
            now,
            actor,
            "publish",
            &format!("trust list {version}"),
        ))
        .await?;
        Ok(built)
    }

    /// Renews a card online (`tuaton-wallet refresh`): the holder proves its key; the same
    /// claims, credential id and status index are signed again by the active key. Refused
    /// for a credential revoked for cause, one this issuer never issued, a holder key or
    /// claims other than those issued.
    pub async fn refresh(
        &self,
        service: &str,
        req: &tuaton_common::offer::RefreshRequest,
        now: i64,
    ) -> Result<tuaton_common::offer::RedeemResponse> {
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let bytes = b64
            .decode(req.credential.as_bytes())
            .map_err(|_| IssuerError::BadRequest("credential must be base64url".into()))?;
        let proof: [u8; 64] = b64
            .decode(req.proof.as_bytes())
            .ok()
            .and_then(|p| p.try_into().ok())
            .ok_or_else(|| IssuerError::BadRequest("proof must be 64 bytes, base64url".into()))?;
        if req.at.abs_diff(now) > REFRESH_SKEW_SECS as u64 {
            return Err(IssuerError::BadRequest(
                "the proof's time is more than 5 minutes from the service's clock".into(),
            ));
        }
        let cred = GateCredential::from_bytes(&bytes).map_err(core_error)?;
        let full = cred.full_member().map_err(core_error)?;
        let p = &full.payload;
        let holder_key = p.holder_key;
        let holder = tuaton_common::offer::check_refresh_proof(
            service,
            &p.credential_id,
            &holder_key,
            req.at,
            &proof,
        )
        .map_err(core_error)?;
        let mut tx = self.store.begin().await?;
        tx.share_keys().await?;
        let meta = self.meta_in(&mut tx).await?;
        let row = tx
            .credential(&p.credential_id)
            .await?
            .filter(|r| p.issuer == meta.issuer_id && r.holder == holder_key)
            .ok_or_else(|| IssuerError::UnknownCredential(hex::encode(p.credential_id)))?;
        if tx.revocation(&row.id).await?.is_some() {
            return Err(IssuerError::Revoked(hex::encode(row.id)));
        }
        if row.claims == [0; 32] {
            // Issued before the issuer kept claim digests: nothing to compare against.
            return Err(IssuerError::BadRequest(
                "this card was issued before online renewal existed; renew it at a registration office".into(),
            ));
        }
        // The card must be one this issuer signed (any key of its own, even a revoked
        // one: that is the point of a refresh), with exactly the claims it issued.
        let keys = tx.keys().await?;
        let kid = full.kid.to_vec();
        let signed_by = keys
            .iter()
            .find(|k| k.kid == kid)
            .ok_or_else(|| IssuerError::UnknownCredential(hex::encode(row.id)))?;
        let public =
            VerifyingKey::from_bytes(&signed_by.public).map_err(|_| damaged("a public key"))?;
        let claims = cred.verified_card(&public).map_err(core_error)?;
        if tuaton_common::gate::claims_digest(&claims) != row.claims {
            return Err(IssuerError::BadRequest(
                "the card's claims are not those this issuer issued".into(),
            ));
        }
        let key = active_key(&keys)?;
        let signer = self.signer(&key)?;
        let mdoc = self.mdoc_for(&meta, &holder)?;
        let package = sign_package(
            &claims,
            &Signing {
                issuer: meta.issuer_id,
                did: &meta.did(),
                key: signer.as_ref(),
                kid: &key.kid,
                mdoc: mdoc.as_deref(),
            },
            &holder,
            row.id,
            StatusRef {
                list: row.list,
                index: row.index,
            },
            now,
        )?;
        tx.resign(&row.id, &key.kid, now).await?;
        tx.audit(&audit(
            now,
            &Actor {
                office: "wallet".into(),
                officer: "holder".into(),
            },
            "refresh",
            &format!(
                "credential {} key {}",
                hex::encode(row.id),
                hex::encode(&key.kid)
            ),
        ))
        .await?;
        tx.commit().await?;
        Ok(tuaton_common::offer::RedeemResponse {
            package: serde_json::from_str(&package).expect("package JSON"),
            credential_id: hex::encode(row.id),
        })
    }
}

/// The issuing authority's web address, as certificates name it (Annex B's issuer
/// alternative name): `https://` and the host of the issuer's did:web.
fn authority_url(meta: &Meta) -> String {
    crate::issue::authority_of(&meta.did())
}

/// Where a CA's revocation list is served: the bundle's `file`, at `/bundle/` on the
/// authority's host (where `serve` publishes the bundle).
fn crl_url(meta: &Meta, file: &str) -> String {
    format!("{}/bundle/{file}", authority_url(meta))
}

/// A certificate subject of the Thai issuing authority.
fn thai_subject<'a>(
    cn: &'a str,
    url: &'a str,
    crl: &'a str,
) -> tuaton_common::mdoc::x509::Subject<'a> {
    tuaton_common::mdoc::x509::Subject {
        country: "TH",
        common_name: cn,
        authority_url: url,
        crl_url: crl,
    }
}

/// A random positive certificate serial number (63 bits).
/// How long a revoked reader certificate stays listed (CRL, trust list key 8) after it
/// expires: a wallet whose clock is behind may still find it in date.
const REVOKED_LISTED_AFTER_EXPIRY: i64 = 86_400;

fn cert_serial() -> u64 {
    u64::from_be_bytes(random()) >> 1
}

/// What an mdoc key is for: sealed with it, so a key written into another role's list
/// (an IACA's as a reader CA's) does not open.
#[derive(Clone, Copy)]
enum MdocRole {
    Iaca,
    DocumentSigner,
    ReaderCa,
}

fn mdoc_aad(role: MdocRole, certificate: &[u8]) -> String {
    let role = match role {
        MdocRole::Iaca => "iaca",
        MdocRole::DocumentSigner => "document signer",
        MdocRole::ReaderCa => "reader ca",
    };
    format!(
        "mdoc {role} key {}",
        hex::encode(&Sha256::digest(certificate)[..8])
    )
}

/// The issuer's name as a certificate's common name: the characters a distinguished name
/// would need escaped become spaces, at most 40 characters, so with " reader CA 123" it
/// stays within X.520's 64.
fn certificate_name(name: &str) -> String {
    let clean: String = name
        .chars()
        .map(|c| {
            if c.is_control() || tuaton_common::text::forbidden(c) || ",+=\"\\<>;#".contains(c) {
                ' '
            } else {
                c
            }
        })
        .take(40)
        .collect();
    match clean.trim() {
        "" => "tuaton".into(),
        t => t.to_owned(),
    }
}

/// The wall clock, for the rare write the core makes on its own (an upgrade's first
/// unlock); every rule takes its `now` from the caller.
fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

fn signing_aad(kid: &[u8]) -> String {
    format!("signing key {}", hex::encode(kid))
}

fn next_seq(keys: &[KeyRow]) -> u32 {
    keys.iter().map(|k| k.seq + 1).max().unwrap_or(0)
}

/// The one active key (the newest if a damaged store has two).
fn active_key(keys: &[KeyRow]) -> Result<KeyRow> {
    keys.iter()
        .rfind(|k| k.status == KeyStatus::Active)
        .cloned()
        .ok_or(IssuerError::NoActiveKey)
}

fn key_report(k: &KeyRow) -> KeyReport {
    use tuaton_common::model::format_rfc3339;
    KeyReport {
        kid: hex::encode(&k.kid),
        public_key: hex::encode(k.public),
        state: k.status.name(),
        not_before: format_rfc3339(k.not_before),
        not_after: k.not_after.map(format_rfc3339),
        revoked_at: k.status.revoked_at().map(format_rfc3339),
        held: match k.secret {
            Secret::Sealed(_) => "sealed",
            Secret::Token(_) => "token",
        },
    }
}

pub(crate) fn audit(at: i64, actor: &Actor, action: &str, detail: &str) -> AuditRow {
    AuditRow {
        at,
        office: actor.office.clone(),
        officer: actor.officer.clone(),
        action: action.into(),
        detail: detail.into(),
    }
}
