//! Every check in the catalog, against a target nobody listens on, returns
//! `Error` inside its deadline and says what it tried.

use std::sync::Arc;
use std::time::{Duration, Instant};

use pillars::checks::{CATALOG, CheckCtx, CheckSettings, Status};

use crate::common::{SEED, dead_target};

#[tokio::test]
async fn every_check_returns_error_against_a_dead_target() {
    let target = Arc::new(dead_target());
    let ctx = CheckCtx::new(target, "dead".into(), SEED, CheckSettings::default());
    for spec in CATALOG {
        let started = Instant::now();
        let outcome = spec.run(&ctx).await;
        let took = started.elapsed();
        assert_eq!(outcome.status(), Status::Error, "{}: {outcome:?}", spec.id);
        assert!(took < spec.deadline(&ctx), "{} took {took:?}", spec.id);
        // A dead target is noticed at once, not after the polling deadline.
        assert!(took < Duration::from_secs(5), "{} took {took:?}", spec.id);
        assert!(
            outcome.evidence.as_object().is_some_and(|e| !e.is_empty()),
            "{} left no evidence",
            spec.id
        );
        assert!(
            outcome.summary.contains("127.0.0.1") || outcome.evidence.to_string().contains("127.0.0.1"),
            "{}: the outcome does not say what it tried: {outcome:?}",
            spec.id
        );
    }
}
