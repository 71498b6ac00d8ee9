//! What the reference stack's servers share: its stores, faults and timings.
//!
//! Uses: stack::sim::{faults, traces}.

use std::sync::RwLock;
use std::time::Duration;

use crate::stack::sim::faults::Faults;
use crate::stack::sim::traces::TraceStore;

#[derive(Debug, Default)]
pub struct SimState {
    /// Changeable while serving, so a scenario can break a running stack.
    faults: RwLock<Faults>,
    /// How long a trace must be idle before search finds it (Tempo's
    /// `trace_idle_period` plus a flush tick).
    pub search_idle: Duration,
    pub traces: TraceStore,
}

impl SimState {
    pub fn new(faults: Faults, search_idle: Duration) -> Self {
        SimState {
            faults: RwLock::new(faults),
            search_idle,
            traces: TraceStore::default(),
        }
    }

    /// The faults in force now.
    pub fn faults(&self) -> Faults {
        self.faults.read().expect("faults lock").clone()
    }

    pub fn set_faults(&self, faults: Faults) {
        *self.faults.write().expect("faults lock") = faults;
    }
}
