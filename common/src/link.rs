//! A message link over a chunked transport, and an in-memory link with fault injection
//! for tests. The link trait is the seam where real transports (loopback socket, BLE
//! GATT) plug in; the code here calls it but does no I/O of its own.

use crate::error::{Error, Result, SessionError};
use crate::framing::{self, Reassembler};
use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;

/// One direction-agnostic chunk pipe.
pub trait Link {
    /// Sends one chunk (at most `mtu() - 3` bytes).
    fn send(&mut self, chunk: &[u8]) -> Result<()>;
    /// Receives one chunk, or `Error::Session` on timeout or close.
    fn recv(&mut self) -> Result<Vec<u8>>;
    /// The negotiated ATT MTU (or the framing size a stream uses).
    fn mtu(&self) -> usize;
    /// The next answer is due within `secs` from now: transports with a clock apply it as
    /// the deadline of the reads that follow (the protocol's phases have their own waits,
    /// `tuaton_common::session::*_SECS`). Links without one ignore it.
    fn expect_within(&mut self, secs: u64) {
        let _ = secs;
    }
}

pub use crate::framing::Framing;

/// Sends `msg` chunked to the link's MTU (tuaton's framing); returns the number of writes.
pub fn send_message(link: &mut dyn Link, msg: &[u8]) -> Result<usize> {
    send_framed(link, msg, Framing::Tuaton)
}

/// Receives one whole message of at most `limit` bytes (tuaton's framing).
pub fn recv_message(link: &mut dyn Link, limit: usize) -> Result<Vec<u8>> {
    recv_framed(link, limit, Framing::Tuaton)
}

/// Sends `msg` in `framing`; returns the number of writes.
pub fn send_framed(link: &mut dyn Link, msg: &[u8], framing: Framing) -> Result<usize> {
    let chunks = framing::chunk_framed(msg, link.mtu(), framing);
    for c in &chunks {
        link.send(c)?;
    }
    Ok(chunks.len())
}

/// Receives one whole message of at most `limit` bytes in `framing`.
pub fn recv_framed(link: &mut dyn Link, limit: usize, framing: Framing) -> Result<Vec<u8>> {
    let mut r = Reassembler::framed(limit, framing);
    loop {
        if let Some(m) = r.push(&link.recv()?)? {
            return Ok(m);
        }
    }
}

/// What can go wrong on an in-memory link (tests).
#[derive(Clone, Debug, Default)]
pub struct Faults {
    /// Drop the chunk with this index (counted over everything sent in this direction).
    pub drop: Option<usize>,
    /// Deliver this chunk after the next one.
    pub swap_with_next: Option<usize>,
    /// Deliver this chunk twice.
    pub duplicate: Option<usize>,
    /// Stop delivering from this chunk on (a peer that stops answering).
    pub silent_from: Option<usize>,
    /// Flip a bit in this chunk's payload.
    pub corrupt: Option<usize>,
}

#[derive(Default)]
struct Pipe {
    queue: VecDeque<Vec<u8>>,
    sent: usize,
    held: Option<Vec<u8>>,
    faults: Faults,
}

/// One end of an in-memory link.
pub struct MemoryLink {
    out: Rc<RefCell<Pipe>>,
    inp: Rc<RefCell<Pipe>>,
    mtu: usize,
    /// Chunks this end sent.
    pub writes: usize,
    /// Bytes this end sent, headers included.
    pub bytes: usize,
}

/// Two connected ends; `a_faults` apply to what `a` sends, `b_faults` to what `b` sends.
pub fn memory_pair(mtu: usize, a_faults: Faults, b_faults: Faults) -> (MemoryLink, MemoryLink) {
    let ab = Rc::new(RefCell::new(Pipe {
        faults: a_faults,
        ..Default::default()
    }));
    let ba = Rc::new(RefCell::new(Pipe {
        faults: b_faults,
        ..Default::default()
    }));
    (
        MemoryLink {
            out: ab.clone(),
            inp: ba.clone(),
            mtu,
            writes: 0,
            bytes: 0,
        },
        MemoryLink {
            out: ba,
            inp: ab,
            mtu,
            writes: 0,
            bytes: 0,
        },
    )
}

impl Link for MemoryLink {
    fn send(&mut self, chunk: &[u8]) -> Result<()> {
        if chunk.len() > self.mtu - 3 {
            return Err(Error::Session(SessionError::ChunkTooLarge {
                len: chunk.len(),
                mtu: self.mtu,
            }));
        }
        self.writes += 1;
        self.bytes += chunk.len();
        let mut p = self.out.borrow_mut();
        let i = p.sent;
        p.sent += 1;
        let f = p.faults.clone();
        if f.silent_from.is_some_and(|s| i >= s) || f.drop == Some(i) {
            return Ok(());
        }
        let mut c = chunk.to_vec();
        if f.corrupt == Some(i) {
            let last = c.len() - 1;
            c[last] ^= 0x01;
        }
        if f.swap_with_next == Some(i) {
            p.held = Some(c);
            return Ok(());
        }
        if f.duplicate == Some(i) {
            p.queue.push_back(c.clone());
        }
        p.queue.push_back(c);
        if let Some(h) = p.held.take() {
            p.queue.push_back(h);
        }
        Ok(())
    }

    fn recv(&mut self) -> Result<Vec<u8>> {
        let mut p = self.inp.borrow_mut();
        // In memory nothing arrives later: an empty queue is the peer going quiet.
        p.queue
            .pop_front()
            .ok_or(Error::Session(SessionError::Timeout))
    }

    fn mtu(&self) -> usize {
        self.mtu
    }
}

/// How a [`StreamLink`] bounds each read: called with the time left before the current
/// deadline (at most 200 ms, so cancellation and deadlines are checked between polls).
pub type SetReadWait<S> = fn(&S, std::time::Duration) -> std::io::Result<()>;

/// The one chunk link over a byte stream (a loopback or LAN socket): each chunk behind its
/// 2-byte length ([`framing::stream_frame`]). Every read honours the current deadline and
/// an optional cancel flag, polling in steps of at most 200 ms, so a peer that trickles
/// bytes cannot hold the other side past its deadline.
///
/// The stream, the way to bound a read, and a monotonic clock are given by the caller:
/// this module does no I/O and never reads the clock itself.
pub struct StreamLink<S> {
    stream: S,
    set_wait: SetReadWait<S>,
    clock: Box<dyn Fn() -> std::time::Duration + Send>,
    session_end: Option<std::time::Duration>,
    deadline: std::time::Duration,
    cancel: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
}

/// The framing size a stream link reports: BLE's largest ATT MTU, so framing over a socket
/// matches a good radio link.
pub const STREAM_MTU: usize = 517;

/// How long one poll of a stream read waits at most.
const POLL: std::time::Duration = std::time::Duration::from_millis(200);

impl<S: std::io::Read + std::io::Write> StreamLink<S> {
    /// A link over `stream`; `clock` is monotonic time since any fixed point. The first
    /// answer is due within `first_wait`, and nothing after `session_limit` (if any).
    pub fn new(
        stream: S,
        set_wait: SetReadWait<S>,
        clock: Box<dyn Fn() -> std::time::Duration + Send>,
        first_wait: std::time::Duration,
        session_limit: Option<std::time::Duration>,
    ) -> Self {
        let now = clock();
        let session_end = session_limit.map(|l| now.saturating_add(l));
        let mut l = StreamLink {
            stream,
            set_wait,
            clock,
            session_end,
            deadline: now,
            cancel: None,
        };
        l.set_deadline(first_wait);
        l
    }

    /// Reads stop at once, with [`SessionError::Cancelled`], when `flag` is set.
    pub fn cancel_with(mut self, flag: std::sync::Arc<std::sync::atomic::AtomicBool>) -> Self {
        self.cancel = Some(flag);
        self
    }

    fn set_deadline(&mut self, wait: std::time::Duration) {
        let d = (self.clock)().saturating_add(wait);
        self.deadline = self.session_end.map_or(d, |end| end.min(d));
    }

    fn read_full(&mut self, n: usize) -> Result<Vec<u8>> {
        use std::io::ErrorKind;
        let mut buf = vec![0u8; n];
        let mut got = 0;
        while got < n {
            if self
                .cancel
                .as_ref()
                .is_some_and(|c| c.load(std::sync::atomic::Ordering::Relaxed))
            {
                return Err(SessionError::Cancelled.into());
            }
            let left = self.deadline.saturating_sub((self.clock)());
            if left.is_zero() {
                return Err(SessionError::Timeout.into());
            }
            let _ = (self.set_wait)(&self.stream, left.min(POLL));
            match self.stream.read(&mut buf[got..]) {
                Ok(0) => return Err(SessionError::Closed.into()),
                Ok(k) => got += k,
                Err(e)
                    if matches!(
                        e.kind(),
                        ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                    ) => {}
                Err(e) => return Err(SessionError::Link(e.kind().to_string()).into()),
            }
        }
        Ok(buf)
    }
}

impl<S: std::io::Read + std::io::Write> Link for StreamLink<S> {
    fn send(&mut self, chunk: &[u8]) -> Result<()> {
        self.stream
            .write_all(&framing::stream_frame(chunk))
            .map_err(|e| SessionError::Link(e.kind().to_string()).into())
    }
    fn recv(&mut self) -> Result<Vec<u8>> {
        let len = self.read_full(2)?;
        self.read_full(usize::from(u16::from_be_bytes([len[0], len[1]])))
    }
    fn mtu(&self) -> usize {
        STREAM_MTU
    }
    fn expect_within(&mut self, secs: u64) {
        self.set_deadline(std::time::Duration::from_secs(secs));
    }
}

#[cfg(test)]
mod stream_tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    /// A stream that yields its bytes one per read, each read taking `step_ms` on a fake
    /// clock it shares with the link.
    struct Trickle {
        data: Vec<u8>,
        at: usize,
        sent: Vec<u8>,
        ms: Arc<AtomicU64>,
        step_ms: u64,
    }
    impl std::io::Read for Trickle {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            self.ms.fetch_add(self.step_ms, Ordering::Relaxed);
            match self.data.get(self.at) {
                Some(b) => {
                    buf[0] = *b;
                    self.at += 1;
                    Ok(1)
                }
                None => Err(std::io::ErrorKind::WouldBlock.into()),
            }
        }
    }
    impl std::io::Write for Trickle {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.sent.extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn link(
        data: Vec<u8>,
        step_ms: u64,
        session: Option<u64>,
    ) -> (StreamLink<Trickle>, Arc<AtomicU64>) {
        let ms = Arc::new(AtomicU64::new(0));
        let clock = ms.clone();
        let s = Trickle {
            data,
            at: 0,
            sent: vec![],
            ms: ms.clone(),
            step_ms,
        };
        let l = StreamLink::new(
            s,
            |_, _| Ok(()),
            Box::new(move || Duration::from_millis(clock.load(Ordering::Relaxed))),
            Duration::from_secs(1),
            session.map(Duration::from_secs),
        );
        (l, ms)
    }

    #[test]
    fn a_whole_chunk_arrives_and_a_sent_one_is_framed() {
        let (mut l, _) = link(vec![0, 3, b'a', b'b', b'c'], 1, None);
        assert_eq!(l.recv().unwrap(), b"abc");
        l.send(b"xy").unwrap();
        assert_eq!(l.stream.sent, [0, 2, b'x', b'y']);
    }

    #[test]
    fn a_trickling_peer_is_cut_off_at_the_deadline() {
        // 300 ms per byte against a 1 s deadline: the 5-byte frame never completes.
        let (mut l, _) = link(vec![0, 3, b'a', b'b', b'c'], 300, None);
        assert!(matches!(
            l.recv(),
            Err(Error::Session(SessionError::Timeout))
        ));
    }

    #[test]
    fn the_session_limit_caps_every_later_wait() {
        let (mut l, ms) = link(vec![], 100, Some(2));
        l.expect_within(3600);
        assert!(matches!(
            l.recv(),
            Err(Error::Session(SessionError::Timeout))
        ));
        assert!(ms.load(Ordering::Relaxed) <= 2_100);
    }

    #[test]
    fn a_set_cancel_flag_stops_reads_at_once() {
        let flag = Arc::new(std::sync::atomic::AtomicBool::new(true));
        let (l, _) = link(vec![0, 1, 7], 1, None);
        let mut l = l.cancel_with(flag);
        assert!(matches!(
            l.recv(),
            Err(Error::Session(SessionError::Cancelled))
        ));
    }
}
