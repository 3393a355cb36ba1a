//! The offline verify engine: QR text (or CBOR) + now + trust store + status view +
//! replay view in, one structured verdict out. Pure: the caller supplies the time and
//! every piece of state; the engine never reads a clock, file or network.

use crate::error::Error;
use crate::gate::{self, DisclosedClaims, Group, StatusRef};
use crate::model::Expiry;
use crate::presentation::{self, holder_proof_message, Presentation};
use crate::trust::{IssuerKey, KeyState, TrustStore};
use ed25519_dalek::{Signature, VerifyingKey};
use sha2::{Digest, Sha256};

/// Why a presentation was rejected. Codes are part of the command-line contract (`check --json`).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
#[non_exhaustive]
pub enum Reason {
    /// Not a presentation we can decode.
    Malformed,
    /// A tuaton payload of a version this gate does not support.
    UnsupportedVersion,
    /// No trusted key of the issuer has this kid.
    UnknownIssuerKey,
    /// No key with this kid verifies the issuer signature.
    BadIssuerSignature,
    /// The signing key was revoked: nothing it signed verifies.
    IssuerKeyRevoked,
    /// The credential was issued outside the key's signing window.
    IssuerKeyNotValidAtIssuance,
    /// Before the card's issue date.
    CredentialNotYetValid,
    /// After the card's expiry.
    CredentialExpired,
    /// The issuer set the credential's revocation bit.
    CredentialRevoked,
    /// A disclosure does not match the digest the issuer signed.
    DigestMismatch,
    /// The holder's signature does not verify with the key bound in the credential.
    BadHolderProof,
    /// The holder proof is older than the freshness window.
    PresentationStale,
    /// The holder proof is dated in the future beyond the allowed clock skew.
    PresentationFromFuture,
    /// This exact presentation was already checked.
    Replayed,
    /// A BLE or socket session failed: the phone stopped answering, or a message was
    /// damaged, or came from another session.
    SessionFailed,
    /// The gate's trust data expired longer ago than its policy allows (freeze attack
    /// protection; off unless the operator sets a grace period).
    TrustExpired,
    /// The presentation does not disclose what the gate's policy requires (for `flight`:
    /// names, citizen ID and birth date), or a session answer lacks a group the gate asked
    /// for (the portrait included).
    InsufficientDisclosure,
    /// The gate requires proof of age 20 and the card says the holder is under 20.
    UnderAge,
}

impl Reason {
    /// The stable code scripts see.
    pub fn code(self) -> &'static str {
        match self {
            Reason::Malformed => "malformed",
            Reason::UnsupportedVersion => "unsupported_version",
            Reason::UnknownIssuerKey => "unknown_issuer_key",
            Reason::BadIssuerSignature => "bad_issuer_signature",
            Reason::IssuerKeyRevoked => "issuer_key_revoked",
            Reason::IssuerKeyNotValidAtIssuance => "issuer_key_not_valid_at_issuance",
            Reason::CredentialNotYetValid => "credential_not_yet_valid",
            Reason::CredentialExpired => "credential_expired",
            Reason::CredentialRevoked => "credential_revoked",
            Reason::DigestMismatch => "digest_mismatch",
            Reason::BadHolderProof => "bad_holder_proof",
            Reason::PresentationStale => "presentation_stale",
            Reason::PresentationFromFuture => "presentation_from_future",
            Reason::Replayed => "replayed",
            Reason::TrustExpired => "trust_expired",
            Reason::SessionFailed => "session_failed",
            Reason::InsufficientDisclosure => "insufficient_disclosure",
            Reason::UnderAge => "under_age",
        }
    }
    /// Plain words for gate staff, English then Thai.
    pub fn describe(self) -> (&'static str, &'static str) {
        match self {
            Reason::Malformed => ("Not a readable ID presentation", "อ่านข้อมูลบัตรไม่ได้"),
            Reason::UnsupportedVersion => {
                ("Presentation version not supported", "ไม่รองรับรุ่นของข้อมูลนี้")
            }
            Reason::UnknownIssuerKey => {
                ("Issuer key not known to this gate", "ไม่รู้จักกุญแจของผู้ออกบัตร")
            }
            Reason::BadIssuerSignature => (
                "Issuer signature is not valid (forged or altered)",
                "ลายมือชื่อผู้ออกบัตรไม่ถูกต้อง",
            ),
            Reason::IssuerKeyRevoked => ("Issuer key has been revoked", "กุญแจผู้ออกบัตรถูกเพิกถอน"),
            Reason::IssuerKeyNotValidAtIssuance => (
                "Issuer key was not valid when the card was issued",
                "กุญแจไม่มีผลในวันที่ออกบัตร",
            ),
            Reason::CredentialNotYetValid => ("Card is not valid yet", "บัตรยังไม่มีผล"),
            Reason::CredentialExpired => ("Card has expired", "บัตรหมดอายุ"),
            Reason::CredentialRevoked => ("Card has been revoked", "บัตรถูกเพิกถอน"),
            Reason::DigestMismatch => ("Card data was altered", "ข้อมูลบัตรถูกแก้ไข"),
            Reason::BadHolderProof => (
                "Not presented by the card's own phone",
                "ไม่ได้แสดงจากเครื่องของเจ้าของบัตร",
            ),
            Reason::PresentationStale => (
                "QR code is too old: ask for a fresh one",
                "คิวอาร์โค้ดเก่าเกินไป",
            ),
            Reason::PresentationFromFuture => (
                "QR code is dated in the future: check clocks",
                "เวลาในคิวอาร์โค้ดล้ำหน้า",
            ),
            Reason::Replayed => ("This QR code was already used", "คิวอาร์โค้ดนี้ถูกใช้แล้ว"),
            Reason::TrustExpired => (
                "Gate trust data too old: sync, then scan again",
                "ข้อมูลความเชื่อถือหมดอายุ",
            ),
            Reason::SessionFailed => (
                "No answer from the phone: scan its QR again",
                "ไม่ได้รับข้อมูลจากโทรศัพท์",
            ),
            Reason::InsufficientDisclosure => (
                "Shows too little: ask for the flight QR",
                "ข้อมูลไม่ครบ ขอคิวอาร์สำหรับขึ้นเครื่อง",
            ),
            Reason::UnderAge => ("Holder is not over 20", "ผู้ถือบัตรอายุไม่ถึง 20 ปี"),
        }
    }
}

/// Something the operator should know even when the verdict is valid.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
#[non_exhaustive]
pub enum Warning {
    /// The trust bundle is past its expiry: sync when online.
    TrustStale,
    /// The status list is missing or past its expiry: revocations may be missed.
    StatusStale,
    /// The clock is behind the latest trusted time this gate has seen.
    ClockRollback,
    /// The card's form carries no revocation reference the gate can look up (an ISO
    /// 18013-5 mdoc: its short-lived MSO bounds how long a revoked card still passes).
    StatusUnchecked,
}

impl Warning {
    /// Plain words for gate staff, English then Thai.
    pub fn describe(self) -> (&'static str, &'static str) {
        match self {
            Warning::TrustStale => ("Trust data out of date: sync", "ข้อมูลความเชื่อถือล้าสมัย"),
            Warning::StatusStale => ("Revocation list old or missing", "รายการเพิกถอนล้าสมัยหรือไม่มี"),
            Warning::ClockRollback => ("Gate clock set back: check it", "นาฬิกาถูกตั้งย้อนหลัง"),
            Warning::StatusUnchecked => (
                "Revocation not checkable for this card form",
                "ตรวจสอบการเพิกถอนบัตรรูปแบบนี้ไม่ได้",
            ),
        }
    }
    /// The stable code scripts see.
    pub fn code(self) -> &'static str {
        match self {
            Warning::TrustStale => "trust_stale",
            Warning::StatusStale => "status_stale",
            Warning::ClockRollback => "clock_rollback",
            Warning::StatusUnchecked => "status_unchecked",
        }
    }
}

/// One verification's outcome.
#[derive(Clone, Debug, PartialEq)]
pub struct Verdict {
    /// Empty when valid.
    pub reasons: Vec<Reason>,
    /// Warnings, whatever the verdict.
    pub warnings: Vec<Warning>,
    /// Claims, present once the issuer signature and digests checked out (so an expired
    /// or revoked card still shows whose it is).
    pub claims: Option<DisclosedClaims>,
    /// Issuer display name (or number) once known.
    pub issuer: Option<String>,
    /// Key id (hex) once parsed.
    pub kid: Option<String>,
    /// Credential id (hex) once parsed.
    pub credential_id: Option<String>,
    /// The time the check was made as of.
    pub checked_at: i64,
    /// The requirement the gate applied.
    pub policy: Requirement,
    /// The boarding pass shown with the ID and how it compares, when there was one
    /// (see [`Verdict::pair`]). A pass that does not go with the card rejects the verdict.
    pub boarding_pass: Option<crate::bcbp::PassCheck>,
    /// The gate requires a boarding pass with every ID ([`Policy::require_boarding_pass`]).
    pub pass_required: bool,
    /// Which presentation this was: the SHA-256 of what the holder signed, once the holder
    /// proof verified (the replay cache's key). A re-encoded QR of the same presentation
    /// has the same one. Not part of `check --json`.
    pub presentation: Option<[u8; 32]>,
}

impl Verdict {
    fn new(now: i64) -> Self {
        Verdict {
            reasons: vec![],
            warnings: vec![],
            claims: None,
            issuer: None,
            kid: None,
            credential_id: None,
            checked_at: now,
            policy: Requirement::default(),
            boarding_pass: None,
            pass_required: false,
            presentation: None,
        }
    }
    pub(crate) fn reject(mut self, r: Reason) -> Self {
        self.reasons.push(r);
        self
    }
    /// Whether the presentation is accepted (and, when a boarding pass was paired with
    /// it, the pass goes with the card).
    pub fn is_valid(&self) -> bool {
        self.reasons.is_empty()
            && self.boarding_pass.as_ref().is_none_or(|b| b.matches())
            && !self.pass_missing()
    }

    /// The gate requires a boarding pass and none is paired (yet): rejected with
    /// `boarding_pass_required` until one is.
    pub fn pass_missing(&self) -> bool {
        self.pass_required && self.boarding_pass.is_none()
    }

    /// Plain words, English then Thai, for a missing required boarding pass.
    pub const PASS_REQUIRED_WORDS: (&'static str, &'static str) = (
        "Boarding pass required: scan it",
        "ต้องมีบัตรโดยสาร: สแกนบัตรโดยสาร",
    );

    /// Pairs the boarding pass `text` with this verdict: its name is compared with the
    /// card's authentic English name (none when the ID showed no claims), its date with
    /// today in Thai time at `now`, its departure with `airport` when the gate knows
    /// where it is. Replaces any earlier pairing.
    pub fn pair(&mut self, text: &str, now: i64, airport: Option<&str>) {
        self.boarding_pass = Some(crate::bcbp::cross_check(
            text,
            self.claims.as_ref(),
            now,
            airport,
        ));
    }

    /// Every reason code: the ID's, then the boarding pass's.
    pub fn reason_codes(&self) -> Vec<&'static str> {
        let pass = self
            .boarding_pass
            .iter()
            .flat_map(|b| b.problems.iter().map(|p| p.code()));
        let missing = self.pass_missing().then_some("boarding_pass_required");
        self.reasons
            .iter()
            .map(|r| r.code())
            .chain(pass)
            .chain(missing)
            .collect()
    }
    /// The CLI's `check --json` object.
    pub fn to_json(&self) -> serde_json::Value {
        let at = crate::model::try_format_rfc3339(self.checked_at).unwrap_or_default();
        let mut j = serde_json::json!({
            "verdict": if self.is_valid() { "valid" } else { "rejected" },
            "reasons": self.reason_codes(),
            "warnings": self.warnings.iter().map(|w| w.code()).collect::<Vec<_>>(),
            "claims": self.claims.as_ref().map(|c| c.to_json()).unwrap_or_else(|| serde_json::json!({})),
            "issuer": self.issuer,
            "kid": self.kid,
            "credential_id": self.credential_id,
            "checked_at": at,
            "policy": self.policy.code(),
        });
        if let Some(b) = &self.boarding_pass {
            j["boarding_pass"] = b.to_json();
        }
        j
    }
}

/// The answer about one status bit.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum StatusLookup {
    /// Bit clear, list current.
    Good,
    /// Bit set.
    Revoked,
    /// Bit clear, but the list is past its expiry.
    GoodButStale,
    /// No list for this reference.
    Unknown,
}

/// Revocation status as the gate holds it (a verified bitset per list).
pub trait StatusView {
    /// The state of the bit `status` of `issuer`, as of `now`.
    fn lookup(&self, issuer: u32, status: StatusRef, now: i64) -> StatusLookup;
}

/// No status data at all (every lookup is Unknown).
pub struct NoStatus;
impl StatusView for NoStatus {
    fn lookup(&self, _: u32, _: StatusRef, _: i64) -> StatusLookup {
        StatusLookup::Unknown
    }
}

/// The replay cache: remembers presentations until they would be stale anyway.
pub trait ReplayView {
    /// Records `key` (kept until `keep_until`) and says whether it was already there.
    fn check_and_record(&mut self, key: [u8; 32], keep_until: i64, now: i64) -> bool;
}

/// An in-memory replay cache (tests, the demo; the gate persists its own in sled).
#[derive(Default, Debug)]
pub struct MemoryReplay {
    seen: std::collections::HashMap<[u8; 32], i64>,
}
impl ReplayView for MemoryReplay {
    fn check_and_record(&mut self, key: [u8; 32], keep_until: i64, now: i64) -> bool {
        self.seen.retain(|_, until| *until >= now);
        self.seen.insert(key, keep_until).is_some()
    }
}

/// What a gate requires a presentation to disclose (`--require`).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub enum Requirement {
    /// An airport gate: names (Thai and English), citizen ID and birth date.
    #[default]
    Flight,
    /// Proof of age: `age_over_20`, and it must be true.
    Age,
    /// Everything a QR can carry: the flight claims, the details group, both age claims.
    Full,
}

impl Requirement {
    /// The name used by `--require` and in `check --json`'s `policy`.
    pub fn code(self) -> &'static str {
        match self {
            Requirement::Flight => "flight",
            Requirement::Age => "age",
            Requirement::Full => "full",
        }
    }

    /// The disclosure groups this requirement needs.
    pub fn groups(self) -> &'static [Group] {
        match self {
            Requirement::Flight => &[Group::Flight],
            Requirement::Age => &[Group::AgeOver20],
            Requirement::Full => &[
                Group::Flight,
                Group::Details,
                Group::AgeOver18,
                Group::AgeOver20,
            ],
        }
    }

    /// Whether `c` holds every claim this requirement needs (a group's claims count only
    /// when all of them are there).
    pub fn met_by(self, c: &DisclosedClaims) -> bool {
        self.groups().iter().all(|g| group_disclosed(*g, c))
    }
}

fn group_disclosed(g: Group, c: &DisclosedClaims) -> bool {
    match g {
        Group::Flight => {
            c.citizen_id.is_some()
                && c.given_name_th.is_some()
                && c.family_name_th.is_some()
                && c.given_name_en.is_some()
                && c.family_name_en.is_some()
                && c.birth_date.is_some()
        }
        Group::Details => c.address.is_some() && c.laser_code.is_some(),
        Group::Portrait => c.portrait.is_some(),
        Group::AgeOver18 => c.age_over_18.is_some(),
        Group::AgeOver20 => c.age_over_20.is_some(),
    }
}

impl std::str::FromStr for Requirement {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "flight" => Ok(Requirement::Flight),
            "age" => Ok(Requirement::Age),
            "full" => Ok(Requirement::Full),
            _ => Err(format!(
                "`{}` is not one of flight, age, full",
                s.escape_debug()
            )),
        }
    }
}

/// Verification settings a gate operator may tune.
#[derive(Clone, Copy, Debug)]
pub struct Policy {
    /// How old a holder proof may be, seconds.
    pub max_age: i64,
    /// How far in the future a holder proof may be dated (clock skew), seconds.
    pub max_skew: i64,
    /// Past the trust data's expiry by more than this many seconds, refuse everything
    /// (`trust_expired`). `None`: only warn (`trust_stale`), so a gate cut off from the
    /// network for days keeps working.
    pub refuse_stale_after: Option<i64>,
    /// What must be disclosed.
    pub require: Requirement,
    /// An ID alone is not enough: a boarding pass must be paired with it (a flight gate
    /// that admits passengers, not a check-in desk).
    pub require_boarding_pass: bool,
}

/// The default freshness window: a QR dated more than this many seconds ago is stale. A
/// live wallet redraws every 30 s, so a genuine scan is well inside it; a photographed QR
/// is good for at most `DEFAULT_MAX_AGE + DEFAULT_MAX_SKEW` = 90 s.
pub const DEFAULT_MAX_AGE: i64 = 60;
/// The default clock skew allowed for a proof dated in the future.
pub const DEFAULT_MAX_SKEW: i64 = 30;

impl Default for Policy {
    fn default() -> Self {
        // A QR is shown and scanned within seconds; phones and gates keep network time,
        // so half a minute of skew is generous. A short window is what limits a photographed
        // QR: it passes at another gate only until it is stale.
        Policy {
            max_age: DEFAULT_MAX_AGE,
            max_skew: DEFAULT_MAX_SKEW,
            refuse_stale_after: None,
            require: Requirement::default(),
            require_boarding_pass: false,
        }
    }
}

/// Everything a verification consults besides the presentation.
pub struct Context<'a> {
    /// Now, Unix seconds (passed in, never read).
    pub now: i64,
    /// Whom to trust.
    pub trust: &'a TrustStore,
    /// Revocation status.
    pub status: &'a dyn StatusView,
    /// Replay cache.
    pub replay: &'a mut dyn ReplayView,
    /// Settings.
    pub policy: Policy,
    /// The nonce this gate sent (BLE sessions); `None` for QR.
    pub nonce: Option<&'a [u8]>,
    /// The latest trusted time this gate has seen (clock rollback detection).
    pub highest_trusted_time: Option<i64>,
}

impl<'a> Context<'a> {
    /// A context as of `now`: the default policy, no nonce (a QR presentation) and no
    /// trusted time seen yet.
    pub fn new(
        now: i64,
        trust: &'a TrustStore,
        status: &'a dyn StatusView,
        replay: &'a mut dyn ReplayView,
    ) -> Self {
        Context {
            now,
            trust,
            status,
            replay,
            policy: Policy::default(),
            nonce: None,
            highest_trusted_time: None,
        }
    }
    /// With this policy.
    pub fn with_policy(mut self, policy: Policy) -> Self {
        self.policy = policy;
        self
    }
    /// With the nonce a gate sent in a session (`None` for a QR).
    pub fn with_nonce(mut self, nonce: Option<&'a [u8]>) -> Self {
        self.nonce = nonce;
        self
    }
    /// With the latest trusted time this gate has seen.
    pub fn with_highest_trusted_time(mut self, t: Option<i64>) -> Self {
        self.highest_trusted_time = t;
        self
    }
}

/// Verifies QR text.
pub fn verify_qr(text: &str, ctx: &mut Context<'_>) -> Verdict {
    match presentation::from_qr_text(text) {
        Ok(bytes) => verify_cbor(&bytes, ctx),
        Err(Error::UnsupportedVersion) => base(ctx).reject(Reason::UnsupportedVersion),
        Err(_) => base(ctx).reject(Reason::Malformed),
    }
}

/// The verdict every check starts from: the policy, and the warnings (and the
/// `trust_expired` refusal) the context alone decides.
pub(crate) fn base(ctx: &Context<'_>) -> Verdict {
    let mut v = Verdict::new(ctx.now);
    v.policy = ctx.policy.require;
    v.pass_required = ctx.policy.require_boarding_pass;
    if let Some(e) = ctx.trust.expires.filter(|e| ctx.now >= *e) {
        v.warnings.push(Warning::TrustStale);
        if ctx
            .policy
            .refuse_stale_after
            .is_some_and(|g| ctx.now >= e + g)
        {
            v.reasons.push(Reason::TrustExpired);
        }
    }
    if ctx.highest_trusted_time.is_some_and(|h| ctx.now < h) {
        v.warnings.push(Warning::ClockRollback);
    }
    v
}

fn verify_issuer_sig(key: &IssuerKey, tbs: &[u8], sig: &Signature) -> bool {
    key.public.verify_strict(tbs, sig).is_ok()
}

/// A verdict rejecting for `reason` before any presentation could be read (with the
/// context's warnings), for callers that decode something else first.
pub fn rejected(ctx: &Context<'_>, reason: Reason) -> Verdict {
    base(ctx).reject(reason)
}

/// The verdict for a session that produced no presentation (timeout, damaged or foreign
/// message, or the citizen declined).
pub fn session_failed(ctx: &Context<'_>) -> Verdict {
    rejected(ctx, Reason::SessionFailed)
}

/// Verifies presentation CBOR.
pub fn verify_cbor(bytes: &[u8], ctx: &mut Context<'_>) -> Verdict {
    let mut v = base(ctx);
    let p = match Presentation::from_cbor(bytes) {
        Ok(p) => p,
        Err(_) => return v.reject(Reason::Malformed),
    };
    let is = &p.issuer_signed;
    let pl = &is.payload;
    v.kid = Some(hex(&is.kid));
    v.credential_id = Some(hex(&pl.credential_id));
    v.issuer = Some(
        ctx.trust
            .issuer_name(pl.issuer)
            .map_or_else(|| format!("issuer {}", pl.issuer), str::to_owned),
    );
    if pl.cred_type != gate::TYPE_THAI_NATIONAL_ID {
        return v.reject(Reason::Malformed);
    }

    // Inline flight claims that do not decode are a structural error (FORMAT.md section
    // 5, step 1), judged before any key is looked up. Decoded once: they are shown only
    // if every later check lets claims be shown.
    let mut claims = DisclosedClaims {
        issue_date: Some(pl.valid_from),
        expiry: Some(pl.valid_until.map_or(Expiry::Lifelong, Expiry::On)),
        ..Default::default()
    };
    if let Some(f) = &pl.inline_flight {
        if claims.add_inline(crate::gate::Group::Flight, f).is_err() {
            return v.reject(Reason::Malformed);
        }
    }

    // Issuer signature: every trusted key with this kid is tried.
    let mut candidates = ctx.trust.keys_for(pl.issuer, &is.kid);
    let Some(first) = candidates.next() else {
        return v.reject(Reason::UnknownIssuerKey);
    };
    let only = candidates.next().is_none().then_some(first);
    let sig = Signature::from_bytes(&is.signature);
    let tbs = is.to_be_signed();
    // An Ed25519 holder key joins the issuer's signature in one batch; a P-256 one (ES256)
    // is checked on its own.
    let holder_ed = pl
        .holder_key
        .ed25519()
        .and_then(|b| VerifyingKey::from_bytes(&b).ok());
    // A session's proof binds the gate's nonce; a QR's may bind its own salt instead.
    let nonce: Option<&[u8]> = match (ctx.nonce, p.salt.as_ref()) {
        (Some(n), None) => Some(n),
        (None, Some(s)) => Some(s),
        (None, None) => None,
        (Some(_), Some(_)) => return v.reject(Reason::Malformed),
    };
    let msg = holder_proof_message(is, &p.disclosures, p.time, nonce);
    // Fast path: one key under the kid and two good signatures, checked as one batch that
    // accepts exactly what two strict verifications accept (`batch`), in about two thirds
    // of their time. Any failure falls back to checking each signature on its own, so the
    // reasons stay exact.
    let batch_ok = match (only, holder_ed) {
        (Some(k), Some(h)) => crate::batch::verify_pair(
            &ctx.trust.tables,
            &k.public,
            &tbs,
            &sig,
            &h,
            &msg,
            &Signature::from_bytes(&p.holder_sig),
        ),
        _ => false,
    };
    let (key, holder_ok) = if batch_ok {
        (Some(first), true)
    } else {
        (
            ctx.trust
                .keys_for(pl.issuer, &is.kid)
                .find(|k| verify_issuer_sig(k, &tbs, &sig)),
            // The Ed25519 key already parsed for the batch is not parsed again.
            match holder_ed {
                Some(h) => h
                    .verify_strict(&msg, &Signature::from_bytes(&p.holder_sig))
                    .is_ok(),
                None => pl.holder_key.verify(&msg, &p.holder_sig),
            },
        )
    };
    let Some(key) = key else {
        return v.reject(Reason::BadIssuerSignature);
    };
    match key.state {
        KeyState::Revoked { .. } => v.reasons.push(Reason::IssuerKeyRevoked),
        _ if !key.window_contains(pl.issued_at) => {
            v.reasons.push(Reason::IssuerKeyNotValidAtIssuance)
        }
        _ => {}
    }

    // Disclosures: each must be covered by a signed digest and match it.
    let mut digests_ok = true;
    for (g, d) in &p.disclosures {
        let ok = pl
            .digests
            .get(g)
            .is_some_and(|want| gate::digest(d) == *want);
        if !ok || claims.add_group(*g, d).is_err() {
            digests_ok = false;
        }
    }
    if !digests_ok {
        v.reasons.push(Reason::DigestMismatch);
    }

    // Validity is decided here, never left to the caller.
    if ctx.now < pl.valid_from_time() {
        v.reasons.push(Reason::CredentialNotYetValid);
    }
    if pl.valid_until_time().is_some_and(|end| ctx.now >= end) {
        v.reasons.push(Reason::CredentialExpired);
    }
    match ctx.status.lookup(pl.issuer, pl.status, ctx.now) {
        StatusLookup::Good => {}
        StatusLookup::Revoked => v.reasons.push(Reason::CredentialRevoked),
        StatusLookup::GoodButStale | StatusLookup::Unknown => v.warnings.push(Warning::StatusStale),
    }

    // Holder binding: signed by the key the issuer bound, over exactly these bytes.
    if !holder_ok {
        v.reasons.push(Reason::BadHolderProof);
    } else {
        if p.time < ctx.now - ctx.policy.max_age {
            v.reasons.push(Reason::PresentationStale);
        }
        if p.time > ctx.now + ctx.policy.max_skew {
            v.reasons.push(Reason::PresentationFromFuture);
        }
        // Only authentic proofs enter the cache, so garbage cannot evict or poison it.
        // Keyed by what was signed, not by the signature bytes, so no re-encoding of a
        // signature can make one presentation count as two.
        let key: [u8; 32] = Sha256::digest(&msg).into();
        v.presentation = Some(key);
        // Remembered until it would be stale anyway; the holder-chosen time is clamped so a
        // far-future date can neither overflow nor pin an entry in the cache for ever.
        let t = p
            .time
            .clamp(ctx.now - ctx.policy.max_age, ctx.now + ctx.policy.max_skew);
        let keep_until = t + ctx.policy.max_age + ctx.policy.max_skew;
        if ctx.replay.check_and_record(key, keep_until, ctx.now) {
            v.reasons.push(Reason::Replayed);
        }
    }
    // What the gate requires: judged on authentic claims only (an altered card already
    // has its reason).
    if digests_ok {
        if !ctx.policy.require.met_by(&claims) {
            v.reasons.push(Reason::InsufficientDisclosure);
        } else if ctx.policy.require == Requirement::Age && claims.age_over_20 == Some(false) {
            v.reasons.push(Reason::UnderAge);
        }
        v.claims = Some(claims);
    }
    v
}

/// Verifies a session answer: as [`verify_cbor`], and every group the gate asked for
/// (`requested`, the portrait included) must be disclosed, else `insufficient_disclosure`.
pub fn verify_session_answer(bytes: &[u8], requested: &[Group], ctx: &mut Context<'_>) -> Verdict {
    let mut v = verify_cbor(bytes, ctx);
    let complete = v
        .claims
        .as_ref()
        .is_some_and(|c| requested.iter().all(|g| group_disclosed(*g, c)));
    if v.claims.is_some() && !complete && !v.reasons.contains(&Reason::InsufficientDisclosure) {
        v.reasons.push(Reason::InsufficientDisclosure);
    }
    v
}

/// Lower-case hex.
pub fn hex(b: &[u8]) -> String {
    ::hex::encode(b)
}
