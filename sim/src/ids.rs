//! Trace and span ids as the components parse them: Tempo's trace-id rule
//! for `/api/traces/<id>` (`pkg/util/traceid.go` `HexStringToTraceID`:
//! hex only, odd lengths padded, at most 128 bits, shorter ids left-padded
//! with zeros) and the W3C `traceparent` header the OpenTelemetry SDKs'
//! propagator accepts.
//!
//! Uses: nothing else in the crate.

use std::fmt;

/// A 16-byte trace id.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TraceId(pub [u8; 16]);

/// An 8-byte span id.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SpanId(pub [u8; 8]);

impl TraceId {
    /// Parses a trace id the way Tempo's HTTP API does, with its messages.
    pub fn parse_tempo(text: &str) -> Result<TraceId, String> {
        for (pos, c) in text.chars().enumerate() {
            if !c.is_ascii_hexdigit() {
                return Err(format!(
                    "trace IDs can only contain hex characters: invalid character '{c}' at position {}",
                    pos + 1
                ));
            }
        }
        let padded = if text.len() % 2 == 1 {
            format!("0{text}")
        } else {
            text.to_owned()
        };
        let bytes = decode_hex(&padded).ok_or_else(|| "encoding/hex: invalid byte".to_owned())?;
        if bytes.len() > 16 {
            return Err("trace IDs can't be larger than 128 bits".into());
        }
        let mut id = [0u8; 16];
        id[16 - bytes.len()..].copy_from_slice(&bytes);
        Ok(TraceId(id))
    }

    /// Lower-case hex with leading zeros trimmed, as Tempo's search
    /// results write ids (`pkg/util/traceid.go` `TraceIDToHexString`).
    pub fn trimmed_hex(self) -> String {
        let full = hex(&self.0);
        // An all-zero id (valid to Tempo, 16 bytes) becomes "", which
        // jsonpb then leaves out.
        full.trim_start_matches('0').to_owned()
    }
}

impl fmt::Display for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex(&self.0))
    }
}

impl fmt::Debug for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TraceId({self})")
    }
}

impl fmt::Display for SpanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex(&self.0))
    }
}

impl fmt::Debug for SpanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SpanId({self})")
    }
}

/// A `traceparent` header as the W3C propagator of the OpenTelemetry SDKs
/// takes it: `version-traceid-parentid-flags`, lower-case hex, no all-zero
/// ids, version `ff` invalid, and nothing after the flags in version `00`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Traceparent {
    pub trace_id: TraceId,
    pub parent_id: SpanId,
    pub sampled: bool,
}

impl Traceparent {
    pub fn parse(header: &str) -> Option<Traceparent> {
        let header = header.trim_matches([' ', '\t']);
        let mut parts = header.splitn(5, '-');
        let (version, trace, parent, flags) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        let rest = parts.next();
        let lower_hex =
            |s: &str, len: usize| s.len() == len && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        if !(lower_hex(version, 2) && lower_hex(trace, 32) && lower_hex(parent, 16) && lower_hex(flags, 2)) {
            return None;
        }
        if version == "ff" || (version == "00" && rest.is_some()) {
            return None;
        }
        let trace_id = TraceId(decode_hex(trace)?.try_into().ok()?);
        let parent_id = SpanId(decode_hex(parent)?.try_into().ok()?);
        if trace_id.0 == [0; 16] || parent_id.0 == [0; 8] {
            return None;
        }
        let flags = decode_hex(flags)?[0];
        Some(Traceparent {
            trace_id,
            parent_id,
            sampled: flags & 1 == 1,
        })
    }
}

/// Lower-case hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    use fmt::Write as _;
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
    out
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if text.len() % 2 == 1 {
        return None;
    }
    text.as_bytes()
        .chunks_exact(2)
        .map(|pair| {
            let digit = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
            Some(digit(pair[0])? << 4 | digit(pair[1])?)
        })
        .collect()
}

/// Ids the app role makes up for requests that carry no `traceparent`:
/// from a per-process seed and a counter, never all zero.
#[derive(Debug)]
pub struct IdSource {
    seed: u64,
}

impl IdSource {
    pub fn new() -> IdSource {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        IdSource {
            seed: mix(nanos ^ u64::from(std::process::id())),
        }
    }

    pub fn trace_id(&self, n: u64) -> TraceId {
        let mut bytes = [0u8; 16];
        bytes[..8].copy_from_slice(&mix(self.seed ^ mix(n.wrapping_mul(2))).to_be_bytes());
        bytes[8..].copy_from_slice(&mix(self.seed ^ mix(n.wrapping_mul(2) + 1)).to_be_bytes());
        bytes[15] |= 1;
        TraceId(bytes)
    }

    pub fn span_id(&self, n: u64) -> SpanId {
        let mut bytes = mix(self.seed ^ mix(n ^ 0x5bd1_e995)).to_be_bytes();
        bytes[7] |= 1;
        SpanId(bytes)
    }
}

impl Default for IdSource {
    fn default() -> Self {
        IdSource::new()
    }
}

/// splitmix64's finalizer.
const fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tempo_trace_id_rules() {
        let id = TraceId::parse_tempo("4bf92f3577b34da6a3ce929d0e0e4736").unwrap();
        assert_eq!(id.to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(
            TraceId::parse_tempo("abc").unwrap().to_string(),
            format!("{:0>32}", "abc")
        );
        assert_eq!(
            TraceId::parse_tempo("xyz").unwrap_err(),
            "trace IDs can only contain hex characters: invalid character 'x' at position 1"
        );
        assert_eq!(
            TraceId::parse_tempo(&"a".repeat(33)).unwrap_err(),
            "trace IDs can't be larger than 128 bits"
        );
        assert_eq!(TraceId::parse_tempo("00ab").unwrap().trimmed_hex(), "ab");
        assert_eq!(TraceId([0; 16]).trimmed_hex(), "");
    }

    #[test]
    fn traceparent_follows_the_propagator() {
        let tp = Traceparent::parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").unwrap();
        assert!(tp.sampled);
        assert_eq!(tp.parent_id.to_string(), "00f067aa0ba902b7");
        for bad in [
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
        ] {
            assert_eq!(Traceparent::parse(bad), None, "{bad}");
        }
        assert!(Traceparent::parse("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00-extra").is_some());
    }
}
