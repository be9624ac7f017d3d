//! The facts of the spec's JSON Schema that this crate owns — each kind's naming rule and the
//! region list — handed to `moat_spec::schema`, which cannot depend on this crate. They are
//! taken from the same tables the resolver checks with, so the schema cannot drift from them.

use crate::model::Kind;
use crate::regions::REGIONS;
use moat_spec::schema::{Facts, NameFacts};

/// Naming rules by resource type word, and every region.
pub fn schema_facts() -> Facts {
    let mut facts = Facts {
        regions: REGIONS.iter().map(|r| (*r).to_string()).collect(),
        ..Facts::default()
    };
    for kind in Kind::all() {
        let rule = kind.def().name_rule;
        facts.names.insert(
            kind.word().to_string(),
            NameFacts {
                pattern: rule.pattern(),
                min_length: rule.min,
                max_length: rule.max,
                what: rule.what.to_string(),
                global: rule.global,
            },
        );
    }
    facts
}
