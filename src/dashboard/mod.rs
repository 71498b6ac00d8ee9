//! Grafana dashboards read the way Grafana renders them: every panel (those
//! inside rows too) with its queries, the datasource each query runs on,
//! and the dashboard's template variables resolved to what a person opening
//! it sees first — so `dashboards.have_data` runs exactly the queries the
//! panels run, through Grafana's own query API.
//!
//! Uses: query::grafana (datasources).

mod model;
mod vars;

pub use model::{Dashboard, DsRef, Panel, PanelQuery};
pub use vars::Variables;
