//! The ingest clock: for every acknowledged write, the time until it is first
//! readable, polling with backoff under a deadline.
//!
//! Waiting has two tiers, as Loki Canary and Tempo Vulture do it: a readiness
//! guard keeps an item out of the queries until its write could be visible
//! (`ready_after`), then items are polled with backoff until `wait`; whatever
//! is still pending is re-checked with the confirming probe (a wider query)
//! until `max_wait` before it is declared missing. Time is tokio's clock, so
//! tests run this in paused, virtual time.
//!
//! Uses: measure::latency, query::http (errors).

use std::future::Future;
use std::hash::Hash;
use std::time::Duration;

use tokio::time::Instant;

use crate::measure::latency::LatencyHistogram;
use crate::query::http::HttpError;

/// How to poll.
#[derive(Debug, Clone)]
pub struct PollPlan {
    /// No item is queried until this long after its write was acknowledged.
    pub ready_after: Duration,
    /// Poll until this long after the last write; then confirm.
    pub wait: Duration,
    /// Give up this long after the last write.
    pub max_wait: Duration,
    pub first_backoff: Duration,
    pub max_backoff: Duration,
}

impl PollPlan {
    pub fn new(ready_after: Duration, wait: Duration, max_wait: Duration) -> Self {
        PollPlan {
            ready_after,
            wait,
            max_wait: max_wait.max(wait),
            first_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_secs(2),
        }
    }
}

/// Which tier a probe is called in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// The ordinary query, up to `wait`.
    Wait,
    /// The confirming query, from `wait` to `max_wait`.
    Confirm,
}

/// What the clock saw.
#[derive(Debug)]
pub struct Watched<K> {
    /// Items read back, with their write-to-read latency, in the order found.
    pub found: Vec<(K, Duration)>,
    /// Items never read back by `max_wait`.
    pub missing: Vec<K>,
    pub histogram: LatencyHistogram,
    /// Items first seen by a confirming probe.
    pub confirmed_late: usize,
    pub polls: u32,
    /// The last query error, kept as evidence.
    pub last_error: Option<HttpError>,
    /// The store stopped answering at all; polling was abandoned.
    pub unreachable: bool,
}

/// Consecutive "could not reach" errors after which polling stops: a store
/// that is down will not come back within a check's deadline.
const UNREACHABLE_LIMIT: u32 = 3;

/// Polls `probe` with the pending items until each is found or the plan's
/// deadline passes. `probe` returns the subset of the items it could read.
pub async fn watch<K, F, Fut>(plan: &PollPlan, items: Vec<(K, Instant)>, mut probe: F) -> Watched<K>
where
    K: Clone + Eq + Hash,
    F: FnMut(Phase, Vec<K>) -> Fut,
    Fut: Future<Output = Result<Vec<K>, HttpError>>,
{
    let mut out = Watched {
        found: Vec::new(),
        missing: Vec::new(),
        histogram: LatencyHistogram::default(),
        confirmed_late: 0,
        polls: 0,
        last_error: None,
        unreachable: false,
    };
    let Some(last_ack) = items.iter().map(|(_, at)| *at).max() else {
        return out;
    };
    let wait_until = last_ack + plan.wait;
    let give_up_at = last_ack + plan.max_wait;
    let mut pending = items;
    let mut backoff = plan.first_backoff;
    let mut unreachable_streak = 0;

    while !pending.is_empty() {
        let now = Instant::now();
        if now >= give_up_at {
            break;
        }
        let ready: Vec<K> = pending
            .iter()
            .filter(|(_, at)| *at + plan.ready_after <= now)
            .map(|(k, _)| k.clone())
            .collect();
        if ready.is_empty() {
            let earliest = pending.iter().map(|(_, at)| *at + plan.ready_after).min();
            let until = earliest.unwrap_or(give_up_at).min(give_up_at);
            tokio::time::sleep_until(until).await;
            continue;
        }
        let phase = if now < wait_until { Phase::Wait } else { Phase::Confirm };
        out.polls += 1;
        let result = tokio::time::timeout_at(give_up_at, probe(phase, ready)).await;
        let seen_at = Instant::now();
        match result {
            Err(_elapsed) => break,
            Ok(Err(err)) => {
                unreachable_streak = if err.is_unreachable() {
                    unreachable_streak + 1
                } else {
                    0
                };
                out.last_error = Some(err);
                if unreachable_streak >= UNREACHABLE_LIMIT {
                    out.unreachable = true;
                    break;
                }
            }
            Ok(Ok(found)) => {
                unreachable_streak = 0;
                if !found.is_empty() {
                    pending.retain(|(k, at)| {
                        if !found.contains(k) {
                            return true;
                        }
                        let latency = seen_at.saturating_duration_since(*at);
                        out.histogram.record(latency);
                        out.found.push((k.clone(), latency));
                        if phase == Phase::Confirm {
                            out.confirmed_late += 1;
                        }
                        false
                    });
                }
            }
        }
        if pending.is_empty() {
            break;
        }
        let next = (Instant::now() + backoff).min(give_up_at);
        tokio::time::sleep_until(next).await;
        backoff = (backoff * 2).min(plan.max_backoff);
    }
    out.missing = pending.into_iter().map(|(k, _)| k).collect();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    fn plan() -> PollPlan {
        PollPlan::new(Duration::from_secs(2), Duration::from_secs(10), Duration::from_secs(15))
    }

    #[tokio::test(start_paused = true)]
    async fn items_become_visible_and_latency_is_recorded() {
        let t0 = Instant::now();
        let items = vec![(1u32, t0), (2, t0)];
        // Item 1 is readable 3 s after the write, item 2 after 5 s.
        let watched = watch(&plan(), items, |_, keys: Vec<u32>| async move {
            let elapsed = Instant::now() - t0;
            Ok(keys
                .into_iter()
                .filter(|k| elapsed >= Duration::from_secs(if *k == 1 { 3 } else { 5 }))
                .collect())
        })
        .await;
        assert!(watched.missing.is_empty());
        let l1 = watched.found.iter().find(|(k, _)| *k == 1).unwrap().1;
        let l2 = watched.found.iter().find(|(k, _)| *k == 2).unwrap().1;
        assert!(l1 >= Duration::from_secs(3) && l1 < Duration::from_secs(5), "{l1:?}");
        assert!(l2 >= Duration::from_secs(5) && l2 < Duration::from_secs(8), "{l2:?}");
        assert_eq!(watched.histogram.count(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn readiness_guard_holds_the_first_query_back() {
        let t0 = Instant::now();
        let first_query = Arc::new(Mutex::new(None));
        let seen = first_query.clone();
        watch(&plan(), vec![(1u32, t0)], move |_, keys: Vec<u32>| {
            seen.lock().unwrap().get_or_insert(Instant::now() - t0);
            async move { Ok(keys) }
        })
        .await;
        assert!(first_query.lock().unwrap().unwrap() >= Duration::from_secs(2));
    }

    #[tokio::test(start_paused = true)]
    async fn missing_items_are_confirmed_then_declared_at_max_wait() {
        let t0 = Instant::now();
        let phases = Arc::new(Mutex::new(Vec::new()));
        let log = phases.clone();
        let watched = watch(&plan(), vec![(7u32, t0)], move |phase, _keys: Vec<u32>| {
            log.lock().unwrap().push(phase);
            async { Ok(Vec::new()) }
        })
        .await;
        assert_eq!(watched.missing, vec![7]);
        let elapsed = Instant::now() - t0;
        assert!(
            elapsed >= Duration::from_secs(15) && elapsed < Duration::from_secs(16),
            "{elapsed:?}"
        );
        let phases = phases.lock().unwrap();
        assert_eq!(phases.first(), Some(&Phase::Wait));
        assert_eq!(phases.last(), Some(&Phase::Confirm));
    }

    #[tokio::test(start_paused = true)]
    async fn an_unreachable_store_stops_the_polling_early() {
        let t0 = Instant::now();
        let watched = watch(&plan(), vec![(1u32, t0)], |_, _keys: Vec<u32>| async {
            Err(HttpError::Unreachable {
                what: "Tempo".into(),
                url: "http://127.0.0.1:1".into(),
                detail: "connection refused".into(),
            })
        })
        .await;
        assert!(watched.unreachable);
        assert_eq!(watched.missing, vec![1]);
        assert!(Instant::now() - t0 < Duration::from_secs(5));
    }
}
