//! Where the correlation settings come from: the datasources Grafana serves
//! (`GET /api/datasources`), or, for a target without Grafana, the
//! provisioning file it names (`read.provisioning`).
//!
//! Uses: checks::context, query::grafana, target.

use crate::checks::{CheckCtx, Outcome, Verdict};
use crate::query::grafana::{Datasource, GrafanaClient, parse_provisioning};
use crate::target::Store;

#[derive(Debug, Clone)]
pub struct Correlations {
    /// Where the datasources were read, for evidence.
    pub source: String,
    pub datasources: Vec<Datasource>,
}

impl Correlations {
    /// The settings, or the outcome of a check that cannot read them: a
    /// skip when the target names nowhere to read them, an error when that
    /// place does not answer.
    pub async fn load(ctx: &CheckCtx) -> Result<Correlations, Outcome> {
        Self::read(ctx).await.map_err(|(verdict, summary)| {
            Outcome::new(verdict, summary.clone()).with_evidence(serde_json::json!({ "settings_error": summary }))
        })
    }

    async fn read(ctx: &CheckCtx) -> Result<Correlations, (Verdict, String)> {
        let unreadable = |e: String| (Verdict::Error("settings_unreadable"), e);
        if let Some(grafana) = &ctx.target.grafana {
            let client = GrafanaClient::new(ctx.http.clone(), grafana, ctx.target.limits.request_timeout);
            let datasources = client.datasources().await.map_err(|e| {
                let verdict = if e.is_unreachable() {
                    Verdict::Error("unreachable")
                } else {
                    Verdict::Error("settings_unreadable")
                };
                (
                    verdict,
                    format!("cannot read the datasources' correlation settings: {e}"),
                )
            })?;
            return Ok(Correlations {
                source: format!(
                    "{}api/datasources",
                    client.url().as_str().trim_end_matches('/').to_owned() + "/"
                ),
                datasources,
            });
        }
        if let Some(path) = &ctx.target.provisioning {
            let text = std::fs::read_to_string(path)
                .map_err(|e| unreadable(format!("cannot read the provisioning file {}: {e}", path.display())))?;
            let datasources = parse_provisioning(&text)
                .map_err(|e| unreadable(format!("the provisioning file {}: {e}", path.display())))?;
            return Ok(Correlations {
                source: path.display().to_string(),
                datasources,
            });
        }
        Err((
            Verdict::Skip("not_configured"),
            "the target names no Grafana and no `read.provisioning` file to read the correlation settings from".into(),
        ))
    }

    /// The datasource of `store`: the uid the target reads it through when
    /// there is one, else the first of its type.
    pub fn of(&self, ctx: &CheckCtx, store: Store) -> Option<&Datasource> {
        let uid = ctx.target.grafana.as_ref().map(|g| g.datasources[&store].as_str());
        uid.and_then(|uid| self.by_uid(uid))
            .or_else(|| self.datasources.iter().find(|d| d.store() == Some(store)))
    }

    pub fn by_uid(&self, uid: &str) -> Option<&Datasource> {
        self.datasources.iter().find(|d| d.uid == uid)
    }
}
