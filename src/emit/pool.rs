//! Reused request bodies: each sender keeps one buffer, fills it, and hands
//! it to the HTTP client as `Bytes` that share it; once the client has let
//! go of the body (it has, by the time the answer is read), the next batch
//! is filled into the same memory. The emit hot path neither allocates nor
//! frees a batch-sized buffer per request (a fresh ~70 KB buffer per batch
//! costs page faults and allocator trims on a loaded machine), and no lock
//! is taken: the buffer belongs to one sender.
//!
//! Uses: nothing of pillars.

use std::sync::Arc;

use bytes::Bytes;

/// One sender's request body.
#[derive(Debug, Default)]
pub struct BodyBuffer {
    buf: Arc<Vec<u8>>,
}

/// The buffer as `Bytes` owns it while the client holds the body.
struct Shared(Arc<Vec<u8>>);

impl AsRef<[u8]> for Shared {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl BodyBuffer {
    /// The body `fill` writes (into an empty buffer), sharing this buffer.
    /// Should the client still hold the last body, a fresh buffer of the
    /// same capacity is filled instead.
    pub fn fill(&mut self, fill: impl FnOnce(&mut Vec<u8>)) -> Bytes {
        self.refill(|buf, _| {
            buf.clear();
            fill(buf);
        })
    }

    /// As `fill`, but the buffer is not cleared: `fill` is told whether it
    /// still holds the last body this buffer made (`true`), so a template
    /// need only write the fields that change, or is empty.
    pub fn refill(&mut self, fill: impl FnOnce(&mut Vec<u8>, bool)) -> Bytes {
        let mut holds_last = true;
        if Arc::get_mut(&mut self.buf).is_none() {
            self.buf = Arc::new(Vec::with_capacity(self.buf.capacity()));
            holds_last = false;
        }
        if let Some(buf) = Arc::get_mut(&mut self.buf) {
            let holds_last = holds_last && !buf.is_empty();
            fill(buf, holds_last);
        }
        Bytes::from_owner(Shared(self.buf.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dropped_body_leaves_its_memory_for_the_next() {
        let mut buffer = BodyBuffer::default();
        let body = buffer.fill(|b| b.extend_from_slice(&[7; 1000]));
        let at = body.as_ptr();
        assert_eq!(&body[..3], &[7, 7, 7]);
        let copy = body.clone();
        drop(body);
        // Still held: the next body goes elsewhere, the held one unchanged.
        let other = buffer.fill(|b| b.extend_from_slice(&[8; 10]));
        assert_ne!(other.as_ptr(), at);
        assert_eq!((copy.len(), copy[0]), (1000, 7));
        drop((copy, other));
        let again = buffer.fill(|b| b.push(9));
        assert_eq!(&again[..], &[9]);
        assert!(buffer.buf.capacity() >= 1000, "the capacity is kept");
    }

    #[test]
    fn a_refill_sees_the_last_body_only_when_it_is_still_there() {
        let mut buffer = BodyBuffer::default();
        let first = buffer.refill(|b, holds_last| {
            assert!(!holds_last, "nothing yet");
            b.extend_from_slice(b"abc");
        });
        drop(first);
        let second = buffer.refill(|b, holds_last| {
            assert!(holds_last);
            assert_eq!(b.as_slice(), b"abc");
            b[0] = b'x';
        });
        assert_eq!(&second[..], b"xbc");
        // Still held by the client: a fresh, empty buffer.
        let third = buffer.refill(|b, holds_last| {
            assert!(!holds_last && b.is_empty());
            b.push(1);
        });
        assert_eq!((&second[..], &third[..]), (&b"xbc"[..], &[1u8][..]));
    }
}
