//! Small helpers over `ciborium::Value` so decoders read like the CDDL in FORMAT.md.
//! Every failure is `Error::Cbor` naming what was expected.

use crate::error::{Error, Result};
use ciborium::Value;
use std::borrow::Cow;

pub(crate) fn err(what: impl Into<String>) -> Error {
    Error::Cbor(what.into())
}

/// Decodes exactly one CBOR item; trailing bytes are an error (they would be unsigned).
pub(crate) fn decode(bytes: &[u8]) -> Result<Value> {
    let mut cur = std::io::Cursor::new(bytes);
    let v: Value = ciborium::de::from_reader(&mut cur).map_err(|e| err(e.to_string()))?;
    if cur.position() as usize != bytes.len() {
        return Err(err("trailing bytes after the CBOR item"));
    }
    Ok(v)
}

pub(crate) fn encode(v: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    ciborium::ser::into_writer(v, &mut out).expect("writing to a Vec cannot fail");
    out
}

pub(crate) fn array(v: Value, what: &str) -> Result<Vec<Value>> {
    match v {
        Value::Array(a) => Ok(a),
        _ => Err(err(format!("{what}: expected an array"))),
    }
}

/// A map with unsigned integer keys, strictly increasing (so each key appears once).
pub(crate) fn int_map(v: Value, what: &str) -> Result<Vec<(u64, Value)>> {
    let Value::Map(m) = v else {
        return Err(err(format!("{what}: expected a map")));
    };
    let mut out: Vec<(u64, Value)> = Vec::with_capacity(m.len());
    for (k, v) in m {
        let k = uint(&k, what)?;
        if out.last().is_some_and(|(last, _)| *last >= k) {
            return Err(err(format!("{what}: keys out of order or repeated")));
        }
        out.push((k, v));
    }
    Ok(out)
}

pub(crate) fn uint(v: &Value, what: &str) -> Result<u64> {
    match v {
        Value::Integer(i) => {
            u64::try_from(*i).map_err(|_| err(format!("{what}: expected an unsigned integer")))
        }
        _ => Err(err(format!("{what}: expected an unsigned integer"))),
    }
}

pub(crate) fn int(v: &Value, what: &str) -> Result<i64> {
    match v {
        Value::Integer(i) => {
            i64::try_from(*i).map_err(|_| err(format!("{what}: integer out of range")))
        }
        _ => Err(err(format!("{what}: expected an integer"))),
    }
}

pub(crate) fn bytes(v: Value, what: &str) -> Result<Vec<u8>> {
    match v {
        Value::Bytes(b) => Ok(b),
        _ => Err(err(format!("{what}: expected a byte string"))),
    }
}

pub(crate) fn fixed<const N: usize>(v: Value, what: &str) -> Result<[u8; N]> {
    bytes(v, what)?
        .try_into()
        .map_err(|_| err(format!("{what}: expected {N} bytes")))
}

pub(crate) fn text(v: Value, what: &str) -> Result<String> {
    match v {
        Value::Text(s) => Ok(s),
        _ => Err(err(format!("{what}: expected text"))),
    }
}

pub(crate) fn u(n: impl Into<u64>) -> Value {
    Value::Integer(n.into().into())
}

pub(crate) fn i(n: i64) -> Value {
    Value::Integer(n.into())
}

/// The head of one CBOR data item (RFC 8949 section 3), as the [`Reader`] sees it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Head {
    Uint(u64),
    /// Major type 1: the value is `-1 - n`.
    Nint(u64),
    /// Byte string; `None` is the indefinite-length form.
    Bytes(Option<u64>),
    Text(Option<u64>),
    Array(Option<u64>),
    Map(Option<u64>),
    Tag(u64),
    Bool(bool),
    Null,
    Undefined,
    Float,
    Break,
}

/// Deepest nesting of arrays, maps and tags a skipped item may have, counted from the
/// skipped item: a bound on recursion (ciborium's limit for whole trees was also 256).
/// Skipping is used only for the inline flight claims, whose reader then refuses any
/// nesting beyond the title pair.
const MAX_DEPTH: usize = 256;

/// A single-pass reader over borrowed CBOR: the verify path decodes a presentation with
/// it in one walk, borrowing every byte string instead of building a value tree.
///
/// It takes what RFC 8949 allows a generic decoder to take: any argument width (preferred
/// encoding is not required outside signed bytes, FORMAT.md section 4), definite or
/// indefinite lengths (segments of an indefinite string are joined), and tag 2/3 bignums
/// of up to 16 bytes where an integer is expected. Any other tag, an unknown simple
/// value, a reserved additional-information value or a length past the end is an error.
#[derive(Clone)]
pub(crate) struct Reader<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(b: &'a [u8]) -> Self {
        Reader { b, pos: 0 }
    }

    /// The whole input must have been read: bytes after the item would be unsigned.
    pub(crate) fn finish(&self) -> Result<()> {
        if self.pos != self.b.len() {
            return Err(err("trailing bytes after the CBOR item"));
        }
        Ok(())
    }

    fn take(&mut self, n: u64) -> Result<&'a [u8]> {
        let left = (self.b.len() - self.pos) as u64;
        if n > left {
            return Err(err("CBOR item runs past the end"));
        }
        let s = &self.b[self.pos..self.pos + n as usize];
        self.pos += n as usize;
        Ok(s)
    }

    fn arg(&mut self, info: u8) -> Result<Option<u64>> {
        Ok(Some(match info {
            0..=23 => info.into(),
            24 => self.take(1)?[0].into(),
            25 => u16::from_be_bytes(self.take(2)?.try_into().expect("2 bytes")).into(),
            26 => u32::from_be_bytes(self.take(4)?.try_into().expect("4 bytes")).into(),
            27 => u64::from_be_bytes(self.take(8)?.try_into().expect("8 bytes")),
            31 => return Ok(None),
            _ => return Err(err("reserved CBOR additional information")),
        }))
    }

    pub(crate) fn head(&mut self) -> Result<Head> {
        let first = self.take(1)?[0];
        let (major, info) = (first >> 5, first & 0x1f);
        let definite = |a: Option<u64>| a.ok_or_else(|| err("indefinite length not allowed here"));
        Ok(match major {
            0 => Head::Uint(definite(self.arg(info)?)?),
            1 => Head::Nint(definite(self.arg(info)?)?),
            2 => Head::Bytes(self.arg(info)?),
            3 => Head::Text(self.arg(info)?),
            4 => Head::Array(self.arg(info)?),
            5 => Head::Map(self.arg(info)?),
            6 => Head::Tag(definite(self.arg(info)?)?),
            _ => match info {
                20 => Head::Bool(false),
                21 => Head::Bool(true),
                22 => Head::Null,
                23 => Head::Undefined,
                24 => match self.take(1)?[0] {
                    20 => Head::Bool(false),
                    21 => Head::Bool(true),
                    22 => Head::Null,
                    23 => Head::Undefined,
                    _ => return Err(err("unknown CBOR simple value")),
                },
                25 => {
                    self.take(2)?;
                    Head::Float
                }
                26 => {
                    self.take(4)?;
                    Head::Float
                }
                27 => {
                    self.take(8)?;
                    Head::Float
                }
                31 => Head::Break,
                _ => return Err(err("unknown CBOR simple value")),
            },
        })
    }

    /// How many bytes have been read.
    pub(crate) fn position(&self) -> usize {
        self.pos
    }

    pub(crate) fn peek(&self) -> Result<Head> {
        self.clone().head()
    }

    /// Any integer, as i128: major types 0 and 1, or a tag 2/3 bignum of at most 16 bytes.
    fn integer(&mut self, what: &str) -> Result<i128> {
        match self.head()? {
            Head::Uint(n) => Ok(n.into()),
            Head::Nint(n) => Ok(-1 - i128::from(n)),
            Head::Tag(t @ (2 | 3)) => {
                let Head::Bytes(Some(len @ 0..=16)) = self.head()? else {
                    return Err(err(format!("{what}: expected an integer")));
                };
                let mut v: u128 = 0;
                for b in self.take(len)? {
                    v = (v << 8) | u128::from(*b);
                }
                let v = i128::try_from(v).map_err(|_| err(format!("{what}: integer too large")))?;
                Ok(if t == 2 { v } else { -1 - v })
            }
            _ => Err(err(format!("{what}: expected an integer"))),
        }
    }

    pub(crate) fn uint(&mut self, what: &str) -> Result<u64> {
        u64::try_from(self.integer(what)?)
            .map_err(|_| err(format!("{what}: expected an unsigned integer")))
    }

    pub(crate) fn int(&mut self, what: &str) -> Result<i64> {
        i64::try_from(self.integer(what)?).map_err(|_| err(format!("{what}: integer out of range")))
    }

    pub(crate) fn boolean(&mut self, what: &str) -> Result<bool> {
        match self.head()? {
            Head::Bool(b) => Ok(b),
            _ => Err(err(format!("{what}: expected a boolean"))),
        }
    }

    /// The content of a string whose head was `len`; segments of an indefinite string
    /// must be definite strings of the same major type (RFC 8949 section 3.2.3: an
    /// indefinite string inside another, which ciborium took, is refused), and are joined.
    pub(crate) fn string_after(&mut self, len: Option<u64>, text: bool) -> Result<Cow<'a, [u8]>> {
        let Some(len) = len else {
            let mut joined = Vec::new();
            loop {
                let seg = match (self.head()?, text) {
                    (Head::Break, _) => return Ok(Cow::Owned(joined)),
                    (Head::Bytes(Some(n)), false) | (Head::Text(Some(n)), true) => self.take(n)?,
                    _ => return Err(err("bad segment in an indefinite-length string")),
                };
                if text && std::str::from_utf8(seg).is_err() {
                    return Err(err("text is not UTF-8"));
                }
                joined.extend_from_slice(seg);
            }
        };
        let s = self.take(len)?;
        if text && std::str::from_utf8(s).is_err() {
            return Err(err("text is not UTF-8"));
        }
        Ok(Cow::Borrowed(s))
    }

    pub(crate) fn bytes(&mut self, what: &str) -> Result<Cow<'a, [u8]>> {
        match self.head()? {
            Head::Bytes(len) => self.string_after(len, false),
            _ => Err(err(format!("{what}: expected a byte string"))),
        }
    }

    pub(crate) fn fixed<const N: usize>(&mut self, what: &str) -> Result<[u8; N]> {
        self.bytes(what)?
            .as_ref()
            .try_into()
            .map_err(|_| err(format!("{what}: expected {N} bytes")))
    }

    /// A text string; its bytes are UTF-8 (checked).
    pub(crate) fn text(&mut self, what: &str) -> Result<Cow<'a, str>> {
        match self.head()? {
            Head::Text(len) => Ok(match self.string_after(len, true)? {
                Cow::Borrowed(b) => Cow::Borrowed(std::str::from_utf8(b).expect("checked")),
                Cow::Owned(v) => Cow::Owned(String::from_utf8(v).expect("checked")),
            }),
            _ => Err(err(format!("{what}: expected text"))),
        }
    }

    pub(crate) fn array(&mut self, what: &str) -> Result<Seq> {
        match self.head()? {
            Head::Array(n) => Ok(Seq { left: n }),
            _ => Err(err(format!("{what}: expected an array"))),
        }
    }

    pub(crate) fn map(&mut self, what: &str) -> Result<Seq> {
        match self.head()? {
            Head::Map(n) => Ok(Seq { left: n }),
            _ => Err(err(format!("{what}: expected a map"))),
        }
    }

    /// Reads past one whole item, checking it is well formed; returns its bytes.
    pub(crate) fn item(&mut self) -> Result<&'a [u8]> {
        let start = self.pos;
        self.skip(0)?;
        Ok(&self.b[start..self.pos])
    }

    fn skip(&mut self, depth: usize) -> Result<()> {
        if depth > MAX_DEPTH {
            return Err(err("CBOR nested too deeply"));
        }
        match self.head()? {
            Head::Bytes(len) => {
                self.string_after(len, false)?;
            }
            Head::Text(len) => {
                self.string_after(len, true)?;
            }
            Head::Array(n) => {
                let mut items = Seq { left: n };
                while items.next(self)? {
                    self.skip(depth + 1)?;
                }
            }
            Head::Map(n) => {
                let mut entries = Seq { left: n };
                while entries.next(self)? {
                    self.skip(depth + 1)?;
                    self.skip(depth + 1)?;
                }
            }
            Head::Tag(_) => self.skip(depth + 1)?,
            Head::Break => return Err(err("unexpected CBOR break")),
            _ => {}
        }
        Ok(())
    }
}

/// The items of an array or the entries of a map, as its head announced them.
pub(crate) struct Seq {
    left: Option<u64>,
}

impl Seq {
    /// Whether another item (or map entry) follows; consumes an indefinite form's break.
    pub(crate) fn next(&mut self, r: &mut Reader<'_>) -> Result<bool> {
        match &mut self.left {
            Some(0) => Ok(false),
            Some(n) => {
                *n -= 1;
                Ok(true)
            }
            None => {
                if r.peek()? == Head::Break {
                    r.head()?;
                    self.left = Some(0);
                    Ok(false)
                } else {
                    Ok(true)
                }
            }
        }
    }

    /// The next item must be there.
    pub(crate) fn expect(&mut self, r: &mut Reader<'_>, what: &str) -> Result<()> {
        if self.next(r)? {
            Ok(())
        } else {
            Err(err(format!("{what}: too few items")))
        }
    }

    /// No item may follow.
    pub(crate) fn end(&mut self, r: &mut Reader<'_>, what: &str) -> Result<()> {
        if self.next(r)? {
            Err(err(format!("{what}: too many items")))
        } else {
            Ok(())
        }
    }
}
