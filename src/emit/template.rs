//! Pre-encoded trace batches: the hot path of the trace emitter.
//!
//! A batch of `n` synthetic traces is encoded once; every later batch is a
//! copy of those bytes with the per-slot fields written in place: trace and
//! span ids (fixed 16 and 8 bytes), start and end times (`fixed64`), and
//! `pillars.seq`, written as a 10-byte varint. Protobuf parsers accept
//! non-minimal varints, so the patched bytes decode to exactly what
//! `TraceSpec::request` builds for the same slots; a test holds them to it.
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
        TraceBatchTemplate {
            spec: spec.clone(),
            traces,
            bytes,
            patches,
        }
    }

    pub fn traces(&self) -> u64 {
        self.traces
    }

    /// Writes the encoded batch of `traces` slots starting at `first_slot`
    /// into `out` (cleared first).
    pub fn fill(&self, first_slot: u64, start_unix_nanos: u64, out: &mut Vec<u8>) {
        out.clear();
        out.extend_from_slice(&self.bytes);
        let seed = self.spec.seed;
        // Patches are in byte order, so one trace's fields come together:
        // derive its ids once.
        let spans = self.spec.spans_per_trace.max(1) as usize;
        let mut current = u64::MAX;
        let mut trace_id = TraceId([0; 16]);
        let mut span_ids = vec![SpanId([0; 8]); spans];
        let mut ids_of = |trace: u64, trace_id: &mut TraceId, span_ids: &mut [SpanId]| {
            if trace != current {
                current = trace;
                let slot = first_slot + trace;
                *trace_id = TraceId::from_seed(seed, slot);
                for (i, id) in span_ids.iter_mut().enumerate() {
                    *id = SpanId::from_seed(seed, slot, i as u32);
                }
            }
        };
        for &(at, field) in &self.patches {
            match field {
                Field::TraceId { trace } => {
                    ids_of(trace, &mut trace_id, &mut span_ids);
                    out[at..at + 16].copy_from_slice(&trace_id.0);
                }
                Field::SpanId { trace, span } => {
                    ids_of(trace, &mut trace_id, &mut span_ids);
                    out[at..at + 8].copy_from_slice(&span_ids[span as usize].0);
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
