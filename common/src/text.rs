//! Text that reaches a screen: which characters a credential or bundle may never carry,
//! and how a gate neutralises them when an older or foreign credential carries them
//! anyway. Thai needs letters, vowel and tone marks (combining, category Mn), digits and
//! spaces; nothing here touches those.
//!
//! Refused: control characters (C0, DEL, C1), the format characters of Unicode category
//! Cf (bidi embeddings, overrides and isolates, zero-width space, joiners, marks, word
//! joiner, invisible operators, BOM, soft hyphen, interlinear annotation, tags, ...), the
//! line and paragraph separators, and invisible fillers. Any of these can make a
//! name read differently from what it is (U+202E reverses what follows, so "REJECTED"
//! text can be made to look like something else) or hide characters from staff.

use std::borrow::Cow;

/// Whether `c` may never appear in displayed credential or bundle text.
pub fn forbidden(c: char) -> bool {
    let u = c as u32;
    c.is_control()
        || matches!(u,
            0x00AD            // soft hyphen
            | 0x034F          // combining grapheme joiner
            | 0x061C          // Arabic letter mark
            | 0x0600..=0x0605 | 0x06DD | 0x070F | 0x0890..=0x0891 | 0x08E2
            | 0x115F..=0x1160 // Hangul fillers
            | 0x17B4..=0x17B5 // Khmer invisible vowels
            | 0x180B..=0x180F // Mongolian variation selectors and vowel separator
            | 0x200B..=0x200F // zero-width space, ZWNJ, ZWJ, LRM, RLM
            | 0x2028..=0x202E // line/paragraph separators, bidi embeddings and overrides
            | 0x2060..=0x206F // word joiner, invisible operators, bidi isolates, deprecated
            | 0x3164          // Hangul filler
            | 0xFE00..=0xFE0F // variation selectors
            | 0xFEFF          // zero-width no-break space (BOM)
            | 0xFFA0          // halfwidth Hangul filler
            | 0xFFF9..=0xFFFB // interlinear annotation
            | 0x110BD | 0x110CD | 0x13430..=0x1343F | 0x1BCA0..=0x1BCA3 | 0x1D173..=0x1D17A
            | 0xE0000..=0xE0FFF // tags and variation selectors supplement
        )
}

/// The first forbidden character of `s`, if any.
pub fn first_forbidden(s: &str) -> Option<char> {
    s.chars().find(|c| forbidden(*c))
}

/// `s` with every forbidden character replaced by U+FFFD, so nothing a credential or
/// bundle says can change how the text around it looks; borrowed when already clean.
pub fn for_display(s: &str) -> Cow<'_, str> {
    if first_forbidden(s).is_none() {
        Cow::Borrowed(s)
    } else {
        Cow::Owned(
            s.chars()
                .map(|c| if forbidden(c) { '\u{FFFD}' } else { c })
                .collect(),
        )
    }
}

/// A character as a user can read it in an error: `U+202E`.
pub fn describe(c: char) -> String {
    format!("U+{:04X}", c as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thai_names_with_stacked_marks_are_untouched() {
        for s in [
            "สมชาย",
            "ใจดี",
            "น้ำทิพย์",
            "กิ่งแก้ว",
            "ฐิติรัตน์",
            "ปิ่นปินัทธ์",
            "ศรีสุวรรณ์",
            "เพ็ญศรี",
            "ตั้งจิตต์",
            "Somchai Jaidee-Na Ayutthaya",
            "O'Neil",
            "ถนนพระราม ๔ แขวงปทุมวัน",
        ] {
            assert_eq!(first_forbidden(s), None, "{s}");
            assert!(matches!(for_display(s), Cow::Borrowed(_)));
        }
    }

    #[test]
    fn bidi_zero_width_and_escapes_are_caught() {
        for c in [
            '\u{202E}',
            '\u{202A}',
            '\u{2066}',
            '\u{2067}',
            '\u{2068}',
            '\u{2069}',
            '\u{200B}',
            '\u{200D}',
            '\u{200E}',
            '\u{FEFF}',
            '\u{00AD}',
            '\u{061C}',
            '\u{1B}',
            '\u{7F}',
            '\u{9B}',
            '\u{2028}',
            '\u{E0041}',
        ] {
            let s = format!("Som{c}chai");
            assert_eq!(first_forbidden(&s), Some(c), "{}", describe(c));
            assert_eq!(for_display(&s), "Som\u{FFFD}chai");
        }
        assert_eq!(for_display("\u{1b}[32mVALID"), "\u{FFFD}[32mVALID");
    }
}
