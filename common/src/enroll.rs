//! The enrollment request: the wallet's holder public key with a proof that the wallet
//! holds the secret half (a signature over the key and the time), as text for a QR.

use crate::cbor::{self, err};
use crate::error::{Error, Result};
use crate::holder::{HolderKey, HolderSigner};
use ciborium::Value;

/// Prefix of an enrollment request.
pub const PREFIX: &str = "TTE1:";
const TAG: &[u8] = b"tuaton enrollment request v1";

/// A checked enrollment request.
#[derive(Clone, Debug, PartialEq)]
pub struct EnrollmentRequest {
    /// The holder key the credential will be bound to.
    pub holder_key: HolderKey,
    /// When the wallet made the request.
    pub time: i64,
}

fn message(key: &[u8], time: i64) -> Vec<u8> {
    let mut m = Vec::with_capacity(80);
    m.extend_from_slice(TAG);
    m.extend_from_slice(key);
    m.extend_from_slice(&time.to_be_bytes());
    m
}

/// Makes the request text for `holder` at `time`.
pub fn request(holder: &(impl HolderSigner + ?Sized), time: i64) -> String {
    let pk = holder.holder_key();
    let sig = holder.sign_holder(&message(pk.as_bytes(), time));
    let v = Value::Array(vec![
        Value::Bytes(pk.as_bytes().to_vec()),
        cbor::i(time),
        Value::Bytes(sig.to_vec()),
    ]);
    format!("{PREFIX}{}", base45::encode(cbor::encode(&v)))
}

/// Parses a request and checks its proof of possession.
pub fn parse(text: &str) -> Result<EnrollmentRequest> {
    let body = text.trim().strip_prefix(PREFIX).ok_or_else(|| {
        Error::Payload("not an enrollment request (it should start with TTE1:)".into())
    })?;
    let raw = base45::decode(body)
        .map_err(|_| Error::Payload("enrollment request is not base45".into()))?;
    let [pk, t, sig]: [Value; 3] = cbor::array(cbor::decode(&raw)?, "enrollment request")?
        .try_into()
        .map_err(|_| err("enrollment request: expected 3 items"))?;
    let key = HolderKey::from_bytes(&cbor::bytes(pk, "holder key")?)
        .ok_or_else(|| err("holder key: expected 32 bytes (Ed25519) or 33 (P-256)"))?;
    let time = cbor::int(&t, "time")?;
    let sig = cbor::fixed::<64>(sig, "signature")?;
    // A weak Ed25519 key or a point off the curve proves nothing either.
    if !key.verify(&message(key.as_bytes(), time), &sig) {
        return Err(Error::Signature(
            "the enrollment request's proof of possession does not verify".into(),
        ));
    }
    Ok(EnrollmentRequest {
        holder_key: key,
        time,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::SigningKey;

    #[test]
    fn request_round_trip_and_tamper() {
        let k = SigningKey::from_bytes(&[5; 32]);
        let t = request(&k, 1_700_000_000);
        let r = parse(&t).unwrap();
        assert_eq!(r.holder_key, HolderKey::from(k.verifying_key()));
        let mut b: Vec<char> = t.chars().collect();
        let i = b.len() - 3;
        b[i] = if b[i] == 'A' { 'B' } else { 'A' };
        assert!(parse(&b.into_iter().collect::<String>()).is_err());
        assert!(parse("hello").is_err());
    }
}
