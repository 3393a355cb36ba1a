//! The gate's side of session transports: a loopback TCP socket (tests and radio-less
//! setups) and, with the `ble` feature, BlueZ GATT as central client. Thin: chunks in and
//! out, everything else is `tuaton_common::session`.

use crate::{GateError, Result};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tuaton_common::link::StreamLink;

/// What the gate says when an engagement asks for BLE and this build has none.
pub const NO_BLE: &str = "this engagement uses Bluetooth LE, which this gate build does not include (build with --features ble)";

/// How long the gate waits for the phone on a BLE read (the session deadlines of
/// `tuaton_common::session` bound the whole exchange on sockets).
pub const TIMEOUT: Duration = Duration::from_secs(tuaton_common::session::CONSENT_WAIT_SECS);

/// The gate's socket link: the one stream link of `tuaton_common`, bounded by the whole
/// session's deadline and the TUI's cancel flag (Esc).
pub type TcpLink = StreamLink<TcpStream>;

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
    let stream = TcpStream::connect_timeout(
        &a,
        Duration::from_secs(tuaton_common::session::CONNECT_WAIT_SECS),
    )
    .map_err(|e| GateError::Transport {
        what: format!("connecting to the phone at {a}"),
        reason: e.kind().to_string(),
    })?;
    let limit = deadline.saturating_duration_since(Instant::now());
    Ok(tuaton_cli::socket::socket_link(stream, limit, Some(limit)).cancel_with(cancel))
}

/// Opens the link an engagement names, for a session that ends at `session_end` (socket
/// reads) or when `cancel` is set. `Err`: a link this gate will not follow (a remote
/// address without `allow_remote`, Bluetooth LE in a build without it), for the operator;
/// `Ok(Err(why))`: the phone could not be reached, a failed session.
pub fn open(
    t: &tuaton_common::session::Transport,
    allow_remote: bool,
    session_end: Instant,
    cancel: &Arc<AtomicBool>,
) -> Result<std::result::Result<Box<dyn tuaton_common::link::Link>, String>> {
    use tuaton_common::link::Link;
    use tuaton_common::session::Transport;
    match t {
        Transport::Socket { addr } => {
            check_allowed(addr, allow_remote)?;
            Ok(connect(addr, allow_remote, session_end, cancel.clone())
                .map(|l| Box::new(l) as Box<dyn Link>)
                .map_err(|e| e.to_string()))
        }
        #[cfg(feature = "ble")]
        Transport::Ble { service } => Ok(crate::ble::connect(*service, TIMEOUT)
            .map(|l| Box::new(l) as Box<dyn Link>)
            .map_err(|e| e.to_string())),
        #[cfg(not(feature = "ble"))]
        Transport::Ble { .. } => Err(GateError::Transport {
            what: "Bluetooth LE".into(),
            reason: NO_BLE.into(),
        }),
    }
}
