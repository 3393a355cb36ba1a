//! The session vector (docs/vectors/session-v1.json): one whole engagement session over a
//! socket, from fixed secrets: the engagement, the wallet's hello, the gate's request, the
//! transcript and derived keys, each message in plain and sealed form, the framed bytes on
//! the wire, the answer and the gate's verdict. Re-derived on every run; regenerate with
//! `TUATON_WRITE_VECTORS=1 cargo test -p tuaton-common --test session_vectors`.
mod kit;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::ChaCha20Poly1305;
use hkdf::Hkdf;
use kit::*;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tuaton_common::framing;
use tuaton_common::gate::Group;
use tuaton_common::presentation;
use tuaton_common::session::{
    Engagement, GateAwaitingResponse, Request, Response, Transport, WalletAwaitingRequest,
};
use tuaton_common::verify::{self, hex};
use x25519_dalek::{PublicKey, StaticSecret};

const WALLET_EPH: [u8; 32] = [0x21; 32];
const GATE_EPH: [u8; 32] = [0x22; 32];
const HELLO_RANDOM: [u8; 64] = [0x23; 64];
const NONCE: [u8; 16] = [0x24; 16];
const ADDR: &str = "127.0.0.1:47000";
/// The socket transport's framing size (BLE's largest ATT MTU).
const MTU: usize = 517;

fn lp(b: &[u8]) -> Vec<u8> {
    [&(b.len() as u32).to_be_bytes()[..], b].concat()
}

/// A message as it goes over a socket: chunks, each preceded by its 2-byte length.
fn on_the_wire(msg: &[u8]) -> String {
    hex(&framing::chunk(msg, MTU)
        .iter()
        .flat_map(|c| framing::stream_frame(c))
        .collect::<Vec<u8>>())
}

fn derive() -> Value {
    let cred = credential(0);
    let (wallet, engagement) =
        WalletAwaitingRequest::new(WALLET_EPH, Transport::Socket { addr: ADDR.into() });
    let text = engagement.to_text();
    let seen = Engagement::parse(&text).unwrap();
    let hello = wallet.hello(HELLO_RANDOM);
    seen.verify_hello(&hello).unwrap();
    let groups = vec![Group::Flight, Group::AgeOver20];
    let request = Request {
        groups: groups.clone(),
        nonce: NONCE,
    };
    let (gate, start) = GateAwaitingResponse::start(&seen, GATE_EPH, request).unwrap();
    let requested = wallet.on_request(&start).unwrap();
    assert_eq!(requested.request.groups, groups);
    let proof_nonce = requested.proof_nonce();
    assert_eq!(proof_nonce, gate.proof_nonce());
    let answer =
        presentation::present_groups(&cred, &holder_key(), &groups, NOW, Some(&proof_nonce))
            .unwrap();
    let response = requested.respond(answer.clone());
    let gate_nonce = gate.proof_nonce();
    let Response::Presentation(got) = gate.on_response(&response).unwrap() else {
        panic!("declined")
    };
    assert_eq!(got, answer);
    let verdict = in_context(
        Some(&gate_nonce),
        policy_for(tuaton_common::presentation::Profile::Flight),
        None,
        |ctx| verify::verify_session_answer(&got, &groups, ctx),
    );
    assert!(verdict.is_valid(), "{:?}", verdict.reasons);

    // Everything below is recomputed from section 8 alone, as another implementation
    // would, and must agree with what the state machines sent.
    let gate_public = PublicKey::from(&StaticSecret::from(GATE_EPH)).to_bytes();
    let shared =
        StaticSecret::from(GATE_EPH).diffie_hellman(&PublicKey::from(engagement.wallet_key));
    let transcript: [u8; 32] = Sha256::digest(
        [
            lp(b"tuaton session transcript v1"),
            lp(&engagement.bytes),
            lp(&gate_public),
        ]
        .concat(),
    )
    .into();
    let hk = Hkdf::<Sha256>::new(Some(&transcript), shared.as_bytes());
    let (mut to_wallet, mut to_gate) = ([0u8; 32], [0u8; 32]);
    hk.expand(b"tuaton gate to wallet", &mut to_wallet).unwrap();
    hk.expand(b"tuaton wallet to gate", &mut to_gate).unwrap();
    let nonce = |dir: u32| {
        let mut n = [0u8; 12];
        n[..4].copy_from_slice(&dir.to_be_bytes());
        n[4..].copy_from_slice(&1u64.to_be_bytes());
        n
    };
    let open = |key: &[u8; 32], dir: u32, ct: &[u8]| {
        ChaCha20Poly1305::new(key.into())
            .decrypt(
                &nonce(dir).into(),
                Payload {
                    msg: ct,
                    aad: &transcript,
                },
            )
            .expect("decrypts with the keys section 8 derives")
    };
    // session-start = [gate key, ciphertext]; response = [ciphertext].
    let start_v: ciborium::Value = ciborium::de::from_reader(&start[..]).unwrap();
    let ciborium::Value::Array(parts) = start_v else {
        panic!()
    };
    let ciborium::Value::Bytes(gk) = &parts[0] else {
        panic!()
    };
    assert_eq!(gk.as_slice(), gate_public);
    let ciborium::Value::Bytes(req_ct) = &parts[1] else {
        panic!()
    };
    let request_plain = open(&to_wallet, 0, req_ct);
    let resp_v: ciborium::Value = ciborium::de::from_reader(&response[..]).unwrap();
    let ciborium::Value::Array(parts) = resp_v else {
        panic!()
    };
    let ciborium::Value::Bytes(resp_ct) = &parts[0] else {
        panic!()
    };
    let response_plain = open(&to_gate, 1, resp_ct);
    assert_eq!(proof_nonce, [&transcript[..], &NONCE[..]].concat());
    let p = tuaton_common::presentation::Presentation::from_cbor(&answer).unwrap();

    json!({
        "about": "docs/FORMAT.md section 8: one session over a socket, wallet at the engagement's address, gate connecting",
        "inputs": {
            "wallet_ephemeral_secret": hex(&WALLET_EPH),
            "gate_ephemeral_secret": hex(&GATE_EPH),
            "hello_random_k_before_reduction": hex(&HELLO_RANDOM),
            "request_nonce": hex(&NONCE),
            "requested_groups": groups.iter().map(|g| *g as u8).collect::<Vec<_>>(),
            "address": ADDR,
            "socket_mtu": MTU,
            "presented_at": NOW,
            "holder_secret_key": hex(&holder_key().to_bytes()),
            "issuer_public_key": hex(issuer_key().verifying_key().as_bytes()),
            "credential_package": hex(&cred.to_bytes()),
        },
        "engagement": {
            "wallet_public_key": hex(&engagement.wallet_key),
            "cbor": hex(&engagement.bytes),
            "text": text,
        },
        "hello": {
            "message": hex(&hello),
            "on_the_wire": on_the_wire(&hello),
        },
        "session_start": {
            "gate_public_key": hex(&gate_public),
            "shared_secret": hex(shared.as_bytes()),
            "transcript": hex(&transcript),
            "key_gate_to_wallet": hex(&to_wallet),
            "key_wallet_to_gate": hex(&to_gate),
            "request_plaintext": hex(&request_plain),
            "aead_nonce": hex(&nonce(0)),
            "message": hex(&start),
            "on_the_wire": on_the_wire(&start),
        },
        "response": {
            "proof_nonce": hex(&proof_nonce),
            "presentation": hex(&answer),
            "holder_proof_message": hex(&presentation::holder_proof_message(&p.issuer_signed, &p.disclosures, NOW, Some(&proof_nonce))),
            "plaintext": hex(&response_plain),
            "aead_nonce": hex(&nonce(1)),
            "message": hex(&response),
            "on_the_wire": on_the_wire(&response),
        },
        "verdict": verdict.to_json(),
    })
}

#[test]
fn session_vector_matches_the_committed_file() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../docs/vectors/session-v1.json"
    );
    let derived = derive();
    if std::env::var_os("TUATON_WRITE_VECTORS").is_some() {
        std::fs::write(path, serde_json::to_string_pretty(&derived).unwrap() + "\n").unwrap();
    }
    let committed: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert_eq!(
        derived, committed,
        "the protocol changed: docs/vectors/session-v1.json no longer matches"
    );
}
