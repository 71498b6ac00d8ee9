//! Pre-encoded log batches: what `LogSpec::request` builds, byte for byte,
//! without building it. A record's encoding depends on its slot only
//! through the slot's decimal digits (in the body, `seq=<n>`) and varint
//! bytes (`pillars.seq`), so one record template per such shape, patched
//! with the slot's ids, times and numbers, and the envelope's lengths
//! written per batch, give prost's bytes.
//!
//! Uses: emit::{log_records, synthetic}, ids.

use std::ops::Range;

use prost::Message;

use super::wire::{Envelope, Field, Item, Level, Values, decimal_len, shape_boundaries, varint_len};
use crate::emit::log_records::LogSpec;
use crate::emit::synthetic::int_attr;
use crate::ids::{Seed, SpanId, TraceId};

/// Template timestamps; no real record is stamped in 1990.
const TIME_MARK: u64 = 0x0DC5_A5A5_0000_0000;

/// Field tags (wire type 2) from `ExportLogsServiceRequest` down.
const RESOURCE_LOGS: u8 = 1 << 3 | 2;
const SCOPE_LOGS: u8 = 2 << 3 | 2;
const LOG_RECORDS: u8 = 2 << 3 | 2;

#[derive(Debug, Clone)]
pub struct LogBatchTemplate {
    envelope: Envelope,
    /// Record templates by shape, and where each shape's is.
    records: Vec<Item>,
    by_shape: [[u8; 11]; 21],
    trace_seed: Seed,
}

const NO_SHAPE: u8 = u8::MAX;

impl LogBatchTemplate {
    /// The templates for `spec`'s records; `None` if its run id hides a
    /// field the templates patch (the caller then encodes with prost).
    pub fn new(spec: &LogSpec) -> Option<LogBatchTemplate> {
        let empty = spec.request(0..0, TIME_MARK);
        let mut resource = empty.resource_logs.first()?.clone();
        let mut scope = resource.scope_logs.pop()?;
        scope.log_records.clear();
        let envelope = Envelope::new(vec![
            Level {
                tag: RESOURCE_LOGS,
                fields: resource.encode_to_vec(),
            },
            Level {
                tag: SCOPE_LOGS,
                fields: scope.encode_to_vec(),
            },
        ])?;
        let mut records = Vec::new();
        let mut by_shape = [[NO_SHAPE; 11]; 21];
        for slot in shape_boundaries() {
            let (digits, bytes) = (decimal_len(slot), varint_len(slot));
            if by_shape[digits][bytes] != NO_SHAPE {
                continue;
            }
            by_shape[digits][bytes] = u8::try_from(records.len()).ok()?;
            records.push(record_template(spec, slot)?);
        }
        Some(LogBatchTemplate {
            envelope,
            records,
            by_shape,
            trace_seed: spec.trace_seed(),
        })
    }

    fn record(&self, slot: u64) -> &Item {
        // Every shape a u64 can take was built.
        &self.records[usize::from(self.by_shape[decimal_len(slot)][varint_len(slot)])]
    }

    /// Writes the encoded request of the records of `slots`, stamped
    /// `now_unix_nanos` (not 0), into `out` (cleared first).
    pub fn fill(&self, slots: Range<u64>, now_unix_nanos: u64, out: &mut Vec<u8>) {
        out.clear();
        let items = slots.clone().map(|slot| self.record(slot).len()).sum();
        self.envelope.write(items, out);
        for slot in slots {
            let values = Values {
                time: now_unix_nanos,
                trace_id: TraceId::from_seed(self.trace_seed, slot).0,
                span_id: SpanId::from_seed(self.trace_seed, slot, 0).0,
                number: slot,
                double: 0.0,
            };
            self.record(slot).write(&values, out);
        }
    }
}

/// The record of `slot`, its slot-dependent fields marked.
fn record_template(spec: &LogSpec, slot: u64) -> Option<Item> {
    let encoded = spec.record(slot, TIME_MARK).encode_to_vec();
    let (trace_id, span_id) = spec.trace_context(slot);
    let seq = int_attr("pillars.seq", slot as i64).encode_to_vec();
    Item::new(LOG_RECORDS, &encoded)
        .mark(&TIME_MARK.to_le_bytes(), 8, Field::Time, 2)?
        .mark(&trace_id.0, 16, Field::TraceId, 1)?
        .mark(&span_id.0, 8, Field::SpanId, 1)?
        // The body ends with the slot's digits; the attribute with its varint.
        .mark(spec.body(slot).as_bytes(), decimal_len(slot), Field::Decimal, 1)?
        .mark(&seq, varint_len(slot), Field::Varint, 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;

    fn spec(run_id: &str) -> LogSpec {
        LogSpec {
            seed: Seed(41),
            run_id: run_id.into(),
            service_name: "pillars-load-logs".into(),
        }
    }

    #[test]
    fn filled_batches_are_the_bytes_the_spec_builds() {
        // A long run id makes the envelope's lengths take two bytes.
        for run_id in ["load", &"r".repeat(300)] {
            let spec = spec(run_id);
            let template = LogBatchTemplate::new(&spec).unwrap();
            let mut buf = Vec::new();
            // Across every change of digits or varint bytes the load reaches,
            // and the empty batch.
            for (slots, now) in [
                (0..50, 1_764_000_000_000_000_000u64),
                (95..135, 1_764_000_000_123_456_789),
                (16_380..16_390, 1),
                (999_990..1_000_010, 7),
                (2_097_150..2_097_160, 1_764_000_000_000_000_000),
                (u64::from(u32::MAX) - 5..u64::from(u32::MAX) + 5, 3),
                ((1 << 63) - 2..(1 << 63) + 2, 3),
                (u64::MAX - 3..u64::MAX, 3),
                (12..12, 5),
            ] {
                template.fill(slots.clone(), now, &mut buf);
                let built = spec.request(slots.clone(), now);
                assert_eq!(buf, built.encode_to_vec(), "{run_id:.8} {slots:?}");
                assert_eq!(ExportLogsServiceRequest::decode(buf.as_slice()).unwrap(), built);
            }
        }
    }

    #[test]
    fn a_run_id_that_hides_a_patched_field_builds_no_template() {
        // Slot 0's `pillars.seq` attribute, spelled inside the run id.
        let attr = String::from_utf8(int_attr("pillars.seq", 0).encode_to_vec()).unwrap();
        assert!(LogBatchTemplate::new(&spec(&attr)).is_none());
        assert!(LogBatchTemplate::new(&spec("run-1")).is_some());
    }
}
