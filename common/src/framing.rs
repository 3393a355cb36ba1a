//! Chunking messages for BLE GATT: every chunk fits one ATT write (MTU - 3 bytes) and
//! starts with ISO 18013-5's continuation flag (0x01 more follows, 0x00 last) and a
//! sequence byte, so a lost, repeated or reordered chunk is a clean error instead of a
//! corrupted message; reassembly is bounded.

use crate::error::{Result, SessionError};

/// Header bytes per chunk: flag + sequence number.
pub const HEADER: usize = 2;
/// The smallest ATT MTU (BLE 4.0 default).
pub const MIN_MTU: usize = 23;

/// How a link's messages are cut into chunks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    /// tuaton's: the flag and a sequence byte (FORMAT.md section 8); every tuaton
    /// session, and the mdoc session over the test socket.
    Tuaton,
    /// ISO 18013-5's own BLE framing (section 8.3.3.1.1.6): the flag alone, as GATT
    /// delivers writes and notifications in order; the mdoc session over BLE speaks it, so
    /// standard readers and wallets understand tuaton's.
    Iso,
}

impl Framing {
    fn header(self) -> usize {
        match self {
            Framing::Tuaton => HEADER,
            Framing::Iso => 1,
        }
    }
}

/// Splits `msg` into chunks of at most `mtu - 3` bytes (tuaton's framing).
pub fn chunk(msg: &[u8], mtu: usize) -> Vec<Vec<u8>> {
    chunk_framed(msg, mtu, Framing::Tuaton)
}

/// Chunks of at most `mtu - 3` bytes, each the flag and, in tuaton's framing, its number.
pub fn chunk_framed(msg: &[u8], mtu: usize, framing: Framing) -> Vec<Vec<u8>> {
    let header = framing.header();
    let room = mtu.max(MIN_MTU) - 3 - header;
    let parts: Vec<&[u8]> = if msg.is_empty() {
        vec![&[][..]]
    } else {
        msg.chunks(room).collect()
    };
    let n = parts.len();
    parts
        .into_iter()
        .enumerate()
        .map(|(i, p)| {
            let mut c = Vec::with_capacity(p.len() + header);
            c.push(if i + 1 < n { 0x01 } else { 0x00 });
            if framing == Framing::Tuaton {
                c.push(i as u8);
            }
            c.extend_from_slice(p);
            c
        })
        .collect()
}

/// Reassembles chunks into one message of at most `limit` bytes.
#[derive(Debug)]
pub struct Reassembler {
    buf: Vec<u8>,
    next: u8,
    limit: usize,
    framing: Framing,
}

impl Reassembler {
    /// A reassembler of tuaton's framing that refuses messages over `limit` bytes.
    pub fn new(limit: usize) -> Self {
        Reassembler::framed(limit, Framing::Tuaton)
    }

    /// A reassembler of `framing` that refuses messages over `limit` bytes.
    pub fn framed(limit: usize, framing: Framing) -> Self {
        Reassembler {
            buf: Vec::new(),
            next: 0,
            limit,
            framing,
        }
    }

    /// Takes one chunk; returns the message when the last chunk arrives.
    pub fn push(&mut self, c: &[u8]) -> Result<Option<Vec<u8>>> {
        let header = self.framing.header();
        if c.len() < header {
            return Err(SessionError::ChunkTooShort.into());
        }
        let (flag, data) = (c[0], &c[header..]);
        if flag > 1 {
            return Err(SessionError::ChunkFlag(flag).into());
        }
        // tuaton's framing numbers its chunks; 18013-5's relies on GATT's ordering.
        if self.framing == Framing::Tuaton && c[1] != self.next {
            let (got, expected) = (c[1], self.next);
            return Err(if got.wrapping_add(1) == expected {
                SessionError::ChunkDuplicated { got, expected }
            } else {
                SessionError::ChunkOutOfOrder { got, expected }
            }
            .into());
        }
        // An empty chunk that is not the last carries nothing: a peer that sends them holds
        // the other side without progress, so the first one ends the session. With every
        // chunk carrying a byte, the size limit also bounds the number of chunks.
        if flag == 1 && data.is_empty() {
            return Err(SessionError::ChunkEmpty.into());
        }
        if self.buf.len() + data.len() > self.limit {
            return Err(SessionError::MessageTooLarge(self.limit).into());
        }
        self.buf.extend_from_slice(data);
        self.next = self.next.wrapping_add(1);
        if flag == 0 {
            self.next = 0;
            return Ok(Some(std::mem::take(&mut self.buf)));
        }
        Ok(None)
    }
}

/// A stream (TCP) carries each chunk behind its 2-byte big-endian length.
pub fn stream_frame(chunk: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(chunk.len() + 2);
    v.extend_from_slice(&(chunk.len() as u16).to_be_bytes());
    v.extend_from_slice(chunk);
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;

    #[test]
    fn iso_chunks_carry_the_flag_alone_and_reassemble_within_the_limit() {
        let msg: Vec<u8> = (0..1000u32).map(|i| i as u8).collect();
        let chunks = chunk_framed(&msg, 185, Framing::Iso);
        assert!(chunks.iter().all(|c| c.len() <= 182));
        assert_eq!(chunks.last().unwrap()[0], 0);
        assert!(chunks[..chunks.len() - 1].iter().all(|c| c[0] == 1));
        let mut r = Reassembler::framed(1000, Framing::Iso);
        let mut out = None;
        for c in &chunks {
            out = r.push(c).unwrap();
        }
        assert_eq!(out.unwrap(), msg);
        // One byte over the limit, an unknown flag, an empty middle chunk: refused.
        let mut r = Reassembler::framed(999, Framing::Iso);
        let e = chunks.iter().find_map(|c| r.push(c).err()).unwrap();
        assert!(matches!(
            e,
            Error::Session(SessionError::MessageTooLarge(999))
        ));
        assert!(Reassembler::framed(10, Framing::Iso).push(&[2, 1]).is_err());
        assert!(Reassembler::framed(10, Framing::Iso).push(&[1]).is_err());
        assert!(Reassembler::framed(10, Framing::Iso).push(&[]).is_err());
    }

    #[test]
    fn attack_dribbling_empty_chunks_ends_the_message() {
        let mut r = Reassembler::new(1024);
        assert!(
            r.push(&[0x01, 0]).is_err(),
            "an empty middle chunk is refused"
        );
        // A last chunk may be empty (an empty message), and data chunks still count.
        let mut r = Reassembler::new(1024);
        assert_eq!(r.push(&[0x00, 0]).unwrap(), Some(vec![]));
        let mut r = Reassembler::new(4);
        for i in 0..4u8 {
            assert_eq!(r.push(&[0x01, i, 1]).unwrap(), None);
        }
        assert!(
            r.push(&[0x01, 4, 1]).is_err(),
            "the byte limit bounds the chunk count"
        );
    }

    #[test]
    fn chunks_fit_the_mtu_and_reassemble() {
        for mtu in [23, 185, 517] {
            for len in [0, 1, 17, 18, 19, 500, 20_000] {
                let msg: Vec<u8> = (0..len).map(|i| i as u8).collect();
                let cs = chunk(&msg, mtu);
                assert!(cs.iter().all(|c| c.len() <= mtu - 3));
                let mut r = Reassembler::new(64 * 1024);
                let mut out = None;
                for c in &cs {
                    assert!(out.is_none(), "message complete before the last chunk");
                    out = r.push(c).unwrap();
                }
                assert_eq!(out.unwrap(), msg);
            }
        }
    }

    #[test]
    fn lost_repeated_reordered_and_oversized_chunks_are_errors() {
        let msg = vec![7u8; 100];
        let cs = chunk(&msg, 23);
        let mut r = Reassembler::new(1024);
        r.push(&cs[0]).unwrap();
        assert!(matches!(
            r.push(&cs[0]),
            Err(Error::Session(SessionError::ChunkDuplicated {
                got: 0,
                expected: 1
            }))
        ));
        let mut r = Reassembler::new(1024);
        r.push(&cs[0]).unwrap();
        assert!(matches!(
            r.push(&cs[2]),
            Err(Error::Session(SessionError::ChunkOutOfOrder {
                got: 2,
                expected: 1
            }))
        ));
        let mut r = Reassembler::new(50);
        let e = cs.iter().map(|c| r.push(c)).find_map(|x| x.err()).unwrap();
        assert!(matches!(
            e,
            Error::Session(SessionError::MessageTooLarge(50))
        ));
        assert!(matches!(
            Reassembler::new(10).push(&[0x00]),
            Err(Error::Session(SessionError::ChunkTooShort))
        ));
        assert!(matches!(
            Reassembler::new(10).push(&[0x07, 0]),
            Err(Error::Session(SessionError::ChunkFlag(7)))
        ));
    }
}
