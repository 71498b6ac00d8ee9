//! The protobuf wire pieces item templates are assembled from: minimal
//! varints, the nested length-delimited messages around a repeated field,
//! and one item encoded once with the offsets of the fields a slot changes.
//!
//! Uses: nothing of pillars.

/// Envelopes nest at most this deep (metrics: request, resource, scope,
/// metric, gauge).
const MAX_LEVELS: usize = 6;

/// Bytes `v` takes as a minimal varint.
pub(super) const fn varint_len(v: u64) -> usize {
    (64 - (v | 1).leading_zeros() as usize).div_ceil(7)
}

/// Decimal digits `v` takes.
pub(super) const fn decimal_len(v: u64) -> usize {
    match v.checked_ilog10() {
        Some(d) => d as usize + 1,
        None => 1,
    }
}

pub(super) fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Writes `v` over `at` as a varint of exactly `at.len()` bytes.
fn write_varint(at: &mut [u8], mut v: u64) {
    for b in at.iter_mut() {
        *b = v as u8 | 0x80;
        v >>= 7;
    }
    if let Some(last) = at.last_mut() {
        *last &= 0x7f;
    }
}

/// Writes `v` over `at` as exactly `at.len()` decimal digits.
fn write_decimal(at: &mut [u8], mut v: u64) {
    for b in at.iter_mut().rev() {
        *b = b'0' + (v % 10) as u8;
        v /= 10;
    }
}

/// The messages around a repeated field, outermost first. Each level is
/// the length-delimited field (`tag`) that holds the next level, and the
/// level's other fields, encoded once: they have lower field numbers than
/// the one holding the next level, so they come before it.
#[derive(Debug, Clone)]
pub(super) struct Envelope {
    levels: Vec<Level>,
}

#[derive(Debug, Clone)]
pub(super) struct Level {
    pub tag: u8,
    pub fields: Vec<u8>,
}

impl Envelope {
    pub fn new(levels: Vec<Level>) -> Option<Envelope> {
        (levels.len() <= MAX_LEVELS).then_some(Envelope { levels })
    }

    /// Writes the envelope around items that take `items` bytes (tags and
    /// lengths included); the items follow it.
    pub fn write(&self, items: usize, out: &mut Vec<u8>) {
        // Lengths from the innermost level out.
        let mut lens = [0usize; MAX_LEVELS];
        let mut inner = items;
        for (i, level) in self.levels.iter().enumerate().rev() {
            let len = level.fields.len() + inner;
            lens[i] = len;
            inner = 1 + varint_len(len as u64) + len;
        }
        out.reserve(inner);
        for (level, len) in self.levels.iter().zip(lens) {
            out.push(level.tag);
            put_varint(out, len as u64);
            out.extend_from_slice(&level.fields);
        }
    }
}

/// What a patch writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Field {
    /// `fixed64` nanoseconds.
    Time,
    TraceId,
    SpanId,
    /// `number` as decimal digits of a string.
    Decimal,
    /// `number` as a varint.
    Varint,
    /// `double` as a `double`.
    Double,
}

/// One slot's values of the fields an item patches.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Values {
    pub time: u64,
    pub trace_id: [u8; 16],
    pub span_id: [u8; 8],
    pub number: u64,
    pub double: f64,
}

#[derive(Debug, Clone, Copy)]
struct Patch {
    at: usize,
    width: usize,
    field: Field,
}

/// One element of a repeated field, with its tag and length: encoded once,
/// then written per slot with its fields patched.
#[derive(Debug, Clone)]
pub(super) struct Item {
    bytes: Vec<u8>,
    patches: Vec<Patch>,
}

impl Item {
    /// The item `encoded` (without tag or length) as field `tag`.
    pub fn new(tag: u8, encoded: &[u8]) -> Item {
        let mut bytes = vec![tag];
        put_varint(&mut bytes, encoded.len() as u64);
        bytes.extend_from_slice(encoded);
        Item {
            bytes,
            patches: Vec::new(),
        }
    }

    /// Marks `field` as the last `width` bytes of each of the `count`
    /// places `needle` occurs; `None` if it occurs any other number of
    /// times or overlaps a field already marked.
    pub fn mark(mut self, needle: &[u8], width: usize, field: Field, count: usize) -> Option<Item> {
        let mut found = 0;
        let mut from = 0;
        while let Some(at) = self.bytes[from..].windows(needle.len()).position(|w| w == needle) {
            let end = from + at + needle.len();
            let patch = Patch {
                at: end.checked_sub(width)?,
                width,
                field,
            };
            if self
                .patches
                .iter()
                .any(|p| patch.at < p.at + p.width && p.at < patch.at + patch.width)
            {
                return None;
            }
            self.patches.push(patch);
            found += 1;
            from = end;
        }
        (found == count).then_some(self)
    }

    /// Bytes the item takes in a batch.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    pub fn write(&self, values: &Values, out: &mut Vec<u8>) {
        let start = out.len();
        out.extend_from_slice(&self.bytes);
        let item = &mut out[start..];
        for p in &self.patches {
            let at = &mut item[p.at..p.at + p.width];
            match p.field {
                Field::Time => at.copy_from_slice(&values.time.to_le_bytes()),
                Field::TraceId => at.copy_from_slice(&values.trace_id),
                Field::SpanId => at.copy_from_slice(&values.span_id),
                Field::Decimal => write_decimal(at, values.number),
                Field::Varint => write_varint(at, values.number),
                Field::Double => at.copy_from_slice(&values.double.to_le_bytes()),
            }
        }
    }
}

/// Every value at which the decimal digits or the varint bytes of a
/// `u64` change: between two of them, a slot's shape stays the same.
pub(super) fn shape_boundaries() -> Vec<u64> {
    let mut bounds = vec![0u64];
    bounds.extend((1..=19).map(|k| 10u64.pow(k)));
    bounds.extend((1..=9).map(|k| 1u64 << (7 * k)));
    bounds.sort_unstable();
    bounds.dedup();
    bounds
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_match_prost() {
        for v in [0u64, 1, 9, 10, 127, 128, 16_383, 16_384, u64::MAX / 2, u64::MAX] {
            assert_eq!(varint_len(v), prost::encoding::encoded_len_varint(v), "{v}");
            assert_eq!(decimal_len(v), v.to_string().len(), "{v}");
            let mut minimal = Vec::new();
            put_varint(&mut minimal, v);
            let mut over = vec![0u8; varint_len(v)];
            write_varint(&mut over, v);
            assert_eq!(minimal, over, "{v}");
            let mut digits = vec![0u8; decimal_len(v)];
            write_decimal(&mut digits, v);
            assert_eq!(digits, v.to_string().as_bytes());
        }
    }

    #[test]
    fn a_marker_found_twice_where_once_was_expected_builds_nothing() {
        let item = Item::new(0x0a, b"abcXYabcXY");
        assert!(item.clone().mark(b"XY", 2, Field::Decimal, 1).is_none());
        let marked = item.mark(b"XY", 2, Field::Decimal, 2).unwrap();
        assert!(marked.clone().mark(b"cX", 2, Field::Decimal, 2).is_none(), "overlap");
        let mut out = Vec::new();
        marked.write(
            &Values {
                number: 42,
                ..Values::default()
            },
            &mut out,
        );
        assert_eq!(out, b"\x0a\x0aabc42abc42");
    }

    #[test]
    fn every_u64_lies_between_two_boundaries_of_one_shape() {
        let bounds = shape_boundaries();
        for pair in bounds.windows(2) {
            let (lo, hi) = (pair[0], pair[1] - 1);
            assert_eq!(decimal_len(lo), decimal_len(hi), "{lo}..={hi}");
            assert_eq!(varint_len(lo), varint_len(hi), "{lo}..={hi}");
        }
        let last = *bounds.last().unwrap();
        assert_eq!(
            (decimal_len(last), varint_len(last)),
            (decimal_len(u64::MAX), varint_len(u64::MAX))
        );
    }
}
