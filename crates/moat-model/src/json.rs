//! Small helpers for ARM JSON bodies addressed by dotted paths (`properties.addressSpace`).

use serde_json::{Map, Value};

/// The value at `path`, if every step exists.
pub fn get<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(v, |cur, step| cur.get(step))
}

/// Sets `path` to `value`, creating objects on the way.
pub fn set(v: &mut Value, path: &str, value: Value) {
    let mut cur = v;
    let steps: Vec<&str> = path.split('.').collect();
    for (i, step) in steps.iter().enumerate() {
        if !cur.is_object() {
            *cur = Value::Object(Map::new());
        }
        let Value::Object(map) = cur else { return };
        if i + 1 == steps.len() {
            map.insert((*step).to_string(), value);
            return;
        }
        cur = map
            .entry((*step).to_string())
            .or_insert_with(|| Value::Object(Map::new()));
    }
}

/// Removes `path`; true when something was removed.
pub fn remove(v: &mut Value, path: &str) -> bool {
    let (parent, last) = match path.rsplit_once('.') {
        Some((p, l)) => (get_mut(v, p), l),
        None => (Some(v), path),
    };
    parent
        .and_then(Value::as_object_mut)
        .is_some_and(|m| m.remove(last).is_some())
}

/// Mutable access to the value at `path`.
pub fn get_mut<'a>(v: &'a mut Value, path: &str) -> Option<&'a mut Value> {
    path.split('.').try_fold(v, |cur, step| cur.get_mut(step))
}
