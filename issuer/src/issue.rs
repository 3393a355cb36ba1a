//! Issuance: a record and a wallet's request in, both forms of the credential out, the
//! status index allocated in the same transaction; revocation of one credential; the
//! record, request and portrait files read within their limits.

use rand::rngs::OsRng;
use std::path::Path;
use tuaton_common::gate::{self, IssueParams, StatusRef};
use tuaton_common::model::{CardClaims, CitizenRecord};
use tuaton_common::signer::KeySigner;
use tuaton_common::{enroll, w3c};

use crate::{core_error, IssuerError, Result};

/// The key that signs a credential, with what the trust list calls it.
pub(crate) struct Signing<'a> {
    /// Issuer number.
    pub(crate) issuer: u32,
    /// The issuer's DID (the W3C form's issuer).
    pub(crate) did: &'a str,
    /// The signing key (in memory, or in a token).
    pub(crate) key: &'a dyn KeySigner,
    /// Its kid.
    pub(crate) kid: &'a [u8],
    /// The mdoc form's document signer (for P-256 holders of an issuer that has one).
    pub(crate) mdoc: Option<&'a MdocSigner>,
}

/// The document signer that signs new MSOs, with its certificate's end.
pub(crate) struct MdocSigner {
    /// Its certificate as the store keeps it (hex): the cache's key.
    pub(crate) certificate_hex: String,
    pub(crate) signer: tuaton_common::mdoc::InMemorySigner,
    pub(crate) not_after: i64,
}

/// A citizen record and portrait checked as of `now`: the claims to sign, portrait in.
pub(crate) fn checked_claims(record_json: &[u8], portrait: &[u8], now: i64) -> Result<CardClaims> {
    let record = CitizenRecord::from_json(record_json).map_err(core_error)?;
    record.check_at(now).map_err(core_error)?;
    let mut claims = record.claims;
    if portrait.len() < 4 || portrait[..3] != [0xFF, 0xD8, 0xFF] {
        return Err(core_error(tuaton_common::Error::InvalidField {
            field: "portrait",
            reason: "is not a JPEG file".into(),
        }));
    }
    if portrait.len() as u64 > MAX_PORTRAIT_BYTES {
        return Err(core_error(tuaton_common::Error::InvalidField {
            field: "portrait",
            reason: "is larger than 64 KiB".into(),
        }));
    }
    claims.portrait = portrait.to_vec();
    Ok(claims)
}

/// Both forms of one credential, signed, as the credential package's JSON. Used by the
/// command-line issuer and the issuance service alike.
pub(crate) fn sign_package(
    claims: &CardClaims,
    by: &Signing<'_>,
    holder: &tuaton_common::holder::HolderKey,
    cid: [u8; 8],
    status: StatusRef,
    now: i64,
) -> Result<String> {
    let started = std::time::Instant::now();
    let gate = gate::issue(
        claims,
        &IssueParams {
            issuer: by.issuer,
            signing_key: by.key,
            kid: by.kid,
            holder_key: *holder,
            credential_id: cid,
            status,
            issued_at: now,
        },
        &mut OsRng,
    )
    .map_err(core_error)?;
    let unsigned =
        w3c::unsigned(claims, by.issuer, by.did, holder, &cid, status, now).map_err(core_error)?;
    let w3c_json = w3c::sign(unsigned, by.key, now).map_err(core_error)?;
    let mut package = tuaton_common::package::CredentialPackage::new(&gate, by.issuer, &w3c_json)
        .map_err(core_error)?;
    // An expired document signer leaves the mdoc form out rather than refusing the card:
    // the other forms are good, and `rotate` then `refresh` add it.
    let validity = by
        .mdoc
        .and_then(|m| tuaton_common::mdoc::card_validity(claims, now, m.not_after).ok());
    if let (Some(m), Some(validity)) = (by.mdoc, validity) {
        let issued_on = tuaton_common::model::thai_date(now)
            .ok_or_else(|| core_error(tuaton_common::Error::field("issued_at", "out of range")))?;
        let age = tuaton_common::model::AgeClaims::on(claims.birth_date, issued_on);
        // The MSO names the card's revocation bit, the same bit as the other forms'.
        let mso_status = tuaton_common::mdoc::MsoStatus {
            idx: status.index,
            uri: tuaton_common::mdoc::status_uri(&authority_of(by.did), by.issuer, status.list),
        };
        let issuer_signed = tuaton_common::mdoc::issue(
            claims,
            age,
            holder,
            validity,
            Some(&mso_status),
            &m.signer,
            &mut OsRng,
        )
        .map_err(core_error)?;
        package.mdoc = Some(hex::encode(issuer_signed));
    }
    crate::metrics::observe_signing(started.elapsed());
    Ok(package.to_json_pretty())
}

/// Largest portrait file the issuer reads (the card's photo is a few KB; a session
/// carries it within `tuaton_common::session::MAX_MESSAGE`).
pub const MAX_PORTRAIT_BYTES: u64 = 64 * 1024;
/// Portrait dimensions accepted, in pixels, each side.
pub const PORTRAIT_PIXELS: std::ops::RangeInclusive<u32> = 32..=1024;

/// Reads a citizen record file and the portrait it names (a relative portrait path is
/// relative to the record's directory). The record is checked field by field before the
/// portrait is read, so a record that is not one says so, naming the field.
pub fn read_record(path: &Path) -> Result<(Vec<u8>, Vec<u8>)> {
    let rec = read_small(path, MAX_RECORD_BYTES)?;
    let record = CitizenRecord::from_json(&rec).map_err(core_error)?;
    let portrait = path
        .parent()
        .unwrap_or(Path::new("."))
        .join(&record.portrait_path);
    Ok((rec, read_portrait(&portrait)?))
}

/// The largest citizen record file read (a record is a few hundred bytes).
pub const MAX_RECORD_BYTES: u64 = 64 * 1024;

/// An enrollment request given on the command line: the `TTE1:` text itself, or the path
/// of a file holding it. Anything else is a file that must exist, so a typo in a file name
/// is reported as a missing file, not as a malformed request.
pub fn read_request(arg: &str) -> Result<String> {
    if arg.trim_start().starts_with(enroll::PREFIX) {
        return Ok(arg.to_owned());
    }
    let bytes = read_small(Path::new(arg), MAX_RECORD_BYTES)?;
    String::from_utf8(bytes).map_err(|_| {
        core_error(tuaton_common::Error::field(
            "request",
            "is not text (an enrollment request starts with TTE1:)",
        ))
    })
}

/// Reads a regular file of at most `max` bytes.
fn read_small(path: &Path, max: u64) -> Result<Vec<u8>> {
    let io = |source| IssuerError::Io {
        path: path.into(),
        source,
    };
    tuaton_cli::read_bounded(path, max)
        .map_err(io)?
        .ok_or_else(|| io(std::io::Error::other(format!("larger than {max} bytes"))))
}

/// Reads a record's portrait: only a regular file (never a FIFO or `/dev/zero`), at most
/// [`MAX_PORTRAIT_BYTES`] read before anything else, and it must decode as a JPEG whose
/// sides are within [`PORTRAIT_PIXELS`].
pub fn read_portrait(path: &Path) -> Result<Vec<u8>> {
    use std::io::Read;
    let bad = |reason: String| {
        IssuerError::Core(tuaton_common::Error::InvalidField {
            field: "portrait",
            reason,
        })
    };
    let io = |source| IssuerError::Io {
        path: path.into(),
        source,
    };
    let f = std::fs::File::open(path).map_err(io)?;
    if !f.metadata().map_err(io)?.is_file() {
        return Err(bad(format!("{} is not a regular file", path.display())));
    }
    let mut bytes = Vec::new();
    f.take(MAX_PORTRAIT_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(io)?;
    check_portrait(&bytes)?;
    Ok(bytes)
}

/// Checks portrait bytes (a file's, or a service request's): at most
/// [`MAX_PORTRAIT_BYTES`], a JPEG whose sides are within [`PORTRAIT_PIXELS`], decoded
/// under memory limits.
pub fn check_portrait(bytes: &[u8]) -> Result<()> {
    let bad = |reason: String| {
        IssuerError::Core(tuaton_common::Error::InvalidField {
            field: "portrait",
            reason,
        })
    };
    if bytes.len() as u64 > MAX_PORTRAIT_BYTES {
        return Err(bad(format!("is larger than {MAX_PORTRAIT_BYTES} bytes")));
    }
    let mut reader =
        image::ImageReader::with_format(std::io::Cursor::new(bytes), image::ImageFormat::Jpeg);
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(*PORTRAIT_PIXELS.end());
    limits.max_image_height = Some(*PORTRAIT_PIXELS.end());
    limits.max_alloc = Some(16 << 20);
    reader.limits(limits);
    let img = reader.decode().map_err(|e| {
        bad(format!(
            "is not a JPEG within {}x{} pixels ({e})",
            PORTRAIT_PIXELS.end(),
            PORTRAIT_PIXELS.end()
        ))
    })?;
    if !PORTRAIT_PIXELS.contains(&img.width()) || !PORTRAIT_PIXELS.contains(&img.height()) {
        return Err(bad(format!(
            "is {}x{} pixels; each side must be {} to {}",
            img.width(),
            img.height(),
            PORTRAIT_PIXELS.start(),
            PORTRAIT_PIXELS.end()
        )));
    }
    Ok(())
}

/// `https://HOST` of a did:web: where the issuer's bundle, revocation lists and status
/// lists are named to be.
pub(crate) fn authority_of(did: &str) -> String {
    let host = did
        .strip_prefix("did:web:")
        .and_then(|r| r.split(':').next())
        .unwrap_or("tuaton.invalid")
        .replace("%3A", ":");
    format!("https://{host}")
}
