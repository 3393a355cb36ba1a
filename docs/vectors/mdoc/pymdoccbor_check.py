"""pymdoccbor (a third-party ISO 18013-5 library, EUDI wallet's pyMDOC-CBOR line) checks
the mdoc vectors: for every case tuaton calls valid, and for the cases refused for the
issuer's part (a changed element, an unknown IACA), it must agree. pymdoccbor checks the
issuer side only (the MSO's signature with the chain to a trusted root, and the element
digests); device authentication is checked by verify_mdoc.py.

Run: python3 -m venv .venv && .venv/bin/pip install -r requirements.txt
     .venv/bin/python pymdoccbor_check.py ../mdoc-v1.json
"""
import json
import sys

import cbor2
from cryptography import x509
from pymdoccbor.mdoc.verifier import MdocCbor


def main(path):
    v = json.load(open(path))
    root = x509.load_pem_x509_certificate(v["iaca_pem"].encode())
    # The issuer-side checks pymdoccbor makes; other verdicts are about the device or time.
    issuer_side = {"valid": True, "digest": False, "chain": False}
    # Where tuaton is stricter, by 18013-5 Annex B: an MSO signed by the IACA's own key
    # (no document signer certificate with the mdoc-DS extended key usage) is refused by
    # tuaton; pymdoccbor trusts any signer whose certificate is a trusted root.
    stricter = {"iaca_signs_mso"}
    agree = 0
    for case in v["cases"]:
        want = issuer_side.get(case["verdict"])
        if case["name"] in stricter:
            want = True
        if want is None:
            continue
        m = MdocCbor()
        m.loads(bytes.fromhex(case["response"]))
        try:
            ok = m.verify(trusted_root_certs=[root])
        except Exception as e:  # a refusal by exception is a refusal
            ok = False
            print(f"{case['name']}: refused ({type(e).__name__}: {e})")
        if ok != want:
            print(f"{case['name']}: pymdoccbor says {ok}, tuaton says {case['verdict']}")
            sys.exit(1)
        if case["name"] in stricter:
            print(f"{case['name']}: pymdoccbor accepts, tuaton refuses (stricter, Annex B)")
            continue
        agree += 1
        print(f"{case['name']}: pymdoccbor agrees ({'valid' if ok else 'refused'})")
    print(f"pymdoccbor agrees on {agree} cases")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "../mdoc-v1.json")
