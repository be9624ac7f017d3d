//! ARM resource IDs: building them for each kind and reading the parts of a user-given one.

use std::fmt::Write as _;

/// A parsed `/subscriptions/{s}/resourceGroups/{g}/providers/{ns}/{type}/{name}[/{type}/{name}]…`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArmId {
    /// Subscription GUID.
    pub subscription: String,
    /// Resource group name, when the ID is inside one.
    pub resource_group: Option<String>,
    /// Provider namespace, e.g. `Microsoft.Network`.
    pub namespace: Option<String>,
    /// `(type, name)` pairs from the top-level resource down.
    pub types: Vec<(String, String)>,
}

impl ArmId {
    /// Parses an ARM ID; `None` when it does not have ARM's shape.
    pub fn parse(id: &str) -> Option<ArmId> {
        let parts: Vec<&str> = id.strip_prefix('/')?.split('/').collect();
        if parts.iter().any(|p| p.is_empty())
            || parts.len() < 2
            || !parts[0].eq_ignore_ascii_case("subscriptions")
        {
            return None;
        }
        let subscription = parts[1].to_string();
        let mut rest = &parts[2..];
        let mut resource_group = None;
        if rest.len() >= 2 && rest[0].eq_ignore_ascii_case("resourceGroups") {
            resource_group = Some(rest[1].to_string());
            rest = &rest[2..];
        }
        if rest.is_empty() {
            return Some(ArmId {
                subscription,
                resource_group,
                namespace: None,
                types: Vec::new(),
            });
        }
        if rest.len() < 4
            || !rest[0].eq_ignore_ascii_case("providers")
            || !rest.len().is_multiple_of(2)
        {
            return None;
        }
        let namespace = Some(rest[1].to_string());
        let types = rest[2..]
            .chunks(2)
            .map(|c| (c[0].to_string(), c[1].to_string()))
            .collect();
        Some(ArmId {
            subscription,
            resource_group,
            namespace,
            types,
        })
    }

    /// The full type, e.g. `Microsoft.Network/virtualNetworks/subnets`, or
    /// `Microsoft.Resources/resourceGroups` for a group.
    pub fn full_type(&self) -> String {
        match &self.namespace {
            None if self.resource_group.is_some() => {
                "Microsoft.Resources/resourceGroups".to_string()
            }
            None => "Microsoft.Resources/subscriptions".to_string(),
            Some(ns) => {
                let mut s = ns.clone();
                for (t, _) in &self.types {
                    let _ = write!(s, "/{t}");
                }
                s
            }
        }
    }

    /// The last name in the ID.
    pub fn name(&self) -> Option<&str> {
        match self.types.last() {
            Some((_, n)) => Some(n),
            None => self.resource_group.as_deref(),
        }
    }

    /// The ID of the parent resource (a subnet's VNet).
    pub fn parent(&self) -> Option<ArmId> {
        (self.types.len() > 1).then(|| ArmId {
            types: self.types[..self.types.len() - 1].to_vec(),
            ..self.clone()
        })
    }
}

impl std::fmt::Display for ArmId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "/subscriptions/{}", self.subscription)?;
        if let Some(g) = &self.resource_group {
            write!(f, "/resourceGroups/{g}")?;
        }
        if let Some(ns) = &self.namespace {
            write!(f, "/providers/{ns}")?;
            for (t, n) in &self.types {
                write!(f, "/{t}/{n}")?;
            }
        }
        Ok(())
    }
}

/// `/subscriptions/{s}/resourceGroups/{g}`.
pub fn resource_group_id(subscription: &str, group: &str) -> String {
    format!("/subscriptions/{subscription}/resourceGroups/{group}")
}

/// A top-level resource inside a group.
pub fn resource_id(group_id: &str, full_type: &str, name: &str) -> String {
    format!("{group_id}/providers/{full_type}/{name}")
}

/// Case-insensitive ARM ID equality, as ARM itself compares them.
pub fn same_id(a: &str, b: &str) -> bool {
    a.trim_end_matches('/')
        .eq_ignore_ascii_case(b.trim_end_matches('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_nested_ids() {
        let id = "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v/subnets/a";
        let p = ArmId::parse(id).expect("parses");
        assert_eq!(p.full_type(), "Microsoft.Network/virtualNetworks/subnets");
        assert_eq!(p.name(), Some("a"));
        assert_eq!(p.to_string(), id);
        assert_eq!(
            p.parent().map(|x| x.full_type()),
            Some("Microsoft.Network/virtualNetworks".to_string())
        );
        assert_eq!(
            ArmId::parse("/subscriptions/s1/resourcegroups/rg").map(|p| p.full_type()),
            Some("Microsoft.Resources/resourceGroups".into())
        );
        assert!(ArmId::parse("subscriptions/x").is_none());
        assert!(
            ArmId::parse(
                "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks"
            )
            .is_none()
        );
        assert!(same_id(id, &id.to_lowercase()));
    }
}
