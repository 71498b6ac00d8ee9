//! Pre-encoded trace batches.
//!
//! A batch of `n` synthetic traces is encoded once; every later batch is a
//! copy of those bytes with the per-slot fields written in place: trace and
//! span ids (fixed 16 and 8 bytes), start and end times (`fixed64`), and
//! `pillars.seq`, written as a 10-byte varint. Protobuf parsers accept
//! non-minimal varints, so the patched bytes decode to exactly what
//! `TraceSpec::request` builds for the same slots; a test holds them to it.
//!
//! A sender that reuses its buffer (`emit::pool::BodyBuffer::refill`)
//! writes only the patched fields over its last batch.
//!
//! Every trace of a batch is laid out alike, one stride after the other, so
//! a fill derives each trace's ids and sequence number once into a small
//! block and copies them to the trace's offsets: about 6 ns per span (the
//! ids' hashing is most of it), where walking the patches one by one took
//! twice that.
//!
//! Uses: emit::synthetic, ids.

use std::collections::HashMap;
use std::ops::Range;

use prost::Message;

use crate::emit::synthetic::TraceSpec;
use crate::ids::{SpanId, TraceId};

/// Where a slot's field lives in the template and what to write there.
#[derive(Debug, Clone, Copy)]
enum Field {
    TraceId {
        trace: u64,
    },
    SpanId {
        trace: u64,
        span: u32,
    },
    /// A timestamp: batch start plus this many nanoseconds.
    Time {
        delta: u64,
    },
    Seq {
        trace: u64,
    },
}

#[derive(Debug, Clone)]
pub struct TraceBatchTemplate {
    spec: TraceSpec,
    traces: u64,
    bytes: Vec<u8>,
    patches: Vec<(usize, Field)>,
    /// The same patches as one trace's copies, when every trace is laid
    /// out alike (always, unless a run id spells a marker).
    strided: Option<Strided>,
}

/// Spans per trace up to which fills copy from a derived block.
const STRIDED_SPANS: usize = 16;
/// The block: trace id, span ids, `pillars.seq`, then the batch's times.
const BLOCK: usize = 16 + 8 * STRIDED_SPANS + 10 + 8 * 2 * STRIDED_SPANS;

#[derive(Debug, Clone)]
struct Strided {
    /// Where trace 0's first patch is, and how far apart traces are.
    first: usize,
    stride: usize,
    /// One trace's copies, from the block to the trace's offsets.
    copies: Vec<Copy>,
    /// The distinct time deltas, in their block order.
    times: Vec<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Copy {
    /// From the trace's first patch.
    at: usize,
    /// Where in the block, and how many bytes.
    from: usize,
    len: usize,
}

/// Template timestamps start here; no real batch is sent in 1990.
const TIME_MARK: u64 = 0x0DC5_A5A5_0000_0000;
/// `pillars.seq` markers: negative, so each encodes to a 10-byte varint.
const SEQ_MARK: i64 = i64::MIN + 0x5E0_0000;

impl TraceBatchTemplate {
    /// Encodes the template for batches of `traces` traces.
    pub fn new(spec: &TraceSpec, traces: u64) -> Self {
        let request = spec.request_with_seq(0..traces, TIME_MARK, |slot| SEQ_MARK + slot as i64);
        let bytes = request.encode_to_vec();
        let mut patches = Vec::new();
        let mut find = |needle: &[u8], field: Field| {
            let mut from = 0;
            while let Some(at) = find_bytes(&bytes[from..], needle) {
                patches.push((from + at, field));
                from += at + needle.len();
            }
        };
        for trace in 0..traces {
            let expected = spec.expected(trace);
            find(&expected.trace_id.0, Field::TraceId { trace });
            for (span, id) in expected.span_ids.iter().enumerate() {
                find(
                    &id.0,
                    Field::SpanId {
                        trace,
                        span: span as u32,
                    },
                );
            }
            find(&varint10(SEQ_MARK + trace as i64), Field::Seq { trace });
        }
        // Every distinct timestamp of the template.
        let times: HashMap<u64, ()> = request
            .resource_spans
            .iter()
            .flat_map(|rs| &rs.scope_spans)
            .flat_map(|ss| &ss.spans)
            .flat_map(|s| [s.start_time_unix_nano, s.end_time_unix_nano])
            .map(|t| (t, ()))
            .collect();
        for t in times.keys() {
            find(&t.to_le_bytes(), Field::Time { delta: t - TIME_MARK });
        }
        patches.sort_by_key(|(at, _)| *at);
        let strided = strided(&patches, traces, spec.spans_per_trace.max(1) as usize);
        TraceBatchTemplate {
            spec: spec.clone(),
            traces,
            bytes,
            patches,
            strided,
        }
    }

    pub fn traces(&self) -> u64 {
        self.traces
    }

    /// Spans in one batch.
    pub fn spans(&self) -> u64 {
        self.traces * u64::from(self.spec.spans_per_trace.max(1))
    }

    /// Writes the encoded batch of `traces` slots starting at `first_slot`
    /// into `out` (cleared first).
    pub fn fill(&self, first_slot: u64, start_unix_nanos: u64, out: &mut Vec<u8>) {
        self.refill(first_slot, start_unix_nanos, out, false);
    }

    /// As `fill`; when `holds_last`, `out` holds the last batch this
    /// template filled into it, and only the fields that change are
    /// written (the rest of a batch is the same every time).
    pub fn refill(&self, first_slot: u64, start_unix_nanos: u64, out: &mut Vec<u8>, holds_last: bool) {
        if !holds_last || out.len() != self.bytes.len() {
            out.clear();
            out.extend_from_slice(&self.bytes);
        }
        match &self.strided {
            Some(strided) => self.fill_strided(strided, first_slot, start_unix_nanos, out),
            None => self.fill_patches(first_slot, start_unix_nanos, out),
        }
    }

    fn fill_strided(&self, plan: &Strided, first_slot: u64, start_unix_nanos: u64, out: &mut [u8]) {
        let seed = self.spec.seed;
        let spans = self.spec.spans_per_trace.max(1);
        let seq_at = 16 + 8 * spans as usize;
        let mut block = [0u8; BLOCK];
        for (i, delta) in plan.times.iter().enumerate() {
            let at = seq_at + 10 + 8 * i;
            block[at..at + 8].copy_from_slice(&(start_unix_nanos + delta).to_le_bytes());
        }
        for (trace, region) in out[plan.first..]
            .chunks_mut(plan.stride)
            .take(self.traces as usize)
            .enumerate()
        {
            let slot = first_slot + trace as u64;
            block[..16].copy_from_slice(&TraceId::from_seed(seed, slot).0);
            for span in 0..spans {
                let at = 16 + 8 * span as usize;
                // Opaque, so the hashing stays scalar: vectorized, its
                // 64-bit multiplies would be emulated (SSE2 has none).
                let span = std::hint::black_box(span);
                block[at..at + 8].copy_from_slice(&SpanId::from_seed(seed, slot, span).0);
            }
            block[seq_at..seq_at + 10].copy_from_slice(&varint10(slot as i64));
            for c in &plan.copies {
                // Fixed widths, so each copy is a move, not a call.
                match c.len {
                    8 => copy::<8>(region, c, &block),
                    10 => copy::<10>(region, c, &block),
                    _ => copy::<16>(region, c, &block),
                }
            }
        }
    }

    /// Patch by patch, for layouts `strided` does not cover.
    fn fill_patches(&self, first_slot: u64, start_unix_nanos: u64, out: &mut [u8]) {
        let seed = self.spec.seed;
        let mut current = u64::MAX;
        let mut trace_id = TraceId([0; 16]);
        for &(at, field) in &self.patches {
            match field {
                Field::TraceId { trace } => {
                    if trace != current {
                        current = trace;
                        trace_id = TraceId::from_seed(seed, first_slot + trace);
                    }
                    out[at..at + 16].copy_from_slice(&trace_id.0);
                }
                Field::SpanId { trace, span } => {
                    out[at..at + 8].copy_from_slice(&SpanId::from_seed(seed, first_slot + trace, span).0);
                }
                Field::Time { delta } => {
                    out[at..at + 8].copy_from_slice(&(start_unix_nanos + delta).to_le_bytes());
                }
                Field::Seq { trace } => {
                    out[at..at + 10].copy_from_slice(&varint10((first_slot + trace) as i64));
                }
            }
        }
    }

    /// The slots a batch starting at `first_slot` holds.
    pub fn slots(&self, first_slot: u64) -> Range<u64> {
        first_slot..first_slot + self.traces
    }
}

/// One trace's copies, if every trace's patches are trace 0's, one stride
/// apart, and fit the block.
fn strided(patches: &[(usize, Field)], traces: u64, spans: usize) -> Option<Strided> {
    if spans > STRIDED_SPANS || traces == 0 {
        return None;
    }
    // A time belongs to the trace whose ids came last before it.
    let mut per_trace: Vec<Vec<(usize, Field)>> = vec![Vec::new(); traces as usize];
    let mut trace = None;
    for &(at, field) in patches {
        if let Field::TraceId { trace: t } | Field::SpanId { trace: t, .. } | Field::Seq { trace: t } = field {
            trace = Some(t as usize);
        }
        per_trace.get_mut(trace?)?.push((at, field));
    }
    let base = |t: usize| per_trace[t].first().map(|(at, _)| *at);
    let first = base(0)?;
    let stride = if traces > 1 { base(1)? - first } else { usize::MAX };
    let mut times = Vec::new();
    let copies: Vec<Copy> = per_trace[0]
        .iter()
        .map(|&(at, field)| {
            let (from, len) = match field {
                Field::TraceId { .. } => (0, 16),
                Field::SpanId { span, .. } => (16 + 8 * span as usize, 8),
                Field::Seq { .. } => (16 + 8 * spans, 10),
                Field::Time { delta } => {
                    let i = times.iter().position(|d| *d == delta).unwrap_or_else(|| {
                        times.push(delta);
                        times.len() - 1
                    });
                    (16 + 8 * spans + 10 + 8 * i, 8)
                }
            };
            Copy {
                at: at - first,
                from,
                len,
            }
        })
        .collect();
    let same_shape = |t: usize| {
        let offset = first + t * stride;
        per_trace[t].len() == per_trace[0].len()
            && per_trace[t]
                .iter()
                .zip(&per_trace[0])
                .all(|(&(at, field), &(at0, field0))| {
                    at.checked_sub(offset) == Some(at0 - first) && same_kind(field, field0)
                })
    };
    let fits = times.len() <= 2 * STRIDED_SPANS && copies.iter().all(|c| c.at + c.len <= stride);
    ((1..traces as usize).all(same_shape) && fits).then_some(Strided {
        first,
        stride,
        copies,
        times,
    })
}

fn copy<const N: usize>(region: &mut [u8], c: &Copy, block: &[u8; BLOCK]) {
    let mut bytes = [0u8; N];
    bytes.copy_from_slice(&block[c.from..c.from + N]);
    region[c.at..c.at + N].copy_from_slice(&bytes);
}

/// The same field of the same span, whichever trace it is in.
fn same_kind(a: Field, b: Field) -> bool {
    match (a, b) {
        (Field::TraceId { .. }, Field::TraceId { .. }) | (Field::Seq { .. }, Field::Seq { .. }) => true,
        (Field::SpanId { span: x, .. }, Field::SpanId { span: y, .. }) => x == y,
        (Field::Time { delta: x }, Field::Time { delta: y }) => x == y,
        _ => false,
    }
}

/// A varint padded to the 10 bytes of the widest 64-bit value.
fn varint10(value: i64) -> [u8; 10] {
    let mut v = value as u64;
    let mut out = [0u8; 10];
    for byte in out.iter_mut().take(9) {
        *byte = (v as u8 & 0x7f) | 0x80;
        v >>= 7;
    }
    out[9] = v as u8 & 0x01;
    out
}

fn find_bytes(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::Seed;
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;

    fn spec() -> TraceSpec {
        TraceSpec {
            seed: Seed(99),
            run_id: "run-1".into(),
            service_name: "pillars-test".into(),
            spans_per_trace: 4,
        }
    }

    #[test]
    fn filled_batches_decode_to_the_built_request() {
        let spec = spec();
        let template = TraceBatchTemplate::new(&spec, 7);
        let mut buf = Vec::new();
        for (first, start) in [
            (0u64, 1_764_000_000_000_000_000u64),
            (7, 1_764_000_000_123_456_789),
            (700_000, 1),
        ] {
            template.fill(first, start, &mut buf);
            let decoded = ExportTraceServiceRequest::decode(buf.as_slice()).unwrap();
            assert_eq!(decoded, spec.request(template.slots(first), start), "batch at {first}");
        }
    }

    #[test]
    fn strided_and_patch_by_patch_fills_agree() {
        for (spans, traces) in [(1, 1), (4, 7), (16, 3), (17, 2)] {
            let spec = TraceSpec {
                spans_per_trace: spans,
                ..spec()
            };
            let template = TraceBatchTemplate::new(&spec, traces);
            assert_eq!(template.strided.is_some(), spans <= 16, "{spans} spans");
            let (mut strided, mut patched) = (Vec::new(), template.bytes.clone());
            template.fill(70, 1_764_000_000_000_000_000, &mut strided);
            template.fill_patches(70, 1_764_000_000_000_000_000, &mut patched);
            assert_eq!(strided, patched, "{spans} spans, {traces} traces");
            let decoded = ExportTraceServiceRequest::decode(strided.as_slice()).unwrap();
            assert_eq!(decoded, spec.request(template.slots(70), 1_764_000_000_000_000_000));
        }
    }

    #[test]
    fn a_refill_over_the_last_batch_is_a_fresh_fill() {
        let template = TraceBatchTemplate::new(&spec(), 5);
        let (mut over, mut fresh) = (Vec::new(), Vec::new());
        template.fill(0, 1_764_000_000_000_000_000, &mut over);
        template.refill(5, 1_764_000_000_123_456_789, &mut over, true);
        template.fill(5, 1_764_000_000_123_456_789, &mut fresh);
        assert_eq!(over, fresh);
        // Anything else in the buffer is replaced.
        let mut other = vec![7u8; 3];
        template.refill(5, 1_764_000_000_123_456_789, &mut other, true);
        assert_eq!(other, fresh);
    }

    #[test]
    fn every_marker_was_found() {
        let template = TraceBatchTemplate::new(&spec(), 3);
        let count = |f: fn(&Field) -> bool| template.patches.iter().filter(|(_, p)| f(p)).count();
        // Each span carries its trace id; each child its parent's span id too.
        assert_eq!(count(|f| matches!(f, Field::TraceId { .. })), 3 * 4);
        assert_eq!(count(|f| matches!(f, Field::SpanId { .. })), 3 * (4 + 3));
        assert_eq!(count(|f| matches!(f, Field::Seq { .. })), 3 * 4);
        assert_eq!(count(|f| matches!(f, Field::Time { .. })), 3 * 4 * 2);
    }

    #[test]
    fn varint10_decodes_to_the_value() {
        for v in [0i64, 1, 127, 128, 300, i64::MAX, -1, SEQ_MARK] {
            let bytes = varint10(v);
            let decoded = prost::encoding::decode_varint(&mut &bytes[..]).unwrap();
            assert_eq!(decoded as i64, v);
        }
    }
}
