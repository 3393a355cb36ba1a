//! The session link over a TCP socket, as both sides open it (the wallet accepts, the
//! gate connects): the one stream link of `tuaton_common`, with the socket's own read
//! and write timeouts doing the waiting, so a peer that trickles bytes cannot hold the
//! other side.

use std::net::TcpStream;
use std::time::{Duration, Instant};
use tuaton_common::link::StreamLink;

/// A session link over a connected socket: `first_wait` for the first message (each
/// phase then sets its own with `expect_within`), the whole session within
/// `session_limit` when given.
pub fn socket_link(
    stream: TcpStream,
    first_wait: Duration,
    session_limit: Option<Duration>,
) -> StreamLink<TcpStream> {
    stream.set_nodelay(true).ok();
    stream
        .set_write_timeout(Some(Duration::from_secs(
            tuaton_common::session::WRITE_WAIT_SECS,
        )))
        .ok();
    let start = Instant::now();
    StreamLink::new(
        stream,
        |s, wait| s.set_read_timeout(Some(wait.max(Duration::from_millis(1)))),
        Box::new(move || start.elapsed()),
        first_wait,
        session_limit,
    )
}
