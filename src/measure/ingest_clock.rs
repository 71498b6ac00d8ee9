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
//! Each item ends one of three ways: **found**; **missing**, when the last
//! read that asked for it succeeded without it (the store answered: it does
//! not have it); or **undecided**, when the last read that asked for it
//! failed, or it was never read at all. Only missing items say anything
//! about the stack; undecided ones say the read path did not work.
//!
//! Uses: measure::latency, http (errors).

use std::future::Future;
use std::hash::Hash;
use std::time::Duration;

use tokio::time::Instant;

use crate::http::HttpError;
use crate::measure::latency::LatencyHistogram;

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
    /// Items the store, at its last answer by `max_wait`, did not have.
    pub missing: Vec<K>,
    /// Items whose last read failed, or that were never read.
    pub undecided: Vec<K>,
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

/// What one probe learnt about the items it asked for.
#[derive(Debug)]
pub struct Reads<K> {
    /// Items it saw.
    pub found: Vec<K>,
    /// Items whose read failed; the rest were answered, without them.
    pub failed: Vec<K>,
    /// The first error, kept as evidence.
    pub error: Option<HttpError>,
}

/// A probe's result: one read for every item asked (`Result`), or a read
/// per item (`Reads`).
pub trait IntoReads<K> {
    fn into_reads(self, asked: &[K]) -> Reads<K>;
}

impl<K: Clone> IntoReads<K> for Result<Vec<K>, HttpError> {
    fn into_reads(self, asked: &[K]) -> Reads<K> {
        match self {
            Ok(found) => Reads {
                found,
                failed: Vec::new(),
                error: None,
            },
            Err(e) => Reads {
                found: Vec::new(),
                failed: asked.to_vec(),
                error: Some(e),
            },
        }
    }
}

impl<K> IntoReads<K> for Reads<K> {
    fn into_reads(self, _asked: &[K]) -> Reads<K> {
        self
    }
}

impl<K> Reads<K> {
    /// Collects per-item lookups: `Ok(true)` seen, `Ok(false)` answered
    /// without it, `Err` failed.
    pub fn of(results: impl IntoIterator<Item = (K, Result<bool, HttpError>)>) -> Reads<K> {
        let mut reads = Reads {
            found: Vec::new(),
            failed: Vec::new(),
            error: None,
        };
        for (key, result) in results {
            match result {
                Ok(true) => reads.found.push(key),
                Ok(false) => {}
                Err(e) => {
                    reads.failed.push(key);
                    reads.error.get_or_insert(e);
                }
            }
        }
        reads
    }
}

/// Polls `probe` with the pending items until each is found or the plan's
/// deadline passes. `probe` returns what it could read of the items.
pub async fn watch<K, F, Fut, R>(plan: &PollPlan, items: Vec<(K, Instant)>, mut probe: F) -> Watched<K>
where
    K: Clone + Eq + Hash,
    F: FnMut(Phase, Vec<K>) -> Fut,
    Fut: Future<Output = R>,
    R: IntoReads<K>,
{
    let mut out = Watched {
        found: Vec::new(),
        missing: Vec::new(),
        undecided: Vec::new(),
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
    // Whether the last read that asked for an item succeeded.
    let mut answered: std::collections::HashMap<K, bool> = std::collections::HashMap::new();
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
        let asked = ready.clone();
        // A read still under way at the deadline failed.
        let Ok(result) = tokio::time::timeout_at(give_up_at, probe(phase, ready)).await else {
            for k in asked {
                answered.insert(k, false);
            }
            break;
        };
        let reads = result.into_reads(&asked);
        let seen_at = Instant::now();
        for k in &asked {
            answered.insert(k.clone(), !reads.failed.contains(k));
        }
        let all_failed = reads.found.is_empty() && reads.failed.len() == asked.len();
        match reads.error {
            Some(err) => {
                unreachable_streak = if all_failed && err.is_unreachable() {
                    unreachable_streak + 1
                } else {
                    0
                };
                out.last_error = Some(err);
            }
            None => unreachable_streak = 0,
        }
        if !reads.found.is_empty() {
            pending.retain(|(k, at)| {
                if !reads.found.contains(k) {
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
        if unreachable_streak >= UNREACHABLE_LIMIT {
            out.unreachable = true;
            break;
        }
        if pending.is_empty() {
            break;
        }
        let next = (Instant::now() + backoff).min(give_up_at);
        tokio::time::sleep_until(next).await;
        backoff = (backoff * 2).min(plan.max_backoff);
    }
    for (k, _) in pending {
        if answered.get(&k).copied().unwrap_or(false) {
            out.missing.push(k);
        } else {
            out.undecided.push(k);
        }
    }
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
        assert!(watched.missing.is_empty());
        assert_eq!(watched.undecided, vec![1]);
        assert!(Instant::now() - t0 < Duration::from_secs(5));
    }

    fn rejected() -> HttpError {
        HttpError::Status {
            what: "Loki".into(),
            url: "http://127.0.0.1:1/loki/api/v1/query_range".into(),
            status: 400,
            body: "parse error at line 1, col 16: invalid char escape".into(),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_read_path_that_always_fails_leaves_items_undecided_not_missing() {
        let t0 = Instant::now();
        let watched = watch(&plan(), vec![(1u32, t0), (2, t0)], |_, _keys: Vec<u32>| async {
            Err::<Vec<u32>, _>(rejected())
        })
        .await;
        assert!(watched.missing.is_empty(), "{watched:?}");
        assert_eq!(watched.undecided.len(), 2);
        assert!(!watched.unreachable);
        assert!(watched.last_error.unwrap().to_string().contains("invalid char escape"));
    }

    #[tokio::test(start_paused = true)]
    async fn the_last_read_decides_between_missing_and_undecided() {
        let t0 = Instant::now();
        // Item 1's reads succeed without it; item 2's fail from 5 s on;
        // item 3 is found.
        let watched = watch(
            &plan(),
            vec![(1u32, t0), (2, t0), (3, t0)],
            |_, keys: Vec<u32>| async move {
                let late = Instant::now() - t0 >= Duration::from_secs(5);
                Reads::of(keys.into_iter().map(|k| {
                    let result = match k {
                        3 => Ok(true),
                        2 if late => Err(rejected()),
                        _ => Ok(false),
                    };
                    (k, result)
                }))
            },
        )
        .await;
        assert_eq!(watched.found.len(), 1);
        assert_eq!(watched.missing, vec![1]);
        assert_eq!(watched.undecided, vec![2]);
    }
}
