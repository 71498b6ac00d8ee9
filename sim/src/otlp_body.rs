//! Decoding OTLP/HTTP request bodies the way collectors and Loki/Mimir do:
//! `application/x-protobuf` or `application/json`, optionally compressed;
//! another content type is 415, a body that does not decode is 400.
//!
//! Loki's and Mimir's OTLP endpoints take no encoding (or `identity`) or
//! `gzip`, anything else 415 (`decode`). Alloy's OTLP receiver
//! (`decode_collector`) is the collector's v0.142 `confighttp`
//! decompressor (`config/confighttp/compression.go`) in front of
//! `receiver/otlpreceiver/otlphttp.go`, and refuses in their order: the
//! decompressor's `Content-Encoding` lookup is exact (`GZIP` and
//! `identity` are 400 `unsupported Content-Encoding: <v>`) and its
//! `gzip.NewReader`/`zlib.NewReader` read the stream's header at once
//! (`gzip: invalid header`); `gzip`, `zlib` and `deflate` (both
//! zlib-wrapped, as Python's `zlib.compress` writes) are decoded here,
//! while `zstd`, `snappy`, `lz4` and `x-snappy-framed`, which it also
//! takes, are a 415 saying the reference stack does not decode them; then
//! the handler's media type (`mime.ParseMediaType`), then reading the
//! body (20 MiB at most once inflated, `http: request body too large`),
//! then unmarshalling.
//!
//! Uses: nothing else in the crate.

use std::io::Read;

use axum::http::{HeaderMap, StatusCode, header};

/// Whether the request body is OTLP/JSON.
pub fn is_json(headers: &HeaderMap) -> bool {
    content_type(headers).starts_with("application/json")
}

fn content_type(headers: &HeaderMap) -> &str {
    header_text(headers, header::CONTENT_TYPE)
}

/// `Header.Get("Content-Encoding")`, exact.
fn content_encoding(headers: &HeaderMap) -> &str {
    header_text(headers, header::CONTENT_ENCODING)
}

fn header_text(headers: &HeaderMap, name: header::HeaderName) -> &str {
    headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default()
}

/// Why a body was refused: the status and message to answer with.
pub type Refusal = (StatusCode, String);

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
    let encoding = content_encoding(headers);
    let inflated;
    let body = match encoding {
        "" | "identity" => body,
        "gzip" => {
            inflated = inflate(body, false)?;
            &inflated
        }
        other => {
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

/// confighttp's default `max_request_body_size`, as Alloy keeps it.
pub const COLLECTOR_MAX_BODY: usize = 20 * 1024 * 1024;

/// The two encodings an OTLP/HTTP receiver speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Protobuf,
    Json,
}

/// `getMimeTypeFromContentType`: the media type `mime.ParseMediaType`
/// reads (lower-cased, parameters checked), or nothing.
pub fn media_type(headers: &HeaderMap) -> Option<Format> {
    let mut parts = content_type(headers).split(';');
    let media = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
    if !parts.all(|p| p.trim().is_empty() || p.split_once('=').is_some_and(|(k, _)| !k.trim().is_empty())) {
        return None;
    }
    match media.as_str() {
        "application/x-protobuf" => Some(Format::Protobuf),
        "application/json" => Some(Format::Json),
        _ => None,
    }
}

/// Where Alloy's OTLP/HTTP receiver refused a body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CollectorRefusal {
    /// confighttp's decompressor, whose error handler answers with the
    /// status and message.
    Decompressor(StatusCode, String),
    /// `handleUnmatchedContentType`.
    UnsupportedMediaType,
    /// `readAndCloseBody` or the unmarshal: `writeError(…, 400)`.
    BadRequest(String),
}

/// What `gzip.NewReader` and `zlib.NewReader` say of a stream's header
/// (Go's `compress/gzip`, `compress/zlib`), if it is wrong.
fn header_error(body: &[u8], zlib: bool) -> Option<&'static str> {
    let need = if zlib { 2 } else { 10 };
    if body.is_empty() {
        return Some("EOF");
    }
    if body.len() < need {
        return Some("unexpected EOF");
    }
    if zlib {
        let h = u16::from(body[0]) << 8 | u16::from(body[1]);
        if body[0] & 0x0f != 8 || body[0] >> 4 > 7 || h % 31 != 0 {
            return Some("zlib: invalid header");
        }
        if body[1] & 0x20 != 0 {
            return Some("zlib: invalid dictionary");
        }
    } else if body[0] != 0x1f || body[1] != 0x8b || body[2] != 8 || body[3] & 0xe0 != 0 {
        return Some("gzip: invalid header");
    }
    None
}

/// Decodes a body as Alloy's OTLP/HTTP receiver does.
pub fn decode_collector<T>(headers: &HeaderMap, body: &[u8]) -> Result<T, CollectorRefusal>
where
    T: prost::Message + Default + serde::de::DeserializeOwned,
{
    let encoding = content_encoding(headers);
    let zlib = match encoding {
        "" => None,
        "gzip" => Some(false),
        "zlib" | "deflate" => Some(true),
        other if COLLECTOR_UNDECODED.contains(&other) => {
            return Err(CollectorRefusal::Decompressor(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!(
                    "Content-Encoding {other} is accepted by Alloy's OTLP receiver but not decoded by the reference stack; send gzip, deflate, zlib or no encoding"
                ),
            ));
        }
        other => {
            return Err(CollectorRefusal::Decompressor(
                StatusCode::BAD_REQUEST,
                format!("unsupported Content-Encoding: {other}"),
            ));
        }
    };
    if let Some(error) = zlib.and_then(|zlib| header_error(body, zlib)) {
        return Err(CollectorRefusal::Decompressor(StatusCode::BAD_REQUEST, error.into()));
    }
    let format = media_type(headers).ok_or(CollectorRefusal::UnsupportedMediaType)?;
    let inflated;
    let body = match zlib {
        None => body,
        Some(zlib) => {
            inflated = inflate(body, zlib).map_err(|(_, message)| CollectorRefusal::BadRequest(message))?;
            &inflated
        }
    };
    if body.len() > COLLECTOR_MAX_BODY {
        return Err(CollectorRefusal::BadRequest("http: request body too large".into()));
    }
    match format {
        Format::Json => serde_json::from_slice(body)
            .map_err(|e| CollectorRefusal::BadRequest(format!("invalid OTLP/JSON body: {e}"))),
        Format::Protobuf => {
            T::decode(body).map_err(|e| CollectorRefusal::BadRequest(format!("invalid OTLP protobuf body: {e}")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, axum::http::HeaderValue::from_static(v));
        }
        h
    }

    /// confighttp's decompressor refuses before the handler looks at the
    /// media type, and Go's readers check a stream's header at once.
    #[test]
    fn the_collector_refuses_in_its_order() {
        let decode = |h: &[(&'static str, &'static str)], body: &[u8]| {
            decode_collector::<ExportTraceServiceRequest>(&headers(h), body).err()
        };
        let bad = |status: StatusCode, msg: &str| Some(CollectorRefusal::Decompressor(status, msg.into()));
        assert_eq!(
            decode(&[("content-type", "text/plain"), ("content-encoding", "br")], b""),
            bad(StatusCode::BAD_REQUEST, "unsupported Content-Encoding: br")
        );
        assert_eq!(
            decode(
                &[("content-type", "text/plain"), ("content-encoding", "gzip")],
                b"not a gzip stream"
            ),
            bad(StatusCode::BAD_REQUEST, "gzip: invalid header")
        );
        assert_eq!(
            decode(&[("content-encoding", "deflate")], b"xx"),
            bad(StatusCode::BAD_REQUEST, "zlib: invalid header")
        );
        assert_eq!(
            decode(&[("content-encoding", "gzip")], b""),
            bad(StatusCode::BAD_REQUEST, "EOF")
        );
        assert_eq!(
            decode(&[("content-type", "text/plain")], b""),
            Some(CollectorRefusal::UnsupportedMediaType)
        );
        assert_eq!(
            decode(&[("content-type", "application/jsonx")], b""),
            Some(CollectorRefusal::UnsupportedMediaType)
        );
        assert!(matches!(
            decode(&[("content-type", "Application/JSON; charset=utf-8")], b"{"),
            Some(CollectorRefusal::BadRequest(_))
        ));
        assert_eq!(decode(&[("content-type", "application/x-protobuf")], b""), None);
    }
}
