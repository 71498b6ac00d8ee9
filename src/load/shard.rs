//! `--shard i/N`: one of N copies of a load or capacity run, each on its
//! own machine. A shard sends `1/N` of every rate, derives its ids from its
//! own seed so no two shards' ids collide, and records which shard it was,
//! so `pillars merge` can put the N reports back together.
//!
//! Uses: ids, load::scenario.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::ids::Seed;
use crate::load::scenario::Scenario;

/// The most copies a run may be split into.
pub const MAX_SHARDS: u32 = 64;
/// Keeps shard seeds apart from every other stream a seed makes.
const SHARD_DOMAIN: u64 = 0x5A4D_0000;

/// Shard `index` of `count`, counted from 1 as `--shard 1/2` says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

impl FromStr for Shard {
    type Err = String;

    fn from_str(text: &str) -> Result<Shard, String> {
        let bad = || format!("{text:?} is not a shard; write it as INDEX/COUNT, e.g. 1/2 for the first of two");
        let (index, count) = text.split_once('/').ok_or_else(bad)?;
        let (index, count): (u32, u32) = (
            index.trim().parse().map_err(|_| bad())?,
            count.trim().parse().map_err(|_| bad())?,
        );
        if !(1..=MAX_SHARDS).contains(&count) {
            return Err(format!("{text:?}: the count must be from 1 to {MAX_SHARDS}"));
        }
        if !(1..=count).contains(&index) {
            return Err(format!("{text:?}: the index must be from 1 to {count}"));
        }
        Ok(Shard { index, count })
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl Shard {
    /// `scenario` with every kind's rate divided among the shards (steps
    /// and capacity searches scale these rates, so they follow).
    pub fn split(self, mut scenario: Scenario) -> Scenario {
        for traffic in scenario.traffic.values_mut() {
            traffic.rate /= f64::from(self.count);
        }
        scenario
    }

    /// This shard's seed: the run's, mixed with the shard's index, so the
    /// same `--seed` on every machine still gives each its own ids.
    pub fn seed(self, run: Seed) -> Seed {
        Seed(run.word(u64::from(self.index), SHARD_DOMAIN))
    }

    /// The suffix of this shard's run id: `-s1of2`.
    pub fn run_id_suffix(self) -> String {
        format!("-s{}of{}", self.index, self.count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_parse_from_one_and_name_what_is_wrong() {
        assert_eq!("2/3".parse(), Ok(Shard { index: 2, count: 3 }));
        assert_eq!(Shard { index: 2, count: 3 }.to_string(), "2/3");
        for bad in ["0/2", "3/2", "1/0", "1/65", "1", "a/b", "-1/2", ""] {
            assert!(bad.parse::<Shard>().is_err(), "{bad} was taken");
        }
    }

    #[test]
    fn each_shard_gets_its_share_and_its_own_seed() {
        let scenario = Scenario::from_toml(
            "name = \"s\"\nduration = \"1s\"\n[traffic.otlp_traces]\nrate = 300\n[traffic.backend_requests]\nrate = 30\n",
            "s.toml",
        )
        .unwrap();
        let one = Shard { index: 1, count: 3 };
        let split = one.split(scenario);
        use crate::load::scenario::TrafficKind;
        assert_eq!(split.traffic[&TrafficKind::OtlpTraces].rate, 100.0);
        assert_eq!(split.traffic[&TrafficKind::BackendRequests].rate, 10.0);
        let seeds: std::collections::BTreeSet<_> =
            (1..=3).map(|index| Shard { index, count: 3 }.seed(Seed(7)).0).collect();
        assert_eq!(seeds.len(), 3);
        assert!(!seeds.contains(&7));
    }
}
