//! What `tuaton-verifier status` reports: the bundle the gate holds, its age and expiry,
//! keys and status lists.

use crate::{Gate, Loaded, Result};
use tuaton_common::model::format_rfc3339;
use tuaton_common::verify::Verdict;

/// The gate's bundle as `status` shows it (and `status --json` prints it).
#[derive(Debug, Clone, serde::Serialize)]
pub struct StatusReport {
    /// Root version trusted.
    pub root_version: u64,
    /// Its fingerprint.
    pub root_fingerprint: String,
    /// Trust list version held.
    pub trust_list_version: u64,
    /// When the trust list was published (RFC 3339).
    pub published: String,
    /// Seconds since then.
    pub age_seconds: i64,
    /// When it goes stale (RFC 3339).
    pub expires: String,
    /// Whether it is stale now.
    pub stale: bool,
    /// When the gate last synced (RFC 3339).
    pub synced_at: Option<String>,
    /// The latest time this gate has trusted (RFC 3339).
    pub highest_trusted_time: Option<String>,
    /// Issuers: number and name.
    pub issuers: Vec<IssuerRow>,
    /// Signing keys.
    pub keys: Vec<KeyRow>,
    /// Status lists.
    pub status_lists: Vec<StatusRow>,
    /// The mdoc IACA certificates the trust list carries: (issuer, subject).
    pub iacas: Vec<(u32, String)>,
    /// This gate's ISO 18013-5 reader certificate: its subject and expiry (RFC 3339), or
    /// why it does not serve; `None` when none is installed.
    pub reader_certificate: Option<ReaderRow>,
}

/// The gate's reader certificate.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ReaderRow {
    /// Its subject, when it checks.
    pub subject: Option<String>,
    /// Its expiry (RFC 3339), when it checks.
    pub not_after: Option<String>,
    /// Why it does not serve, when it does not.
    pub problem: Option<String>,
}

/// One issuer.
#[derive(Debug, Clone, serde::Serialize)]
pub struct IssuerRow {
    /// Its number.
    pub id: u32,
    /// Its name.
    pub name: String,
}

/// One signing key.
#[derive(Debug, Clone, serde::Serialize)]
pub struct KeyRow {
    /// Issuer number.
    pub issuer: u32,
    /// Key id, hex.
    pub kid: String,
    /// active, retired or revoked.
    pub state: &'static str,
    /// Start of its signing window (RFC 3339).
    pub not_before: String,
    /// End of its signing window (RFC 3339), if any.
    pub not_after: Option<String>,
}

/// One status list.
#[derive(Debug, Clone, serde::Serialize)]
pub struct StatusRow {
    /// Issuer number.
    pub issuer: u32,
    /// List number.
    pub list: u32,
    /// Entries.
    pub entries: u64,
    /// Revoked entries.
    pub revoked: u64,
    /// Its own expiry (RFC 3339), if it has one.
    pub valid_until: Option<String>,
}

impl StatusReport {
    /// The report of `loaded` (from `gate`) as of `now`.
    pub fn new(gate: &Gate, loaded: &Loaded, now: i64) -> Result<StatusReport> {
        let l = &loaded.state.trust_list.list;
        Ok(StatusReport {
            root_version: loaded.state.root.root.version,
            root_fingerprint: loaded.state.root.root.fingerprint(),
            trust_list_version: l.version,
            published: format_rfc3339(l.issued_at),
            age_seconds: now - l.issued_at,
            expires: format_rfc3339(l.expires),
            stale: now >= l.expires,
            synced_at: gate.synced_at()?.map(format_rfc3339),
            highest_trusted_time: gate.highest_trusted_time()?.map(format_rfc3339),
            issuers: loaded
                .trust
                .issuers
                .iter()
                .map(|i| IssuerRow {
                    id: i.id,
                    name: i.name.clone(),
                })
                .collect(),
            keys: loaded
                .trust
                .keys
                .iter()
                .map(|k| KeyRow {
                    issuer: k.issuer,
                    kid: hex::encode(&k.kid),
                    state: k.state.name(),
                    not_before: format_rfc3339(k.not_before),
                    not_after: k.not_after.map(format_rfc3339),
                })
                .collect(),
            status_lists: loaded
                .status
                .iter()
                .map(|((i, n), c)| StatusRow {
                    issuer: *i,
                    list: *n,
                    entries: c.bits.size(),
                    revoked: c.bits.count(),
                    valid_until: c.valid_until.map(format_rfc3339),
                })
                .collect(),
            iacas: loaded
                .trust
                .iacas
                .iter()
                .map(|(i, c)| (*i, c.subject().to_owned()))
                .collect(),
            reader_certificate: match gate.reader_certificate(loaded, now) {
                Ok(None) => None,
                Ok(Some(c)) => Some(ReaderRow {
                    subject: Some(c.subject),
                    not_after: Some(format_rfc3339(c.not_after)),
                    problem: None,
                }),
                Err(e) => Some(ReaderRow {
                    subject: None,
                    not_after: None,
                    problem: Some(e.to_string()),
                }),
            },
        })
    }

    /// The report as staff read it.
    pub fn to_text(&self) -> String {
        let mut s = format!(
            "Root version {} (fingerprint {})\nTrust list version {}, published {}, expires {}{}\n",
            self.root_version,
            self.root_fingerprint,
            self.trust_list_version,
            self.published,
            self.expires,
            if self.stale {
                "  STALE: sync when online"
            } else {
                ""
            }
        );
        for k in &self.keys {
            s.push_str(&format!(
                "  key {} issuer {} {}\n",
                k.kid, k.issuer, k.state
            ));
        }
        for l in &self.status_lists {
            s.push_str(&format!(
                "  status list {}-{}: {} entries, {} revoked\n",
                l.issuer, l.list, l.entries, l.revoked
            ));
        }
        for (i, subject) in &self.iacas {
            s.push_str(&format!(
                "  mdoc IACA of issuer {i}: {}\n",
                tuaton_common::text::for_display(subject)
            ));
        }
        match &self.reader_certificate {
            None => s.push_str("  reader certificate: none (mdoc engagements cannot be read)\n"),
            Some(ReaderRow {
                subject: Some(sub),
                not_after: Some(t),
                ..
            }) => s.push_str(&format!(
                "  reader certificate: {}, valid until {t}\n",
                tuaton_common::text::for_display(sub)
            )),
            Some(r) => s.push_str(&format!(
                "  reader certificate: NOT USABLE: {}\n",
                r.problem.as_deref().unwrap_or("-")
            )),
        }
        s.trim_end().to_owned()
    }
}

/// A verdict as `check` prints it for people: VALID or REJECTED with each reason in
/// English and Thai, warnings, the claims (the citizen ID masked, anything a credential
/// says neutralised so it cannot change how the lines around it look), the issuer, the
/// boarding pass pairing, the policy and the time.
pub fn verdict_text(v: &Verdict) -> String {
    let mut s = String::new();
    if v.is_valid() {
        s.push_str("VALID\n");
    } else {
        s.push_str("REJECTED\n");
        for r in &v.reasons {
            let (en, th) = r.describe();
            s.push_str(&format!("  reason: {} ({en} / {th})\n", r.code()));
        }
        if v.pass_missing() {
            let (en, th) = Verdict::PASS_REQUIRED_WORDS;
            s.push_str(&format!("  reason: boarding_pass_required ({en} / {th})\n"));
        }
    }
    for w in &v.warnings {
        let (en, th) = w.describe();
        s.push_str(&format!("  warning: {} ({en} / {th})\n", w.code()));
    }
    if let Some(c) = &v.claims {
        let j = c.to_json();
        for (k, val) in j.as_object().into_iter().flatten() {
            let shown = match (k.as_str(), val.as_str()) {
                ("citizen_id", Some(id)) => id
                    .parse::<tuaton_common::model::CitizenId>()
                    .map(|c| c.masked())
                    .unwrap_or_default(),
                (_, Some(t)) => t.to_owned(),
                _ => val.to_string(),
            };
            // Nothing a credential says may change how the lines around it look.
            let shown = tuaton_common::text::for_display(&shown);
            s.push_str(&format!("  {k}: {shown}\n"));
        }
    }
    if let Some(i) = &v.issuer {
        s.push_str(&format!(
            "  issuer: {}, key {}\n",
            tuaton_common::text::for_display(i),
            v.kid.as_deref().unwrap_or("-")
        ));
    }
    if let Some(b) = &v.boarding_pass {
        for p in &b.problems {
            let (en, th) = p.describe();
            s.push_str(&format!("  reason: {} ({en} / {th})\n", p.code()));
        }
        if let (Some(pass), Some(l)) = (&b.pass, b.judged_leg()) {
            s.push_str(&format!(
                "  boarding pass: {} {} {}-{} day {} seat {} seq {}, name {} ({})\n",
                l.carrier,
                l.flight,
                l.from,
                l.to,
                l.julian_date,
                l.seat_shown(),
                l.sequence,
                tuaton_common::text::for_display(&pass.name),
                b.to_json()["name_match"].as_str().unwrap_or("-"),
            ));
        }
    }
    s.push_str(&format!("  policy: {}\n", v.policy.code()));
    s.push_str(&format!("  checked at: {}", format_rfc3339(v.checked_at)));
    s
}
