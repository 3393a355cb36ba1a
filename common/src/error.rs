//! The one error type of `tuaton-common`: what went wrong, named precisely enough that a
//! CLI can tell the user which field or which file to fix.

/// Everything in `tuaton-common` that can fail returns this.
///
/// A presentation that fails verification is *not* an error: it is a
/// [`Verdict`](crate::verify::Verdict) with reasons. Errors are for input we were asked
/// to build or parse (a citizen record, a key, a credential package) that is unusable.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A field of a citizen record or a claim is missing or invalid.
    #[error("field `{field}`: {reason}")]
    InvalidField {
        /// The field's name as it appears in the citizen record JSON.
        field: &'static str,
        /// What is wrong with it, in words a registration officer understands.
        reason: String,
    },
    /// Input that should be JSON is not (a record, a credential package, a W3C VC).
    #[error("not valid JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// A CBOR structure could not be encoded or decoded.
    #[error("bad CBOR: {0}")]
    Cbor(String),
    /// A signature or key was malformed or did not verify.
    #[error("signature: {0}")]
    Signature(String),
    /// The W3C form could not be built, signed or verified by ssi.
    #[error("W3C credential: {0}")]
    W3c(String),
    /// A QR or text payload is not in a format we understand.
    #[error("payload: {0}")]
    Payload(String),
}

impl Error {
    pub(crate) fn field(field: &'static str, reason: impl Into<String>) -> Self {
        Error::InvalidField {
            field,
            reason: reason.into(),
        }
    }
}

/// Shorthand used throughout the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
