//! The gate's side of session transports: a loopback TCP socket (tests and radio-less
//! setups) and, with the `ble` feature, BlueZ GATT as central client. Thin: chunks in and
//! out, everything else is `tuaton_common::session`.

use crate::{GateError, Result};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;
use tuaton_common::framing::stream_frame;
use tuaton_common::link::Link;

/// What the gate says when an engagement asks for BLE and this build has none.
pub const NO_BLE: &str = "this engagement uses Bluetooth LE, which this gate build does not include (build with --features ble)";

/// How long the gate waits for the phone, per chunk.
pub const TIMEOUT: Duration = Duration::from_secs(20);

/// A chunk link over TCP: each chunk behind its 2-byte length.
pub struct TcpLink {
    stream: TcpStream,
}

/// Resolves an engagement's socket address and refuses anything but loopback unless
/// `allow_remote`: a scanned QR must not make the gate open connections across the network.
pub fn check_allowed(addr: &str, allow_remote: bool) -> Result<SocketAddr> {
    let bad = |m: String| GateError::Invalid(m);
    // Only literal addresses: resolving a name from a scanned QR would already be traffic.
    let a: SocketAddr = addr
        .parse()
        .map_err(|_| bad(format!("engagement address `{addr}` is not IP:PORT")))?;
    if !a.ip().is_loopback() && !allow_remote {
        return Err(bad(format!("the engagement asks for {a}, which is not a loopback address (use --allow-remote-socket to permit it)")));
    }
    Ok(a)
}

/// Connects to an engagement's socket address (checked by [`check_allowed`]).
pub fn connect(addr: &str, allow_remote: bool) -> Result<TcpLink> {
    let a = check_allowed(addr, allow_remote)?;
    let stream =
        TcpStream::connect_timeout(&a, Duration::from_secs(5)).map_err(|source| GateError::Io {
            path: a.to_string(),
            source,
        })?;
    stream.set_read_timeout(Some(TIMEOUT)).ok();
    stream.set_nodelay(true).ok();
    Ok(TcpLink { stream })
}

impl Link for TcpLink {
    fn send(&mut self, chunk: &[u8]) -> tuaton_common::Result<()> {
        self.stream
            .write_all(&stream_frame(chunk))
            .map_err(|e| tuaton_common::Error::Session(format!("send: {e}")))
    }
    fn recv(&mut self) -> tuaton_common::Result<Vec<u8>> {
        let mut len = [0u8; 2];
        let map = |e: std::io::Error| {
            tuaton_common::Error::Session(match e.kind() {
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => {
                    "the other side stopped answering (timeout)".into()
                }
                _ => format!("receive: {e}"),
            })
        };
        self.stream.read_exact(&mut len).map_err(map)?;
        let mut c = vec![0u8; usize::from(u16::from_be_bytes(len))];
        self.stream.read_exact(&mut c).map_err(map)?;
        Ok(c)
    }
    fn mtu(&self) -> usize {
        // Loopback has no ATT MTU; use BLE's largest so framing matches a good radio link.
        517
    }
}
