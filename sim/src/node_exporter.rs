//! The reference stack's host, as node-exporter 1.8 shows it and Alloy's
//! `prometheus.scrape "infrastructure"` labels it (`job="node-exporter"`,
//! `instance` its address): per-CPU time counters by mode that grow with
//! wall time, busy in proportion to the stack's load, and the host's
//! memory (a t3.medium's 4 GiB, less what the containers hold).
//!
//! Uses: metrics (labels).

use crate::metrics::Labels;

pub const JOB: &str = "node-exporter";
pub const INSTANCE: &str = "node-exporter:9100";
pub const CPUS: usize = 2;
pub const MEM_TOTAL_BYTES: f64 = 4.0 * 1024.0 * 1024.0 * 1024.0;
/// What the stack's other containers hold at rest.
const OTHERS_BYTES: f64 = 1.3 * 1024.0 * 1024.0 * 1024.0;
/// The modes node-exporter reads from `/proc/stat`, in its order.
pub const MODES: [&str; 8] = ["idle", "iowait", "irq", "nice", "softirq", "steal", "system", "user"];
/// How the busy share splits over the non-idle modes.
const BUSY_SPLIT: [f64; 7] = [0.02, 0.0, 0.0, 0.03, 0.0, 0.35, 0.60];

/// The host's CPU counters since it booted.
#[derive(Debug, Clone)]
pub struct Host {
    /// Seconds per CPU, per mode (in `MODES` order).
    seconds: [[f64; MODES.len()]; CPUS],
}

impl Default for Host {
    fn default() -> Self {
        // A host that has been up for a while, idle mostly.
        let mut seconds = [[0.0; MODES.len()]; CPUS];
        for cpu in &mut seconds {
            cpu[0] = 3600.0;
            cpu[7] = 120.0;
            cpu[6] = 60.0;
        }
        Host { seconds }
    }
}

impl Host {
    /// Adds `elapsed` seconds of wall time, `busy` (0..1) of it not idle.
    pub fn advance(&mut self, elapsed: f64, busy: f64) {
        let elapsed = elapsed.max(0.0);
        let busy = busy.clamp(0.0, 1.0);
        for cpu in &mut self.seconds {
            cpu[0] += elapsed * (1.0 - busy);
            for (i, share) in BUSY_SPLIT.iter().enumerate() {
                cpu[i + 1] += elapsed * busy * share;
            }
        }
    }

    /// The series a scrape returns now; `used_bytes` is what the
    /// simulated container holds.
    pub fn series(&self, used_bytes: f64) -> Vec<(Labels, f64)> {
        let base = |name: &str| {
            Labels::from([
                ("__name__".to_owned(), name.to_owned()),
                ("instance".to_owned(), INSTANCE.to_owned()),
                ("job".to_owned(), JOB.to_owned()),
            ])
        };
        let mut out = Vec::with_capacity(CPUS * MODES.len() + 2);
        for (cpu, modes) in self.seconds.iter().enumerate() {
            for (mode, value) in MODES.iter().zip(modes) {
                let mut l = base("node_cpu_seconds_total");
                l.insert("cpu".into(), cpu.to_string());
                l.insert("mode".into(), (*mode).to_owned());
                out.push((l, *value));
            }
        }
        out.push((base("node_memory_MemTotal_bytes"), MEM_TOTAL_BYTES));
        let available = (MEM_TOTAL_BYTES - OTHERS_BYTES - used_bytes).max(0.0);
        out.push((base("node_memory_MemAvailable_bytes"), available));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_time_grows_with_wall_time_split_by_mode() {
        let mut host = Host::default();
        let before = host.series(0.0);
        host.advance(10.0, 0.25);
        let after = host.series(0.0);
        let grown = |mode: &str| -> f64 {
            let pick = |s: &[(Labels, f64)]| -> f64 {
                s.iter()
                    .filter(|(l, _)| l.get("mode").map(String::as_str) == Some(mode))
                    .map(|(_, v)| v)
                    .sum()
            };
            pick(&after) - pick(&before)
        };
        // Two CPUs, ten seconds each: a quarter busy.
        assert!((grown("idle") - 15.0).abs() < 1e-9);
        let all: f64 = MODES.iter().map(|m| grown(m)).sum();
        assert!((all - 20.0).abs() < 1e-9);
        assert!(grown("user") > grown("system"));
        let idle0 = after
            .iter()
            .find(|(l, _)| l["mode"] == "idle" && l["cpu"] == "0")
            .unwrap();
        assert_eq!(idle0.0["job"], "node-exporter");
        assert_eq!(idle0.0["instance"], "node-exporter:9100");
    }

    #[test]
    fn available_memory_falls_with_use_and_stays_non_negative() {
        let host = Host::default();
        let available = |used: f64| {
            host.series(used)
                .into_iter()
                .find(|(l, _)| l["__name__"] == "node_memory_MemAvailable_bytes")
                .unwrap()
                .1
        };
        assert!(available(0.0) > available(1e9));
        assert_eq!(available(1e12), 0.0);
        // Time never runs backwards, and busy stays a share.
        let mut h = Host::default();
        h.advance(-5.0, 7.0);
        assert_eq!(h.series(0.0), Host::default().series(0.0));
    }
}
