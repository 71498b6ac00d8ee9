//! `storage.prefix`: each component of a shared bucket writes under its
//! own prefix, and lifecycle rules expire exactly those prefixes. A
//! component at the bucket root mixes its keys with the others' and is
//! never expired by a per-prefix rule; a rule on a prefix nobody writes to
//! expires nothing.
//!
//! Uses: lint::{model, finding}.

use std::collections::BTreeMap;

use crate::lint::finding::{Finding, Rule};
use crate::lint::model::{Deployment, ObjectStore};

fn covers(rule_prefix: &str, prefix: Option<&str>) -> bool {
    let rule = rule_prefix.trim_matches('/');
    rule.is_empty() || prefix.is_some_and(|p| p == rule || p.starts_with(&format!("{rule}/")))
}

pub fn check(model: &Deployment, out: &mut Vec<Finding>) {
    let mut buckets: BTreeMap<&str, Vec<&ObjectStore>> = BTreeMap::new();
    for store in &model.stores {
        buckets.entry(store.bucket.as_str()).or_default().push(store);
    }
    for (bucket, stores) in &buckets {
        if stores.len() < 2 {
            continue;
        }
        for store in stores {
            let others: Vec<&str> = stores
                .iter()
                .filter(|s| s.component != store.component)
                .map(|s| s.component.name())
                .collect();
            let clash = stores
                .iter()
                .find(|s| s.component != store.component && s.prefix.is_some() && s.prefix == store.prefix);
            let name = store.component.name();
            if store.prefix.is_none() {
                out.push(
                    Finding::new(
                        Rule::StoragePrefix,
                        store.at.clone(),
                        format!("{name} writes at the root of the bucket `{bucket}`, which it shares with {}: no per-prefix lifecycle rule expires its objects, and its keys mix with theirs", others.join(", ")),
                    )
                    .evidence(format!("{name}'s S3 storage sets no {}", store.prefix_key))
                    .evidence(describe(stores))
                    .fix(format!("set {} to `{name}/` (one prefix per component)", store.prefix_key)),
                );
            } else if let Some(other) = clash {
                out.push(
                    Finding::new(
                        Rule::StoragePrefix,
                        store.at.clone(),
                        format!(
                            "{name} and {} both write under `{}/` of the bucket `{bucket}`",
                            other.component.name(),
                            store.prefix.as_deref().unwrap_or_default()
                        ),
                    )
                    .evidence(describe(stores))
                    .fix(format!("give {name} its own prefix, `{name}/`")),
                );
            }
        }
    }
    let rules = &model.lifecycle_rules;
    // A rule whose prefix is not a literal may cover anything: judge none.
    if rules.is_empty() || rules.iter().any(|r| r.prefix.is_none()) || model.stores.is_empty() {
        return;
    }
    for store in &model.stores {
        let prefix = store.prefix.as_deref();
        if rules
            .iter()
            .any(|r| covers(r.prefix.as_deref().unwrap_or_default(), prefix))
        {
            continue;
        }
        let name = store.component.name();
        out.push(
            Finding::new(
                Rule::StoragePrefix,
                store.at.clone(),
                format!(
                    "no lifecycle rule covers where {name} writes (`{}`): its objects are never expired",
                    prefix.map_or("the bucket root".to_owned(), |p| format!("{p}/"))
                ),
            )
            .evidence(format!(
                "lifecycle rules expire: {}",
                rules
                    .iter()
                    .filter_map(|r| r.prefix.as_deref())
                    .map(|p| format!("{p}/"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
            .fix(format!(
                "add a lifecycle rule for `{}/`, or point {} at a prefix a rule covers",
                prefix.unwrap_or(name),
                store.prefix_key
            )),
        );
    }
    for rule in rules {
        let prefix = rule.prefix.as_deref().unwrap_or_default();
        if prefix.is_empty() || model.stores.iter().any(|s| covers(prefix, s.prefix.as_deref())) {
            continue;
        }
        out.push(
            Finding::new(
                Rule::StoragePrefix,
                rule.at.clone(),
                format!(
                    "lifecycle rule `{}` expires `{prefix}/`, where no component writes",
                    rule.id
                ),
            )
            .evidence(describe(&model.stores.iter().collect::<Vec<_>>()))
            .fix("point the rule at a component's prefix, or remove it"),
        );
    }
}

fn describe(stores: &[&ObjectStore]) -> String {
    let parts: Vec<String> = stores
        .iter()
        .map(|s| {
            format!(
                "{} → {}",
                s.component.name(),
                s.prefix.as_deref().map_or("(root)".to_owned(), |p| format!("{p}/"))
            )
        })
        .collect();
    format!("components write: {}", parts.join(", "))
}
