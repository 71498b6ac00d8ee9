//! Ctrl-C and SIGTERM, once for the whole process. The first signal asks
//! every run to stop and write what it has (and stops a running goose
//! attack); a second one exits at once. A run stopped by Ctrl-C exits 130,
//! one stopped by SIGTERM (a CI job cancelled, a container stopped) 143.
//!
//! One Ctrl-C handler, installed before anything else: goose installs its
//! own (`ctrlc`) when an attack starts, which would replace tokio's; with
//! ours in place first, goose's attempt fails quietly and ours keeps
//! working.
//!
//! Uses: exit.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU8, Ordering};

use tokio::sync::watch;

static STOPPED: OnceLock<watch::Sender<bool>> = OnceLock::new();
/// The exit code of the signal that stopped the run, 0 until one did.
static CODE: AtomicU8 = AtomicU8::new(0);

fn sender() -> &'static watch::Sender<bool> {
    STOPPED.get_or_init(|| watch::channel(false).0)
}

/// Stops the run for a signal whose process exit code is `code`.
fn stop(code: u8, why: &str) {
    if CODE
        .compare_exchange(0, code, Ordering::SeqCst, Ordering::SeqCst)
        .is_err()
    {
        // A second signal: the user means it.
        std::process::exit(i32::from(code));
    }
    sender().send_replace(true);
    goose::trigger_killswitch(why);
}

/// Installs the handlers; later calls do nothing. Call from within the
/// runtime (SIGTERM is watched by a task). An error means another Ctrl-C
/// handler was already installed, and Ctrl-C then ends the process.
pub fn install() {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        let _ = ctrlc::set_handler(|| stop(crate::exit::INTERRUPTED, "Ctrl-C"));
        if let Ok(mut term) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            tokio::spawn(async move {
                while term.recv().await.is_some() {
                    stop(crate::exit::TERMINATED, "SIGTERM");
                }
            });
        }
    });
}

/// Turns true on the first signal.
pub fn watcher() -> watch::Receiver<bool> {
    sender().subscribe()
}

/// Resolves on the first signal.
pub async fn pressed() {
    let mut rx = watcher();
    let _ = rx.wait_for(|p| *p).await;
}

/// The exit code of a run a signal stopped: 130 for Ctrl-C, 143 for
/// SIGTERM.
pub fn exit_code() -> u8 {
    match CODE.load(Ordering::SeqCst) {
        0 => crate::exit::INTERRUPTED,
        code => code,
    }
}
