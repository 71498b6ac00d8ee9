//! Decoding OTLP/HTTP request bodies the way collectors and Loki/Mimir do:
//! `application/x-protobuf` or `application/json`, optionally compressed;
//! another content type is 415, a body that does not decode is 400.
//!
//! Loki's and Mimir's OTLP endpoints take no encoding (or `identity`) or
//! `gzip`, anything else 415. Alloy's OTLP receiver is the collector's `confighttp`
//! (v0.142, `config/confighttp/compression.go`): `gzip`, `zlib` and
//! `deflate` (both zlib-wrapped, as Python's `zlib.compress` writes) are
//! decoded here; `zstd`, `snappy`, `lz4` and `x-snappy-framed`, which it
//! also takes, are a 415 saying the reference stack does not decode them;
//! any other value is confighttp's 400 `unsupported Content-Encoding: <v>`
//! (its lookup is exact: `GZIP` and `identity` included).
//!
//! Uses: nothing else in the crate.

use std::io::Read;

use axum::http::{HeaderMap, StatusCode, header};

/// Whether the request body is OTLP/JSON.
pub fn is_json(headers: &HeaderMap) -> bool {
    content_type(headers).starts_with("application/json")
}

fn content_type(headers: &HeaderMap) -> &str {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

/// Why a body was refused: the status and message to answer with.
pub type Refusal = (StatusCode, String);

/// Which `Content-Encoding`s an endpoint takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encodings {
    /// Loki's and Mimir's OTLP endpoints: none or `gzip`.
    Gzip,
    /// Alloy's OTLP receiver (the collector's `confighttp`).
    Collector,
}

/// Encodings confighttp decodes that the reference stack does not.
const COLLECTOR_UNDECODED: &[&str] = &["zstd", "snappy", "lz4", "x-snappy-framed"];

fn inflate(body: &[u8], zlib: bool) -> Result<Vec<u8>, Refusal> {
    let mut out = Vec::new();
    let read = if zlib {
        flate2::read::ZlibDecoder::new(body).read_to_end(&mut out)
    } else {
        flate2::read::GzDecoder::new(body).read_to_end(&mut out)
    };
    let name = if zlib { "zlib" } else { "gzip" };
    read.map_err(|e| (StatusCode::BAD_REQUEST, format!("invalid {name} body: {e}")))?;
    Ok(out)
}

/// Decodes a body as Loki's and Mimir's OTLP endpoints do.
pub fn decode<T>(headers: &HeaderMap, body: &[u8]) -> Result<T, Refusal>
where
    T: prost::Message + Default + serde::de::DeserializeOwned,
{
    decode_with(Encodings::Gzip, headers, body)
}

/// Decodes a body as an endpoint taking `encodings` does.
pub fn decode_with<T>(encodings: Encodings, headers: &HeaderMap, body: &[u8]) -> Result<T, Refusal>
where
    T: prost::Message + Default + serde::de::DeserializeOwned,
{
    let encoding = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let inflated;
    let body = match (encodings, encoding) {
        (_, "") | (Encodings::Gzip, "identity") => body,
        (_, "gzip") => {
            inflated = inflate(body, false)?;
            &inflated
        }
        (Encodings::Collector, "zlib" | "deflate") => {
            inflated = inflate(body, true)?;
            &inflated
        }
        (Encodings::Collector, other) if COLLECTOR_UNDECODED.contains(&other) => {
            return Err((
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!(
                    "Content-Encoding {other} is accepted by Alloy's OTLP receiver but not decoded by the reference stack; send gzip, deflate, zlib or no encoding"
                ),
            ));
        }
        (Encodings::Collector, other) => {
            return Err((
                StatusCode::BAD_REQUEST,
                format!("unsupported Content-Encoding: {other}"),
            ));
        }
        (Encodings::Gzip, other) => {
            return Err((
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!("unsupported content encoding {other:?}"),
            ));
        }
    };
    let content_type = content_type(headers);
    if content_type.starts_with("application/json") {
        serde_json::from_slice(body).map_err(|e| (StatusCode::BAD_REQUEST, format!("invalid OTLP/JSON body: {e}")))
    } else if content_type.starts_with("application/x-protobuf") {
        T::decode(body).map_err(|e| (StatusCode::BAD_REQUEST, format!("invalid OTLP protobuf body: {e}")))
    } else {
        Err((
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("unsupported content type {content_type:?}: use application/x-protobuf or application/json"),
        ))
    }
}
