//! `wait_for`: the one polling helper for conditions that are not ingest
//! items (a component becoming ready, a sim coming up). Backs off, stops at
//! its deadline and says what it last saw.
//!
//! Uses: nothing else in the crate.

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
