//! Reused request bodies: a body handed to the HTTP client goes back to its
//! pool when the client drops it, so the emit hot path neither allocates nor
//! frees a batch-sized buffer per request (a fresh ~70 KB buffer per batch
//! costs page faults and allocator trims on a loaded machine).
//!
//! Uses: nothing of pillars.

use bytes::Bytes;

/// Buffers waiting to be filled again.
#[derive(Debug, Clone)]
pub struct BodyPool {
    back: flume::Sender<Vec<u8>>,
    free: flume::Receiver<Vec<u8>>,
}

impl Default for BodyPool {
    fn default() -> Self {
        let (back, free) = flume::unbounded();
        BodyPool { back, free }
    }
}

/// A buffer on loan, as `Bytes` owns it.
struct Loan {
    buf: Vec<u8>,
    back: flume::Sender<Vec<u8>>,
}

impl AsRef<[u8]> for Loan {
    fn as_ref(&self) -> &[u8] {
        &self.buf
    }
}

impl Drop for Loan {
    fn drop(&mut self) {
        let _ = self.back.send(std::mem::take(&mut self.buf));
    }
}

impl BodyPool {
    /// A buffer to fill (empty, of any capacity), then `freeze` it.
    pub fn take(&self) -> Vec<u8> {
        self.free.try_recv().unwrap_or_default()
    }

    /// The filled buffer as a body that returns here once sent.
    pub fn freeze(&self, buf: Vec<u8>) -> Bytes {
        Bytes::from_owner(Loan {
            buf,
            back: self.back.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dropped_body_comes_back_with_its_capacity() {
        let pool = BodyPool::default();
        let mut buf = pool.take();
        buf.extend_from_slice(&[7; 1000]);
        let body = pool.freeze(buf);
        assert_eq!(&body[..3], &[7, 7, 7]);
        let copy = body.clone();
        drop(body);
        assert_eq!(pool.take().capacity(), 0, "still on loan while a clone lives");
        drop(copy);
        let again = pool.take();
        assert!(again.capacity() >= 1000);
    }
}
