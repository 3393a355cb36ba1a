//! The gate as an ISO 18013-5 reader: which elements a gate's requirement asks of an
//! mdoc, and how the verified elements read as the card's claims, so an mdoc answer is
//! judged by the same rules and shown with the same reasons as a tuaton presentation
//! ([`verify`]). Pure.
//!
//! docs/FORMAT.md section 11.8 is the normative text.

use crate::error::{Error, Result};
use crate::gate::{self, DisclosedClaims, StatusRef};
use crate::mdoc::{Request, NS_ISO, NS_TH};
use crate::model::{CitizenId, Expiry, LaserCode, Name, PartialDate, Title};
use crate::verify::{base, Context, Reason, Requirement, StatusLookup, Verdict, Warning};
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

/// Judges an ISO 18013-5 answer as of the context (FORMAT.md section 11.8): `answer` is
/// the document [`crate::mdoc::verify`] accepted, or why it refused it (each refusal
/// names its reason as a tuaton presentation's would); `requested` is what the gate
/// asked for, all of which must be there. The card's own dates, the gate's requirement
/// and the portrait are judged as for any presentation. A session that never produced an
/// answer is the caller's [`session_failed`](crate::verify::session_failed). No replay
/// check: the device signed this session's transcript, which holds the gate's fresh key,
/// so no answer passes twice.
pub fn verify(
    answer: &Result<crate::mdoc::Verified, Error>,
    requested: &crate::mdoc::Request,
    ctx: &Context<'_>,
) -> Verdict {
    use crate::error::MdocError as M;
    let mut v = base(ctx);
    let verified = match answer {
        Ok(x) => x,
        Err(Error::Mdoc(e)) => {
            return v.reject(match e {
                M::Chain(_) => Reason::UnknownIssuerKey,
                M::Issuer(_) => Reason::BadIssuerSignature,
                M::Digest(_) => Reason::DigestMismatch,
                M::Expired => Reason::CredentialExpired,
                M::DeviceKey(_) | M::Device(_) => Reason::BadHolderProof,
                M::Session(_) | M::Declined(_) => Reason::SessionFailed,
                _ => Reason::Malformed,
            })
        }
        Err(_) => return v.reject(Reason::Malformed),
    };
    // The issuer whose IACA the document signer chains to.
    let issuer_id = ctx.trust.iacas.get(verified.iaca).map(|(id, _)| *id);
    v.issuer = issuer_id.map(|id| {
        ctx.trust
            .issuer_name(id)
            .map_or_else(|| format!("issuer {id}"), str::to_owned)
    });
    let Ok(claims) = claims(&verified.elements) else {
        return v.reject(Reason::Malformed);
    };
    // A document signer the issuer revoked (its key stolen) signs nothing valid: as a
    // revoked issuer key, the card still shows whose it claims to be.
    if ctx
        .trust
        .revoked_certificates
        .contains(&verified.signer_tbs)
    {
        v.reasons.push(Reason::IssuerKeyRevoked);
    }
    if claims
        .issue_date
        .is_some_and(|d| ctx.now < gate::thai_day_start(d))
    {
        v.reasons.push(Reason::CredentialNotYetValid);
    }
    if let Some(Expiry::On(d)) = claims.expiry {
        if ctx.now >= gate::thai_day_start(d) + 86_400 {
            v.reasons.push(Reason::CredentialExpired);
        }
    }
    // The card's revocation bit, when its MSO names one of the issuer's lists: read from
    // the same trust-list-pinned status list as the gate form's. The list must be of the
    // issuer whose IACA signed (an mdoc cannot point at another issuer's list).
    match &verified.status {
        None => v.warnings.push(Warning::StatusUnchecked),
        Some(st) => match crate::mdoc::status_list_of(&st.uri) {
            Some((issuer, list)) if Some(issuer) == issuer_id => {
                match ctx.status.lookup(
                    issuer,
                    StatusRef {
                        list,
                        index: st.idx,
                    },
                    ctx.now,
                ) {
                    StatusLookup::Good => {}
                    StatusLookup::Revoked => v.reasons.push(Reason::CredentialRevoked),
                    StatusLookup::GoodButStale | StatusLookup::Unknown => {
                        v.warnings.push(Warning::StatusStale)
                    }
                }
            }
            // A status this gate cannot look up: said, as for a card with none.
            _ => v.warnings.push(Warning::StatusUnchecked),
        },
    }
    let asked_all = requested.iter().all(|(ns, ids)| {
        ids.iter().all(|id| {
            verified.elements.contains_key(&(ns.clone(), id.clone()))
                // Elements only some cards carry.
                || id == "birth_date_partial"
                || id == "lifelong"
                || (id == "expiry_date" && claims.expiry.is_some())
                || (id == "birth_date" && claims.birth_date.is_some())
        })
    });
    if !ctx.policy.require.met_by(&claims) || !asked_all {
        v.reasons.push(Reason::InsufficientDisclosure);
    } else if ctx.policy.require == Requirement::Age && claims.age_over_20 == Some(false) {
        v.reasons.push(Reason::UnderAge);
    }
    v.claims = Some(claims);
    v
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
