//! The history pane: recent checks, newest first.

use super::{hhmmss, App};
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Color, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Widget};

impl App {
    pub(super) fn render_history(&self, area: Rect, buf: &mut Buffer) {
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
        for h in self.station.history.iter().take(hin.height as usize) {
            let c = if h.valid { Color::Green } else { Color::Red };
            let time = format!("{} ", hhmmss(h.at));
            let who = h.who.clone().unwrap_or_else(|| "-".into());
            if h.valid {
                rows.push(Line::from(vec![
                    Span::raw(time),
                    Span::styled(format!("VALID {who}"), Style::new().fg(c)),
                ]));
                continue;
            }
            rows.push(Line::from(vec![
                Span::raw(time),
                Span::styled("NO ", Style::new().fg(c)),
                Span::raw(who),
            ]));
            let mut lines: Vec<String> = vec![];
            for code in &h.reasons {
                match lines.last_mut() {
                    Some(l) if l.len() + 1 + code.len() <= room => {
                        l.push(',');
                        l.push_str(code);
                    }
                    _ => lines.push((*code).to_owned()),
                }
            }
            for l in lines {
                rows.push(Line::from(vec![
                    Span::raw(INDENT),
                    Span::styled(l, Style::new().fg(c)),
                ]));
            }
        }
        Paragraph::new(rows).render(hin, buf);
    }
}
