//! A message link over a chunked transport, and an in-memory link with fault injection
//! for tests. The link trait is the seam where real transports (loopback socket, BLE
//! GATT) plug in; the code here calls it but does no I/O of its own.

use crate::error::{Error, Result};
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

/// Sends `msg` chunked to the link's MTU; returns the number of writes.
pub fn send_message(link: &mut dyn Link, msg: &[u8]) -> Result<usize> {
    let chunks = framing::chunk(msg, link.mtu());
    for c in &chunks {
        link.send(c)?;
    }
    Ok(chunks.len())
}

/// Receives one whole message of at most `limit` bytes.
pub fn recv_message(link: &mut dyn Link, limit: usize) -> Result<Vec<u8>> {
    let mut r = Reassembler::new(limit);
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
            return Err(Error::Session(format!(
                "chunk of {} bytes exceeds MTU {} - 3",
                chunk.len(),
                self.mtu
            )));
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
            .ok_or_else(|| Error::Session("the other side stopped answering (timeout)".into()))
    }

    fn mtu(&self) -> usize {
        self.mtu
    }
}
