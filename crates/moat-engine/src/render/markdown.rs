//! The plan as a pull-request comment: the summary, a warning for what loses data, a Mermaid
//! diagram of what changes and what it depends on, what changed outside moat, then one
//! collapsible block per resource with its reasons, its lint findings and its changes. GitHub
//! refuses a comment over 65 536 characters: past [`MarkdownOptions::limit`] the comment stops
//! at a whole block and says how many resources it leaves out and where the full plan is.

use super::text::{DRIFT_HEADING, DRIFT_NOTE, drift_header, drift_lines};
use super::{Names, action_word, listed, loss_line, mermaid, resource_lines, summary_line};
use crate::plan::{Action, Plan, ResourcePlan};
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;

/// GitHub's limit on a comment body, in characters (UTF-16 code units, as its API counts).
pub const GITHUB_COMMENT_LIMIT: usize = 65_536;

/// The default size of the markdown plan: GitHub's limit with room for what the poster adds
/// (the action's hidden marker).
pub const DEFAULT_MARKDOWN_LIMIT: usize = GITHUB_COMMENT_LIMIT - 1_000;

/// The most destructive changes the warning at the top lists one by one.
const MAX_WARNINGS: usize = 50;

/// A lint finding to show with the resource it is about.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// The key of the resource the finding is in, when it is in one.
    pub key: Option<String>,
    /// The rule's code (`ML101`).
    pub code: String,
    /// `error`, `warning` or `note`.
    pub severity: String,
    /// The message.
    pub message: String,
    /// `file:line:col`.
    pub location: Option<String>,
    /// How to fix it.
    pub hint: Option<String>,
}

/// What the comment shows besides the plan, and its size.
#[derive(Clone, Debug)]
pub struct MarkdownOptions<'a> {
    /// Lint findings: each in the block of its resource, the rest in a section of their own.
    pub findings: &'a [Finding],
    /// Where the full plan is (the CI run's plan artifact), linked from a truncated comment.
    pub full_plan_url: Option<&'a str>,
    /// The saved plan file, named in a truncated comment (`moat show FILE`) without a link.
    pub plan_file: Option<&'a str>,
    /// The most characters (UTF-16 code units) the comment may have.
    pub limit: usize,
}

impl Default for MarkdownOptions<'_> {
    fn default() -> Self {
        MarkdownOptions {
            findings: &[],
            full_plan_url: None,
            plan_file: None,
            limit: DEFAULT_MARKDOWN_LIMIT,
        }
    }
}

/// Characters as GitHub counts them.
fn units(s: &str) -> usize {
    s.encode_utf16().count()
}

/// Text for HTML (the `<summary>` lines) and for markdown list items: nothing in it can open
/// or close a tag, and control characters are escaped.
fn html(s: &str) -> String {
    moat_spec::diag::escape_text(s)
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// A fenced block of `lang` whose fence no line of `body` can close.
fn fenced(lang: &str, body: &str) -> String {
    let mut run = 0;
    let mut longest = 0;
    for c in body.chars() {
        run = if c == '`' { run + 1 } else { 0 };
        longest = longest.max(run);
    }
    let fence = "`".repeat(longest.max(2) + 1);
    format!("{fence}{lang}\n{body}{fence}\n")
}

fn icon(r: &ResourcePlan) -> &'static str {
    match r.action {
        _ if r.destructive => "⚠️",
        Action::Create => "🟢",
        Action::Update => "🟡",
        Action::Replace => "🟣",
        Action::Delete => "🔴",
        Action::Move => "🔵",
        Action::Unreadable => "❓",
        Action::NoOp | Action::Read => "⚪",
    }
}

fn finding_line(f: &Finding, with_key: bool) -> String {
    let mark = match f.severity.as_str() {
        "error" => "❌",
        "warning" => "⚠️",
        _ => "ℹ️",
    };
    let mut line = format!(
        "{mark} `{}` {}: {}",
        html(&f.code),
        f.severity,
        html(&f.message)
    );
    if with_key && let Some(k) = &f.key {
        line.push_str(&format!(" (`{}`)", html(k)));
    }
    if let Some(at) = &f.location {
        line.push_str(&format!(" — {}", html(at)));
    }
    if let Some(h) = &f.hint {
        line.push_str(&format!("; hint: {}", html(h)));
    }
    line
}

/// What a reviewer needs of a resource's ARM ID: its Azure name and resource group (the whole
/// ID is in the JSON plan).
fn azure_name(id: &str) -> String {
    let Some(parsed) = moat_model::armid::ArmId::parse(id) else {
        return format!("`{}`", html(id));
    };
    let name = parsed.types.last().map(|(_, n)| n.as_str());
    match (name, &parsed.resource_group) {
        (Some(name), Some(group)) => format!("Azure name `{}` in `{}`", html(name), html(group)),
        (Some(name), None) => format!("Azure name `{}`", html(name)),
        (None, Some(group)) => format!("Azure name `{}`", html(group)),
        (None, None) => format!("`{}`", html(id)),
    }
}

fn resource_block(r: &ResourcePlan, names: &Names, findings: &[&Finding]) -> String {
    let mut out = String::new();
    let what = match (&r.moved_from, r.action) {
        (Some(from), Action::Move) => format!("<code>{}</code> → ", html(from)),
        _ => String::new(),
    };
    let _ = writeln!(
        out,
        "<details><summary>{} {} {what}<code>{}</code> ({})</summary>\n",
        icon(r),
        action_word(r.action),
        html(&r.key),
        r.kind
    );
    let mut notes: Vec<String> = Vec::new();
    if r.destructive
        && let Some(l) = loss_line(r)
    {
        notes.push(format!("**{}**", html(&l)));
    }
    if let (Some(from), false) = (&r.moved_from, r.action == Action::Move) {
        notes.push(format!("moved from `{}`", html(from)));
    }
    notes.extend(r.reasons.iter().map(|why| html(why)));
    notes.extend(findings.iter().map(|f| finding_line(f, false)));
    for n in &notes {
        let _ = writeln!(out, "- {n}");
    }
    if !notes.is_empty() {
        out.push('\n');
    }
    let _ = writeln!(out, "{}\n", azure_name(&r.id));
    let lines = resource_lines(r, names, false);
    if !lines.is_empty() {
        let body: String = lines.iter().map(|l| format!("{l}\n")).collect();
        out.push_str(&fenced("diff", &body));
        out.push('\n');
    }
    out.push_str("</details>\n\n");
    out
}

/// The plan as a pull-request comment, with the default options.
pub fn markdown(plan: &Plan) -> String {
    markdown_with(plan, &MarkdownOptions::default())
}

/// The plan as a pull-request comment.
pub fn markdown_with(plan: &Plan, opts: &MarkdownOptions<'_>) -> String {
    let names = Names::of(plan);
    let mut head = String::new();
    let _ = writeln!(head, "### moat plan for stack `{}`\n", plan.stack);
    let _ = writeln!(head, "**{}**\n", summary_line(plan));
    let destructive: Vec<&ResourcePlan> = plan.resources.iter().filter(|r| r.destructive).collect();
    if !destructive.is_empty() {
        // A blockquote warning first: a reviewer skimming the comment sees it.
        let _ = writeln!(
            head,
            "> [!WARNING]\n> This plan deletes or replaces {} resource(s) that hold data:",
            destructive.len()
        );
        // Listed whole up to a point: a destroy of hundreds must not fill the comment.
        for r in destructive.iter().take(MAX_WARNINGS) {
            let _ = writeln!(
                head,
                "> - `{}` ({}): {}",
                html(&r.key),
                r.kind,
                html(&loss_line(r).unwrap_or_default())
            );
        }
        if destructive.len() > MAX_WARNINGS {
            let _ = writeln!(
                head,
                "> - and {} more (their blocks below say what each loses)",
                destructive.len() - MAX_WARNINGS
            );
        }
        head.push('\n');
    }
    let changed: Vec<&ResourcePlan> = plan.resources.iter().filter(|r| listed(r)).collect();
    let diagram = mermaid::mermaid(plan).map(|m| {
        format!(
            "<details open><summary>What changes and what it depends on</summary>\n\n{}\n{}\n\n</details>\n\n",
            fenced("mermaid", &m),
            mermaid::legend(plan)
        )
    });

    // The blocks after the head, in order; each either fits whole or is left out.
    let mut blocks: Vec<(String, bool)> = Vec::new();
    if !plan.drift.is_empty() {
        blocks.push((format!("#### {DRIFT_HEADING}\n\n{DRIFT_NOTE}\n\n"), false));
        for d in &plan.drift {
            let mut b = format!(
                "<details><summary>🟠 {}</summary>\n\n",
                html(&drift_header(d)).replacen(
                    &html(&d.key),
                    &format!("<code>{}</code>", html(&d.key)),
                    1
                )
            );
            let lines = drift_lines(d, &names, false);
            if !lines.is_empty() {
                let body: String = lines.iter().map(|l| format!("{l}\n")).collect();
                b.push_str(&fenced("diff", &body));
                b.push('\n');
            }
            b.push_str("</details>\n\n");
            blocks.push((b, false));
        }
    }
    if !changed.is_empty() {
        blocks.push(("#### Changes\n\n".to_string(), false));
    }
    for r in &changed {
        let mine: Vec<&Finding> = opts
            .findings
            .iter()
            .filter(|f| f.key.as_deref() == Some(r.key.as_str()))
            .collect();
        blocks.push((resource_block(r, &names, &mine), true));
    }
    let elsewhere: Vec<&Finding> = opts
        .findings
        .iter()
        .filter(|f| {
            !f.key
                .as_deref()
                .is_some_and(|k| changed.iter().any(|r| r.key == k))
        })
        .collect();
    if !elsewhere.is_empty() {
        let mut b = String::from("#### Lint findings\n\n");
        for f in &elsewhere {
            let _ = writeln!(b, "- {}", finding_line(f, true));
        }
        b.push('\n');
        blocks.push((b, false));
    }

    let resources = changed.len();
    let note = |shown: usize| -> String {
        let whole = match (opts.full_plan_url, opts.plan_file) {
            (Some(url), _) => format!("the full plan is in [the plan artifact]({url})"),
            (None, Some(file)) => format!(
                "the full plan is in the saved plan: `moat show {}`",
                html(file)
            ),
            (None, None) => {
                "the full plan is in the saved plan: `moat show PLANFILE` (the file `moat plan --out` wrote)"
                    .to_string()
            }
        };
        format!(
            "> [!NOTE]\n> This comment is cut short to stay under GitHub's {GITHUB_COMMENT_LIMIT}-character limit: it shows {shown} of {resources} resources; {whole}.\n"
        )
    };
    let reserve = units(&note(resources));
    let mut used = units(&head);
    let mut out = head;
    if let Some(d) = diagram
        && used + units(&d) + reserve <= opts.limit
    {
        used += units(&d);
        out.push_str(&d);
    }
    let mut shown = 0;
    let mut cut = false;
    for (b, is_resource) in &blocks {
        let n = units(b);
        if used + n + reserve > opts.limit {
            cut = true;
            break;
        }
        used += n;
        out.push_str(b);
        if *is_resource {
            shown += 1;
        }
    }
    if cut {
        out.push_str(&note(shown));
    }
    while out.ends_with("\n\n") {
        out.pop();
    }
    out
}
