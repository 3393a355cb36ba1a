//! The store seam: what the issuer core asks of a store, and the rows it keeps. Two stores
//! implement it: [`crate::sled_store::SledStore`] (one office, offline, no setup) and
//! [`crate::pg::PgStore`] (the issuance service, many instances on one PostgreSQL).
//!
//! Every rule (which list, the 90 % fill rule, key states, root lifetimes, what a publish
//! reads, what the audit says) lives in [`crate::Issuer`]; a store only keeps rows and
//! makes a transaction whole or absent. Uniqueness is the store's: [`Txn::claim`] inserts
//! a credential only if neither its id nor its status index is taken, decided by the
//! store's own unique keys (PostgreSQL) or under its one writer lock (sled).

use std::collections::BTreeSet;

use crate::Result;

/// Why an issuance gave way when concurrent issuances filled its status list to the mark
/// after it chose the list ([`IssuerError::Busy`](crate::IssuerError::Busy): tried again).
pub const LIST_FILLED: &str = "the status list filled up meanwhile";

/// A store of one issuer.
pub trait Store: Send + Sync + 'static {
    /// One transaction: nothing it wrote is visible to anyone until [`Txn::commit`]; dropped
    /// uncommitted, it leaves no trace.
    type Tx: Txn + Send;
    /// Starts a transaction.
    fn begin(&self) -> impl std::future::Future<Output = Result<Self::Tx>> + Send;
    /// Where this issuer lives, for messages and hints.
    fn place(&self) -> Place;
}

/// Where an issuer lives: what a message names and what its hint tells the user to fix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Place {
    /// A sled store in this home directory (`--home`).
    Home(std::path::PathBuf),
    /// The PostgreSQL database `--database` names.
    Database,
}

impl std::fmt::Display for Place {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Place::Home(p) => write!(f, "{}", p.display()),
            Place::Database => f.write_str("the database"),
        }
    }
}

/// The operations of one transaction. Reads see the transaction's own writes.
#[allow(async_fn_in_trait)]
pub trait Txn {
    /// The issuer row, if the store has been initialised.
    async fn meta(&mut self) -> Result<Option<Meta>>;
    /// Creates the issuer row; `false` if one exists.
    async fn create(&mut self, meta: &Meta) -> Result<bool>;
    /// Stores the citizen-hash key of an issuer made before citizen binding (only if it has
    /// none).
    async fn set_citizen_key(&mut self, k: &Secret) -> Result<()>;
    /// Replaces the mdoc certificates and keys (made at init, the first unlock after an
    /// upgrade, `rotate` and `rotate-root`).
    async fn set_mdoc(&mut self, k: &MdocKeys) -> Result<()>;
    /// Makes issuance wait while a key change commits, and a key change wait for the
    /// issuances in flight (a shared row lock; sled has one writer).
    async fn share_keys(&mut self) -> Result<()>;
    /// Makes concurrent key or root changes take turns (a row lock; sled has one writer).
    async fn lock_keys(&mut self) -> Result<()>;
    /// Every signing key, by sequence number.
    async fn keys(&mut self) -> Result<Vec<KeyRow>>;
    /// The issuer row and every signing key, read together (PostgreSQL sends both reads
    /// at once: one round trip, where an issuance and an offer each need both).
    async fn meta_and_keys(&mut self) -> Result<(Option<Meta>, Vec<KeyRow>)> {
        let meta = self.meta().await?;
        Ok((meta, self.keys().await?))
    }
    /// Inserts or replaces the key with this sequence number.
    async fn put_key(&mut self, k: &KeyRow) -> Result<()>;
    /// Every root version, oldest first.
    async fn roots(&mut self) -> Result<Vec<RootRow>>;
    /// Adds a root version.
    async fn put_root(&mut self, r: &RootRow) -> Result<()>;
    /// The first status list at or after `from` holding fewer than `cap` credentials; the
    /// next new list when every one is that full.
    async fn open_list(&mut self, from: u32, cap: u64) -> Result<u32>;
    /// Records a credential if neither its id nor its (list, index) is taken.
    async fn claim(&mut self, c: &CredentialRow) -> Result<bool>;
    /// Counts one more credential in a list if it holds fewer than `cap`; a list that
    /// concurrent issuances filled meanwhile is [`LIST_FILLED`], which a store may report
    /// only at the commit (PostgreSQL sends the count with COMMIT, so a row lock is held
    /// only that long). Never past the mark: the herd each status bit hides in.
    async fn bump_fill(&mut self, list: u32, cap: u64) -> Result<()>;
    /// A credential by id.
    async fn credential(&mut self, id: &[u8; 8]) -> Result<Option<CredentialRow>>;
    /// Makes issuances for one citizen take turns (so a policy of one card per citizen
    /// holds under concurrent redemptions); sled has one writer.
    async fn lock_citizen(&mut self, citizen: &[u8; 32]) -> Result<()>;
    /// Credentials whose citizen hash is this one, not revoked.
    async fn credentials_of(&mut self, citizen: &[u8; 32]) -> Result<Vec<CredentialRow>>;
    /// Replaces a credential's signing facts (a refresh re-signs the same card).
    async fn resign(&mut self, id: &[u8; 8], kid: &[u8], issued_at: i64) -> Result<()>;
    /// Revokes a credential; `false` if it already was.
    async fn revoke(&mut self, c: &CredentialRow, at: i64, reason: Reason) -> Result<bool>;
    /// Why a credential was revoked, if it was.
    async fn revocation(&mut self, id: &[u8; 8]) -> Result<Option<Reason>>;
    /// Lists that hold a credential.
    async fn lists(&mut self) -> Result<BTreeSet<u32>>;
    /// Revoked (list, index) pairs.
    async fn revoked(&mut self) -> Result<Vec<(u32, u64)>>;
    /// Reserves the next trust-list version (never handed out twice).
    async fn next_version(&mut self) -> Result<u64>;
    /// Counts every existing status list, and `margin` new ones after them, as full
    /// (`size` entries), so the next issuance opens a list the lost tail of a restored copy
    /// cannot have used.
    async fn close_lists(&mut self, size: u64, margin: u32) -> Result<()>;
    /// Raises the trust-list version to at least `min` (after a restore, the next publish
    /// is newer than anything published before the loss).
    async fn raise_version(&mut self, min: u64) -> Result<()>;
    /// Appends to the audit.
    async fn audit(&mut self, a: &AuditRow) -> Result<()>;
    /// The newest `limit` audit rows, newest first.
    async fn audit_rows(&mut self, limit: u32) -> Result<Vec<AuditRow>>;
    /// Makes every write of the transaction durable, or none.
    async fn commit(self) -> Result<()>;
}

/// The issuer row.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Meta {
    /// Issuer number in the trust list.
    pub issuer_id: u32,
    /// Display name.
    pub name: String,
    /// Entries per status list.
    pub status_size: u64,
    /// The store key sealed under the passphrase (`None`: every key is in a token).
    pub sealed_store_key: Option<Vec<u8>>,
    /// The key of the citizen hash: sealed under the store key, or derived from a key of
    /// its own in the token (Ed25519 signatures are deterministic, so the same key gives the
    /// same hash key, and only the token can). `None` in a database made before citizen
    /// binding: the first unlock makes one.
    pub citizen_key: Option<Secret>,
    /// When the issuer was made.
    pub created_at: i64,
    /// Valid cards one citizen may hold; a new one beyond it revokes the oldest as
    /// superseded (0: no limit).
    #[serde(default = "one")]
    pub cards_per_citizen: u32,
    /// The issuer's DID in the W3C form (`None`: made before there was one; it then has
    /// [`tuaton_common::w3c::default_issuer_did`]).
    #[serde(default)]
    pub did: Option<String>,
    /// The mdoc form's IACA root and document signer certificates with their P-256 keys
    /// (`None`: an issuer made before the mdoc form, or one whose keys are in a token).
    #[serde(default)]
    pub mdoc: Option<MdocKeys>,
}

/// The certificates of the mdoc form (ISO 18013-5 Annex B), oldest first: the last IACA
/// is the current root, the last document signer signs new MSOs. Older ones stay, so what
/// they signed still verifies and the bundle lists every IACA a reader may meet.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MdocKeys {
    /// IACA root certificates.
    pub iacas: Vec<MdocKey>,
    /// Document signer certificates, each issued by one of the IACAs.
    pub signers: Vec<MdocKey>,
    /// Reader CA roots (made by the first `reader-cert`), the newest issuing: they certify
    /// the readers (gates) that may ask a wallet for elements over ISO 18013-5.
    #[serde(default)]
    pub reader_cas: Vec<MdocKey>,
    /// Reader certificates issued and not yet expired, oldest first: what `reader-revoke`
    /// finds, and what `publish` lists (CRL and trust list) once revoked.
    #[serde(default)]
    pub readers: Vec<IssuedReader>,
}

/// A reader certificate this issuer made.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IssuedReader {
    /// Its serial number.
    pub serial: u64,
    /// The reader's name, as certified.
    pub name: String,
    /// SHA-256 of the certificate (DER), lower-case hex: how trust lists name it.
    pub sha256: String,
    /// Which reader CA issued it (1 for the first).
    pub ca: usize,
    /// Not valid after (Unix seconds).
    pub not_after: i64,
    /// When it was revoked, if it was.
    pub revoked_at: Option<i64>,
}

/// One certificate and its private key.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MdocKey {
    /// The certificate, DER, lower-case hex.
    pub certificate: String,
    /// Not valid after (Unix seconds), as the certificate says.
    pub not_after: i64,
    /// The P-256 private key, sealed under the store key.
    pub secret: Secret,
    /// An IACA that a publish has put in the bundle (document signers are made only under
    /// those, after the first); always false for document signers.
    #[serde(default)]
    pub published: bool,
    /// When a document signer was revoked (`revoke-signer`): the trust list names it
    /// until it expires, and gates refuse what it signed.
    #[serde(default)]
    pub revoked_at: Option<i64>,
}

impl Meta {
    /// The issuer's DID: the one given at init, or the default of its number.
    pub fn did(&self) -> String {
        self.did
            .clone()
            .unwrap_or_else(|| tuaton_common::w3c::default_issuer_did(self.issuer_id))
    }
}

fn one() -> u32 {
    1
}

/// A signing key's life: staged (made, not yet in any published bundle, signs nothing),
/// active (signs), retired (no longer signs; what it signed stays valid), revoked (what it
/// signed is void from `at`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyStatus {
    /// Made by `rotate`; becomes active at the next publish, which names it.
    Staged,
    /// The key that signs.
    Active,
    /// Signed until `not_after`.
    Retired,
    /// Compromised at `at`.
    Revoked {
        /// The compromise time.
        at: i64,
    },
}

impl KeyStatus {
    /// The store's number for it (0 active, 1 retired, 2 revoked, 3 staged).
    pub fn code(self) -> i16 {
        match self {
            KeyStatus::Active => 0,
            KeyStatus::Retired => 1,
            KeyStatus::Revoked { .. } => 2,
            KeyStatus::Staged => 3,
        }
    }

    /// From the store's number and revocation time; `None` is damage.
    pub fn from_code(code: i16, revoked_at: Option<i64>) -> Option<KeyStatus> {
        Some(match (code, revoked_at) {
            (0, None) => KeyStatus::Active,
            (1, None) => KeyStatus::Retired,
            (2, Some(at)) => KeyStatus::Revoked { at },
            (3, None) => KeyStatus::Staged,
            _ => return None,
        })
    }

    /// The revocation time, if revoked.
    pub fn revoked_at(self) -> Option<i64> {
        match self {
            KeyStatus::Revoked { at } => Some(at),
            _ => None,
        }
    }

    /// Its name in `keys` output.
    pub fn name(self) -> &'static str {
        match self {
            KeyStatus::Staged => "staged",
            KeyStatus::Active => "active",
            KeyStatus::Retired => "retired",
            KeyStatus::Revoked { .. } => "revoked",
        }
    }
}

/// Where a private key is: sealed under the store key, or in the PKCS#11 token by label.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Secret {
    /// nonce (12) || ciphertext, sealed with the key's associated data.
    Sealed(Vec<u8>),
    /// The token's labels (one per key).
    Token(Vec<String>),
}

/// A signing key as stored.
#[derive(Clone, Debug)]
pub struct KeyRow {
    /// Order of creation, from 0.
    pub seq: u32,
    /// Key id.
    pub kid: Vec<u8>,
    /// Ed25519 public key.
    pub public: [u8; 32],
    /// Signs from.
    pub not_before: i64,
    /// Signed until (retired or revoked).
    pub not_after: Option<i64>,
    /// Its state.
    pub status: KeyStatus,
    /// The private key.
    pub secret: Secret,
}

/// A root version as stored.
#[derive(Clone, Debug)]
pub struct RootRow {
    /// Root version.
    pub version: u64,
    /// The signed root (self-signed and, after 1, signed by the previous root).
    pub signed: Vec<u8>,
    /// Its private keys.
    pub secret: Secret,
}

/// Why a credential was revoked: `Cause` (loss, theft, a wrong card) or `Superseded` (a
/// re-enrolment replaced it). Neither is ever renewed; the reason is for the audit and
/// for people.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// Lost, stolen, wrong: never renewed.
    Cause,
    /// Replaced by a newer card of the same citizen.
    Superseded,
}

impl Reason {
    /// Its name in the store and in messages.
    pub fn name(self) -> &'static str {
        match self {
            Reason::Cause => "cause",
            Reason::Superseded => "superseded",
        }
    }

    /// From its name; `None` is damage.
    pub fn from_name(s: &str) -> Option<Reason> {
        match s {
            "cause" => Some(Reason::Cause),
            "superseded" => Some(Reason::Superseded),
            _ => None,
        }
    }
}

/// A credential as the issuer remembers it: no claims (the register has those), only what
/// revocation, refresh and the audit need.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CredentialRow {
    /// Credential id.
    pub id: [u8; 8],
    /// Status list.
    pub list: u32,
    /// Index in it.
    pub index: u64,
    /// When it was (last) signed.
    pub issued_at: i64,
    /// The key that (last) signed it.
    pub kid: Vec<u8>,
    /// The holder's public key (Ed25519 or P-256).
    pub holder: tuaton_common::holder::HolderKey,
    /// SHA-256 of the card's claims (`gate::claims_digest`): a refresh re-signs exactly
    /// what was issued.
    pub claims: [u8; 32],
    /// Keyed hash of the citizen ID (`Issuer::citizen_hash`): finds a citizen's cards
    /// without keeping the ID.
    pub citizen: [u8; 32],
    /// Who issued it ("office/officer", or "cli/USER").
    pub actor: String,
}

/// One line of the audit.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditRow {
    /// When, Unix seconds.
    pub at: i64,
    /// Which office (or "cli").
    pub office: String,
    /// Which officer (or the user).
    pub officer: String,
    /// issue, revoke, rotate, revoke-key, rotate-root, publish, refresh, offer.
    pub action: String,
    /// What: ids, versions.
    pub detail: String,
}
