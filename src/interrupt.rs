//! Ctrl-C, once for the whole process. The first press asks every run to
//! stop and write what it has (and stops a running goose attack); a second
//! press exits at once with the interrupted code.
//!
//! One handler, installed before anything else: goose installs its own
//! (`ctrlc`) when an attack starts, which would replace tokio's; with ours
//! in place first, goose's attempt fails quietly and ours keeps working.
//!
//! Uses: exit.

use std::sync::OnceLock;

use tokio::sync::watch;

static PRESSED: OnceLock<watch::Sender<bool>> = OnceLock::new();

fn sender() -> &'static watch::Sender<bool> {
    PRESSED.get_or_init(|| watch::channel(false).0)
}

/// Installs the handler; later calls do nothing. An error means another
/// handler was already installed, and Ctrl-C then ends the process.
pub fn install() {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        let pressed = sender();
        let _ = ctrlc::set_handler(move || {
            if *pressed.borrow() {
                std::process::exit(i32::from(crate::exit::INTERRUPTED));
            }
            pressed.send_replace(true);
            goose::trigger_killswitch("Ctrl-C");
        });
    });
}

/// Turns true on the first Ctrl-C.
pub fn watcher() -> watch::Receiver<bool> {
    sender().subscribe()
}

/// Resolves on the first Ctrl-C.
pub async fn pressed() {
    let mut rx = watcher();
    let _ = rx.wait_for(|p| *p).await;
}
