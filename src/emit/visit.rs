//! A synthetic frontend visit, as the React app makes one: a call to the
//! backend through the app's base URL carrying the Faro fetch span's
//! `traceparent`, then the session's Faro payload posted to `/collect`.
//! The one place that sets the app client, the Faro sender and the
//! session spec up from a target, for the load's frontend sessions and the
//! correlation checks alike.
//!
//! Uses: emit::{app, faro}, clock, target.

use std::time::Duration;

use tokio::time::Instant;
use url::Url;

use crate::clock::unix_now;
use crate::emit::app::{AppAnswer, AppClient};
use crate::emit::faro::{FaroSender, FrontendSession, FrontendSpec};
use crate::emit::otlp::EmitError;
use crate::ids::Seed;
use crate::target::{Target, join_path};

/// Visits of one run through one target's app.
#[derive(Debug, Clone)]
pub struct Visits {
    pub spec: FrontendSpec,
    app: AppClient,
    faro: FaroSender,
    /// The backend path each visit calls.
    path: String,
}

/// A visit both of whose requests were accepted.
#[derive(Debug, Clone)]
pub struct Visit {
    pub session: FrontendSession,
    /// When the backend call started, unix time: a backend span that
    /// started before is another run's.
    pub started: Duration,
    /// When the backend call was acknowledged.
    pub acked: Instant,
    pub backend: AppAnswer,
    /// The status the Faro receiver accepted the payload with.
    pub faro_status: u16,
}

/// Which request of a visit failed.
#[derive(Debug)]
pub enum VisitError {
    /// The backend call, with the `traceparent` it carried.
    App { traceparent: String, error: EmitError },
    /// The Faro post, after the backend call was accepted.
    Faro { error: EmitError },
}

impl VisitError {
    pub fn into_error(self) -> EmitError {
        match self {
            VisitError::App { error, .. } | VisitError::Faro { error } => error,
        }
    }
}

impl Visits {
    /// Visits calling `path`, or `None` when the target names no app base
    /// URL. The React app posts to `/collect` on its own origin, which the
    /// ALB routes to the Faro receiver; a target that names the receiver's
    /// URL (the ALB's, or the receiver's own port) decides.
    pub fn new(http: reqwest::Client, target: &Target, seed: Seed, run_id: &str, path: &str) -> Option<Visits> {
        let base = target.app.clone()?;
        let timeout = target.limits.request_timeout;
        let collect = target.faro.clone().unwrap_or_else(|| join_path(&base, "collect"));
        Some(Visits {
            spec: FrontendSpec {
                seed,
                run_id: run_id.to_owned(),
                app_name: target.frontend_service.clone(),
                page_url: base.to_string(),
            },
            app: AppClient::new(http.clone(), base, timeout),
            faro: FaroSender::new(http, collect, timeout),
            path: path.to_owned(),
        })
    }

    /// The backend URL each visit calls.
    pub fn app_url(&self) -> Url {
        self.app.url(&self.path)
    }

    pub fn faro_url(&self) -> &Url {
        self.faro.url()
    }

    /// Runs session `slot`: the backend call, then, once it was accepted,
    /// the Faro payload.
    pub async fn visit(&self, slot: u64) -> Result<Visit, VisitError> {
        let session = self.spec.session(slot);
        let traceparent = self.spec.traceparent(&session);
        let started = unix_now();
        let backend = match self.app.get(&self.path, &traceparent).await {
            Ok(answer) => answer,
            Err(error) => return Err(VisitError::App { traceparent, error }),
        };
        let acked = Instant::now();
        let key = format!("{}-{slot}", self.spec.run_id);
        let ack = self
            .faro
            .send(&session.session_id, &key, &self.spec.payload(&session, &self.path))
            .await
            .map_err(|error| VisitError::Faro { error })?;
        Ok(Visit {
            session,
            started,
            acked,
            backend,
            faro_status: ack.status,
        })
    }
}
