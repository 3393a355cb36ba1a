#!/usr/bin/env python3
"""A wallet that follows only OpenID for Verifiable Credential Issuance 1.0.

Written from the specification (and RFC 6749, 7517, 7515, 8037, 8414), not from tuaton:
it reads a credential offer by value, discovers the issuer and its authorization server
from their well-known metadata, exchanges the pre-authorized code and transaction code
for an access token, fetches a c_nonce, and asks for each credential configuration with
a key proof JWT. It ignores the offer parameters it does not know (section 4.1.1),
tuaton's signature among them.

    python3 oid4vci_wallet.py OFFER TX_CODE (EdDSA|ES256) CONFIG_ID...

Prints one JSON object: the holder's public JWK, and each configuration's credential (or
the error object the issuer answered). Needs only the standard library and
`cryptography` (Debian: python3-cryptography).
"""
import base64
import json
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

PRE_AUTH = "urn:ietf:params:oauth:grant-type:pre-authorized_code"


def b64u(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def http(method, url, body=None, headers=None):
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read(1 << 20))
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read(1 << 20) or b"{}")


def well_known(identifier, suffix):
    # Section 12.2.2 / RFC 8414 section 3.1: the suffix goes between host and path.
    u = urllib.parse.urlsplit(identifier)
    return urllib.parse.urlunsplit((u.scheme, u.netloc, suffix + u.path.rstrip("/"), "", ""))


class Key:
    def __init__(self, alg):
        self.alg = alg
        if alg == "EdDSA":
            self.sk = ed25519.Ed25519PrivateKey.generate()
            raw = self.sk.public_key().public_bytes(
                serialization.Encoding.Raw, serialization.PublicFormat.Raw)
            self.jwk = {"kty": "OKP", "crv": "Ed25519", "x": b64u(raw)}
        elif alg == "ES256":
            self.sk = ec.generate_private_key(ec.SECP256R1())
            n = self.sk.public_key().public_numbers()
            self.jwk = {"kty": "EC", "crv": "P-256",
                        "x": b64u(n.x.to_bytes(32, "big")), "y": b64u(n.y.to_bytes(32, "big"))}
        else:
            raise SystemExit(f"unsupported alg {alg}")

    def sign(self, data):
        if self.alg == "EdDSA":
            return self.sk.sign(data)
        r, s = decode_dss_signature(self.sk.sign(data, ec.ECDSA(hashes.SHA256())))
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")

    def proof(self, aud, nonce):
        # Appendix F.1: typ, alg, jwk; aud, iat, nonce (no iss: anonymous pre-auth).
        header = {"typ": "openid4vci-proof+jwt", "alg": self.alg, "jwk": self.jwk}
        claims = {"aud": aud, "iat": int(time.time()), "nonce": nonce}
        si = b64u(json.dumps(header).encode()) + "." + b64u(json.dumps(claims).encode())
        return si + "." + b64u(self.sign(si.encode()))


def main():
    offer_uri, tx_code, alg, *configs = sys.argv[1:]
    q = urllib.parse.parse_qs(urllib.parse.urlsplit(offer_uri).query)
    offer = json.loads(q["credential_offer"][0])
    issuer = offer["credential_issuer"]
    grant = offer["grants"][PRE_AUTH]
    status, meta = http("GET", well_known(issuer, "/.well-known/openid-credential-issuer"))
    assert status == 200 and meta["credential_issuer"] == issuer, meta
    as_id = (meta.get("authorization_servers") or [issuer])[0]
    status, asm = http("GET", well_known(as_id, "/.well-known/oauth-authorization-server"))
    assert status == 200 and asm["issuer"] == as_id, asm
    for c in configs:
        conf = meta["credential_configurations_supported"][c]
        algs = conf["proof_types_supported"]["jwt"]["proof_signing_alg_values_supported"]
        assert alg in algs, (c, algs)
    form = {"grant_type": PRE_AUTH, "pre-authorized_code": grant["pre-authorized_code"]}
    if "tx_code" in grant:
        form["tx_code"] = tx_code
    status, tok = http("POST", asm["token_endpoint"], urllib.parse.urlencode(form).encode(),
                       {"Content-Type": "application/x-www-form-urlencoded"})
    if status != 200:
        print(json.dumps({"token_error": tok}))
        return
    assert tok["token_type"].lower() == "bearer", tok
    key = Key(alg)
    out = {"holder_jwk": key.jwk, "credentials": {}}
    for c in configs:
        status, n = http("POST", meta["nonce_endpoint"])
        assert status == 200, n
        body = {"credential_configuration_id": c,
                "proofs": {"jwt": [key.proof(issuer, n["c_nonce"])]}}
        status, r = http("POST", meta["credential_endpoint"], json.dumps(body).encode(),
                         {"Content-Type": "application/json",
                          "Authorization": "Bearer " + tok["access_token"]})
        out["credentials"][c] = r["credentials"][0]["credential"] if status == 200 else r
    print(json.dumps(out))


main()
