//! The holder pane: portrait, names, ID, dates, the flight, the issuer.

use super::{App, WARN};
use crate::station::{name_line, safe};
use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Stylize};
use ratatui::text::Line;
use ratatui::widgets::{Block, Borders, Paragraph, Widget, Wrap};
use tuaton_common::model::Expiry;

impl App {
    pub(super) fn render_holder(&self, area: Rect, buf: &mut Buffer) {
        let holder = Block::new()
            .borders(Borders::ALL)
            .title(" Holder / ผู้ถือบัตร ");
        let inner = holder.inner(area);
        holder.render(area, buf);
        let Some(s) = &self.station.shown else { return };
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
