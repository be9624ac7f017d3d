//! `moat output [KEY]`: what the stack's resources are known by — ARM IDs, names and the
//! endpoints that follow from them — read from the state record, so scripts need neither
//! the portal nor a second tool. Secrets are never among them: the record holds none.

use crate::Status;
use crate::cli::{Global, OutputArgs};
use crate::output::{Output, data_line};
use anyhow::bail;
use moat_engine::state::{ResourceState, StateRecord};
use serde_json::{Map, Value};

/// Runs the command.
pub fn run(g: &Global, args: &OutputArgs, out: &Output) -> anyhow::Result<Status> {
    let Some((_c, record)) = super::state::read_record(g, &args.spec, out)? else {
        return Ok(Status::Failed);
    };
    let all = outputs(&record);
    let (key, field) = match &args.key {
        None => (None, None),
        Some(k) if all.contains_key(k.as_str()) => (Some(k.as_str()), None),
        // `store.blob_endpoint`: keys never hold a dot, so the last one splits off the field.
        Some(k) => match k.rsplit_once('.') {
            Some((r, f)) if all.contains_key(r) => (Some(r), Some(f)),
            _ => bail!(
                "`{k}` is not a resource the stack manages (it has: {})",
                known(&all)
            ),
        },
    };
    let selected: Map<String, Value> = match key {
        Some(k) => all
            .get(k)
            .map(|v| (k.to_string(), v.clone()))
            .into_iter()
            .collect(),
        None => all,
    };
    if let (Some(k), Some(f)) = (key, field) {
        let Some(v) = selected.get(k).and_then(|o| o.get(f)) else {
            let fields = selected
                .get(k)
                .and_then(Value::as_object)
                .map(|o| o.keys().cloned().collect::<Vec<_>>().join(", "))
                .unwrap_or_default();
            bail!("`{k}` has no output `{f}` (it has: {fields})");
        };
        // One value alone prints raw, so `$(moat output store.id)` needs no quoting.
        let text = match v {
            Value::String(s) if !args.json => s.clone(),
            other => other.to_string(),
        };
        data_line(&text)?;
        return Ok(Status::Ok);
    }
    if args.json {
        data_line(&serde_json::to_string_pretty(&Value::Object(selected))?)?;
    } else {
        let mut lines = String::new();
        for (k, fields) in &selected {
            for (f, v) in fields.as_object().into_iter().flatten() {
                let v = v.as_str().map_or_else(|| v.to_string(), str::to_string);
                lines.push_str(&format!("{k}.{f} = {v}\n"));
            }
        }
        data(&lines)?;
    }
    Ok(Status::Ok)
}

fn data(text: &str) -> std::io::Result<()> {
    crate::output::data(text)
}

fn known(all: &Map<String, Value>) -> String {
    if all.is_empty() {
        "nothing yet: run `moat apply` first".to_string()
    } else {
        all.keys().cloned().collect::<Vec<_>>().join(", ")
    }
}

/// Every resource's outputs, by key.
pub fn outputs(record: &StateRecord) -> Map<String, Value> {
    record
        .resources
        .iter()
        .map(|(k, r)| (k.clone(), Value::Object(resource_outputs(r))))
        .collect()
}

/// One resource's outputs: its ID, kind and name, and the endpoints Azure derives from the
/// name in the public cloud (an AKS API server FQDN is chosen by Azure and is not in the
/// record, so it is not listed).
pub fn resource_outputs(r: &ResourceState) -> Map<String, Value> {
    let name = r.id.rsplit('/').next().unwrap_or_default().to_string();
    let mut m = Map::new();
    m.insert("id".into(), r.id.clone().into());
    m.insert("kind".into(), r.kind.word().into());
    m.insert("name".into(), name.clone().into());
    for (k, v) in (r.kind.def().outputs)(&name, &r.applied) {
        m.insert(k.into(), v.into());
    }
    // What the service assigned (a principal ID), recorded by the last write.
    for (k, v) in &r.outputs {
        m.insert(k.clone(), v.clone().into());
    }
    m
}
