//! Where the correlation settings come from: the datasources Grafana serves
//! (`GET /api/datasources`), or, for a target without Grafana, the
//! provisioning file it names (`read.provisioning`); how a correlation
//! check that reads them starts; and the same judgement of them the
//! checks make, without traffic (`problems`).
//!
//! Uses: check, correlation::links, query::grafana, target.

use crate::check::reason::Shared;
use crate::check::{CheckCtx, Outcome, Verdict};
use crate::correlation::links::{derived_fields, exemplar_destinations, traces_to_logs, traces_to_profiles};
use crate::query::grafana::{Datasource, GrafanaClient, parse_provisioning};
use crate::target::Store;

/// How a correlation check that reads the settings starts: the read
/// clients it needs (a skip, saying which are `missing`, when the target
/// names them not), then the settings.
pub(crate) async fn start<C>(ctx: &CheckCtx, clients: Option<C>, missing: &str) -> Result<(C, Correlations), Outcome> {
    let clients = clients.ok_or_else(|| Outcome::not_configured(missing))?;
    Ok((clients, Correlations::load(ctx).await?))
}

#[derive(Debug, Clone)]
pub(crate) struct Correlations {
    /// Where the datasources were read, for evidence.
    pub source: String,
    pub datasources: Vec<Datasource>,
}

impl Correlations {
    /// The settings, or the outcome of a check that cannot read them: a
    /// skip when the target names nowhere to read them, an error when that
    /// place does not answer.
    pub(crate) async fn load(ctx: &CheckCtx) -> Result<Correlations, Outcome> {
        Self::read(ctx).await.map_err(|(verdict, summary)| {
            Outcome::new(verdict, summary.clone()).with_evidence(serde_json::json!({ "settings_error": summary }))
        })
    }

    async fn read(ctx: &CheckCtx) -> Result<Correlations, (Verdict, String)> {
        let unreadable = |e: String| (Verdict::error(Shared::SettingsUnreadable), e);
        if let Some(grafana) = &ctx.target.grafana {
            let client = GrafanaClient::new(ctx.http.clone(), grafana, ctx.target.limits.request_timeout);
            let datasources = client.datasources().await.map_err(|e| {
                let verdict = if e.is_unreachable() {
                    Verdict::error(Shared::Unreachable)
                } else {
                    Verdict::error(Shared::SettingsUnreadable)
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
        if let Some(file) = &ctx.target.provisioning {
            let path = &file.path;
            let text = crate::textfile::read(path)
                .map_err(|e| unreadable(format!("cannot read the provisioning file {}: {e}", path.display())))?;
            let datasources = parse_provisioning(&text, &file.env)
                .map_err(|e| unreadable(format!("the provisioning file {}: {e}", path.display())))?;
            return Ok(Correlations {
                source: path.display().to_string(),
                datasources,
            });
        }
        Err((
            Verdict::skip(Shared::NotConfigured),
            "the target names no Grafana and no `read.provisioning` file to read the correlation settings from".into(),
        ))
    }

    /// The datasource of `store`: the uid the target reads it through when
    /// there is one, else the first of its type.
    pub(crate) fn of(&self, ctx: &CheckCtx, store: Store) -> Option<&Datasource> {
        let uid = ctx.target.grafana.as_ref().map(|g| g.datasources[&store].as_str());
        uid.and_then(|uid| self.by_uid(uid))
            .or_else(|| self.datasources.iter().find(|d| d.store() == Some(store)))
    }

    pub(crate) fn by_uid(&self, uid: &str) -> Option<&Datasource> {
        self.datasources.iter().find(|d| d.uid == uid)
    }
}

/// What the stack's telemetry looks like, which the links must match.
#[derive(Debug, Clone)]
pub struct Telemetry<'a> {
    /// The exemplar label OTLP → Mimir exemplars carry.
    pub exemplar_label: &'a str,
    /// The Loki label (or structured metadata) holding the trace id.
    pub log_trace_id_label: &'a str,
    /// The Loki label the backend's `service.name` becomes.
    pub log_service_label: &'a str,
    /// The Pyroscope label of the application name, the only one the SDK sets.
    pub profile_service_label: &'a str,
    pub profile_type: &'a str,
}

/// The same judgement the correlation checks make of the settings, without
/// traffic: every problem that would break a link, as a sentence.
pub fn problems(datasources: &[Datasource], t: &Telemetry<'_>) -> Vec<String> {
    let mut out = Vec::new();
    let of = |store: Store| datasources.iter().find(|d| d.store() == Some(store));
    let (Some(mimir), Some(loki), Some(tempo), Some(pyroscope)) = (
        of(Store::Mimir),
        of(Store::Loki),
        of(Store::Tempo),
        of(Store::Pyroscope),
    ) else {
        return vec![
            "a datasource of each type (prometheus, loki, tempo, grafana-pyroscope-datasource) is needed".into(),
        ];
    };
    let destinations = exemplar_destinations(&mimir.json_data);
    if !destinations
        .iter()
        .any(|d| d.name == t.exemplar_label && d.datasource_uid == tempo.uid)
    {
        out.push(format!(
            "{}: no exemplarTraceIdDestinations entry named `{}` pointing at {}",
            mimir.uid, t.exemplar_label, tempo.uid
        ));
    }
    match traces_to_logs(&tempo.json_data) {
        None => out.push(format!("{}: no tracesToLogsV2", tempo.uid)),
        Some(cfg) => {
            if cfg.datasource_uid != loki.uid {
                out.push(format!(
                    "{}: tracesToLogsV2 points at {}, not {}",
                    tempo.uid, cfg.datasource_uid, loki.uid
                ));
            }
            if !cfg.custom_query
                && !cfg
                    .tags
                    .iter()
                    .any(|tag| tag.key == "service.name" && tag.value == t.log_service_label)
            {
                out.push(format!(
                    "{}: tracesToLogsV2 does not map service.name to the `{}` label",
                    tempo.uid, t.log_service_label
                ));
            }
            if !cfg.custom_query && !cfg.filter_by_trace_id {
                out.push(format!("{}: tracesToLogsV2 does not filter by trace id", tempo.uid));
            }
        }
    }
    let fields = derived_fields(&loki.json_data);
    let extracts = fields.iter().any(|f| {
        f.matcher_type.as_deref() == Some("label")
            && f.matcher_regex == t.log_trace_id_label
            && f.datasource_uid.as_deref() == Some(tempo.uid.as_str())
    });
    if !extracts {
        out.push(format!(
            "{}: no derived field reads the `{}` label into {}",
            loki.uid, t.log_trace_id_label, tempo.uid
        ));
    }
    match traces_to_profiles(&tempo.json_data) {
        None => out.push(format!("{}: no tracesToProfiles", tempo.uid)),
        Some(cfg) => {
            if cfg.datasource_uid != pyroscope.uid {
                out.push(format!(
                    "{}: tracesToProfiles points at {}",
                    tempo.uid, cfg.datasource_uid
                ));
            }
            if cfg.profile_type_id != t.profile_type {
                out.push(format!(
                    "{}: tracesToProfiles profile type {:?}",
                    tempo.uid, cfg.profile_type_id
                ));
            }
            let only_service = cfg.tags.len() == 1
                && cfg.tags[0].key == "service.name"
                && cfg.tags[0].value == t.profile_service_label;
            if !cfg.custom_query && !only_service {
                out.push(format!(
                    "{}: tracesToProfiles must select by service.name -> {} alone (the SDK sets no other label)",
                    tempo.uid, t.profile_service_label
                ));
            }
        }
    }
    out
}
