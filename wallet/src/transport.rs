//! The wallet's side of session transports: it waits for one gate on a loopback socket
//! (tests, radio-less setups) or, with the `ble` feature, as a BlueZ GATT peripheral.
//! Thin: chunks in and out; the protocol is `tuaton_common::session`.

use crate::{Result, WalletError};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};
use tuaton_common::framing::stream_frame;
use tuaton_common::link::Link;

/// How long the wallet shows its engagement before giving up.
pub const WAIT_FOR_GATE: Duration = Duration::from_secs(tuaton_common::session::WAIT_FOR_GATE_SECS);

/// A listening socket for one gate.
pub struct SocketServer {
    listener: TcpListener,
}

impl SocketServer {
    /// Binds `addr` (port 0 picks a free port).
    pub fn bind(addr: &str) -> Result<Self> {
        let listener = TcpListener::bind(addr).map_err(|e| WalletError::Transport {
            what: format!("listening on {}", addr.escape_debug()),
            reason: e.kind().to_string(),
        })?;
        Ok(SocketServer { listener })
    }
    /// The address to put in the engagement.
    pub fn addr(&self) -> String {
        self.listener
            .local_addr()
            .map(|a| a.to_string())
            .unwrap_or_default()
    }
    /// Waits for one gate, up to [`WAIT_FOR_GATE`].
    pub fn accept(self) -> Result<ServerLink> {
        let start = Instant::now();
        self.listener.set_nonblocking(true).ok();
        loop {
            match self.listener.accept() {
                Ok((stream, _)) => {
                    stream.set_nonblocking(false).ok();
                    stream.set_nodelay(true).ok();
                    stream.set_write_timeout(Some(Duration::from_secs(10))).ok();
                    let deadline = Instant::now()
                        + Duration::from_secs(tuaton_common::session::REQUEST_WAIT_SECS);
                    return Ok(ServerLink { stream, deadline });
                }
                Err(e)
                    if e.kind() == std::io::ErrorKind::WouldBlock
                        && start.elapsed() < WAIT_FOR_GATE =>
                {
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    return Err(WalletError::Transport {
                        what: "waiting for a gate".into(),
                        reason: format!("no gate connected within {} s", WAIT_FOR_GATE.as_secs()),
                    })
                }
                Err(e) => {
                    return Err(WalletError::Transport {
                        what: "waiting for a gate".into(),
                        reason: e.kind().to_string(),
                    })
                }
            }
        }
    }
}

/// The accepted connection as a chunk link (each chunk behind its 2-byte length). Reads
/// share one deadline, so a gate that trickles bytes cannot hold the wallet.
pub struct ServerLink {
    stream: TcpStream,
    deadline: Instant,
}

impl ServerLink {
    fn read_full(&mut self, n: usize) -> tuaton_common::Result<Vec<u8>> {
        let mut buf = vec![0u8; n];
        let mut got = 0;
        while got < n {
            let left = self.deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(tuaton_common::Error::Session(
                    "the gate stopped answering (timeout)".into(),
                ));
            }
            self.stream.set_read_timeout(Some(left)).ok();
            match self.stream.read(&mut buf[got..]) {
                Ok(0) => {
                    return Err(tuaton_common::Error::Session(
                        "the gate closed the connection".into(),
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
                Err(e) => {
                    return Err(tuaton_common::Error::Session(format!(
                        "the gate stopped answering: {e}"
                    )))
                }
            }
        }
        Ok(buf)
    }
}

impl Link for ServerLink {
    fn send(&mut self, chunk: &[u8]) -> tuaton_common::Result<()> {
        self.stream
            .write_all(&stream_frame(chunk))
            .map_err(|e| tuaton_common::Error::Session(format!("the gate has gone ({e})")))
    }
    fn recv(&mut self) -> tuaton_common::Result<Vec<u8>> {
        let len = self.read_full(2)?;
        self.read_full(usize::from(u16::from_be_bytes([len[0], len[1]])))
    }
    fn mtu(&self) -> usize {
        517
    }
    fn expect_within(&mut self, secs: u64) {
        self.deadline = Instant::now() + Duration::from_secs(secs);
    }
}
