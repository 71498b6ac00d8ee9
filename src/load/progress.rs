//! Progress while load runs: a bar for the current phase (the whole run, or
//! one capacity step) and lines, wrapped to the terminal, with each kind's live rate and each
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
        detail.set_style(ProgressStyle::with_template("{spinner} {msg}").expect("a valid template"));
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
        let width = terminal_size::terminal_size_of(std::io::stderr()).map_or(80, |(w, _)| usize::from(w.0));
        self.detail.set_message(detail(rates, p99_ms, width));
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

/// The rates and p99s as lines that fit `width` (after the spinner's two
/// columns): as many kinds on a line as fit, then the p99s on their own.
fn detail(rates: &[(TrafficKind, f64, u64)], p99_ms: &BTreeMap<Pillar, u64>, width: usize) -> String {
    let room = width.saturating_sub(3).max(20);
    let kinds = rates.iter().map(|(kind, rate, refused)| {
        let mut item = format!("{} {}/s", kind.as_str(), rate_text(*rate));
        if *refused > 0 {
            item.push_str(&format!(" ({refused} refused)"));
        }
        item
    });
    let mut lines = wrap(kinds, room);
    if !p99_ms.is_empty() {
        let pillars = p99_ms.iter().map(|(pillar, ms)| format!("{} {ms} ms", pillar.as_str()));
        let mut p99 = wrap(std::iter::once("ingest p99:".to_owned()).chain(pillars), room);
        lines.append(&mut p99);
    }
    // Continuation lines sit under the first, past the spinner.
    lines.join("\n  ")
}

/// Items joined by two spaces into lines of at most `room` columns.
fn wrap(items: impl Iterator<Item = String>, room: usize) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    for item in items {
        match lines.last_mut() {
            Some(line) if line.chars().count() + 2 + item.chars().count() <= room => {
                line.push_str("  ");
                line.push_str(&item);
            }
            _ => lines.push(item),
        }
    }
    lines
}

/// A rate with the digits it needs: `0.5`, `2.4`, `1200`.
fn rate_text(rate: f64) -> String {
    if rate >= 10.0 || rate == 0.0 {
        format!("{rate:.0}")
    } else if rate >= 1.0 {
        format!("{rate:.1}")
    } else {
        format!("{rate:.2}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn low_rates_keep_their_fraction_and_lines_fit() {
        assert_eq!(rate_text(0.5), "0.50");
        assert_eq!(rate_text(2.44), "2.4");
        assert_eq!(rate_text(1200.4), "1200");
        let rates: Vec<(TrafficKind, f64, u64)> = TrafficKind::ALL.into_iter().map(|k| (k, 0.5, 12)).collect();
        let p99 = BTreeMap::from([(Pillar::Traces, 1200), (Pillar::Logs, 900), (Pillar::Metrics, 40)]);
        for width in [80, 120] {
            let text = detail(&rates, &p99, width);
            for line in text.lines() {
                assert!(line.chars().count() + 2 <= width, "{line:?} does not fit {width}");
            }
            for kind in &rates {
                assert!(
                    text.contains(&format!("{} 0.50/s (12 refused)", kind.0.as_str())),
                    "{text}"
                );
            }
            assert!(text.contains("traces 1200 ms"), "{text}");
        }
        assert!(detail(&rates, &p99, 80).lines().count() > 2, "wraps at 80");
    }
}
