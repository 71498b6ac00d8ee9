//! Template variables: each resolved to the value a dashboard opens with
//! (the saved `current`, else the first option; `All` as its `allValue` or
//! every option), then substituted in query text the way Grafana writes
//! them: `$name`, `${name}`, `${name:format}` and `[[name]]`. Grafana's own
//! (`$__interval`, `$__rate_interval`, `$__range`…) are left for Grafana,
//! which fills them in on the server.
//!
//! Uses: nothing else in the crate.

use std::collections::BTreeMap;

use serde_json::Value;

/// A dashboard's variables by name, resolved.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Variables {
    values: BTreeMap<String, String>,
    /// Variables with no value to open with (a query variable never saved).
    pub unresolved: Vec<String>,
}

impl Variables {
    /// The variables of a dashboard model's `templating.list`.
    /// `datasource_of_type` resolves a datasource variable with no saved
    /// value to the first datasource of its plugin type.
    pub fn of(model: &Value, datasource_of_type: impl Fn(&str) -> Option<String>) -> Variables {
        let mut out = Variables::default();
        let list = model
            .pointer("/templating/list")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        for var in &list {
            let Some(name) = var.get("name").and_then(Value::as_str) else {
                continue;
            };
            let kind = var.get("type").and_then(Value::as_str).unwrap_or_default();
            let options: Vec<String> = var
                .get("options")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|o| text(o.get("value")?))
                .filter(|v| v != "$__all")
                .collect();
            let current = var.pointer("/current/value").and_then(|v| match v {
                Value::Array(items) => {
                    let items: Vec<String> = items.iter().filter_map(text).collect();
                    (!items.is_empty()).then_some(items)
                }
                other => text(other).map(|v| vec![v]),
            });
            let all = || {
                var.get("allValue")
                    .and_then(Value::as_str)
                    .filter(|v| !v.is_empty())
                    .map(str::to_owned)
                    .or_else(|| (!options.is_empty()).then(|| alternatives(&options)))
            };
            let value = match current {
                Some(values) if values.iter().any(|v| v == "$__all") => all(),
                Some(values) if values.len() > 1 => Some(alternatives(&values)),
                Some(mut values) => values.pop(),
                None => options.first().cloned().or_else(|| match kind {
                    "constant" | "textbox" => var.get("query").and_then(text),
                    "custom" => var
                        .get("query")
                        .and_then(Value::as_str)
                        .and_then(|q| q.split(',').next())
                        .map(|v| v.trim().to_owned()),
                    "datasource" => var.get("query").and_then(Value::as_str).and_then(&datasource_of_type),
                    _ => None,
                }),
            };
            match value {
                Some(value) => {
                    out.values.insert(name.to_owned(), value);
                }
                None => out.unresolved.push(name.to_owned()),
            }
        }
        out
    }

    /// The first variable without a value that `text` still refers to: a
    /// query Grafana would fill in by running the variable's own query.
    pub fn unresolved_in(&self, text: &str) -> Option<&str> {
        self.unresolved.iter().map(String::as_str).find(|name| {
            let bare = format!("${name}");
            text.contains(&format!("${{{name}}}"))
                || text.contains(&format!("${{{name}:"))
                || text.contains(&format!("[[{name}"))
                || text.match_indices(&bare).any(|(at, _)| {
                    !text[at + bare.len()..].starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
                })
        })
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    /// `text` with every variable of the dashboard replaced by its value.
    pub fn substitute(&self, text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(at) = rest.find(['$', '[']) {
            out.push_str(&rest[..at]);
            rest = &rest[at..];
            match self.reference(rest) {
                Some((value, len)) => {
                    out.push_str(value);
                    rest = &rest[len..];
                }
                None => {
                    let c = rest.chars().next().unwrap_or('$');
                    out.push(c);
                    rest = &rest[c.len_utf8()..];
                }
            }
        }
        out.push_str(rest);
        out
    }

    /// The variable `rest` starts with and the length of its reference.
    fn reference(&self, rest: &str) -> Option<(&str, usize)> {
        let name_len = |s: &str| {
            s.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(s.len())
        };
        let (name, len) = if let Some(inner) = rest.strip_prefix("${") {
            let end = inner.find('}')?;
            let name = inner[..end].split(':').next()?;
            (name, end + 3)
        } else if let Some(inner) = rest.strip_prefix("[[") {
            let end = inner.find("]]")?;
            (inner[..end].split(':').next()?, end + 4)
        } else if let Some(inner) = rest.strip_prefix('$') {
            let n = name_len(inner);
            (&inner[..n], n + 1)
        } else {
            return None;
        };
        if name.starts_with("__") {
            return None;
        }
        self.get(name).map(|v| (v, len))
    }
}

/// Several values as Grafana formats them into a Prometheus regex.
fn alternatives(values: &[String]) -> String {
    format!("({})", values.join("|"))
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variables_open_with_their_saved_or_first_value() {
        let model = serde_json::json!({ "templating": { "list": [
            { "name": "job", "type": "query", "current": { "value": "durable-code/durable-code-backend" } },
            { "name": "path", "type": "custom", "query": "/api/a,/api/b" },
            { "name": "method", "type": "query", "current": { "value": ["$__all"] }, "options": [{ "value": "$__all" }, { "value": "GET" }, { "value": "POST" }] },
            { "name": "ds", "type": "datasource", "query": "prometheus" },
            { "name": "never", "type": "query" },
        ]}});
        let vars = Variables::of(&model, |kind| (kind == "prometheus").then(|| "mimir".to_owned()));
        assert_eq!(vars.unresolved, ["never"]);
        assert_eq!(
            vars.substitute(r#"sum(rate(x{job="$job", path="${path}", method=~"[[method]]"}[$__rate_interval])) by ${ds:raw} $never"#),
            r#"sum(rate(x{job="durable-code/durable-code-backend", path="/api/a", method=~"(GET|POST)"}[$__rate_interval])) by mimir $never"#
        );
        assert_eq!(vars.substitute("up[5m] $"), "up[5m] $");
        assert_eq!(vars.unresolved_in("up{x=\"$never\"}"), Some("never"));
        assert_eq!(vars.unresolved_in("up{x=\"${never:raw}\"}"), Some("never"));
        assert_eq!(vars.unresolved_in("up{x=\"$nevermore\"}"), None);
    }
}
