//! The wallet's side of session transports: it waits for one gate on a loopback socket
//! (tests, radio-less setups) or, with the `ble` feature, as a BlueZ GATT peripheral.
//! Thin: chunks in and out; the protocol is `tuaton_common::session`.

use crate::{Result, WalletError};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};
use tuaton_common::link::StreamLink;

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
                    // Each phase sets its own wait (`expect_within`); the first is the
                    // gate's request.
                    return Ok(tuaton_cli::socket::socket_link(
                        stream,
                        Duration::from_secs(tuaton_common::session::REQUEST_WAIT_SECS),
                        None,
                    ));
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

/// The accepted connection: the one stream link of `tuaton_common`, so a gate that
/// trickles bytes cannot hold the wallet.
pub type ServerLink = StreamLink<TcpStream>;
