#!/usr/bin/env python3
"""An independent reader for tuaton's mdoc form (docs/FORMAT.md section 11), written from
the document alone. It shares no code with tuaton.

    apt-get install python3-cbor2 python3-cryptography   (or: pip install cbor2 cryptography)
    python3 docs/vectors/verify_mdoc.py [docs/vectors/mdoc-v1.json]

Every case of mdoc-v1.json goes through the reader checks of section 11.5, in order, and
the first refusal is its verdict (valid, malformed, chain, issuer, expired, digest,
device); the verdict must equal tuaton's. It also checks the encoding of the export
SessionTranscript given in section 11.4.

CBOR is read by a small decoder of its own (below) so that exact bytes are kept (digests
and signatures cover the bytes as received) and repeated map keys are seen (cbor2 keeps
the last one silently); cbor2 encodes the Sig_structures and the DeviceAuthentication.
"""
import datetime
import hashlib
import json
import os
import re
import struct
import sys

import cbor2
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.x509.oid import ExtensionOID, SignatureAlgorithmOID

HERE = os.path.dirname(os.path.abspath(__file__))
DOC_TYPE = "th.tuaton.idcard.1"
MAX_RESPONSE = 256 * 1024                       # 11.5.1: "at most 256 KiB"
MDL_DS = x509.ObjectIdentifier("1.0.18013.5.1.2")
# 11.4: the export SessionTranscript, as the document spells its encoding.
EXPORT_TRANSCRIPT_DOC = "83 f6 f6 6d 74 75 61 74 6f 6e 2d 65 78 70 6f 72 74"
# The extensions that section 11.3 names; any other critical extension is "unknown".
KNOWN_EXTENSIONS = {
    ExtensionOID.BASIC_CONSTRAINTS,
    ExtensionOID.KEY_USAGE,
    ExtensionOID.EXTENDED_KEY_USAGE,
    ExtensionOID.SUBJECT_KEY_IDENTIFIER,
    ExtensionOID.AUTHORITY_KEY_IDENTIFIER,
}


class Refusal(Exception):
    def __init__(self, verdict, why):
        super().__init__(f"{verdict}: {why}")
        self.verdict = verdict
        self.why = why


def refuse(verdict, why):
    raise Refusal(verdict, why)


# ---------------------------------------------------------------------------------------
# A strict CBOR (RFC 8949) decoder that keeps the exact bytes of tags and refuses
# repeated map keys, trailing bytes and anything not well-formed.

class BadCBOR(Exception):
    pass


class Tag:
    def __init__(self, tag, value, raw):
        self.tag, self.value, self.raw = tag, value, raw

    def __repr__(self):
        return f"Tag({self.tag}, {self.value!r})"


class Simple:
    def __init__(self, value):
        self.value = value


UNDEFINED = Simple(23)


class Map:
    """A CBOR map: its pairs in order, and a lookup by the key's CBOR identity (so that
    1, true and 1.0 stay different keys)."""

    def __init__(self):
        self.pairs = []
        self.index = {}

    def add(self, k, v):
        ident = key_identity(k)
        if ident in self.index:
            raise BadCBOR(f"map key {k!r} appears twice")
        self.index[ident] = v
        self.pairs.append((k, v))

    def has(self, k):
        return key_identity(k) in self.index

    def get(self, k, default=None):
        return self.index.get(key_identity(k), default)

    def __len__(self):
        return len(self.pairs)


def key_identity(v):
    if isinstance(v, bool):
        return ("bool", v)
    if isinstance(v, int):
        return ("int", v)
    if isinstance(v, str):
        return ("text", v)
    if isinstance(v, bytes):
        return ("bytes", v)
    if isinstance(v, float):
        return ("float", struct.pack(">d", v))
    if v is None:
        return ("null",)
    if isinstance(v, Simple):
        return ("simple", v.value)
    if isinstance(v, Tag):
        return ("tag", v.tag, key_identity(v.value))
    if isinstance(v, list):
        return ("array", tuple(key_identity(x) for x in v))
    if isinstance(v, Map):
        return ("map", frozenset((key_identity(k), key_identity(x)) for k, x in v.pairs))
    raise BadCBOR("unexpected key type")


def cbor_decode(data):
    """Decodes exactly one CBOR item that spans all of data."""
    data = bytes(data)
    try:
        value, end = _item(data, 0)
    except RecursionError:
        raise BadCBOR("nested too deeply")
    if end != len(data):
        raise BadCBOR(f"{len(data) - end} bytes after the item")
    return value


def _need(data, pos, n):
    if pos + n > len(data):
        raise BadCBOR("truncated")


def _head(data, pos):
    _need(data, pos, 1)
    ib = data[pos]
    major, info = ib >> 5, ib & 0x1F
    pos += 1
    if info < 24:
        return major, info, info, pos
    if info in (24, 25, 26, 27):
        n = 1 << (info - 24)
        _need(data, pos, n)
        return major, info, int.from_bytes(data[pos:pos + n], "big"), pos + n
    if info == 31:
        return major, info, None, pos
    raise BadCBOR(f"reserved additional information {info}")


def _item(data, pos):
    start = pos
    major, info, arg, pos = _head(data, pos)
    if major == 0:
        if arg is None:
            raise BadCBOR("indefinite integer")
        return arg, pos
    if major == 1:
        if arg is None:
            raise BadCBOR("indefinite integer")
        return -1 - arg, pos
    if major in (2, 3):
        if arg is None:
            chunks = []
            while True:
                _need(data, pos, 1)
                if data[pos] == 0xFF:
                    pos += 1
                    break
                cmajor, _, clen, pos = _head(data, pos)
                if cmajor != major or clen is None:
                    raise BadCBOR("bad chunk in an indefinite string")
                _need(data, pos, clen)
                chunks.append(data[pos:pos + clen])
                pos += clen
            raw = b"".join(chunks)
        else:
            _need(data, pos, arg)
            raw = data[pos:pos + arg]
            pos += arg
        if major == 2:
            return raw, pos
        try:
            return raw.decode("utf-8"), pos
        except UnicodeDecodeError:
            raise BadCBOR("text string is not UTF-8")
    if major == 4:
        out = []
        if arg is None:
            while True:
                _need(data, pos, 1)
                if data[pos] == 0xFF:
                    return out, pos + 1
                v, pos = _item(data, pos)
                out.append(v)
        for _ in range(arg):
            v, pos = _item(data, pos)
            out.append(v)
        return out, pos
    if major == 5:
        out = Map()
        if arg is None:
            while True:
                _need(data, pos, 1)
                if data[pos] == 0xFF:
                    return out, pos + 1
                k, pos = _item(data, pos)
                v, pos = _item(data, pos)
                out.add(k, v)
        for _ in range(arg):
            k, pos = _item(data, pos)
            v, pos = _item(data, pos)
            out.add(k, v)
        return out, pos
    if major == 6:
        if arg is None:
            raise BadCBOR("indefinite tag")
        v, pos = _item(data, pos)
        return Tag(arg, v, data[start:pos]), pos
    # major 7
    if info < 24:
        if arg == 20:
            return False, pos
        if arg == 21:
            return True, pos
        if arg == 22:
            return None, pos
        return Simple(arg), pos
    if info == 24:
        if arg < 32:
            raise BadCBOR("simple value in two bytes below 32")
        return Simple(arg), pos
    if info == 25:
        return struct.unpack(">e", data[pos - 2:pos])[0], pos
    if info == 26:
        return struct.unpack(">f", data[pos - 4:pos])[0], pos
    if info == 27:
        return struct.unpack(">d", data[pos - 8:pos])[0], pos
    raise BadCBOR("break outside an indefinite item")


# ---------------------------------------------------------------------------------------
# Shape checks (11.5 step 1: "malformed").

def is_uint(v):
    return type(v) is int and v >= 0


def is_int(v):
    return type(v) is int


def want_map(v, what):
    if not isinstance(v, Map):
        refuse("malformed", f"{what} is not a map")
    return v


def field(m, key, what):
    """A key of the structures of section 11 must appear (exactly once: the decoder
    already refuses a repeated key)."""
    if not m.has(key):
        refuse("malformed", f"{what} has no {key!r}")
    return m.get(key)


def want(cond, why):
    if not cond:
        refuse("malformed", why)


def decode_embedded(bstr, what):
    try:
        return cbor_decode(bstr)
    except BadCBOR as e:
        refuse("malformed", f"{what}: {e}")


def tag24(v, what):
    """#6.24(bstr .cbor X): returns (the decoded X, the exact bytes of the tagged item)."""
    want(isinstance(v, Tag) and v.tag == 24 and isinstance(v.value, bytes),
         f"{what} is not #6.24(bstr)")
    return decode_embedded(v.value, what), v.raw


TDATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})Z$")


def tdate(v, what):
    """tdate = #6.0(tstr), "...Z", whole seconds -> Unix seconds."""
    want(isinstance(v, Tag) and v.tag == 0 and isinstance(v.value, str),
         f"{what} is not a tdate")
    m = TDATE.match(v.value)
    want(m is not None, f"{what} {v.value!r} is not YYYY-MM-DDTHH:MM:SSZ")
    try:
        t = datetime.datetime(*map(int, m.groups()), tzinfo=datetime.timezone.utc)
    except ValueError:
        refuse("malformed", f"{what} {v.value!r} is not a date")
    return int(t.timestamp())


def cose_sign1(v, what):
    """COSE_Sign1 = [protected: bstr .cbor header_map, unprotected: map, payload, sig]
    (untagged, RFC 9052 / 18013-5)."""
    want(isinstance(v, list) and len(v) == 4, f"{what} is not an (untagged) COSE_Sign1")
    protected, unprotected, payload, signature = v
    want(isinstance(protected, bytes), f"{what}: protected header is not a bstr")
    want(isinstance(unprotected, Map), f"{what}: unprotected header is not a map")
    want(payload is None or isinstance(payload, bytes), f"{what}: payload is not bstr/nil")
    want(isinstance(signature, bytes), f"{what}: signature is not a bstr")
    # RFC 9052: a zero-length protected bstr stands for the empty map.
    prot_map = Map() if protected == b"" else decode_embedded(protected, f"{what} protected")
    want(isinstance(prot_map, Map), f"{what}: protected header is not a map")
    return {"protected": protected, "prot": prot_map, "unprot": unprotected,
            "payload": payload, "signature": signature}


def parse(response):
    """11.5 step 1: the response's shape, every structure of 11.2 and 11.4."""
    if len(response) > MAX_RESPONSE:
        refuse("malformed", f"response is {len(response)} bytes, over 256 KiB")
    try:
        top = cbor_decode(response)
    except BadCBOR as e:
        refuse("malformed", f"DeviceResponse: {e}")
    want_map(top, "DeviceResponse")
    version = field(top, "version", "DeviceResponse")
    want(version == "1.0" and type(version) is str, f"version is {version!r}")
    status = field(top, "status", "DeviceResponse")
    want(is_int(status) and status == 0, f"status is {status!r}")
    documents = field(top, "documents", "DeviceResponse")
    want(isinstance(documents, list) and len(documents) == 1, "not exactly one document")
    doc = want_map(documents[0], "Document")
    doc_type = field(doc, "docType", "Document")
    want(isinstance(doc_type, str), "docType is not a tstr")

    issuer_signed = want_map(field(doc, "issuerSigned", "Document"), "issuerSigned")
    name_spaces = want_map(field(issuer_signed, "nameSpaces", "IssuerSigned"), "nameSpaces")
    want(len(name_spaces) > 0, "issuerSigned.nameSpaces is empty")
    items = []
    for ns, arr in name_spaces.pairs:
        want(isinstance(ns, str), "a namespace is not a tstr")
        want(isinstance(arr, list) and len(arr) > 0, f"namespace {ns} is not [+ items]")
        for tagged in arr:
            item, raw = tag24(tagged, f"an IssuerSignedItemBytes of {ns}")
            want_map(item, "IssuerSignedItem")
            did = field(item, "digestID", "IssuerSignedItem")
            rnd = field(item, "random", "IssuerSignedItem")
            eid = field(item, "elementIdentifier", "IssuerSignedItem")
            field(item, "elementValue", "IssuerSignedItem")
            want(is_uint(did), "digestID is not a uint")
            want(isinstance(rnd, bytes), "random is not a bstr")
            want(isinstance(eid, str), "elementIdentifier is not a tstr")
            items.append({"ns": ns, "digestID": did, "random": rnd, "id": eid, "raw": raw})

    issuer_auth = cose_sign1(field(issuer_signed, "issuerAuth", "IssuerSigned"), "issuerAuth")
    want(issuer_auth["payload"] is not None, "issuerAuth has no payload")
    mso_item = decode_embedded(issuer_auth["payload"], "issuerAuth payload")
    mso, _ = tag24(mso_item, "MobileSecurityObjectBytes")
    want_map(mso, "MobileSecurityObject")
    mso_version = field(mso, "version", "MSO")
    digest_alg = field(mso, "digestAlgorithm", "MSO")
    mso_doc_type = field(mso, "docType", "MSO")
    want(isinstance(mso_version, str), "MSO version is not a tstr")
    want(isinstance(digest_alg, str), "MSO digestAlgorithm is not a tstr")
    want(isinstance(mso_doc_type, str), "MSO docType is not a tstr")
    value_digests = want_map(field(mso, "valueDigests", "MSO"), "valueDigests")
    want(len(value_digests) > 0, "valueDigests is empty")
    for ns, digests in value_digests.pairs:
        want(isinstance(ns, str), "a valueDigests namespace is not a tstr")
        want_map(digests, f"valueDigests[{ns}]")
        want(len(digests) > 0, f"valueDigests[{ns}] is empty")
        for did, dig in digests.pairs:
            want(is_uint(did) and isinstance(dig, bytes), f"valueDigests[{ns}] is not uint => bstr")
    key_info = want_map(field(mso, "deviceKeyInfo", "MSO"), "deviceKeyInfo")
    device_key = field(key_info, "deviceKey", "deviceKeyInfo")
    validity = want_map(field(mso, "validityInfo", "MSO"), "validityInfo")
    times = {k: tdate(field(validity, k, "validityInfo"), k)
             for k in ("signed", "validFrom", "validUntil")}
    # The MSO's status (FORMAT.md 11.2): {"status_list": {"idx": uint, "uri": tstr}}.
    status = None
    if mso.has("status"):
        st = want_map(mso.get("status"), "status")
        if st.has("status_list"):
            sl = want_map(st.get("status_list"), "status_list")
            idx, uri = field(sl, "idx", "status_list"), field(sl, "uri", "status_list")
            want(is_uint(idx) and isinstance(uri, str) and len(uri.encode()) <= 256,
                 "status_list is not {idx: uint, uri: tstr}")
            status = (idx, uri)

    device_signed = want_map(field(doc, "deviceSigned", "Document"), "deviceSigned")
    dns, dns_raw = tag24(field(device_signed, "nameSpaces", "DeviceSigned"),
                         "DeviceNameSpacesBytes")
    want(isinstance(dns, Map) and len(dns) == 0, "DeviceNameSpaces is not the empty map")
    device_auth = want_map(field(device_signed, "deviceAuth", "DeviceSigned"), "deviceAuth")
    # Whether it is a signature and not a MAC is step 6's ("device"); if there is one,
    # its shape is checked here.
    device_sig = None
    if device_auth.has("deviceSignature"):
        device_sig = cose_sign1(device_auth.get("deviceSignature"), "deviceSignature")

    return {
        "doc_type": doc_type, "items": items, "issuer_auth": issuer_auth,
        "mso_version": mso_version, "digest_alg": digest_alg, "mso_doc_type": mso_doc_type,
        "value_digests": value_digests, "device_key": device_key, "times": times,
        "dns_raw": dns_raw, "device_auth": device_auth, "device_sig": device_sig,
        "status": status,
    }


# ---------------------------------------------------------------------------------------
# Signatures.

def es256_verify(public_key, signature, message):
    """ES256: ECDSA P-256 with SHA-256, signature r || s (32 + 32 bytes)."""
    if not isinstance(public_key, ec.EllipticCurvePublicKey) or \
            not isinstance(public_key.curve, ec.SECP256R1):
        return False
    if len(signature) != 64:
        return False
    r = int.from_bytes(signature[:32], "big")
    s = int.from_bytes(signature[32:], "big")
    try:
        public_key.verify(encode_dss_signature(r, s), message, ec.ECDSA(hashes.SHA256()))
        return True
    except InvalidSignature:
        return False


def sig_structure(protected, payload):
    """COSE Sig_structure for COSE_Sign1: ["Signature1", protected, h'', payload]."""
    return cbor2.dumps(["Signature1", protected, b"", payload])


# ---------------------------------------------------------------------------------------
# Certificates (11.3, 11.5 step 2).

def load_pems(text):
    blocks = re.findall(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----", text, re.S)
    return [x509.load_pem_x509_certificate(b.encode()) for b in blocks]


def utc_seconds(dt):
    return int(dt.replace(tzinfo=datetime.timezone.utc).timestamp())


# FORMAT.md 11.5: a start may be up to 300 s after the reader's clock (a slow clock); ends
# are exact.
SKEW = 300


def valid_at(cert, t, skew=0):
    return utc_seconds(cert.not_valid_before) <= t + skew <= utc_seconds(cert.not_valid_after) + skew


def unknown_critical(cert):
    try:
        exts = cert.extensions
    except Exception as e:             # a repeated or unparsable extension
        return f"extensions: {e}"
    for ext in exts:
        if ext.critical and ext.oid not in KNOWN_EXTENSIONS:
            return f"unknown critical extension {ext.oid.dotted_string}"
    return None


def signed_by(cert, issuer):
    if cert.signature_algorithm_oid != SignatureAlgorithmOID.ECDSA_WITH_SHA256:
        return False
    key = issuer.public_key()
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
        return False
    try:
        key.verify(cert.signature, cert.tbs_certificate_bytes, ec.ECDSA(hashes.SHA256()))
        return True
    except InvalidSignature:
        return False


def check_chain(issuer_auth, iacas, now):
    """Step 2; returns the document signer certificate."""
    if issuer_auth["prot"].get(1) != -7 or type(issuer_auth["prot"].get(1)) is not int:
        refuse("chain", "issuerAuth is not ES256 (protected {1: -7})")
    x5chain = issuer_auth["unprot"].get(33)
    if isinstance(x5chain, list):
        x5chain = x5chain[0] if x5chain else None
    if not isinstance(x5chain, bytes):
        refuse("chain", "no x5chain certificate in the unprotected header")
    try:
        ds = x509.load_der_x509_certificate(x5chain)
        # cryptography parses lazily: touch every field used below, so that a
        # certificate that does not parse is refused here.
        ds.issuer, ds.subject, ds.not_valid_before, ds.not_valid_after
        ds.signature_algorithm_oid, ds.public_key(), ds.tbs_certificate_bytes
    except Exception as e:
        refuse("chain", f"x5chain certificate does not parse: {e}")
    why = unknown_critical(ds)
    if why:
        refuse("chain", f"document signer: {why}")
    iaca = None
    for candidate in iacas:
        if candidate.subject == ds.issuer and signed_by(ds, candidate):
            iaca = candidate
            break
    if iaca is None:
        refuse("chain", "not signed by a trusted IACA whose subject is its issuer")
    why = unknown_critical(iaca)
    if why:
        refuse("chain", f"IACA: {why}")
    if not valid_at(iaca, now, SKEW):
        refuse("chain", "the IACA certificate is not valid now")
    if not valid_at(ds, now, SKEW):
        refuse("chain", "the document signer certificate is not valid now")
    try:
        bc = ds.extensions.get_extension_for_oid(ExtensionOID.BASIC_CONSTRAINTS).value
        if bc.ca:
            refuse("chain", "the document signer certificate is a CA")
    except x509.ExtensionNotFound:
        pass
    try:
        eku = ds.extensions.get_extension_for_oid(ExtensionOID.EXTENDED_KEY_USAGE).value
    except x509.ExtensionNotFound:
        refuse("chain", "the document signer certificate has no extended key usage")
    if MDL_DS not in list(eku):
        refuse("chain", "the document signer certificate lacks the mdlDS extended key usage")
    return ds


# ---------------------------------------------------------------------------------------
# The reader (11.5).

def device_public_key(k):
    """Step 6: an EC2 P-256 COSE_Key {1: 2, -1: 1, -2: x, -3: y}."""
    if not isinstance(k, Map):
        refuse("device", "deviceKey is not a COSE_Key map")
    kty, crv, x, y = k.get(1), k.get(-1), k.get(-2), k.get(-3)
    if not (is_int(kty) and kty == 2):
        refuse("device", f"deviceKey kty is {kty!r}, not EC2 (2)")
    if not (is_int(crv) and crv == 1):
        refuse("device", f"deviceKey crv is {crv!r}, not P-256 (1)")
    if not (isinstance(x, bytes) and isinstance(y, bytes) and len(x) == 32 and len(y) == 32):
        refuse("device", "deviceKey x and y are not 32-byte strings")
    try:
        return ec.EllipticCurvePublicNumbers(
            int.from_bytes(x, "big"), int.from_bytes(y, "big"), ec.SECP256R1()).public_key()
    except ValueError:
        refuse("device", "deviceKey is not a point on P-256")


def verify(response, transcript, iacas, now):
    # 1. Structure.
    p = parse(response)

    # 2. The document signer certificate, chained to a trusted IACA.
    ds = check_chain(p["issuer_auth"], iacas, now)

    # 3. The MSO's signature and fields.
    ia = p["issuer_auth"]
    if not es256_verify(ds.public_key(), ia["signature"],
                        sig_structure(ia["protected"], ia["payload"])):
        refuse("issuer", "the MSO's signature does not verify with the document signer's key")
    if p["mso_version"] != "1.0":
        refuse("issuer", f"MSO version {p['mso_version']!r}")
    if p["digest_alg"] != "SHA-256":
        refuse("issuer", f"MSO digestAlgorithm {p['digest_alg']!r}")
    if p["mso_doc_type"] != DOC_TYPE or p["mso_doc_type"] != p["doc_type"]:
        refuse("issuer", f"MSO docType {p['mso_doc_type']!r}, document {p['doc_type']!r}")

    # 4. The validity window, then `signed` within the signer's certificate.
    t = p["times"]
    if not (t["validFrom"] <= now + SKEW and now <= t["validUntil"]):
        refuse("expired", "now is outside [validFrom, validUntil]")
    if not valid_at(ds, t["signed"]):
        refuse("chain", "signed is outside the document signer certificate's validity")

    # 5. Digests of the disclosed items, over the whole #6.24 item as received.
    for it in p["items"]:
        digests = p["value_digests"].get(it["ns"])
        expected = digests.get(it["digestID"]) if isinstance(digests, Map) else None
        if expected is None:
            refuse("digest", f"no digest for {it['ns']} #{it['digestID']}")
        if hashlib.sha256(it["raw"]).digest() != expected:
            refuse("digest", f"digest of {it['ns']}/{it['id']} differs")
        if len(it["random"]) < 16:
            refuse("digest", f"random of {it['ns']}/{it['id']} is under 16 bytes")

    # 6. Device authentication.
    key = device_public_key(p["device_key"])
    if p["device_auth"].has("deviceMac") or p["device_sig"] is None:
        refuse("device", "deviceAuth is not a deviceSignature")
    ds_sig = p["device_sig"]
    alg = ds_sig["prot"].get(1)
    if not (is_int(alg) and alg == -7):
        refuse("device", "deviceSignature is not ES256")
    if ds_sig["payload"] is not None:
        refuse("device", "deviceSignature's payload is not detached")
    # DeviceAuthentication = ["DeviceAuthentication", SessionTranscript, DocType,
    #                         DeviceNameSpacesBytes], with the reader's transcript and the
    # received DeviceNameSpacesBytes as they are; then #6.24(bstr .cbor it).
    device_auth = (b"\x84" + cbor2.dumps("DeviceAuthentication") + transcript
                   + cbor2.dumps(p["doc_type"]) + p["dns_raw"])
    device_auth_bytes = cbor2.dumps(cbor2.CBORTag(24, device_auth))
    if not es256_verify(key, ds_sig["signature"],
                        sig_structure(ds_sig["protected"], device_auth_bytes)):
        refuse("device", "the device signature does not verify")
    return "valid"


def verdict(response, transcript, iacas, now):
    try:
        return verify(response, transcript, iacas, now), ""
    except Refusal as r:
        return r.verdict, r.why


def check_export_transcript():
    want_bytes = bytes.fromhex(EXPORT_TRANSCRIPT_DOC.replace(" ", ""))
    ok = want_bytes == cbor2.dumps([None, None, "tuaton-export"])
    # The bytes above are copied from FORMAT.md 11.4; if the document is at hand, make
    # sure it still says so.
    fmt = os.path.join(HERE, "..", "FORMAT.md")
    if os.path.exists(fmt):
        ok = ok and ("`" + EXPORT_TRANSCRIPT_DOC + "`") in open(fmt, encoding="utf-8").read()
    return ok


def main(path):
    v = json.load(open(path))
    iacas = load_pems(v["iaca_pem"])
    now = v["now"]
    if not isinstance(now, int):
        raise SystemExit("`now` is not an integer")
    if "now_rfc3339" in v:
        t = datetime.datetime.strptime(v["now_rfc3339"], "%Y-%m-%dT%H:%M:%SZ")
        assert utc_seconds(t) == now, "now and now_rfc3339 differ"
    bad = []
    for case in v["cases"]:
        got, why = verdict(bytes.fromhex(case["response"]),
                           bytes.fromhex(case["session_transcript"]), iacas, now)
        line = f"{case['name']}: {got} (expected {case['verdict']})"
        print(line + (f"  [{why}]" if why and got != case["verdict"] else ""))
        if got != case["verdict"]:
            bad.append(line + f"  [{why}]")
    # The card's MSO names its revocation bit as the vector says.
    if "mso_status" in v:
        first = parse(bytes.fromhex(v["cases"][0]["response"]))
        want_status = (v["mso_status"]["idx"], v["mso_status"]["uri"])
        if first["status"] == want_status:
            print(f"mdoc: the MSO's status names bit {want_status[0]} of {want_status[1]}")
        else:
            bad.append(f"MSO status {first['status']!r}, expected {want_status!r}")
    if check_export_transcript():
        print("mdoc: export transcript agrees")
    else:
        bad.append("export transcript: the bytes in FORMAT.md 11.4 are not "
                   "cbor2.dumps([None, None, 'tuaton-export'])")
    if bad:
        print(f"mdoc: {len(bad)} disagreements with tuaton:")
        for b in bad:
            print("  " + b)
        sys.exit(1)
    print(f"mdoc: {len(v['cases'])} cases agree with tuaton")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "mdoc-v1.json"))
