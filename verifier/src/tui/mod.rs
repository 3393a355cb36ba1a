//! The gate TUI: the screen over a [`Station`], one file per pane (`banner`, `holder`,
//! `history`, `bars`), key handling and the loop. Scans arrive as keyboard-wedge input (a
//! line of text ending with Enter). The loop in [`run`] is the only part that touches the
//! terminal; what a scan means is the station's.
//!
//! Keys: a scanner types letters, digits, punctuation and spaces, then Enter; all of those
//! are scan input, always. Commands use keys no scanner sends: F10 quits, Esc clears the
//! line (and cancels a session with a phone), F5 scans the demo's next item (Enter on an
//! empty line too).

mod banner;
mod bars;
mod history;
mod holder;

use crate::station::{Checked, Checker, Scan, Station, StatusInfo};
use ratatui::buffer::Buffer;
use ratatui::crossterm::event::{self, Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Style};
use ratatui::widgets::Widget;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

pub use crate::station::{decode_portrait, HistoryItem, Shown, ALREADY_CHECKED_SECS, PAIR_SECS};

/// Below this width the screen drops the history pane: the holder's details and portrait
/// need the room, and the verdict banner says why a scan was rejected anyway.
pub const NARROW: u16 = 72;

/// The style of warnings, wherever they are drawn.
const WARN: Style = Style::new().fg(Color::Black).bg(Color::Yellow);

/// The app state: the station, and what only a screen has.
pub struct App {
    /// What the gate shows and remembers between scans.
    pub station: Station,
    /// Typed (scanned) text not yet submitted.
    pub input: String,
    /// Status bar.
    pub status: StatusInfo,
    /// Set by F10.
    pub quit: bool,
    /// Whether this is the demo (Enter on an empty line scans the next item).
    pub demo: bool,
    /// Shown in the banner while a session with a phone is running.
    pub busy: Option<String>,
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
            station: Station::default(),
            input: String::new(),
            status,
            quit: false,
            demo,
            busy: None,
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
                self.station.clear();
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

    /// Scans `text` through the station (a session with a phone runs to its end) and
    /// refreshes the status bar.
    pub fn submit(&mut self, checker: &mut dyn Checker, text: &str, label: Option<String>) {
        self.station.scan(checker, text, label);
        self.status = checker.status();
    }

    /// Puts the verdict `v` of `text` (checked at `now`) on screen.
    pub fn show(
        &mut self,
        checker: &mut dyn Checker,
        text: &str,
        label: Option<String>,
        now: i64,
        v: tuaton_common::verify::Verdict,
    ) {
        self.station
            .checked(checker, text, label, now, Checked::Verdict(v, None));
        self.status = checker.status();
    }
}

/// Thai wall-clock time of Unix time `t`, as staff read it.
pub fn hhmmss(t: i64) -> String {
    // Gate staff read Thai time.
    chrono::DateTime::from_timestamp(t.saturating_add(tuaton_common::model::THAI_UTC_OFFSET), 0)
        .map(|d| d.format("%H:%M:%S").to_string())
        .unwrap_or_default()
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
                    Action::Submit(t) => match Scan::of(&t) {
                        // A session runs on its own thread while the screen keeps drawing
                        // (a repeat of the same engagement is the station's to answer).
                        Some(Scan::Engagement(_)) if !app.station.repeats(&t, checker.now()) => {
                            let now = checker.now();
                            let c = run_session(&mut terminal, &mut app, checker, &t)?;
                            app.busy = None;
                            app.station.checked(checker, &t, None, now, c);
                            app.status = checker.status();
                        }
                        _ => app.submit(checker, &t, None),
                    },
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
) -> std::io::Result<Checked> {
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
