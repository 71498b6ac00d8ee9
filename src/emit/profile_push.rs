//! Pushing pprof profiles to Pyroscope's Connect push API
//! (`POST /push.v1.PusherService/Push`, JSON with base64 `rawProfile`,
//! `shared/reference/api/06-pyroscope.md` §6.2b), and the synthetic
//! profiles of the profiles round trip: one per slot, whose leaf frame
//! names the slot.
//!
//! Uses: emit::{pprof, otlp (errors)}, ids, http.

use std::time::Duration;

use base64::Engine as _;
use serde_json::json;
use tokio::time::Instant;
use url::Url;

use crate::emit::otlp::{Ack, EmitError};
use crate::emit::pprof::{self, Profile};
use crate::http::{HttpError, read_body};
use crate::ids::Seed;
use crate::target::join_path;

/// One profile series: its labels and gzipped pprof samples.
#[derive(Debug, Clone)]
pub struct ProfileSeries {
    pub labels: Vec<(String, String)>,
    pub profiles: Vec<Profile>,
}

#[derive(Debug, Clone)]
pub struct PyroscopePusher {
    http: reqwest::Client,
    url: Url,
    timeout: Duration,
}

const WHAT: &str = "Pyroscope's push API";

impl PyroscopePusher {
    /// `base` is the Pyroscope URL (`ingest.pyroscope`).
    pub fn new(http: reqwest::Client, base: &Url, timeout: Duration) -> Self {
        PyroscopePusher {
            http,
            url: join_path(base, "push.v1.PusherService/Push"),
            timeout,
        }
    }

    pub fn url(&self) -> &Url {
        &self.url
    }

    pub async fn push(&self, series: &[ProfileSeries]) -> Result<Ack, EmitError> {
        let b64 = base64::engine::general_purpose::STANDARD;
        let body = json!({
            "series": series.iter().map(|s| json!({
                "labels": s.labels.iter().map(|(name, value)| json!({ "name": name, "value": value })).collect::<Vec<_>>(),
                "samples": s.profiles.iter().enumerate().map(|(i, p)| json!({
                    "ID": format!("pillars-{i}"),
                    "rawProfile": b64.encode(pprof::gzip(p)),
                })).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
        });
        let resp = self
            .http
            .post(self.url.clone())
            .json(&body)
            .send()
            .await
            .map_err(|e| HttpError::from_reqwest(WHAT, &self.url, self.timeout, e))?;
        let answer = read_body(resp, WHAT, &self.url, self.timeout).await?;
        if (200..300).contains(&answer.status) {
            Ok(Ack {
                at: Instant::now(),
                status: answer.status,
            })
        } else {
            Err(answer.unexpected(WHAT).into())
        }
    }
}

/// The synthetic profiles of a run.
#[derive(Debug, Clone)]
pub struct ProfileSpec {
    pub seed: Seed,
    pub run_id: String,
    pub service_name: String,
}

impl ProfileSpec {
    /// The leaf frame of `slot`'s profile: how a flame graph names it.
    pub fn leaf(&self, slot: u64) -> String {
        format!("pillars_slot_{slot}")
    }

    /// One series holding the profiles of `slots`.
    pub fn series(&self, slots: std::ops::Range<u64>, now_unix_nanos: u64) -> ProfileSeries {
        ProfileSeries {
            labels: vec![
                ("__name__".into(), "process_cpu".into()),
                ("service_name".into(), self.service_name.clone()),
                ("pillars_run".into(), self.run_id.clone()),
            ],
            profiles: slots
                .map(|slot| {
                    let leaf = self.leaf(slot);
                    pprof::cpu_profile(
                        &["pillars", "roundtrip", &leaf],
                        None,
                        now_unix_nanos as i64,
                        "pillars.rs",
                    )
                })
                .collect(),
        }
    }
}
