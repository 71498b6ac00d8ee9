//! Decoding OTLP/HTTP request bodies the way collectors and Loki/Mimir do:
//! `application/x-protobuf` or `application/json`, optionally gzipped;
//! anything else is 415, a body that does not decode is 400.
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

pub fn decode<T>(headers: &HeaderMap, body: &[u8]) -> Result<T, Refusal>
where
    T: prost::Message + Default + serde::de::DeserializeOwned,
{
    let encoding = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let inflated;
    let body = match encoding {
        "" | "identity" => body,
        "gzip" => {
            let mut out = Vec::new();
            flate2::read::GzDecoder::new(body)
                .read_to_end(&mut out)
                .map_err(|e| (StatusCode::BAD_REQUEST, format!("invalid gzip body: {e}")))?;
            inflated = out;
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
