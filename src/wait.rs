//! `wait_for`: the one polling helper for conditions that are not ingest
//! items (a component becoming ready, a sim coming up). Backs off, stops at
//! its deadline and says what it last saw. `read_until` polls one read of
//! the stack the same way and ends it three ways, as the ingest clock does:
//! found, absent (the last read answered without it) or undecided (the
//! last read failed).
//!
//! Uses: http (errors).

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

/// One look at the condition.
pub enum Probe<T> {
    Ready(T),
    /// Not yet; the text says what was seen, for the timeout message.
    NotYet(String),
    /// Will not become true by waiting (e.g. nothing listens on the port).
    GiveUp(String),
}

#[derive(Debug, thiserror::Error)]
#[error("{what} was not reached within {}: last saw {last}", humantime::format_duration(*waited))]
pub struct WaitError {
    pub what: String,
    pub waited: Duration,
    pub last: String,
    /// The probe said waiting could not help (e.g. nothing listens).
    pub gave_up: bool,
}

pub async fn wait_for<T, F, Fut>(deadline: Duration, what: &str, mut probe: F) -> Result<T, WaitError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Probe<T>>,
{
    let start = Instant::now();
    let until = start + deadline;
    let mut backoff = Duration::from_millis(100);
    loop {
        let last = match tokio::time::timeout_at(until, probe()).await {
            Ok(Probe::Ready(value)) => return Ok(value),
            Ok(Probe::NotYet(last)) => last,
            Ok(Probe::GiveUp(last)) => {
                return Err(WaitError {
                    what: what.to_owned(),
                    waited: start.elapsed(),
                    last,
                    gave_up: true,
                });
            }
            Err(_) => "no answer before the deadline".to_owned(),
        };
        if Instant::now() + backoff >= until {
            return Err(WaitError {
                what: what.to_owned(),
                waited: start.elapsed(),
                last,
                gave_up: false,
            });
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(2));
    }
}

/// How a polled read ended.
#[derive(Debug)]
pub enum Looked<T> {
    Found(T),
    /// The store answered, to the end, without it.
    Absent,
    /// The last read failed (or none finished): nothing can be said.
    Undecided(crate::http::HttpError),
    /// No read finished before the deadline.
    NoAnswer,
}

/// Polls `read` with backoff until it yields a value or `deadline` passes;
/// a store that cannot be reached three times running is given up on.
pub async fn read_until<T, F, Fut>(deadline: Duration, mut read: F) -> Looked<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Option<T>, crate::http::HttpError>>,
{
    let until = Instant::now() + deadline;
    let mut backoff = Duration::from_millis(100);
    let mut last = Looked::NoAnswer;
    let mut unreachable = 0;
    loop {
        last = match tokio::time::timeout_at(until, read()).await {
            Ok(Ok(Some(value))) => return Looked::Found(value),
            Ok(Ok(None)) => {
                unreachable = 0;
                Looked::Absent
            }
            Ok(Err(e)) => {
                unreachable = if e.is_unreachable() { unreachable + 1 } else { 0 };
                Looked::Undecided(e)
            }
            // A read cut off by the deadline decides nothing.
            Err(_) => match last {
                Looked::Absent | Looked::NoAnswer => Looked::NoAnswer,
                other => other,
            },
        };
        if unreachable >= 3 || Instant::now() + backoff >= until {
            return last;
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(2));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn timeout_names_the_last_state() {
        let err = wait_for(Duration::from_secs(3), "tempo ready", || async {
            Probe::<()>::NotYet("503 warming up".into())
        })
        .await
        .unwrap_err();
        assert!(err.to_string().contains("503 warming up"), "{err}");
        assert!(err.waited <= Duration::from_secs(3));
    }

    #[tokio::test(start_paused = true)]
    async fn a_read_that_keeps_failing_is_undecided_not_absent() {
        let looked = read_until(Duration::from_secs(5), || async {
            Err::<Option<()>, _>(crate::http::HttpError::Status {
                what: "Loki".into(),
                url: "http://127.0.0.1:1/".into(),
                status: 400,
                body: "parse error".into(),
            })
        })
        .await;
        assert!(matches!(looked, Looked::Undecided(_)), "{looked:?}");
        let looked = read_until(Duration::from_secs(5), || async { Ok::<Option<()>, _>(None) }).await;
        assert!(matches!(looked, Looked::Absent), "{looked:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn ready_after_a_few_tries() {
        let mut n = 0;
        let v = wait_for(Duration::from_secs(10), "x", || {
            n += 1;
            let n = n;
            async move {
                if n >= 3 {
                    Probe::Ready(n)
                } else {
                    Probe::NotYet(format!("try {n}"))
                }
            }
        })
        .await
        .unwrap();
        assert_eq!(v, 3);
    }
}
