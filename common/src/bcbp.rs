//! IATA Bar Coded Boarding Passes (BCBP, Resolution 792) and the gate's cross-check of a
//! pass against the ID card it is shown with: the name on the pass must be the card's
//! English name (docs/BOARDING.md gives the rules with examples), the flight must be
//! today in Thai time, and, when the gate says where it is, the leg must depart from
//! there.
//!
//! Pure: text and `now` in, a typed pass or a [`BcbpError`] out. The parser reads only
//! fixed-width fields whose sizes it checks against what is left, so no input can make it
//! read past the end, loop, or allocate more than the input's size.

use crate::gate::DisclosedClaims;
use chrono::Datelike;

/// Longest pass text accepted. Real passes are under 200 characters (four legs with all
/// conditional items and a security block stay under 600).
pub const MAX_PASS_LEN: usize = 1024;
/// Most legs a pass may encode (the format's own limit: one digit, 1 to 4).
pub const MAX_LEGS: usize = 4;
/// A pass dated yesterday (Thai time) is still "today" until this many seconds after
/// midnight: a flight delayed past midnight keeps the pass its passengers checked in with.
pub const PAST_MIDNIGHT_MARGIN: i64 = 6 * 3600;
/// Titles airlines append to the given name (with or without a space), the longest first
/// so that `MRS` is not read as `MR` + `S`.
pub const TITLES: [&str; 7] = ["MSTR", "MISS", "PROF", "MRS", "MR", "MS", "DR"];

/// Why a pass could not be read. Each variant names the field.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BcbpError {
    /// Longer than [`MAX_PASS_LEN`].
    #[error("boarding pass is longer than {MAX_PASS_LEN} characters")]
    TooLong,
    /// A character outside printable ASCII.
    #[error("boarding pass holds a character that is not printable ASCII")]
    NotAscii,
    /// Ends inside a field.
    #[error("boarding pass ends inside {0}")]
    Truncated(&'static str),
    /// A field holds what its definition does not allow.
    #[error("boarding pass field {0} is not valid")]
    Field(&'static str),
}

/// One flight leg's mandatory items.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Leg {
    /// Operating carrier's booking reference (PNR), trimmed.
    pub pnr: String,
    /// Departure airport, IATA code.
    pub from: String,
    /// Arrival airport, IATA code.
    pub to: String,
    /// Operating carrier designator, trimmed ("TG", "FD").
    pub carrier: String,
    /// Flight number without leading zeros or padding ("104", "3010A").
    pub flight: String,
    /// Day of the year of the flight, 1 to 366 (the pass carries no year).
    pub julian_date: u16,
    /// Compartment (cabin) code.
    pub compartment: char,
    /// Seat as printed, trailing spaces trimmed ("032A", "001A"): the IATA field, what
    /// `check --json` reports. [`Leg::seat_shown`] is the form for people.
    pub seat: String,
    /// Check-in sequence number, trimmed of leading zeros.
    pub sequence: String,
    /// Passenger status.
    pub status: char,
    /// Size of the leg's conditional and airline fields (skipped, apart from the header).
    pub variable_size: usize,
}

impl Leg {
    /// The seat as a person reads it: leading zeros of the row dropped ("32A" for
    /// "032A"), or as printed when it is not a row number and a letter.
    pub fn seat_shown(&self) -> String {
        let b = self.seat.as_bytes();
        if b.len() >= 3 && b[..3].iter().all(u8::is_ascii_digit) {
            format!("{}{}", trim_zeros(&self.seat[..3]), self.seat[3..].trim())
        } else {
            self.seat.trim().to_owned()
        }
    }
}

/// A parsed boarding pass.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BoardingPass {
    /// The 20-character name field, as on the pass (trailing spaces removed).
    pub name: String,
    /// Whether the ticket is electronic (`E`).
    pub electronic_ticket: bool,
    /// BCBP version from the conditional section (`>` + digit), when present.
    pub version: Option<u8>,
    /// Date of issue of the pass (item 22), when the conditional section carries it: it
    /// tells which year a leg's day is in.
    pub issued: Option<IssueDate>,
    /// Legs, 1 to 4.
    pub legs: Vec<Leg>,
}

/// A boarding pass's date of issue as BCBP writes it: the year's last digit and the day
/// of the year.
pub type IssueDate = (u8, u16);

struct Cursor<'a> {
    s: &'a str,
    at: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a str, BcbpError> {
        let end = self.at.checked_add(n).ok_or(BcbpError::Truncated(what))?;
        let f = self.s.get(self.at..end).ok_or(BcbpError::Truncated(what))?;
        self.at = end;
        Ok(f)
    }
    fn hex2(&mut self, what: &'static str) -> Result<usize, BcbpError> {
        let f = self.take(2, what)?;
        usize::from_str_radix(f, 16).map_err(|_| BcbpError::Field(what))
    }
}

fn upper_alpha(f: &str) -> bool {
    f.bytes().all(|b| b.is_ascii_uppercase())
}

fn trim_zeros(f: &str) -> String {
    let t = f.trim();
    let z = t.trim_start_matches('0');
    if z.is_empty() && !t.is_empty() {
        "0".into()
    } else {
        z.to_owned()
    }
}

impl BoardingPass {
    /// Parses BCBP text (format code `M`), as a scanner types it or a barcode decodes it.
    /// Surrounding whitespace (a scanner's line ending) is ignored.
    pub fn parse(text: &str) -> Result<Self, BcbpError> {
        if text.len() > MAX_PASS_LEN {
            return Err(BcbpError::TooLong);
        }
        let t = text.trim_matches(|c| c == '\r' || c == '\n');
        if !t.bytes().all(|b| (0x20..0x7F).contains(&b)) {
            return Err(BcbpError::NotAscii);
        }
        let mut c = Cursor { s: t, at: 0 };
        if c.take(1, "format code")? != "M" {
            return Err(BcbpError::Field("format code"));
        }
        let n = c.take(1, "number of legs")?;
        let legs_n = match n.parse::<usize>() {
            Ok(n @ 1..=MAX_LEGS) => n,
            _ => return Err(BcbpError::Field("number of legs")),
        };
        let name = c.take(20, "passenger name")?.trim_end().to_owned();
        if name.is_empty()
            || !name
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b" /-.'".contains(&b))
        {
            return Err(BcbpError::Field("passenger name"));
        }
        let electronic_ticket = match c.take(1, "electronic ticket indicator")? {
            "E" => true,
            " " | "L" => false,
            _ => return Err(BcbpError::Field("electronic ticket indicator")),
        };
        let mut legs = Vec::with_capacity(legs_n);
        let mut version = None;
        let mut issued = None;
        for i in 0..legs_n {
            let leg = Self::leg(&mut c)?;
            // The variable field: conditional items, then the airline's own data.
            let var = c.take(leg.variable_size, "conditional items")?;
            if i == 0 {
                (version, issued) = Self::first_leg_conditional(var)?;
            } else {
                Self::repeated_conditional(var)?;
            }
            legs.push(leg);
        }
        // What follows is the security data (`^`, type, size, data) or nothing.
        let rest = &t[c.at..];
        if !rest.is_empty() {
            let mut s = Cursor { s: rest, at: 0 };
            if s.take(1, "security data")? != "^" {
                return Err(BcbpError::Field("security data"));
            }
            s.take(1, "type of security data")?;
            let n = s.hex2("length of security data")?;
            s.take(n, "security data")?;
            if s.at != rest.len() {
                return Err(BcbpError::Field("security data"));
            }
        }
        Ok(BoardingPass {
            name,
            electronic_ticket,
            version,
            issued,
            legs,
        })
    }

    fn leg(c: &mut Cursor<'_>) -> Result<Leg, BcbpError> {
        let pnr = c.take(7, "PNR code")?.trim_end();
        if pnr.is_empty() || !pnr.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(BcbpError::Field("PNR code"));
        }
        let from = c.take(3, "from airport")?;
        if !upper_alpha(from) {
            return Err(BcbpError::Field("from airport"));
        }
        let to = c.take(3, "to airport")?;
        if !upper_alpha(to) {
            return Err(BcbpError::Field("to airport"));
        }
        let carrier = c.take(3, "operating carrier")?.trim_end();
        if !(2..=3).contains(&carrier.len()) || !carrier.bytes().all(|b| b.is_ascii_alphanumeric())
        {
            return Err(BcbpError::Field("operating carrier"));
        }
        // NNNN[a]: four digits and an optional suffix letter; some airlines pad on the left.
        let flight_f = c.take(5, "flight number")?;
        let f = flight_f.trim();
        let (digits, suffix) = match f.as_bytes().last() {
            Some(b) if b.is_ascii_uppercase() => (&f[..f.len() - 1], &f[f.len() - 1..]),
            _ => (f, ""),
        };
        if digits.is_empty() || digits.len() > 4 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(BcbpError::Field("flight number"));
        }
        let jd = c.take(3, "date of flight")?;
        let julian_date = match jd.trim_start().parse::<u16>() {
            Ok(d @ 1..=366) if jd.bytes().all(|b| b.is_ascii_digit() || b == b' ') => d,
            _ => return Err(BcbpError::Field("date of flight")),
        };
        let compartment = c.take(1, "compartment code")?.chars().next().unwrap_or(' ');
        if !compartment.is_ascii_uppercase() {
            return Err(BcbpError::Field("compartment code"));
        }
        let seat_f = c.take(4, "seat number")?;
        if !seat_f
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b' ')
        {
            return Err(BcbpError::Field("seat number"));
        }
        let seat = seat_f.trim_end().to_owned();
        let seq_f = c.take(5, "check-in sequence number")?;
        if !seq_f
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b' ')
        {
            return Err(BcbpError::Field("check-in sequence number"));
        }
        let status = c.take(1, "passenger status")?.chars().next().unwrap_or(' ');
        if !status.is_ascii_alphanumeric() {
            return Err(BcbpError::Field("passenger status"));
        }
        let variable_size = c.hex2("field size of variable size field")?;
        Ok(Leg {
            pnr: pnr.to_owned(),
            from: from.to_owned(),
            to: to.to_owned(),
            carrier: carrier.to_owned(),
            flight: format!("{}{suffix}", trim_zeros(digits)),
            julian_date,
            compartment,
            seat,
            sequence: trim_zeros(seq_f),
            status,
            variable_size,
        })
    }

    /// The first leg's conditional section: `>`, the version digit, the size of the unique
    /// items, those items, then the repeated items' size and items; the rest is the
    /// airline's. Sizes must fit inside the leg's variable field.
    fn first_leg_conditional(var: &str) -> Result<(Option<u8>, Option<IssueDate>), BcbpError> {
        if !var.starts_with('>') {
            // No conditional items: the whole field is the airline's.
            return Ok((None, None));
        }
        let mut c = Cursor { s: var, at: 1 };
        let v = c.take(1, "version number")?;
        let version = v
            .parse::<u8>()
            .map_err(|_| BcbpError::Field("version number"))?;
        let unique = c.hex2("size of unique conditional items")?;
        let items = c.take(unique, "unique conditional items")?;
        Self::repeated_conditional(&var[c.at..])?;
        // Items 15, 12 and 14 (one character each), then item 22, the date of issue:
        // "YDDD". Blank or absent is common; anything but four digits is ignored.
        let issued = items
            .get(3..7)
            .filter(|d| d.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|d| Some((d[..1].parse().ok()?, d[1..].parse().ok()?)))
            .filter(|(_, day)| (1..=366).contains(day));
        Ok((Some(version), issued))
    }

    /// A leg's repeated conditional items: their size (2 hex digits) and the items; what
    /// follows is the airline's own data and is skipped.
    fn repeated_conditional(var: &str) -> Result<(), BcbpError> {
        if var.is_empty() {
            return Ok(());
        }
        let mut c = Cursor { s: var, at: 0 };
        let n = c.hex2("size of repeated conditional items")?;
        c.take(n, "repeated conditional items")?;
        Ok(())
    }

    /// Surname and given part (title included) of the name field, split at the first `/`.
    pub fn name_parts(&self) -> (&str, Option<&str>) {
        match self.name.split_once('/') {
            Some((s, g)) => (s, Some(g)),
            None => (self.name.as_str(), None),
        }
    }

    /// Whether the name field is full (20 characters), not padded out, so it may have been
    /// truncated. A field filled out with padding (two or more dots, spaces or dashes at
    /// the end) is not a cut-off name: `JAIDEE/S...........` holds the initial S and
    /// nothing more, and must not pass as the start of any name that begins with S.
    pub fn name_is_full(&self) -> bool {
        // A name may be cut right after a hyphen or a dot; two or more of them at the
        // end are padding.
        let tail = self
            .name
            .chars()
            .rev()
            .take_while(|c| !c.is_ascii_alphabetic())
            .count();
        self.name.len() == 20 && tail < 2
    }
}

/// Letters only, upper case: how names are compared (airlines drop or keep spaces,
/// hyphens and apostrophes as they please).
fn letters(s: &str) -> String {
    s.chars()
        .filter(char::is_ascii_alphabetic)
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

/// How the pass's name relates to the card's English name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NameMatch {
    /// Same surname and given name (a title after the given name is allowed).
    Exact,
    /// The pass's name field is full and the card's name starts with what it holds.
    Truncated,
    /// Anything else, or a card without its English name.
    Mismatch,
}

/// Compares the pass's name with the card's English names (docs/BOARDING.md). Never uses
/// the Thai name: the pass does not carry it.
pub fn match_name(
    pass: &BoardingPass,
    family_en: Option<&str>,
    given_en: Option<&str>,
) -> NameMatch {
    let (Some(fam), Some(giv)) = (family_en, given_en) else {
        return NameMatch::Mismatch;
    };
    let (fam, giv) = (letters(fam), letters(giv));
    if fam.is_empty() {
        return NameMatch::Mismatch;
    }
    let (ps, pg) = pass.name_parts();
    let ps = letters(ps);
    let full = pass.name_is_full();
    let Some(pg) = pg.map(letters) else {
        // No `/`: the field holds only (part of) the surname, which is a match only when
        // the field is full and the card's surname starts with it.
        return if full && fam.starts_with(&ps) && !ps.is_empty() {
            NameMatch::Truncated
        } else {
            NameMatch::Mismatch
        };
    };
    if ps != fam {
        return NameMatch::Mismatch;
    }
    if pg == giv || TITLES.iter().any(|t| pg == format!("{giv}{t}")) {
        return NameMatch::Exact;
    }
    // Truncated: the field is full and what it holds of the given name (and title) is
    // where the card's given name (then a title) begins. At least one letter of the given
    // name must be there.
    if full && !pg.is_empty() {
        let fits = |whole: &str| whole.starts_with(&pg);
        if fits(&giv)
            || TITLES
                .iter()
                .any(|t| pg.len() > giv.len() && fits(&format!("{giv}{t}")))
        {
            return NameMatch::Truncated;
        }
    }
    NameMatch::Mismatch
}

/// Why a boarding pass does not go with this ID here and now.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PassProblem {
    /// The pass is not readable BCBP.
    Malformed,
    /// The name on the pass is not the card's.
    NameMismatch,
    /// No leg is dated today (Thai time, with the past-midnight margin).
    NotToday,
    /// No leg departs from the gate's airport.
    WrongAirport,
}

impl PassProblem {
    /// The stable code (`check --json`).
    pub fn code(self) -> &'static str {
        match self {
            PassProblem::Malformed => "boarding_pass_malformed",
            PassProblem::NameMismatch => "boarding_pass_name_mismatch",
            PassProblem::NotToday => "boarding_pass_not_today",
            PassProblem::WrongAirport => "boarding_pass_wrong_airport",
        }
    }
    /// Plain words for gate staff, English then Thai.
    pub fn describe(self) -> (&'static str, &'static str) {
        match self {
            PassProblem::Malformed => ("Boarding pass unreadable", "อ่านบัตรโดยสารไม่ได้"),
            PassProblem::NameMismatch => ("Name differs from the ID", "ชื่อไม่ตรงกับบัตรประชาชน"),
            PassProblem::NotToday => ("Boarding pass is not for today", "บัตรโดยสารไม่ใช่ของวันนี้"),
            PassProblem::WrongAirport => {
                ("Flight does not leave from here", "เที่ยวบินไม่ได้ออกจากสนามบินนี้")
            }
        }
    }
}

/// The outcome of pairing one pass with one ID verdict's claims.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PassCheck {
    /// The parsed pass (`None` when malformed).
    pub pass: Option<BoardingPass>,
    /// The leg judged: the one departing from the gate's airport, else the first dated
    /// today, else the first.
    pub leg: Option<usize>,
    /// How the names compare.
    pub name: NameMatch,
    /// Problems, in the order malformed, name, date, airport. Empty: the pass goes with
    /// the card.
    pub problems: Vec<PassProblem>,
}

/// The day of the year in Thai time at `t` (Unix seconds).
fn thai_day_of_year(t: i64) -> Option<u16> {
    let d = crate::model::thai_date(t)?;
    u16::try_from(d.ordinal()).ok()
}

/// Whether a leg dated `julian` is today in Thai time at `now`: the day of the year, or
/// the day before until [`PAST_MIDNIGHT_MARGIN`] past midnight.
pub fn is_today(julian: u16, now: i64) -> bool {
    thai_day_of_year(now) == Some(julian)
        || thai_day_of_year(now - PAST_MIDNIGHT_MARGIN) == Some(julian)
}

/// [`is_today`], and when the pass carries its date of issue (`issued`: the year's last
/// digit and the day), the leg's year too: the leg is the first day `julian` on or after
/// the issue, and the issue is the latest such date not after today. A pass from last
/// year (or ten years ago) dated this day of the year is not today's.
pub fn is_today_issued(julian: u16, issued: Option<IssueDate>, now: i64) -> bool {
    if !is_today(julian, now) {
        return false;
    }
    let Some((digit, issue_day)) = issued else {
        return true;
    };
    // The day that counts as today: yesterday's while inside the margin.
    let day = [now, now - PAST_MIDNIGHT_MARGIN]
        .into_iter()
        .filter_map(crate::model::thai_date)
        .find(|d| u16::try_from(d.ordinal()).ok() == Some(julian));
    let Some(day) = day else {
        return false;
    };
    let today = crate::model::thai_date(now).unwrap_or(day);
    let ymd = |y: i32, doy: u16| chrono::NaiveDate::from_yo_opt(y, u32::from(doy));
    // The latest issue date with this year digit that is not after today.
    let issue = (0..10)
        .map(|back| today.year() - back)
        .filter(|y| y.rem_euclid(10) == i32::from(digit))
        .filter_map(|y| ymd(y, issue_day))
        .find(|d| *d <= today);
    let Some(issue) = issue else {
        return false;
    };
    // The leg is the first day `julian` on or after the issue; a pass may also be issued
    // (or reissued) just after midnight for a leg dated the day before, or across New
    // Year, so a leg one day before its issue counts too.
    let leg = [issue.year() - 1, issue.year(), issue.year() + 1]
        .into_iter()
        .filter_map(|y| ymd(y, julian))
        .find(|d| *d >= issue - chrono::Days::new(1));
    leg == Some(day)
}

/// Pairs `text` (a scanned pass) with the authentic claims of an ID verdict (`None` when
/// the ID showed none) at `now`, at a gate in `airport` (IATA code) when given.
pub fn cross_check(
    text: &str,
    claims: Option<&DisclosedClaims>,
    now: i64,
    airport: Option<&str>,
) -> PassCheck {
    let pass = match BoardingPass::parse(text) {
        Ok(p) => p,
        Err(_) => {
            return PassCheck {
                pass: None,
                leg: None,
                name: NameMatch::Mismatch,
                problems: vec![PassProblem::Malformed],
            }
        }
    };
    let fam = claims
        .and_then(|c| c.family_name_en.as_ref())
        .map(|n| n.to_string());
    let giv = claims
        .and_then(|c| c.given_name_en.as_ref())
        .map(|n| n.to_string());
    let name = match_name(&pass, fam.as_deref(), giv.as_deref());
    let from_here = |l: &Leg| airport.is_none_or(|a| l.from == a);
    let leg = pass
        .legs
        .iter()
        .position(|l| from_here(l) && is_today_issued(l.julian_date, pass.issued, now))
        .or_else(|| pass.legs.iter().position(from_here))
        .or_else(|| {
            pass.legs
                .iter()
                .position(|l| is_today_issued(l.julian_date, pass.issued, now))
        })
        .unwrap_or(0);
    let l = &pass.legs[leg];
    let mut problems = Vec::new();
    if name == NameMatch::Mismatch {
        problems.push(PassProblem::NameMismatch);
    }
    if !is_today_issued(l.julian_date, pass.issued, now) {
        problems.push(PassProblem::NotToday);
    }
    if !from_here(l) {
        problems.push(PassProblem::WrongAirport);
    }
    PassCheck {
        pass: Some(pass),
        leg: Some(leg),
        name,
        problems,
    }
}

impl PassCheck {
    /// Whether the pass goes with the card.
    pub fn matches(&self) -> bool {
        self.problems.is_empty()
    }

    /// The leg judged.
    pub fn judged_leg(&self) -> Option<&Leg> {
        Some(&self.pass.as_ref()?.legs[self.leg?])
    }

    /// The `boarding_pass` object of `check --json` (docs/schemas/check.schema.json).
    pub fn to_json(&self) -> serde_json::Value {
        let leg = self.judged_leg();
        serde_json::json!({
            "match": self.matches(),
            "name_match": match self.name {
                NameMatch::Exact => "exact",
                NameMatch::Truncated => "truncated",
                NameMatch::Mismatch => "mismatch",
            },
            "name": self.pass.as_ref().map(|p| crate::text::for_display(&p.name).into_owned()),
            "carrier": leg.map(|l| l.carrier.clone()),
            "flight": leg.map(|l| l.flight.clone()),
            "julian_date": leg.map(|l| l.julian_date),
            "from": leg.map(|l| l.from.clone()),
            "to": leg.map(|l| l.to.clone()),
            "seat": leg.map(|l| l.seat.clone()),
            "sequence": leg.map(|l| l.sequence.clone()),
            "legs": self.pass.as_ref().map_or(0, |p| p.legs.len()),
            "reasons": self.problems.iter().map(|p| p.code()).collect::<Vec<_>>(),
        })
    }
}

/// Whether scanned text looks like a boarding pass rather than an ID presentation (format
/// code `M` and a leg count), so a gate can route a scan before parsing it.
pub fn looks_like_pass(text: &str) -> bool {
    let b = text.trim().as_bytes();
    b.len() >= 2 && b[0] == b'M' && (b'1'..=b'4').contains(&b[1])
}
