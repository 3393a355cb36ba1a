//! The gate TUI: app state, pure key handling, and `impl Widget for &App`. Scans arrive
//! as keyboard-wedge input (a line of text ending with Enter). The loop in [`run`] is the
//! only part that touches the terminal.

use ratatui::buffer::Buffer;
use ratatui::crossterm::event::{self, Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style, Stylize};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Widget, Wrap};
use std::time::Duration;
use tuaton_common::gate::DisclosedClaims;
use tuaton_common::model::Expiry;
use tuaton_common::verify::{Reason, Verdict, Warning};

/// A scan within this many seconds of the same text shows "already checked", not an alarm.
pub const ALREADY_CHECKED_SECS: i64 = 10;

/// What the TUI needs from a checker (the real gate or the demo scenario).
pub trait Checker {
    /// Verifies one scanned text as of the checker's clock.
    fn check(&mut self, text: &str) -> Verdict;
    /// The checker's notion of now (Unix seconds).
    fn now(&self) -> i64;
    /// Status bar facts.
    fn status(&self) -> StatusInfo;
    /// The demo's next scan, if this is the demo.
    fn next_demo(&mut self) -> Option<(String, String)> {
        None
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
}

/// One row of history.
#[derive(Clone, Debug, PartialEq)]
pub struct HistoryItem {
    /// When.
    pub at: i64,
    /// Valid or not.
    pub valid: bool,
    /// Short text.
    pub summary: String,
}

/// The verdict on screen.
#[derive(Clone, Debug)]
pub struct Shown {
    /// The verdict.
    pub verdict: Verdict,
    /// Shown as a repeat of the previous scan.
    pub already_checked: bool,
    /// Where the scan came from (demo label).
    pub label: Option<String>,
    /// Decoded portrait pixels (width, height, RGB), when the presentation carried one.
    pub portrait: Option<(u32, u32, Vec<u8>)>,
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
            last_scan: None,
        }
    }

    /// Pure key handling.
    pub fn on_key(&mut self, key: KeyEvent) -> Action {
        if key.kind != KeyEventKind::Press {
            return Action::None;
        }
        match key.code {
            KeyCode::Char('c') if key.modifiers.contains(KeyModifiers::CONTROL) => {
                self.quit = true;
                Action::None
            }
            // Scans are base45 (upper case): a lower-case q is always the operator.
            KeyCode::Char('q') => {
                self.quit = true;
                Action::None
            }
            KeyCode::Char(' ') | KeyCode::Char('n') if self.demo && self.input.is_empty() => {
                Action::NextDemo
            }
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
        let v = checker.check(text);
        let repeat = match &self.last_scan {
            Some((t, at, prev))
                if t.trim() == text.trim()
                    && now - at <= ALREADY_CHECKED_SECS
                    && v.reasons == [Reason::Replayed] =>
            {
                Some(prev.clone())
            }
            _ => None,
        };
        let (verdict, already_checked) = match repeat {
            // Scanners read a held-up QR more than once: show the first verdict again.
            Some(prev) => (prev, true),
            None => {
                self.last_scan = Some((text.to_owned(), now, v.clone()));
                (v, false)
            }
        };
        if !already_checked {
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
        let portrait = verdict
            .claims
            .as_ref()
            .and_then(|c| c.portrait.as_deref())
            .and_then(decode_portrait);
        self.status = checker.status();
        self.shown = Some(Shown {
            verdict,
            already_checked,
            label,
            portrait,
        });
    }
}

fn name_line(c: &DisclosedClaims, thai: bool) -> Option<String> {
    let t = c.title.as_ref();
    if thai {
        Some(format!(
            "{}{} {}",
            t.map(|t| t.th.as_str()).unwrap_or(""),
            c.given_name_th.as_ref()?,
            c.family_name_th.as_ref()?
        ))
    } else {
        Some(
            format!(
                "{} {} {}",
                t.map(|t| t.en.as_str()).unwrap_or(""),
                c.given_name_en.as_ref()?,
                c.family_name_en.as_ref()?
            )
            .trim()
            .to_owned(),
        )
    }
}

fn summary(v: &Verdict) -> String {
    let who = v
        .claims
        .as_ref()
        .and_then(|c| name_line(c, false))
        .unwrap_or_else(|| "-".into());
    if v.is_valid() {
        format!("VALID     {who}")
    } else {
        format!(
            "REJECTED  {who}: {}",
            v.reasons
                .iter()
                .map(|r| r.code())
                .collect::<Vec<_>>()
                .join(", ")
        )
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

fn hhmmss(t: i64) -> String {
    // Gate staff read Thai time.
    chrono::DateTime::from_timestamp(t + 7 * 3600, 0)
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

impl Widget for &App {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let [title, banner, body, input, status] = Layout::vertical([
            Constraint::Length(1),
            Constraint::Length(4),
            Constraint::Min(6),
            Constraint::Length(1),
            Constraint::Length(1),
        ])
        .areas(area);
        let mode = if self.demo {
            "DEMO - space: next scan"
        } else {
            "scan a QR code"
        };
        Line::from(vec![
            " tuaton gate ".bold().reversed(),
            format!(" {mode}").into(),
        ])
        .render(title, buf);

        // Verdict banner, full width.
        let (text, style, detail): (String, Style, Vec<Line>) = match &self.shown {
            _ if self.busy.is_some() => (
                self.busy.clone().unwrap_or_default(),
                Style::new()
                    .fg(Color::Black)
                    .bg(Color::Cyan)
                    .add_modifier(Modifier::BOLD),
                vec![Line::from(
                    "Keep the phone near the gate / วางโทรศัพท์ไว้ใกล้เครื่อง",
                )],
            ),
            None => (
                "READY: SCAN A QR CODE  /  พร้อมสแกน".into(),
                Style::new().fg(Color::Black).bg(Color::Gray),
                vec![],
            ),
            Some(s) if s.verdict.is_valid() => {
                let t = if s.already_checked {
                    "VALID (already checked) / ตรวจแล้ว"
                } else {
                    "VALID / ถูกต้อง"
                };
                let mut d = vec![];
                if let Some(l) = &s.label {
                    d.push(Line::from(l.clone()));
                }
                (
                    t.into(),
                    Style::new()
                        .fg(Color::Black)
                        .bg(Color::Green)
                        .add_modifier(Modifier::BOLD),
                    d,
                )
            }
            Some(s) => {
                let t = if s.already_checked {
                    "REJECTED (already checked) / ไม่ผ่าน"
                } else {
                    "REJECTED / ไม่ผ่าน"
                };
                let d = s
                    .verdict
                    .reasons
                    .iter()
                    .take(2)
                    .map(|r| {
                        let (en, th) = r.describe();
                        Line::from(format!("{en} / {th}"))
                    })
                    .collect();
                (
                    t.into(),
                    Style::new()
                        .fg(Color::White)
                        .bg(Color::Red)
                        .add_modifier(Modifier::BOLD),
                    d,
                )
            }
        };
        buf.set_style(banner, style);
        let mut lines = vec![Line::from(text).centered()];
        lines.extend(detail.into_iter().map(|l| l.centered()));
        Paragraph::new(lines).style(style).render(banner, buf);

        // Holder details with the portrait, then history.
        let [left, right] =
            Layout::horizontal([Constraint::Percentage(55), Constraint::Percentage(45)])
                .areas(body);
        let holder = Block::new()
            .borders(Borders::ALL)
            .title(" Holder / ผู้ถือบัตร ");
        let inner = holder.inner(left);
        holder.render(left, buf);
        if let Some(s) = &self.shown {
            let mut text_area = inner;
            if let Some((w, h, px)) = &s.portrait {
                let pw = (*w as u16).min(inner.width / 2);
                let [pic, rest] =
                    Layout::horizontal([Constraint::Length(pw + 1), Constraint::Min(10)])
                        .areas(inner);
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
                    l.push(Line::from(format!("ID    {}", id.masked())));
                }
                if let Some(b) = c.birth_date {
                    l.push(Line::from(format!("Born  {}", b.to_be_string())));
                }
                if let Some(a) = c.age_over_20 {
                    l.push(Line::from(format!(
                        "Age 20+  {}",
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
            } else {
                l.push(Line::from("No trustworthy holder data").italic());
            }
            if let Some(i) = &v.issuer {
                l.push(
                    Line::from(format!(
                        "Issuer {i}, key {}",
                        v.kid.as_deref().unwrap_or("-")
                    ))
                    .dim(),
                );
            }
            Paragraph::new(l)
                .wrap(Wrap { trim: true })
                .render(text_area, buf);
        }
        let hist = Block::new().borders(Borders::ALL).title(" Recent / ล่าสุด ");
        let hin = hist.inner(right);
        hist.render(right, buf);
        let rows: Vec<Line> = self
            .history
            .iter()
            .take(hin.height as usize)
            .map(|h| {
                let c = if h.valid { Color::Green } else { Color::Red };
                Line::from(vec![
                    Span::raw(format!("{} ", hhmmss(h.at))),
                    Span::styled(h.summary.clone(), Style::new().fg(c)),
                ])
            })
            .collect();
        Paragraph::new(rows).render(hin, buf);

        // Input line: a wedge scan is long; show its tail.
        let w = input.width.saturating_sub(7) as usize;
        let tail: String = self
            .input
            .chars()
            .rev()
            .take(w)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        Line::from(vec!["Scan> ".bold(), tail.into()]).render(input, buf);

        let st = &self.status;
        let mut spans = vec![Span::raw(format!(
            " Bundle v{} · {} old ",
            st.version,
            age_text(st.age_secs)
        ))];
        if !st.label.is_empty() {
            spans.insert(
                0,
                Span::styled(format!(" {} ", st.label), Style::new().reversed()),
            );
        }
        if st.stale {
            spans.push(Span::styled(
                " STALE BUNDLE: SYNC ",
                Style::new().fg(Color::Black).bg(Color::Yellow),
            ));
        }
        if st.clock_back {
            spans.push(Span::styled(
                " CLOCK SET BACK ",
                Style::new().fg(Color::Black).bg(Color::Yellow),
            ));
        }
        spans.push(
            Span::raw(if self.demo {
                " · space next · Esc clear · q quit"
            } else {
                " · Enter check · Esc clear · q quit"
            })
            .dim(),
        );
        Line::from(spans).render(status, buf);
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

/// Runs the TUI until `q`. Restores the terminal on exit, also after an error or a panic
/// (ratatui's init installs a panic hook that restores it).
pub fn run(checker: &mut dyn Checker, demo: bool) -> std::io::Result<()> {
    let mut terminal = ratatui::init();
    let mut app = App::new(checker.status(), demo);
    let result = (|| -> std::io::Result<()> {
        while !app.quit {
            terminal.draw(|f| f.render_widget(&app, f.area()))?;
            if !event::poll(Duration::from_millis(500))? {
                continue;
            }
            if let Event::Key(k) = event::read()? {
                match app.on_key(k) {
                    Action::None => {}
                    Action::Submit(t) => {
                        if tuaton_common::session::Engagement::is_engagement(&t) {
                            // A session takes a moment: say so before blocking on it.
                            app.busy = Some("CONNECTING TO PHONE / กำลังเชื่อมต่อ".into());
                            terminal.draw(|f| f.render_widget(&app, f.area()))?;
                        }
                        app.submit(checker, &t, None);
                        app.busy = None;
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

/// Plain words for a warning.
pub fn warning_text(w: Warning) -> &'static str {
    match w {
        Warning::TrustStale => "trust bundle is stale: sync when online",
        Warning::StatusStale => "revocation list is stale or missing",
        Warning::ClockRollback => "clock is behind the last trusted time",
        _ => "warning",
    }
}
