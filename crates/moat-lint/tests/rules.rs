//! The rule catalogue against real specs: every rule has a case under `tests/cases/` that
//! trips it at a stated line and column (`# expect: ML110 at 31:7`) and a case that passes;
//! the rendered findings are snapshots; the shipped example lints clean; SARIF is well formed;
//! `docs/rules.md` documents every rule.

use moat_spec::diag::{RenderOptions, render};
use moat_spec::{Diagnostic, Severity, SourceFile, VarOverrides};
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn cases() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cases")
}

/// Loads, resolves and lints a spec: `(file, spec and model diagnostics, lint findings)`.
fn check(name: &str, text: &str) -> (SourceFile, Vec<Diagnostic>, Vec<Diagnostic>) {
    let file = SourceFile::new(name, text);
    let env = |_: &str| None;
    let (spec, mut diags) = moat_spec::load(&file, &VarOverrides::default(), &env);
    let Some(spec) = spec else {
        return (file, diags, Vec::new());
    };
    let (model, more) = moat_model::resolve(&spec, &moat_model::Context::default());
    diags.extend(more);
    let found = model.map(|m| moat_lint::lint(&m)).unwrap_or_default();
    (file, diags, found)
}

fn read_case(name: &str) -> (SourceFile, Vec<Diagnostic>, Vec<Diagnostic>) {
    let path = cases().join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    check(&format!("tests/cases/{name}"), &text)
}

fn rendered(file: &SourceFile, diags: &[Diagnostic]) -> String {
    diags
        .iter()
        .map(|d| render(d, file, RenderOptions::default()))
        .collect::<Vec<_>>()
        .join("\n")
}

/// `# expect: ML110 at 31:7` lines of a case.
fn expectations(text: &str) -> Vec<(String, usize, usize)> {
    text.lines()
        .filter_map(|l| l.strip_prefix("# expect: "))
        .map(|l| {
            let (id, at) = l
                .split_once(" at ")
                .unwrap_or_else(|| panic!("bad expectation `{l}`"));
            let (line, col) = at
                .trim()
                .split_once(':')
                .unwrap_or_else(|| panic!("bad position `{at}`"));
            (
                id.trim().to_string(),
                line.parse().unwrap_or(0),
                col.parse().unwrap_or(0),
            )
        })
        .collect()
}

fn assert_resolves(file: &SourceFile, model_diags: &[Diagnostic]) {
    let errors: Vec<&Diagnostic> = model_diags.iter().filter(|d| d.is_error()).collect();
    assert!(
        errors.is_empty(),
        "{} does not resolve cleanly:\n{}",
        file.name(),
        rendered(file, model_diags)
    );
}

#[test]
fn every_rule_has_a_failing_and_a_passing_case() {
    for rule in moat_lint::rules() {
        for kind in ["fail", "pass"] {
            let p = cases().join(format!("{}.{kind}.yaml", rule.id));
            assert!(p.exists(), "missing {}", p.display());
        }
    }
}

#[test]
fn failing_cases_trip_their_rule_at_the_stated_place() {
    for rule in moat_lint::rules() {
        let name = format!("{}.fail.yaml", rule.id);
        let (file, model_diags, found) = read_case(&name);
        assert_resolves(&file, &model_diags);
        let expected = expectations(file.text());
        assert!(
            expected.iter().any(|(id, _, _)| id == rule.id),
            "{name} states no `# expect: {}` line",
            rule.id
        );
        for (id, line, col) in &expected {
            let hit = found.iter().find(|d| {
                d.code == *id && {
                    let at = file.line_col(d.primary.span.start);
                    at.line == *line && at.col == *col
                }
            });
            assert!(
                hit.is_some(),
                "{name}: no {id} at {line}:{col}; found:\n{}",
                rendered(&file, &found)
            );
        }
        for d in &found {
            assert_eq!(
                Some(d.severity),
                moat_lint::rules()
                    .iter()
                    .find(|r| r.id == d.code)
                    .map(|r| r.severity),
                "{name}: {} has the catalogue's severity",
                d.code
            );
            let at = file.line_col(d.primary.span.start);
            assert!(
                expected
                    .iter()
                    .any(|(id, l, c)| *id == d.code && *l == at.line && *c == at.col),
                "{name}: unexpected {} at {}:{}:\n{}",
                d.code,
                at.line,
                at.col,
                render(d, &file, RenderOptions::default())
            );
        }
    }
}

#[test]
fn passing_cases_have_no_findings_of_their_rule() {
    for rule in moat_lint::rules() {
        let name = format!("{}.pass.yaml", rule.id);
        let (file, model_diags, found) = read_case(&name);
        assert_resolves(&file, &model_diags);
        let bad: Vec<Diagnostic> = found
            .into_iter()
            .filter(|d| d.code == rule.id || d.severity > Severity::Note)
            .collect();
        assert!(bad.is_empty(), "{name}:\n{}", rendered(&file, &bad));
    }
}

#[test]
fn failing_cases_render_as_snapshotted() {
    for rule in moat_lint::rules() {
        let name = format!("{}.fail.yaml", rule.id);
        let (file, _, found) = read_case(&name);
        insta::assert_snapshot!(rule.id, rendered(&file, &found));
    }
}

#[test]
fn the_secure_workspace_example_lints_clean() {
    let path = root().join("examples/secure-ml-workspace.yaml");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let (file, model_diags, found) = check("examples/secure-ml-workspace.yaml", &text);
    assert_resolves(&file, &model_diags);
    let bad: Vec<Diagnostic> = found.into_iter().collect();
    assert!(
        bad.is_empty(),
        "the example has findings:\n{}",
        rendered(&file, &bad)
    );
}

#[test]
fn every_example_resolves_and_lints_without_errors() {
    let dir = root().join("examples");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{e}"))
        .flatten()
    {
        let path = entry.path();
        if path.extension().and_then(|e| e.to_str()) != Some("yaml") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{e}"));
        let (file, model_diags, found) = check(&path.display().to_string(), &text);
        assert_resolves(&file, &model_diags);
        let errors: Vec<Diagnostic> = found.into_iter().filter(Diagnostic::is_error).collect();
        assert!(errors.is_empty(), "{}", rendered(&file, &errors));
        seen += 1;
    }
    assert!(seen >= 1);
}

#[test]
fn sarif_log_is_structurally_valid() {
    let (file, mut diags, found) = read_case("ML110.fail.yaml");
    diags.extend(found);
    // A spec diagnostic (not a lint rule) rides along as a result of its own code.
    diags.push(
        Diagnostic::error("E0201", "unknown reference `x`", moat_spec::Span::new(0, 5))
            .label("here"),
    );
    let log = moat_lint::sarif(&file, &diags);
    assert_eq!(log["version"], "2.1.0");
    assert!(
        log["$schema"]
            .as_str()
            .is_some_and(|s| s.contains("sarif-2.1.0"))
    );
    let run = &log["runs"][0];
    let rules = run["tool"]["driver"]["rules"]
        .as_array()
        .unwrap_or_else(|| panic!("no rules"));
    assert_eq!(rules.len(), moat_lint::rules().len());
    for (i, r) in rules.iter().enumerate() {
        assert_eq!(r["id"], moat_lint::rules()[i].id);
        assert!(
            r["shortDescription"]["text"]
                .as_str()
                .is_some_and(|t| !t.is_empty())
        );
        assert!(
            ["error", "warning", "note"]
                .contains(&r["defaultConfiguration"]["level"].as_str().unwrap_or(""))
        );
    }
    let results = run["results"]
        .as_array()
        .unwrap_or_else(|| panic!("no results"));
    assert_eq!(results.len(), diags.len());
    for (res, d) in results.iter().zip(&diags) {
        assert_eq!(res["ruleId"], d.code.as_str());
        assert_eq!(res["level"], d.severity.as_str());
        assert!(
            res["message"]["text"]
                .as_str()
                .is_some_and(|t| t.starts_with(&d.message))
        );
        let region = &res["locations"][0]["physicalLocation"]["region"];
        let at = file.line_col(d.primary.span.start);
        assert_eq!(region["startLine"], at.line);
        assert_eq!(region["startColumn"], at.col);
        assert!(region["endLine"].as_u64() >= region["startLine"].as_u64());
        assert!(region["endColumn"].as_u64().is_some());
        assert_eq!(
            res["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
            "tests/cases/ML110.fail.yaml"
        );
        match res.get("ruleIndex") {
            Some(i) => assert_eq!(
                rules[i.as_u64().unwrap_or(u64::MAX) as usize]["id"],
                d.code.as_str()
            ),
            None => assert!(d.code.starts_with('E')),
        }
    }
    assert!(results.iter().any(|r| r["ruleId"] == "ML110"));
    assert!(
        results
            .iter()
            .any(|r| r["ruleId"] == "E0201" && r.get("ruleIndex").is_none())
    );
}

#[test]
fn docs_document_every_rule() {
    let path = root().join("docs/rules.md");
    let docs = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    for rule in moat_lint::rules() {
        let heading = format!("## {} `{}`", rule.id, rule.name);
        let at = docs
            .find(&heading)
            .unwrap_or_else(|| panic!("docs/rules.md has no `{heading}` section"));
        let section = &docs[at..];
        let section = &section[..section[3..].find("\n## ").map_or(section.len(), |e| e + 3)];
        assert!(
            section.contains(&format!("Severity: **{}**", rule.severity.as_str())),
            "{}: severity",
            rule.id
        );
        assert!(
            section.contains(rule.summary),
            "{}: the catalogue's summary",
            rule.id
        );
        assert!(
            section.contains("Fails:") && section.contains("Passes:"),
            "{}: snippets",
            rule.id
        );
        assert!(
            section.matches("```yaml").count() >= 2,
            "{}: two yaml snippets",
            rule.id
        );
    }
    let documented = docs.lines().filter(|l| l.starts_with("## ML")).count();
    assert_eq!(
        documented,
        moat_lint::rules().len(),
        "docs/rules.md documents a rule the catalogue lacks"
    );
}

fn codes_at(file: &SourceFile, found: &[Diagnostic]) -> Vec<(String, usize, usize)> {
    found
        .iter()
        .map(|d| {
            let at = file.line_col(d.primary.span.start);
            (d.code.clone(), at.line, at.col)
        })
        .collect()
}

#[test]
fn inference_subnets_of_existing_networks_are_compared_by_id() {
    let spec = |admitted: &str| {
        format!(
            "stack: s
location: eastus2
resources:
  rg: {{ type: resource_group }}
  hub: {{ type: virtual_network, existing: {{ resource_group: net, name: hub }} }}
  store:
    type: storage_account
    resource_group: rg
    name: sstore1
    network_rules: {{ default_action: deny, subnets: [{admitted}] }}
  vault: {{ type: key_vault, resource_group: rg, name: s-vault-1 }}
  insights: {{ type: application_insights, resource_group: rg }}
  ws: {{ type: ml_workspace, resource_group: rg, storage_account: store, key_vault: vault, application_insights: insights }}
  scoring:
    type: aks_compute
    workspace: ws
    create: {{ subnet: hub/inference, service_cidr: 10.2.0.0/16, dns_service_ip: 10.2.0.10 }}
"
        )
    };
    let (file, model_diags, found) = check("a.yaml", &spec("hub/training"));
    assert_resolves(&file, &model_diags);
    let codes = codes_at(&file, &found);
    assert!(codes.contains(&("ML206".to_string(), 10, 53)), "{codes:?}");
    assert!(codes.contains(&("ML203".to_string(), 10, 54)), "{codes:?}");
    let (file, _, found) = check("a.yaml", &spec("hub/training, hub/inference"));
    let codes = codes_at(&file, &found);
    assert!(!codes.iter().any(|(c, _, _)| c == "ML206"), "{codes:?}");
}

#[test]
fn a_missing_batch_rule_points_at_the_nsg() {
    let text =
        std::fs::read_to_string(cases().join("ML110.pass.yaml")).unwrap_or_else(|e| panic!("{e}"));
    // Drop the Batch rule and aim the deny at one range: no spec rule decides, so Azure's
    // DenyAllInBound does (a deny of `Internet` would decide: Batch addresses are public).
    let start = text
        .find("      - { name: batch")
        .unwrap_or_else(|| panic!("no batch rule"));
    let end = start
        + text[start..]
            .find("      - { name: deny-internet")
            .unwrap_or_else(|| panic!("no deny rule"));
    let without = format!("{}{}", &text[..start], &text[end..])
        .replace("source: Internet", "source: 10.9.0.0/16");
    let (file, model_diags, found) = check("c.yaml", &without);
    assert_resolves(&file, &model_diags);
    let d = found
        .iter()
        .find(|d| d.code == "ML110")
        .unwrap_or_else(|| panic!("no ML110:\n{}", rendered(&file, &found)));
    assert_eq!(file.slice(d.primary.span), "training-nsg");
    assert!(
        d.primary.text.contains("DenyAllInBound"),
        "{}",
        d.primary.text
    );
}

/// Rule IDs are written once, as `catalogue::ids` constants: a `"ML123"` literal in the rule
/// code could name a rule the catalogue (and so `docs/rules.md`) does not have.
#[test]
fn rule_code_names_ids_by_constant() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut found = Vec::new();
    for entry in std::fs::read_dir(&src).expect("src") {
        let path = entry.expect("entry").path();
        let text = std::fs::read_to_string(&path).expect("read");
        let bytes = text.as_bytes();
        for (i, w) in bytes.windows(7).enumerate() {
            if w[0] == b'"'
                && &w[1..3] == b"ML"
                && w[3..6].iter().all(u8::is_ascii_digit)
                && w[6] == b'"'
            {
                found.push(format!("{}: {}", path.display(), &text[i + 1..i + 6]));
            }
        }
    }
    assert!(found.is_empty(), "rule ID literals: {found:?}");
}

/// ML309 covers the cluster of a Kubernetes compute too (its inference router serves the
/// scoring port in the node subnet), and ML308 (inbound Azure ML management, v1 only) does not
/// apply to it.
#[test]
fn the_scoring_port_rule_covers_kubernetes_compute_clusters() {
    let case = std::fs::read_to_string(cases().join("ML309.fail.yaml")).unwrap();
    let text = case
        .replace(
            "      - { name: azure-ml, priority: 100, direction: inbound, access: allow, protocol: tcp,\n          source: AzureMachineLearning, destination_ports: [\"443\"] }\n",
            "",
        )
        .replace(
            "    network: { plugin: azure,",
            "    ml_extension: { inference_router: internal_load_balancer, high_availability: false }\n    network: { plugin: azure,",
        )
        .replace(
            "  inference: { type: aks_compute, workspace: ws, cluster: aks, cluster_purpose: fast_prod }",
            "  k8s: { type: kubernetes_compute, workspace: ws, cluster: aks }",
        );
    assert_ne!(text, case);
    let (file, diags, found) = check("k8s-scoring.yaml", &text);
    assert!(
        diags.iter().all(|d| !d.is_error()),
        "{}",
        rendered(&file, &diags)
    );
    let ids: Vec<&str> = found.iter().map(|d| d.code.as_str()).collect();
    assert_eq!(ids, ["ML309"], "{}", rendered(&file, &found));
    let allowed = text.replace(
        "      - { name: deny-all,",
        "      - { name: callers, priority: 200, direction: inbound, access: allow, protocol: tcp,\n          source: VirtualNetwork, destination_ports: [\"80\"] }\n      - { name: deny-all,",
    );
    let (file, _, found) = check("k8s-scoring.yaml", &allowed);
    assert!(found.is_empty(), "{}", rendered(&file, &found));
}
