//! The gate's rules between scans, apart from any screen: what a scanned text is, which
//! boarding pass goes with which ID, when a repeat is "already checked", what a failed
//! session or a failing gate shows. The TUI ([`crate::tui`]) draws a [`Station`]; the
//! demo, the bench and the tests drive one without a terminal.

use crate::check::SessionFailure;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use tuaton_common::bcbp::PassCheck;
use tuaton_common::verify::Verdict;

/// A scan within this many seconds of the same presentation shows "already checked", not
/// an alarm.
pub const ALREADY_CHECKED_SECS: i64 = 10;
/// A boarding pass and an ID scanned within this many seconds of each other, in either
/// order, are judged together (docs/BOARDING.md); a pair is also ended by the next pair.
pub const PAIR_SECS: i64 = 60;
/// Rows of history kept.
pub const HISTORY: usize = 50;

/// What a scanned line of text is: the one place that tells them apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scan<'a> {
    /// A QR presentation (`TT1:`, or anything else the engine will judge).
    Presentation(&'a str),
    /// A session engagement (`TTB1:`, or an ISO 18013-5 `mdoc:`): the gate connects to
    /// the phone.
    Engagement(&'a str),
    /// An IATA boarding pass (BCBP).
    BoardingPass(&'a str),
}

impl<'a> Scan<'a> {
    /// Classifies `text`; `None` for a blank line.
    pub fn of(text: &'a str) -> Option<Scan<'a>> {
        let t = text.trim();
        if t.is_empty() {
            None
        } else if tuaton_common::bcbp::looks_like_pass(text) {
            Some(Scan::BoardingPass(text))
        } else if tuaton_common::session::Engagement::is_engagement(t)
            || t.starts_with(tuaton_common::mdoc_session::SCHEME)
        {
            Some(Scan::Engagement(t))
        } else {
            Some(Scan::Presentation(text))
        }
    }
}

/// What a check gave.
#[derive(Clone, Debug)]
#[allow(clippy::large_enum_variant)] // one per scan, moved once: boxing buys nothing
pub enum Checked {
    /// The engine's verdict and, for a session with a phone that gave no answer, why.
    Verdict(Verdict, Option<SessionFailure>),
    /// The gate itself failed (its store in use too long or unreadable): nothing was
    /// checked, and the screen says so rather than showing a verdict.
    Fault(String),
}

/// What the station needs from a checker (the real gate, the demo scenario, a bench).
pub trait Checker: Send {
    /// Checks one scanned presentation or engagement as of the checker's clock; a session
    /// with a phone stops when `cancel` is set.
    fn check(&mut self, text: &str, cancel: &Arc<AtomicBool>) -> Checked;
    /// The checker's notion of now (Unix seconds).
    fn now(&self) -> i64;
    /// Status bar facts.
    fn status(&self) -> StatusInfo;
    /// The demo's next scan and its label, if this is the demo.
    fn next_demo(&mut self) -> Option<(String, String)> {
        None
    }
    /// Pairs the boarding pass `pass` with the ID verdict `v` (and records it, for a real
    /// gate). The default judges it at the checker's clock with no airport.
    fn pair(&mut self, v: &mut Verdict, pass: &str) {
        v.pair(pass, self.now(), None);
    }
}

/// The status bar.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StatusInfo {
    /// Trust list version.
    pub version: u64,
    /// Seconds since it was published.
    pub age_secs: i64,
    /// Whether it is past its expiry.
    pub stale: bool,
    /// Whether the clock is behind the highest trusted time.
    pub clock_back: bool,
    /// Label, e.g. "DEMO" or the last background sync.
    pub label: String,
    /// The requirement the gate applies (`flight`, `age`, `full`).
    pub policy: String,
}

/// One row of history.
#[derive(Clone, Debug, PartialEq)]
pub struct HistoryItem {
    /// When.
    pub at: i64,
    /// Valid or not.
    pub valid: bool,
    /// The reason codes, in the verdict's order (none when valid).
    pub reasons: Vec<&'static str>,
    /// Whose card, in Latin script, when the claims could be trusted.
    pub who: Option<String>,
}

impl HistoryItem {
    fn of(v: &Verdict, at: i64) -> HistoryItem {
        HistoryItem {
            at,
            valid: v.is_valid(),
            reasons: v.reason_codes(),
            who: v.claims.as_ref().and_then(|c| name_line(c, false)),
        }
    }
}

/// The verdict on screen.
#[derive(Clone, Debug)]
pub struct Shown {
    /// The verdict.
    pub verdict: Verdict,
    /// For a session with a phone that gave no answer: why.
    pub session: Option<SessionFailure>,
    /// When the same presentation was scanned again within [`ALREADY_CHECKED_SECS`]: the
    /// time of the first check. The screen then says ALREADY CHECKED (never green) and
    /// shows the first verdict as information.
    pub already_checked: Option<i64>,
    /// The presentation carried a portrait that does not decode as an image.
    pub portrait_unreadable: bool,
    /// Where the scan came from (demo label).
    pub label: Option<String>,
    /// Decoded portrait pixels (width, height, RGB), when the presentation carried one.
    pub portrait: Option<(u32, u32, Vec<u8>)>,
    /// When the ID was checked (a boarding pass scanned within [`PAIR_SECS`] pairs with it).
    pub at: i64,
    /// The boarding pass text paired with this verdict, if any.
    pub pass_text: Option<String>,
}

/// A boarding pass scanned before its ID.
#[derive(Clone, Debug)]
pub struct PendingPass {
    /// As scanned.
    pub text: String,
    /// When.
    pub at: i64,
    /// What could be read of it (for the "now scan the ID" screen).
    pub preview: PassCheck,
}

/// The last check, for "already checked".
#[derive(Clone, Debug)]
struct Last {
    text: String,
    presentation: Option<[u8; 32]>,
    at: i64,
    verdict: Verdict,
}

/// The gate between scans: what is on screen and what is remembered.
#[derive(Clone, Debug, Default)]
pub struct Station {
    /// The current verdict.
    pub shown: Option<Shown>,
    /// The gate failed at the last scan: what happened (nothing was checked).
    pub fault: Option<String>,
    /// Recent checks, newest first.
    pub history: Vec<HistoryItem>,
    /// A boarding pass scanned before its ID.
    pub pending_pass: Option<PendingPass>,
    last: Option<Last>,
}

impl Station {
    /// Clears the screen (Esc); what is remembered stays.
    pub fn clear(&mut self) {
        self.shown = None;
        self.fault = None;
    }

    /// Whether `text` repeats the last scan's text within [`ALREADY_CHECKED_SECS`] of
    /// `now` (a scanner reading a held-up phone again). An engagement repeated so is not
    /// run again: its phone answers one session.
    pub fn repeats(&self, text: &str, now: i64) -> bool {
        self.last.as_ref().is_some_and(|l| {
            l.text.trim() == text.trim() && (0..=ALREADY_CHECKED_SECS).contains(&(now - l.at))
        })
    }

    /// Scans `text` with `checker` and updates the state: a boarding pass pairs or waits;
    /// anything else is checked (a session with a phone runs to its end here, so a
    /// screen that must keep drawing runs [`Checker::check`] itself and calls
    /// [`Station::checked`]).
    pub fn scan(&mut self, checker: &mut dyn Checker, text: &str, label: Option<String>) {
        let now = checker.now();
        match Scan::of(text) {
            None => {}
            Some(Scan::BoardingPass(p)) => self.scan_pass(checker, p, now),
            Some(Scan::Engagement(_)) if self.repeats(text, now) => {
                let v = self.last.as_ref().map(|l| l.verdict.clone());
                if let Some(v) = v {
                    self.checked(checker, text, label, now, Checked::Verdict(v, None));
                }
            }
            Some(_) => {
                let c = checker.check(text, &Arc::new(AtomicBool::new(false)));
                self.checked(checker, text, label, now, c);
            }
        }
    }

    /// A boarding pass: pairs with the ID on screen when that was checked within
    /// [`PAIR_SECS`], is valid and has no pass yet; otherwise waits for the next ID (a
    /// rejected ID stays rejected whatever pass follows, so the pass is taken to belong
    /// to the next passenger).
    fn scan_pass(&mut self, checker: &mut dyn Checker, text: &str, now: i64) {
        let recent = |s: &Shown| {
            (0..=PAIR_SECS).contains(&(now - s.at))
                && (s.verdict.reasons.is_empty() || s.pass_text.is_some())
        };
        if let Some(s) = self
            .shown
            .as_mut()
            .filter(|s| recent(s) && s.already_checked.is_none())
        {
            match &s.pass_text {
                // The scanner read the same pass twice: nothing changes.
                Some(t) if t.trim() == text.trim() => return,
                Some(_) => {}
                None => {
                    checker.pair(&mut s.verdict, text);
                    s.pass_text = Some(text.to_owned());
                    if let Some(h) = self.history.first_mut() {
                        *h = HistoryItem::of(&s.verdict, h.at);
                    }
                    if let Some(l) = self.last.as_mut().filter(|l| l.at == s.at) {
                        l.verdict = s.verdict.clone();
                    }
                    self.pending_pass = None;
                    return;
                }
            }
        }
        self.pending_pass = Some(PendingPass {
            text: text.to_owned(),
            at: now,
            preview: tuaton_common::bcbp::cross_check(text, None, now, None),
        });
        self.shown = None;
        self.fault = None;
    }

    /// Puts the result `c` of checking `text` (at `now`) on screen.
    pub fn checked(
        &mut self,
        checker: &mut dyn Checker,
        text: &str,
        label: Option<String>,
        now: i64,
        c: Checked,
    ) {
        let (v, session) = match c {
            Checked::Fault(what) => {
                // Never a verdict: the screen says the gate failed and to scan again.
                self.shown = None;
                self.fault = Some(what);
                return;
            }
            Checked::Verdict(v, session) => (v, session),
        };
        self.fault = None;
        // A boarding pass scanned first, recently enough, pairs with this ID.
        let pass = self
            .pending_pass
            .take()
            .filter(|p| (0..=PAIR_SECS).contains(&(now - p.at)))
            .map(|p| p.text);
        // Scanners read a held-up QR more than once, and a QR re-encoded is the same
        // presentation: within a few seconds either is ALREADY CHECKED, showing the first
        // verdict, whatever this check said.
        let repeat = self.last.as_ref().filter(|l| {
            let same = l.text.trim() == text.trim()
                || (v.presentation.is_some() && l.presentation == v.presentation);
            same && (0..=ALREADY_CHECKED_SECS).contains(&(now - l.at))
        });
        let (mut verdict, already_checked, session) = match repeat {
            Some(l) => (l.verdict.clone(), Some(l.at), None),
            None => (v, None, session),
        };
        if let Some(p) = &pass {
            checker.pair(&mut verdict, p);
        }
        if already_checked.is_none() {
            // Remembered as shown (a pass paired), so a repeat names what staff saw.
            self.last = Some(Last {
                text: text.to_owned(),
                presentation: verdict.presentation,
                at: now,
                verdict: verdict.clone(),
            });
        }
        if already_checked.is_none() {
            self.history.insert(0, HistoryItem::of(&verdict, now));
            self.history.truncate(HISTORY);
        }
        let raw_portrait = verdict.claims.as_ref().and_then(|c| c.portrait.as_deref());
        let portrait = raw_portrait.and_then(decode_portrait);
        self.shown = Some(Shown {
            portrait_unreadable: raw_portrait.is_some() && portrait.is_none(),
            verdict,
            session,
            already_checked,
            label,
            portrait,
            at: now,
            pass_text: pass,
        });
    }
}

/// Credential and bundle text as a screen may show it ([`tuaton_common::text`]).
pub fn safe(s: &str) -> String {
    tuaton_common::text::for_display(s).into_owned()
}

/// The holder's title and name in Thai (`thai`) or Latin script, made safe to show;
/// `None` when the names were not disclosed.
pub fn name_line(c: &tuaton_common::gate::DisclosedClaims, thai: bool) -> Option<String> {
    let t = c.title.as_ref();
    let line = if thai {
        format!(
            "{}{} {}",
            t.map(|t| t.th.as_str()).unwrap_or(""),
            c.given_name_th.as_ref()?,
            c.family_name_th.as_ref()?
        )
    } else {
        format!(
            "{} {} {}",
            t.map(|t| t.en.as_str()).unwrap_or(""),
            c.given_name_en.as_ref()?,
            c.family_name_en.as_ref()?
        )
        .trim()
        .to_owned()
    };
    Some(safe(&line))
}

/// JPEG to RGB pixels scaled for half-block cells: 16 columns x 10 rows of 2 pixels.
/// Decoded once per verdict, bounded by what a session may carry (the gate's message
/// limit), never per frame.
pub fn decode_portrait(jpeg: &[u8]) -> Option<(u32, u32, Vec<u8>)> {
    let img = image::load_from_memory(jpeg).ok()?;
    let small = img
        .resize_exact(16, 20, image::imageops::FilterType::Triangle)
        .to_rgb8();
    Some((small.width(), small.height(), small.into_raw()))
}
