//! The gate TUI: app state, pure key handling, and `impl Widget for &App`. Scans arrive
//! as keyboard-wedge input (a line of text ending with Enter). The loop in [`run`] is the
//! only part that touches the terminal.
//!
//! Keys: a scanner types letters, digits, punctuation and spaces, then Enter; all of those
//! are scan input, always. Commands use keys no scanner sends: F10 quits, Esc clears the
//! line (and cancels a session with a phone), F5 scans the demo's next item (Enter on an
//! empty line too).

use ratatui::buffer::Buffer;
use ratatui::crossterm::event::{self, Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style, Stylize};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Widget, Wrap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tuaton_common::gate::DisclosedClaims;
use tuaton_common::model::Expiry;
use tuaton_common::verify::Verdict;

/// A scan within this many seconds of the same text shows "already checked", not an alarm.
pub const ALREADY_CHECKED_SECS: i64 = 10;
/// A boarding pass and an ID scanned within this many seconds of each other, in either
/// order, are judged together (docs/BOARDING.md); a pair is also ended by the next pair.
pub const PAIR_SECS: i64 = 60;

/// What the TUI needs from a checker (the real gate or the demo scenario).
pub trait Checker: Send {
    /// Verifies one scanned text as of the checker's clock; a session with a phone stops
    /// when `cancel` is set.
    fn check(&mut self, text: &str, cancel: &Arc<AtomicBool>) -> Verdict;
    /// The checker's notion of now (Unix seconds).
    fn now(&self) -> i64;
    /// Status bar facts.
    fn status(&self) -> StatusInfo;
    /// The demo's next scan, if this is the demo.
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
    /// Label, e.g. "DEMO".
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
    /// Short text: the reasons first, then whose card.
    pub summary: String,
}

/// Below this width the screen drops the history pane: the holder's details and portrait
/// need the room, and the verdict banner says why a scan was rejected anyway.
pub const NARROW: u16 = 72;

/// The verdict on screen.
#[derive(Clone, Debug)]
pub struct Shown {
    /// The verdict.
    pub verdict: Verdict,
    /// When the same text was scanned again within [`ALREADY_CHECKED_SECS`]: the time of
    /// the first check. The screen then says ALREADY CHECKED (never green) and shows the
    /// first verdict as information.
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

/// The app state.
pub struct App {
    /// Typed (scanned) text not yet submitted.
    pub input: String,
    /// The current verdict.
    pub shown: Option<Shown>,
    /// Recent checks, newest first.
    pub history: Vec<HistoryItem>,
    /// Status bar.
    pub status: StatusInfo,
    /// Set by `q`.
    pub quit: bool,
    /// Whether this is the demo (space scans the next item).
    pub demo: bool,
    /// Shown in the banner while a session with a phone is running.
    pub busy: Option<String>,
    /// A boarding pass scanned before its ID: (text, when, what could be read of it).
    pub pending_pass: Option<(String, i64, tuaton_common::bcbp::PassCheck)>,
    last_scan: Option<(String, i64, Verdict)>,
}

/// What a key press asks the loop to do.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// Nothing beyond redrawing.
    None,
    /// Check this text.
    Submit(String),
    /// Demo: scan the next item.
    NextDemo,
}

impl App {
    /// A fresh screen.
    pub fn new(status: StatusInfo, demo: bool) -> Self {
        App {
            input: String::new(),
            shown: None,
            history: vec![],
            status,
            quit: false,
            demo,
            busy: None,
            pending_pass: None,
            last_scan: None,
        }
    }

    /// Pure key handling.
    pub fn on_key(&mut self, key: KeyEvent) -> Action {
        if key.kind != KeyEventKind::Press {
            return Action::None;
        }
        match key.code {
            // Keys no keyboard-wedge scanner sends: nothing a QR holds can quit the gate.
            KeyCode::F(10) => {
                self.quit = true;
                Action::None
            }
            KeyCode::F(5) if self.demo => Action::NextDemo,
            KeyCode::Enter if self.demo && self.input.is_empty() => Action::NextDemo,
            KeyCode::Enter => {
                let t = std::mem::take(&mut self.input);
                if t.trim().is_empty() {
                    Action::None
                } else {
                    Action::Submit(t)
                }
            }
            KeyCode::Esc => {
                self.input.clear();
                self.shown = None;
                Action::None
            }
            KeyCode::Backspace => {
                self.input.pop();
                Action::None
            }
            // A control chord is not text a QR holds; ignore rather than type it.
            KeyCode::Char(_)
                if key
                    .modifiers
                    .intersects(KeyModifiers::CONTROL | KeyModifiers::ALT) =>
            {
                Action::None
            }
            KeyCode::Char(c) => {
                // A wedge scanner types the whole payload; bound it like the decoder does.
                if self.input.len() < 8192 {
                    self.input.push(c);
                }
                Action::None
            }
            _ => Action::None,
        }
    }

    /// Runs a check and updates the screen.
    pub fn submit(&mut self, checker: &mut dyn Checker, text: &str, label: Option<String>) {
        let now = checker.now();
        if tuaton_common::bcbp::looks_like_pass(text) {
            self.scan_pass(checker, text, now);
            return;
        }
        let v = checker.check(text, &Arc::new(AtomicBool::new(false)));
        self.show(checker, text, label, now, v);
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
                    let mut v = s.verdict.clone();
                    checker.pair(&mut v, text);
                    s.pass_text = Some(text.to_owned());
                    s.verdict = v;
                    let (valid, summary) = (s.verdict.is_valid(), summary(&s.verdict));
                    if let Some(h) = self.history.first_mut() {
                        h.valid = valid;
                        h.summary = summary;
                    }
                    self.pending_pass = None;
                    self.status = checker.status();
                    return;
                }
            }
        }
        let preview = tuaton_common::bcbp::cross_check(text, None, now, None);
        self.pending_pass = Some((text.to_owned(), now, preview));
        self.shown = None;
    }

    /// Puts the verdict `v` of `text` (checked at `now`) on screen.
    pub fn show(
        &mut self,
        checker: &mut dyn Checker,
        text: &str,
        label: Option<String>,
        now: i64,
        v: Verdict,
    ) {
        // A boarding pass scanned first, recently enough, pairs with this ID.
        let pass = self
            .pending_pass
            .take()
            .filter(|(_, at, _)| (0..=PAIR_SECS).contains(&(now - at)))
            .map(|(t, _, _)| t);

        // Scanners read a held-up QR more than once: within a few seconds the same text is
        // ALREADY CHECKED, showing the first verdict, whatever this check said.
        let repeat = match &self.last_scan {
            Some((t, at, prev))
                if t.trim() == text.trim() && (0..=ALREADY_CHECKED_SECS).contains(&(now - at)) =>
            {
                Some((*at, prev.clone()))
            }
            _ => None,
        };
        let (mut verdict, already_checked) = match repeat {
            Some((at, prev)) => (prev, Some(at)),
            None => {
                self.last_scan = Some((text.to_owned(), now, v.clone()));
                (v, None)
            }
        };
        if let Some(p) = &pass {
            checker.pair(&mut verdict, p);
        }
        if already_checked.is_none() {
            self.history.insert(
                0,
                HistoryItem {
                    at: now,
                    valid: verdict.is_valid(),
                    summary: summary(&verdict),
                },
            );
            self.history.truncate(50);
        }
        let raw_portrait = verdict.claims.as_ref().and_then(|c| c.portrait.as_deref());
        let portrait = raw_portrait.and_then(decode_portrait);
        self.status = checker.status();
        self.shown = Some(Shown {
            portrait_unreadable: raw_portrait.is_some() && portrait.is_none(),
            verdict,
            already_checked,
            label,
            portrait,
            at: now,
            pass_text: pass,
        });
    }
}

/// Credential and bundle text as the screen may show it ([`tuaton_common::text`]).
fn safe(s: &str) -> String {
    tuaton_common::text::for_display(s).into_owned()
}

fn name_line(c: &DisclosedClaims, thai: bool) -> Option<String> {
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

fn summary(v: &Verdict) -> String {
    let who = v
        .claims
        .as_ref()
        .and_then(|c| name_line(c, false))
        .unwrap_or_else(|| "-".into());
    if v.is_valid() {
        format!("VALID {who}")
    } else {
        // The reason first: a narrow pane cuts the end of the line, never the why.
        format!("NO {}: {who}", v.reason_codes().join(","))
    }
}

/// JPEG to RGB pixels scaled for half-block cells: 16 columns x 10 rows of 2 pixels.
pub fn decode_portrait(jpeg: &[u8]) -> Option<(u32, u32, Vec<u8>)> {
    let img = image::load_from_memory(jpeg).ok()?;
    let small = img
        .resize_exact(16, 20, image::imageops::FilterType::Triangle)
        .to_rgb8();
    Some((small.width(), small.height(), small.into_raw()))
}

/// Thai wall-clock time of Unix time `t`, as staff read it.
pub fn hhmmss(t: i64) -> String {
    // Gate staff read Thai time.
    chrono::DateTime::from_timestamp(t.saturating_add(tuaton_common::model::THAI_UTC_OFFSET), 0)
        .map(|d| d.format("%H:%M:%S").to_string())
        .unwrap_or_default()
}

fn age_text(secs: i64) -> String {
    match secs {
        s if s < 3600 => format!("{}m", s.max(0) / 60),
        s if s < 86_400 * 2 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86_400),
    }
}

const WARN: Style = Style::new().fg(Color::Black).bg(Color::Yellow);

impl App {
    fn render_title(&self, area: Rect, buf: &mut Buffer) {
        let mode = if self.demo {
            "DEMO - Enter: next scan"
        } else {
            "scan a QR code"
        };
        let mut spans = vec![" tuaton gate ".bold().reversed(), format!(" {mode}").into()];
        if !self.status.policy.is_empty() {
            spans.push(format!(" · policy {}", self.status.policy).dim());
        }
        Line::from(spans).render(area, buf);
    }

    /// The verdict lines: headline, detail, then every warning in both languages.
    fn banner(&self, narrow: bool) -> (Vec<Line<'static>>, Style) {
        // English and Thai side by side, or one under the other on a narrow screen (a
        // wrapped line would split a Thai phrase mid-word; a cut one would lose it).
        let both = |en: &str, th: &str| -> Vec<Line<'static>> {
            if narrow {
                vec![Line::from(en.to_owned()), Line::from(th.to_owned())]
            } else {
                vec![Line::from(format!("{en} / {th}"))]
            }
        };
        let green = Style::new()
            .fg(Color::Black)
            .bg(Color::Green)
            .add_modifier(Modifier::BOLD);
        let red = Style::new()
            .fg(Color::White)
            .bg(Color::Red)
            .add_modifier(Modifier::BOLD);
        if let Some(b) = &self.busy {
            let style = Style::new()
                .fg(Color::Black)
                .bg(Color::Cyan)
                .add_modifier(Modifier::BOLD);
            return (
                vec![
                    Line::from(b.clone()),
                    Line::from("The citizen checks the request on the phone and enters the PIN"),
                    Line::from("ผู้ถือบัตรตรวจสอบคำขอและใส่รหัส PIN · Esc: cancel / ยกเลิก"),
                ],
                style,
            );
        }
        if let (None, Some((_, _, p))) = (&self.shown, &self.pending_pass) {
            return match (&p.pass, p.judged_leg()) {
                (Some(_), Some(l)) => (
                    vec![
                        Line::from(format!(
                            "BOARDING PASS READ: {} {} {}→{} seat {}",
                            l.carrier,
                            l.flight,
                            l.from,
                            l.to,
                            l.seat_shown()
                        )),
                        Line::from("Now scan the ID  /  สแกนบัตรประชาชน"),
                    ],
                    Style::new()
                        .fg(Color::Black)
                        .bg(Color::Cyan)
                        .add_modifier(Modifier::BOLD),
                ),
                _ => {
                    let (en, th) = tuaton_common::bcbp::PassProblem::Malformed.describe();
                    (vec![Line::from(format!("{en} / {th}"))], red)
                }
            };
        }
        let Some(s) = &self.shown else {
            return (
                vec![Line::from("READY: SCAN A QR CODE  /  พร้อมสแกน")],
                Style::new().fg(Color::Black).bg(Color::Gray),
            );
        };
        let v = &s.verdict;
        let mut lines: Vec<Line<'static>> = vec![];
        let style = if let Some(first) = s.already_checked {
            // Never green: a repeat is information, not a pass.
            lines.push(Line::from("ALREADY CHECKED  /  ตรวจไปแล้ว"));
            let what = if v.is_valid() {
                "VALID".to_owned()
            } else {
                format!(
                    "REJECTED ({})",
                    v.reasons
                        .iter()
                        .map(|r| r.code())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            };
            lines.push(Line::from(format!(
                "First checked at {}: {what} · scan a fresh QR",
                hhmmss(first)
            )));
            Style::new()
                .fg(Color::White)
                .bg(Color::Blue)
                .add_modifier(Modifier::BOLD)
        } else if v.is_valid() {
            lines.push(Line::from("VALID / ถูกต้อง"));
            if let Some(l) = &s.label {
                lines.push(Line::from(l.clone()));
            }
            match v.boarding_pass.as_ref().and_then(|b| b.judged_leg()) {
                Some(l) => lines.push(Line::from(format!(
                    "Boarding pass matches · {} {} {}→{} · seat {}",
                    l.carrier,
                    l.flight,
                    l.from,
                    l.to,
                    l.seat_shown()
                ))),
                None if self.status.policy == "flight" => {
                    lines.push(Line::from("No boarding pass  /  ไม่มีบัตรโดยสาร"))
                }
                None => {}
            }
            green
        } else {
            lines.push(Line::from("REJECTED / ไม่ผ่าน"));
            let pass_problems = v.boarding_pass.iter().flat_map(|b| b.problems.iter());
            let missing = v
                .pass_missing()
                .then_some(tuaton_common::verify::Verdict::PASS_REQUIRED_WORDS);
            let words = v
                .reasons
                .iter()
                .map(|r| r.describe())
                .chain(pass_problems.map(|p| p.describe()))
                .chain(missing);
            for (en, th) in words.take(3) {
                lines.extend(both(en, th));
            }
            if let Some(b) = v.boarding_pass.as_ref().filter(|b| {
                b.problems
                    .contains(&tuaton_common::bcbp::PassProblem::NameMismatch)
            }) {
                // The two names side by side, so staff see what differs.
                let id = v
                    .claims
                    .as_ref()
                    .and_then(|c| name_line(c, false))
                    .unwrap_or_else(|| "-".into());
                let on_pass = b.pass.as_ref().map_or("-".into(), |p| safe(&p.name));
                lines.push(Line::from(format!("Pass: {on_pass}  ≠  ID: {id}")));
            }
            red
        };
        for w in &v.warnings {
            let (en, th) = w.describe();
            for l in both(&format!("! {en}"), th) {
                lines.push(l.style(WARN));
            }
        }
        (lines, style)
    }

    fn render_banner(&self, area: Rect, buf: &mut Buffer) {
        let (lines, style) = self.banner(area.width < NARROW);
        buf.set_style(area, style);
        let lines: Vec<Line> = lines.into_iter().map(|l| l.centered()).collect();
        Paragraph::new(lines)
            .style(style)
            .wrap(Wrap { trim: true })
            .render(area, buf);
    }

    fn render_holder(&self, area: Rect, buf: &mut Buffer) {
        let holder = Block::new()
            .borders(Borders::ALL)
            .title(" Holder / ผู้ถือบัตร ");
        let inner = holder.inner(area);
        holder.render(area, buf);
        let Some(s) = &self.shown else { return };
        let mut text_area = inner;
        if let Some((w, h, px)) = &s.portrait {
            let pw = (*w as u16).min(inner.width / 2);
            let [pic, rest] =
                Layout::horizontal([Constraint::Length(pw + 1), Constraint::Min(10)]).areas(inner);
            draw_halfblocks(pic, buf, *w, *h, px);
            text_area = rest;
        }
        let v = &s.verdict;
        let mut l: Vec<Line> = vec![];
        if let Some(c) = &v.claims {
            if let Some(n) = name_line(c, true) {
                l.push(Line::from(n).bold());
            }
            if let Some(n) = name_line(c, false) {
                l.push(Line::from(n).bold());
            }
            if let Some(id) = c.citizen_id {
                l.push(Line::from(format!("ID {}", id.masked())));
            }
            if let Some(b) = c.birth_date {
                l.push(Line::from(format!("Born {}", b.to_be_string())));
            }
            if let Some(a) = c.age_over_20 {
                l.push(Line::from(format!(
                    "Age 20+ {}",
                    if a {
                        "yes / ใช่"
                    } else {
                        "no / ไม่ใช่"
                    }
                )));
            }
            if let Some(e) = c.expiry {
                let s = match e {
                    Expiry::Lifelong => "ตลอดชีพ (lifelong)".to_owned(),
                    e => e.to_be_string(),
                };
                l.push(Line::from(format!("Valid until {s}")));
            }
            if s.portrait_unreadable {
                l.push(Line::styled("Portrait does not decode / แสดงรูปไม่ได้", WARN));
            }
        } else {
            l.push(Line::from("No trustworthy holder data").italic());
        }
        if let Some(b) = &v.boarding_pass {
            if let (Some(p), Some(leg)) = (&b.pass, b.judged_leg()) {
                l.push(Line::from(format!(
                    "Flight {} {} {}→{}",
                    leg.carrier, leg.flight, leg.from, leg.to
                )));
                l.push(Line::from(format!(
                    "Seat {} · seq {} · day {}",
                    leg.seat_shown(),
                    leg.sequence,
                    leg.julian_date
                )));
                l.push(Line::from(format!("Pass name {}", safe(&p.name))));
            }
        }
        if let Some(i) = &v.issuer {
            l.push(
                Line::from(format!(
                    "Issuer {}, key {}",
                    safe(i),
                    v.kid.as_deref().unwrap_or("-")
                ))
                .dim(),
            );
        }
        Paragraph::new(l)
            .wrap(Wrap { trim: true })
            .render(text_area, buf);
    }

    fn render_history(&self, area: Rect, buf: &mut Buffer) {
        let hist = Block::new().borders(Borders::ALL).title(" Recent / ล่าสุด ");
        let hin = hist.inner(area);
        hist.render(area, buf);
        // A rejection: the time, NO and whose card, then the reason codes on lines of
        // their own, packed but never cut. At 80 columns the pane is 32 wide inside its
        // indent, and the longest code (`issuer_key_not_valid_at_issuance`) is 32. Rows
        // past the pane's height are the oldest and are simply not drawn.
        const INDENT: &str = "  ";
        let room = (hin.width as usize).saturating_sub(INDENT.len()).max(8);
        let mut rows: Vec<Line> = vec![];
        for h in self.history.iter().take(hin.height as usize) {
            let c = if h.valid { Color::Green } else { Color::Red };
            let time = format!("{} ", hhmmss(h.at));
            match h
                .summary
                .strip_prefix("NO ")
                .and_then(|r| r.split_once(": "))
            {
                Some((why, who)) if !h.valid => {
                    rows.push(Line::from(vec![
                        Span::raw(time),
                        Span::styled("NO ", Style::new().fg(c)),
                        Span::raw(who.to_owned()),
                    ]));
                    let mut lines: Vec<String> = vec![];
                    for code in why.split(',') {
                        match lines.last_mut() {
                            Some(l) if l.len() + 1 + code.len() <= room => {
                                l.push(',');
                                l.push_str(code);
                            }
                            _ => lines.push(code.to_owned()),
                        }
                    }
                    for l in lines {
                        rows.push(Line::from(vec![
                            Span::raw(INDENT),
                            Span::styled(l, Style::new().fg(c)),
                        ]));
                    }
                }
                _ => rows.push(Line::from(vec![
                    Span::raw(time),
                    Span::styled(h.summary.clone(), Style::new().fg(c)),
                ])),
            }
        }
        Paragraph::new(rows).render(hin, buf);
    }

    fn render_input(&self, area: Rect, buf: &mut Buffer) {
        // A wedge scan is long; show its tail.
        let w = area.width.saturating_sub(7) as usize;
        let tail: String = self
            .input
            .chars()
            .rev()
            .take(w)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        Line::from(vec!["Scan> ".bold(), tail.into()]).render(area, buf);
    }

    fn render_status(&self, area: Rect, buf: &mut Buffer) {
        let st = &self.status;
        let mut spans = vec![Span::raw(if area.width < NARROW {
            format!(" v{} · {} ", st.version, age_text(st.age_secs))
        } else {
            format!(" Bundle v{} · {} old ", st.version, age_text(st.age_secs))
        })];
        if !st.label.is_empty() {
            spans.insert(
                0,
                Span::styled(format!(" {} ", st.label), Style::new().reversed()),
            );
        }
        if st.stale {
            spans.push(Span::styled(" STALE BUNDLE: SYNC ", WARN));
        }
        if st.clock_back {
            spans.push(Span::styled(" CLOCK SET BACK ", WARN));
        }
        // The keys always fit: on a narrow screen in fewer words.
        let keys = match (self.demo, area.width < NARROW) {
            (true, false) => " · Enter next · Esc clear · F10 quit",
            (false, false) => " · Esc clear · F10 quit",
            (true, true) => " Enter·Esc·F10 quit",
            (false, true) => " Esc clear·F10 quit",
        };
        spans.push(Span::raw(keys).dim());
        Line::from(spans).render(area, buf);
    }
}

impl Widget for &App {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let banner_h = (self.banner(area.width < NARROW).0.len() as u16 + 1).clamp(4, 8);
        let [title, banner, body, input, status] = Layout::vertical([
            Constraint::Length(1),
            Constraint::Length(banner_h),
            Constraint::Min(6),
            Constraint::Length(1),
            Constraint::Length(1),
        ])
        .areas(area);
        self.render_title(title, buf);
        self.render_banner(banner, buf);
        if area.width < NARROW {
            self.render_holder(body, buf);
        } else {
            let [left, right] =
                Layout::horizontal([Constraint::Percentage(55), Constraint::Percentage(45)])
                    .areas(body);
            self.render_holder(left, buf);
            self.render_history(right, buf);
        }
        self.render_input(input, buf);
        self.render_status(status, buf);
    }
}

/// Draws RGB pixels with the upper-half-block character: two pixels a cell.
fn draw_halfblocks(area: Rect, buf: &mut Buffer, w: u32, h: u32, px: &[u8]) {
    let at = |x: u32, y: u32| {
        let i = ((y * w + x) * 3) as usize;
        Color::Rgb(px[i], px[i + 1], px[i + 2])
    };
    for row in 0..(h / 2).min(area.height as u32) {
        for col in 0..w.min(area.width as u32) {
            if let Some(cell) = buf.cell_mut((area.x + col as u16, area.y + row as u16)) {
                cell.set_symbol("▀")
                    .set_fg(at(col, row * 2))
                    .set_bg(at(col, row * 2 + 1));
            }
        }
    }
}

/// Runs the TUI until F10. Restores the terminal on exit, also after an error or a panic
/// (ratatui's init installs a panic hook that restores it). A session with a phone runs
/// on its own thread while the screen keeps drawing and Esc cancels it.
pub fn run(checker: &mut dyn Checker, demo: bool) -> std::io::Result<()> {
    let mut terminal = ratatui::init();
    let mut app = App::new(checker.status(), demo);
    let result = (|| -> std::io::Result<()> {
        while !app.quit {
            terminal.draw(|f| f.render_widget(&app, f.area()))?;
            if !event::poll(Duration::from_millis(500))? {
                // Idle: keep the bundle's age and the last sync result current.
                app.status = checker.status();
                continue;
            }
            if let Event::Key(k) = event::read()? {
                match app.on_key(k) {
                    Action::None => {}
                    Action::Submit(t) => {
                        if tuaton_common::session::Engagement::is_engagement(&t) {
                            let now = checker.now();
                            let v = run_session(&mut terminal, &mut app, checker, &t)?;
                            app.busy = None;
                            app.show(checker, &t, None, now, v);
                        } else {
                            app.submit(checker, &t, None);
                        }
                    }
                    Action::NextDemo => {
                        if let Some((text, label)) = checker.next_demo() {
                            app.submit(checker, &text, Some(label));
                        }
                    }
                }
            }
        }
        Ok(())
    })();
    ratatui::restore();
    result
}

/// Runs one session on a scoped thread, redrawing and reading keys meanwhile.
fn run_session(
    terminal: &mut ratatui::DefaultTerminal,
    app: &mut App,
    checker: &mut dyn Checker,
    text: &str,
) -> std::io::Result<Verdict> {
    let cancel = Arc::new(AtomicBool::new(false));
    let started = std::time::Instant::now();
    std::thread::scope(|scope| {
        let worker = scope.spawn(|| checker.check(text, &cancel));
        while !worker.is_finished() {
            app.busy = Some(format!(
                "WAITING FOR THE PHONE / รอโทรศัพท์  {} s",
                started.elapsed().as_secs()
            ));
            terminal.draw(|f| f.render_widget(&*app, f.area()))?;
            if event::poll(Duration::from_millis(100))? {
                if let Event::Key(k) = event::read()? {
                    if k.kind == KeyEventKind::Press
                        && matches!(k.code, KeyCode::Esc | KeyCode::F(10))
                    {
                        cancel.store(true, Ordering::Relaxed);
                        app.quit |= k.code == KeyCode::F(10);
                    }
                }
            }
        }
        worker
            .join()
            .map_err(|_| std::io::Error::other("the session thread panicked"))
    })
}
