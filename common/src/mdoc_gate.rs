//! The gate as an ISO 18013-5 reader: which elements a gate's requirement asks of an
//! mdoc, and how the verified elements read as the card's claims, so an mdoc answer is
//! judged by the same rules and shown with the same reasons as a tuaton presentation
//! ([`crate::verify::verify_mdoc`]). Pure.
//!
//! docs/FORMAT.md section 11.8 is the normative text.

use crate::error::{Error, Result};
use crate::gate::DisclosedClaims;
use crate::mdoc::{Request, NS_ISO, NS_TH};
use crate::model::{CitizenId, Expiry, LaserCode, Name, PartialDate, Title};
use crate::verify::Requirement;
use ciborium::Value;
use std::collections::BTreeMap;

/// The mDL namespace (18013-5 section 7.2.1): its element identifiers are the ones
/// ISO/IEC 23220-2 uses, so a gate reads names and dates from either.
pub const NS_MDL: &str = "org.iso.18013.5.1";

/// The elements a gate with requirement `require` asks for: what the requirement needs,
/// the portrait (staff compare it with the face), and the card's dates.
pub fn request_for(require: Requirement) -> Request {
    let mut iso = vec!["portrait", "issue_date", "expiry_date"];
    let mut th = vec!["lifelong"];
    let flight_iso = ["family_name", "given_name", "birth_date", "document_number"];
    let flight_th = [
        "title_th",
        "title_en",
        "given_name_th",
        "family_name_th",
        "birth_date_partial",
    ];
    match require {
        Requirement::Flight => {
            iso.extend(flight_iso);
            th.extend(flight_th);
        }
        Requirement::Age => iso.push("age_over_20"),
        Requirement::Full => {
            iso.extend(flight_iso);
            iso.extend(["age_over_18", "age_over_20", "issuing_authority_unicode"]);
            th.extend(flight_th);
            th.extend(["address", "laser_code"]);
        }
    }
    let own = |v: Vec<&str>| v.into_iter().map(str::to_owned).collect();
    BTreeMap::from([(NS_ISO.to_owned(), own(iso)), (NS_TH.to_owned(), own(th))])
}

fn malformed(what: &str) -> Error {
    crate::error::MdocError::Malformed(format!("element {what} is not of its type")).into()
}

/// The verified elements as the card's claims. An element the issuer signed with a value
/// of the wrong type is an error: the whole answer is refused rather than part shown.
pub fn claims(elements: &BTreeMap<(String, String), Value>) -> Result<DisclosedClaims> {
    let find = |names: &[&str], id: &str| {
        names
            .iter()
            .find_map(|ns| elements.get(&((*ns).to_owned(), id.to_owned())))
    };
    let iso = |id: &str| find(&[NS_ISO, NS_MDL], id);
    let th = |id: &str| find(&[NS_TH], id);
    let text = |v: Option<&Value>, id: &'static str| -> Result<Option<Name>> {
        v.map(|v| match v {
            Value::Text(s) => Name::parse(id, s),
            _ => Err(malformed(id)),
        })
        .transpose()
    };
    let date = |v: Option<&Value>, id: &'static str| -> Result<Option<chrono::NaiveDate>> {
        v.map(|v| match v {
            // full-date: tag 1004 over "YYYY-MM-DD" (RFC 8943), as 18013-5 section 7.2.1.
            Value::Tag(1004, inner) => match inner.as_ref() {
                Value::Text(s) => {
                    chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| malformed(id))
                }
                _ => Err(malformed(id)),
            },
            _ => Err(malformed(id)),
        })
        .transpose()
    };
    let flag = |v: Option<&Value>, id: &'static str| -> Result<Option<bool>> {
        v.map(|v| v.as_bool().ok_or_else(|| malformed(id)))
            .transpose()
    };
    let mut c = DisclosedClaims {
        given_name_en: text(iso("given_name"), "given_name")?,
        family_name_en: text(iso("family_name"), "family_name")?,
        given_name_th: text(th("given_name_th"), "given_name_th")?,
        family_name_th: text(th("family_name_th"), "family_name_th")?,
        address: text(th("address"), "address")?,
        issuing_office: text(
            iso("issuing_authority_unicode"),
            "issuing_authority_unicode",
        )?,
        age_over_18: flag(iso("age_over_18"), "age_over_18")?,
        age_over_20: flag(iso("age_over_20"), "age_over_20")?,
        issue_date: date(iso("issue_date"), "issue_date")?,
        ..Default::default()
    };
    c.birth_date = match (
        date(iso("birth_date"), "birth_date")?,
        text(th("birth_date_partial"), "birth_date_partial")?,
    ) {
        (Some(d), _) => Some(PartialDate::Full(d)),
        (None, Some(p)) => Some(PartialDate::parse("birth_date_partial", p.as_str())?),
        (None, None) => None,
    };
    if let Some(n) = text(iso("document_number"), "document_number")? {
        // A Thai card's document number is the citizen ID; another document's is not,
        // and then the flight requirement is not met.
        c.citizen_id = n.as_str().parse::<CitizenId>().ok();
    }
    if let (Some(t), Some(e)) = (
        text(th("title_th"), "title_th")?,
        text(th("title_en"), "title_en")?,
    ) {
        c.title = Some(Title { th: t, en: e });
    }
    if let Some(lc) = text(th("laser_code"), "laser_code")? {
        c.laser_code = Some(LaserCode::parse(lc.as_str())?);
    }
    c.portrait = match iso("portrait") {
        None => None,
        Some(Value::Bytes(b)) => Some(b.clone()),
        Some(_) => return Err(malformed("portrait")),
    };
    c.expiry = match (
        date(iso("expiry_date"), "expiry_date")?,
        flag(th("lifelong"), "lifelong")?,
    ) {
        (Some(d), None | Some(false)) => Some(Expiry::On(d)),
        (None, Some(true)) => Some(Expiry::Lifelong),
        (None, None | Some(false)) => None,
        (Some(_), Some(true)) => return Err(malformed("lifelong")),
    };
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mdoc::elements;

    fn card_elements() -> BTreeMap<(String, String), Value> {
        let c = crate::sample::citizen(0);
        let age = crate::model::AgeClaims::on(c.birth_date, c.issue_date);
        elements(&c, age)
            .into_iter()
            .map(|(ns, id, v)| ((ns.to_owned(), id.to_owned()), v))
            .collect()
    }

    #[test]
    fn a_tuaton_card_reads_back_as_the_claims_the_flight_requirement_needs() {
        let c = claims(&card_elements()).unwrap();
        let s = crate::sample::citizen(0);
        assert_eq!(c.citizen_id, Some(s.citizen_id));
        assert_eq!(c.given_name_th, Some(s.given_name_th));
        assert_eq!(c.family_name_en, Some(s.family_name_en));
        assert_eq!(c.title, Some(s.title));
        assert_eq!(c.birth_date, Some(s.birth_date));
        assert_eq!(c.expiry, Some(s.expiry));
        assert_eq!(c.laser_code, Some(s.laser_code));
        assert!(Requirement::Full.met_by(&c));
    }

    #[test]
    fn every_element_the_gate_asks_for_is_one_a_tuaton_card_can_carry() {
        let known: Vec<(String, String)> = card_elements().into_keys().collect();
        for r in [Requirement::Flight, Requirement::Age, Requirement::Full] {
            for (ns, ids) in request_for(r) {
                for id in ids {
                    // Present on some cards only (partial birth date, lifelong cards).
                    if id == "birth_date_partial" || id == "lifelong" {
                        continue;
                    }
                    assert!(known.contains(&(ns.clone(), id.clone())), "{ns}/{id}");
                }
            }
        }
    }

    #[test]
    fn an_element_of_the_wrong_type_refuses_the_answer() {
        let mut e = card_elements();
        e.insert(
            (NS_ISO.into(), "birth_date".into()),
            Value::Text("1990-01-01".into()),
        );
        assert!(claims(&e).is_err());
    }
}
