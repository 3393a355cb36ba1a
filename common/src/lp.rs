//! The one encoding of every signed or hashed input built from parts: each part preceded
//! by its length as 4 bytes big-endian (docs/FORMAT.md, "Length-prefixed input"). Two
//! different part lists never give the same bytes, so no signature over one can be read
//! as a signature over another.

/// `parts`, each behind its length as a 4-byte big-endian number.
///
/// # Panics
/// On a part of 4 GiB or more, which no tuaton structure comes near.
pub fn length_prefixed<'a>(parts: impl IntoIterator<Item = &'a [u8]>) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    push(&mut out, parts);
    out
}

/// Appends `parts` to `out`, each behind its length (as [`length_prefixed`]).
pub fn push<'a>(out: &mut Vec<u8>, parts: impl IntoIterator<Item = &'a [u8]>) {
    for p in parts {
        let len = u32::try_from(p.len()).expect("a part under 4 GiB");
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(p);
    }
}

/// The parts of a [`length_prefixed`] encoding, or `None` when the bytes are not one.
pub fn split(mut rest: &[u8]) -> Option<Vec<Vec<u8>>> {
    let mut out = Vec::new();
    while !rest.is_empty() {
        let n = u32::from_be_bytes(rest.get(..4)?.try_into().ok()?) as usize;
        out.push(rest.get(4..4usize.checked_add(n)?)?.to_vec());
        rest = &rest[4 + n..];
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_cannot_be_shifted_into_each_other() {
        assert_eq!(
            length_prefixed([&b"ab"[..], b"c"]),
            [0, 0, 0, 2, b'a', b'b', 0, 0, 0, 1, b'c']
        );
        assert_ne!(
            length_prefixed([&b"ab"[..], b"c"]),
            length_prefixed([&b"a"[..], b"bc"])
        );
        assert_eq!(length_prefixed([&b""[..]]), [0, 0, 0, 0]);
        let parts = [&b"root 1"[..], b"", b"root 2"];
        assert_eq!(split(&length_prefixed(parts)).unwrap(), parts);
        assert_eq!(split(&[0, 0, 0, 5, 1]), None);
        assert_eq!(split(&[0, 0]), None);
    }
}
