//! The issuer over PostgreSQL, for the issuance service: many offices at once, several
//! service instances on one database. Every state change is one transaction; uniqueness
//! (credential ids, status indices, trust-list versions, one redemption per offer) is
//! enforced by the database (unique keys, row locks, `UPDATE ... RETURNING`), never by
//! reading first and writing later.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::Engine as _;
use ed25519_dalek::{SigningKey, VerifyingKey};
use postgres::{NoTls, Transaction};
use r2d2_postgres::PostgresConnectionManager;
use rand::{rngs::OsRng, Rng, RngCore};
use sha2::{Digest, Sha256};
use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tuaton_common::gate::StatusRef;
use tuaton_common::offer::{
    self, Offer, OfferRequest, OfferResponse, RedeemRequest, RedeemResponse,
};
use tuaton_common::seal::{self, Sealed};
use tuaton_common::signer::KeySigner;
use tuaton_common::trust::{IssuerKey, KeyState, Root, SignedRoot};
use zeroize::Zeroizing;

use crate::issue::{checked_claims, sign_package, Signing};
use crate::publish::{build_bundle, BuiltBundle, BundleInput};
use crate::store::random;
use crate::token::{Token, TokenConfig};
use crate::{check_portrait, core, InitOptions, IssuedRecord, IssuerError, Result};

/// Schema migrations, applied in order, each once, under an advisory lock so instances
/// starting together do not race.
const MIGRATIONS: &[(i32, &str)] = &[(1, include_str!("../migrations/0001_issuer.sql"))];
/// Advisory lock key of the migrations ("tuaton" in ASCII, as a number).
const MIGRATION_LOCK: i64 = 0x7475_6174_6f6e;
/// How long an offer lives: long enough to open the app and scan, short enough that a
/// photographed screen is useless by the time it is misused.
pub const OFFER_TTL_SECS: i64 = 10 * 60;
/// Wrong transaction codes before an offer closes for good (1 in 200 000 for a guesser).
pub const MAX_TX_TRIES: i32 = 5;
/// Connections per service instance.
pub const POOL_SIZE: u32 = 16;
/// Longest an officer's name may be.
pub const MAX_OFFICER: usize = 64;

/// How the issuer's private keys are reached.
pub enum KeySource {
    /// Sealed in the database under a passphrase-derived key (the default).
    Passphrase(Zeroizing<Vec<u8>>),
    /// In a PKCS#11 token: the service asks it to sign.
    Token(TokenConfig),
}

enum Keys {
    Sealed(Zeroizing<[u8; 32]>),
    Token(Arc<Token>),
}

/// An office (or admin) authenticated by its credential.
#[derive(Clone, Debug)]
pub struct Office {
    /// Row id.
    pub id: i64,
    /// Its name.
    pub name: String,
    /// Whether it may revoke, rotate and publish.
    pub admin: bool,
}

/// The issuer in PostgreSQL.
pub struct PgIssuer {
    pool: r2d2::Pool<PostgresConnectionManager<NoTls>>,
    keys: Option<Keys>,
    /// Signing keys already unsealed or found in the token, by sequence number.
    signers: Mutex<HashMap<i32, Arc<dyn KeySigner>>>,
}

type Tx<'a> = Transaction<'a>;

fn damaged(what: &str) -> IssuerError {
    IssuerError::StoreDamaged(format!("the database holds {what} that does not decode"))
}

impl PgIssuer {
    /// Connects (a pool of [`POOL_SIZE`]) and applies any pending migrations. Keys stay
    /// locked: office administration needs none.
    pub fn connect(url: &str) -> Result<PgIssuer> {
        let mut cfg: postgres::Config = url
            .parse()
            .map_err(|e| IssuerError::Usage(format!("--database is not a PostgreSQL URL ({e})")))?;
        cfg.connect_timeout(Duration::from_secs(5));
        // A statement stuck behind a lock, or a server in trouble, fails the request
        // instead of holding an officer's screen forever.
        cfg.options("-c statement_timeout=15000 -c lock_timeout=10000");
        cfg.application_name("tuaton-issuer");
        let pool = r2d2::Pool::builder()
            .max_size(POOL_SIZE)
            .connection_timeout(Duration::from_secs(5))
            .build(PostgresConnectionManager::new(cfg, NoTls))?;
        let iss = PgIssuer {
            pool,
            keys: None,
            signers: Mutex::new(HashMap::new()),
        };
        iss.migrate()?;
        Ok(iss)
    }

    fn conn(&self) -> Result<r2d2::PooledConnection<PostgresConnectionManager<NoTls>>> {
        Ok(self.pool.get()?)
    }

    fn migrate(&self) -> Result<()> {
        let mut c = self.conn()?;
        let mut tx = c.transaction()?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])?;
        tx.batch_execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (
                 version integer PRIMARY KEY,
                 applied_at timestamptz NOT NULL DEFAULT now())",
        )?;
        let done: BTreeSet<i32> = tx
            .query("SELECT version FROM schema_migrations", &[])?
            .iter()
            .map(|r| r.get(0))
            .collect();
        let known = MIGRATIONS.last().map(|m| m.0).unwrap_or(0);
        if let Some(newer) = done.iter().find(|v| **v > known) {
            return Err(IssuerError::Database(format!(
                "its schema is version {newer}, newer than this tuaton-issuer knows ({known}); upgrade tuaton-issuer"
            )));
        }
        for (v, sql) in MIGRATIONS {
            if !done.contains(v) {
                tx.batch_execute(sql)?;
                tx.execute("INSERT INTO schema_migrations (version) VALUES ($1)", &[v])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Creates the issuer in an empty database: root key(s) and a first signing key, in
    /// the token or sealed under the passphrase.
    pub fn init(url: &str, opts: &InitOptions, keys: KeySource, now: i64) -> Result<PgIssuer> {
        let mut iss = PgIssuer::connect(url)?;
        opts.check(match &keys {
            KeySource::Passphrase(p) => Some(p.as_slice()),
            KeySource::Token(_) => None,
        })?;
        let (sealed, k) = match keys {
            KeySource::Passphrase(p) => {
                let store_key = Zeroizing::new(random::<32>());
                let sealed = Sealed::seal(
                    store_key.as_ref(),
                    &p,
                    opts.kdf,
                    random(),
                    random(),
                    b"tuaton issuer store key",
                )
                .map_err(core)?;
                (Some(sealed.to_bytes()), Keys::Sealed(store_key))
            }
            KeySource::Token(cfg) => (None, Keys::Token(Token::open(&cfg)?)),
        };
        iss.keys = Some(k);
        let mut c = iss.conn()?;
        let mut tx = c.transaction()?;
        let n = tx.execute(
            "INSERT INTO issuer (issuer_id, name, status_size, sealed_store_key, created_at)
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
            &[
                &(opts.issuer_id as i32),
                &opts.name,
                &(opts.status_list_size as i64),
                &sealed,
                &now,
            ],
        )?;
        if n == 0 {
            return Err(IssuerError::AlreadyInitialised("the database".into()));
        }
        let mut signers = vec![];
        let mut secrets = Zeroizing::new(vec![]);
        let mut labels = vec![];
        for i in 0..opts.root_keys {
            let (s, secret, label) = iss.new_key(&format!("root-1-{i}"))?;
            signers.push(s);
            if let Some(x) = secret {
                secrets.extend_from_slice(x.as_ref());
            }
            labels.extend(label);
        }
        let root = Root {
            version: 1,
            expires: now + 5 * 365 * 86_400,
            threshold: opts.threshold,
            keys: signers.iter().map(|k| k.public_key().to_bytes()).collect(),
        };
        iss.insert_root(&mut tx, &root, &signers, &secrets, labels)?;
        iss.insert_signing_key(&mut tx, now)?;
        tx.commit()?;
        drop(c);
        Ok(iss)
    }

    /// Unlocks the keys: the passphrase opens the sealed store key, or the token opens.
    pub fn unlock(&mut self, keys: KeySource) -> Result<()> {
        let sealed: Option<Vec<u8>> = self
            .conn()?
            .query_opt("SELECT sealed_store_key FROM issuer", &[])?
            .ok_or_else(|| IssuerError::NotInitialised("the database".into()))?
            .get(0);
        self.keys = Some(match keys {
            KeySource::Passphrase(p) => {
                let sealed = sealed.ok_or_else(|| {
                    IssuerError::Usage(
                        "this issuer's keys are in a PKCS#11 token: give --pkcs11-module and --token-label"
                            .into(),
                    )
                })?;
                let key = Sealed::from_bytes(&sealed)
                    .map_err(core)?
                    .open(&p, b"tuaton issuer store key")
                    .map_err(core)?;
                Keys::Sealed(key.key32().ok_or(IssuerError::WrongPassphrase)?)
            }
            KeySource::Token(cfg) => Keys::Token(Token::open(&cfg)?),
        });
        Ok(())
    }

    fn keys(&self) -> Result<&Keys> {
        self.keys
            .as_ref()
            .ok_or_else(|| IssuerError::Usage("the issuer's keys are not unlocked".into()))
    }

    /// A new key: in the token (labelled), or in memory to be sealed.
    #[allow(clippy::type_complexity)]
    fn new_key(
        &self,
        what: &str,
    ) -> Result<(
        Arc<dyn KeySigner>,
        Option<Zeroizing<[u8; 32]>>,
        Option<String>,
    )> {
        match self.keys()? {
            Keys::Sealed(_) => {
                let sk = SigningKey::generate(&mut OsRng);
                let secret = Zeroizing::new(sk.to_bytes());
                Ok((Arc::new(sk), Some(secret), None))
            }
            Keys::Token(t) => {
                // Random suffix: several issuers (or test runs) may share one token.
                let label = format!("tuaton-{what}-{}", hex::encode(random::<6>()));
                Ok((t.generate(&label)?, None, Some(label)))
            }
        }
    }

    fn seal(&self, secret: &[u8], aad: &str) -> Result<Vec<u8>> {
        let Keys::Sealed(k) = self.keys()? else {
            unreachable!("only sealed keys have secrets")
        };
        let nonce = random::<12>();
        let mut out = nonce.to_vec();
        out.extend(seal::encrypt(k, &nonce, secret, aad.as_bytes()));
        Ok(out)
    }

    fn unseal(&self, rec: &[u8], aad: &str) -> Result<Zeroizing<Vec<u8>>> {
        let Keys::Sealed(k) = self.keys()? else {
            return Err(IssuerError::Usage(
                "this key is sealed in the database: unlock with the passphrase".into(),
            ));
        };
        if rec.len() < 12 {
            return Err(damaged("a sealed secret"));
        }
        let nonce: [u8; 12] = rec[..12].try_into().expect("12 bytes");
        let s = seal::decrypt(k, &nonce, &rec[12..], aad.as_bytes()).map_err(core)?;
        Ok(Zeroizing::new(s.expose().to_vec()))
    }

    fn insert_root(
        &self,
        tx: &mut Tx<'_>,
        root: &Root,
        signers: &[Arc<dyn KeySigner>],
        secrets: &[u8],
        labels: Vec<String>,
    ) -> Result<()> {
        let refs: Vec<&dyn KeySigner> = signers.iter().map(|k| k.as_ref()).collect();
        let signed = SignedRoot::sign_with(root.clone(), &refs).map_err(core)?;
        let (secret, labels) = if labels.is_empty() {
            (
                Some(self.seal(secrets, &format!("root {}", root.version))?),
                None,
            )
        } else {
            (None, Some(labels))
        };
        tx.execute(
            "INSERT INTO roots (version, signed, secrets, token_labels) VALUES ($1, $2, $3, $4)",
            &[
                &(root.version as i64),
                &signed.signed.to_bytes(),
                &secret,
                &labels,
            ],
        )?;
        Ok(())
    }

    fn insert_signing_key(&self, tx: &mut Tx<'_>, now: i64) -> Result<IssuerKey> {
        let (signer, secret, label) = self.new_key("signing")?;
        let public = signer.public_key();
        let kid = tuaton_common::trust::kid_of(&public);
        let sealed = match secret {
            Some(s) => Some(self.seal(s.as_ref(), &format!("signing key {}", hex::encode(&kid)))?),
            None => None,
        };
        let seq: i32 = tx
            .query_one(
                "INSERT INTO signing_keys (kid, public_key, not_before, state, secret, token_label)
                 VALUES ($1, $2, $3, 0, $4, $5) RETURNING seq",
                &[&kid, &public.to_bytes().as_slice(), &now, &sealed, &label],
            )?
            .get(0);
        self.signers
            .lock()
            .expect("not poisoned")
            .insert(seq, signer);
        Ok(IssuerKey {
            issuer: self.issuer_row(tx)?.0,
            kid,
            public,
            not_before: now,
            not_after: None,
            state: KeyState::Active,
        })
    }

    /// (issuer id, name, status list size).
    fn issuer_row(&self, tx: &mut Tx<'_>) -> Result<(u32, String, u64)> {
        let r = tx
            .query_opt("SELECT issuer_id, name, status_size FROM issuer", &[])?
            .ok_or_else(|| IssuerError::NotInitialised("the database".into()))?;
        Ok((
            r.get::<_, i32>(0) as u32,
            r.get(1),
            r.get::<_, i64>(2) as u64,
        ))
    }

    fn signer_for(
        &self,
        seq: i32,
        kid: &[u8],
        secret: Option<Vec<u8>>,
        label: Option<String>,
    ) -> Result<Arc<dyn KeySigner>> {
        if let Some(s) = self.signers.lock().expect("not poisoned").get(&seq) {
            return Ok(s.clone());
        }
        let s: Arc<dyn KeySigner> = match (secret, label, self.keys()?) {
            (Some(sec), None, _) => {
                let raw = self.unseal(&sec, &format!("signing key {}", hex::encode(kid)))?;
                let k: [u8; 32] = raw.as_slice().try_into().map_err(|_| damaged("a signing key"))?;
                Arc::new(SigningKey::from_bytes(&k))
            }
            (None, Some(l), Keys::Token(t)) => t.key(&l)?,
            (None, Some(_), Keys::Sealed(_)) => {
                return Err(IssuerError::Usage(
                    "the active signing key is in a PKCS#11 token: give --pkcs11-module and --token-label".into(),
                ))
            }
            _ => return Err(damaged("a signing key")),
        };
        self.signers
            .lock()
            .expect("not poisoned")
            .insert(seq, s.clone());
        Ok(s)
    }

    /// The active signing key: its kid and a signer.
    fn active(&self, tx: &mut Tx<'_>) -> Result<(Vec<u8>, Arc<dyn KeySigner>)> {
        let r = tx
            .query_opt(
                "SELECT seq, kid, secret, token_label FROM signing_keys
                 WHERE state = 0 ORDER BY seq DESC LIMIT 1",
                &[],
            )?
            .ok_or(IssuerError::NoActiveKey)?;
        let kid: Vec<u8> = r.get(1);
        let s = self.signer_for(r.get(0), &kid, r.get(2), r.get(3))?;
        Ok((kid, s))
    }

    fn current_root(&self, tx: &mut Tx<'_>) -> Result<(SignedRoot, Vec<Arc<dyn KeySigner>>)> {
        let r = tx
            .query_opt(
                "SELECT version, signed, secrets, token_labels FROM roots ORDER BY version DESC LIMIT 1",
                &[],
            )?
            .ok_or_else(|| IssuerError::NotInitialised("the database".into()))?;
        let signed: Vec<u8> = r.get(1);
        let root = SignedRoot::from_bytes_self_signed(&signed).map_err(core)?;
        let keys: Vec<Arc<dyn KeySigner>> = match (
            r.get::<_, Option<Vec<u8>>>(2),
            r.get::<_, Option<Vec<String>>>(3),
        ) {
            (Some(sec), None) => {
                let raw = self.unseal(&sec, &format!("root {}", root.root.version))?;
                if raw.len() % 32 != 0 {
                    return Err(damaged("a root secret"));
                }
                raw.chunks(32)
                    .map(|c| {
                        Arc::new(SigningKey::from_bytes(c.try_into().expect("32")))
                            as Arc<dyn KeySigner>
                    })
                    .collect()
            }
            (None, Some(labels)) => match self.keys()? {
                Keys::Token(t) => labels.iter().map(|l| t.key(l)).collect::<Result<_>>()?,
                Keys::Sealed(_) => return Err(IssuerError::Usage(
                    "the root keys are in a PKCS#11 token: give --pkcs11-module and --token-label"
                        .into(),
                )),
            },
            _ => return Err(damaged("a root")),
        };
        Ok((root, keys))
    }

    /// The current root's fingerprint (what offers carry and wallets pin).
    pub fn root_fingerprint(&self) -> Result<[u8; 32]> {
        let signed: Vec<u8> = self
            .conn()?
            .query_opt(
                "SELECT signed FROM roots ORDER BY version DESC LIMIT 1",
                &[],
            )?
            .ok_or_else(|| IssuerError::NotInitialised("the database".into()))?
            .get(0);
        Ok(SignedRoot::from_bytes_self_signed(&signed)
            .map_err(core)?
            .root
            .fingerprint_bytes())
    }

    /// Adds an office (or an admin) and returns its bearer credential, shown once.
    pub fn add_office(&self, name: &str, admin: bool, now: i64) -> Result<String> {
        check_name("the office name", name)?;
        let token = format!("tto-{}", B64URL.encode(random::<32>()));
        let n = self.conn()?.execute(
            "INSERT INTO offices (name, admin, token_hash, created_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (name) DO NOTHING",
            &[&name, &admin, &token_hash(&token).as_slice(), &now],
        )?;
        if n == 0 {
            return Err(IssuerError::Usage(format!(
                "an office named \"{name}\" exists; revoke it first or choose another name"
            )));
        }
        Ok(token)
    }

    /// Revokes an office's credential: its next request is refused.
    pub fn revoke_office(&self, name: &str, now: i64) -> Result<()> {
        let n = self.conn()?.execute(
            "UPDATE offices SET revoked_at = $2 WHERE name = $1 AND revoked_at IS NULL",
            &[&name, &now],
        )?;
        if n == 0 {
            return Err(IssuerError::Usage(format!(
                "no active office named \"{name}\""
            )));
        }
        Ok(())
    }

    /// The office a bearer credential belongs to.
    pub fn authenticate(&self, token: &str) -> Result<Office> {
        let r = self
            .conn()?
            .query_opt(
                "SELECT id, name, admin FROM offices WHERE token_hash = $1 AND revoked_at IS NULL",
                &[&token_hash(token).as_slice()],
            )?
            .ok_or(IssuerError::BadOfficeCredential)?;
        Ok(Office {
            id: r.get(0),
            name: r.get(1),
            admin: r.get(2),
        })
    }

    /// Makes a one-time offer for a checked record. The record is kept until redeemed or
    /// expired; the code and transaction code only as hashes.
    pub fn create_offer(
        &self,
        office: &Office,
        service: &str,
        req: &OfferRequest,
        now: i64,
    ) -> Result<OfferResponse> {
        check_name("officer", &req.officer)?;
        let record = serde_json::to_vec(&req.record).expect("JSON value");
        let portrait = base64::engine::general_purpose::STANDARD
            .decode(req.portrait.as_bytes())
            .map_err(|_| IssuerError::BadRequest("portrait is not standard base64".into()))?;
        check_portrait(&portrait)?;
        checked_claims(&record, &portrait, now)?;
        let root = self.root_fingerprint()?;
        let code = random::<{ offer::CODE_LEN }>();
        let tx_code = format!("{:06}", OsRng.gen_range(0..1_000_000u32));
        let expires = now + OFFER_TTL_SECS;
        let mut c = self.conn()?;
        let mut tx = c.transaction()?;
        tx.execute(
            "INSERT INTO offers (code_hash, tx_hash, office_id, officer, record, portrait, created_at, expires)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            &[
                &offer::code_hash(&code).as_slice(),
                &offer::tx_code_hash(&code, &tx_code).as_slice(),
                &office.id,
                &req.officer,
                &record,
                &portrait,
                &now,
                &expires,
            ],
        )?;
        // Personal data of offers nobody redeemed goes as soon as they expire.
        tx.execute(
            "UPDATE offers SET record = NULL, portrait = NULL, package = NULL
             WHERE expires < $1 AND (record IS NOT NULL OR package IS NOT NULL)",
            &[&now],
        )?;
        audit(&mut tx, now, &office.name, &req.officer, "offer", "")?;
        tx.commit()?;
        Ok(OfferResponse {
            offer: Offer {
                service: service.to_owned(),
                code,
                expires,
                root,
                tx_code_digits: offer::TX_CODE_DIGITS,
            }
            .to_text(),
            tx_code,
            expires: tuaton_common::model::format_rfc3339(expires),
        })
    }

    /// Redeems an offer: checks the proof, the code and the transaction code, allocates a
    /// credential id and status index, signs both forms and records everything in one
    /// transaction. The same holder asking again gets the same credential (its
    /// connection may have dropped after the commit); any other is refused.
    pub fn redeem(&self, service: &str, req: &RedeemRequest, now: i64) -> Result<RedeemResponse> {
        let field = |name: &str, v: &str, len: usize| -> Result<Vec<u8>> {
            B64URL
                .decode(v.as_bytes())
                .ok()
                .filter(|b| b.len() == len)
                .ok_or_else(|| {
                    IssuerError::BadRequest(format!("{name} must be {len} bytes, base64url"))
                })
        };
        let code: [u8; offer::CODE_LEN] = field(
            "pre_authorized_code",
            &req.pre_authorized_code,
            offer::CODE_LEN,
        )?
        .try_into()
        .expect("length checked");
        let holder: [u8; 32] = field("holder_key", &req.holder_key, 32)?
            .try_into()
            .expect("32");
        let proof: [u8; 64] = field("proof", &req.proof, 64)?.try_into().expect("64");
        let holder_key = offer::check_proof(service, &code, &holder, &proof).map_err(core)?;
        let mut c = self.conn()?;
        let mut tx = c.transaction()?;
        let row = tx
            .query_opt(
                "SELECT o.tx_hash, o.officer, o.record, o.portrait, o.expires, o.wrong_tries,
                        o.state, o.holder_key, o.credential_id, o.package, f.name, f.id
                 FROM offers o JOIN offices f ON f.id = o.office_id
                 WHERE o.code_hash = $1 FOR UPDATE OF o",
                &[&offer::code_hash(&code).as_slice()],
            )?
            .ok_or(IssuerError::UnknownOffer)?;
        let state: i16 = row.get(6);
        if state == 1 {
            let same = row.get::<_, Option<Vec<u8>>>(7).as_deref() == Some(holder.as_slice());
            return match (same, row.get::<_, Option<Vec<u8>>>(9)) {
                (true, Some(p)) => Ok(RedeemResponse {
                    package: serde_json::from_slice(&p).map_err(|_| damaged("a package"))?,
                    credential_id: hex::encode(row.get::<_, Vec<u8>>(8)),
                }),
                _ => Err(IssuerError::OfferUsed),
            };
        }
        if state == 2 {
            return Err(IssuerError::OfferClosed);
        }
        if row.get::<_, i64>(4) <= now {
            return Err(IssuerError::OfferExpired);
        }
        let tx_hash: Vec<u8> = row.get(0);
        if tx_hash != offer::tx_code_hash(&code, &req.tx_code) {
            let tries = row.get::<_, i32>(5) + 1;
            let close = tries >= MAX_TX_TRIES;
            tx.execute(
                "UPDATE offers SET wrong_tries = $2,
                        state = CASE WHEN $3 THEN 2 ELSE 0 END,
                        record = CASE WHEN $3 THEN NULL ELSE record END,
                        portrait = CASE WHEN $3 THEN NULL ELSE portrait END
                 WHERE code_hash = $1",
                &[&offer::code_hash(&code).as_slice(), &tries, &close],
            )?;
            tx.commit()?;
            return Err(if close {
                IssuerError::OfferClosed
            } else {
                IssuerError::WrongTxCode {
                    left: MAX_TX_TRIES - tries,
                }
            });
        }
        let officer: String = row.get(1);
        let office: String = row.get(10);
        let office_id: i64 = row.get(11);
        let record: Vec<u8> = row
            .get::<_, Option<Vec<u8>>>(2)
            .ok_or_else(|| damaged("an offer"))?;
        let portrait: Vec<u8> = row
            .get::<_, Option<Vec<u8>>>(3)
            .ok_or_else(|| damaged("an offer"))?;
        let claims = checked_claims(&record, &portrait, now)?;
        let (issuer, _, size) = self.issuer_row(&mut tx)?;
        let (kid, signer) = self.active(&mut tx)?;
        let (cid, status) = allocate(&mut tx, size, &kid, office_id, &officer, now)?;
        let package = sign_package(
            &claims,
            &Signing {
                issuer,
                key: signer.as_ref(),
                kid: &kid,
            },
            &holder_key,
            cid,
            status,
            now,
        )?;
        tx.execute(
            "UPDATE offers SET state = 1, holder_key = $2, credential_id = $3, package = $4,
                    record = NULL, portrait = NULL
             WHERE code_hash = $1",
            &[
                &offer::code_hash(&code).as_slice(),
                &holder.as_slice(),
                &cid.as_slice(),
                &package.as_bytes(),
            ],
        )?;
        // Last, so the list's row lock is held only for the commit.
        tx.execute(
            "UPDATE status_lists SET fill = fill + 1 WHERE list = $1",
            &[&(status.list as i32)],
        )?;
        audit(
            &mut tx,
            now,
            &office,
            &officer,
            "issue",
            &format!(
                "credential {} list {} index {}",
                hex::encode(cid),
                status.list,
                status.index
            ),
        )?;
        tx.commit()?;
        Ok(RedeemResponse {
            package: serde_json::from_str(&package).expect("package JSON"),
            credential_id: hex::encode(cid),
        })
    }

    /// Revokes one credential (its bit is set at the next publish).
    pub fn revoke(
        &self,
        credential_id: &str,
        office: &str,
        officer: &str,
        now: i64,
    ) -> Result<IssuedRecord> {
        let cid = hex::decode(credential_id.trim())
            .ok()
            .filter(|c| c.len() == 8)
            .ok_or_else(|| IssuerError::UnknownCredential(credential_id.into()))?;
        let mut c = self.conn()?;
        let mut tx = c.transaction()?;
        let r = tx
            .query_opt(
                "SELECT list, idx, issued_at, kid FROM credentials WHERE credential_id = $1",
                &[&cid],
            )?
            .ok_or_else(|| IssuerError::UnknownCredential(credential_id.into()))?;
        tx.execute(
            "INSERT INTO revocations (credential_id, revoked_at, actor) VALUES ($1, $2, $3)
             ON CONFLICT DO NOTHING",
            &[&cid, &now, &format!("{office}/{officer}")],
        )?;
        audit(&mut tx, now, office, officer, "revoke", &hex::encode(&cid))?;
        tx.commit()?;
        Ok(IssuedRecord {
            credential_id: hex::encode(&cid),
            list: r.get::<_, i32>(0) as u32,
            index: r.get::<_, i64>(1) as u64,
            issued_at: r.get(2),
            kid: hex::encode(r.get::<_, Vec<u8>>(3)),
        })
    }

    /// A new active signing key; the previous one retires now.
    pub fn rotate(&self, office: &str, officer: &str, now: i64) -> Result<IssuerKey> {
        let mut c = self.conn()?;
        let mut tx = c.transaction()?;
        // One rotation at a time across instances.
        tx.execute("SELECT 1 FROM issuer FOR UPDATE", &[])?;
        tx.execute(
            "UPDATE signing_keys SET state = 1, not_after = $1 WHERE state = 0",
            &[&now],
        )?;
        let k = self.insert_signing_key(&mut tx, now)?;
        audit(
            &mut tx,
            now,
            office,
            officer,
            "rotate",
            &hex::encode(&k.kid),
        )?;
        tx.commit()?;
        Ok(k)
    }

    /// Every signing key.
    pub fn signing_keys(&self) -> Result<Vec<IssuerKey>> {
        let mut c = self.conn()?;
        let mut tx = c.transaction()?;
        let (issuer, _, _) = self.issuer_row(&mut tx)?;
        keys_of(&mut tx, issuer)
    }

    /// Builds and signs the next bundle generation, stores it for `/bundle/`, and returns
    /// it (the command line also writes it to a directory).
    pub fn publish(
        &self,
        office: &str,
        officer: &str,
        now: i64,
        valid_days: u32,
    ) -> Result<BuiltBundle> {
        let mut c = self.conn()?;
        let mut tx = c.transaction()?;
        // Reserves the version and, holding the row, makes publishes take turns.
        let version: i64 = tx
            .query_one(
                "UPDATE issuer SET trust_list_version = trust_list_version + 1 RETURNING trust_list_version",
                &[],
            )?
            .get(0);
        let (issuer, name, size) = self.issuer_row(&mut tx)?;
        let (root, root_keys) = self.current_root(&mut tx)?;
        let (_, status_signer) = self.active(&mut tx)?;
        let roots = tx
            .query("SELECT version, signed FROM roots ORDER BY version", &[])?
            .iter()
            .map(|r| (r.get::<_, i64>(0) as u64, r.get::<_, Vec<u8>>(1)))
            .collect();
        let lists = tx
            .query("SELECT DISTINCT list FROM credentials", &[])?
            .iter()
            .map(|r| r.get::<_, i32>(0) as u32)
            .collect();
        let revoked = tx
            .query(
                "SELECT c.list, c.idx FROM revocations r JOIN credentials c USING (credential_id)",
                &[],
            )?
            .iter()
            .map(|r| (r.get::<_, i32>(0) as u32, r.get::<_, i64>(1) as u64))
            .collect();
        let keys = keys_of(&mut tx, issuer)?;
        let built = build_bundle(&BundleInput {
            roots,
            root: &root,
            root_signers: root_keys
                .iter()
                .take(root.root.threshold.into())
                .map(|k| k.as_ref())
                .collect(),
            status_signer: status_signer.as_ref(),
            issuer,
            name,
            keys,
            size,
            lists,
            revoked,
            version: version as u64,
            now,
            expires: now + i64::from(valid_days) * 86_400,
        })?;
        for (path, body) in &built.files {
            tx.execute(
                "INSERT INTO bundle_files (generation, path, body) VALUES ($1, $2, $3)",
                &[&version, path, body],
            )?;
        }
        tx.execute(
            "DELETE FROM bundle_files WHERE generation <= $1",
            &[&(version - crate::KEEP_GENERATIONS as i64)],
        )?;
        audit(
            &mut tx,
            now,
            office,
            officer,
            "publish",
            &format!("trust list {version}"),
        )?;
        tx.commit()?;
        Ok(built)
    }

    /// A file of the newest bundle generation that has it (content-named files stay
    /// while a kept generation names them).
    pub fn bundle_file(&self, path: &str) -> Result<Option<Vec<u8>>> {
        Ok(self
            .conn()?
            .query_opt(
                "SELECT body FROM bundle_files WHERE path = $1 ORDER BY generation DESC LIMIT 1",
                &[&path],
            )?
            .map(|r| r.get(0)))
    }

    /// Counts for tests and operators: (credentials, offers redeemed, audit rows).
    pub fn counts(&self) -> Result<(i64, i64, i64)> {
        let r = self.conn()?.query_one(
            "SELECT (SELECT count(*) FROM credentials),
                    (SELECT count(*) FROM offers WHERE state = 1),
                    (SELECT count(*) FROM audit)",
            &[],
        )?;
        Ok((r.get(0), r.get(1), r.get(2)))
    }
}

fn keys_of(tx: &mut Tx<'_>, issuer: u32) -> Result<Vec<IssuerKey>> {
    tx.query(
        "SELECT kid, public_key, not_before, not_after, state, revoked_at FROM signing_keys ORDER BY seq",
        &[],
    )?
    .iter()
    .map(|r| {
        let public: [u8; 32] = r
            .get::<_, Vec<u8>>(1)
            .try_into()
            .map_err(|_| damaged("a public key"))?;
        Ok(IssuerKey {
            issuer,
            kid: r.get(0),
            public: VerifyingKey::from_bytes(&public).map_err(|_| damaged("a public key"))?,
            not_before: r.get(2),
            not_after: r.get(3),
            state: match (r.get::<_, i16>(4), r.get::<_, Option<i64>>(5)) {
                (0, None) => KeyState::Active,
                (1, None) => KeyState::Retired,
                (2, Some(at)) => KeyState::Revoked { at },
                _ => return Err(damaged("a key state")),
            },
        })
    })
    .collect()
}

/// A fresh credential id and a random free status index in the first list under 90%
/// full, claimed by inserting the credential row: the unique keys decide, so two
/// transactions can never hold the same id or index.
fn allocate(
    tx: &mut Tx<'_>,
    size: u64,
    kid: &[u8],
    office_id: i64,
    officer: &str,
    now: i64,
) -> Result<([u8; 8], StatusRef)> {
    let cap = (size * 9 / 10) as i64;
    let list: i32 = loop {
        if let Some(r) = tx.query_opt(
            "SELECT list FROM status_lists WHERE fill < $1 ORDER BY list LIMIT 1",
            &[&cap],
        )? {
            break r.get(0);
        }
        tx.execute(
            "INSERT INTO status_lists (list) SELECT max(list) + 1 FROM status_lists ON CONFLICT DO NOTHING",
            &[],
        )?;
    };
    for _ in 0..1000 {
        let cid = random::<8>();
        let index = OsRng.next_u64() % size;
        let n = tx.execute(
            "INSERT INTO credentials (credential_id, list, idx, issued_at, kid, office_id, officer)
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
            &[
                &cid.as_slice(),
                &list,
                &(index as i64),
                &now,
                &kid,
                &office_id,
                &officer,
            ],
        )?;
        if n == 1 {
            return Ok((
                cid,
                StatusRef {
                    list: list as u32,
                    index,
                },
            ));
        }
    }
    Err(IssuerError::StoreDamaged(
        "no free status index after 1000 tries (is the list's fill count wrong?)".into(),
    ))
}

fn audit(
    tx: &mut Tx<'_>,
    at: i64,
    office: &str,
    officer: &str,
    action: &str,
    detail: &str,
) -> Result<()> {
    tx.execute(
        "INSERT INTO audit (at, office, officer, action, detail) VALUES ($1, $2, $3, $4, $5)",
        &[&at, &office, &officer, &action, &detail],
    )?;
    Ok(())
}

/// What the database keeps instead of a bearer credential.
pub fn token_hash(token: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"tuaton office credential v1");
    h.update(token.as_bytes());
    h.finalize().into()
}

/// Names shown in the audit and on screens: visible text, not too long.
fn check_name(what: &str, name: &str) -> Result<()> {
    if name.trim().is_empty() || name.chars().count() > MAX_OFFICER {
        return Err(IssuerError::BadRequest(format!(
            "{what} must be 1 to {MAX_OFFICER} characters"
        )));
    }
    if let Some(c) = tuaton_common::text::first_forbidden(name) {
        return Err(IssuerError::BadRequest(format!(
            "{what} contains {}, an invisible or control character",
            tuaton_common::text::describe(c)
        )));
    }
    Ok(())
}
