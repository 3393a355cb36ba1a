//! The PostgreSQL store, for the issuance service: many offices at once, several service
//! instances on one database. Every state change is one transaction; uniqueness
//! (credential ids, status indices, trust-list versions, one redemption per offer) is
//! enforced by the database (unique keys, row locks, `UPDATE ... RETURNING`), never by
//! reading first and writing later. Access is async (tokio-postgres, a deadpool pool whose
//! connections open on demand); statements are prepared once per connection.
//!
//! Round trips are what an issuance waits for and what the server spends its time on, so
//! a transaction sends as few as it can: BEGIN travels with its first statement that needs
//! a transaction (one that only reads never opens one; under READ COMMITTED each statement
//! takes its own snapshot either way), and writes whose outcome nobody reads before the
//! commit (locks, audit rows, the offer's updates) are queued and sent, in order, with the
//! next statement or with COMMIT (pipelining, as tokio-postgres does for requests polled
//! together). A queued write that fails fails that next statement or the commit.
//!
//! Besides the issuer core's rows, this store has what only the service does: offices,
//! offers and the published bundle files served at `/bundle/`.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::Engine as _;
use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod, Runtime};
use rand::{rngs::OsRng, Rng};
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;
use std::time::Duration;
use tokio_postgres::types::ToSql;
use tokio_postgres::{NoTls, Statement};
use tuaton_common::holder::HolderKey;
use tuaton_common::offer::{
    self, Offer, OfferRequest, OfferResponse, RedeemRequest, RedeemResponse,
};
use tuaton_common::oid4vci::TokenResponse;

use crate::core::{audit, Actor};
use crate::issue::checked_claims;
use crate::publish::BuiltBundle;
use crate::seam::*;
use crate::{check_portrait, core_error, Issuer, IssuerError, Result};

/// Schema migrations, applied in order, each once, under an advisory lock so instances
/// starting together do not race.
const MIGRATIONS: &[(i32, &str)] = &[
    (1, include_str!("../migrations/0001_issuer.sql")),
    (2, include_str!("../migrations/0002_one_core.sql")),
    (3, include_str!("../migrations/0003_cards_per_citizen.sql")),
    (
        4,
        include_str!("../migrations/0004_issuance_contention.sql"),
    ),
    (5, include_str!("../migrations/0005_oid4vci.sql")),
    (6, include_str!("../migrations/0006_issuer_did.sql")),
    (7, include_str!("../migrations/0007_console.sql")),
    (8, include_str!("../migrations/0008_mdoc.sql")),
];
/// Advisory lock key of the migrations ("tuaton" in ASCII, as a number).
const MIGRATION_LOCK: i64 = 0x7475_6174_6f6e;
/// Advisory lock key that issuances share and key changes take alone ("tuaton k").
const KEYS_LOCK: i64 = 0x7475_6174_6f6e_206b;
/// What `tuaton_bump_fill` raises for a list at its mark (schema 4).
pub(crate) const LIST_AT_MARK: &str = "TU001";
/// How long an offer lives: long enough to open the app and scan, short enough that a
/// photographed screen is useless by the time it is misused.
pub const OFFER_TTL_SECS: i64 = 10 * 60;
/// Wrong transaction codes before an offer closes for good (1 in 200 000 for a guesser).
pub const MAX_TX_TRIES: i32 = 5;
/// Connections of one `serve` instance unless `--max-connections` says otherwise.
pub const DEFAULT_MAX_CONNECTIONS: usize = 16;
/// Longest an officer's name may be.
pub const MAX_OFFICER: usize = 64;

/// The office credential file (`office add --out`, or the console's Offices): which
/// office, and its bearer secret.
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OfficeCredential {
    /// Always [`CREDENTIAL_FORMAT`].
    pub format: String,
    /// The office's name.
    pub office: String,
    /// Whether it is an admin's.
    pub admin: bool,
    /// The bearer secret.
    pub token: String,
}

/// The `format` of an office credential file.
pub const CREDENTIAL_FORMAT: &str = "tuaton-office-credential/1";

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

/// The issuer's rows in PostgreSQL.
pub struct PgStore {
    pool: Pool,
}

/// One PostgreSQL transaction on a pooled connection. Dropped without a commit, it rolls
/// back before the connection goes back to the pool.
pub struct PgTx {
    c: Option<Object>,
    done: bool,
    /// Whether BEGIN has gone to the server (then a drop rolls back).
    begun: bool,
    /// Writes to send with the next statement or the commit, in order.
    queued: Vec<(Statement, Vec<Param>)>,
}

/// A parameter of a queued write, owned until it is sent.
pub(crate) type Param = Box<dyn ToSql + Sync + Send>;

/// The owned parameters of a queued write.
macro_rules! owned {
    ($($e:expr),* $(,)?) => { vec![$(Box::new($e) as $crate::pg::Param),*] };
}
pub(crate) use owned;

/// BEGIN (when `begin`) and the queued writes, sent in order when first polled: joined
/// with the statement that follows, they all go before any answer is awaited.
async fn ahead(
    c: &Object,
    begin: bool,
    queued: &[(Statement, Vec<Param>)],
) -> std::result::Result<(), tokio_postgres::Error> {
    let begin = async {
        match begin {
            true => c.batch_execute("BEGIN").await,
            false => Ok(()),
        }
    };
    let writes = futures::future::try_join_all(
        queued
            .iter()
            .map(|(st, p)| c.execute_raw(st, p.iter().map(|b| b.as_ref() as &(dyn ToSql + Sync)))),
    );
    futures::future::try_join(begin, writes).await.map(drop)
}

/// How often an issuance looks for a status list with room before it gives way.
const OPEN_LIST_ROUNDS: usize = 8;

fn damaged(what: &str) -> IssuerError {
    IssuerError::StoreDamaged(format!("the database holds {what} that does not decode"))
}

fn secret_json(s: &Secret) -> String {
    serde_json::to_string(s).expect("serialisable")
}

fn secret_of(s: &str) -> Result<Secret> {
    serde_json::from_str(s).map_err(|_| damaged("a key secret"))
}

impl PgStore {
    /// Connects (connections open on demand, at most `max_connections`) and applies any
    /// pending migrations.
    pub async fn connect(url: &str, max_connections: usize) -> Result<PgStore> {
        let mut cfg: tokio_postgres::Config = url
            .parse()
            .map_err(|e| IssuerError::Usage(format!("--database is not a PostgreSQL URL ({e})")))?;
        cfg.connect_timeout(Duration::from_secs(5));
        // A statement stuck behind a lock, or a server in trouble, fails the request
        // instead of holding an officer's screen forever.
        cfg.options("-c statement_timeout=15000 -c lock_timeout=10000");
        cfg.application_name("tuaton-issuer");
        let mgr = Manager::from_config(
            cfg,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(mgr)
            .max_size(max_connections.max(1))
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(Duration::from_secs(5)))
            .create_timeout(Some(Duration::from_secs(6)))
            .build()
            .map_err(|e| IssuerError::Database(e.to_string()))?;
        let s = PgStore { pool };
        s.migrate().await?;
        Ok(s)
    }

    async fn conn(&self) -> Result<Object> {
        Ok(self.pool.get().await?)
    }

    /// Connections open now, and the most there may be.
    pub fn pool_use(&self) -> (usize, usize) {
        let s = self.pool.status();
        (s.size, s.max_size)
    }

    async fn migrate(&self) -> Result<()> {
        let mut tx = self.begin().await?;
        let c = tx.open().await?;
        c.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
            .await?;
        c.batch_execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (
                 version integer PRIMARY KEY,
                 applied_at timestamptz NOT NULL DEFAULT now())",
        )
        .await?;
        let done: BTreeSet<i32> = c
            .query("SELECT version FROM schema_migrations", &[])
            .await?
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
                c.batch_execute(sql).await?;
                c.execute("INSERT INTO schema_migrations (version) VALUES ($1)", &[v])
                    .await?;
            }
        }
        tx.commit().await
    }
}

impl Store for PgStore {
    type Tx = PgTx;

    async fn begin(&self) -> Result<PgTx> {
        Ok(PgTx {
            c: Some(self.conn().await?),
            done: false,
            begun: false,
            queued: vec![],
        })
    }

    fn place(&self) -> crate::seam::Place {
        crate::seam::Place::Database
    }
}

impl Drop for PgTx {
    fn drop(&mut self) {
        if self.done || !self.begun {
            // Nothing open on the server: the connection goes back as it is.
            return;
        }
        if let Some(c) = self.c.take() {
            match tokio::runtime::Handle::try_current() {
                // The connection returns to the pool only once rolled back.
                Ok(h) => {
                    h.spawn(async move {
                        if c.batch_execute("ROLLBACK").await.is_err() {
                            let _ = Object::take(c);
                        }
                    });
                }
                // No runtime to roll back on: close it (the server rolls back).
                Err(_) => drop(Object::take(c)),
            }
        }
    }
}

impl PgTx {
    fn c(&self) -> &Object {
        self.c.as_ref().expect("open until commit")
    }

    async fn statement(&self, sql: &str) -> Result<Statement> {
        Ok(self.c().prepare_cached(sql).await?)
    }

    /// What must reach the server before the next statement: BEGIN if that statement
    /// `needs_tx` (or writes are queued) and it was not sent, then the queued writes.
    fn take_ahead(&mut self, needs_tx: bool) -> (bool, Vec<(Statement, Vec<Param>)>) {
        let queued = std::mem::take(&mut self.queued);
        let begin = !self.begun && (needs_tx || !queued.is_empty());
        // Marked before sending: should BEGIN never arrive, the drop's ROLLBACK is harmless.
        self.begun |= begin;
        (begin, queued)
    }

    /// The transaction, opened on the server, for statements written out by hand.
    async fn open(&mut self) -> Result<&Object> {
        let (begin, queued) = self.take_ahead(true);
        ahead(self.c(), begin, &queued).await?;
        Ok(self.c())
    }

    /// One row or none, inside the transaction (a lock, a write that returns).
    pub(crate) async fn one(
        &mut self,
        sql: &str,
        p: &[&(dyn ToSql + Sync)],
    ) -> Result<Option<tokio_postgres::Row>> {
        self.query_opt(true, sql, p).await
    }

    /// One row or none of a plain read: no BEGIN of its own.
    pub(crate) async fn read_one(
        &mut self,
        sql: &str,
        p: &[&(dyn ToSql + Sync)],
    ) -> Result<Option<tokio_postgres::Row>> {
        self.query_opt(false, sql, p).await
    }

    async fn query_opt(
        &mut self,
        needs_tx: bool,
        sql: &str,
        p: &[&(dyn ToSql + Sync)],
    ) -> Result<Option<tokio_postgres::Row>> {
        let st = self.statement(sql).await?;
        let (begin, queued) = self.take_ahead(needs_tx);
        let c = self.c();
        let (_, row) = futures::try_join!(ahead(c, begin, &queued), c.query_opt(&st, p))?;
        Ok(row)
    }

    /// Every row of a plain read: no BEGIN of its own.
    pub(crate) async fn read_all(
        &mut self,
        sql: &str,
        p: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<tokio_postgres::Row>> {
        let st = self.statement(sql).await?;
        let (begin, queued) = self.take_ahead(false);
        let c = self.c();
        let (_, rows) = futures::try_join!(ahead(c, begin, &queued), c.query(&st, p))?;
        Ok(rows)
    }

    /// A write whose row count the caller reads, inside the transaction.
    pub(crate) async fn exec(&mut self, sql: &str, p: &[&(dyn ToSql + Sync)]) -> Result<u64> {
        let st = self.statement(sql).await?;
        let (begin, queued) = self.take_ahead(true);
        let c = self.c();
        let (_, n) = futures::try_join!(ahead(c, begin, &queued), c.execute(&st, p))?;
        Ok(n)
    }

    /// A write nobody reads the outcome of before the commit: sent with the next
    /// statement or with COMMIT.
    pub(crate) async fn queue(&mut self, sql: &str, p: Vec<Param>) -> Result<()> {
        let st = self.statement(sql).await?;
        self.queued.push((st, p));
        Ok(())
    }
}

fn credential_of(r: &tokio_postgres::Row) -> Result<CredentialRow> {
    let b32 = |i: usize| -> Result<[u8; 32]> {
        r.get::<_, Option<Vec<u8>>>(i)
            .unwrap_or_else(|| vec![0; 32])
            .try_into()
            .map_err(|_| damaged("a credential"))
    };
    Ok(CredentialRow {
        id: r
            .get::<_, Vec<u8>>(0)
            .try_into()
            .map_err(|_| damaged("a credential id"))?,
        list: r.get::<_, i32>(1) as u32,
        index: r.get::<_, i64>(2) as u64,
        issued_at: r.get(3),
        kid: r.get(4),
        // Rows from before schema 2 have no holder: no refresh can match them.
        holder: match r.get::<_, Option<Vec<u8>>>(5) {
            None => tuaton_common::holder::HolderKey::Ed25519([0; 32]),
            Some(b) => tuaton_common::holder::HolderKey::from_bytes(&b)
                .ok_or_else(|| damaged("a credential's holder key"))?,
        },
        claims: b32(6)?,
        citizen: b32(7)?,
        actor: r.get::<_, Option<String>>(8).unwrap_or_default(),
    })
}

const META_SQL: &str = "SELECT issuer_id, name, status_size, sealed_store_key, citizen_key, created_at, cards_per_citizen, did, mdoc FROM issuer";
const KEYS_SQL: &str = "SELECT seq, kid, public_key, not_before, not_after, state, revoked_at, secret, token_label FROM signing_keys ORDER BY seq";

fn meta_of(r: &tokio_postgres::Row) -> Result<Meta> {
    Ok(Meta {
        issuer_id: r.get::<_, i32>(0) as u32,
        name: r.get(1),
        status_size: r.get::<_, i64>(2) as u64,
        sealed_store_key: r.get(3),
        citizen_key: r
            .get::<_, Option<String>>(4)
            .map(|s| secret_of(&s))
            .transpose()?,
        created_at: r.get(5),
        cards_per_citizen: r.get::<_, i32>(6) as u32,
        did: r.get(7),
        mdoc: r
            .get::<_, Option<String>>(8)
            .map(|s| serde_json::from_str(&s).map_err(|_| damaged("the mdoc certificates")))
            .transpose()?,
    })
}

fn key_of(r: &tokio_postgres::Row) -> Result<KeyRow> {
    let secret = match (
        r.get::<_, Option<Vec<u8>>>(7),
        r.get::<_, Option<String>>(8),
    ) {
        (Some(s), None) => Secret::Sealed(s),
        (None, Some(l)) => Secret::Token(vec![l]),
        _ => return Err(damaged("a key secret")),
    };
    Ok(KeyRow {
        seq: r.get::<_, i32>(0) as u32,
        kid: r.get(1),
        public: r
            .get::<_, Vec<u8>>(2)
            .try_into()
            .map_err(|_| damaged("a public key"))?,
        not_before: r.get(3),
        not_after: r.get(4),
        status: KeyStatus::from_code(r.get(5), r.get(6)).ok_or_else(|| damaged("a key state"))?,
        secret,
    })
}

const CREDENTIAL_COLUMNS: &str =
    "credential_id, list, idx, issued_at, kid, holder, claims, citizen, actor";

impl Txn for PgTx {
    async fn meta(&mut self) -> Result<Option<Meta>> {
        self.read_one(META_SQL, &[])
            .await?
            .map(|r| meta_of(&r))
            .transpose()
    }

    async fn meta_and_keys(&mut self) -> Result<(Option<Meta>, Vec<KeyRow>)> {
        let (m, k) = (
            self.statement(META_SQL).await?,
            self.statement(KEYS_SQL).await?,
        );
        let (begin, queued) = self.take_ahead(false);
        let c = self.c();
        let (_, meta, keys) = futures::try_join!(
            ahead(c, begin, &queued),
            c.query_opt(&m, &[]),
            c.query(&k, &[])
        )?;
        Ok((
            meta.map(|r| meta_of(&r)).transpose()?,
            keys.iter().map(key_of).collect::<Result<_>>()?,
        ))
    }

    async fn create(&mut self, m: &Meta) -> Result<bool> {
        let n = self
            .exec(
                "INSERT INTO issuer (issuer_id, name, status_size, sealed_store_key, citizen_key, created_at, cards_per_citizen, did, mdoc)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT DO NOTHING",
                &[
                    &(m.issuer_id as i32),
                    &m.name,
                    &(m.status_size as i64),
                    &m.sealed_store_key,
                    &m.citizen_key.as_ref().map(secret_json),
                    &m.created_at,
                    &(m.cards_per_citizen.min(i32::MAX as u32) as i32),
                    &m.did,
                    &m.mdoc.as_ref().map(|k| serde_json::to_string(k).expect("serialisable")),
                ],
            )
            .await?;
        Ok(n == 1)
    }

    async fn set_citizen_key(&mut self, k: &Secret) -> Result<()> {
        self.queue(
            "UPDATE issuer SET citizen_key = $1 WHERE citizen_key IS NULL",
            owned![secret_json(k)],
        )
        .await
    }

    async fn set_mdoc(&mut self, k: &MdocKeys) -> Result<()> {
        self.queue(
            "UPDATE issuer SET mdoc = $1",
            owned![serde_json::to_string(k).expect("serialisable")],
        )
        .await
    }

    async fn share_keys(&mut self) -> Result<()> {
        // An advisory lock, not a shared row lock: fifty issuances sharing one row make
        // PostgreSQL write a new multixact for each one that joins.
        self.queue("SELECT pg_advisory_xact_lock_shared($1)", owned![KEYS_LOCK])
            .await
    }

    async fn lock_keys(&mut self) -> Result<()> {
        self.queue("SELECT pg_advisory_xact_lock($1)", owned![KEYS_LOCK])
            .await?;
        // The issuer row too, so this key change waits for the issuances of an instance
        // still running schema-3 code (they share that row). The other way round does not
        // hold: such an instance's key change would not wait for this version's issuances,
        // hence ISSUANCE.md's upgrade rule (stop older instances first).
        self.queue("SELECT 1 FROM issuer FOR UPDATE", vec![]).await
    }

    async fn keys(&mut self) -> Result<Vec<KeyRow>> {
        self.read_all(KEYS_SQL, &[])
            .await?
            .iter()
            .map(key_of)
            .collect()
    }

    async fn put_key(&mut self, k: &KeyRow) -> Result<()> {
        let (sealed, label) = match &k.secret {
            Secret::Sealed(s) => (Some(s.clone()), None),
            Secret::Token(l) => (None, l.first().cloned()),
        };
        self.queue(
            "INSERT INTO signing_keys (seq, kid, public_key, not_before, not_after, state, revoked_at, secret, token_label)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
             ON CONFLICT (seq) DO UPDATE SET not_before = $4, not_after = $5, state = $6, revoked_at = $7",
            owned![
                k.seq as i32,
                k.kid.clone(),
                k.public.to_vec(),
                k.not_before,
                k.not_after,
                k.status.code(),
                k.status.revoked_at(),
                sealed,
                label,
            ],
        )
        .await
    }

    async fn roots(&mut self) -> Result<Vec<RootRow>> {
        self.read_all(
            "SELECT version, signed, secrets, token_labels FROM roots ORDER BY version",
            &[],
        )
        .await?
        .iter()
        .map(|r| {
            let secret = match (
                r.get::<_, Option<Vec<u8>>>(2),
                r.get::<_, Option<Vec<String>>>(3),
            ) {
                (Some(s), None) => Secret::Sealed(s),
                (None, Some(l)) => Secret::Token(l),
                _ => return Err(damaged("a root")),
            };
            Ok(RootRow {
                version: r.get::<_, i64>(0) as u64,
                signed: r.get(1),
                secret,
            })
        })
        .collect()
    }

    async fn put_root(&mut self, r: &RootRow) -> Result<()> {
        let (sealed, labels) = match &r.secret {
            Secret::Sealed(s) => (Some(s.clone()), None),
            Secret::Token(l) => (None, Some(l.clone())),
        };
        self.queue(
            "INSERT INTO roots (version, signed, secrets, token_labels) VALUES ($1, $2, $3, $4)",
            owned![r.version as i64, r.signed.clone(), sealed, labels],
        )
        .await
    }

    async fn open_list(&mut self, from: u32, cap: u64) -> Result<u32> {
        // Bounded: each round either finds a list or makes the next one, which concurrent
        // issuances may fill before this one looks again.
        for _ in 0..OPEN_LIST_ROUNDS {
            if let Some(r) = self
                .read_one(
                    "SELECT list FROM status_lists WHERE list >= $1 AND fill < $2 ORDER BY list LIMIT 1",
                    &[&(from as i32), &(cap as i64)],
                )
                .await?
            {
                return Ok(r.get::<_, i32>(0) as u32);
            }
            self.exec(
                "INSERT INTO status_lists (list) SELECT greatest(max(list) + 1, $1) FROM status_lists
                 ON CONFLICT DO NOTHING",
                &[&(from as i32)],
            )
            .await?;
        }
        Err(IssuerError::Busy(
            "every status list it made was filled by others first",
        ))
    }

    async fn claim(&mut self, c: &CredentialRow) -> Result<bool> {
        let n = self
            .exec(
                "INSERT INTO credentials (credential_id, list, idx, issued_at, kid, holder, claims, citizen, actor)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT DO NOTHING",
                &[
                    &c.id.as_slice(),
                    &(c.list as i32),
                    &(c.index as i64),
                    &c.issued_at,
                    &c.kid,
                    &c.holder.as_bytes(),
                    &c.claims.as_slice(),
                    &c.citizen.as_slice(),
                    &c.actor,
                ],
            )
            .await?;
        Ok(n == 1)
    }

    async fn bump_fill(&mut self, list: u32, cap: u64) -> Result<()> {
        // Queued, so it goes with COMMIT and the list's row is locked only that long. Read
        // committed: it waits for a concurrent issuance's count, then sees it.
        self.queue(
            "SELECT tuaton_bump_fill($1, $2)",
            owned![list as i32, cap as i64],
        )
        .await
    }

    async fn credential(&mut self, id: &[u8; 8]) -> Result<Option<CredentialRow>> {
        self.read_one(
            &format!("SELECT {CREDENTIAL_COLUMNS} FROM credentials WHERE credential_id = $1"),
            &[&id.as_slice()],
        )
        .await?
        .map(|r| credential_of(&r))
        .transpose()
    }

    async fn lock_citizen(&mut self, citizen: &[u8; 32]) -> Result<()> {
        // A transaction-scoped advisory lock on the hash's first 8 bytes (two citizens
        // sharing them only wait for each other).
        let key = i64::from_be_bytes(citizen[..8].try_into().expect("8 bytes"));
        self.queue("SELECT pg_advisory_xact_lock($1)", owned![key])
            .await
    }

    async fn credentials_of(&mut self, citizen: &[u8; 32]) -> Result<Vec<CredentialRow>> {
        self.read_all(
            &format!(
                "SELECT {CREDENTIAL_COLUMNS} FROM credentials c WHERE citizen = $1
                 AND NOT EXISTS (SELECT 1 FROM revocations r WHERE r.credential_id = c.credential_id)"
            ),
            &[&citizen.as_slice()],
        )
        .await?
        .iter()
        .map(credential_of)
        .collect()
    }

    async fn resign(&mut self, id: &[u8; 8], kid: &[u8], issued_at: i64) -> Result<()> {
        self.queue(
            "UPDATE credentials SET kid = $2, issued_at = $3 WHERE credential_id = $1",
            owned![id.to_vec(), kid.to_vec(), issued_at],
        )
        .await
    }

    async fn revoke(&mut self, c: &CredentialRow, at: i64, reason: Reason) -> Result<bool> {
        let n = self
            .exec(
                "INSERT INTO revocations (credential_id, revoked_at, actor, reason) VALUES ($1, $2, '', $3)
                 ON CONFLICT DO NOTHING",
                &[&c.id.as_slice(), &at, &reason.name()],
            )
            .await?;
        Ok(n == 1)
    }

    async fn revocation(&mut self, id: &[u8; 8]) -> Result<Option<Reason>> {
        self.read_one(
            "SELECT reason FROM revocations WHERE credential_id = $1",
            &[&id.as_slice()],
        )
        .await?
        .map(|r| Reason::from_name(r.get(0)).ok_or_else(|| damaged("a revocation")))
        .transpose()
    }

    async fn lists(&mut self) -> Result<BTreeSet<u32>> {
        Ok(self
            .read_all("SELECT list FROM status_lists WHERE fill > 0", &[])
            .await?
            .iter()
            .map(|r| r.get::<_, i32>(0) as u32)
            .collect())
    }

    async fn revoked(&mut self) -> Result<Vec<(u32, u64)>> {
        Ok(self
            .read_all(
                "SELECT c.list, c.idx FROM revocations r JOIN credentials c USING (credential_id)",
                &[],
            )
            .await?
            .iter()
            .map(|r| (r.get::<_, i32>(0) as u32, r.get::<_, i64>(1) as u64))
            .collect())
    }

    async fn next_version(&mut self) -> Result<u64> {
        // Reserves the version and, holding the row, makes publishes take turns.
        let r = self
            .one(
                "UPDATE issuer SET trust_list_version = trust_list_version + 1 RETURNING trust_list_version",
                &[],
            )
            .await?
            .ok_or_else(|| damaged("the issuer row"))?;
        Ok(r.get::<_, i64>(0) as u64)
    }

    async fn close_lists(&mut self, size: u64, margin: u32) -> Result<()> {
        self.queue(
            "INSERT INTO status_lists (list, fill)
             SELECT g, 0 FROM generate_series(
                 (SELECT max(list) + 1 FROM status_lists),
                 (SELECT max(list) FROM status_lists) + $1) AS g",
            owned![margin as i32],
        )
        .await?;
        self.queue("UPDATE status_lists SET fill = $1", owned![size as i64])
            .await
    }

    async fn raise_version(&mut self, min: u64) -> Result<()> {
        self.queue(
            "UPDATE issuer SET trust_list_version = greatest(trust_list_version, $1)",
            owned![min as i64],
        )
        .await
    }

    async fn audit(&mut self, a: &AuditRow) -> Result<()> {
        self.queue(
            "INSERT INTO audit (at, office, officer, action, detail) VALUES ($1, $2, $3, $4, $5)",
            owned![
                a.at,
                a.office.clone(),
                a.officer.clone(),
                a.action.clone(),
                a.detail.clone()
            ],
        )
        .await
    }

    async fn audit_rows(&mut self, limit: u32) -> Result<Vec<AuditRow>> {
        Ok(self
            .read_all(
                "SELECT at, office, officer, action, detail FROM audit ORDER BY id DESC LIMIT $1",
                &[&i64::from(limit)],
            )
            .await?
            .iter()
            .map(|r| AuditRow {
                at: r.get(0),
                office: r.get(1),
                officer: r.get(2),
                action: r.get(3),
                detail: r.get(4),
            })
            .collect())
    }

    async fn commit(mut self) -> Result<()> {
        let (begin, queued) = self.take_ahead(false);
        if !self.begun {
            // Only reads: there is no transaction to commit.
            self.done = true;
            return Ok(());
        }
        let c = self.c.take().expect("open until commit");
        // The queued writes, then COMMIT, in one go. COMMIT after a failed write answers
        // ROLLBACK, not an error: the write's own error is what comes back.
        let r =
            futures::future::try_join(ahead(&c, begin, &queued), c.batch_execute("COMMIT")).await;
        self.done = true;
        if let Err(e) = &r {
            // The server's own error (a list at its mark, a constraint): it answered, the
            // transaction is over and the connection is sound. Anything else is an unknown
            // outcome: this connection is not reused.
            if e.as_db_error().is_none() {
                let _ = Object::take(c);
            }
        }
        r?;
        Ok(())
    }
}

impl Issuer<PgStore> {
    /// Builds and signs the next bundle generation, stores it for `/bundle/` in the same
    /// transaction, and returns it (the command line also writes it to a directory).
    pub async fn publish(&self, actor: &Actor, now: i64, valid_days: u32) -> Result<BuiltBundle> {
        let mut tx = self.store().begin().await?;
        let built = self.publish_in(&mut tx, actor, now, valid_days).await?;
        let version = built.report.trust_list_version as i64;
        for (path, body) in &built.files {
            tx.queue(
                "INSERT INTO bundle_files (generation, path, body) VALUES ($1, $2, $3)",
                owned![version, path.clone(), body.clone()],
            )
            .await?;
        }
        tx.queue(
            "DELETE FROM bundle_files WHERE generation <= $1",
            owned![version - crate::KEEP_GENERATIONS as i64],
        )
        .await?;
        tx.commit().await?;
        Ok(built)
    }

    /// The newest bundle generation published (0 when none): one indexed read, what a
    /// service checks before it serves `index.json` from its copy.
    pub async fn bundle_generation(&self) -> Result<i64> {
        let mut tx = self.store().begin().await?;
        Ok(tx
            .read_one(
                "SELECT coalesce(max(generation), 0)::bigint FROM bundle_files",
                &[],
            )
            .await?
            .map_or(0, |r| r.get(0)))
    }

    /// Every file a gate may ask for, each path's newest kept copy, with the newest
    /// generation: what a service holds in memory to serve `/bundle/`.
    pub async fn bundle_files(&self) -> Result<(i64, Vec<(String, Vec<u8>)>)> {
        let mut tx = self.store().begin().await?;
        let rows = tx
            .read_all(
                "SELECT DISTINCT ON (path) path, body, generation FROM bundle_files
                 ORDER BY path, generation DESC",
                &[],
            )
            .await?;
        let generation = rows.iter().map(|r| r.get::<_, i64>(2)).max().unwrap_or(0);
        Ok((
            generation,
            rows.iter().map(|r| (r.get(0), r.get(1))).collect(),
        ))
    }

    /// A file of the newest bundle generation that has it (content-named files stay while
    /// a kept generation names them).
    pub async fn bundle_file(&self, path: &str) -> Result<Option<Vec<u8>>> {
        let mut tx = self.store().begin().await?;
        Ok(tx
            .read_one(
                "SELECT body FROM bundle_files WHERE path = $1 ORDER BY generation DESC LIMIT 1",
                &[&path],
            )
            .await?
            .map(|r| r.get(0)))
    }

    /// The current root's fingerprint (what offers carry and wallets pin).
    pub async fn root_fingerprint(&self) -> Result<[u8; 32]> {
        Ok(self.root().await?.fingerprint_bytes())
    }

    /// Counts for tests and operators: (credentials, offers redeemed, audit rows).
    pub async fn counts(&self) -> Result<(i64, i64, i64)> {
        let mut tx = self.store().begin().await?;
        let r = tx
            .read_one(
                "SELECT (SELECT count(*) FROM credentials),
                        (SELECT count(*) FROM offers WHERE state = 1),
                        (SELECT count(*) FROM audit WHERE action = 'issue')",
                &[],
            )
            .await?
            .expect("one row");
        Ok((r.get(0), r.get(1), r.get(2)))
    }

    /// Adds an office (or an admin) and returns its bearer credential, shown once. The name
    /// of a revoked office may be used again. Audited as the command line's.
    pub async fn add_office(&self, name: &str, admin: bool, now: i64) -> Result<String> {
        self.add_office_by(name, admin, &Actor::cli(), now).await
    }

    /// [`Issuer::add_office`], audited as `actor`'s (an administrator in the console).
    pub async fn add_office_by(
        &self,
        name: &str,
        admin: bool,
        actor: &Actor,
        now: i64,
    ) -> Result<String> {
        check_name("the office name", name)?;
        // The audit and each card record "office/officer": a `/` in an office's name
        // would let it pass for another office's prefix.
        if name.contains('/') {
            return Err(IssuerError::BadRequest(
                "the office name must not contain '/'".into(),
            ));
        }
        let token = format!("tto-{}", B64URL.encode(rand::random::<[u8; 32]>()));
        let mut tx = self.store().begin().await?;
        // A revoked office's row keeps its history under a retired name.
        tx.exec(
            "UPDATE offices SET name = name || ' (revoked ' || id || ')'
             WHERE name = $1 AND revoked_at IS NOT NULL",
            &[&name],
        )
        .await?;
        let n = tx
            .exec(
                "INSERT INTO offices (name, admin, token_hash, created_at) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (name) DO NOTHING",
                &[&name, &admin, &token_hash(&token).as_slice(), &now],
            )
            .await?;
        if n == 0 {
            return Err(IssuerError::OfficeExists(name.to_owned()));
        }
        tx.audit(&audit(
            now,
            actor,
            "office-add",
            &format!("{name}{}", if admin { " (admin)" } else { "" }),
        ))
        .await?;
        tx.commit().await?;
        Ok(token)
    }

    /// Every office whose credential is not revoked: (name, admin).
    pub async fn offices(&self) -> Result<Vec<(String, bool)>> {
        let mut tx = self.store().begin().await?;
        let rows = tx
            .read_all(
                "SELECT name, admin FROM offices WHERE revoked_at IS NULL ORDER BY name",
                &[],
            )
            .await?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    /// Revokes an office's credential: its next request is refused, and its open offers
    /// close. With `since` (a compromised office), every card it issued from then on is
    /// revoked too; their count is returned.
    pub async fn revoke_office(&self, name: &str, now: i64, since: Option<i64>) -> Result<u64> {
        self.revoke_office_by(name, &Actor::cli(), now, since).await
    }

    /// [`Issuer::revoke_office`], audited as `actor`'s.
    pub async fn revoke_office_by(
        &self,
        name: &str,
        actor: &Actor,
        now: i64,
        since: Option<i64>,
    ) -> Result<u64> {
        let mut tx = self.store().begin().await?;
        let n = tx
            .exec(
                "UPDATE offices SET revoked_at = $2 WHERE name = $1 AND revoked_at IS NULL",
                &[&name, &now],
            )
            .await?;
        if n == 0 {
            return Err(IssuerError::NoSuchOffice(name.to_owned()));
        }
        tx.exec(
            "UPDATE offers SET state = 2, record = NULL, portrait = NULL, token_hash = NULL
             WHERE state IN (0, 3) AND office_id = (SELECT id FROM offices WHERE name = $1)",
            &[&name],
        )
        .await?;
        let mut revoked = 0;
        if let Some(t) = since {
            // The actor is "office/officer": an exact prefix, no pattern characters.
            revoked = tx
                .exec(
                    "INSERT INTO revocations (credential_id, revoked_at, actor, reason)
                     SELECT credential_id, $2, 'office revoked', 'cause' FROM credentials
                     WHERE left(actor, length($1) + 1) = $1 || '/' AND issued_at >= $3
                     ON CONFLICT DO NOTHING",
                    &[&name, &now, &t],
                )
                .await?;
        }
        let mut tx = tx;
        tx.audit(&audit(
            now,
            actor,
            "office-revoke",
            &format!("{name}: {revoked} cards revoked"),
        ))
        .await?;
        tx.commit().await?;
        Ok(revoked)
    }

    /// The office a bearer credential belongs to.
    pub async fn authenticate(&self, token: &str) -> Result<Office> {
        let mut tx = self.store().begin().await?;
        let r = tx
            .one(
                "SELECT id, name, admin FROM offices WHERE token_hash = $1 AND revoked_at IS NULL",
                &[&token_hash(token).as_slice()],
            )
            .await?
            .ok_or(IssuerError::BadOfficeCredential)?;
        Ok(Office {
            id: r.get(0),
            name: r.get(1),
            admin: r.get(2),
        })
    }

    /// Makes a one-time offer for a checked record. The record is kept until redeemed or
    /// expired; the code and transaction code only as hashes.
    pub async fn create_offer(
        &self,
        office: &Office,
        service: &str,
        req: &OfferRequest,
        now: i64,
    ) -> Result<OfferResponse> {
        self.create_offer_as(office, None, service, req, now).await
    }

    /// [`Issuer::create_offer`] by a signed-in officer of the console (`officer_id`), whose
    /// page then follows the offer's state.
    pub async fn create_offer_as(
        &self,
        office: &Office,
        officer_id: Option<i64>,
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
        let root = self.root_fingerprint().await?;
        let code = rand::random::<[u8; offer::CODE_LEN]>();
        let tx_code = format!("{:06}", OsRng.gen_range(0..1_000_000u32));
        let expires = now + OFFER_TTL_SECS;
        // Signed by the issuer: a wallet sends its code only to the service named here.
        let (issuer, kid, signer) = self.active_signer().await?;
        let signed = Offer {
            service: service.to_owned(),
            code,
            expires,
            root,
            tx_code_digits: offer::TX_CODE_DIGITS,
            issuer,
            kid,
            signature: [0; 64],
        }
        .sign(signer.as_ref())
        .map_err(core_error)?;
        let mut tx = self.store().begin().await?;
        tx.queue(
            "INSERT INTO offers (code_hash, tx_hash, office_id, officer, record, portrait, created_at, expires, officer_id)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            owned![
                offer::code_hash(&code).to_vec(),
                offer::tx_code_hash(&code, &tx_code).to_vec(),
                office.id,
                req.officer.clone(),
                record,
                portrait,
                now,
                expires,
                officer_id,
            ],
        )
        .await?;
        // Personal data of offers nobody redeemed goes as soon as they expire.
        tx.queue(
            "UPDATE offers SET record = NULL, portrait = NULL, package = NULL
             WHERE expires < $1 AND (record IS NOT NULL OR package IS NOT NULL)",
            owned![now],
        )
        .await?;
        let actor = Actor {
            office: office.name.clone(),
            officer: req.officer.clone(),
        };
        tx.audit(&audit(now, &actor, "offer", "")).await?;
        tx.commit().await?;
        Ok(OfferResponse {
            offer: signed.to_oid4vci(),
            offer_compact: signed.to_text(),
            tx_code,
            expires: tuaton_common::model::format_rfc3339(expires),
        })
    }

    /// Redeems an offer: checks the proof, the code and the transaction code, then issues
    /// through the core in the same transaction that marks the offer used. The same holder
    /// asking again gets the same credential (its connection may have dropped after the
    /// commit); any other is refused. An attempt that lost its status place to concurrent
    /// redemptions rolled back whole and runs again.
    pub async fn redeem(
        &self,
        service: &str,
        req: &RedeemRequest,
        now: i64,
    ) -> Result<RedeemResponse> {
        crate::core::retry_busy(|| self.redeem_once(service, req, now)).await
    }

    async fn redeem_once(
        &self,
        service: &str,
        req: &RedeemRequest,
        now: i64,
    ) -> Result<RedeemResponse> {
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
        // Ed25519 (32 bytes) or P-256 (33, compressed).
        let holder = B64URL
            .decode(req.holder_key.as_bytes())
            .ok()
            .filter(|b| b.len() == 32 || b.len() == 33)
            .ok_or_else(|| {
                IssuerError::BadRequest(
                    "holder_key must be 32 bytes (Ed25519) or 33 (P-256), base64url".into(),
                )
            })?;
        let proof: [u8; 64] = field("proof", &req.proof, 64)?.try_into().expect("64");
        let holder_key = offer::check_proof(service, &code, &holder, &proof).map_err(core_error)?;
        let mut tx = self.store().begin().await?;
        let row = OfferRow::locked(&mut tx, "o.code_hash", &offer::code_hash(&code))
            .await?
            .ok_or(IssuerError::UnknownOffer)?;
        if row.state == REDEEMED {
            return row.redelivered(&holder_key);
        }
        // Its code was exchanged for a token: the token's holder redeems it, nobody here.
        if row.state == TOKEN_GRANTED {
            return Err(IssuerError::OfferUsed);
        }
        row.open_at(now)?;
        let tx = self.check_tx_code(tx, &row, &code, &req.tx_code).await?;
        self.issue_offer(tx, &row, &holder_key, now).await
    }

    /// The token endpoint of the standard flow (OpenID4VCI 1.0 section 6): the
    /// pre-authorised code and the transaction code, checked as a compact redemption checks
    /// them, are exchanged once for an access token. The offer's personal data is kept at
    /// least as long as the token lives.
    pub async fn grant_token(
        &self,
        pre_authorized_code: &str,
        tx_code: Option<&str>,
        now: i64,
    ) -> Result<TokenResponse> {
        let code: [u8; offer::CODE_LEN] = B64URL
            .decode(pre_authorized_code.as_bytes())
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or(IssuerError::UnknownOffer)?;
        let tx_code = tx_code.ok_or_else(|| {
            IssuerError::BadRequest(
                "tx_code is required: the officer reads it out with the offer".into(),
            )
        })?;
        let mut tx = self.store().begin().await?;
        let row = OfferRow::locked(&mut tx, "o.code_hash", &offer::code_hash(&code))
            .await?
            .ok_or(IssuerError::UnknownOffer)?;
        // A pre-authorised code is exchanged once (RFC 6749 section 4.1.2 asks the same of
        // an authorization code).
        if row.state == REDEEMED {
            return Err(IssuerError::OfferUsed);
        }
        row.open_at(now)?;
        let mut tx = self.check_tx_code(tx, &row, &code, tx_code).await?;
        if row.state == TOKEN_GRANTED {
            // Someone else with the code and its transaction code, or the same wallet that
            // lost its answer: nobody can tell which, so the token already granted is
            // revoked with the offer (section 4.1.2's advice) and the officer makes another.
            tx.queue(
                "UPDATE offers SET state = 2, token_hash = NULL, record = NULL, portrait = NULL
                 WHERE code_hash = $1",
                owned![row.code_hash.clone()],
            )
            .await?;
            tx.commit().await?;
            return Err(IssuerError::OfferUsed);
        }
        let token = rand::random::<[u8; 32]>();
        let token_expires = now + TOKEN_TTL_SECS;
        tx.queue(
            "UPDATE offers SET state = 3, token_hash = $2, token_expires = $3,
                    expires = GREATEST(expires, $3)
             WHERE code_hash = $1",
            owned![
                row.code_hash.clone(),
                access_token_hash(&B64URL.encode(token)).to_vec(),
                token_expires
            ],
        )
        .await?;
        tx.commit().await?;
        Ok(TokenResponse {
            access_token: B64URL.encode(token),
            token_type: "Bearer".into(),
            expires_in: Some(TOKEN_TTL_SECS),
        })
    }

    /// The credential endpoint of the standard flow (section 8): the offer the access
    /// token was granted for is redeemed for the holder key the proof JWT proved. The same
    /// holder asking again (a lost answer, or the other configuration) gets the same
    /// credential; another key is refused.
    pub async fn redeem_token(
        &self,
        access_token: &str,
        holder: &HolderKey,
        now: i64,
    ) -> Result<RedeemResponse> {
        crate::core::retry_busy(|| self.redeem_token_once(access_token, holder, now)).await
    }

    /// Whether an access token is one this service granted and still lives: the
    /// credential endpoint asks before it checks a proof (no lock, no work for a caller
    /// without a token).
    pub async fn token_lives(&self, access_token: &str, now: i64) -> Result<()> {
        let mut tx = self.store().begin().await?;
        tx.read_one(
            "SELECT 1 FROM offers WHERE token_hash = $1 AND token_expires > $2",
            &[&access_token_hash(access_token).as_slice(), &now],
        )
        .await?
        .map(drop)
        .ok_or(IssuerError::AccessTokenInvalid)
    }

    async fn redeem_token_once(
        &self,
        access_token: &str,
        holder: &HolderKey,
        now: i64,
    ) -> Result<RedeemResponse> {
        let mut tx = self.store().begin().await?;
        let row = OfferRow::locked(&mut tx, "o.token_hash", &access_token_hash(access_token))
            .await?
            .ok_or(IssuerError::AccessTokenInvalid)?;
        if row.token_expires.is_none_or(|t| t <= now) {
            return Err(IssuerError::AccessTokenInvalid);
        }
        if row.state == REDEEMED {
            return row.redelivered(holder);
        }
        if row.state != TOKEN_GRANTED || row.office_revoked {
            return Err(IssuerError::OfferClosed);
        }
        self.issue_offer(tx, &row, holder, now).await
    }

    /// Counts a wrong transaction code (committing the count, closing the offer at the
    /// last try) or lets a right one through, handing its transaction back.
    async fn check_tx_code(
        &self,
        mut tx: PgTx,
        row: &OfferRow,
        code: &[u8; offer::CODE_LEN],
        tx_code: &str,
    ) -> Result<PgTx> {
        if row.tx_hash == offer::tx_code_hash(code, tx_code) {
            return Ok(tx);
        }
        let tries = row.wrong_tries + 1;
        let close = tries >= MAX_TX_TRIES;
        tx.queue(
            "UPDATE offers SET wrong_tries = $2,
                    state = CASE WHEN $3 THEN 2 ELSE state END,
                    token_hash = CASE WHEN $3 THEN NULL ELSE token_hash END,
                    record = CASE WHEN $3 THEN NULL ELSE record END,
                    portrait = CASE WHEN $3 THEN NULL ELSE portrait END
             WHERE code_hash = $1",
            owned![row.code_hash.clone(), tries, close],
        )
        .await?;
        tx.commit().await?;
        Err(if close {
            IssuerError::OfferClosed
        } else {
            IssuerError::WrongTxCode {
                left: MAX_TX_TRIES - tries,
            }
        })
    }

    /// Issues the offer's card to `holder` through the core, in the transaction that marks
    /// the offer redeemed.
    async fn issue_offer(
        &self,
        mut tx: PgTx,
        row: &OfferRow,
        holder: &HolderKey,
        now: i64,
    ) -> Result<RedeemResponse> {
        let actor = Actor {
            office: row.office.clone(),
            officer: row.officer.clone(),
        };
        let record = row.record.as_deref().ok_or_else(|| damaged("an offer"))?;
        let portrait = row.portrait.as_deref().ok_or_else(|| damaged("an offer"))?;
        let claims = checked_claims(record, portrait, now)?;
        let (package, cred) = self.issue_in(&mut tx, &claims, holder, &actor, now).await?;
        tx.queue(
            "UPDATE offers SET state = 1, holder_key = $2, credential_id = $3, package = $4,
                    record = NULL, portrait = NULL
             WHERE code_hash = $1",
            owned![
                row.code_hash.clone(),
                holder.as_bytes().to_vec(),
                cred.id.to_vec(),
                package.as_bytes().to_vec(),
            ],
        )
        .await?;
        tx.commit().await?;
        Ok(RedeemResponse {
            package: serde_json::from_str(&package).expect("package JSON"),
            credential_id: hex::encode(cred.id),
        })
    }

    /// The secret named `name` that every instance of the service shares, made by the
    /// first that asks.
    pub async fn shared_secret(&self, name: &str) -> Result<[u8; 32]> {
        let mut tx = self.store().begin().await?;
        tx.exec(
            "INSERT INTO service_secrets (name, secret) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            &[&name, &rand::random::<[u8; 32]>().as_slice()],
        )
        .await?;
        let r = tx
            .one(
                "SELECT secret FROM service_secrets WHERE name = $1",
                &[&name],
            )
            .await?
            .ok_or_else(|| damaged("a service secret"))?;
        tx.commit().await?;
        r.get::<_, Vec<u8>>(0)
            .try_into()
            .map_err(|_| damaged("a service secret"))
    }
}

/// Offer states (the `offers.state` column).
const REDEEMED: i16 = 1;
const TOKEN_GRANTED: i16 = 3;
/// How long an access token of the standard flow lives.
pub const TOKEN_TTL_SECS: i64 = 5 * 60;

/// What the database keeps instead of an access token.
fn access_token_hash(token: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"tuaton access token v1");
    h.update(token.as_bytes());
    h.finalize().into()
}

/// An offer as redemption reads it, locked for the transaction.
struct OfferRow {
    code_hash: Vec<u8>,
    tx_hash: Vec<u8>,
    officer: String,
    record: Option<Vec<u8>>,
    portrait: Option<Vec<u8>>,
    expires: i64,
    wrong_tries: i32,
    state: i16,
    holder_key: Option<Vec<u8>>,
    credential_id: Option<Vec<u8>>,
    package: Option<Vec<u8>>,
    office: String,
    office_revoked: bool,
    token_expires: Option<i64>,
}

impl OfferRow {
    /// The offer whose `column` (its code's or its access token's hash) is `key`.
    async fn locked(tx: &mut PgTx, column: &'static str, key: &[u8]) -> Result<Option<OfferRow>> {
        let sql = format!(
            "SELECT o.code_hash, o.tx_hash, o.officer, o.record, o.portrait, o.expires,
                    o.wrong_tries, o.state, o.holder_key, o.credential_id, o.package, f.name,
                    f.revoked_at IS NOT NULL, o.token_expires
             FROM offers o JOIN offices f ON f.id = o.office_id
             WHERE {column} = $1 FOR UPDATE OF o"
        );
        Ok(tx.one(&sql, &[&key]).await?.map(|r| OfferRow {
            code_hash: r.get(0),
            tx_hash: r.get(1),
            officer: r.get(2),
            record: r.get(3),
            portrait: r.get(4),
            expires: r.get(5),
            wrong_tries: r.get(6),
            state: r.get(7),
            holder_key: r.get(8),
            credential_id: r.get(9),
            package: r.get(10),
            office: r.get(11),
            office_revoked: r.get(12),
            token_expires: r.get(13),
        }))
    }

    /// Whether a code can still be tried: not closed, its office not revoked (a revoked
    /// office's offers are void, even those made before), not expired.
    fn open_at(&self, now: i64) -> Result<()> {
        if self.state == 2 || self.office_revoked {
            return Err(IssuerError::OfferClosed);
        }
        if self.expires <= now {
            return Err(IssuerError::OfferExpired);
        }
        Ok(())
    }

    /// The answer to a redeemed offer: the same holder gets its card again (its first
    /// answer may have been lost); any other is refused.
    fn redelivered(&self, holder: &HolderKey) -> Result<RedeemResponse> {
        let same = self.holder_key.as_deref() == Some(holder.as_bytes());
        match (same, &self.package) {
            (true, Some(p)) => Ok(RedeemResponse {
                package: serde_json::from_slice(p).map_err(|_| damaged("a package"))?,
                credential_id: hex::encode(self.credential_id.as_deref().unwrap_or_default()),
            }),
            // The same wallet, after the package was purged at the offer's expiry (its
            // first answer was lost): not "used by someone else".
            (true, None) => Err(IssuerError::RedeliveryOver),
            (false, _) => Err(IssuerError::OfferUsed),
        }
    }
}

/// Checks that two connections see a schema and a server (readiness).
pub async fn ping(s: &PgStore) -> Result<()> {
    let mut tx = s.begin().await?;
    tx.read_one("SELECT 1", &[]).await?;
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
pub(crate) fn check_name(what: &str, name: &str) -> Result<()> {
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
