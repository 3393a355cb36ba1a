//! Small helpers over `ciborium::Value` so decoders read like the CDDL in FORMAT.md.
//! Every failure is `Error::Cbor` naming what was expected.

use crate::error::{Error, Result};
use ciborium::Value;

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

pub(crate) fn boolean(v: &Value, what: &str) -> Result<bool> {
    match v {
        Value::Bool(b) => Ok(*b),
        _ => Err(err(format!("{what}: expected a boolean"))),
    }
}

pub(crate) fn u(n: impl Into<u64>) -> Value {
    Value::Integer(n.into().into())
}

pub(crate) fn i(n: i64) -> Value {
    Value::Integer(n.into())
}
