//! The markdown plan (the pull-request comment): one collapsible block per resource with its
//! lint findings, a Mermaid diagram coloured by action, and a plan too large for GitHub's
//! 65 536-character limit cut short at a whole block with a note saying where the full plan is.

#[path = "scenarios/support.rs"]
mod support;

use moat_engine::fake::FakeArm;
use moat_engine::live::read_live;
use moat_engine::plan::Plan;
use moat_engine::render::{self, DEFAULT_MARKDOWN_LIMIT, Finding, MarkdownOptions};
use moat_engine::state::StateRecord;
use std::fmt::Write as _;
use std::path::Path;
use support::{model_from, model_of, plan_of};

/// Plans `model` against an empty subscription: everything is created.
async fn create_plan(model: &moat_model::Model) -> Plan {
    let record = StateRecord::new(&model.stack.value);
    let live = read_live(&FakeArm::new(), model, &record, 8)
        .await
        .expect("live read");
    plan_of(model, &live, &record, false).expect("a plan")
}

/// A spec of `groups` NSGs of `rules` rules each: a plan far past GitHub's limit.
fn big_spec(groups: usize, rules: usize) -> String {
    let mut s =
        String::from("stack: big\nlocation: eastus2\nresources:\n  rg: { type: resource_group }\n");
    for g in 0..groups {
        let _ = writeln!(
            s,
            "  nsg-{g}:\n    type: network_security_group\n    resource_group: rg\n    rules:"
        );
        for r in 0..rules {
            let _ = writeln!(
                s,
                "      - {{ name: rule-{r}, priority: {}, direction: inbound, access: allow, protocol: tcp, source: VirtualNetwork, destination_ports: [\"{}\"] }}",
                100 + r,
                1000 + r
            );
        }
    }
    s
}

fn utf16(s: &str) -> usize {
    s.encode_utf16().count()
}

/// Everything the comment opens it closes: a block cut in the middle would swallow the rest
/// of the page.
fn assert_balanced(md: &str) {
    assert_eq!(
        md.matches("<details").count(),
        md.matches("</details>").count(),
        "unbalanced <details>"
    );
    let fences = md.lines().filter(|l| l.starts_with("```")).count();
    assert_eq!(fences % 2, 0, "an unclosed code fence");
}

#[tokio::test]
async fn a_plan_past_githubs_limit_is_cut_short_with_a_link_to_the_full_plan() {
    let model = model_of("big.yaml", &big_spec(300, 30));
    let plan = create_plan(&model).await;
    assert_eq!(plan.summary.add, 301);
    let full = render::text(&plan, render::TextOptions::default());
    assert!(full.len() > 4 * 65_536, "the test plan must be large");

    let url = "https://github.com/org/infra/actions/runs/42";
    let md = render::markdown_with(
        &plan,
        &MarkdownOptions {
            full_plan_url: Some(url),
            ..Default::default()
        },
    );
    assert!(
        utf16(&md) <= DEFAULT_MARKDOWN_LIMIT,
        "{} characters",
        utf16(&md)
    );
    // With the plan action's marker in front, GitHub still takes it.
    assert!(utf16(&format!("<!-- moat-plan -->\n{md}")) <= 65_536);
    assert_balanced(&md);
    assert!(
        md.contains(&format!("[the plan artifact]({url})")),
        "{}",
        &md[md.len() - 600..]
    );
    let shown = md.matches("<details><summary>").count();
    assert!(shown > 10 && shown < 301, "{shown} blocks");
    assert!(
        md.contains(&format!("it shows {shown} of 301 resources")),
        "{}",
        &md[md.len() - 600..]
    );
    // The summary line is always there; a diagram of 301 nodes is not.
    assert!(md.contains("Plan: 301 to add"), "{}", &md[..300]);
    assert!(!md.contains("```mermaid"));

    // Without a link, the note says how to see the whole plan.
    let md = render::markdown_with(
        &plan,
        &MarkdownOptions {
            plan_file: Some("plan.moatplan"),
            ..Default::default()
        },
    );
    assert!(
        md.contains("`moat show plan.moatplan`"),
        "{}",
        &md[md.len() - 600..]
    );
    assert_balanced(&md);
    // A limit of one's own is kept too.
    let md = render::markdown_with(
        &plan,
        &MarkdownOptions {
            limit: 5_000,
            ..Default::default()
        },
    );
    assert!(utf16(&md) <= 5_000, "{}", utf16(&md));
    assert!(md.contains("`moat show PLANFILE`"), "{md}");
    assert_balanced(&md);
}

#[tokio::test]
async fn a_destroy_of_hundreds_of_data_stores_stays_under_the_limit() {
    let mut spec =
        String::from("stack: big\nlocation: eastus2\nresources:\n  rg: { type: resource_group }\n");
    for i in 0..400 {
        let _ = writeln!(
            spec,
            "  store-{i}: {{ type: storage_account, resource_group: rg, name: bigstore{i:04} }}"
        );
    }
    let model = model_of("stores.yaml", &spec);
    let plan = create_plan(&model).await;
    // The same resources, deleted: each one loses its data.
    let mut plan = plan;
    for r in &mut plan.resources {
        r.action = moat_engine::plan::Action::Delete;
        r.changes.clear();
        r.destructive = r.loses().is_some();
    }
    plan.summary = Plan::summarize(&plan.resources);
    assert_eq!(plan.resources.iter().filter(|r| r.destructive).count(), 400);
    let md = render::markdown(&plan);
    assert!(utf16(&md) <= DEFAULT_MARKDOWN_LIMIT, "{}", utf16(&md));
    assert!(md.contains("> - and 350 more"), "{}", &md[..2000]);
    assert_balanced(&md);
}

#[tokio::test]
async fn a_plan_within_the_limit_is_whole_with_a_block_per_resource_and_a_diagram() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scenarios/create-all");
    let model = model_from(&dir.join("spec.yaml"));
    let plan = create_plan(&model).await;
    let findings = [
        Finding {
            key: Some("store".into()),
            code: "ML101".into(),
            severity: "warning".into(),
            message: "the storage account <allows> shared keys".into(),
            location: Some("spec.yaml:60:3".into()),
            hint: Some("set `allow_shared_key_access: false`".into()),
        },
        Finding {
            key: None,
            code: "ML900".into(),
            severity: "note".into(),
            message: "a note about the whole spec".into(),
            location: None,
            hint: None,
        },
    ];
    let md = render::markdown_with(
        &plan,
        &MarkdownOptions {
            findings: &findings,
            ..Default::default()
        },
    );
    assert_balanced(&md);
    assert!(!md.contains("[!NOTE]"), "not cut short");
    assert_eq!(md.matches("<details><summary>").count(), 14);
    // The finding sits in its resource's block, escaped; the other in a section of its own.
    let store = md
        .split("<details><summary>")
        .find(|b| b.contains("<code>store</code>"))
        .expect("store's block");
    assert!(
        store.contains("`ML101` warning: the storage account &lt;allows&gt; shared keys"),
        "{store}"
    );
    let rest = md.split("#### Lint findings").nth(1).expect("lint section");
    assert!(
        rest.contains("`ML900` note: a note about the whole spec"),
        "{rest}"
    );
    // Rules and routes in the spec's words, references by key.
    assert!(md.contains(
        "+ rule batch-node-management: inbound allow tcp 29876-29877 from BatchNodeManagement priority 100"
    ));
    assert!(md.contains("+ route default: 0.0.0.0/0 → virtual_appliance 10.0.0.4"));
    assert!(md.contains("+ network_security_group = training-nsg"));
    // The diagram: every resource, an edge per dependency, coloured as created.
    let diagram = md
        .split("```mermaid\n")
        .nth(1)
        .and_then(|m| m.split("```").next())
        .expect("a diagram");
    assert!(diagram.starts_with("flowchart LR\n"));
    let edges = diagram.lines().filter(|l| l.contains(" --> ")).count();
    let deps: usize = plan.resources.iter().map(|r| r.depends_on.len()).sum();
    assert_eq!(edges, deps);
    assert!(diagram.contains("classDef create fill:"), "{diagram}");
    assert!(
        diagram.contains("[\"vnet/training<br/>subnet\"]"),
        "{diagram}"
    );
}

#[test]
fn the_diagram_shows_what_changed_and_what_it_depends_on_only() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scenarios/drift");
    let plan: Plan =
        serde_json::from_str(&std::fs::read_to_string(dir.join("plan.json")).unwrap()).unwrap();
    let diagram = render::mermaid(&plan).expect("a diagram");
    // Three updates, and the unchanged resources they depend on in grey.
    assert!(diagram.contains("classDef update"), "{diagram}");
    assert!(diagram.contains("classDef unchanged"), "{diagram}");
    assert!(!diagram.contains("classDef create"), "{diagram}");
    assert!(
        !diagram.contains("\"ws<br/>"),
        "ws is unchanged and nothing changed needs it"
    );
    let md = render::markdown(&plan);
    let drift = md
        .split("#### Objects have changed outside of moat")
        .nth(1)
        .and_then(|s| s.split("#### Changes").next())
        .expect("a drift section before the changes");
    assert!(
        drift.contains("+ rule allow-rdp: inbound allow tcp 3389 from Internet priority 200"),
        "{drift}"
    );
    assert!(
        drift.contains("~ network_rules.default_action: deny → allow"),
        "{drift}"
    );
}
