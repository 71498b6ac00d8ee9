//! Trace and span ids, W3C `traceparent`, and seeded generation.
//!
//! Every id a run sends is derived from `(run seed, slot)`, so a check can
//! rebuild what it expects to read back without a shared "sent" list, and a
//! failed run can be replayed from the seed in its report. Tempo returns ids
//! as base64 in trace-by-id JSON and as hex with leading zeros trimmed in
//! search results (`shared/reference/api/03-tempo.md` §3.2, §3.3); both are
//! parsed here so no other module deals with id encodings.
//!
//! Uses: nothing else in the crate.

use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

/// Why an id or header could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("expected {expected} hex characters, got {got:?}")]
    HexLength { expected: usize, got: String },
    #[error("not hex: {0:?}")]
    NotHex(String),
    #[error("not base64 of {expected} bytes: {got:?}")]
    Base64 { expected: usize, got: String },
    #[error("all-zero ids are invalid")]
    Zero,
    #[error("malformed traceparent {0:?}: expected `00-<32 hex>-<16 hex>-<2 hex>`")]
    Traceparent(String),
}

/// A run's seed: everything random in a run derives from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct Seed(pub u64);

impl Seed {
    /// A seed from the wall clock, for runs that were not given one. Kept
    /// below 2^53 so every JSON reader gets the exact value back.
    pub fn from_time() -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        Seed(mix(nanos ^ u64::from(std::process::id())) & ((1 << 53) - 1))
    }

    /// The seed of one part of a run (a check), so parts that number their
    /// slots alike still send different ids; below 2^53 like every seed.
    pub fn of_part(self, part: &str) -> Seed {
        let name = part.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
        });
        Seed(mix(self.0 ^ mix(name)) & ((1 << 53) - 1))
    }

    /// A stream of pseudo-random words for `(slot, domain)`; the domain keeps
    /// trace ids, span ids and payload choices of one slot independent.
    pub fn word(self, slot: u64, domain: u64) -> u64 {
        mix(self.0 ^ mix(slot.wrapping_add(mix(domain))))
    }
}

impl fmt::Display for Seed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// splitmix64 finalizer: cheap, stateless, and good enough that consecutive
/// slots give unrelated ids.
const fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

const DOMAIN_TRACE_HI: u64 = 1;
const DOMAIN_TRACE_LO: u64 = 2;
const DOMAIN_SPAN: u64 = 3;

/// A 16-byte W3C / OTLP trace id.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TraceId(pub [u8; 16]);

/// An 8-byte span id.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SpanId(pub [u8; 8]);

impl TraceId {
    /// The trace id of `slot` in the run seeded with `seed`.
    pub fn from_seed(seed: Seed, slot: u64) -> Self {
        let mut bytes = [0u8; 16];
        bytes[..8].copy_from_slice(&seed.word(slot, DOMAIN_TRACE_HI).to_be_bytes());
        bytes[8..].copy_from_slice(&seed.word(slot, DOMAIN_TRACE_LO).to_be_bytes());
        if bytes == [0; 16] {
            bytes[15] = 1;
        }
        TraceId(bytes)
    }

    /// Parses an id from Tempo search results, where leading zeros are
    /// trimmed: shorter hex is left-padded to 32 characters.
    pub fn from_trimmed_hex(s: &str) -> Result<Self, IdError> {
        if s.is_empty() || s.len() > 32 {
            return Err(IdError::HexLength {
                expected: 32,
                got: s.to_owned(),
            });
        }
        format!("{s:0>32}").parse()
    }

    /// Parses the base64 form Tempo's trace-by-id JSON uses.
    pub fn from_base64(s: &str) -> Result<Self, IdError> {
        decode_base64::<16>(s).map(TraceId)
    }

    pub fn to_base64(self) -> String {
        BASE64.encode(self.0)
    }
}

impl SpanId {
    /// Span `index` of trace `slot` in the run seeded with `seed`.
    pub fn from_seed(seed: Seed, slot: u64, index: u32) -> Self {
        let word = seed.word(slot, DOMAIN_SPAN.wrapping_add(u64::from(index) << 8));
        let mut bytes = word.to_be_bytes();
        if bytes == [0; 8] {
            bytes[7] = 1;
        }
        SpanId(bytes)
    }

    pub fn from_base64(s: &str) -> Result<Self, IdError> {
        decode_base64::<8>(s).map(SpanId)
    }

    pub fn to_base64(self) -> String {
        BASE64.encode(self.0)
    }
}

fn decode_base64<const N: usize>(s: &str) -> Result<[u8; N], IdError> {
    let err = || IdError::Base64 {
        expected: N,
        got: s.to_owned(),
    };
    let bytes = BASE64.decode(s).map_err(|_| err())?;
    bytes.try_into().map_err(|_| err())
}

fn parse_hex<const N: usize>(s: &str) -> Result<[u8; N], IdError> {
    if s.len() != N * 2 {
        return Err(IdError::HexLength {
            expected: N * 2,
            got: s.to_owned(),
        });
    }
    let mut out = [0u8; N];
    for (i, pair) in s.as_bytes().chunks_exact(2).enumerate() {
        let hi = hex_value(pair[0]).ok_or_else(|| IdError::NotHex(s.to_owned()))?;
        let lo = hex_value(pair[1]).ok_or_else(|| IdError::NotHex(s.to_owned()))?;
        out[i] = hi << 4 | lo;
    }
    if out == [0u8; N] {
        return Err(IdError::Zero);
    }
    Ok(out)
}

const fn hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

fn write_hex(f: &mut fmt::Formatter<'_>, bytes: &[u8]) -> fmt::Result {
    for b in bytes {
        write!(f, "{b:02x}")?;
    }
    Ok(())
}

impl FromStr for TraceId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        parse_hex::<16>(s).map(TraceId)
    }
}

impl FromStr for SpanId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        parse_hex::<8>(s).map(SpanId)
    }
}

impl fmt::Display for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_hex(f, &self.0)
    }
}

impl fmt::Display for SpanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_hex(f, &self.0)
    }
}

impl fmt::Debug for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TraceId({self})")
    }
}

impl fmt::Debug for SpanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SpanId({self})")
    }
}

macro_rules! hex_serde {
    ($ty:ty) => {
        impl serde::Serialize for $ty {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }
        impl<'de> serde::Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}
hex_serde!(TraceId);
hex_serde!(SpanId);

/// A W3C Trace Context `traceparent` header (version 00).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Traceparent {
    pub trace_id: TraceId,
    pub parent_id: SpanId,
    pub sampled: bool,
}

impl fmt::Display for Traceparent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let flags = if self.sampled { "01" } else { "00" };
        write!(f, "00-{}-{}-{flags}", self.trace_id, self.parent_id)
    }
}

impl FromStr for Traceparent {
    type Err = IdError;

    /// Parses version `00` strictly and, as the spec asks, accepts higher
    /// versions with extra trailing fields.
    fn from_str(s: &str) -> Result<Self, IdError> {
        let bad = || IdError::Traceparent(s.to_owned());
        let s = s.trim();
        let mut parts = s.split('-');
        let (Some(version), Some(trace), Some(parent), Some(flags)) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(bad());
        };
        let version = parse_hex::<1>(version).or_else(|e| match e {
            IdError::Zero => Ok([0]),
            other => Err(other),
        });
        let version = version.map_err(|_| bad())?[0];
        if version == 0xff || (version == 0 && parts.next().is_some()) {
            return Err(bad());
        }
        if trace.bytes().any(|c| c.is_ascii_uppercase()) {
            return Err(bad());
        }
        let flags = match parse_hex::<1>(flags) {
            Ok([f]) => f,
            Err(IdError::Zero) => 0,
            Err(_) => return Err(bad()),
        };
        Ok(Traceparent {
            trace_id: trace.parse().map_err(|_| bad())?,
            parent_id: parent.parse().map_err(|_| bad())?,
            sampled: flags & 1 == 1,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_reproducible_from_seed_and_slot() {
        let seed = Seed(42);
        assert_eq!(TraceId::from_seed(seed, 7), TraceId::from_seed(seed, 7));
        assert_ne!(TraceId::from_seed(seed, 7), TraceId::from_seed(seed, 8));
        assert_ne!(TraceId::from_seed(seed, 7), TraceId::from_seed(Seed(43), 7));
        assert_eq!(SpanId::from_seed(seed, 7, 1), SpanId::from_seed(seed, 7, 1));
        assert_ne!(SpanId::from_seed(seed, 7, 0), SpanId::from_seed(seed, 7, 1));
    }

    #[test]
    fn hex_round_trips_and_rejects_bad_input() {
        let id: TraceId = "4bf92f3577b34da6a3ce929d0e0e4736".parse().unwrap();
        assert_eq!(id.to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert!(matches!("4bf92f".parse::<TraceId>(), Err(IdError::HexLength { .. })));
        assert!(matches!(
            "zzf92f3577b34da6a3ce929d0e0e4736".parse::<TraceId>(),
            Err(IdError::NotHex(_))
        ));
        assert_eq!(
            "00000000000000000000000000000000".parse::<TraceId>(),
            Err(IdError::Zero)
        );
        let span: SpanId = "00f067aa0ba902b7".parse().unwrap();
        assert_eq!(span.to_string(), "00f067aa0ba902b7");
    }

    #[test]
    fn base64_matches_tempo_examples() {
        // The pair from shared/reference/api/03-tempo.md §3.2.
        let trace = TraceId::from_base64("S/kvNXezTaajzpKdDg5HNg==").unwrap();
        assert_eq!(trace.to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(trace.to_base64(), "S/kvNXezTaajzpKdDg5HNg==");
        let span = SpanId::from_base64("APBnqgupArc=").unwrap();
        assert_eq!(span.to_string(), "00f067aa0ba902b7");
        assert!(TraceId::from_base64("APBnqgupArc=").is_err());
        assert!(SpanId::from_base64("not base64!").is_err());
    }

    #[test]
    fn search_ids_with_trimmed_zeros_are_padded() {
        let id = TraceId::from_trimmed_hex("f92f3577b34da6a3ce929d0e0e4736").unwrap();
        assert_eq!(id.to_string(), "00f92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(
            TraceId::from_trimmed_hex("1").unwrap().to_string(),
            "00000000000000000000000000000001"
        );
        assert!(TraceId::from_trimmed_hex("").is_err());
        assert!(TraceId::from_trimmed_hex(&"a".repeat(33)).is_err());
    }

    #[test]
    fn traceparent_formats_and_parses() {
        let tp = Traceparent {
            trace_id: "4bf92f3577b34da6a3ce929d0e0e4736".parse().unwrap(),
            parent_id: "00f067aa0ba902b7".parse().unwrap(),
            sampled: true,
        };
        let text = tp.to_string();
        assert_eq!(text, "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
        assert_eq!(text.parse::<Traceparent>().unwrap(), tp);
        let unsampled: Traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"
            .parse()
            .unwrap();
        assert!(!unsampled.sampled);
        // A future version may carry more fields.
        assert!(
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra"
                .parse::<Traceparent>()
                .is_ok()
        );
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-zz",
        ] {
            assert!(bad.parse::<Traceparent>().is_err(), "{bad:?} parsed");
        }
    }
}
