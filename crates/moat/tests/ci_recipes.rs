//! The CI recipes users copy must work: `docs/ci.md`'s pipelines are parsed and checked
//! structurally (permissions, federated subjects, which plan the apply job applies, install
//! lines, links), and the composite action `.github/actions/moat-plan` is run step by step on
//! this machine, against a `moat sim` and a loopback stand-in for GitHub's comment API.

mod common;

use common::{Moat, Sim, path_str, repo};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

// ---------------------------------------------------------------------------------------------
// docs/ci.md

fn ci_doc() -> String {
    std::fs::read_to_string(repo().join("docs/ci.md")).expect("docs/ci.md")
}

/// Every fenced ```yaml block of a markdown text, parsed, with the line it starts on.
fn yaml_blocks(markdown: &str) -> Vec<(usize, Value)> {
    let mut blocks = Vec::new();
    let mut current: Option<(usize, usize, String)> = None;
    for (i, line) in markdown.lines().enumerate() {
        let trimmed = line.trim_start();
        match &mut current {
            None if trimmed == "```yaml" => {
                current = Some((i + 1, line.len() - trimmed.len(), String::new()));
            }
            Some((start, _, text)) if trimmed == "```" => {
                let value: Value = serde_saphyr::from_str(text).unwrap_or_else(|e| {
                    panic!(
                        "docs/ci.md:{}: the yaml block does not parse: {e}",
                        *start + 1
                    )
                });
                blocks.push((*start + 1, value));
                current = None;
            }
            Some((_, indent, text)) => {
                text.push_str(line.get(*indent..).unwrap_or(line.trim_start()));
                text.push('\n');
            }
            None => {}
        }
    }
    assert!(current.is_none(), "docs/ci.md: an unclosed yaml block");
    blocks
}

/// The block that has `key` at its top level.
fn block_with(blocks: &[(usize, Value)], key: &str) -> Value {
    blocks
        .iter()
        .find(|(_, v)| v.get(key).is_some())
        .map(|(_, v)| v.clone())
        .unwrap_or_else(|| panic!("docs/ci.md has no yaml block with a top-level `{key}:`"))
}

fn steps(job: &Value) -> Vec<Value> {
    job["steps"].as_array().cloned().unwrap_or_default()
}

/// Every `run:` script of a job, joined.
fn scripts(job: &Value) -> String {
    steps(job)
        .iter()
        .filter_map(|s| s["run"].as_str())
        .collect::<Vec<_>>()
        .join("\n")
}

/// The arguments after `moat apply` on every line of `script` that runs it.
fn moat_applies(script: &str) -> Vec<Vec<String>> {
    script
        .lines()
        .filter_map(|l| {
            let at = l.find("moat apply ")?;
            Some(
                l[at + "moat apply ".len()..]
                    .split_whitespace()
                    .map(|w| w.trim_matches('"').to_owned())
                    .collect(),
            )
        })
        .collect()
}

/// Effective permissions of a job: its own `permissions:` replace the workflow's.
fn permissions<'a>(workflow: &'a Value, job: &'a Value) -> &'a Value {
    if job.get("permissions").is_some() {
        &job["permissions"]
    } else {
        &workflow["permissions"]
    }
}

fn is_plan_file(arg: &str) -> bool {
    !arg.contains("SPEC") && !arg.ends_with(".yaml") && !arg.ends_with(".yml")
}

#[test]
fn the_github_workflow_has_the_permissions_its_steps_need() {
    let doc = ci_doc();
    let workflow = block_with(&yaml_blocks(&doc), "jobs");
    assert!(
        workflow.get("on").is_some(),
        "the workflow has no `on:` (a YAML 1.1 reader would have made it `true`)"
    );
    let jobs = workflow["jobs"].as_object().expect("jobs is a map");
    let mut sarif_uploads = 0;
    for (name, job) in jobs {
        let perms = permissions(&workflow, job);
        for step in steps(job) {
            let uses = step["uses"].as_str().unwrap_or_default();
            if uses.starts_with("github/codeql-action/upload-sarif") {
                sarif_uploads += 1;
                assert_eq!(
                    perms["security-events"], "write",
                    "job `{name}` uploads SARIF without `security-events: write`"
                );
            }
        }
        let oidc = job["env"]["MOAT_AUTH"] == "github-oidc"
            || workflow["env"]["MOAT_AUTH"] == "github-oidc";
        if oidc {
            assert_eq!(
                perms["id-token"], "write",
                "job `{name}` authenticates with GitHub's OIDC token without `id-token: write`"
            );
        }
    }
    assert!(sarif_uploads > 0, "the workflow uploads no SARIF");
    assert_eq!(jobs["plan"]["permissions"]["pull-requests"], "write");
}

#[test]
fn the_federated_subjects_are_the_ones_github_issues() {
    let doc = ci_doc();
    let workflow = block_with(&yaml_blocks(&doc), "jobs");
    let subjects: Vec<&str> = doc
        .match_indices("repo:ORG/REPO:")
        .map(|(at, _)| {
            let rest = &doc[at..];
            let end = rest
                .find(|c: char| c == '`' || c.is_whitespace())
                .unwrap_or(rest.len());
            &rest[..end]
        })
        .collect();
    let plan = &workflow["jobs"]["plan"];
    assert!(
        plan["if"]
            .as_str()
            .is_some_and(|c| c.contains("'pull_request'")),
        "the plan job runs on pull requests"
    );
    assert!(
        plan.get("environment").is_none(),
        "a plan job with an environment would get the environment subject"
    );
    assert!(
        subjects.contains(&"repo:ORG/REPO:pull_request"),
        "{subjects:?}"
    );
    let apply = &workflow["jobs"]["apply"];
    match apply["environment"].as_str() {
        Some(env) => {
            let wanted = format!("repo:ORG/REPO:environment:{env}");
            assert!(subjects.contains(&wanted.as_str()), "{subjects:?}");
            // With an environment GitHub never issues the branch subject: do not suggest it.
            assert!(
                !subjects.iter().any(|s| s.contains(":ref:")),
                "{subjects:?}"
            );
        }
        None => assert!(
            subjects.contains(&"repo:ORG/REPO:ref:refs/heads/main"),
            "{subjects:?}"
        ),
    }
}

#[test]
fn the_apply_job_applies_the_plan_reviewed_on_its_pull_request() {
    let doc = ci_doc();
    let workflow = block_with(&yaml_blocks(&doc), "jobs");
    let plan = &workflow["jobs"]["plan"];
    let apply = &workflow["jobs"]["apply"];
    assert!(apply["if"].as_str().is_some_and(|c| c.contains("'push'")));

    // The plan job names its artifact after the commit that was reviewed.
    let upload = steps(plan)
        .into_iter()
        .find(|s| {
            s["uses"]
                .as_str()
                .is_some_and(|u| u.starts_with("actions/upload-artifact"))
        })
        .expect("the plan job uploads the plan");
    assert_eq!(
        upload["with"]["name"],
        "moat-plan-${{ github.event.pull_request.head.sha }}"
    );

    // The apply job finds the merge commit's pull request and that commit's artifact.
    let script = scripts(apply);
    assert!(
        script.contains("commits/$GITHUB_SHA/pulls") && script.contains(".head.sha"),
        "the apply job must find the pull request of the merge commit:\n{script}"
    );
    assert!(script.contains("name=\"moat-plan-$head\""), "{script}");
    for step in steps(apply) {
        let uses = step["uses"].as_str().unwrap_or_default();
        assert!(
            !uses.contains("download-artifact"),
            "`{uses}` picks an artifact by pattern, not the reviewed one"
        );
    }

    // Every apply applies a saved plan; none falls back to the spec with --auto-approve.
    let applies = moat_applies(&script);
    assert!(!applies.is_empty(), "the apply job runs no `moat apply`");
    for args in &applies {
        assert!(
            is_plan_file(&args[0]) && args[0].starts_with("reviewed/"),
            "`moat apply {}` does not apply the downloaded plan",
            args.join(" ")
        );
    }
    for (line, block) in yaml_blocks(&doc) {
        let text = serde_json::to_string(&block).expect("json");
        assert!(
            !text.contains(r#"moat apply \"$SPEC\" --auto-approve"#),
            "docs/ci.md:{line}: applies an unreviewed plan"
        );
    }
}

#[test]
fn the_azure_pipeline_applies_the_approved_artifact_with_its_service_connection() {
    let doc = ci_doc();
    let pipeline = block_with(&yaml_blocks(&doc), "stages");
    assert_eq!(pipeline["variables"]["MOAT_AUTH"], "azure-pipelines");
    let stages = pipeline["stages"].as_array().expect("stages");
    let stage = |name: &str| {
        stages
            .iter()
            .find(|s| s["stage"] == name)
            .unwrap_or_else(|| panic!("no stage `{name}`"))
    };
    let plan_steps = stage("plan")["jobs"][0]["steps"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        plan_steps
            .iter()
            .any(|s| s["publish"].is_string() && s["artifact"] == "moat-plan"),
        "the plan stage publishes the plan"
    );
    let deployment = &stage("apply")["jobs"][0];
    assert!(deployment["deployment"].is_string() && deployment["environment"].is_string());
    let deploy_steps = deployment["strategy"]["runOnce"]["deploy"]["steps"]
        .as_array()
        .cloned()
        .expect("deployment steps");
    assert!(
        deploy_steps
            .iter()
            .any(|s| s["download"] == "current" && s["artifact"] == "moat-plan"),
        "the apply stage downloads this run's plan"
    );
    let mut applies = 0;
    for s in plan_steps.iter().chain(&deploy_steps) {
        let Some(script) = s["inputs"]["inlineScript"].as_str() else {
            continue;
        };
        assert_eq!(s["task"], "AzureCLI@2");
        assert_eq!(
            s["env"]["SYSTEM_ACCESSTOKEN"], "$(System.AccessToken)",
            "the azure-pipelines credential needs the job's access token"
        );
        for args in moat_applies(script) {
            applies += 1;
            assert!(
                args[0].starts_with("$(Pipeline.Workspace)/moat-plan/"),
                "`moat apply {}` does not apply the downloaded plan",
                args.join(" ")
            );
        }
    }
    assert_eq!(applies, 1);
}

#[test]
fn the_ci_doc_installs_from_the_repository_and_its_links_resolve() {
    let doc = ci_doc();
    for placeholder in [
        "example.invalid",
        "example.com",
        "<your",
        "YOUR_",
        "cargo install --git",
    ] {
        assert!(
            !doc.contains(placeholder),
            "docs/ci.md contains `{placeholder}`"
        );
    }
    let installs: Vec<&str> = doc
        .lines()
        .filter(|l| l.contains("cargo install --"))
        .collect();
    assert!(!installs.is_empty());
    for line in installs {
        assert!(
            line.contains("--path") && line.contains("/crates/moat") && line.contains("--locked"),
            "not an install from the repository: {line}"
        );
    }

    // Relative links name files that exist, and anchors name headings that exist.
    let docs = repo().join("docs");
    let mut checked = 0;
    for (at, _) in doc.match_indices("](") {
        let rest = &doc[at + 2..];
        let target = &rest[..rest.find(')').expect("closed link")];
        if target.starts_with("http://") || target.starts_with("https://") {
            continue;
        }
        let (file, anchor) = target.split_once('#').unwrap_or((target, ""));
        let path = docs.join(file);
        assert!(
            path.exists(),
            "docs/ci.md links to {target}, which does not exist"
        );
        if !anchor.is_empty() {
            let text = std::fs::read_to_string(&path).expect("linked file");
            let slugs: Vec<String> = text
                .lines()
                .filter(|l| l.starts_with('#'))
                .map(|l| {
                    l.trim_start_matches('#')
                        .trim()
                        .to_lowercase()
                        .chars()
                        .filter(|c| c.is_alphanumeric() || *c == ' ' || *c == '-')
                        .map(|c| if c == ' ' { '-' } else { c })
                        .collect()
                })
                .collect();
            assert!(
                slugs.iter().any(|s| s == anchor),
                "docs/ci.md links to {target}: no such heading in {file}"
            );
        }
        checked += 1;
    }
    assert!(checked >= 3, "only {checked} relative links found");
}

#[test]
fn the_workflow_uses_the_action_with_inputs_and_outputs_it_has() {
    let doc = ci_doc();
    let workflow = block_with(&yaml_blocks(&doc), "jobs");
    let action = action_yml();
    let step = steps(&workflow["jobs"]["plan"])
        .into_iter()
        .find(|s| {
            s["uses"]
                .as_str()
                .is_some_and(|u| u.ends_with("/.github/actions/moat-plan"))
        })
        .expect("the plan job uses the moat-plan action");
    for (input, _) in step["with"].as_object().expect("with") {
        assert!(
            action["inputs"].get(input).is_some(),
            "action.yml has no input `{input}`"
        );
    }
    let id = step["id"].as_str().expect("the action step has an id");
    let text = serde_json::to_string(&workflow).expect("json");
    let prefix = format!("steps.{id}.outputs.");
    for (at, _) in text.match_indices(&prefix) {
        let name: String = text[at + prefix.len()..]
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '-' || *c == '_')
            .collect();
        assert!(
            action["outputs"].get(&name).is_some(),
            "action.yml has no output `{name}`"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// The composite action, run locally

fn action_dir() -> PathBuf {
    repo().join(".github/actions/moat-plan")
}

fn action_yml() -> Value {
    let path = action_dir().join("action.yml");
    let text = std::fs::read_to_string(&path).expect("action.yml");
    serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// What the `${{ … }}` expressions of the action can see.
struct Contexts {
    inputs: BTreeMap<String, String>,
    github: BTreeMap<String, String>,
    steps: BTreeMap<String, BTreeMap<String, String>>,
}

impl Contexts {
    /// The value of a context path such as `inputs.spec` or `steps.plan.outputs.exitcode`.
    fn lookup(&self, path: &str) -> String {
        let parts: Vec<&str> = path.split('.').collect();
        let found = match parts.as_slice() {
            ["inputs", name] => self.inputs.get(*name).cloned(),
            ["github", rest @ ..] => self.github.get(&rest.join(".")).cloned(),
            ["steps", id, "outputs", name] => Some(
                self.steps
                    .get(*id)
                    .and_then(|o| o.get(*name))
                    .cloned()
                    .unwrap_or_default(),
            ),
            _ => None,
        };
        found.unwrap_or_else(|| panic!("the test cannot evaluate `{path}`"))
    }

    fn operand(&self, text: &str) -> String {
        let text = text.trim();
        if let Some(literal) = text.strip_prefix('\'').and_then(|t| t.strip_suffix('\'')) {
            literal.to_owned()
        } else {
            self.lookup(text)
        }
    }

    /// The small subset of GitHub's expression language the action uses: `a == b`,
    /// `a != b`, joined with `&&`. Anything else fails the test, so it cannot pass by
    /// misreading a condition.
    fn condition(&self, expr: &str) -> bool {
        expr.split("&&").all(|clause| {
            if let Some((a, b)) = clause.split_once("==") {
                self.operand(a) == self.operand(b)
            } else if let Some((a, b)) = clause.split_once("!=") {
                self.operand(a) != self.operand(b)
            } else {
                panic!("the test cannot evaluate `{clause}`")
            }
        })
    }

    /// `text` with every `${{ path }}` replaced.
    fn substitute(&self, text: &str) -> String {
        let mut out = String::new();
        let mut rest = text;
        while let Some(at) = rest.find("${{") {
            out.push_str(&rest[..at]);
            let end = rest[at..].find("}}").expect("closed expression") + at;
            out.push_str(&self.lookup(rest[at + 3..end].trim()));
            rest = &rest[end + 2..];
        }
        out.push_str(rest);
        out
    }
}

/// One request the fake GitHub API saw.
#[derive(Clone, Debug)]
struct ApiCall {
    method: String,
    path: String,
    authorization: String,
    body: Value,
}

/// A loopback stand-in for GitHub's issue-comment API, stopped on drop.
struct FakeGithub {
    url: String,
    calls: Arc<Mutex<Vec<ApiCall>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FakeGithub {
    fn start() -> FakeGithub {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let calls = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (seen, stopping) = (calls.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            let mut comments: Vec<Value> = Vec::new();
            while !stopping.load(Ordering::SeqCst) {
                let Ok((stream, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(10));
                    continue;
                };
                stream.set_nonblocking(false).expect("blocking");
                stream
                    .set_read_timeout(Some(Duration::from_secs(10)))
                    .expect("timeout");
                let mut reader = BufReader::new(stream);
                let mut line = String::new();
                if reader.read_line(&mut line).is_err() {
                    continue;
                }
                let mut words = line.split_whitespace();
                let method = words.next().unwrap_or_default().to_owned();
                let path = words.next().unwrap_or_default().to_owned();
                let (mut length, mut authorization) = (0, String::new());
                loop {
                    let mut header = String::new();
                    if reader.read_line(&mut header).is_err() || header.trim().is_empty() {
                        break;
                    }
                    let (name, value) = header.split_once(':').unwrap_or(("", ""));
                    match name.to_ascii_lowercase().as_str() {
                        "content-length" => length = value.trim().parse().unwrap_or(0),
                        "authorization" => authorization = value.trim().to_owned(),
                        _ => {}
                    }
                }
                let mut body = vec![0; length];
                let _ = reader.read_exact(&mut body);
                let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                let (status, answer) = if method == "GET" && path.contains("/issues/7/comments") {
                    (200, Value::Array(comments.clone()))
                } else if method == "POST" && path == "/repos/org/infra/issues/7/comments" {
                    let id = comments.len() + 100;
                    comments.push(json!({"id": id, "body": body["body"]}));
                    (201, json!({"id": id}))
                } else if method == "PATCH"
                    && let Some(c) = comments
                        .iter_mut()
                        .find(|c| path == format!("/repos/org/infra/issues/comments/{}", c["id"]))
                {
                    c["body"] = body["body"].clone();
                    (200, c.clone())
                } else {
                    (404, json!({"message": "Not Found"}))
                };
                seen.lock().expect("lock").push(ApiCall {
                    method,
                    path,
                    authorization,
                    body,
                });
                let text = answer.to_string();
                let mut stream = reader.into_inner();
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{text}",
                    text.len()
                );
            }
        });
        FakeGithub {
            url,
            calls,
            stop,
            thread: Some(thread),
        }
    }

    fn calls(&self) -> Vec<ApiCall> {
        self.calls.lock().expect("lock").clone()
    }
}

impl Drop for FakeGithub {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// What one run of the action did.
struct ActionRun {
    ran: Vec<String>,
    skipped: Vec<String>,
    outputs: BTreeMap<String, String>,
    summary: String,
}

/// Runs the action's steps the way the runner does (bash, `-eo pipefail`, `GITHUB_OUTPUT`
/// per step, `if:` conditions, inputs with their defaults), in `workspace`.
fn run_action(
    workspace: &Path,
    with: &[(&str, &str)],
    github: &[(&str, &str)],
    api: &str,
) -> ActionRun {
    let action = action_yml();
    assert_eq!(action["runs"]["using"], "composite");
    let mut inputs = BTreeMap::new();
    for (name, spec) in action["inputs"].as_object().expect("inputs") {
        if let Some(default) = spec["default"].as_str() {
            inputs.insert(name.clone(), default.to_owned());
        }
    }
    let github: BTreeMap<String, String> = github
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .chain([("action_path".to_owned(), path_str(&action_dir()).to_owned())])
        .collect();
    let mut cx = Contexts {
        inputs: BTreeMap::new(),
        github,
        steps: BTreeMap::new(),
    };
    // Defaults may themselves be expressions (`${{ github.token }}`).
    for (name, value) in inputs {
        let value = cx.substitute(&value);
        cx.inputs.insert(name, value);
    }
    for (name, value) in with {
        assert!(
            cx.inputs.contains_key(*name) || action["inputs"].get(*name).is_some(),
            "action.yml has no input `{name}`"
        );
        cx.inputs.insert((*name).to_owned(), (*value).to_owned());
    }
    for (name, spec) in action["inputs"].as_object().expect("inputs") {
        if spec["required"] == true {
            assert!(
                cx.inputs.contains_key(name),
                "required input `{name}` not given"
            );
        }
    }
    let summary = workspace.join("step-summary.md");
    std::fs::write(&summary, "").expect("summary");
    let moat_dir = Path::new(common::BIN).parent().expect("bin dir");
    let path = format!(
        "{}:{}",
        moat_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let (mut ran, mut skipped) = (Vec::new(), Vec::new());
    for (i, step) in action["runs"]["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .enumerate()
    {
        let name = step["name"].as_str().unwrap_or("step").to_owned();
        if let Some(condition) = step["if"].as_str()
            && !cx.condition(condition)
        {
            skipped.push(name);
            continue;
        }
        assert_eq!(
            step["shell"], "bash",
            "step `{name}`: only bash steps are run"
        );
        let script = step["run"]
            .as_str()
            .unwrap_or_else(|| panic!("step `{name}` is not a `run:` step"));
        let output = workspace.join(format!("github-output-{i}"));
        std::fs::write(&output, "").expect("output file");
        let dir = step["working-directory"].as_str().map_or_else(
            || workspace.to_path_buf(),
            |d| workspace.join(cx.substitute(d)),
        );
        let mut c = Command::new("bash");
        c.args(["--noprofile", "--norc", "-eo", "pipefail", "-c"])
            .arg(cx.substitute(script))
            .current_dir(&dir)
            .env_clear()
            .env("PATH", &path)
            .env("HOME", workspace)
            .env("NO_COLOR", "1")
            .env("GITHUB_ACTION_PATH", action_dir())
            .env("GITHUB_OUTPUT", &output)
            .env("GITHUB_STEP_SUMMARY", &summary)
            .env("GITHUB_API_URL", api)
            .env("GITHUB_REPOSITORY", "org/infra");
        for (k, v) in step["env"].as_object().into_iter().flatten() {
            c.env(
                k,
                cx.substitute(v.as_str().expect("env values are strings")),
            );
        }
        let out = c.output().expect("bash runs");
        assert!(
            out.status.success(),
            "step `{name}` failed ({}):\n{}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        if let Some(id) = step["id"].as_str() {
            let text = std::fs::read_to_string(&output).expect("outputs");
            let outputs = text
                .lines()
                .filter_map(|l| l.split_once('='))
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect();
            cx.steps.insert(id.to_owned(), outputs);
        }
        ran.push(name);
    }
    let outputs = action["outputs"]
        .as_object()
        .expect("outputs")
        .iter()
        .map(|(k, o)| {
            let value = cx.substitute(o["value"].as_str().expect("output value"));
            (k.clone(), value)
        })
        .collect();
    ActionRun {
        ran,
        skipped,
        outputs,
        summary: std::fs::read_to_string(&summary).expect("summary"),
    }
}

#[test]
fn the_plan_action_plans_against_moat_sim_and_keeps_one_comment() {
    if !moat_testkit::runs("node") {
        moat_testkit::skip(
            "moat/ci_recipes",
            "`node` not found on PATH (the comment step runs on Node)",
        );
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let workspace = dir.path().join("workspace");
    std::fs::create_dir_all(workspace.join("infra")).expect("workspace");
    std::fs::copy(
        repo().join("examples/minimal.yaml"),
        workspace.join("infra/minimal.yaml"),
    )
    .expect("spec");
    let sim = Sim::start(&dir.path().join("cloud.json"), 0.0, &[]);
    let api = FakeGithub::start();
    let with = [
        ("spec", "minimal.yaml"),
        ("working-directory", "infra"),
        ("install", "false"),
        ("arm-endpoint", sim.url.as_str()),
        ("sarif-file", "moat.sarif"),
    ];
    let github = [
        ("event_name", "pull_request"),
        ("event.pull_request.number", "7"),
        ("token", "test-token"),
    ];

    let first = run_action(&workspace, &with, &github, &api.url);
    assert_eq!(
        first.skipped,
        ["install moat"],
        "install is off: moat is on PATH"
    );
    assert_eq!(first.ran, ["lint", "plan", "comment the plan"]);
    assert_eq!(first.outputs["exitcode"], "2");
    assert_eq!(first.outputs["has-changes"], "true");
    let plan_file = PathBuf::from(&first.outputs["plan-file"]);
    assert_eq!(
        plan_file,
        workspace
            .join("infra/plan.moatplan")
            .canonicalize()
            .unwrap()
    );
    let sarif = std::fs::read_to_string(&first.outputs["sarif-file"]).expect("sarif");
    assert!(sarif.contains("\"version\": \"2.1.0\""), "{sarif}");
    assert!(first.summary.contains("3 to add"), "{}", first.summary);
    let calls = api.calls();
    let post = calls
        .iter()
        .find(|c| c.method == "POST")
        .expect("a new comment");
    assert_eq!(post.authorization, "Bearer test-token");
    let body = post.body["body"].as_str().expect("body");
    assert!(
        body.starts_with("<!-- moat-plan -->") && body.contains("3 to add"),
        "{body}"
    );

    // The saved plan applies; the next run of the action updates the same comment.
    // The saved plan names its spec relative to itself, so apply runs from anywhere (here
    // the checkout's root, as the apply job does).
    let out = Moat::remote(&workspace.join("infra/.moat"), &sim.url)
        .command(&["apply", path_str(&plan_file), "--auto-approve"])
        .current_dir(&workspace)
        .output()
        .expect("moat apply runs");
    assert!(
        out.status.success(),
        "apply the action's plan: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let second = run_action(&workspace, &with, &github, &api.url);
    assert_eq!(second.outputs["exitcode"], "0");
    assert_eq!(second.outputs["has-changes"], "false");
    let calls = api.calls();
    assert_eq!(
        calls.iter().filter(|c| c.method == "POST").count(),
        1,
        "{calls:?}"
    );
    let patch = calls
        .iter()
        .find(|c| c.method == "PATCH")
        .expect("an update");
    assert_eq!(patch.path, "/repos/org/infra/issues/comments/100");
    assert!(
        patch.body["body"]
            .as_str()
            .is_some_and(|b| b.contains("No changes")),
        "{:?}",
        patch.body
    );

    // Outside a pull request there is no comment.
    let push = run_action(
        &workspace,
        &with,
        &[("event_name", "push"), ("token", "t")],
        &api.url,
    );
    assert_eq!(push.skipped, ["install moat", "comment the plan"]);
    drop(sim);
}
