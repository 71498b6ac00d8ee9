//! Calls to the app through the ALB's paths (`/api/*` goes to the backend)
//! with the `traceparent` a frontend fetch span puts on them.
//!
//! Uses: http (errors), emit::otlp (acks), target.

use std::time::Duration;

use tokio::time::Instant;
use url::Url;

use crate::emit::otlp::EmitError;
use crate::http::{HttpError, read_body};
use crate::target::join_path;

#[derive(Debug, Clone)]
pub struct AppClient {
    http: reqwest::Client,
    base: Url,
    timeout: Duration,
}

/// A backend call that answered 2xx.
#[derive(Debug, Clone, Copy)]
pub struct AppAnswer {
    pub status: u16,
    pub latency: Duration,
}

const WHAT: &str = "the app";

impl AppClient {
    pub fn new(http: reqwest::Client, base: Url, timeout: Duration) -> Self {
        AppClient { http, base, timeout }
    }

    pub fn url(&self, path: &str) -> Url {
        join_path(&self.base, path)
    }

    /// `GET <base><path>[?query]` for its status, whatever it is: a burst
    /// that means to make the app answer 5xx counts them.
    pub async fn status_of(&self, path_and_query: &str) -> Result<AppAnswer, HttpError> {
        let (path, query) = path_and_query.split_once('?').unwrap_or((path_and_query, ""));
        let mut url = self.url(path);
        if !query.is_empty() {
            url.set_query(Some(query));
        }
        let started = Instant::now();
        let resp = self
            .http
            .get(url.clone())
            .send()
            .await
            .map_err(|e| HttpError::from_reqwest(WHAT, &url, self.timeout, e))?;
        let answer = read_body(resp, WHAT, &url, self.timeout).await?;
        Ok(AppAnswer {
            status: answer.status,
            latency: started.elapsed(),
        })
    }

    /// `GET <base><path>` with `traceparent`; a non-2xx is an error.
    pub async fn get(&self, path: &str, traceparent: &str) -> Result<AppAnswer, EmitError> {
        let url = self.url(path);
        let started = Instant::now();
        let resp = self
            .http
            .get(url.clone())
            .header("traceparent", traceparent)
            .send()
            .await
            .map_err(|e| HttpError::from_reqwest(WHAT, &url, self.timeout, e))?;
        let answer = read_body(resp, WHAT, &url, self.timeout).await?;
        if (200..300).contains(&answer.status) {
            Ok(AppAnswer {
                status: answer.status,
                latency: started.elapsed(),
            })
        } else {
            Err(answer.unexpected(WHAT).into())
        }
    }
}
