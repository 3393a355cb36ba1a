//! The audit log: one record per check and per pairing, personal data only when the
//! operator turned it on, credential ids as salted hashes.

use crate::store::{AUDIT, META};
use crate::{Gate, GateError, Result};
use sha2::{Digest, Sha256};
use tuaton_common::verify::Verdict;

impl Gate {
    /// Whether the audit log keeps names and citizen IDs (off unless the operator turns
    /// it on).
    pub fn set_log_personal_data(&self, on: bool) -> Result<()> {
        self.db
            .open_tree(META)?
            .insert("log-personal-data", &[u8::from(on)])?;
        tuaton_store::flush(&self.db)?;
        Ok(())
    }

    pub(crate) fn salt(&self) -> Result<Vec<u8>> {
        let meta = self.db.open_tree(META)?;
        if let Some(s) = meta.get("audit-salt")? {
            return Ok(s.to_vec());
        }
        let mut s = [0u8; 16];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut s);
        meta.insert("audit-salt", &s)?;
        Ok(s.to_vec())
    }

    /// Writes the audit record of a pairing already made on `v`.
    pub fn audit_pairing(&self, v: &Verdict) -> Result<()> {
        let Some(b) = &v.boarding_pass else {
            return Ok(());
        };
        let personal = self.personal_data()?;
        let j = b.to_json();
        let mut rec = serde_json::json!({
            "time": tuaton_common::model::format_rfc3339(v.checked_at),
            "pairing": if b.matches() { "match" } else { "mismatch" },
            "id_verdict": if v.reasons.is_empty() { "valid" } else { "rejected" },
            "reasons": j["reasons"], "name_match": j["name_match"],
            "carrier": j["carrier"], "flight": j["flight"], "julian_date": j["julian_date"],
            "from": j["from"], "to": j["to"],
            "credential_hash": self.credential_hash(v)?,
        });
        if personal {
            rec["name_on_pass"] = j["name"].clone();
        }
        self.append_audit(&rec)?;
        tuaton_store::flush(&self.db)?;
        Ok(())
    }

    pub(crate) fn personal_data(&self) -> Result<bool> {
        Ok(self
            .db
            .open_tree(META)?
            .get("log-personal-data")?
            .is_some_and(|b| b.as_ref() == [1]))
    }

    /// A salted hash of the credential id: lets an auditor link records of one card
    /// without the log naming it.
    pub(crate) fn credential_hash(&self, v: &Verdict) -> Result<Option<String>> {
        let salt = self.salt()?;
        Ok(v.credential_id.as_ref().map(|c| {
            let h = Sha256::new()
                .chain_update(&salt)
                .chain_update(c.as_bytes())
                .finalize();
            hex::encode(&h[..16])
        }))
    }

    pub(crate) fn append_audit(&self, rec: &serde_json::Value) -> Result<()> {
        let id = self.db.generate_id()?;
        self.db
            .open_tree(AUDIT)?
            .insert(id.to_be_bytes(), serde_json::to_vec(rec).expect("json"))?;
        Ok(())
    }

    pub(crate) fn audit(
        &self,
        v: &Verdict,
        session: Option<&crate::check::SessionFailure>,
    ) -> Result<()> {
        let personal = self.personal_data()?;
        let cred = self.credential_hash(v)?;
        // The one verdict-to-JSON mapping (`check --json`'s), less what an audit record
        // must not keep: the credential id becomes a salted hash, and the claims stay
        // only when personal data is on. A pairing is audited on its own record.
        let mut rec = v.to_json();
        if let Some(o) = rec.as_object_mut() {
            o.remove("credential_id");
            o.remove("boarding_pass");
            if !personal {
                o.remove("claims");
            }
            let time = o.remove("checked_at").unwrap_or_default();
            o.insert("time".into(), time);
            o.insert("credential_hash".into(), cred.into());
            // Why a session gave no answer: its code, and the system's words (never
            // personal data: addresses and protocol errors only).
            if let Some(f) = session {
                o.insert("session_failure".into(), f.code().into());
                if let Some(d) = f.detail() {
                    o.insert("session_detail".into(), d.into());
                }
            }
        }
        self.append_audit(&rec)
    }

    /// The audit log, oldest first.
    pub fn audit_log(&self) -> Result<Vec<serde_json::Value>> {
        let mut out = vec![];
        for item in self.db.open_tree(AUDIT)?.iter() {
            let (_, v) = item?;
            out.push(
                serde_json::from_slice(&v)
                    .map_err(|_| GateError::StoreDamaged("an audit record"))?,
            );
        }
        Ok(out)
    }
}
