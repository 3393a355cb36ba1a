//! The built-in demo scenario: a fresh issuer (root, trust list, status list), four sample
//! citizens, a key rotation and a revoked card, all in memory. Each scan advances the
//! scenario's clock by 30 seconds. The replayed item is a QR another lane checked 20 s
//! earlier: inside the freshness window, past the "already checked" one, so it shows as
//! an alarm.

use crate::station::{Checked, Checker, Scan, Station, StatusInfo};
use ed25519_dalek::SigningKey;
use rand::rngs::StdRng;
use rand::{RngCore, SeedableRng};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use tuaton_common::gate::{GateCredential, Group, StatusRef};
use tuaton_common::presentation::{self, Profile};
use tuaton_common::sample;
use tuaton_common::status::{Bitset, CheckedList, StatusLists};
use tuaton_common::trust::{
    Anchor, IssuerKey, KeyState, ListedIssuer, Root, SignedRoot, SignedTrustList, TrustList,
    TrustState, TrustStore,
};
use tuaton_common::verify::{self, Context, MemoryReplay, Policy, Verdict};

/// One scripted scan.
struct Step {
    label: &'static str,
    make: fn(&Scenario, i64) -> String,
}

/// The scenario and its in-memory gate.
pub struct Scenario {
    holder: SigningKey,
    creds: Vec<GateCredential>,
    forged: GateCredential,
    trust: TrustStore,
    status: StatusLists,
    replay: MemoryReplay,
    now: i64,
    step: usize,
    first_text: Option<String>,
    version: u64,
    published: i64,
}

/// Key id as every issuer derives it.
fn kid(k: &SigningKey) -> Vec<u8> {
    tuaton_common::trust::kid_of(&k.verifying_key())
}

const STEPS: [Step; 12] = [
    Step {
        label: "1/12 Somchai, over BLE with portrait (key 1, retired since)",
        make: |s, t| s.present(0, &[Group::Flight, Group::Portrait], t),
    },
    Step {
        label: "2/12 Kanchanaporn, flight QR (issued after rotation, key 2)",
        make: |s, t| s.present(1, &[Group::Flight], t),
    },
    Step {
        label: "3/12 Boonmee, lifelong card, year-only birth date",
        make: |s, t| s.present(2, &[Group::Flight], t),
    },
    Step {
        label: "4/12 Thanakorn, card expired",
        make: |s, t| s.present(3, &[Group::Flight], t),
    },
    Step {
        label: "5/12 Revoked card",
        make: |s, t| s.present(4, &[Group::Flight], t),
    },
    Step {
        label: "6/12 Tampered QR (one character changed)",
        make: |s, t| {
            let mut q: Vec<char> = s.present(0, &[Group::Flight], t).chars().collect();
            let i = q.len() / 2;
            q[i] = if q[i] == 'A' { 'B' } else { 'A' };
            q.into_iter().collect()
        },
    },
    Step {
        label: "7/12 Replayed: a QR already checked 20 s ago",
        make: |s, t| s.present(0, &[Group::Flight], t - 20),
    },
    Step {
        label: "8/12 Signed by a key the gate does not know",
        make: |s, t| {
            presentation::to_qr_text(
                &presentation::present(&s.forged, &s.holder, Profile::Flight, t)
                    .expect("demo credential"),
            )
        },
    },
    Step {
        label: "9/12 Boarding pass JAIDEE/SOMCHAI MR, TG 102 BKK-CNX today",
        make: |_, t| boarding_pass("JAIDEE/SOMCHAI MR", t),
    },
    Step {
        label: "10/12 Somchai's ID with that pass: names match",
        make: |s, t| s.present(0, &[Group::Flight], t),
    },
    Step {
        label: "11/12 Boarding pass of someone else: JAIDEE/SOMSAK MR",
        make: |_, t| boarding_pass("JAIDEE/SOMSAK MR", t),
    },
    Step {
        label: "12/12 Somchai's ID with that pass: names differ",
        make: |s, t| s.present(0, &[Group::Flight], t),
    },
];

/// A one-leg boarding pass (BCBP) for `name` on today's flight TG 102 from BKK, dated in
/// Thai time at `t`.
pub fn boarding_pass(name: &str, t: i64) -> String {
    use chrono::Datelike;
    let day = tuaton_common::model::thai_date(t).map_or(1, |d| d.ordinal());
    format!("M1{name:<20}EABC123 BKKCNXTG 0102 {day:03}Y032A0045 100")
}

impl Scenario {
    /// Builds the scenario as of `now` with fresh keys.
    pub fn new(now: i64) -> Scenario {
        Self::with_seed(now, rand::random())
    }

    /// Builds the scenario with keys and salts drawn from `seed` (reproducible screens).
    pub fn with_seed(now: i64, seed: u64) -> Scenario {
        let mut rng = StdRng::seed_from_u64(seed);
        let root_key = SigningKey::generate(&mut rng);
        let k1 = SigningKey::generate(&mut rng);
        let k2 = SigningKey::generate(&mut rng);
        let holder = SigningKey::generate(&mut rng);
        let other = SigningKey::generate(&mut rng);
        let rng = std::cell::RefCell::new(rng);
        let t_rotate = now - 30 * 86_400;
        let issue = |i: usize, key: &SigningKey, at: i64, index: u64| {
            let mut s = sample::Issue::new(i, key, holder.verifying_key(), at);
            rng.borrow_mut().fill_bytes(&mut s.credential_id);
            s.status = StatusRef { list: 0, index };
            s.gate(&mut *rng.borrow_mut())
                .expect("sample citizens are valid")
        };
        // Cards issued before and after the rotation; citizen 3's card has expired.
        let mut creds = vec![
            issue(0, &k1, t_rotate - 86_400, 11),
            issue(1, &k2, t_rotate + 86_400, 22),
            issue(2, &k1, t_rotate - 2 * 86_400, 33),
            issue(3, &k1, 1_700_000_000, 44),
        ];
        creds.push(issue(0, &k2, t_rotate + 2 * 86_400, 55));
        let forged = issue(1, &other, now - 86_400, 66);
        let keys = vec![
            IssuerKey {
                issuer: 1,
                kid: kid(&k1),
                public: k1.verifying_key(),
                not_before: 1_600_000_000,
                not_after: Some(t_rotate),
                state: KeyState::Retired,
            },
            IssuerKey {
                issuer: 1,
                kid: kid(&k2),
                public: k2.verifying_key(),
                not_before: t_rotate,
                not_after: None,
                state: KeyState::Active,
            },
        ];
        let published = now - 2 * 3600;
        // The same signed structures a real gate syncs, checked the same way.
        let root = SignedRoot::sign(
            Root {
                version: 1,
                expires: now + 365 * 86_400,
                threshold: 1,
                keys: vec![root_key.verifying_key().to_bytes()],
            },
            &[&root_key],
        );
        let list = SignedTrustList::sign(
            TrustList {
                version: 3,
                root_version: 1,
                issued_at: published,
                expires: published + 7 * 86_400,
                issuers: vec![ListedIssuer {
                    id: 1,
                    name: "DOPA (demo)".into(),
                    keys,
                    did: Some(tuaton_common::w3c::default_issuer_did(1)),
                }],
                status: vec![],
                anchors: vec![],
                revoked_certificates: vec![],
            },
            &[&root_key],
        );
        // The demo makes its own root, so it trusts it on first use.
        let state = TrustState::first(
            &[root.signed.to_bytes()],
            &list.signed.to_bytes(),
            Anchor::TrustOnFirstUse,
            now,
        )
        .expect("demo trust data is valid");
        let mut bits = Bitset::new(1024);
        bits.set(55);
        let mut status = StatusLists::default();
        status.insert(
            1,
            0,
            CheckedList {
                bits,
                valid_until: Some(published + 7 * 86_400),
            },
        );
        Scenario {
            holder,
            creds,
            forged,
            trust: state.to_store(),
            status,
            replay: MemoryReplay::default(),
            now,
            step: 0,
            first_text: None,
            version: state.trust_list.list.version,
            published,
        }
    }

    /// The engine's verdict on `text` at the scenario's clock.
    pub fn verify(&mut self, text: &str) -> Verdict {
        let mut ctx = Context::new(self.now, &self.trust, &self.status, &mut self.replay)
            .with_highest_trusted_time(Some(self.published));
        verify::verify_qr(text, &mut ctx)
    }

    fn present(&self, i: usize, groups: &[Group], t: i64) -> String {
        let b = presentation::present_groups(&self.creds[i], &self.holder, groups, t, None)
            .expect("demo credential");
        presentation::to_qr_text(&b)
    }
}

impl Checker for Scenario {
    fn check(&mut self, text: &str, _cancel: &Arc<AtomicBool>) -> Checked {
        Checked::Verdict(self.verify(text), None)
    }
    fn now(&self) -> i64 {
        self.now
    }
    fn status(&self) -> StatusInfo {
        StatusInfo {
            version: self.version,
            age_secs: self.now - self.published,
            stale: false,
            clock_back: false,
            label: "DEMO".into(),
            policy: Policy::default().require.code().into(),
        }
    }
    fn next_demo(&mut self) -> Option<(String, String)> {
        self.now += 30;
        let s = &STEPS[self.step % STEPS.len()];
        let text = (s.make)(self, self.now);
        if s.label.starts_with("7/12") {
            // The earlier check at another lane that this scan replays.
            let _ = self.verify(&text);
        }
        if self.step.is_multiple_of(STEPS.len()) {
            self.first_text = Some(text.clone());
        }
        self.step += 1;
        Some((text, s.label.to_owned()))
    }
}

/// What one step of the demo gave, without a terminal.
#[derive(Clone, Debug)]
pub enum PlainRow {
    /// A verdict (an ID alone, or paired with the boarding pass scanned before it or
    /// just after it).
    Verdict(Box<Verdict>),
    /// A boarding pass read first: it waits for the ID.
    PassWaiting(tuaton_common::bcbp::PassCheck),
}

/// Runs the whole scenario without a terminal, through the same [`Station`] as the
/// screen (pairing in either order): (label, what the step gave) per step.
pub fn run_plain(now: i64) -> Vec<(String, PlainRow)> {
    let mut s = Scenario::new(now);
    let mut station = Station::default();
    let mut out = Vec::new();
    for _ in 0..STEPS.len() {
        let (text, label) = s.next_demo().expect("demo has steps");
        station.scan(&mut s, &text, Some(label.clone()));
        let row = match (Scan::of(&text), &station.pending_pass, &station.shown) {
            (Some(Scan::BoardingPass(_)), Some(p), _) if p.text == text => {
                PlainRow::PassWaiting(p.preview.clone())
            }
            (_, _, Some(shown)) => PlainRow::Verdict(Box::new(shown.verdict.clone())),
            _ => continue,
        };
        out.push((label, row));
    }
    out
}
