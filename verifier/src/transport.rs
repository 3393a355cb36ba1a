//! The gate's side of session transports: a loopback TCP socket (tests and radio-less
//! setups) and, with the `ble` feature, BlueZ GATT as central client. Thin: chunks in and
//! out, everything else is `tuaton_common::session`.

use crate::{GateError, Result};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tuaton_common::framing::stream_frame;
use tuaton_common::link::Link;

/// What the gate says when an engagement asks for BLE and this build has none.
pub const NO_BLE: &str = "this engagement uses Bluetooth LE, which this gate build does not include (build with --features ble)";

/// How long the gate waits for the phone on a BLE read (the session deadlines of
/// `tuaton_common::session` bound the whole exchange on sockets).
pub const TIMEOUT: Duration = Duration::from_secs(tuaton_common::session::CONSENT_WAIT_SECS);

/// A chunk link over TCP: each chunk behind its 2-byte length. Every read honours the
/// current deadline and the cancel flag (the TUI's Esc), polling every 200 ms, so no
/// peer can hold the gate past its deadline by trickling bytes.
pub struct TcpLink {
    stream: TcpStream,
    session_end: Instant,
    deadline: Instant,
    cancel: Arc<AtomicBool>,
}

impl TcpLink {
    fn read_full(&mut self, n: usize) -> tuaton_common::Result<Vec<u8>> {
        let mut buf = vec![0u8; n];
        let mut got = 0;
        while got < n {
            if self.cancel.load(Ordering::Relaxed) {
                return Err(tuaton_common::Error::Session(
                    "cancelled at the gate".into(),
                ));
            }
            let left = self.deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(tuaton_common::Error::Session(
                    "the other side stopped answering (timeout)".into(),
                ));
            }
            self.stream
                .set_read_timeout(Some(left.min(Duration::from_millis(200))))
                .ok();
            match self.stream.read(&mut buf[got..]) {
                Ok(0) => {
                    return Err(tuaton_common::Error::Session(
                        "the phone closed the connection".into(),
                    ))
                }
                Ok(k) => got += k,
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock
                            | std::io::ErrorKind::TimedOut
                            | std::io::ErrorKind::Interrupted
                    ) => {}
                Err(e) => return Err(tuaton_common::Error::Session(format!("receive: {e}"))),
            }
        }
        Ok(buf)
    }
}

/// Resolves an engagement's socket address and refuses anything but loopback unless
/// `allow_remote`: a scanned QR must not make the gate open connections across the network.
pub fn check_allowed(addr: &str, allow_remote: bool) -> Result<SocketAddr> {
    let bad = |reason: String| GateError::Transport {
        what: "the engagement's socket address".into(),
        reason,
    };
    // Only literal addresses: resolving a name from a scanned QR would already be traffic.
    let a: SocketAddr = addr
        .parse()
        .map_err(|_| bad(format!("`{}` is not IP:PORT", addr.escape_debug())))?;
    if !a.ip().is_loopback() && !allow_remote {
        return Err(bad(format!("the engagement asks for {a}, which is not a loopback address (use --allow-remote-socket to permit it)")));
    }
    Ok(a)
}

/// Connects to an engagement's socket address (checked by [`check_allowed`]); reads
/// stop at `deadline` or when `cancel` is set.
pub fn connect(
    addr: &str,
    allow_remote: bool,
    deadline: Instant,
    cancel: Arc<AtomicBool>,
) -> Result<TcpLink> {
    let a = check_allowed(addr, allow_remote)?;
    let stream = TcpStream::connect_timeout(&a, Duration::from_secs(5)).map_err(|e| {
        GateError::Transport {
            what: format!("connecting to the phone at {a}"),
            reason: e.kind().to_string(),
        }
    })?;
    stream.set_nodelay(true).ok();
    stream.set_write_timeout(Some(Duration::from_secs(10))).ok();
    Ok(TcpLink {
        stream,
        session_end: deadline,
        deadline,
        cancel,
    })
}

impl Link for TcpLink {
    fn send(&mut self, chunk: &[u8]) -> tuaton_common::Result<()> {
        self.stream
            .write_all(&stream_frame(chunk))
            .map_err(|e| tuaton_common::Error::Session(format!("send: {e}")))
    }
    fn recv(&mut self) -> tuaton_common::Result<Vec<u8>> {
        let len = self.read_full(2)?;
        self.read_full(usize::from(u16::from_be_bytes([len[0], len[1]])))
    }
    fn mtu(&self) -> usize {
        // Loopback has no ATT MTU; use BLE's largest so framing matches a good radio link.
        517
    }
    fn expect_within(&mut self, secs: u64) {
        // Never later than the whole session's deadline.
        self.deadline = self
            .session_end
            .min(Instant::now() + Duration::from_secs(secs));
    }
}
