//! The trust bundle's layout, shared by the issuer that writes it and the gate and wallet
//! that read it: the index's schema and checks, the size limits a reader applies before
//! reading each file, the one path check, and the walk that fetches a bundle's parts
//! through a caller-supplied reader (so this module does no I/O itself). See
//! docs/TRUST.md, "The bundle".

use crate::error::{Error, Result};
use crate::trust::MAX_ROOTS;

/// The index's file name at the bundle's top.
pub const INDEX: &str = "index.json";
/// The issuer's DID document in a bundle (for W3C verifiers; tuaton's own read the trust
/// list): not named by the index, replaced by every publish.
pub const DID_DOCUMENT: &str = "did.json";
/// The IACA root certificates of the mdoc form, PEM, every one a reader may meet (ISO
/// 18013-5 Annex B): for third-party readers. Like [`DID_DOCUMENT`] it is outside the
/// signed trust list; docs/TRUST.md says how to check it.
pub const IACA_CERTIFICATES: &str = "iaca.pem";
/// The reader CA certificates (PEM) whose reader certificates wallets accept over ISO
/// 18013-5; outside the signed trust list, like [`IACA_CERTIFICATES`].
pub const READER_CA_CERTIFICATES: &str = "reader-ca.pem";

/// The bundle file of IACA `n`'s certificate revocation list (DER, RFC 5280), named by
/// the CRL distribution point of the certificates it issued.
pub fn iaca_crl(n: usize) -> String {
    format!("iaca-{n}.crl")
}

/// The bundle file of reader CA `n`'s certificate revocation list.
pub fn reader_ca_crl(n: usize) -> String {
    format!("reader-ca-{n}.crl")
}
/// The `format` value of this layout.
pub const FORMAT: &str = "tuaton-trust-bundle/1";
/// Largest index a reader accepts (a few hundred bytes in practice).
pub const MAX_INDEX_BYTES: u64 = 64 * 1024;
/// Largest root document (a root with 255 keys and signatures is under 30 KiB).
pub const MAX_ROOT_BYTES: u64 = 64 * 1024;
/// Largest trust list (thousands of keys fit in 4 MiB).
pub const MAX_TRUST_LIST_BYTES: u64 = 4 * 1024 * 1024;
/// Largest status list file: 66 million entries publish as about 1.3 MiB; 64 MiB bounds
/// abuse while leaving room for many lists' worth of entries in one file.
pub const MAX_STATUS_BYTES: u64 = 64 * 1024 * 1024;

/// `index.json`, as the issuer writes it and readers check it.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Index {
    /// Always [`FORMAT`].
    pub format: String,
    /// Bundle-relative paths of every root document, oldest first.
    pub roots: Vec<String>,
    /// Bundle-relative path of the signed trust list.
    pub trust_list: String,
    /// Bundle-relative paths of the status list files (informative: the trust list's pins
    /// are what a reader follows).
    pub status: Vec<String>,
    /// Bundle-relative path of the JSON-LD context document.
    pub context: String,
    /// The trust list's version (informative).
    pub trust_list_version: u64,
    /// The current root's version (informative).
    pub root_version: u64,
    /// The trust list's expiry, Unix seconds (informative).
    pub expires: i64,
}

impl Index {
    /// Parses and checks an index: the right format, at most [`MAX_ROOTS`] roots, and
    /// every path safe by [`safe_rel`]. Informative fields are never trusted: the signed
    /// documents decide.
    pub fn parse(bytes: &[u8]) -> Result<Index> {
        if bytes.len() as u64 > MAX_INDEX_BYTES {
            return Err(Error::Trust(format!(
                "{INDEX} is larger than {MAX_INDEX_BYTES} bytes"
            )));
        }
        // Strict: a key given twice is refused (two readers could take different values).
        let i: Index = crate::json::parse_strict(bytes)
            .and_then(serde_json::from_value)
            .map_err(|e| Error::Trust(format!("{INDEX}: {e}")))?;
        if i.format != FORMAT {
            return Err(Error::Trust(format!("{INDEX}: format is not {FORMAT}")));
        }
        if i.roots.is_empty() || i.roots.len() > MAX_ROOTS {
            return Err(Error::Trust(format!(
                "{INDEX}: lists {} roots; between 1 and {MAX_ROOTS} are accepted",
                i.roots.len()
            )));
        }
        for p in i
            .roots
            .iter()
            .chain([&i.trust_list, &i.context])
            .chain(&i.status)
        {
            if !safe_rel(p) {
                return Err(Error::Trust(format!("{INDEX}: unsafe path {p:?}")));
            }
        }
        Ok(i)
    }
}

/// Whether a bundle-relative path stays inside the bundle: non-empty components of
/// ASCII letters, digits, `-`, `_` and `.`, none starting with a dot, separated by `/`.
/// One rule for every reader, so no reader is laxer than another.
pub fn safe_rel(p: &str) -> bool {
    !p.is_empty()
        && p.len() <= 255
        && p.split('/').all(|c| {
            !c.is_empty()
                && !c.starts_with('.')
                && c.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        })
}

/// Where bundle files come from: a directory, a web server or CDN, a copy in memory.
/// Readers implement it over their own I/O; this module only calls it.
pub trait Source {
    /// The reader's error.
    type Error;
    /// Reads one file by its bundle-relative path; fails, without holding more than `max`
    /// bytes, when the file is larger.
    fn read(&self, rel: &str, max: u64) -> std::result::Result<Vec<u8>, Self::Error>;
    /// Where the bundle is (a directory or URL), for messages.
    fn location(&self) -> String;
}

/// The parts of a bundle a reader fetched (before any signature is checked).
#[derive(Clone, Debug)]
pub struct RawBundle {
    /// The checked index.
    pub index: Index,
    /// Root documents' bytes, in index order.
    pub roots: Vec<Vec<u8>>,
    /// The trust list's bytes.
    pub trust_list: Vec<u8>,
}

/// Fetches the index, the roots and the trust list from `source`. Status files are fetched
/// later, once the verified trust list says which ones and their digests. `bad` turns an
/// index that fails its checks into the reader's error.
pub fn fetch<S: Source + ?Sized>(
    source: &S,
    bad: impl Fn(Error) -> S::Error,
) -> std::result::Result<RawBundle, S::Error> {
    let read = |p: &str, max| source.read(p, max);
    let index = Index::parse(&read(INDEX, MAX_INDEX_BYTES)?).map_err(&bad)?;
    let mut roots = Vec::with_capacity(index.roots.len());
    for r in &index.roots {
        roots.push(read(r, MAX_ROOT_BYTES)?);
    }
    let trust_list = read(&index.trust_list, MAX_TRUST_LIST_BYTES)?;
    Ok(RawBundle {
        index,
        roots,
        trust_list,
    })
}

/// The path of a status list file the trust list pins (`status/` + the pin's `file`).
pub fn status_path(file: &str) -> String {
    format!("status/{file}")
}

/// `scheme://host:port` of an http(s) URL, lower-cased, with the default port filled in;
/// `None` for anything else (other schemes, user info, an empty host, a bad port). A gate
/// follows a redirect only when this is the same for both URLs, so a mirror cannot send
/// it to another host, or from https down to http.
pub fn url_origin(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    let default: u16 = match scheme.as_str() {
        "http" => 80,
        "https" => 443,
        _ => return None,
    };
    let authority = rest.split(['/', '?', '#']).next()?;
    if authority.is_empty() || authority.contains('@') {
        return None;
    }
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        // [::1]:8080 or [::1]
        let (h, tail) = v6.split_once(']')?;
        let port = match tail {
            "" => default,
            t => t.strip_prefix(':')?.parse::<u16>().ok()?,
        };
        (format!("[{h}]"), port)
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h.to_owned(), p.parse::<u16>().ok()?),
            None => (authority.to_owned(), default),
        }
    };
    if host.is_empty() || host == "[]" {
        return None;
    }
    Some(format!("{scheme}://{}:{port}", host.to_ascii_lowercase()))
}

#[cfg(test)]
mod tests {
    #[test]
    fn origins_tell_hosts_ports_and_schemes_apart() {
        let o = |u| url_origin(u);
        assert_eq!(
            o("https://Gate.Example/b/index.json"),
            Some("https://gate.example:443".into())
        );
        assert_eq!(o("https://gate.example:443/x"), o("https://gate.example/y"));
        assert_ne!(o("http://gate.example/x"), o("https://gate.example/x"));
        assert_ne!(o("http://a.example/x"), o("http://b.example/x"));
        assert_ne!(o("http://a.example:81/"), o("http://a.example/"));
        assert_eq!(o("http://[::1]:8080/i"), Some("http://[::1]:8080".into()));
        for bad in [
            "ftp://a/",
            "http://",
            "http://user@a/",
            "http://a:99999/",
            "a",
            "http://[::1/",
        ] {
            assert_eq!(o(bad), None, "{bad}");
        }
    }

    use super::*;

    #[test]
    fn paths_that_leave_the_bundle_are_refused() {
        for p in [
            "",
            "/etc/passwd",
            "../x",
            "a/../b",
            "a//b",
            ".hidden",
            "a\\b",
            "root/.x",
            "a/",
            "é",
            "a b",
        ] {
            assert!(!safe_rel(p), "{p:?} accepted");
        }
        for p in [
            "index.json",
            "root/1.cbor",
            "status/1-0.json",
            "contexts/tuaton-v1.jsonld",
        ] {
            assert!(safe_rel(p), "{p:?} refused");
        }
    }

    #[test]
    fn an_index_with_too_many_roots_is_refused_before_any_is_read() {
        let roots: Vec<String> = (0..=MAX_ROOTS).map(|i| format!("root/{i}.cbor")).collect();
        let j = serde_json::json!({"format": FORMAT, "roots": roots, "trust_list": "trust-list.cbor",
            "status": [], "context": "c.jsonld", "trust_list_version": 1, "root_version": 1, "expires": 0});
        struct Counting(std::cell::Cell<usize>, Vec<u8>);
        impl Source for Counting {
            type Error = Error;
            fn read(&self, p: &str, _: u64) -> Result<Vec<u8>> {
                self.0.set(self.0.get() + 1);
                Ok(if p == INDEX { self.1.clone() } else { vec![] })
            }
            fn location(&self) -> String {
                "memory".into()
            }
        }
        let src = Counting(Default::default(), j.to_string().into_bytes());
        let r = fetch(&src, |e| e);
        assert!(r.is_err());
        assert_eq!(src.0.get(), 1);
    }
}
