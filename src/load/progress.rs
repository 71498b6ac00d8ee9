//! Progress while load runs: a bar for the current phase (the whole run, or
//! one capacity step) and a line with each kind's live rate and each
//! pillar's p99 ingest latency. Drawn on stderr at a fixed rate by
//! indicatif, and only when stderr is a terminal and `NO_COLOR` is unset (or empty);
//! otherwise nothing is drawn and the run's own lines say what happened.
//!
//! Uses: load::{scenario, tally}, checks (pillars), console (when to draw).

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::checks::Pillar;
use crate::console::ColorWhen;
use crate::env::Env;
use crate::load::scenario::TrafficKind;

pub struct Progress {
    multi: MultiProgress,
    phase: ProgressBar,
    detail: ProgressBar,
}

impl Progress {
    /// Bars on stderr when it is a terminal and `NO_COLOR` is unset, by
    /// the console's rule ([`ColorWhen::decide`]).
    pub fn for_stderr(env: &Env) -> Progress {
        Progress::new(ColorWhen::Auto.decide(std::io::stderr().is_terminal(), env))
    }

    pub fn new(shown: bool) -> Progress {
        let target = if shown {
            ProgressDrawTarget::stderr_with_hz(4)
        } else {
            ProgressDrawTarget::hidden()
        };
        let multi = MultiProgress::with_draw_target(target);
        let phase = multi.add(ProgressBar::new(1));
        phase.set_style(
            ProgressStyle::with_template("{prefix:>12} [{bar:30}] {elapsed:>4} / {msg}")
                .expect("a valid template")
                .progress_chars("=> "),
        );
        let detail = multi.add(ProgressBar::new_spinner());
        detail.set_style(ProgressStyle::with_template("{spinner} {wide_msg}").expect("a valid template"));
        Progress { multi, phase, detail }
    }

    /// Starts a phase of `length`, named `name`.
    pub fn phase(&self, name: &str, length: Duration) {
        self.phase.set_prefix(name.to_owned());
        self.phase.set_length(length.as_millis().max(1) as u64);
        self.phase.set_position(0);
        self.phase.reset_elapsed();
        self.phase
            .set_message(humantime::format_duration(Duration::from_secs(length.as_secs())).to_string());
    }

    /// The phase's elapsed time, the kinds' achieved rates (units/s over the
    /// last second) with their refused totals, and the pillars' p99 so far.
    pub fn update(&self, elapsed: Duration, rates: &[(TrafficKind, f64, u64)], p99_ms: &BTreeMap<Pillar, u64>) {
        self.phase.set_position(elapsed.as_millis() as u64);
        let mut line = String::new();
        for (kind, rate, refused) in rates {
            line.push_str(&format!("{} {rate:.0}/s", kind.as_str()));
            if *refused > 0 {
                line.push_str(&format!(" ({refused} refused)"));
            }
            line.push_str("  ");
        }
        if !p99_ms.is_empty() {
            line.push_str("| ingest p99");
            for (pillar, ms) in p99_ms {
                line.push_str(&format!(" {} {ms} ms", pillar.as_str()));
            }
        }
        self.detail.set_message(line);
        self.detail.tick();
    }

    /// A line above the bars (or nowhere, when they are hidden).
    pub fn println(&self, line: &str) {
        let _ = self.multi.println(line);
    }

    pub fn is_hidden(&self) -> bool {
        self.multi.is_hidden()
    }

    /// Clears the bars.
    pub fn finish(&self) {
        self.phase.finish_and_clear();
        self.detail.finish_and_clear();
        let _ = self.multi.clear();
    }
}
