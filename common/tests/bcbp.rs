//! Boarding passes shaped like real ones (IATA Resolution 792, versions 6 to 8, one to
//! four legs, conditional items, airline data and security data), the name rules of
//! docs/BOARDING.md, the flight date in Thai time, and every malformed field.
use tuaton_common::bcbp::{self, BcbpError, BoardingPass, NameMatch, PassProblem};
use tuaton_common::gate::DisclosedClaims;
use tuaton_common::model::Name;

/// 2025-06-02 (day 153) 10:00 Thai time.
const NOW: i64 = 1_748_833_200;

/// One leg's mandatory items, padded as the format says, with `var` as its variable field.
/// (One argument per field of the format, in its order.)
#[allow(clippy::too_many_arguments)]
fn leg(
    pnr: &str,
    from: &str,
    to: &str,
    carrier: &str,
    flight: &str,
    day: u16,
    seat: &str,
    seq: &str,
    var: &str,
) -> String {
    format!(
        "{pnr:<7}{from}{to}{carrier:<3}{flight:<5}{day:03}Y{seat:>4}{seq:<5}1{:02X}{var}",
        var.len()
    )
}

/// Version-`v` conditional items of a first leg: unique items (passenger description,
/// check-in source, issuance source, date of issue, document type, issuer) and repeated
/// items (airline code, serial number, selectee, documentation, marketing carrier,
/// frequent flyer airline and number, ID/AD, baggage, fast track), then airline data.
fn conditional(v: u8, airline: &str) -> String {
    let unique = "0WW5152BTG ";
    let repeated = "2170123456789 0TG TG 1234567890123    020KN";
    format!(
        ">{v}{:02X}{unique}{:02X}{repeated}{airline}",
        unique.len(),
        repeated.len()
    )
}

fn pass(name: &str, legs: &[String]) -> String {
    format!("M{}{name:<20}E{}", legs.len(), legs.concat())
}

fn somchai(name: &str) -> String {
    pass(
        name,
        &[leg(
            "ABC123", "BKK", "CNX", "TG", "0102", 153, "032A", "0045", "",
        )],
    )
}

fn card(given: &str, family: &str) -> DisclosedClaims {
    DisclosedClaims {
        given_name_en: Some(Name::parse("given_name_en", given).unwrap()),
        family_name_en: Some(Name::parse("family_name_en", family).unwrap()),
        ..Default::default()
    }
}

#[test]
fn a_single_leg_pass_reads_every_mandatory_item() {
    let p = BoardingPass::parse(&somchai("JAIDEE/SOMCHAI MR")).unwrap();
    assert_eq!(p.name, "JAIDEE/SOMCHAI MR");
    assert!(p.electronic_ticket);
    assert_eq!(p.version, None);
    let l = &p.legs[0];
    assert_eq!(
        (l.pnr.as_str(), l.from.as_str(), l.to.as_str()),
        ("ABC123", "BKK", "CNX")
    );
    assert_eq!(
        (l.carrier.as_str(), l.flight.as_str(), l.julian_date),
        ("TG", "102", 153)
    );
    assert_eq!(
        (
            l.compartment,
            l.seat.as_str(),
            l.sequence.as_str(),
            l.status
        ),
        ('Y', "032A", "45", '1')
    );
    assert_eq!(
        l.seat_shown(),
        "32A",
        "the screen drops the row's leading zero"
    );
}

#[test]
fn versions_6_to_8_with_conditional_items_airline_data_and_security() {
    // Security data: `^`, its type, its length in hex, then a signature the gate ignores.
    let sig = "GIWVC5EH7JNT684FVNJ91W2QA4DVN5J8K4F0L0GEQ3DF5TGBN8709HKT5D3DW3GBHFCVHMY7J5T6HFR4";
    let security = format!("^1{:02X}{sig}", sig.len());
    for v in [6, 7, 8] {
        let first = leg(
            "XYZ789",
            "DMK",
            "HKT",
            "FD",
            "3010",
            153,
            "012C",
            "0002",
            &conditional(v, "AIRLINE-OWN-DATA 12"),
        );
        let repeated = "2170987654321 1FD FD 1234567890123    2PC";
        let var = format!("{:02X}{repeated}OWN", repeated.len());
        let second = leg(
            "XYZ789", "HKT", "KBV", "FD", "3201", 154, "004D", "0007", &var,
        );
        let text = pass("SRISUWANNAWONG/KANCH", &[first, second]) + &security;
        let p = BoardingPass::parse(&text).unwrap_or_else(|e| panic!("v{v}: {e}"));
        assert_eq!(p.version, Some(v));
        assert_eq!(p.legs.len(), 2);
        assert_eq!(
            (
                p.legs[1].from.as_str(),
                p.legs[1].flight.as_str(),
                p.legs[1].julian_date
            ),
            ("HKT", "3201", 154)
        );
    }
}

#[test]
fn four_legs_parse_and_a_fifth_is_refused() {
    let l = leg(
        "ABC123", "BKK", "CNX", "TG", "0102", 153, "032A", "0045", "",
    );
    let four = pass(
        "JAIDEE/SOMCHAI MR",
        &[l.clone(), l.clone(), l.clone(), l.clone()],
    );
    assert_eq!(BoardingPass::parse(&four).unwrap().legs.len(), 4);
    let five = four.replacen("M4", "M5", 1);
    assert_eq!(
        BoardingPass::parse(&five),
        Err(BcbpError::Field("number of legs"))
    );
}

#[test]
fn every_malformed_field_is_named() {
    let good = somchai("JAIDEE/SOMCHAI MR");
    assert!(BoardingPass::parse(&good).is_ok());
    let at = |i: usize, with: &str| {
        let mut s = good.clone();
        s.replace_range(i..i + with.len(), with);
        BoardingPass::parse(&s)
    };
    let cases: &[(usize, &str, &str)] = &[
        (0, "X", "format code"),
        (1, "0", "number of legs"),
        (2, "jaidee", "passenger name"),
        (22, "X", "electronic ticket indicator"),
        (23, "#", "PNR code"),
        (30, "bk", "from airport"),
        (33, "C1X", "to airport"),
        (36, "T  ", "operating carrier"),
        (39, "01X2 ", "flight number"),
        (44, "367", "date of flight"),
        (44, "000", "date of flight"),
        (47, "1", "compartment code"),
        (48, "03#A", "seat number"),
        (52, "00*5 ", "check-in sequence number"),
        (57, "#", "passenger status"),
        (58, "ZZ", "field size of variable size field"),
    ];
    for (i, with, field) in cases {
        assert_eq!(
            at(*i, with),
            Err(BcbpError::Field(field)),
            "{with:?} at {i}"
        );
    }
    // Sizes that run past the end, and what may follow the legs.
    assert_eq!(at(58, "05"), Err(BcbpError::Truncated("conditional items")));
    for n in 0..good.len() {
        assert!(BoardingPass::parse(&good[..n]).is_err(), "cut at {n}");
    }
    assert_eq!(
        BoardingPass::parse(&(good.clone() + "junk")),
        Err(BcbpError::Field("security data"))
    );
    assert_eq!(
        BoardingPass::parse(&(good.clone() + "^1FF")),
        Err(BcbpError::Truncated("security data"))
    );
    assert_eq!(
        BoardingPass::parse(&good.replace('S', "ส")),
        Err(BcbpError::NotAscii)
    );
    assert_eq!(
        BoardingPass::parse(&"M".repeat(2000)),
        Err(BcbpError::TooLong)
    );
    let bad_cond = leg(
        "ABC123", "BKK", "CNX", "TG", "0102", 153, "032A", "0045", ">6FF0WW",
    );
    assert_eq!(
        BoardingPass::parse(&pass("JAIDEE/SOMCHAI MR", &[bad_cond])),
        Err(BcbpError::Truncated("unique conditional items"))
    );
}

#[test]
fn no_input_makes_the_parser_panic() {
    let good = pass(
        "SRISUWANNAWONG/KANCH",
        &[leg(
            "XYZ789",
            "DMK",
            "HKT",
            "FD",
            "3010",
            153,
            "012C",
            "0002",
            &conditional(6, "X"),
        )],
    );
    for i in 0..good.len() {
        for c in [b'0', b'F', b'>', b' ', b'^', b'/', 0x7F] {
            let mut b = good.clone().into_bytes();
            b[i] = c;
            let _ = BoardingPass::parse(&String::from_utf8_lossy(&b));
        }
    }
}

#[test]
fn names_match_as_airlines_write_them() {
    let somchai = card("Somchai", "Jaidee");
    let m = |name: &str, c: &DisclosedClaims| {
        bcbp::match_name(
            &BoardingPass::parse(&self::somchai(name)).unwrap(),
            c.family_name_en.as_ref().map(|n| n.to_string()).as_deref(),
            c.given_name_en.as_ref().map(|n| n.to_string()).as_deref(),
        )
    };
    for name in [
        "JAIDEE/SOMCHAI",
        "JAIDEE/SOMCHAI MR",
        "JAIDEE/SOMCHAIMR",
        "JAIDEE/SOMCHAI  MR",
    ] {
        assert_eq!(m(name, &somchai), NameMatch::Exact, "{name}");
    }
    for name in [
        "JAIDEE/SOMSAK MR",
        "JAIDEE/SOMCHAIX",
        "JAIDEE/",
        "JAIDE/SOMCHAI MR",
        "JAIDEE",
        "MEESUK/BOONMEE MRS",
    ] {
        assert_eq!(m(name, &somchai), NameMatch::Mismatch, "{name}");
    }
    // Long Thai-transliterated names, cut at 20 characters.
    let kanchanaporn = card("Kanchanaporn", "Srisuwannawong");
    assert_eq!(
        m("SRISUWANNAWONG/KANCH", &kanchanaporn),
        NameMatch::Truncated
    );
    assert_eq!(
        m("SRISUWANNAWONG/KANCX", &kanchanaporn),
        NameMatch::Mismatch
    );
    let long = card("Thanakorn", "Wongyai-Srisuk");
    assert_eq!(m("WONGYAISRISUK/THANAK", &long), NameMatch::Truncated);
    assert_eq!(m("WONGYAI-SRISUK/THANA", &long), NameMatch::Truncated);
    // Title cut in the middle when the given name fits: "... MISS" -> "... MI".
    let mali = card("Mali", "Rattanakosinpr");
    assert_eq!(m("RATTANAKOSINPR/MALIM", &mali), NameMatch::Truncated);
    // A surname alone filling the field, and a short field that is not full.
    let very = card("Anan", "Chaiyaphumphithakwong");
    assert_eq!(m("CHAIYAPHUMPHITHAKWON", &very), NameMatch::Truncated);
    assert_eq!(m("SRISUWANNAWONG/KAN", &kanchanaporn), NameMatch::Mismatch);
    // Attack: a full field padded out is not a truncated name. "JAIDEE/S" and dots would
    // otherwise pass for every Jaidee whose given name starts with S, "J" and dots for
    // anyone whose surname starts with J.
    for name in [
        "JAIDEE/S............",
        "J...................",
        "JAIDEE/S------------",
    ] {
        assert_eq!(name.len(), 20);
        assert_eq!(m(name, &somchai), NameMatch::Mismatch, "{name}");
    }
    // Never on the Thai name alone: no English names, no match.
    assert_eq!(
        m("JAIDEE/SOMCHAI MR", &DisclosedClaims::default()),
        NameMatch::Mismatch
    );
}

#[test]
fn the_flight_must_be_today_in_thai_time_with_a_margin_past_midnight() {
    let c = card("Somchai", "Jaidee");
    let day = |d| {
        pass(
            "JAIDEE/SOMCHAI MR",
            &[leg(
                "ABC123", "BKK", "CNX", "TG", "0102", d, "032A", "0045", "",
            )],
        )
    };
    assert!(bcbp::cross_check(&day(153), Some(&c), NOW, None).matches());
    let codes = |d, now| bcbp::cross_check(&day(d), Some(&c), now, None).problems;
    assert_eq!(codes(154, NOW), [PassProblem::NotToday]);
    assert_eq!(codes(152, NOW), [PassProblem::NotToday]);
    // 2025-06-03 05:59:59 Thai time still accepts yesterday's pass; 06:00:00 does not.
    let midnight = 1_748_883_600; // 2025-06-03T00:00:00+07:00
    assert!(codes(153, midnight + 6 * 3600 - 1).is_empty());
    assert_eq!(codes(153, midnight + 6 * 3600), [PassProblem::NotToday]);
    // 23:30 UTC on 2 June is 06:30 on 3 June in Thailand: day 154.
    assert!(codes(154, 1_748_907_000).is_empty());
    // New Year: 31 December (day 365 of 2025) is yesterday on 1 January 2026 at 02:00.
    let new_year = 1_767_200_400 + 2 * 3600; // 2026-01-01T02:00:00+07:00
    assert!(codes(365, new_year).is_empty());
    assert!(codes(1, new_year).is_empty());
}

#[test]
fn the_gate_airport_picks_the_leg_and_must_be_its_departure() {
    let c = card("Somchai", "Jaidee");
    let two = pass(
        "JAIDEE/SOMCHAI MR",
        &[
            leg(
                "ABC123", "BKK", "CNX", "TG", "0102", 153, "032A", "0045", "",
            ),
            leg(
                "ABC123", "CNX", "HKT", "TG", "0114", 153, "011C", "0012", "",
            ),
        ],
    );
    let chk = bcbp::cross_check(&two, Some(&c), NOW, Some("CNX"));
    assert!(chk.matches());
    assert_eq!(chk.judged_leg().unwrap().flight, "114");
    let elsewhere = bcbp::cross_check(&two, Some(&c), NOW, Some("DMK"));
    assert_eq!(elsewhere.problems, [PassProblem::WrongAirport]);
    let all = bcbp::cross_check(
        &somchai("JAIDEE/SOMSAK MR").replace("153Y", "140Y"),
        Some(&c),
        NOW,
        Some("DMK"),
    );
    assert_eq!(
        all.problems,
        [
            PassProblem::NameMismatch,
            PassProblem::NotToday,
            PassProblem::WrongAirport
        ]
    );
    let bad = bcbp::cross_check("M1JAIDEE", Some(&c), NOW, None);
    assert_eq!(bad.problems, [PassProblem::Malformed]);
    assert_eq!(
        bad.to_json()["reasons"],
        serde_json::json!(["boarding_pass_malformed"])
    );
}

/// A pass carrying its date of issue (conditional item 22, "YDDD") is judged in the right
/// year: the same day of the year, issued last year, is not today's flight.
#[test]
fn attack_last_years_pass_for_the_same_day_is_not_today() {
    use chrono::Datelike;
    let now = 1_796_000_000; // 2026-11-30 (Thai time)
    let today = tuaton_common::model::thai_date(now).unwrap();
    let doy = today.ordinal() as u16;
    let with_issue = |year: i32, issue_day: u16| {
        // ">5", unique items of 7: "0", "W", "W", then the date of issue; no repeated items.
        let var = format!(">507{}{}{issue_day:03}00", "0WW", year.rem_euclid(10));
        pass(
            "JAIDEE/SOMCHAI MR",
            &[leg(
                "ABC123", "BKK", "CNX", "TG", "0102", doy, "032A", "0045", &var,
            )],
        )
    };
    let c = card("Somchai", "Jaidee");
    let judge = |text: &str| tuaton_common::bcbp::cross_check(text, Some(&c), now, None);
    // Issued this year, a week ago: today's flight.
    let p = with_issue(today.year(), doy - 7);
    assert_eq!(
        BoardingPass::parse(&p).unwrap().issued,
        Some(((today.year() % 10) as u8, doy - 7))
    );
    assert!(judge(&p).matches(), "{p}");
    // Issued last year: its day-of-year is a year ago.
    let p = with_issue(today.year() - 1, doy - 7);
    assert_eq!(judge(&p).problems, [PassProblem::NotToday], "{p}");
    // Issued late last year for a flight early this year still counts (the leg is the
    // first such day after the issue).
    let early = tuaton_common::model::thai_date(1_769_900_000).unwrap(); // 2026-02-01
    let p2 = pass(
        "JAIDEE/SOMCHAI MR",
        &[leg(
            "ABC123",
            "BKK",
            "CNX",
            "TG",
            "0102",
            early.ordinal() as u16,
            "032A",
            "0045",
            &format!(
                ">507{}{}{:03}00",
                "0WW",
                (early.year() - 1).rem_euclid(10),
                350
            ),
        )],
    );
    assert!(
        tuaton_common::bcbp::cross_check(&p2, Some(&c), 1_769_900_000, None).matches(),
        "{p2}"
    );
    // Issued just after midnight on 1 January for a leg dated 31 December, checked before
    // 06:00: yesterday's flight, delayed past midnight, still today's.
    let new_year = 1_767_204_000; // 2026-01-01 01:00 Thai time
    let p3 = pass(
        "JAIDEE/SOMCHAI MR",
        &[leg(
            "ABC123",
            "BKK",
            "CNX",
            "TG",
            "0102",
            365,
            "032A",
            "0045",
            ">5070WW600100",
        )],
    );
    assert!(
        tuaton_common::bcbp::cross_check(&p3, Some(&c), new_year, None).matches(),
        "{p3}"
    );
    // A name cut right after a hyphen is a truncation, not padding.
    let m = tuaton_common::bcbp::match_name(
        &BoardingPass::parse(&somchai("SAENGCHANA-WONGSUWA-")).unwrap(),
        Some("Saengchana-Wongsuwan"),
        Some("Kanokwan"),
    );
    assert_eq!(m, NameMatch::Truncated);
}
