//! The Thai national ID card as typed data: every rule of the card lives in a type, so a
//! value that exists is a value that is valid ("parse, don't validate").

use crate::error::{Error, Result};
use crate::thai;
use chrono::{Datelike, NaiveDate};
use std::fmt;
use std::str::FromStr;

/// A 13-digit Thai citizen identification number with a valid mod-11 check digit.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CitizenId(u64);

impl CitizenId {
    /// The check digit for the first twelve digits: 11 - (Σ dᵢ·(13-i) mod 11), mod 10.
    fn check_digit(first12: &[u8]) -> u8 {
        let sum: u32 = first12
            .iter()
            .enumerate()
            .map(|(i, d)| u32::from(*d) * (13 - i as u32))
            .sum();
        ((11 - sum % 11) % 10) as u8
    }

    /// Parses a number as carried in the gate form (an integer of 13 digits).
    pub fn from_u64(n: u64) -> Result<Self> {
        Self::from_str(&format!("{n:013}"))
    }

    /// The number as an integer (how the gate form carries it: 9 bytes, not 14).
    pub fn as_u64(self) -> u64 {
        self.0
    }

    /// Shows only the last four digits, for screens people can look over a shoulder at.
    pub fn masked(self) -> String {
        let s = self.to_string();
        format!("X-XXXX-XXXXX-{}-{}", &s[10..12], &s[12..])
    }

    /// The customary grouping printed on the card: 1-1037-00012-34-6.
    pub fn grouped(self) -> String {
        let s = self.to_string();
        format!(
            "{}-{}-{}-{}-{}",
            &s[0..1],
            &s[1..5],
            &s[5..10],
            &s[10..12],
            &s[12..]
        )
    }
}

impl FromStr for CitizenId {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let digits: Vec<u8> = s
            .chars()
            .filter(|c| *c != '-' && *c != ' ')
            .map(|c| c.to_digit(10).map(|d| d as u8))
            .collect::<Option<_>>()
            .ok_or_else(|| Error::field("citizen_id", "must contain only digits"))?;
        if digits.len() != 13 {
            return Err(Error::field(
                "citizen_id",
                format!("must have 13 digits, found {}", digits.len()),
            ));
        }
        if digits[0] == 0 {
            return Err(Error::field("citizen_id", "cannot start with 0"));
        }
        let want = Self::check_digit(&digits[..12]);
        if digits[12] != want {
            return Err(Error::field(
                "citizen_id",
                format!("check digit is {} but should be {want}", digits[12]),
            ));
        }
        Ok(CitizenId(
            digits.iter().fold(0u64, |n, d| n * 10 + u64::from(*d)),
        ))
    }
}

impl fmt::Display for CitizenId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:013}", self.0)
    }
}
impl fmt::Debug for CitizenId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CitizenId({})", self.masked())
    }
}

/// A name part: trimmed, non-empty, at most 100 characters, no control, format, bidi or
/// zero-width characters ([`crate::text::forbidden`]).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Name(String);

impl Name {
    /// Checks `s` as the value of `field`.
    pub fn parse(field: &'static str, s: &str) -> Result<Self> {
        let t = s.trim();
        if t.is_empty() {
            return Err(Error::field(field, "is empty"));
        }
        if t.chars().count() > 100 {
            return Err(Error::field(field, "is longer than 100 characters"));
        }
        if let Some(c) = crate::text::first_forbidden(t) {
            return Err(Error::field(
                field,
                format!(
                    "contains {}, an invisible or control character that could disguise the text",
                    crate::text::describe(c)
                ),
            ));
        }
        Ok(Name(t.to_owned()))
    }
    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}
impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The titles printed on cards, in Thai and English. The common ones travel as one small
/// code in the gate form; any other pair travels as text.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Title {
    /// Thai title, e.g. นาย.
    pub th: Name,
    /// English title, e.g. Mr.
    pub en: Name,
}

/// (code, Thai, English) of the titles that get a one-byte code.
pub const TITLE_CODES: [(u8, &str, &str); 5] = [
    (1, "นาย", "Mr."),
    (2, "นาง", "Mrs."),
    (3, "นางสาว", "Miss"),
    (4, "เด็กชาย", "Master"),
    (5, "เด็กหญิง", "Miss"),
];

impl Title {
    /// The one-byte code of this title, if it is one of [`TITLE_CODES`].
    pub fn code(&self) -> Option<u8> {
        TITLE_CODES
            .iter()
            .find(|(_, th, en)| *th == self.th.as_str() && *en == self.en.as_str())
            .map(|(c, _, _)| *c)
    }
    /// The title a code stands for.
    pub fn from_code(code: u64) -> Option<Self> {
        TITLE_CODES
            .iter()
            .find(|(c, _, _)| u64::from(*c) == code)
            .map(|(_, th, en)| Title {
                th: Name(th.to_string()),
                en: Name(en.to_string()),
            })
    }
}

/// A calendar date that old records may only know in part.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum PartialDate {
    /// Only the year is recorded.
    Year(i32),
    /// Year and month are recorded.
    YearMonth(i32, u32),
    /// The full date.
    Full(NaiveDate),
}

impl PartialDate {
    /// Parses "YYYY", "YYYY-MM" or "YYYY-MM-DD" as the value of `field`.
    pub fn parse(field: &'static str, s: &str) -> Result<Self> {
        let bad = || {
            Error::field(
                field,
                format!("`{s}` is not a date (YYYY-MM-DD, YYYY-MM or YYYY)"),
            )
        };
        let parts: Vec<&str> = s.trim().split('-').collect();
        let num = |p: &str, len: usize| -> Result<u32> {
            if p.len() != len || !p.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            p.parse().map_err(|_| bad())
        };
        let year = num(parts[0], 4)? as i32;
        if !(1800..=9999).contains(&year) {
            return Err(Error::field(field, format!("year {year} is out of range")));
        }
        match parts.len() {
            1 => Ok(PartialDate::Year(year)),
            2 => {
                let m = num(parts[1], 2)?;
                if !(1..=12).contains(&m) {
                    return Err(Error::field(field, format!("month {m} does not exist")));
                }
                Ok(PartialDate::YearMonth(year, m))
            }
            3 => {
                let (m, d) = (num(parts[1], 2)?, num(parts[2], 2)?);
                NaiveDate::from_ymd_opt(year, m, d)
                    .map(PartialDate::Full)
                    .ok_or_else(|| {
                        Error::field(field, format!("{s} does not exist in the calendar"))
                    })
            }
            _ => Err(bad()),
        }
    }

    /// The first day the date could be.
    pub fn earliest(self) -> NaiveDate {
        match self {
            PartialDate::Full(d) => d,
            PartialDate::Year(y) => NaiveDate::from_ymd_opt(y, 1, 1).expect("valid"),
            PartialDate::YearMonth(y, m) => NaiveDate::from_ymd_opt(y, m, 1).expect("valid"),
        }
    }

    /// The last day the date could be: the conservative end for age checks.
    pub fn latest(self) -> NaiveDate {
        match self {
            PartialDate::Full(d) => d,
            PartialDate::Year(y) => NaiveDate::from_ymd_opt(y, 12, 31).expect("valid"),
            PartialDate::YearMonth(y, m) => {
                let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
                NaiveDate::from_ymd_opt(ny, nm, 1)
                    .expect("valid")
                    .pred_opt()
                    .expect("valid")
            }
        }
    }

    /// Whether someone born on this date is at least `years` old on `on`, counting from
    /// the latest day the date could be (never over-claims an age).
    pub fn is_age_at_least(self, years: i32, on: NaiveDate) -> bool {
        let b = self.latest();
        let mut age = on.year() - b.year();
        if (on.month(), on.day()) < (b.month(), b.day()) {
            age -= 1;
        }
        age >= years
    }

    /// Buddhist-Era text: "12 เม.ย. 2533", "เม.ย. 2533" or "2533".
    pub fn to_be_string(self) -> String {
        match self {
            PartialDate::Full(d) => thai::date_be(d),
            PartialDate::YearMonth(y, m) => format!("{} {}", thai::month_th(m), thai::be_year(y)),
            PartialDate::Year(y) => thai::be_year(y).to_string(),
        }
    }
}

impl fmt::Display for PartialDate {
    /// ISO 8601 with the precision the record has.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PartialDate::Full(d) => write!(f, "{}", d.format("%Y-%m-%d")),
            PartialDate::YearMonth(y, m) => write!(f, "{y:04}-{m:02}"),
            PartialDate::Year(y) => write!(f, "{y:04}"),
        }
    }
}

/// When a card stops being valid. Holders over 70 get cards that never expire.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Expiry {
    /// Valid up to and including this day.
    On(NaiveDate),
    /// Never expires.
    Lifelong,
}

impl Expiry {
    /// Parses "YYYY-MM-DD" or "lifelong".
    pub fn parse(s: &str) -> Result<Self> {
        if s.trim().eq_ignore_ascii_case("lifelong") {
            return Ok(Expiry::Lifelong);
        }
        match PartialDate::parse("expiry_date", s)? {
            PartialDate::Full(d) => Ok(Expiry::On(d)),
            _ => Err(Error::field(
                "expiry_date",
                "must be a full date (YYYY-MM-DD) or \"lifelong\"",
            )),
        }
    }
    /// Buddhist-Era text for Thai readers.
    pub fn to_be_string(self) -> String {
        match self {
            Expiry::On(d) => thai::date_be(d),
            Expiry::Lifelong => "ตลอดชีพ".into(),
        }
    }
}
impl fmt::Display for Expiry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expiry::On(d) => write!(f, "{}", d.format("%Y-%m-%d")),
            Expiry::Lifelong => f.write_str("lifelong"),
        }
    }
}

/// The laser code on the back of the card: two letters, a digit, then 7 and 2 digits
/// (JT0-1234567-89).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct LaserCode(String);

impl LaserCode {
    /// Checks the pattern; dashes are optional on input and always present after.
    pub fn parse(s: &str) -> Result<Self> {
        let c: Vec<char> = s.chars().filter(|c| *c != '-' && *c != ' ').collect();
        let ok = c.len() == 12
            && c[..2].iter().all(|c| c.is_ascii_uppercase())
            && c[2..].iter().all(|c| c.is_ascii_digit());
        if !ok {
            return Err(Error::field(
                "laser_code",
                format!("`{s}` is not a laser code like JT0-1234567-89"),
            ));
        }
        let t: String = c.iter().collect();
        Ok(LaserCode(format!("{}-{}-{}", &t[..3], &t[3..10], &t[10..])))
    }
    /// The code with dashes.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Every claim of a card, as the issuer signs it in both forms.
#[derive(Clone, PartialEq, Debug)]
pub struct CardClaims {
    /// เลขประจำตัวประชาชน.
    pub citizen_id: CitizenId,
    /// Title in Thai and English.
    pub title: Title,
    /// Given name in Thai.
    pub given_name_th: Name,
    /// Family name in Thai.
    pub family_name_th: Name,
    /// Given name in English.
    pub given_name_en: Name,
    /// Family name in English.
    pub family_name_en: Name,
    /// Birth date, possibly partial.
    pub birth_date: PartialDate,
    /// Registered address.
    pub address: Name,
    /// Card issue date.
    pub issue_date: NaiveDate,
    /// Card expiry.
    pub expiry: Expiry,
    /// Laser code.
    pub laser_code: LaserCode,
    /// Issuing office.
    pub issuing_office: Name,
    /// Portrait, JPEG bytes.
    pub portrait: Vec<u8>,
}

/// A citizen record as the issuer receives it (docs/ARCHITECTURE.md, "CLI"), checked field by
/// field. The portrait is a path: reading it is the caller's I/O.
#[derive(Clone, Debug)]
pub struct CitizenRecord {
    /// The claims, with the portrait still empty.
    pub claims: CardClaims,
    /// Where the portrait JPEG is.
    pub portrait_path: String,
}

impl CitizenRecord {
    /// Parses the record JSON. Every problem names its field.
    pub fn from_json(bytes: &[u8]) -> Result<Self> {
        let v = crate::json::parse_strict(bytes)?;
        let obj = v
            .as_object()
            .ok_or_else(|| Error::field("record", "must be a JSON object"))?;
        let get = |f: &'static str| -> Result<&str> {
            match obj.get(f) {
                None | Some(serde_json::Value::Null) => Err(Error::field(f, "is missing")),
                Some(serde_json::Value::String(s)) => Ok(s.as_str()),
                Some(_) => Err(Error::field(f, "must be a string")),
            }
        };
        let issue_date = match PartialDate::parse("issue_date", get("issue_date")?)? {
            PartialDate::Full(d) => d,
            _ => {
                return Err(Error::field(
                    "issue_date",
                    "must be a full date (YYYY-MM-DD)",
                ))
            }
        };
        let expiry = Expiry::parse(get("expiry_date")?)?;
        if let Expiry::On(e) = expiry {
            if e < issue_date {
                return Err(Error::field("expiry_date", "is before issue_date"));
            }
        }
        let birth_date = PartialDate::parse("birth_date", get("birth_date")?)?;
        if birth_date.latest() > issue_date {
            return Err(Error::field("birth_date", "is after issue_date"));
        }
        let portrait_path = get("portrait")?.to_owned();
        let claims = CardClaims {
            citizen_id: get("citizen_id")?.parse()?,
            title: Title {
                th: Name::parse("title_th", get("title_th")?)?,
                en: Name::parse("title_en", get("title_en")?)?,
            },
            given_name_th: Name::parse("given_name_th", get("given_name_th")?)?,
            family_name_th: Name::parse("family_name_th", get("family_name_th")?)?,
            given_name_en: Name::parse("given_name_en", get("given_name_en")?)?,
            family_name_en: Name::parse("family_name_en", get("family_name_en")?)?,
            birth_date,
            address: Name::parse("address", get("address")?)?,
            issue_date,
            expiry,
            laser_code: LaserCode::parse(get("laser_code")?)?,
            issuing_office: Name::parse("issuing_office", get("issuing_office")?)?,
            portrait: Vec::new(),
        };
        Ok(CitizenRecord {
            claims,
            portrait_path,
        })
    }

    /// The check that needs today's date (Thai time at `now`): a birth date that cannot
    /// have happened yet is a typing error.
    pub fn check_at(&self, now: i64) -> Result<()> {
        let today =
            thai_date(now).ok_or_else(|| Error::field("birth_date", "time out of range"))?;
        if self.claims.birth_date.earliest() > today {
            return Err(Error::field("birth_date", "is in the future"));
        }
        Ok(())
    }
}

/// The default state directory of a tuaton program: `$XDG_DATA_HOME/tuaton/APP`, else
/// `$HOME/.local/share/tuaton/APP`, else `./tuaton/APP`. The caller reads the variables.
pub fn data_home(
    app: &str,
    xdg_data_home: Option<std::ffi::OsString>,
    home: Option<std::ffi::OsString>,
) -> std::path::PathBuf {
    let base = xdg_data_home
        .filter(|x| !x.is_empty())
        .map(std::path::PathBuf::from)
        .or_else(|| home.map(|h| std::path::PathBuf::from(h).join(".local/share")))
        .unwrap_or_else(|| std::path::PathBuf::from("."));
    base.join("tuaton").join(app)
}

/// Thailand's offset from UTC, in seconds (UTC+7 all year: no daylight saving).
pub const THAI_UTC_OFFSET: i64 = 7 * 3600;

/// The calendar day in Thailand at Unix time `t`: the day a card's dates, ages, boarding
/// passes and issuance are judged in. `None` only for times chrono cannot represent.
pub fn thai_date(t: i64) -> Option<NaiveDate> {
    chrono::DateTime::from_timestamp(t.checked_add(THAI_UTC_OFFSET)?, 0).map(|d| d.date_naive())
}

/// The age claims a credential carries, judged once on the day it is issued (Thai time),
/// from the latest day the birth date could be (never over-claims an age).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AgeClaims {
    /// 18 or older on the issue day.
    pub over_18: bool,
    /// 20 or older on the issue day (Thailand's age of majority).
    pub over_20: bool,
}

impl AgeClaims {
    /// The claims of someone born on `birth`, on `issued_on`.
    pub fn on(birth: PartialDate, issued_on: NaiveDate) -> Self {
        AgeClaims {
            over_18: birth.is_age_at_least(18, issued_on),
            over_20: birth.is_age_at_least(20, issued_on),
        }
    }
}

/// Parses an RFC 3339 time (the CLIs' `--at`) into Unix seconds.
pub fn parse_rfc3339(s: &str) -> Result<i64> {
    chrono::DateTime::parse_from_rfc3339(s.trim())
        .map(|t| t.timestamp())
        .map_err(|_| {
            Error::field(
                "--at",
                format!("`{s}` is not an RFC 3339 time like 2026-11-27T09:30:00+07:00"),
            )
        })
}

/// Formats Unix seconds as RFC 3339 UTC (`2026-11-27T02:30:00Z`); a time chrono cannot
/// represent is written as its number, so output never fails.
pub fn format_rfc3339(t: i64) -> String {
    try_format_rfc3339(t).unwrap_or_else(|| t.to_string())
}

/// Unix seconds as RFC 3339 UTC, or `None` out of chrono's range. The one formatter of
/// UTC times: JSON output, audit records and the W3C form's proof and status times.
pub fn try_format_rfc3339(t: i64) -> Option<String> {
    chrono::DateTime::from_timestamp(t, 0)
        .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
}

/// Unix seconds as RFC 3339 in Thai time (`2026-11-27T09:30:00+07:00`), as the W3C form
/// writes a credential's validity; `None` out of chrono's range.
pub fn format_rfc3339_thai(t: i64) -> Option<String> {
    let thai = chrono::FixedOffset::east_opt(THAI_UTC_OFFSET as i32)?;
    chrono::DateTime::from_timestamp(t, 0).map(|d| {
        d.with_timezone(&thai)
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, false)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn citizen_id_check_digit() {
        let id: CitizenId = "1103700012346".parse().unwrap();
        assert_eq!(id.to_string(), "1103700012346");
        assert_eq!(id.grouped(), "1-1037-00012-34-6");
        assert_eq!(id.masked(), "X-XXXX-XXXXX-34-6");
        let e = "1103700012345"
            .parse::<CitizenId>()
            .unwrap_err()
            .to_string();
        assert!(e.contains("citizen_id") && e.contains("check digit"), "{e}");
        assert!("110370001234".parse::<CitizenId>().is_err());
        assert!("11037000123a6".parse::<CitizenId>().is_err());
        assert_eq!(CitizenId::from_u64(id.as_u64()).unwrap(), id);
    }

    #[test]
    fn partial_dates() {
        assert_eq!(
            PartialDate::parse("birth_date", "1990").unwrap(),
            PartialDate::Year(1990)
        );
        assert_eq!(
            PartialDate::parse("birth_date", "1990-02")
                .unwrap()
                .latest(),
            NaiveDate::from_ymd_opt(1990, 2, 28).unwrap()
        );
        let e = PartialDate::parse("birth_date", "1990-02-30")
            .unwrap_err()
            .to_string();
        assert!(e.contains("birth_date"), "{e}");
        assert!(PartialDate::parse("birth_date", "1990-13").is_err());
        assert!(PartialDate::parse("birth_date", "90-01-01").is_err());
        let on = NaiveDate::from_ymd_opt(2010, 6, 1).unwrap();
        // Year-only 1990 counts as 31 Dec 1990: not yet 20 on 1 June 2010.
        assert!(!PartialDate::Year(1990).is_age_at_least(20, on));
        assert!(PartialDate::Year(1989).is_age_at_least(20, on));
    }

    #[test]
    fn laser_code_pattern() {
        assert_eq!(
            LaserCode::parse("JT0123456789").unwrap().as_str(),
            "JT0-1234567-89"
        );
        assert!(LaserCode::parse("J10-1234567-89").is_err());
    }

    #[test]
    fn title_codes() {
        let t = Title::from_code(1).unwrap();
        assert_eq!((t.th.as_str(), t.en.as_str()), ("นาย", "Mr."));
        assert_eq!(t.code(), Some(1));
    }
}
