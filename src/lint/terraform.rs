//! Terraform, parsed with `hcl-rs`: the resources that shape the
//! deployment's telemetry — `grafana_data_source` (its `jsonencode`d
//! settings become a datasource like a provisioned one), S3 lifecycle
//! rules, ALB listener rules and their target groups, and the ECS task
//! definitions' container environment. Values that are not literals
//! (variables, locals, function calls) stay opaque `${…}` text: lint
//! judges what the files say, not what a plan would compute.
//!
//! Uses: lint::{source, model}.

use std::collections::BTreeMap;
use std::sync::Arc;

use hcl::{Block, Body, Expression, ObjectKey};
use serde_json::Value as Json;

use crate::lint::model::*;
use crate::lint::source::{At, SourceFile};

/// A file that is not valid HCL.
#[derive(Debug)]
pub struct HclError {
    pub line: usize,
    pub column: usize,
    pub problem: String,
}

/// Deeper nesting is refused before parsing: a garbage file must not
/// exhaust the stack of a recursive parser.
const MAX_DEPTH: usize = 128;

/// The line of the first bracket past [`MAX_DEPTH`], outside strings.
fn too_deep(text: &str) -> Option<usize> {
    let (mut depth, mut line, mut in_string, mut escaped) = (0usize, 1usize, false, false);
    for c in text.chars() {
        match c {
            '\n' => line += 1,
            _ if escaped => escaped = false,
            '\\' if in_string => escaped = true,
            '"' => in_string = !in_string,
            '{' | '[' | '(' if !in_string => {
                depth += 1;
                if depth > MAX_DEPTH {
                    return Some(line);
                }
            }
            '}' | ']' | ')' if !in_string => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    None
}

pub fn read(source: &Arc<SourceFile>, model: &mut Deployment) -> Result<(), HclError> {
    if let Some(line) = too_deep(&source.text) {
        return Err(HclError {
            line,
            column: 1,
            problem: format!("nested deeper than {MAX_DEPTH} levels"),
        });
    }
    let body: Body = hcl::parse(&source.text).map_err(|e| match e {
        hcl::Error::Parse(p) => HclError {
            line: p.location().line(),
            column: p.location().column(),
            problem: format!("not valid HCL: {}", p.message()),
        },
        other => HclError {
            line: 1,
            column: 1,
            problem: format!("not valid HCL: {other}"),
        },
    })?;
    let resources: Vec<(&str, &str, &Block)> = body
        .blocks()
        .filter(|b| b.identifier() == "resource" && b.labels().len() == 2)
        .map(|b| (b.labels()[0].as_str(), b.labels()[1].as_str(), b))
        .collect();
    let target_ports: BTreeMap<&str, u16> = resources
        .iter()
        .filter(|(kind, _, _)| matches!(*kind, "aws_lb_target_group" | "aws_alb_target_group"))
        .filter_map(|(_, name, b)| Some((*name, number(attr(b.body(), "port")?)? as u16)))
        .collect();
    for (kind, name, block) in &resources {
        let at = At::start(source).find(&format!("\"{kind}\" \"{name}\""));
        let body = block.body();
        match *kind {
            "grafana_data_source" => model.datasources.push(Datasource {
                at: at.clone(),
                // The next resource's line, or the end of the file.
                end_line: next_resource_line(source, at.line),
                uid: string(attr(body, "uid")).unwrap_or_default(),
                name: string(attr(body, "name")).unwrap_or_else(|| name.to_string()),
                kind: string(attr(body, "type")).unwrap_or_default(),
                json_data: attr(body, "json_data_encoded").map(to_json).unwrap_or(Json::Null),
            }),
            "aws_s3_bucket_lifecycle_configuration" => {
                for rule in body.blocks() {
                    let dynamic = rule.identifier() == "dynamic";
                    if rule.identifier() != "rule" && !dynamic {
                        continue;
                    }
                    let prefix = if dynamic {
                        None
                    } else {
                        rule.body()
                            .blocks()
                            .find(|b| b.identifier() == "filter")
                            .and_then(|f| string(attr(f.body(), "prefix")))
                            .or_else(|| string(attr(rule.body(), "prefix")))
                            .filter(|p| !p.contains("${"))
                    };
                    let id = string(attr(rule.body(), "id")).unwrap_or_default();
                    let rule_at = at.find_any(&[&format!("\"{id}\""), "rule"]);
                    model.lifecycle_rules.push(LifecycleRule {
                        at: match &prefix {
                            Some(p) => rule_at.find(&format!("\"{p}\"")),
                            None => rule_at,
                        },
                        id,
                        prefix: prefix.map(|p| p.trim_matches('/').to_owned()),
                    });
                }
            }
            "aws_lb_listener_rule" | "aws_alb_listener_rule" => {
                let path_patterns: Vec<String> = body
                    .blocks()
                    .filter(|b| b.identifier() == "condition")
                    .flat_map(|c| c.body().blocks().filter(|b| b.identifier() == "path_pattern"))
                    .filter_map(|p| match attr(p.body(), "values") {
                        Some(Expression::Array(items)) => {
                            Some(items.iter().filter_map(|i| string(Some(i))).collect::<Vec<_>>())
                        }
                        _ => None,
                    })
                    .flatten()
                    .collect();
                let target_group = body
                    .blocks()
                    .filter(|b| b.identifier() == "action")
                    .find_map(|a| attr(a.body(), "target_group_arn"))
                    .and_then(|e| {
                        let text = e.to_string();
                        let rest = text.split("_target_group.").nth(1)?;
                        Some(rest.split(['.', '[']).next()?.to_owned())
                    });
                let pattern_at = path_patterns
                    .first()
                    .map_or(at.clone(), |p| at.find(&format!("\"{p}\"")));
                model.lb_rules.push(LbRule {
                    at: pattern_at,
                    name: name.to_string(),
                    target_port: target_group.as_deref().and_then(|g| target_ports.get(g).copied()),
                    target_group,
                    path_patterns,
                });
            }
            "aws_ecs_task_definition" => {
                let Some(Json::Array(defs)) = attr(body, "container_definitions").map(to_json) else {
                    continue;
                };
                for def in defs {
                    let cname = def["name"].as_str().unwrap_or_default().to_owned();
                    let def_at = at.find(&cname);
                    let env = def["environment"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|e| {
                            let name = e["name"].as_str()?.to_owned();
                            let value = match &e["value"] {
                                Json::String(s) => s.clone(),
                                other => other.to_string(),
                            };
                            Some(EnvVar {
                                at: def_at.find(&format!("\"{name}\"")),
                                name,
                                value,
                            })
                        })
                        .collect();
                    model.containers.push(Container {
                        at: def_at,
                        name: cname,
                        image: def["image"].as_str().unwrap_or_default().to_owned(),
                        env,
                        ports: Vec::new(),
                    });
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// The line of the first `resource` block after line `line`.
fn next_resource_line(source: &SourceFile, line: u32) -> u32 {
    source
        .text
        .lines()
        .enumerate()
        .skip(line as usize)
        .find(|(_, l)| l.starts_with("resource "))
        .map_or(u32::MAX, |(i, _)| i as u32 + 1)
}

fn attr<'a>(body: &'a Body, key: &str) -> Option<&'a Expression> {
    body.attributes().find(|a| a.key() == key).map(|a| a.expr())
}

fn string(expr: Option<&Expression>) -> Option<String> {
    match expr? {
        Expression::String(s) => Some(s.clone()),
        Expression::TemplateExpr(t) => Some(t.to_string().trim_matches('"').to_owned()),
        _ => None,
    }
}

fn number(expr: &Expression) -> Option<f64> {
    match expr {
        Expression::Number(n) => n.as_f64(),
        _ => None,
    }
}

/// An expression as the JSON `jsonencode` would make of it; what cannot
/// be known before a plan is its `${…}` text.
fn to_json(expr: &Expression) -> Json {
    match expr {
        Expression::Null => Json::Null,
        Expression::Bool(b) => Json::Bool(*b),
        Expression::Number(n) => n
            .as_i64()
            .map(Json::from)
            .or_else(|| n.as_f64().map(Json::from))
            .unwrap_or(Json::Null),
        Expression::String(s) => Json::String(s.clone()),
        Expression::Array(items) => Json::Array(items.iter().map(to_json).collect()),
        Expression::Object(fields) => Json::Object(
            fields
                .iter()
                .map(|(k, v)| {
                    let key = match k {
                        ObjectKey::Identifier(i) => i.to_string(),
                        ObjectKey::Expression(Expression::String(s)) => s.clone(),
                        ObjectKey::Expression(e) => e.to_string(),
                        other => format!("{other:?}"),
                    };
                    (key, to_json(v))
                })
                .collect(),
        ),
        Expression::TemplateExpr(t) => Json::String(t.to_string().trim_matches('"').to_owned()),
        Expression::Parenthesis(e) => to_json(e),
        Expression::FuncCall(call) if call.name.name.as_str() == "jsonencode" && call.args.len() == 1 => {
            to_json(&call.args[0])
        }
        other => Json::String(format!("${{{other}}}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn model_of(text: &str) -> Deployment {
        let source = Arc::new(SourceFile {
            path: PathBuf::from("main.tf"),
            text: text.to_owned(),
        });
        let mut model = Deployment::default();
        read(&source, &mut model).unwrap();
        model
    }

    #[test]
    fn datasources_rules_and_task_env_are_read() {
        let model = model_of(
            r#"
resource "grafana_data_source" "mimir" {
  type = "prometheus"
  uid  = "mimir"
  json_data_encoded = jsonencode({
    exemplarTraceIdDestinations = [{ name = "traceID", datasourceUid = var.tempo_uid }]
  })
}

resource "aws_lb_target_group" "faro" {
  port = 12347
}

resource "aws_lb_listener_rule" "faro" {
  action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.faro[0].arn
  }
  condition {
    path_pattern { values = ["/faro/*"] }
  }
}

resource "aws_ecs_task_definition" "backend" {
  container_definitions = jsonencode([{
    name = "backend"
    environment = [{ name = "OTEL_TRACES_SAMPLER", value = "traceidratio" }]
  }])
}
"#,
        );
        let ds = &model.datasources[0];
        assert_eq!(
            (ds.uid.as_str(), ds.kind.as_str(), ds.at.line),
            ("mimir", "prometheus", 2)
        );
        assert_eq!(ds.json_data["exemplarTraceIdDestinations"][0]["name"], "traceID");
        assert!(
            ds.json_data["exemplarTraceIdDestinations"][0]["datasourceUid"]
                .as_str()
                .unwrap()
                .contains("var.tempo_uid")
        );
        let rule = &model.lb_rules[0];
        assert_eq!(rule.path_patterns, ["/faro/*"]);
        assert_eq!((rule.target_port, rule.at.line), (Some(12347), 20));
        assert_eq!(model.containers[0].env[0].value, "traceidratio");
    }

    #[test]
    fn syntax_errors_have_a_line() {
        let source = Arc::new(SourceFile {
            path: PathBuf::from("bad.tf"),
            text: "resource \"a\" \"b\" {\n  x = \n}\n".into(),
        });
        let e = read(&source, &mut Deployment::default()).unwrap_err();
        assert!(e.line >= 2, "{e:?}");
        let deep = Arc::new(SourceFile {
            path: PathBuf::from("deep.tf"),
            text: format!("locals {{\n  x = {}\n}}\n", "[".repeat(100_000)),
        });
        let e = read(&deep, &mut Deployment::default()).unwrap_err();
        assert_eq!(e.line, 2, "{e:?}");
    }
}
