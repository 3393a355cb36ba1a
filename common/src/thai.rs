//! Thai text in one byte a letter (TIS-620) for the gate form, and Buddhist-Era dates.
//!
//! Thai in UTF-8 costs three bytes a letter; TIS-620 maps the Thai block U+0E01..U+0E5B
//! one-to-one onto 0xA1..0xFB, so a Thai name costs a third. Text that is not Thai or
//! ASCII stays UTF-8 (the gate form tells the two apart by CBOR major type).

use chrono::{Datelike, NaiveDate};

/// Encodes `s` as TIS-620 if every character is ASCII or in the Thai block.
pub fn to_tis620(s: &str) -> Option<Vec<u8>> {
    s.chars()
        .map(|c| {
            let cp = c as u32;
            match cp {
                0x00..=0x7F => Some(cp as u8),
                0x0E01..=0x0E3A | 0x0E3F..=0x0E5B => Some((cp - 0x0E00 + 0xA0) as u8),
                _ => None,
            }
        })
        .collect()
}

/// Decodes TIS-620 bytes; `None` for bytes TIS-620 leaves unassigned.
pub fn from_tis620(b: &[u8]) -> Option<String> {
    b.iter()
        .map(|&x| match x {
            0x00..=0x7F => Some(x as char),
            0xA1..=0xDA | 0xDF..=0xFB => char::from_u32(x as u32 - 0xA0 + 0x0E00),
            _ => None,
        })
        .collect()
}

/// Thai month abbreviations, as printed on the card.
const MONTHS_TH: [&str; 12] = [
    "ม.ค.",
    "ก.พ.",
    "มี.ค.",
    "เม.ย.",
    "พ.ค.",
    "มิ.ย.",
    "ก.ค.",
    "ส.ค.",
    "ก.ย.",
    "ต.ค.",
    "พ.ย.",
    "ธ.ค.",
];

/// The Buddhist-Era year Thai users see: CE + 543.
pub fn be_year(ce_year: i32) -> i32 {
    ce_year + 543
}

/// Thai month abbreviation for month 1..=12.
pub fn month_th(month: u32) -> &'static str {
    MONTHS_TH[(month.clamp(1, 12) - 1) as usize]
}

/// "12 เม.ย. 2533": a full date as a Thai reader expects it.
pub fn date_be(d: NaiveDate) -> String {
    format!("{} {} {}", d.day(), month_th(d.month()), be_year(d.year()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tis620_round_trips_thai_names() {
        for s in ["สมชาย", "ใจดี", "นางสาว", "ศรีสุวรรณ์", "Mr. Somchai", "๑๒๓"]
        {
            let b = to_tis620(s).unwrap();
            assert_eq!(b.len(), s.chars().count(), "one byte a letter");
            assert_eq!(from_tis620(&b).unwrap(), s);
        }
    }

    #[test]
    fn tis620_refuses_other_scripts() {
        assert!(to_tis620("José").is_none());
        assert!(to_tis620("李").is_none());
        assert!(from_tis620(&[0xFF]).is_none());
    }

    #[test]
    fn buddhist_era() {
        let d = NaiveDate::from_ymd_opt(1990, 4, 12).unwrap();
        assert_eq!(date_be(d), "12 เม.ย. 2533");
    }
}
