//! Officers, their passwords and their signed-in browsers, in PostgreSQL.
//!
//! Passwords are hashed with Argon2id (RFC 9106's second recommended setting scaled to a
//! server: 19 MiB, 2 passes, as OWASP advises) and kept as
//! `argon2id$v=19$m=M,t=T,p=P$SALT$HASH` (base64url). Five wrong passwords in a row lock
//! the account for 15 minutes. A session is a random cookie of which only the hash is
//! kept; it ends after 15 minutes without a request, or at sign-out.

use crate::pg::{check_name, owned, Office, PgStore};
use crate::seam::{Store as _, Txn as _};
use crate::{Issuer, IssuerError, Result};
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::Engine as _;
use sha2::{Digest, Sha256};

/// Wrong passwords in a row before the account locks.
pub const MAX_FAILED: i32 = 5;
/// How long a locked account stays locked.
pub const LOCK_SECS: i64 = 15 * 60;
/// A session ends after this long without a request.
pub const IDLE_SECS: i64 = 15 * 60;
/// The shortest password accepted.
pub const MIN_PASSWORD: usize = 10;

const M_KIB: u32 = 19 * 1024;
const T: u32 = 2;

/// The Argon2id hash of `password` with `salt`.
fn argon2id(password: &str, salt: &[u8], m_kib: u32, t: u32) -> Result<[u8; 32]> {
    let params = argon2::Params::new(m_kib, t, 1, Some(32))
        .map_err(|e| IssuerError::Usage(format!("password hashing: {e}")))?;
    let mut out = [0u8; 32];
    argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params)
        .hash_password_into(password.as_bytes(), salt, &mut out)
        .map_err(|e| IssuerError::Usage(format!("password hashing: {e}")))?;
    Ok(out)
}

/// A new password's stored form.
pub fn hash_password(password: &str) -> Result<String> {
    if password.chars().count() < MIN_PASSWORD {
        return Err(IssuerError::Usage(format!(
            "the password must have at least {MIN_PASSWORD} characters"
        )));
    }
    let salt = rand::random::<[u8; 16]>();
    let h = argon2id(password, &salt, M_KIB, T)?;
    Ok(format!(
        "argon2id$v=19$m={M_KIB},t={T},p=1${}${}",
        B64URL.encode(salt),
        B64URL.encode(h)
    ))
}

/// Whether `password` is the one `stored` was made from (constant time in the hash).
fn password_matches(stored: &str, password: &str) -> bool {
    let parts: Vec<&str> = stored.split('$').collect();
    let [alg, "v=19", params, salt, hash] = parts[..] else {
        return false;
    };
    if alg != "argon2id" {
        return false;
    }
    let mut m = 0;
    let mut t = 0;
    for kv in params.split(',') {
        match kv.split_once('=') {
            Some(("m", v)) => m = v.parse().unwrap_or(0),
            Some(("t", v)) => t = v.parse().unwrap_or(0),
            _ => {}
        }
    }
    let (Ok(salt), Ok(want)) = (B64URL.decode(salt), B64URL.decode(hash)) else {
        return false;
    };
    match argon2id(password, &salt, m, t) {
        Ok(got) => crate::same_secret(&got, &want),
        Err(_) => false,
    }
}

/// A signed-in officer, as a console request knows them.
#[derive(Clone, Debug)]
pub struct Officer {
    /// Row id.
    pub id: i64,
    /// Their name (shown, and recorded in the audit).
    pub name: String,
    /// Their office.
    pub office: Office,
}

/// A session cookie's value and its form token.
pub struct NewSession {
    /// The cookie value.
    pub cookie: String,
}

fn session_hash(cookie: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"tuaton console session v1");
    h.update(cookie.as_bytes());
    h.finalize().into()
}

/// A row of today's issuances for an office.
#[derive(Debug)]
pub struct Issued {
    /// When (Unix seconds).
    pub at: i64,
    /// The officer, as recorded.
    pub officer: String,
    /// The credential id, hex.
    pub credential_id: String,
}

/// Where an offer the console made stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OfferState {
    /// Not yet redeemed.
    Waiting,
    /// The phone's wallet asked for its token or took its card.
    Received,
    /// Redeemed: the card is issued.
    Issued,
    /// Closed (wrong codes, a revoked office) or expired.
    Closed,
    /// Its time ran out.
    Expired,
}

impl OfferState {
    /// Its name in the status JSON.
    pub fn name(self) -> &'static str {
        match self {
            OfferState::Waiting => "waiting",
            OfferState::Received => "received",
            OfferState::Issued => "issued",
            OfferState::Closed => "closed",
            OfferState::Expired => "expired",
        }
    }
}

impl Issuer<PgStore> {
    /// `officer add`: an officer of `office` with `password`.
    pub async fn add_officer(
        &self,
        name: &str,
        office: &str,
        password: &str,
        actor: &crate::Actor,
        now: i64,
    ) -> Result<()> {
        check_name("the officer's name", name)?;
        let hash = hash_password(password)?;
        let mut tx = self.store().begin().await?;
        let office_id: i64 = tx
            .one(
                "SELECT id FROM offices WHERE name = $1 AND revoked_at IS NULL",
                &[&office],
            )
            .await?
            .ok_or_else(|| IssuerError::NoSuchOffice(office.to_owned()))?
            .get(0);
        let n = tx
            .exec(
                "INSERT INTO officers (office_id, name, password_hash, created_at)
                 VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                &[&office_id, &name, &hash, &now],
            )
            .await?;
        if n == 0 {
            return Err(IssuerError::OfficerExists(name.to_owned()));
        }
        tx.audit(&crate::core::audit(
            now,
            actor,
            "officer add",
            &format!("{name} of {office}"),
        ))
        .await?;
        tx.commit().await
    }

    /// `officer revoke`: the officer can no longer sign in, and their sessions end.
    pub async fn revoke_officer(&self, name: &str, actor: &crate::Actor, now: i64) -> Result<()> {
        let mut tx = self.store().begin().await?;
        let id: i64 = tx
            .one(
                "UPDATE officers SET revoked_at = $2 WHERE name = $1 AND revoked_at IS NULL
                 RETURNING id",
                &[&name as &(dyn tokio_postgres::types::ToSql + Sync), &now],
            )
            .await?
            .ok_or_else(|| IssuerError::NoSuchOfficer(name.to_owned()))?
            .get(0);
        tx.queue(
            "DELETE FROM console_sessions WHERE officer_id = $1",
            owned![id],
        )
        .await?;
        tx.audit(&crate::core::audit(now, actor, "officer revoke", name))
            .await?;
        tx.commit().await
    }

    /// Every active officer, with their office, and whether sign-in is locked now.
    pub async fn officers(&self, now: i64) -> Result<Vec<(String, String, bool)>> {
        let mut tx = self.store().begin().await?;
        let rows = tx
            .read_all(
                "SELECT o.name, f.name, o.locked_until > $1 FROM officers o
                 JOIN offices f ON f.id = o.office_id
                 WHERE o.revoked_at IS NULL ORDER BY f.name, o.name",
                &[&now],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .collect())
    }

    /// Signs an officer in: a new session, or why not. Every wrong password counts; the
    /// fifth in a row locks the account for [`LOCK_SECS`]. An unknown name, a wrong
    /// password and a locked account take the same time (one hash each) and get the same
    /// answer, so neither says which names exist. The hash runs off the async workers and
    /// outside any transaction: no row stays locked while it runs.
    pub async fn sign_in(&self, name: &str, password: &str, now: i64) -> Result<NewSession> {
        let mut tx = self.store().begin().await?;
        let row = tx
            .read_one(
                "SELECT o.id, o.password_hash, o.locked_until
                 FROM officers o JOIN offices f ON f.id = o.office_id
                 WHERE o.name = $1 AND o.revoked_at IS NULL AND f.revoked_at IS NULL",
                &[&name],
            )
            .await?;
        drop(tx);
        let (id, stored, locked_until): (Option<i64>, String, i64) = match &row {
            Some(r) => (Some(r.get(0)), r.get(1), r.get(2)),
            None => (None, String::new(), 0),
        };
        let typed = password.to_owned();
        let matches = tokio::task::spawn_blocking(move || {
            if stored.is_empty() {
                // As long as a real check.
                let _ = argon2id(&typed, &[0; 16], M_KIB, T);
                false
            } else {
                password_matches(&stored, &typed)
            }
        })
        .await
        .unwrap_or(false);
        let Some(id) = id else {
            return Err(IssuerError::WrongPassword);
        };
        if locked_until > now {
            return Err(IssuerError::WrongPassword);
        }
        let mut tx = self.store().begin().await?;
        if !matches {
            // Counted in one statement: concurrent tries cannot lose a count.
            tx.exec(
                "UPDATE officers SET
                        locked_until = CASE WHEN failed + 1 >= $2 THEN $3 ELSE locked_until END,
                        failed = CASE WHEN failed + 1 >= $2 THEN 0 ELSE failed + 1 END
                 WHERE id = $1",
                &[&id, &MAX_FAILED, &(now + LOCK_SECS)],
            )
            .await?;
            tx.commit().await?;
            return Err(IssuerError::WrongPassword);
        }
        // Still not locked now (another try may have locked it while the hash ran).
        let open = tx
            .exec(
                "UPDATE officers SET failed = 0 WHERE id = $1 AND locked_until <= $2",
                &[&id, &now],
            )
            .await?;
        if open == 0 {
            return Err(IssuerError::WrongPassword);
        }
        let cookie = B64URL.encode(rand::random::<[u8; 32]>());
        let csrf = B64URL.encode(rand::random::<[u8; 24]>());
        // Sessions idle past their time go as others begin.
        tx.queue(
            "DELETE FROM console_sessions WHERE last_seen < $1",
            owned![now - IDLE_SECS],
        )
        .await?;
        tx.queue(
            "INSERT INTO console_sessions (token_hash, officer_id, csrf, created_at, last_seen)
             VALUES ($1, $2, $3, $4, $4)",
            owned![session_hash(&cookie).to_vec(), id, csrf, now],
        )
        .await?;
        tx.commit().await?;
        Ok(NewSession { cookie })
    }

    /// Ends a lockout (an administrator's, after checking who was locked out and why).
    pub async fn unlock_officer(&self, name: &str, actor: &crate::Actor, now: i64) -> Result<()> {
        let mut tx = self.store().begin().await?;
        let n = tx
            .exec(
                "UPDATE officers SET failed = 0, locked_until = 0
                 WHERE name = $1 AND revoked_at IS NULL",
                &[&name],
            )
            .await?;
        if n == 0 {
            return Err(IssuerError::NoSuchOfficer(name.to_owned()));
        }
        tx.audit(&crate::core::audit(now, actor, "officer unlock", name))
            .await?;
        tx.commit().await
    }

    /// The officer a session cookie belongs to and the session's form token; the session
    /// is kept alive. `None`: no such session, or it was idle too long.
    pub async fn session(&self, cookie: &str, now: i64) -> Result<Option<(Officer, String)>> {
        let mut tx = self.store().begin().await?;
        let row = tx
            .one(
                "UPDATE console_sessions s SET last_seen = $2
                 FROM officers o JOIN offices f ON f.id = o.office_id
                 WHERE s.token_hash = $1 AND s.last_seen >= $3 AND o.id = s.officer_id
                   AND o.revoked_at IS NULL AND f.revoked_at IS NULL
                 RETURNING o.id, o.name, f.id, f.name, f.admin, s.csrf",
                &[&session_hash(cookie).as_slice(), &now, &(now - IDLE_SECS)],
            )
            .await?;
        tx.commit().await?;
        Ok(row.map(|r| {
            (
                Officer {
                    id: r.get(0),
                    name: r.get(1),
                    office: Office {
                        id: r.get(2),
                        name: r.get(3),
                        admin: r.get(4),
                    },
                },
                r.get(5),
            )
        }))
    }

    /// Ends a session.
    pub async fn sign_out(&self, cookie: &str) -> Result<()> {
        let mut tx = self.store().begin().await?;
        tx.exec(
            "DELETE FROM console_sessions WHERE token_hash = $1",
            &[&session_hash(cookie).as_slice()],
        )
        .await?;
        tx.commit().await
    }

    /// Where the offer `code_hash` that officer `officer` made stands, and its expiry;
    /// `None` if it is not this officer's office's.
    pub async fn console_offer(
        &self,
        code_hash: &[u8],
        office_id: i64,
        now: i64,
    ) -> Result<Option<(OfferState, i64)>> {
        let mut tx = self.store().begin().await?;
        let row = tx
            .read_one(
                "SELECT state, expires FROM offers WHERE code_hash = $1 AND office_id = $2",
                &[&code_hash, &office_id],
            )
            .await?;
        Ok(row.map(|r| {
            let (state, expires): (i16, i64) = (r.get(0), r.get(1));
            let s = match state {
                1 => OfferState::Issued,
                2 => OfferState::Closed,
                _ if expires <= now => OfferState::Expired,
                3 => OfferState::Received,
                _ => OfferState::Waiting,
            };
            (s, expires)
        }))
    }

    /// The cards an office issued since `since` (newest first, at most 200).
    pub async fn issued_since(&self, office: &str, since: i64) -> Result<Vec<Issued>> {
        let mut tx = self.store().begin().await?;
        let prefix = format!("{office}/");
        let rows = tx
            .read_all(
                "SELECT issued_at, actor, credential_id FROM credentials
                 WHERE left(actor, length($1)) = $1 AND issued_at >= $2
                 ORDER BY issued_at DESC LIMIT 200",
                &[&prefix, &since],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| Issued {
                at: r.get(0),
                officer: r
                    .get::<_, String>(1)
                    .strip_prefix(&prefix)
                    .unwrap_or_default()
                    .to_owned(),
                credential_id: hex::encode(r.get::<_, Vec<u8>>(2)),
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_matches_only_itself_and_its_stored_form_is_checked() {
        let stored = hash_password("correct horse battery").unwrap();
        assert!(stored.starts_with("argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(password_matches(&stored, "correct horse battery"));
        assert!(!password_matches(&stored, "correct horse batterx"));
        assert!(!password_matches("argon2id$v=19$m=8,t=1,p=1$$", "x"));
        assert!(!password_matches("plain", "plain"));
        assert!(hash_password("short").is_err());
    }
}
