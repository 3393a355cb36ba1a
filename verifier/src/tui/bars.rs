//! The one-line bars: the title, the scan line and the status bar.

use super::{App, NARROW, WARN};
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Style, Stylize};
use ratatui::text::{Line, Span};
use ratatui::widgets::Widget;

impl App {
    pub(super) fn render_title(&self, area: Rect, buf: &mut Buffer) {
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

    pub(super) fn render_input(&self, area: Rect, buf: &mut Buffer) {
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

    pub(super) fn render_status(&self, area: Rect, buf: &mut Buffer) {
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

fn age_text(secs: i64) -> String {
    match secs {
        s if s < 3600 => format!("{}m", s.max(0) / 60),
        s if s < 86_400 * 2 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86_400),
    }
}
