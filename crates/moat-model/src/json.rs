//! ARM JSON bodies addressed by one path dialect, [`ArmPath`]: dotted steps with optional
//! array indexes (`properties.addressSpace`, `properties.agentPoolProfiles[0].vmSize`). The
//! field tables, the projection, the planner and the plan's change paths all use it.

use serde_json::{Map, Value};

/// One step of an [`ArmPath`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step<'a> {
    /// An object key.
    Key(&'a str),
    /// An array index.
    Index(usize),
}

/// A parsed ARM path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArmPath<'a>(Vec<Step<'a>>);

/// A path that does not parse (an empty step, an unclosed or non-numeric index).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not an ARM path (`a.b`, `a[0].b`)")]
pub struct BadPath(pub String);

impl<'a> ArmPath<'a> {
    /// Parses `a.b[0].c`.
    pub fn parse(path: &'a str) -> Result<ArmPath<'a>, BadPath> {
        let bad = || BadPath(path.to_string());
        let mut steps = Vec::new();
        for part in path.split('.') {
            let (name, mut rest) = match part.find('[') {
                Some(i) => (&part[..i], &part[i..]),
                None => (part, ""),
            };
            if name.is_empty() {
                return Err(bad());
            }
            steps.push(Step::Key(name));
            while !rest.is_empty() {
                let close = rest.find(']').ok_or_else(bad)?;
                let index = rest
                    .get(1..close)
                    .and_then(|n| n.parse().ok())
                    .filter(|_| rest.starts_with('['))
                    .ok_or_else(bad)?;
                steps.push(Step::Index(index));
                rest = &rest[close + 1..];
            }
        }
        Ok(ArmPath(steps))
    }

    /// The steps.
    pub fn steps(&self) -> &[Step<'a>] {
        &self.0
    }
}

fn step<'v>(v: &'v Value, s: &Step<'_>) -> Option<&'v Value> {
    match s {
        Step::Key(k) => v.get(*k),
        Step::Index(i) => v.get(*i),
    }
}

fn step_mut<'v>(v: &'v mut Value, s: &Step<'_>) -> Option<&'v mut Value> {
    match s {
        Step::Key(k) => v.get_mut(*k),
        Step::Index(i) => v.get_mut(*i),
    }
}

/// The value at `path`, if every step exists (and the path parses).
pub fn get<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    let p = ArmPath::parse(path).ok()?;
    p.0.iter().try_fold(v, step)
}

/// Sets `path` to `value`, creating objects on the way. Index steps must exist already (a
/// body never grows an array by path); a path that does not parse sets nothing.
pub fn set(v: &mut Value, path: &str, value: Value) {
    let Ok(p) = ArmPath::parse(path) else { return };
    let mut cur = v;
    let n = p.0.len();
    for (i, s) in p.0.iter().enumerate() {
        match s {
            Step::Key(k) => {
                if !cur.is_object() {
                    *cur = Value::Object(Map::new());
                }
                let Value::Object(map) = cur else { return };
                if i + 1 == n {
                    map.insert((*k).to_string(), value);
                    return;
                }
                cur = map
                    .entry((*k).to_string())
                    .or_insert_with(|| Value::Object(Map::new()));
            }
            Step::Index(ix) => {
                let Some(slot) = cur.get_mut(*ix) else { return };
                if i + 1 == n {
                    *slot = value;
                    return;
                }
                cur = slot;
            }
        }
    }
}

/// Removes `path`; true when something was removed.
pub fn remove(v: &mut Value, path: &str) -> bool {
    let Ok(p) = ArmPath::parse(path) else {
        return false;
    };
    let Some((last, parent)) = p.0.split_last() else {
        return false;
    };
    let Some(parent) = parent.iter().try_fold(v, |cur, s| step_mut(cur, s)) else {
        return false;
    };
    match last {
        Step::Key(k) => parent
            .as_object_mut()
            .is_some_and(|m| m.remove(*k).is_some()),
        Step::Index(i) => parent
            .as_array_mut()
            .filter(|a| *i < a.len())
            .map(|a| a.remove(*i))
            .is_some(),
    }
}

/// Mutable access to the value at `path`.
pub fn get_mut<'a>(v: &'a mut Value, path: &str) -> Option<&'a mut Value> {
    let p = ArmPath::parse(path).ok()?;
    p.0.iter().try_fold(v, |cur, s| step_mut(cur, s))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn paths_parse_keys_and_indexes() {
        let p = ArmPath::parse("properties.pools[0].vmSize").unwrap();
        assert_eq!(
            p.steps(),
            &[
                Step::Key("properties"),
                Step::Key("pools"),
                Step::Index(0),
                Step::Key("vmSize")
            ]
        );
        for bad in ["", "a..b", "a[", "a[x]", "[0]", "a]0["] {
            assert!(ArmPath::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn get_set_remove_follow_indexes() {
        let mut v = json!({ "p": { "pools": [ { "vmSize": "A" } ] } });
        assert_eq!(get(&v, "p.pools[0].vmSize"), Some(&json!("A")));
        set(&mut v, "p.pools[0].vmSize", json!("B"));
        set(&mut v, "p.new.x", json!(1));
        assert_eq!(get(&v, "p.pools[0].vmSize"), Some(&json!("B")));
        assert_eq!(get(&v, "p.new.x"), Some(&json!(1)));
        assert!(remove(&mut v, "p.pools[0].vmSize"));
        assert!(!remove(&mut v, "p.pools[3]"));
        assert_eq!(get(&v, "p.pools[0]"), Some(&json!({})));
    }
}
