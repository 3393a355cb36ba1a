//! The verdict banner: what a tired person reads first, in English and Thai.

use super::{hhmmss, App, NARROW, WARN};
use crate::station::{name_line, safe};
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{Paragraph, Widget, Wrap};

impl App {
    /// The verdict lines: headline, detail, then every warning in both languages.
    pub(super) fn banner(&self, narrow: bool) -> (Vec<Line<'static>>, Style) {
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
        if let (None, Some(pending)) = (&self.station.shown, &self.station.pending_pass) {
            let p = &pending.preview;
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
        if let Some(what) = &self.station.fault {
            // The gate failed, not the passenger's card: never green, never red, and it
            // says to scan again.
            let style = Style::new()
                .fg(Color::White)
                .bg(Color::Magenta)
                .add_modifier(Modifier::BOLD);
            let mut lines = both("GATE ERROR: NOTHING WAS CHECKED", "จุดตรวจขัดข้อง: ยังไม่ได้ตรวจ");
            lines.push(Line::from(safe(what)));
            lines.push(Line::from("Scan again; if it repeats, call support"));
            return (lines, style);
        }
        let Some(s) = &self.station.shown else {
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
            if let Some(f) = &s.session {
                let (en, th) = f.describe();
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
