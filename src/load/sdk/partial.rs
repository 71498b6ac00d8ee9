//! The OTLP exporter reports a partial success only in its internal log
//! (`TonicTracesClient.PartialSuccess`, a `tracing` event with
//! `rejected_spans` and `error_message`) and calls the export done. This
//! catches that event for the export it belongs to.
//!
//! The event fires while the export future is polled, on the thread that
//! polls it (the batch processor's). `Watched` names its export as that
//! thread's current one for the length of each poll; the subscriber adds
//! what the event says to it. Every other event and span of every crate is
//! `Interest::never`, so the subscriber costs nothing elsewhere.
//!
//! Uses: nothing of pillars.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll};

use tracing::field::{Field, Visit};
use tracing::subscriber::Interest;
use tracing::{Event, Metadata, Subscriber, span};

/// What the exporter said it rejected during one export.
#[derive(Debug, Default)]
pub struct Found {
    rejected: AtomicI64,
    message: Mutex<String>,
}

impl Found {
    /// Items rejected, and the collector's message; `None` when nothing was.
    pub fn rejected(&self) -> Option<(i64, String)> {
        let rejected = self.rejected.load(Ordering::Relaxed);
        let message = self.message.lock().map(|m| m.clone()).unwrap_or_default();
        (rejected > 0).then_some((rejected, message))
    }
}

thread_local! {
    static CURRENT: RefCell<Option<Arc<Found>>> = const { RefCell::new(None) };
}

/// Makes partial successes visible to `Watched`; true when they are. Only
/// one subscriber can be a process's global one: should another have been
/// set first, partial successes stay unseen and this says so.
pub fn install() -> bool {
    static INSTALLED: OnceLock<bool> = OnceLock::new();
    *INSTALLED.get_or_init(|| tracing::subscriber::set_global_default(Catcher).is_ok())
}

/// An export future whose partial success lands in `found`.
pub struct Watched<F> {
    inner: Pin<Box<F>>,
    found: Arc<Found>,
}

impl<F: Future> Watched<F> {
    pub fn new(inner: F, found: Arc<Found>) -> Self {
        Watched {
            inner: Box::pin(inner),
            found,
        }
    }
}

impl<F: Future> Future for Watched<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let found = self.found.clone();
        let outer = CURRENT.with(|c| c.replace(Some(found)));
        let polled = self.inner.as_mut().poll(cx);
        CURRENT.with(|c| *c.borrow_mut() = outer);
        polled
    }
}

/// The exporter's partial-success events, by the name it gives them.
fn is_partial_success(meta: &Metadata<'_>) -> bool {
    meta.target() == "opentelemetry-otlp" && meta.is_event() && meta.name().ends_with(".PartialSuccess")
}

struct Catcher;

impl Subscriber for Catcher {
    fn register_callsite(&self, meta: &'static Metadata<'static>) -> Interest {
        if is_partial_success(meta) {
            Interest::always()
        } else {
            Interest::never()
        }
    }

    fn enabled(&self, meta: &Metadata<'_>) -> bool {
        is_partial_success(meta)
    }

    fn new_span(&self, _: &span::Attributes<'_>) -> span::Id {
        // No span is ever enabled; an id is still owed.
        span::Id::from_u64(1)
    }

    fn record(&self, _: &span::Id, _: &span::Record<'_>) {}

    fn record_follows_from(&self, _: &span::Id, _: &span::Id) {}

    fn event(&self, event: &Event<'_>) {
        CURRENT.with(|current| {
            if let Some(found) = current.borrow().as_ref() {
                event.record(&mut Fields(found));
            }
        });
    }

    fn enter(&self, _: &span::Id) {}

    fn exit(&self, _: &span::Id) {}
}

struct Fields<'a>(&'a Found);

impl Visit for Fields<'_> {
    fn record_i64(&mut self, field: &Field, value: i64) {
        if field.name().starts_with("rejected_") {
            self.0.rejected.fetch_add(value, Ordering::Relaxed);
        }
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.record_i64(field, i64::try_from(value).unwrap_or(i64::MAX));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "error_message"
            && let Ok(mut message) = self.0.message.lock()
        {
            value.clone_into(&mut message);
        }
    }

    fn record_debug(&mut self, _: &Field, _: &dyn std::fmt::Debug) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_counts_for_the_export_polled_on_its_thread_only() {
        assert!(install(), "no other global subscriber in these tests");
        let found = Arc::new(Found::default());
        let other = Arc::new(Found::default());
        futures::executor::block_on(Watched::new(
            async {
                tracing::warn!(
                    name: "TonicTracesClient.PartialSuccess",
                    target: "opentelemetry-otlp",
                    rejected_spans = 3i64,
                    error_message = "over the limit"
                );
            },
            found.clone(),
        ));
        // Outside any export: nobody's.
        tracing::warn!(name: "TonicTracesClient.PartialSuccess", target: "opentelemetry-otlp", rejected_spans = 5i64);
        // Another crate's event of the same name is not the exporter's.
        futures::executor::block_on(Watched::new(
            async {
                tracing::warn!(name: "TonicTracesClient.PartialSuccess", target: "elsewhere", rejected_spans = 7i64);
            },
            other.clone(),
        ));
        assert_eq!(found.rejected(), Some((3, "over the limit".into())));
        assert_eq!(other.rejected(), None);
    }
}
