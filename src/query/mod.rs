//! Reading back from the stack. Every client takes a base URL that is either
//! the store itself or Grafana's datasource proxy for it; the target decides.

pub mod docker;
pub mod grafana;
pub mod lang;
pub mod loki;
pub mod mimir;
pub mod pyroscope;
pub mod tempo;
