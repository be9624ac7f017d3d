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

/// Why an ARM ID written in a spec cannot be used as it is.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum IdProblem {
    /// Not `/subscriptions/<guid>[/resourceGroups/<g>][/providers/<ns>/<type>/<name>…]`.
    #[error("it does not have the shape of an ARM resource ID")]
    Shape,
    /// A `.` or `..` segment: URL normalisation would aim the request elsewhere.
    #[error("`{0}` is a path step, so the request would reach another resource than the ID names")]
    DotSegment(String),
    /// A character that ends or changes the URL path (`?`, `#`, `%`, `\`), or a space or
    /// control character, which no ARM name holds.
    #[error("`{segment}` contains {}, which would change the request URL", describe(*ch))]
    Char {
        /// The segment holding it.
        segment: String,
        /// The character.
        ch: char,
    },
    /// The subscription segment is not a GUID.
    #[error("`{0}` is not a subscription ID (a GUID)")]
    Subscription(String),
}

fn describe(c: char) -> String {
    if c.is_control() || c.is_whitespace() {
        format!("the character U+{:04X}", u32::from(c))
    } else {
        format!("`{c}`")
    }
}

/// True for characters that must never reach a URL path from a name or an ID.
pub fn is_url_unsafe(c: char) -> bool {
    matches!(c, '?' | '#' | '%' | '\\') || c.is_control() || c.is_whitespace()
}

fn is_guid(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() == 5
        && [8, 4, 4, 4, 12]
            .iter()
            .zip(&parts)
            .all(|(n, p)| p.len() == *n && p.chars().all(|c| c.is_ascii_hexdigit()))
}

impl ArmId {
    /// Parses an ID given in a spec, refusing anything that would not reach exactly the
    /// resource it names: `.`/`..` segments, `?`, `#`, `%`, `\`, spaces and controls, and a
    /// subscription that is not a GUID. Its `Display` (`to_string`) then gives the normalised form.
    pub fn parse_checked(id: &str) -> Result<ArmId, IdProblem> {
        // Segment problems are more useful than "wrong shape", so they are looked for first.
        for segment in id.split('/') {
            if segment == "." || segment == ".." {
                return Err(IdProblem::DotSegment(segment.to_string()));
            }
            if let Some(ch) = segment.chars().find(|c| is_url_unsafe(*c)) {
                return Err(IdProblem::Char {
                    segment: segment.to_string(),
                    ch,
                });
            }
        }
        let parsed = ArmId::parse(id).ok_or(IdProblem::Shape)?;
        if !is_guid(&parsed.subscription) {
            return Err(IdProblem::Subscription(parsed.subscription));
        }
        Ok(parsed)
    }

    /// The same ID with the namespace and type words spelled as in `full_type` (the kind's
    /// ARM type), when they match it ignoring case; so one resource has one ID string in the
    /// plan, the requests and the state, however the spec spelled it.
    pub fn with_type_casing(&self, full_type: &str) -> ArmId {
        let mut words = full_type.split('/');
        let (Some(ns), Some(ns_given)) = (words.next(), self.namespace.as_ref()) else {
            return self.clone();
        };
        let words: Vec<&str> = words.collect();
        if !ns.eq_ignore_ascii_case(ns_given)
            || words.len() != self.types.len()
            || !words
                .iter()
                .zip(&self.types)
                .all(|(w, (t, _))| w.eq_ignore_ascii_case(t))
        {
            return self.clone();
        }
        ArmId {
            namespace: Some(ns.to_string()),
            types: words
                .iter()
                .zip(&self.types)
                .map(|(w, (_, n))| ((*w).to_string(), n.clone()))
                .collect(),
            ..self.clone()
        }
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

    const SUB: &str = "10ca1000-0000-4000-8000-000000000001";

    #[test]
    fn checked_ids_refuse_what_would_change_the_url() {
        let ok = format!(
            "/subscriptions/{SUB}/resourcegroups/rg/providers/microsoft.network/virtualnetworks/v"
        );
        let p = ArmId::parse_checked(&ok).expect("a plain ID");
        assert_eq!(
            p.with_type_casing("Microsoft.Network/virtualNetworks")
                .to_string(),
            format!(
                "/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v"
            )
        );
        // A different type keeps its spelling.
        assert_eq!(p.with_type_casing("Microsoft.Storage/storageAccounts"), p);
        for (bad, want) in [
            (
                format!("/subscriptions/{SUB}/resourceGroups/a-rg/../b-rg"),
                IdProblem::DotSegment("..".into()),
            ),
            (
                format!("/subscriptions/{SUB}/resourceGroups/./rg"),
                IdProblem::DotSegment(".".into()),
            ),
            (
                format!("/subscriptions/{SUB}/resourceGroups/rg?api-version=1"),
                IdProblem::Char {
                    segment: "rg?api-version=1".into(),
                    ch: '?',
                },
            ),
            (
                format!("/subscriptions/{SUB}/resourceGroups/rg#x"),
                IdProblem::Char {
                    segment: "rg#x".into(),
                    ch: '#',
                },
            ),
            (
                format!("/subscriptions/{SUB}/resourceGroups/rg%2F..%2Fother"),
                IdProblem::Char {
                    segment: "rg%2F..%2Fother".into(),
                    ch: '%',
                },
            ),
            (
                format!("/subscriptions/{SUB}/resourceGroups/r g"),
                IdProblem::Char {
                    segment: "r g".into(),
                    ch: ' ',
                },
            ),
            (
                "/subscriptions/not-a-guid/resourceGroups/rg".to_string(),
                IdProblem::Subscription("not-a-guid".into()),
            ),
            (
                format!("/subscriptions/{SUB}/resourceGroups"),
                IdProblem::Shape,
            ),
        ] {
            assert_eq!(ArmId::parse_checked(&bad), Err(want), "{bad}");
        }
    }
}
