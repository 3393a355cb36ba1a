//! The wallet's side of an engagement session with one gate: choose where the gate will
//! find us, show the engagement, prove the listener made it, show the gate's request,
//! and answer only after the citizen consents with the PIN. The protocol itself is
//! `tuaton_common::session`; the binary supplies the screen and the PIN prompt.

use crate::{Result, Wallet, WalletError};
use rand::{rngs::OsRng, RngCore};
use tuaton_common::gate::{consent_text, Group};
use tuaton_common::link::{recv_message, send_message, Link};
use tuaton_common::session::{Transport, WalletAwaitingRequest, MAX_MESSAGE};

/// Where the gate will find this wallet, chosen before the engagement is shown and
/// opened after.
pub enum Listener {
    /// A listening socket (`socket:HOST:PORT`; port 0 picks a free one).
    Socket(crate::transport::SocketServer),
    /// A GATT service with this UUID (fresh per engagement, so the advertisement does
    /// not track the phone).
    #[cfg(feature = "ble")]
    Ble([u8; 16]),
}

impl Listener {
    /// Opens the listener `--transport` names: `ble`, or `socket:HOST:PORT`.
    pub fn open(transport: &str) -> Result<(Listener, Transport)> {
        if let Some(addr) = transport.strip_prefix("socket:") {
            let server = crate::transport::SocketServer::bind(addr)?;
            let how = Transport::Socket {
                addr: server.addr(),
            };
            return Ok((Listener::Socket(server), how));
        }
        if transport == "ble" {
            #[cfg(feature = "ble")]
            {
                let mut service = [0u8; 16];
                OsRng.fill_bytes(&mut service);
                return Ok((Listener::Ble(service), Transport::Ble { service }));
            }
            #[cfg(not(feature = "ble"))]
            return Err(WalletError::Transport {
                what: "Bluetooth LE".into(),
                reason: "this wallet build does not include it (build with --features ble)".into(),
            });
        }
        Err(WalletError::Usage(format!(
            "--transport must be ble or socket:HOST:PORT, not `{}`",
            transport.escape_debug()
        )))
    }

    /// Waits for one gate.
    fn accept(self) -> Result<Box<dyn Link>> {
        Ok(match self {
            Listener::Socket(s) => Box::new(s.accept()?),
            #[cfg(feature = "ble")]
            Listener::Ble(service) => {
                Box::new(crate::ble::serve(service, crate::transport::WAIT_FOR_GATE)?)
            }
        })
    }
}

/// What the citizen is asked, and how they answer.
pub trait Consent {
    /// Shows who asks for what (one sentence: for a gate, "The gate asks for: " and
    /// [`consent_text`]) and returns the PIN the citizen typed to share it (anything else
    /// refuses).
    fn ask(&mut self, what: &str) -> Result<String>;
}

/// One engagement: its QR text, and the state waiting for a gate.
pub struct Engagement {
    /// The `TTB1:` text to show as a QR code.
    pub text: String,
    waiting: WalletAwaitingRequest,
    listener: Listener,
}

impl Engagement {
    /// A fresh engagement (an ephemeral key) for `listener`, reached by `how`.
    pub fn new(listener: Listener, how: Transport) -> Engagement {
        let mut eph = [0u8; 32];
        OsRng.fill_bytes(&mut eph);
        let (waiting, engagement) = WalletAwaitingRequest::new(eph, how);
        Engagement {
            text: engagement.to_text(),
            waiting,
            listener,
        }
    }

    /// Waits for a gate, proves this listener made the engagement, shows its request
    /// through `consent`, and answers with a presentation dated `now` if the PIN opens the
    /// wallet (a wrong PIN declines, and the error says why). Returns the groups shared
    /// and the number of messages written.
    pub fn run(
        self,
        w: &Wallet,
        consent: &mut dyn Consent,
        now: i64,
        real_now: i64,
    ) -> Result<(Vec<Group>, usize)> {
        let mut link = self.listener.accept()?;
        // Prove to the gate that this listener made the engagement, before it sends anything.
        let mut r = [0u8; 64];
        OsRng.fill_bytes(&mut r);
        send_message(link.as_mut(), &self.waiting.hello(r)).map_err(WalletError::Session)?;
        link.expect_within(tuaton_common::session::REQUEST_WAIT_SECS);
        let first = recv_message(link.as_mut(), MAX_MESSAGE).map_err(WalletError::Session)?;
        let requested = self
            .waiting
            .on_request(&first)
            .map_err(WalletError::Session)?;
        let groups = requested.request.groups.clone();
        let pin = consent.ask(&format!("The gate asks for: {}", consent_text(&groups)))?;
        // The PIN backoff runs on the real clock, whatever `now` the presentation carries.
        let u = match w.unlock(&pin, real_now) {
            Ok(u) => u,
            Err(e) => {
                send_message(link.as_mut(), &requested.decline()).ok();
                return Err(e);
            }
        };
        let presentation = u.present_session(&groups, now, &requested.proof_nonce())?;
        let writes = send_message(link.as_mut(), &requested.respond(presentation))
            .map_err(|_| WalletError::GateGone(tuaton_common::session::CONSENT_WAIT_SECS))?;
        Ok((groups, writes))
    }
}

/// Whom the wallet answers over ISO 18013-5: readers certified by these reader CAs, for
/// what their certificates allow; others only when the citizen overrides.
pub struct ReaderPolicy {
    /// Trusted reader CA certificates.
    pub cas: Vec<tuaton_common::mdoc::Iaca>,
    /// The citizen's explicit override (`--allow-unverified-reader`).
    pub allow_unverified: bool,
    /// Reader certificates the trust list revoked (their SHA-256).
    pub revoked: Vec<[u8; 32]>,
}

/// An ISO 18013-5 engagement (`engage --iso`): its `mdoc:` QR text, the ephemeral key
/// behind it, and the listener the reader will reach.
pub struct IsoEngagement {
    /// The `mdoc:` text to show as a QR code.
    pub text: String,
    engagement: tuaton_common::mdoc_session::Engagement,
    e_device: p256::SecretKey,
    listener: Listener,
}

impl IsoEngagement {
    /// A fresh engagement (a new ephemeral key) for `listener`, which the engagement
    /// names as its retrieval method (`how`), so a reader that scans it knows where to go.
    pub fn new(listener: Listener, how: &Transport) -> Result<IsoEngagement> {
        let e_device = p256::SecretKey::random(&mut OsRng);
        let engagement =
            tuaton_common::mdoc_session::Engagement::with_transport(&e_device.public_key(), how);
        Ok(IsoEngagement {
            text: engagement.to_uri(),
            engagement,
            e_device,
            listener,
        })
    }

    /// Waits for a reader, reads its request and judges who asks (`policy`), shows it
    /// through `consent`, and answers with the elements asked for once the PIN opens the
    /// wallet. A reader that is not verified, or asks beyond its certificate, is declined
    /// unless the policy overrides. Returns the elements shared and the messages written.
    pub fn run(
        self,
        w: &Wallet,
        consent: &mut dyn Consent,
        policy: &ReaderPolicy,
        real_now: i64,
    ) -> Result<(tuaton_common::mdoc::Request, usize)> {
        use tuaton_common::link::{recv_framed, send_framed, Framing};
        use tuaton_common::mdoc_session::{DeviceSession, ReaderIdentity, MAX_MESSAGE};
        // Over BLE, 18013-5's own framing (section 8.3.3.1.1.6), so standard readers
        // understand it; over the test socket, tuaton's (FORMAT.md section 11.7).
        let framing = match self.listener {
            Listener::Socket(_) => Framing::Tuaton,
            #[cfg(feature = "ble")]
            Listener::Ble(_) => Framing::Iso,
        };
        let send_message = |link: &mut dyn Link, m: &[u8]| send_framed(link, m, framing);
        let mut link = self.listener.accept()?;
        link.expect_within(tuaton_common::session::REQUEST_WAIT_SECS);
        let first =
            recv_framed(link.as_mut(), MAX_MESSAGE, framing).map_err(WalletError::Session)?;
        let (mut session, received) = DeviceSession::accept_checked(
            &self.engagement,
            &self.e_device,
            &first,
            &policy.cas,
            &policy.revoked,
            real_now,
        )
        .map_err(WalletError::Session)?;
        let decline = |link: &mut Box<dyn Link>| {
            send_message(link.as_mut(), &DeviceSession::decline()).ok();
        };
        if received.doc_type != tuaton_common::mdoc::DOC_TYPE {
            decline(&mut link);
            return Err(WalletError::Usage(format!(
                "the reader asks for a document this wallet does not hold ({})",
                tuaton_common::text::for_display(&received.doc_type)
            )));
        }
        let who = match &received.reader {
            ReaderIdentity::Authenticated { subject, .. } => format!(
                "Verified reader \"{}\"",
                tuaton_common::text::for_display(subject)
            ),
            ReaderIdentity::Anonymous | ReaderIdentity::Invalid(_) if !policy.allow_unverified => {
                decline(&mut link);
                return Err(WalletError::UnverifiedReader(match &received.reader {
                    ReaderIdentity::Invalid(why) => why.clone(),
                    _ => "its request carries no reader authentication".into(),
                }));
            }
            ReaderIdentity::Anonymous => "AN UNVERIFIED READER (no reader authentication)".into(),
            ReaderIdentity::Invalid(why) => format!(
                "AN UNVERIFIED READER ({})",
                tuaton_common::text::for_display(why)
            ),
        };
        let beyond = received.beyond_certificate();
        if let ReaderIdentity::Authenticated { subject, .. } = &received.reader {
            if !beyond.is_empty() && !policy.allow_unverified {
                decline(&mut link);
                return Err(WalletError::BeyondCertificate {
                    reader: tuaton_common::text::for_display(subject).into_owned(),
                    beyond: element_list(&beyond),
                });
            }
        }
        // With the override, what the certificate does not cover is named apart, so the
        // citizen sees exactly what goes beyond it.
        let beyond_note = match &received.reader {
            ReaderIdentity::Authenticated { .. } if !beyond.is_empty() => format!(
                "; NOT authorised by its certificate: {}",
                element_list(&beyond)
            ),
            _ => String::new(),
        };
        let pin = consent.ask(&format!(
            "{who} asks for: {}{beyond_note}",
            element_list(&received.request)
        ))?;
        let u = match w.unlock(&pin, real_now) {
            Ok(u) => u,
            Err(e) => {
                decline(&mut link);
                return Err(e);
            }
        };
        let answer = u.answer_iso(&mut session, &received.request)?;
        let writes = send_message(link.as_mut(), &answer)
            .map_err(|_| WalletError::GateGone(tuaton_common::session::CONSENT_WAIT_SECS))?;
        Ok((received.request, writes))
    }
}

/// "given_name, portrait, ..." for the consent line (namespaces left out: the names say
/// what they are).
fn element_list(r: &tuaton_common::mdoc::Request) -> String {
    let names: Vec<String> = r
        .values()
        .flatten()
        .map(|e| tuaton_common::text::for_display(e).into_owned())
        .collect();
    names.join(", ")
}
