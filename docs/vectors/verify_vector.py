#!/usr/bin/env python3
"""An independent check of docs/FORMAT.md: verifies the committed flight and age
presentations using only the spec, a generic CBOR library and Ed25519.

    pip install cbor2 cryptography
    python3 docs/vectors/verify_vector.py

It shares no code with tuaton. It checks the QR text decoding, the issuer's COSE_Sign1
signature, the disclosure digests, the holder proof, and prints the disclosed claims.
"""
import hashlib
import json
import os
import struct
import sys
import zlib

import cbor2
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

B45 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"


def b45decode(s):
    out = bytearray()
    vals = [B45.index(c) for c in s]
    for i in range(0, len(vals), 3):
        chunk = vals[i:i + 3]
        n = sum(v * 45 ** k for k, v in enumerate(chunk))
        out += n.to_bytes(2, "big") if len(chunk) == 3 else bytes([n])
    return bytes(out)


def lp(b):
    return struct.pack(">I", len(b)) + b


def tis620(b):
    return "".join(chr(x) if x < 0x80 else chr(x - 0xA0 + 0x0E00) for x in b)


def text(v):
    return tis620(v) if isinstance(v, bytes) else v


def verify(qr, issuer_key, nonce=b""):
    assert qr.startswith("TT1:"), "version prefix"
    body = b45decode(qr[4:])
    if body[0] != 0x83:  # deflated (section 4)
        body = zlib.decompress(body, -15)
    cose, disclosures, (time, holder_sig) = cbor2.loads(body)
    protected, unprotected, payload, sig = cose
    header = cbor2.loads(protected)
    assert header[1] == -8 and unprotected == {}, "EdDSA, no unprotected headers"
    # Issuer signature over the COSE Sig_structure, empty external AAD.
    tbs = cbor2.dumps(["Signature1", protected, b"", payload])
    Ed25519PublicKey.from_public_bytes(issuer_key).verify(sig, tbs)
    p = cbor2.loads(payload)
    # Disclosures: truncated SHA-256 of the exact bytes must equal the signed digest.
    for g, d in disclosures.items():
        assert hashlib.sha256(d).digest()[:16] == p[9][g], f"digest of group {g}"
    # Holder proof (section 4).
    msg = lp(b"tuaton holder proof v1") + lp(struct.pack(">q", time)) + lp(nonce)
    msg += lp(protected) + lp(payload) + lp(sig)
    for g in sorted(disclosures):
        msg += lp(bytes([g])) + lp(disclosures[g])
    Ed25519PublicKey.from_public_bytes(p[7]).verify(holder_sig, msg)
    claims = {"issuer": p[1], "kid": header[4].hex(), "valid_from_day": p[4], "valid_until_day": p.get(5)}
    flight = p.get(10)
    if flight is None and 0 in disclosures:
        flight = cbor2.loads(disclosures[0])[1:]
    if flight:
        claims.update(citizen_id=f"{flight[0]:013d}", given_name_th=text(flight[2]), family_name_th=text(flight[3]),
                      given_name_en=text(flight[4]), family_name_en=text(flight[5]))
    if 4 in disclosures:
        claims["age_over_20"] = cbor2.loads(disclosures[4])[1]
    return claims


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    v = json.load(open(os.path.join(here, "gate-v1.json")))
    key = bytes.fromhex(v["inputs"]["issuer_public_key"])
    for name in ["flight", "age"]:
        qr = v["presentations"][name]["qr"]
        print(name, verify(qr, key))
    # A tampered presentation must fail.
    qr = v["presentations"]["flight"]["qr"]
    bad = qr[:-5] + ("A" if qr[-5] != "A" else "B") + qr[-4:]
    try:
        verify(bad, key)
    except Exception as e:
        print("tampered: rejected (%s)" % type(e).__name__)
    else:
        sys.exit("tampered presentation verified")


if __name__ == "__main__":
    main()
