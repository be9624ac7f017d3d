//! Azure's naming rules per resource kind: length, characters, first and last character,
//! and whether the name must be unique across all of Azure.

/// One kind's naming rule.
#[derive(Clone, Copy, Debug)]
pub struct NameRule {
    /// What is being named, for messages.
    pub what: &'static str,
    /// Shortest name.
    pub min: usize,
    /// Longest name.
    pub max: usize,
    /// Characters allowed anywhere.
    pub chars: Charset,
    /// Constraint on the first character.
    pub first: Edge,
    /// Constraint on the last character.
    pub last: Edge,
    /// No `--` anywhere.
    pub no_double_hyphen: bool,
    /// Unique across all of Azure (a DNS name).
    pub global: bool,
}

/// Character classes of naming rules.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Charset {
    /// Lowercase letters and digits.
    LowerAlnum,
    /// Letters and digits.
    Alnum,
    /// Letters, digits and hyphens.
    AlnumHyphen,
    /// Lowercase letters, digits and hyphens.
    LowerAlnumHyphen,
    /// Letters, digits, hyphens and underscores.
    AlnumHyphenUnderscore,
    /// Letters, digits, `_`, `.`, `-`.
    AlnumUnderscorePeriodHyphen,
    /// Resource groups: also `(` and `)`.
    ResourceGroup,
    /// Anything but `%&\?/#` and control characters (`#` would start a URL fragment).
    Loose,
}

impl Charset {
    fn allows(self, c: char) -> bool {
        match self {
            Charset::LowerAlnum => c.is_ascii_lowercase() || c.is_ascii_digit(),
            Charset::Alnum => c.is_ascii_alphanumeric(),
            Charset::AlnumHyphen => c.is_ascii_alphanumeric() || c == '-',
            Charset::LowerAlnumHyphen => c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-',
            Charset::AlnumHyphenUnderscore => c.is_ascii_alphanumeric() || c == '-' || c == '_',
            Charset::AlnumUnderscorePeriodHyphen => {
                c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')
            }
            Charset::ResourceGroup => {
                c.is_alphanumeric() || matches!(c, '_' | '.' | '-' | '(' | ')')
            }
            Charset::Loose => !c.is_control() && !matches!(c, '%' | '&' | '\\' | '?' | '/' | '#'),
        }
    }

    /// The character class, in ECMA-262 syntax. Resource groups allow any Unicode letter or
    /// digit; without the `u` flag that is approximated by every character from U+00AA up,
    /// which is looser than moat (the schema must never be stricter).
    fn class(self) -> &'static str {
        match self {
            Charset::LowerAlnum => "[a-z0-9]",
            Charset::Alnum => "[A-Za-z0-9]",
            Charset::AlnumHyphen => "[A-Za-z0-9-]",
            Charset::LowerAlnumHyphen => "[a-z0-9-]",
            Charset::AlnumHyphenUnderscore => "[A-Za-z0-9_-]",
            Charset::AlnumUnderscorePeriodHyphen => "[A-Za-z0-9_.-]",
            Charset::ResourceGroup => "[A-Za-z0-9_.()\\u00AA-\\uFFFF-]",
            Charset::Loose => "[^%&\\\\?/#\\u0000-\\u001F\\u007F-\\u009F]",
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Charset::LowerAlnum => "lowercase letters and digits",
            Charset::Alnum => "letters and digits",
            Charset::AlnumHyphen => "letters, digits and hyphens",
            Charset::LowerAlnumHyphen => "lowercase letters, digits and hyphens",
            Charset::AlnumHyphenUnderscore => "letters, digits, hyphens and underscores",
            Charset::AlnumUnderscorePeriodHyphen => {
                "letters, digits, underscores, periods and hyphens"
            }
            Charset::ResourceGroup => {
                "letters, digits, underscores, periods, hyphens and parentheses"
            }
            Charset::Loose => "any characters except % & \\ ? / #",
        }
    }
}

/// Constraints on a name's first or last character.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Edge {
    /// Anything the charset allows.
    Any,
    /// A letter.
    Letter,
    /// A letter or digit.
    Alnum,
    /// A letter, digit or underscore.
    AlnumUnderscore,
    /// Not a period.
    NotPeriod,
}

impl Edge {
    /// The class a first or last character must match, or `None` when anything goes.
    fn class(self) -> Option<&'static str> {
        match self {
            Edge::Any => None,
            Edge::Letter => Some("[A-Za-z]"),
            Edge::Alnum => Some("[A-Za-z0-9]"),
            Edge::AlnumUnderscore => Some("[A-Za-z0-9_]"),
            Edge::NotPeriod => Some("[^.]"),
        }
    }

    fn allows(self, c: char) -> bool {
        match self {
            Edge::Any => true,
            Edge::Letter => c.is_ascii_alphabetic(),
            Edge::Alnum => c.is_ascii_alphanumeric(),
            Edge::AlnumUnderscore => c.is_ascii_alphanumeric() || c == '_',
            Edge::NotPeriod => c != '.',
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Edge::Any => "anything",
            Edge::Letter => "a letter",
            Edge::Alnum => "a letter or digit",
            Edge::AlnumUnderscore => "a letter, digit or underscore",
            Edge::NotPeriod => "not a period",
        }
    }
}

const fn rule(
    what: &'static str,
    min: usize,
    max: usize,
    chars: Charset,
    first: Edge,
    last: Edge,
) -> NameRule {
    NameRule {
        what,
        min,
        max,
        chars,
        first,
        last,
        no_double_hyphen: false,
        global: false,
    }
}

/// `resource_group`
pub const RESOURCE_GROUP: NameRule = rule(
    "resource group",
    1,
    90,
    Charset::ResourceGroup,
    Edge::Any,
    Edge::NotPeriod,
);
/// `virtual_network`
pub const VIRTUAL_NETWORK: NameRule = rule(
    "virtual network",
    2,
    64,
    Charset::AlnumUnderscorePeriodHyphen,
    Edge::Alnum,
    Edge::AlnumUnderscore,
);
/// subnets, NSGs, route tables, rules and routes
pub const NETWORK_CHILD: NameRule = rule(
    "network resource",
    1,
    80,
    Charset::AlnumUnderscorePeriodHyphen,
    Edge::Alnum,
    Edge::AlnumUnderscore,
);
/// `storage_account`
pub const STORAGE_ACCOUNT: NameRule = NameRule {
    global: true,
    ..rule(
        "storage account",
        3,
        24,
        Charset::LowerAlnum,
        Edge::Any,
        Edge::Any,
    )
};
/// `private_dns_zone`: a DNS name (labels of letters, digits and hyphens; the two-label rule
/// is the kind's check)
pub const PRIVATE_DNS_ZONE: NameRule = rule(
    "private DNS zone",
    3,
    253,
    Charset::AlnumUnderscorePeriodHyphen,
    Edge::Alnum,
    Edge::Alnum,
);
/// `key_vault`
pub const KEY_VAULT: NameRule = NameRule {
    global: true,
    no_double_hyphen: true,
    ..rule(
        "key vault",
        3,
        24,
        Charset::AlnumHyphen,
        Edge::Letter,
        Edge::Alnum,
    )
};
/// `application_insights`
pub const APPLICATION_INSIGHTS: NameRule = rule(
    "Application Insights component",
    1,
    255,
    Charset::Loose,
    Edge::Any,
    Edge::NotPeriod,
);
/// `container_registry`
pub const CONTAINER_REGISTRY: NameRule = NameRule {
    global: true,
    ..rule(
        "container registry",
        5,
        50,
        Charset::Alnum,
        Edge::Any,
        Edge::Any,
    )
};
/// `ml_workspace`
pub const ML_WORKSPACE: NameRule = rule(
    "ML workspace",
    3,
    33,
    Charset::AlnumHyphenUnderscore,
    Edge::Alnum,
    Edge::Any,
);
/// `aml_compute`, `aks_compute`
pub const ML_COMPUTE: NameRule = rule(
    "ML compute",
    2,
    16,
    Charset::AlnumHyphen,
    Edge::Letter,
    Edge::Alnum,
);
/// `user_assigned_identity` (3–128; Microsoft.ManagedIdentity naming rules)
pub const MANAGED_IDENTITY: NameRule = rule(
    "managed identity",
    3,
    128,
    Charset::AlnumHyphenUnderscore,
    Edge::Alnum,
    Edge::AlnumUnderscore,
);
/// `role_assignment`: its Azure name is a derived UUID, so its key is only a label.
pub const ROLE_ASSIGNMENT: NameRule = rule(
    "role assignment",
    1,
    128,
    Charset::Loose,
    Edge::Any,
    Edge::Any,
);
/// `aks_cluster`
pub const AKS_CLUSTER: NameRule = rule(
    "AKS cluster",
    1,
    63,
    Charset::AlnumHyphenUnderscore,
    Edge::Alnum,
    Edge::Alnum,
);
/// AKS DNS prefix
pub const AKS_DNS_PREFIX: NameRule = rule(
    "AKS DNS prefix",
    1,
    54,
    Charset::AlnumHyphen,
    Edge::Alnum,
    Edge::Alnum,
);
/// AKS node pool
pub const AKS_NODE_POOL: NameRule = rule(
    "AKS node pool",
    1,
    12,
    Charset::LowerAlnum,
    Edge::Letter,
    Edge::Any,
);
/// `stack:`
pub const STACK: NameRule = rule(
    "stack",
    1,
    63,
    Charset::LowerAlnumHyphen,
    Edge::Alnum,
    Edge::Alnum,
);
/// `ml_model`, `ml_environment`, `ml_code` (asset names; the version is separate)
pub const ML_ASSET: NameRule = rule(
    "ML asset",
    1,
    255,
    Charset::AlnumUnderscorePeriodHyphen,
    Edge::Alnum,
    Edge::Any,
);
/// An `aks_cluster`'s `ml_extension.name`: the extension becomes a Helm release of that name
/// (lowercase letters, digits and hyphens, at most 53 characters).
pub const CLUSTER_EXTENSION: NameRule = rule(
    "cluster extension",
    1,
    53,
    Charset::LowerAlnumHyphen,
    Edge::Alnum,
    Edge::Alnum,
);
/// `online_endpoint`, `online_deployment`
pub const ML_ENDPOINT: NameRule = rule(
    "online endpoint or deployment",
    3,
    32,
    Charset::AlnumHyphen,
    Edge::Letter,
    Edge::Alnum,
);

impl NameRule {
    /// Checks `name`; `Err` says what is wrong and how to fix it.
    pub fn check(&self, name: &str) -> Result<(), String> {
        let n = name.chars().count();
        let a = self.article();
        let what = self.what;
        if n < self.min || n > self.max {
            return Err(format!(
                "{a} {what} name has {}–{} characters; `{name}` has {n}",
                self.min, self.max
            ));
        }
        if let Some(bad) = name.chars().find(|&c| !self.chars.allows(c)) {
            return Err(format!(
                "{a} {what} name may contain only {}; `{name}` contains `{bad}`",
                self.chars.describe()
            ));
        }
        if let Some(c) = name.chars().next().filter(|&c| !self.first.allows(c)) {
            return Err(format!(
                "{a} {what} name must start with {}; `{name}` starts with `{c}`",
                self.first.describe()
            ));
        }
        if let Some(c) = name.chars().last().filter(|&c| !self.last.allows(c)) {
            return Err(format!(
                "{a} {what} name must end with {}; `{name}` ends with `{c}`",
                self.last.describe()
            ));
        }
        if self.no_double_hyphen && name.contains("--") {
            return Err(format!("{a} {what} name may not contain `--`"));
        }
        Ok(())
    }

    /// The rule as an ECMA-262 regular expression (for the JSON Schema's `pattern`; lengths
    /// go to `minLength`/`maxLength`). Lookaheads carry the first- and last-character rules so
    /// one-character names are checked against both, as [`NameRule::check`] does.
    pub fn pattern(&self) -> String {
        let mut p = String::from("^");
        if let Some(f) = self.first.class() {
            p.push_str(&format!("(?={f})"));
        }
        if let Some(l) = self.last.class() {
            p.push_str(&format!("(?=.*{l}$)"));
        }
        if self.no_double_hyphen {
            p.push_str("(?!.*--)");
        }
        p.push_str(self.chars.class());
        p.push_str("+$");
        p
    }

    /// `a` or `an` before [`NameRule::what`], by how it is spoken (`an ML compute`).
    fn article(&self) -> &'static str {
        let spoken_vowel = self
            .what
            .starts_with(['a', 'e', 'i', 'o', 'u', 'A', 'E', 'I', 'O', 'U'])
            || ["ML", "AKS"].iter().any(|p| self.what.starts_with(p));
        if spoken_vowel { "an" } else { "a" }
    }

    /// A name that satisfies the rule, derived from `name`, when one is easy to suggest.
    pub fn suggest(&self, name: &str) -> Option<String> {
        let lower = self.chars == Charset::LowerAlnum || self.chars == Charset::LowerAlnumHyphen;
        let mut s: String = name
            .chars()
            .map(|c| if lower { c.to_ascii_lowercase() } else { c })
            // Separators the rule forbids become hyphens where hyphens are allowed: `Secure_ML`
            // suggests `secure-ml`, not `secureml`.
            .map(|c| {
                if matches!(c, '_' | '.' | ' ') && !self.chars.allows(c) && self.chars.allows('-') {
                    '-'
                } else {
                    c
                }
            })
            .filter(|&c| self.chars.allows(c))
            .collect();
        if self.no_double_hyphen {
            while s.contains("--") {
                s = s.replace("--", "-");
            }
        }
        s.truncate(self.max);
        while s.chars().last().is_some_and(|c| !self.last.allows(c)) {
            s.pop();
        }
        (s != name && self.check(&s).is_ok()).then_some(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storage_names() {
        assert!(STORAGE_ACCOUNT.check("mlsecstore").is_ok());
        assert!(STORAGE_ACCOUNT.check("ml-sec-store").is_err());
        assert!(STORAGE_ACCOUNT.check("ab").is_err());
        assert!(STORAGE_ACCOUNT.check("MLSTORE").is_err());
        assert_eq!(
            STORAGE_ACCOUNT.suggest("ML-Store"),
            Some("mlstore".to_string())
        );
    }

    #[test]
    fn vault_names() {
        assert!(KEY_VAULT.check("mlsec-vault").is_ok());
        assert!(KEY_VAULT.check("1vault").is_err());
        assert!(KEY_VAULT.check("vault-").is_err());
        assert!(KEY_VAULT.check("my--vault").is_err());
        assert!(KEY_VAULT.check("a-very-long-key-vault-name-x").is_err());
    }

    #[test]
    fn other_names() {
        assert!(RESOURCE_GROUP.check("mlsec-rg").is_ok());
        assert!(RESOURCE_GROUP.check("rg.").is_err());
        assert!(VIRTUAL_NETWORK.check("v").is_err());
        assert!(VIRTUAL_NETWORK.check("vnet-").is_err());
        assert!(ML_COMPUTE.check("cpu-cluster").is_ok());
        assert!(ML_COMPUTE.check("cpu-cluster-for-training").is_err());
        assert!(ML_COMPUTE.check("1cpu").is_err());
        assert!(CONTAINER_REGISTRY.check("vision-acr").is_err());
        assert!(AKS_NODE_POOL.check("system").is_ok());
        assert!(STACK.check("secure-ml").is_ok());
        assert!(STACK.check("Secure_ML").is_err());
        assert_eq!(STACK.suggest("Secure_ML"), Some("secure-ml".to_string()));
        assert!(
            ML_COMPUTE
                .check("x")
                .is_err_and(|e| e.starts_with("an ML compute name"))
        );
        assert!(
            STORAGE_ACCOUNT
                .check("x")
                .is_err_and(|e| e.starts_with("a storage account name"))
        );
    }

    #[test]
    fn names_that_would_change_a_url_are_refused() {
        // `#` would start a fragment; `/`, `?` and `%` change the path or add a query.
        for bad in ["ai#frag", "ai/../x", "ai?x=1", "ai%2Fx", ".."] {
            assert!(APPLICATION_INSIGHTS.check(bad).is_err(), "{bad}");
        }
        for bad in ["a-rg/../b-rg", "rg?x", "rg#x", "..", "."] {
            assert!(RESOURCE_GROUP.check(bad).is_err(), "{bad}");
        }
        assert!(APPLICATION_INSIGHTS.check("ml insights (prod)").is_ok());
    }
}
