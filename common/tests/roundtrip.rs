//! Property tests: every structure survives encode -> decode unchanged.
mod kit;
use kit::*;
use proptest::prelude::*;
use tuaton_common::gate::{self, GateCredential, IssueParams, StatusRef};
use tuaton_common::model::{CitizenId, Expiry, Name, PartialDate, Title};
use tuaton_common::presentation::{self, Presentation, Profile};
use tuaton_common::{sample, thai};

fn citizen_id() -> impl Strategy<Value = CitizenId> {
    (1u8..=8, proptest::collection::vec(0u8..=9, 11)).prop_map(|(first, rest)| {
        let mut d = vec![first];
        d.extend(rest);
        let sum: u32 = d
            .iter()
            .enumerate()
            .map(|(i, x)| u32::from(*x) * (13 - i as u32))
            .sum();
        d.push(((11 - sum % 11) % 10) as u8);
        d.iter()
            .map(|x| char::from(b'0' + x))
            .collect::<String>()
            .parse()
            .unwrap()
    })
}

fn thai_text() -> impl Strategy<Value = String> {
    "[ก-ฮะ-ู เ-ๅ็-๎a-zA-Z]{1,30}".prop_filter("non-blank", |s| !s.trim().is_empty())
}

fn any_text() -> impl Strategy<Value = String> {
    prop_oneof![
        thai_text(),
        "[a-zA-Z éü李]{1,30}".prop_filter("non-blank", |s| !s.trim().is_empty())
    ]
}

fn partial_date() -> impl Strategy<Value = PartialDate> {
    prop_oneof![
        (1900i32..2030).prop_map(PartialDate::Year),
        (1900i32..2030, 1u32..=12).prop_map(|(y, m)| PartialDate::YearMonth(y, m)),
        (1900i32..2030, 1u32..=12, 1u32..=28).prop_map(|(y, m, d)| PartialDate::Full(
            chrono::NaiveDate::from_ymd_opt(y, m, d).unwrap()
        )),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn citizen_ids_round_trip(id in citizen_id()) {
        prop_assert_eq!(id.to_string().parse::<CitizenId>().unwrap(), id);
        prop_assert_eq!(CitizenId::from_u64(id.as_u64()).unwrap(), id);
    }

    #[test]
    fn the_check_digit_rule_is_exactly_mod_11(id in citizen_id(), pos in 0usize..12, delta in 1u8..10) {
        let mut s: Vec<u8> = id.to_string().into_bytes();
        s[pos] = b'0' + (s[pos] - b'0' + delta) % 10;
        let s = String::from_utf8(s).unwrap();
        // The card's rule folds remainders 0 and 10 onto the same digit, so a few changes
        // slip through it; the parser must agree with the rule exactly, no more, no less.
        let d: Vec<u32> = s.bytes().map(|b| u32::from(b - b'0')).collect();
        let sum: u32 = d[..12].iter().enumerate().map(|(i, x)| x * (13 - i as u32)).sum();
        let ok = d[0] != 0 && (11 - sum % 11) % 10 == d[12];
        prop_assert_eq!(s.parse::<CitizenId>().is_ok(), ok);
    }

    #[test]
    fn partial_dates_round_trip(d in partial_date()) {
        prop_assert_eq!(PartialDate::parse("birth_date", &d.to_string()).unwrap(), d);
    }

    #[test]
    fn tis620_round_trips(s in thai_text()) {
        prop_assert_eq!(thai::from_tis620(&thai::to_tis620(&s).unwrap()).unwrap(), s);
    }

    #[test]
    fn credentials_and_presentations_round_trip(
        id in citizen_id(), given in any_text(), family in any_text(), title_th in any_text(),
        birth in partial_date(), address in any_text(), lifelong in any::<bool>(),
        index in any::<u32>(), list in 0u32..1000, profile in prop_oneof![Just(Profile::Flight), Just(Profile::Full), Just(Profile::Age)],
    ) {
        let mut c = sample::citizen(0);
        c.citizen_id = id;
        c.given_name_th = Name::parse("given_name_th", &given).unwrap();
        c.family_name_en = Name::parse("family_name_en", &family).unwrap();
        c.title = Title { th: Name::parse("title_th", &title_th).unwrap(), en: Name::parse("title_en", "Dr.").unwrap() };
        c.birth_date = birth;
        c.address = Name::parse("address", &address).unwrap();
        if lifelong { c.expiry = Expiry::Lifelong; }
        let ik = issuer_key();
        let cred = gate::issue(&c, &IssueParams {
            issuer: 1, signing_key: &ik, kid: &KID, holder_key: holder_key().verifying_key().to_bytes().into(),
            credential_id: [3; 8], status: StatusRef { list, index: index.into() }, issued_at: ISSUED,
        }, &mut rand::thread_rng()).unwrap();
        // Package bytes round trip exactly.
        let bytes = cred.to_bytes();
        let back = GateCredential::from_bytes(&bytes).unwrap();
        prop_assert_eq!(&back, &cred);
        prop_assert_eq!(back.to_bytes(), bytes);
        // Every claim comes back.
        let all = back.claims().unwrap();
        prop_assert_eq!(all.citizen_id, Some(id));
        prop_assert_eq!(all.given_name_th.as_ref(), Some(&c.given_name_th));
        prop_assert_eq!(all.title.as_ref(), Some(&c.title));
        prop_assert_eq!(all.birth_date, Some(birth));
        prop_assert_eq!(all.address.as_ref(), Some(&c.address));
        prop_assert_eq!(all.expiry, Some(c.expiry));
        // Presentation: CBOR and QR text round trip; decoding keeps the exact bytes.
        let p = presentation::present(&cred, &holder_key(), profile, NOW).unwrap();
        let text = presentation::to_qr_text(&p);
        prop_assert_eq!(presentation::from_qr_text(&text).unwrap(), p.clone());
        let dec = Presentation::from_cbor(&p).unwrap();
        prop_assert_eq!(dec.time, NOW);
        prop_assert_eq!(dec.issuer_signed.payload.status, StatusRef { list, index: index.into() });
        let v = check_with(&text, NOW, &trust(), &Revoked(vec![]));
        // An age gate turns away a holder under 20; everything else is valid.
        let under_20 = v.claims.as_ref().and_then(|c| c.age_over_20) == Some(false);
        if profile == Profile::Age && under_20 {
            prop_assert_eq!(&v.reasons, &vec![tuaton_common::verify::Reason::UnderAge]);
        } else {
            prop_assert!(v.is_valid(), "{:?}", v.reasons);
        }
        prop_assert_eq!(v.claims.unwrap().citizen_id, if profile == Profile::Age { None } else { Some(id) });
    }

    #[test]
    fn qr_text_round_trips_any_presentation_bytes(mut b in proptest::collection::vec(any::<u8>(), 1..600)) {
        b[0] = 0x83;
        prop_assert_eq!(presentation::from_qr_text(&presentation::to_qr_text(&b)).unwrap(), b);
    }

    #[test]
    fn arbitrary_text_never_panics(s in ".{0,300}") {
        let _ = check(&format!("TT1:{s}"));
        let _ = check(&s);
    }
}
