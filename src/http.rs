//! The HTTP client every query client and emitter shares, and the error that
//! says what was tried, what came back and what to do.
//!
//! Redirects are never followed: Grafana behind a sub-path with a `root_url`
//! that lacks the port redirects to a broken address
//! (`shared/reference/api/README.md`, gotcha 7), and a redirect to a login
//! page would otherwise read as a 200.
//!
//! Uses: target.

use std::time::Duration;

use url::Url;

use crate::target::{Credential, ReadEndpoint, join_path};

/// Builds the client for a run: one connection pool, bounded connect and
/// request timeouts, no redirects.
pub fn client(request_timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(request_timeout.min(Duration::from_secs(3)))
        .timeout(request_timeout)
        .user_agent(concat!("pillars/", env!("CARGO_PKG_VERSION")))
        .build()
        .expect("a client with only timeouts and a redirect policy always builds")
}

/// Adds the endpoint's credential to a request.
pub fn authorize(req: reqwest::RequestBuilder, credential: Option<&Credential>) -> reqwest::RequestBuilder {
    match credential {
        Some(Credential::Bearer(token)) => req.bearer_auth(token.expose()),
        Some(Credential::Basic { user, password }) => req.basic_auth(user, Some(password.expose())),
        None => req,
    }
}

/// A store's read API: the base URL (the store itself or Grafana's proxy for
/// it), its credential, and the name errors use.
#[derive(Debug, Clone)]
pub struct ReadClient {
    http: reqwest::Client,
    base: Url,
    credential: Option<Credential>,
    timeout: Duration,
    what: &'static str,
}

/// The largest response body pillars reads; past it the answer is a
/// read failure, so a misbehaving endpoint cannot fill memory.
pub const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

/// What came back from one call.
#[derive(Debug)]
pub struct Answer {
    pub url: Url,
    pub status: u16,
    /// The `Content-Type` header, lower-cased.
    pub content_type: String,
    pub body: Vec<u8>,
}

impl Answer {
    /// The error for an answer that was not what the caller expected.
    pub fn unexpected(&self, what: &str) -> HttpError {
        HttpError::status(what, &self.url, self.status, &self.body)
    }

    /// Parses a 2xx JSON body, or says what came back instead.
    pub fn json<T: serde::de::DeserializeOwned>(&self, what: &str) -> Result<T, HttpError> {
        if !(200..300).contains(&self.status) {
            return Err(self.unexpected(what));
        }
        if self.content_type.starts_with("text/html") {
            return Err(HttpError::decode(
                what,
                &self.url,
                format!(
                    "an HTML page came back where JSON was expected ({}); is a proxy or login page in front of it?",
                    excerpt(&self.body)
                ),
            ));
        }
        serde_json::from_slice(&self.body).map_err(|e| HttpError::decode(what, &self.url, e))
    }
}

/// Reads a response to its end, at most [`MAX_BODY_BYTES`].
pub async fn read_body(
    mut resp: reqwest::Response,
    what: &str,
    url: &Url,
    timeout: Duration,
) -> Result<Answer, HttpError> {
    let status = resp.status().as_u16();
    let content_type = resp
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    let too_big = || HttpError::Oversize {
        what: what.to_owned(),
        url: url.to_string(),
        limit: MAX_BODY_BYTES,
    };
    if resp.content_length().is_some_and(|n| n > MAX_BODY_BYTES as u64) {
        return Err(too_big());
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| HttpError::from_reqwest(what, url, timeout, e))?
    {
        if body.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(too_big());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Answer {
        url: url.clone(),
        status,
        content_type,
        body,
    })
}

impl ReadClient {
    pub fn new(http: reqwest::Client, endpoint: &ReadEndpoint, timeout: Duration, what: &'static str) -> Self {
        ReadClient {
            http,
            base: endpoint.base.clone(),
            credential: endpoint.credential.clone(),
            timeout,
            what,
        }
    }

    pub fn base(&self) -> &Url {
        &self.base
    }

    pub fn what(&self) -> &'static str {
        self.what
    }

    pub fn url(&self, path: &str, query: &[(&str, String)]) -> Url {
        let mut url = join_path(&self.base, path);
        if !query.is_empty() {
            url.query_pairs_mut()
                .extend_pairs(query.iter().map(|(k, v)| (*k, v.as_str())));
        }
        url
    }

    /// `GET <base>/<path>?<query>` with extra headers.
    pub async fn get(
        &self,
        path: &str,
        query: &[(&str, String)],
        headers: &[(&str, &str)],
    ) -> Result<Answer, HttpError> {
        let url = self.url(path, query);
        let mut req = self.http.get(url.clone()).header("accept", "application/json");
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        self.send(url, req).await
    }

    /// `POST <base>/<path>` with a JSON body (Connect RPC, Grafana's APIs).
    pub async fn post_json(&self, path: &str, body: &serde_json::Value) -> Result<Answer, HttpError> {
        let url = self.url(path, &[]);
        let req = self.http.post(url.clone()).json(body);
        self.send(url, req).await
    }

    async fn send(&self, url: Url, req: reqwest::RequestBuilder) -> Result<Answer, HttpError> {
        let resp = authorize(req, self.credential.as_ref())
            .send()
            .await
            .map_err(|e| HttpError::from_reqwest(self.what, &url, self.timeout, e))?;
        read_body(resp, self.what, &url, self.timeout).await
    }

    /// `GET <path>` must answer 200 (readiness endpoints).
    pub async fn expect_ok(&self, path: &str) -> Result<(), HttpError> {
        let answer = self.get(path, &[], &[]).await?;
        if answer.status == 200 {
            Ok(())
        } else {
            Err(answer.unexpected(self.what))
        }
    }
}

/// A failed call to a component of the stack.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error(
        "could not reach {what} at {url}: {detail}; check that it is running and that the target names the right address"
    )]
    Unreachable { what: String, url: String, detail: String },
    #[error("{what} at {url} did not answer within {}", humantime::format_duration(*timeout))]
    Timeout {
        what: String,
        url: String,
        timeout: Duration,
    },
    #[error("{what} at {url} answered {status}{}{}", excerpt_suffix(body), hint(*status))]
    Status {
        what: String,
        url: String,
        status: u16,
        body: String,
    },
    #[error("{what} at {url} answered with a body pillars could not read: {detail}")]
    Decode { what: String, url: String, detail: String },
    #[error("{what} at {url} answered with a body over {} MiB; pillars stopped reading it", limit / (1024 * 1024))]
    Oversize { what: String, url: String, limit: usize },
}

impl HttpError {
    /// Whether pillars could not talk to the component at all, as opposed to
    /// the component answering wrongly.
    pub fn is_unreachable(&self) -> bool {
        matches!(self, HttpError::Unreachable { .. } | HttpError::Timeout { .. })
    }

    /// The HTTP status that came back, if one did.
    pub fn status_code(&self) -> Option<u16> {
        match self {
            HttpError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// Classifies a transport error from reqwest.
    pub fn from_reqwest(what: &str, url: &Url, timeout: Duration, err: reqwest::Error) -> Self {
        if err.is_timeout() {
            HttpError::Timeout {
                what: what.to_owned(),
                url: url.to_string(),
                timeout,
            }
        } else if err.is_decode() || err.is_body() {
            HttpError::Decode {
                what: what.to_owned(),
                url: url.to_string(),
                detail: error_chain(&err),
            }
        } else {
            HttpError::Unreachable {
                what: what.to_owned(),
                url: url.to_string(),
                detail: error_chain(&err),
            }
        }
    }

    /// A non-success status, keeping an excerpt of the body as evidence.
    pub fn status(what: &str, url: &Url, status: u16, body: &[u8]) -> Self {
        HttpError::Status {
            what: what.to_owned(),
            url: url.to_string(),
            status,
            body: excerpt(body),
        }
    }

    pub fn decode(what: &str, url: &Url, detail: impl std::fmt::Display) -> Self {
        HttpError::Decode {
            what: what.to_owned(),
            url: url.to_string(),
            detail: detail.to_string(),
        }
    }
}

/// The first 300 characters of a body, on one line, control characters
/// spelled out (a server's bytes must not drive the user's terminal).
pub fn excerpt(body: &[u8]) -> String {
    const MAX: usize = 300;
    let text = String::from_utf8_lossy(body);
    let one_line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut one_line = crate::console::printable(&one_line).into_owned();
    if one_line.len() > MAX {
        let cut = (0..=MAX).rev().find(|&i| one_line.is_char_boundary(i)).unwrap_or(0);
        one_line.truncate(cut);
        one_line.push('…');
    }
    one_line
}

fn excerpt_suffix(body: &str) -> String {
    if body.is_empty() {
        String::new()
    } else {
        format!(": {body}")
    }
}

fn hint(status: u16) -> &'static str {
    match status {
        401 | 403 => "; the credentials were refused: check the variables named under [auth] in the target file",
        301 | 302 | 303 | 307 | 308 => {
            "; pillars does not follow redirects: point the target at the final URL (for Grafana, include its sub-path)"
        }
        404 => "; check the URL and, through Grafana, the datasource uid",
        429 => "; the component is rate limiting: lower the rate",
        _ => "",
    }
}

/// The error and its sources on one line, for evidence and messages.
pub fn error_chain(err: &dyn std::error::Error) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = cause.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excerpt_is_short_and_on_one_line() {
        assert_eq!(excerpt(b"a\n  b\tc"), "a b c");
        let long = "x".repeat(1000);
        let cut = excerpt(long.as_bytes());
        assert!(cut.chars().count() <= 301 && cut.ends_with('…'));
    }

    #[test]
    fn status_errors_carry_a_hint() {
        let url = Url::parse("http://g/api/health").unwrap();
        let msg = HttpError::status("Grafana", &url, 401, b"unauthorized").to_string();
        assert!(msg.contains("401") && msg.contains("[auth]"), "{msg}");
    }
}
