//! The issuer's DID: the one name the W3C form, the status lists and the trust list give
//! an issuer across key rotations (docs/TRUST.md, "The W3C form's issuer"). Only its
//! syntax lives here; the trust list carries it and the W3C form uses it.

/// The longest issuer DID accepted.
pub const MAX_DID: usize = 128;

/// The DID of an issuer made without `--did`: a did:web under `.invalid` (RFC 2606: no
/// one can own it), resolved offline from the trust bundle's DID document only. An issuer
/// that wants online verifiers to resolve it too gives a did:web of its own domain.
pub fn default_issuer_did(issuer: u32) -> String {
    format!("did:web:issuer-{issuer}.tuaton.invalid")
}

/// Whether `did` is a did:web tuaton issues under: `did:web:` then a lower-case host name
/// of two labels or more (letters, digits, `-`; the last not all digits, so no IP
/// address), an optional port as `%3A` and 1..=65535, and optional path segments after
/// `:` (letters, digits, `-`, `_`, `.`, not starting with `.`), at most [`MAX_DID`]
/// characters (did:web sections 3.1 and 3.2). Such a DID is written unescaped in IRIs
/// and N-Quads.
pub fn is_issuer_did(did: &str) -> bool {
    let Some(rest) = did.strip_prefix("did:web:") else {
        return false;
    };
    let mut parts = rest.split(':');
    let host = parts.next().unwrap_or_default();
    let (domain, port) = match host.split_once("%3A") {
        Some((d, p)) => (d, Some(p)),
        None => (host, None),
    };
    let label = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes()
                .all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'-'))
    };
    // A host name, not an IP address (did:web section 3.1): its last label is not all
    // digits. A port in 1..=65535. No path segment starting with `.`: `.well-known` and
    // `..` would resolve to another document's address.
    let top_is_name = domain
        .rsplit('.')
        .next()
        .is_some_and(|t| !t.bytes().all(|b| b.is_ascii_digit()));
    did.len() <= MAX_DID
        && domain.split('.').all(label)
        && domain.contains('.')
        && top_is_name
        && port.is_none_or(|p| {
            p.len() <= 5
                && p.bytes().all(|b| b.is_ascii_digit())
                && p.parse::<u32>().is_ok_and(|n| (1..=65535).contains(&n))
        })
        && parts.all(|seg| {
            !seg.is_empty()
                && !seg.starts_with('.')
                && seg
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        })
}
