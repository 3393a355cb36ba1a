//! JSON that is refused when it repeats a key. serde_json keeps the last of two equal
//! keys, so `{"citizen_id": "A", "citizen_id": "B"}` would be read as B by us and maybe as
//! A by another tool: records and packages that cross a trust boundary must mean one thing.

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use std::collections::HashSet;
use std::fmt;

/// How deep arrays and objects may nest before the input is refused (no stack exhaustion).
const MAX_DEPTH: usize = 64;

/// Parses `bytes` as JSON, refusing any object that repeats a key (at any depth).
pub fn parse_strict(bytes: &[u8]) -> Result<serde_json::Value, serde_json::Error> {
    let mut d = serde_json::Deserializer::from_slice(bytes);
    let v = d.deserialize_any(StrictVisitor(0))?;
    d.end()?;
    Ok(v)
}

struct StrictVisitor(usize);

impl<'de> de::DeserializeSeed<'de> for StrictVisitor {
    type Value = serde_json::Value;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = serde_json::Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("JSON")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
        Ok(v.into())
    }
    fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
        Ok(v.into())
    }
    fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
        Ok(v.into())
    }
    fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(serde_json::Value::Null, Into::into))
    }
    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(v.into())
    }
    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(v.into())
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(serde_json::Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<Self::Value, A::Error> {
        if self.0 >= MAX_DEPTH {
            return Err(de::Error::custom("nested too deeply"));
        }
        let mut v = Vec::new();
        while let Some(x) = a.next_element_seed(StrictVisitor(self.0 + 1))? {
            v.push(x);
        }
        Ok(v.into())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<Self::Value, A::Error> {
        if self.0 >= MAX_DEPTH {
            return Err(de::Error::custom("nested too deeply"));
        }
        let mut seen = HashSet::new();
        let mut m = serde_json::Map::new();
        while let Some(k) = a.next_key::<String>()? {
            if !seen.insert(k.clone()) {
                return Err(de::Error::custom(format_args!(
                    "the key `{}` appears twice",
                    k.escape_debug()
                )));
            }
            let v = a.next_value_seed(StrictVisitor(self.0 + 1))?;
            m.insert(k, v);
        }
        Ok(m.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_key_is_refused_at_any_depth() {
        assert!(parse_strict(br#"{"a":1,"b":{"c":[1,2]}}"#).is_ok());
        let e = parse_strict(br#"{"a":1,"a":2}"#).unwrap_err().to_string();
        assert!(e.contains("`a` appears twice"), "{e}");
        assert!(parse_strict(br#"{"x":[{"k":1,"k":1}]}"#).is_err());
    }

    #[test]
    fn trailing_data_and_deep_nesting_are_refused() {
        assert!(parse_strict(b"{} {}").is_err());
        let deep = "[".repeat(200) + &"]".repeat(200);
        assert!(parse_strict(deep.as_bytes()).is_err());
    }
}
