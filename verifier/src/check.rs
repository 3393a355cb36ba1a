//! Checks: a QR presentation or an engagement session, through the pure engine, with the
//! replay cache, the trusted time and the audit log around it.

use crate::store::{SledReplay, REPLAY};
use crate::{transport, Gate, Loaded, Result};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use tuaton_common::verify::{self, Context, Verdict};

/// Why a session with a phone gave no answer to verify. The verdict then says
/// `session_failed`; this is what the screen and the audit log say about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SessionFailure {
    /// The citizen declined the request on the phone.
    Declined,
    /// Esc at the gate.
    Cancelled,
    /// The phone stopped answering within a phase's deadline.
    TimedOut,
    /// The connection could not be made, or broke (the system's words).
    Link(String),
    /// A message did not prove, decrypt or parse: tampered, from another session, or
    /// not a tuaton wallet.
    Protocol(String),
}

impl SessionFailure {
    fn of(e: &tuaton_common::Error) -> SessionFailure {
        use tuaton_common::error::SessionError as S;
        match e {
            tuaton_common::Error::Session(S::Cancelled) => SessionFailure::Cancelled,
            tuaton_common::Error::Session(S::Timeout) => SessionFailure::TimedOut,
            tuaton_common::Error::Session(S::Closed) => SessionFailure::Link(e.to_string()),
            tuaton_common::Error::Session(S::Link(why)) => SessionFailure::Link(why.clone()),
            e => SessionFailure::Protocol(e.to_string()),
        }
    }

    /// A stable code for the audit log.
    pub fn code(&self) -> &'static str {
        match self {
            SessionFailure::Declined => "declined",
            SessionFailure::Cancelled => "cancelled",
            SessionFailure::TimedOut => "timed_out",
            SessionFailure::Link(_) => "link",
            SessionFailure::Protocol(_) => "protocol",
        }
    }

    /// What staff read, in English and Thai.
    pub fn describe(&self) -> (&'static str, &'static str) {
        match self {
            SessionFailure::Declined => {
                ("The citizen declined on the phone", "ผู้ถือบัตรปฏิเสธบนโทรศัพท์")
            }
            SessionFailure::Cancelled => ("Cancelled at the gate", "ยกเลิกที่จุดตรวจ"),
            SessionFailure::TimedOut => ("The phone stopped answering", "โทรศัพท์ไม่ตอบสนอง"),
            SessionFailure::Link(_) => ("No connection to the phone", "เชื่อมต่อโทรศัพท์ไม่ได้"),
            SessionFailure::Protocol(_) => {
                ("The phone's answer is not genuine", "คำตอบจากโทรศัพท์ไม่ถูกต้อง")
            }
        }
    }

    /// The detail, when there is one (the system's words, or what failed to check).
    pub fn detail(&self) -> Option<&str> {
        match self {
            SessionFailure::Link(d) | SessionFailure::Protocol(d) => Some(d),
            _ => None,
        }
    }
}

impl Gate {
    /// Verifies one presentation (QR text) as of `now`, records it in the replay cache and
    /// the audit log, and returns the verdict. `clock_is_real` is false when `now` comes
    /// from `--at` (an audit replay), so it never moves the trusted time.
    pub fn check(
        &self,
        loaded: &Loaded,
        text: &str,
        now: i64,
        clock_is_real: bool,
    ) -> Result<Verdict> {
        let v = self.with_context(loaded, now, None, |ctx| verify::verify_qr(text, ctx))?;
        self.record(&v, now, clock_is_real, None)?;
        Ok(v)
    }

    /// Runs `f` with a verify context over this gate's persistent state.
    pub(crate) fn with_context<T>(
        &self,
        loaded: &Loaded,
        now: i64,
        nonce: Option<&[u8]>,
        f: impl FnOnce(&mut Context<'_>) -> T,
    ) -> Result<T> {
        let replay_tree = self.db.open_tree(REPLAY)?;
        let mut replay = SledReplay(&replay_tree);
        let mut ctx = Context::new(now, &loaded.trust, &loaded.status, &mut replay)
            .with_policy(self.policy)
            .with_nonce(nonce)
            .with_highest_trusted_time(self.highest_trusted_time()?);
        Ok(f(&mut ctx))
    }

    /// Audits a verdict, moves the trusted time forward (real clocks only) and flushes.
    pub(crate) fn record(
        &self,
        v: &Verdict,
        now: i64,
        clock_is_real: bool,
        session: Option<&SessionFailure>,
    ) -> Result<()> {
        self.audit(v, session)?;
        if clock_is_real && !v.warnings.contains(&verify::Warning::ClockRollback) {
            self.raise_trusted_time(now)?;
        }
        self.prune_replay(now)?;
        tuaton_store::flush(&self.db)?;
        Ok(())
    }

    /// Runs an engagement session (the scanned `TTB1:` text) and verifies the wallet's
    /// answer as of `now`: what the policy requires and the portrait, bound to this
    /// session. The wallet must first prove it holds the engagement key; only then does
    /// the gate send anything. The whole session ends by
    /// [`session::GATE_SESSION_SECS`](tuaton_common::session::GATE_SESSION_SECS), or
    /// at once when `cancel` is set.
    pub fn check_engagement(
        &self,
        loaded: &Loaded,
        text: &str,
        now: i64,
        clock_is_real: bool,
        allow_remote: bool,
        cancel: &Arc<AtomicBool>,
    ) -> Result<(Verdict, Option<SessionFailure>)> {
        use tuaton_common::session::{
            self as s, Engagement, GateAwaitingResponse, Request, Response, MAX_MESSAGE,
        };
        if text
            .trim_start()
            .starts_with(tuaton_common::mdoc_session::SCHEME)
        {
            return self.check_mdoc(loaded, text, now, clock_is_real, allow_remote, cancel);
        }
        let engagement = match Engagement::parse(text) {
            Ok(e) => e,
            Err(e) => {
                let reason = match e {
                    tuaton_common::Error::UnsupportedVersion => verify::Reason::UnsupportedVersion,
                    _ => verify::Reason::Malformed,
                };
                let v =
                    self.with_context(loaded, now, None, |ctx| verify::rejected(ctx, reason))?;
                self.record(&v, now, clock_is_real, None)?;
                return Ok((v, None));
            }
        };
        // What the policy needs, and the portrait for staff to compare with the face.
        let mut requested: Vec<tuaton_common::gate::Group> = self.policy.require.groups().to_vec();
        requested.push(tuaton_common::gate::Group::Portrait);
        let session_end =
            std::time::Instant::now() + std::time::Duration::from_secs(s::GATE_SESSION_SECS);
        let link = match transport::open(&engagement.transport, allow_remote, session_end, cancel) {
            Ok(l) => l,
            Err(e) => return self.refuse_link(loaded, now, clock_is_real, e),
        };
        // A phone that is gone is a failed presentation, not a gate error.
        let answer = link
            .map_err(|why| {
                tuaton_common::Error::Session(tuaton_common::error::SessionError::Link(why))
            })
            .and_then(|mut link| {
                // Nothing is written until the listener proves it made this engagement.
                link.expect_within(s::HELLO_WAIT_SECS);
                let hello = tuaton_common::link::recv_message(link.as_mut(), s::HELLO_LEN)?;
                engagement.verify_hello(&hello)?;
                let mut eph = [0u8; 32];
                let mut nonce = [0u8; 16];
                rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut eph);
                rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut nonce);
                let request = Request {
                    groups: requested.clone(),
                    nonce,
                };
                let (session, first) = GateAwaitingResponse::start(&engagement, eph, request)?;
                let proof_nonce = session.proof_nonce();
                tuaton_common::link::send_message(link.as_mut(), &first)?;
                link.expect_within(s::CONSENT_WAIT_SECS);
                let m = tuaton_common::link::recv_message(link.as_mut(), MAX_MESSAGE)?;
                Ok((session.on_response(&m)?, proof_nonce))
            });
        let (v, failure) = match answer {
            Ok((Response::Presentation(p), proof_nonce)) => (
                self.with_context(loaded, now, Some(&proof_nonce), |ctx| {
                    verify::verify_session_answer(&p, &requested, ctx)
                })?,
                None,
            ),
            Ok((Response::Declined, _)) => (
                self.with_context(loaded, now, None, |ctx| verify::session_failed(ctx))?,
                Some(SessionFailure::Declined),
            ),
            Err(e) => (
                self.with_context(loaded, now, None, |ctx| verify::session_failed(ctx))?,
                Some(SessionFailure::of(&e)),
            ),
        };
        self.record(&v, now, clock_is_real, failure.as_ref())?;
        Ok((v, failure))
    }

    /// Runs an ISO 18013-5 session with the wallet whose `mdoc:` engagement was scanned
    /// and judges its answer as of `now` (FORMAT.md section 11.8): the request names
    /// what the gate's requirement needs, the portrait and the card's dates, signed with
    /// this gate's reader key and certificate (ReaderAuth); the answer must chain to an
    /// IACA of the synced trust list, match its digests, be valid now and be signed by
    /// the card's device key over this session. A gate without a valid reader
    /// certificate starts no session and says so (an error, not a verdict).
    pub fn check_mdoc(
        &self,
        loaded: &Loaded,
        text: &str,
        now: i64,
        clock_is_real: bool,
        allow_remote: bool,
        cancel: &Arc<AtomicBool>,
    ) -> Result<(Verdict, Option<SessionFailure>)> {
        use tuaton_common::error::MdocError;
        use tuaton_common::mdoc_session::{Engagement, ReaderSession, Transport, MAX_MESSAGE};
        let Ok(engagement) = Engagement::parse(text) else {
            let v = self.with_context(loaded, now, None, |ctx| {
                verify::rejected(ctx, verify::Reason::Malformed)
            })?;
            self.record(&v, now, clock_is_real, None)?;
            return Ok((v, None));
        };
        let signer = self.reader_signer(loaded, now)?;
        let requested = tuaton_common::mdoc_gate::request_for(self.policy.require);
        let session_end = std::time::Instant::now()
            + std::time::Duration::from_secs(tuaton_common::session::GATE_SESSION_SECS);
        use tuaton_common::link::{recv_framed, send_framed, Framing};
        // Over BLE, 18013-5's own framing (section 8.3.3.1.1.6); over the test socket,
        // tuaton's (FORMAT.md section 11.7).
        let (link, framing) = match &engagement.transport {
            Some(t) => (
                match transport::open(t, allow_remote, session_end, cancel) {
                    Ok(l) => l,
                    Err(e) => return self.refuse_link(loaded, now, clock_is_real, e),
                },
                match t {
                    Transport::Ble { .. } => Framing::Iso,
                    Transport::Socket { .. } => Framing::Tuaton,
                },
            ),
            None => (
                Err("the engagement names no way to reach the phone that this gate speaks".into()),
                Framing::Tuaton,
            ),
        };
        let iacas = loaded.trust.iaca_list();
        let answer = link
            .map_err(|why| {
                tuaton_common::Error::Session(tuaton_common::error::SessionError::Link(why))
            })
            .and_then(|mut link| {
                let e_reader = p256::SecretKey::random(&mut rand::rngs::OsRng);
                let (mut session, first) = ReaderSession::start(
                    &engagement,
                    &e_reader,
                    tuaton_common::mdoc::DOC_TYPE,
                    &requested,
                    Some(&signer),
                )?;
                send_framed(link.as_mut(), &first, framing)?;
                link.expect_within(tuaton_common::session::CONSENT_WAIT_SECS);
                let m = recv_framed(link.as_mut(), MAX_MESSAGE, framing)?;
                let checked = session.finish(&m, &iacas, now);
                // Section 9.1.1.4: the reader ends the session (status 20); the wallet
                // may already be gone, which changes nothing.
                send_framed(link.as_mut(), &ReaderSession::end(), framing).ok();
                Ok(checked)
            });
        let failed = |f: SessionFailure| -> Result<(Verdict, Option<SessionFailure>)> {
            Ok((
                self.with_context(loaded, now, None, |ctx| verify::session_failed(ctx))?,
                Some(f),
            ))
        };
        let (v, failure) = match answer {
            Err(e) => failed(SessionFailure::of(&e))?,
            Ok(Err(tuaton_common::Error::Mdoc(MdocError::Declined(_)))) => {
                failed(SessionFailure::Declined)?
            }
            Ok(Err(e @ tuaton_common::Error::Mdoc(MdocError::Session(_)))) => {
                failed(SessionFailure::Protocol(e.to_string()))?
            }
            Ok(checked) => (
                self.with_context(loaded, now, None, |ctx| {
                    tuaton_common::mdoc_gate::verify(&checked, &requested, ctx)
                })?,
                None,
            ),
        };
        self.record(&v, now, clock_is_real, failure.as_ref())?;
        Ok((v, failure))
    }

    /// An engagement this gate will not follow (a remote address without
    /// `--allow-remote-socket`, Bluetooth LE in a build without it): audited as a failed
    /// session with its cause, then returned as the error the operator must act on.
    fn refuse_link(
        &self,
        loaded: &Loaded,
        now: i64,
        clock_is_real: bool,
        e: crate::GateError,
    ) -> Result<(Verdict, Option<SessionFailure>)> {
        let v = self.with_context(loaded, now, None, |ctx| verify::session_failed(ctx))?;
        self.record(
            &v,
            now,
            clock_is_real,
            Some(&SessionFailure::Link(e.to_string())),
        )?;
        Err(e)
    }

    /// Pairs the boarding pass `pass` with the ID verdict `v` as of `now` (this gate's
    /// airport applies) and records the pairing in the audit log: its result, flight and
    /// date, and the name as on the pass only when personal data is on.
    pub fn pair(&self, v: &mut Verdict, pass: &str, now: i64) -> Result<()> {
        v.pair(pass, now, self.airport.as_deref());
        self.audit_pairing(v)
    }
}
