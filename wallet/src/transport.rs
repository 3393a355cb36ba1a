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
pub const WAIT_FOR_GATE: Duration = Duration::from_secs(120);

/// A listening socket for one gate.
pub struct SocketServer {
    listener: TcpListener,
}

impl SocketServer {
    /// Binds `addr` (port 0 picks a free port).
    pub fn bind(addr: &str) -> Result<Self> {
        let listener = TcpListener::bind(addr).map_err(|source| WalletError::Io {
            path: addr.into(),
            source,
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
                    stream.set_read_timeout(Some(Duration::from_secs(20))).ok();
                    stream.set_nodelay(true).ok();
                    return Ok(ServerLink { stream });
                }
                Err(e)
                    if e.kind() == std::io::ErrorKind::WouldBlock
                        && start.elapsed() < WAIT_FOR_GATE =>
                {
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(e) => {
                    return Err(WalletError::Io {
                        path: "waiting for a gate".into(),
                        source: e,
                    })
                }
            }
        }
    }
}

/// The accepted connection as a chunk link (each chunk behind its 2-byte length).
pub struct ServerLink {
    stream: TcpStream,
}

impl Link for ServerLink {
    fn send(&mut self, chunk: &[u8]) -> tuaton_common::Result<()> {
        self.stream
            .write_all(&stream_frame(chunk))
            .map_err(|e| tuaton_common::Error::Session(format!("send: {e}")))
    }
    fn recv(&mut self) -> tuaton_common::Result<Vec<u8>> {
        let mut len = [0u8; 2];
        let map = |e: std::io::Error| {
            tuaton_common::Error::Session(format!("the gate stopped answering: {e}"))
        };
        self.stream.read_exact(&mut len).map_err(map)?;
        let mut c = vec![0u8; usize::from(u16::from_be_bytes(len))];
        self.stream.read_exact(&mut c).map_err(map)?;
        Ok(c)
    }
    fn mtu(&self) -> usize {
        517
    }
}
