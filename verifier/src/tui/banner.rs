//! The verdict banner: what a tired person reads first, in English and Thai. One colour
//! a state: green valid, red rejected, blue already checked, cyan waiting (a phone, or
//! the ID after its boarding pass), magenta the gate's own failure, grey ready.

use super::{hhmmss, App, NARROW, WARN};
use crate::station::{name_line, safe, PendingPass, Shown};
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{Paragraph, Widget, Wrap};

/// The banner's lines and their colour.
type Banner = (Vec<Line<'static>>, Style);

fn bold(fg: Color, bg: Color) -> Style {
    Style::new().fg(fg).bg(bg).add_modifier(Modifier::BOLD)
}

/// English and Thai side by side, or one under the other on a narrow screen (a wrapped
/// line would split a Thai phrase mid-word; a cut one would lose it).
fn both(narrow: bool, en: &str, th: &str) -> Vec<Line<'static>> {
    if narrow {
        vec![Line::from(en.to_owned()), Line::from(th.to_owned())]
    } else {
        vec![Line::from(format!("{en} / {th}"))]
    }
}

impl App {
    /// The verdict lines: headline, detail, then every warning in both languages.
    pub(super) fn banner(&self, narrow: bool) -> Banner {
        if let Some(b) = &self.busy {
            return busy(b);
        }
        // The gate's own failure first: it hides no waiting pass for long, and staff must
        // see it to call support.
        if let Some(what) = &self.station.fault {
            return fault(narrow, what);
        }
        if let (None, Some(p)) = (&self.station.shown, &self.station.pending_pass) {
            return pass_waiting(p);
        }
        let Some(s) = &self.station.shown else {
            return (
                vec![Line::from("READY: SCAN A QR CODE  /  พร้อมสแกน")],
                Style::new().fg(Color::Black).bg(Color::Gray),
            );
        };
        let (mut lines, style) = match s.already_checked {
            Some(first) => already_checked(s, first),
            None if s.verdict.is_valid() => self.valid(s),
            None => rejected(narrow, s),
        };
        for w in &s.verdict.warnings {
            let (en, th) = w.describe();
            for l in both(narrow, &format!("! {en}"), th) {
                lines.push(l.style(WARN));
            }
        }
        (lines, style)
    }

    /// Green: the ID, and the boarding pass that matches it (or that there is none).
    fn valid(&self, s: &Shown) -> Banner {
        let mut lines = vec![Line::from("VALID / ถูกต้อง")];
        if let Some(l) = &s.label {
            lines.push(Line::from(l.clone()));
        }
        match s
            .verdict
            .boarding_pass
            .as_ref()
            .and_then(|b| b.judged_leg())
        {
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
        (lines, bold(Color::Black, Color::Green))
    }

    pub(super) fn render_banner(&self, area: Rect, buf: &mut Buffer) {
        let (lines, style) = self.banner(area.width < NARROW);
        buf.set_style(area, style);
        let lines: Vec<Line> = lines.into_iter().map(|l| l.centered()).collect();
        Paragraph::new(lines)
            .style(style)
            .wrap(Wrap { trim: true })
            .render(area, buf);
    }
}

/// Cyan: a session with a phone is running.
fn busy(what: &str) -> Banner {
    (
        vec![
            Line::from(what.to_owned()),
            Line::from("The citizen checks the request on the phone and enters the PIN"),
            Line::from("ผู้ถือบัตรตรวจสอบคำขอและใส่รหัส PIN · Esc: cancel / ยกเลิก"),
        ],
        bold(Color::Black, Color::Cyan),
    )
}

/// Cyan: a boarding pass read first waits for its ID (red when it does not even read).
fn pass_waiting(pending: &PendingPass) -> Banner {
    let p = &pending.preview;
    match (&p.pass, p.judged_leg()) {
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
            bold(Color::Black, Color::Cyan),
        ),
        _ => {
            let (en, th) = tuaton_common::bcbp::PassProblem::Malformed.describe();
            (
                vec![Line::from(format!("{en} / {th}"))],
                bold(Color::White, Color::Red),
            )
        }
    }
}

/// Magenta: the gate failed, not the passenger's card. Never green, never red, and it
/// says to scan again.
fn fault(narrow: bool, what: &str) -> Banner {
    let mut lines = both(
        narrow,
        "GATE ERROR: NOTHING WAS CHECKED",
        "จุดตรวจขัดข้อง: ยังไม่ได้ตรวจ",
    );
    lines.push(Line::from(safe(what)));
    // A presentation the gate read before it failed may be in its replay cache: a fresh
    // QR, not the same one, is what checks the passenger.
    lines.push(Line::from(
        "Ask for a fresh QR and scan it; if it repeats, call support",
    ));
    (lines, bold(Color::White, Color::Magenta))
}

/// Blue: the same presentation again. Never green: a repeat is information, not a pass.
fn already_checked(s: &Shown, first: i64) -> Banner {
    let v = &s.verdict;
    let what = if v.is_valid() {
        "VALID".to_owned()
    } else {
        format!("REJECTED ({})", v.reason_codes().join(", "))
    };
    (
        vec![
            Line::from("ALREADY CHECKED  /  ตรวจไปแล้ว"),
            Line::from(format!(
                "First checked at {}: {what} · scan a fresh QR",
                hhmmss(first)
            )),
        ],
        bold(Color::White, Color::Blue),
    )
}

/// Red: the first three reasons in words, why a session failed, and both names when a
/// boarding pass names someone else.
fn rejected(narrow: bool, s: &Shown) -> Banner {
    let v = &s.verdict;
    let mut lines = vec![Line::from("REJECTED / ไม่ผ่าน")];
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
        lines.extend(both(narrow, en, th));
    }
    if let Some(f) = &s.session {
        let (en, th) = f.describe();
        lines.extend(both(narrow, en, th));
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
    (lines, bold(Color::White, Color::Red))
}
