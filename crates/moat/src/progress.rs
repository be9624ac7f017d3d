//! Apply progress: one timestamped stderr line per event (what started, what ARM accepted,
//! what finished and how long it took, what failed — the summary lists what was skipped); a
//! heartbeat so a long apply never looks dead (on a terminal the status line of what is
//! running redraws every second; without one, a `still creating aks… [1m0s elapsed]` line per
//! running write every 30 s, 10 s with `-v`, so CI's no-output timeouts never fire); and with
//! `--json`, the same events as JSON lines on stdout (`schemas/events.schema.json`).

use crate::output::Output;
use moat_engine::apply::{ApplyReport, Event, Progress, ResourceOutcome};
use moat_engine::plan::{Action, Plan};
use serde_json::{Value, json};
use std::io::{IsTerminal, Write};
use std::sync::mpsc::{RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Version of the event-line format; every line carries it.
pub const EVENT_FORMAT_VERSION: u32 = 1;

/// Overrides the heartbeat period of non-terminal output (seconds, fractions allowed). Meant
/// for tests, which cannot wait 30 s for a line.
pub const HEARTBEAT_ENV: &str = "MOAT_HEARTBEAT_SECS";

/// How often a running write is reported without a terminal: 30 s, 10 s with `-v`, or
/// `MOAT_HEARTBEAT_SECS`.
pub fn heartbeat_period(verbose: u8) -> Duration {
    std::env::var(HEARTBEAT_ENV)
        .ok()
        .and_then(|s| s.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s > 0.0)
        .map_or_else(
            || Duration::from_secs(if verbose > 0 { 10 } else { 30 }),
            Duration::from_secs_f64,
        )
}

/// `1m0s`, `45s`, `1h2m3s`: elapsed time as Terraform users read it.
pub fn format_elapsed(d: Duration) -> String {
    let s = d.as_secs();
    let (h, m, s) = (s / 3600, (s / 60) % 60, s % 60);
    if h > 0 {
        format!("{h}h{m}m{s}s")
    } else if m > 0 {
        format!("{m}m{s}s")
    } else {
        format!("{s}s")
    }
}

fn verb(a: Action, done: bool) -> &'static str {
    match (a, done) {
        (Action::Create, false) => "creating",
        (Action::Create, true) => "created",
        (Action::Update, false) => "updating",
        (Action::Update, true) => "updated",
        (Action::Replace, false) => "replacing",
        (Action::Replace, true) => "replaced",
        (Action::Delete, false) => "destroying",
        (Action::Delete, true) => "destroyed",
        (_, false) => "working",
        (_, true) => "done",
    }
}

/// The JSON word of an action (as in the JSON plan).
fn action_word(a: Action) -> String {
    serde_json::to_value(a)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

/// Seconds with millisecond precision, for JSON.
fn secs(d: Duration) -> f64 {
    (d.as_secs_f64() * 1000.0).round() / 1000.0
}

/// Writes JSON event lines to stdout; shared by `plan --json` and the apply reporter.
#[derive(Debug)]
pub struct EventWriter {
    start: Instant,
}

impl EventWriter {
    /// A writer whose `t` fields count from now (the first line of the run).
    pub fn new() -> EventWriter {
        EventWriter {
            start: Instant::now(),
        }
    }

    /// Writes one event: `kind` becomes `type`, `fields` (an object) are added to it.
    pub fn emit(&self, kind: &str, fields: Value) {
        let mut line = serde_json::Map::new();
        line.insert("type".into(), kind.into());
        line.insert("v".into(), EVENT_FORMAT_VERSION.into());
        line.insert("t".into(), secs(self.start.elapsed()).into());
        if let Value::Object(m) = fields {
            line.extend(m);
        }
        let mut text = Value::Object(line).to_string();
        text.push('\n');
        // A closed pipe is handled (dropped) there; nothing else can be done about another error.
        let _ = crate::output::data(&text);
    }

    /// One `planned` event per resource the plan lists, then nothing else.
    pub fn planned(&self, plan: &Plan) {
        for r in &plan.resources {
            self.emit(
                "planned",
                json!({
                    "key": r.key,
                    "kind": r.kind,
                    "action": action_word(r.action),
                    "id": r.id,
                    "reasons": r.reasons,
                }),
            );
        }
    }

    /// The `summary` event of a plan.
    pub fn plan_summary(&self, command: &str, plan: &Plan) {
        let s = &plan.summary;
        self.emit(
            "summary",
            json!({
                "command": command,
                "result": if plan.is_empty() { "no_changes" } else { "changes" },
                "add": s.add,
                "change": s.change,
                "replace": s.replace,
                "destroy": s.destroy,
            }),
        );
    }
}

impl EventWriter {
    /// The `summary` of an apply or destroy with nothing to write (`no_changes`).
    pub fn run_ended(&self, command: &str, result: &str) {
        self.emit("summary", json!({ "command": command, "result": result }));
    }

    /// The `summary` of an apply or destroy that ran its writes.
    pub fn run_summary(&self, command: &str, report: &ApplyReport, writes: usize) {
        let count = |f: fn(&ResourceOutcome) -> bool| {
            report
                .outcomes
                .iter()
                .filter(|(_, a, o)| a.writes() && f(o))
                .count()
        };
        let result = if report.is_success() && writes == 0 {
            "no_changes"
        } else if report.is_success() {
            "applied"
        } else if report.cancelled {
            "interrupted"
        } else {
            "failed"
        };
        self.emit(
            "summary",
            json!({
                "command": command,
                "result": result,
                "done": count(|o| matches!(o, ResourceOutcome::Done { .. })),
                "failed": count(|o| matches!(o, ResourceOutcome::Failed(_))),
                "skipped": count(|o| matches!(o, ResourceOutcome::Skipped(_))),
                "elapsed_secs": secs(report.elapsed),
            }),
        );
    }
}

impl Default for EventWriter {
    fn default() -> Self {
        Self::new()
    }
}

/// One write in flight.
struct Running {
    key: String,
    action: Action,
    since: Instant,
    /// When it was last reported (its start, then each heartbeat).
    beat: Instant,
}

#[derive(Default)]
struct Counts {
    total: usize,
    running: Vec<Running>,
    done: usize,
    failed: usize,
    /// When the terminal's status line was last redrawn by the heartbeat.
    drawn: Option<Instant>,
}

/// Reports apply events on stderr (and as JSON lines with `--json`).
pub struct Reporter {
    start: Instant,
    color: bool,
    tty: bool,
    heartbeat: Duration,
    json: Option<EventWriter>,
    state: Mutex<Counts>,
}

impl Reporter {
    /// A reporter for `total` writes; `json` also streams the events to stdout.
    pub fn new(total: usize, out: &Output, json: Option<EventWriter>) -> Reporter {
        Reporter {
            start: Instant::now(),
            color: out.color,
            tty: std::io::stderr().is_terminal(),
            heartbeat: heartbeat_period(out.verbose),
            json,
            state: Mutex::new(Counts {
                total,
                ..Counts::default()
            }),
        }
    }

    /// The JSON writer, when `--json`.
    pub fn json(&self) -> Option<&EventWriter> {
        self.json.as_ref()
    }

    fn paint(&self, code: &str, s: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }

    /// Prints an event line (replacing, then redrawing, the status line on a terminal).
    fn line(&self, text: &str, counts: &Counts) {
        let mut err = std::io::stderr().lock();
        let stamp = format!("[{:>7.1}s]", self.start.elapsed().as_secs_f64());
        if self.tty {
            let _ = write!(err, "\r\x1b[2K");
        }
        let _ = writeln!(err, "{} {text}", self.paint("2", &stamp));
        if self.tty {
            self.status_line(&mut err, counts);
        }
        let _ = err.flush();
    }

    fn status_line(&self, err: &mut impl Write, counts: &Counts) {
        if counts.done + counts.failed >= counts.total {
            return;
        }
        let running: Vec<String> = counts
            .running
            .iter()
            .map(|r| format!("{} {}", r.key, format_elapsed(r.since.elapsed())))
            .collect();
        let waiting = counts
            .total
            .saturating_sub(counts.done + counts.failed + counts.running.len());
        let mut status = format!(
            "[{}] running {} · waiting {waiting} · done {}/{}",
            format_elapsed(self.start.elapsed()),
            counts.running.len(),
            counts.done,
            counts.total,
        );
        if !running.is_empty() {
            status.push_str(&format!(": {}", running.join(", ")));
        }
        let _ = write!(
            err,
            "{}",
            self.paint("2", &status.chars().take(160).collect::<String>())
        );
    }

    /// One heartbeat: redraw the status line on a terminal; report each write running for
    /// another heartbeat period (a stderr line without a terminal, a `progress` event with
    /// `--json`).
    fn tick(&self) {
        let Ok(mut c) = self.state.lock() else { return };
        let now = Instant::now();
        if self.tty
            && c.drawn
                .is_none_or(|t| now.duration_since(t) >= Duration::from_secs(1))
        {
            c.drawn = Some(now);
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r\x1b[2K");
            self.status_line(&mut err, &c);
            let _ = err.flush();
        }
        let mut due = Vec::new();
        for r in &mut c.running {
            if now.duration_since(r.beat) >= self.heartbeat {
                // Step by the period, not to now, so the beats do not drift.
                r.beat += self.heartbeat;
                due.push((r.key.clone(), r.action, now.duration_since(r.since)));
            }
        }
        for (key, action, elapsed) in due {
            if !self.tty {
                self.line(
                    &format!(
                        "  still {} {key}… [{} elapsed]",
                        verb(action, false),
                        format_elapsed(elapsed)
                    ),
                    &c,
                );
            }
            if let Some(j) = &self.json {
                j.emit(
                    "progress",
                    json!({
                        "key": key,
                        "action": action_word(action),
                        "elapsed_secs": secs(elapsed),
                    }),
                );
            }
        }
    }

    /// Starts the heartbeat; it stops when the returned handle is dropped.
    pub fn start_heartbeat(self: &Arc<Self>) -> Heartbeat {
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let me = Arc::clone(self);
        // Wake often enough that a heartbeat comes close to its due time (so `[30s elapsed]`
        // is printed at 30 s, not 30.9 s) and the terminal's status line moves every second.
        let every = (self.heartbeat / 4).min(Duration::from_millis(250));
        let thread = std::thread::spawn(move || {
            while let Err(RecvTimeoutError::Timeout) = rx.recv_timeout(every) {
                me.tick();
            }
        });
        Heartbeat {
            stop: Some(tx),
            thread: Some(thread),
        }
    }
}

/// The running heartbeat of a [`Reporter`]; dropping it stops the thread and clears the
/// status line.
pub struct Heartbeat {
    stop: Option<Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for Heartbeat {
    fn drop(&mut self) {
        // Dropping the sender disconnects the channel, which ends the thread's loop.
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        if std::io::stderr().is_terminal() {
            let _ = write!(std::io::stderr().lock(), "\r\x1b[2K");
        }
    }
}

impl Progress for Reporter {
    fn event(&self, event: Event) {
        let Ok(mut c) = self.state.lock() else { return };
        let text = match &event {
            Event::Started { key, action } => {
                let now = Instant::now();
                c.running.push(Running {
                    key: key.clone(),
                    action: *action,
                    since: now,
                    beat: now,
                });
                if let Some(j) = &self.json {
                    j.emit(
                        "started",
                        json!({ "key": key, "action": action_word(*action) }),
                    );
                }
                format!(
                    "{} {key}: {}…",
                    self.paint("1", action.symbol()),
                    verb(*action, false)
                )
            }
            Event::Accepted { key, request_id } => {
                if let Some(j) = &self.json {
                    j.emit("accepted", json!({ "key": key, "request_id": request_id }));
                }
                match request_id {
                    Some(id) => format!("  {key}: accepted by ARM (request {id})"),
                    None => format!("  {key}: accepted by ARM"),
                }
            }
            Event::Finished {
                key,
                action,
                elapsed,
            } => {
                c.running.retain(|r| &r.key != key);
                c.done += 1;
                if let Some(j) = &self.json {
                    j.emit(
                        "done",
                        json!({
                            "key": key,
                            "action": action_word(*action),
                            "elapsed_secs": secs(*elapsed),
                        }),
                    );
                }
                format!(
                    "{} {key}: {} in {:.1}s",
                    self.paint("32", "✓"),
                    verb(*action, true),
                    elapsed.as_secs_f64()
                )
            }
            Event::Failed { key, error } => {
                c.running.retain(|r| &r.key != key);
                c.failed += 1;
                if let Some(j) = &self.json {
                    j.emit("failed", json!({ "key": key, "error": error }));
                }
                let error = moat_spec::diag::escape_text(&error.to_string());
                format!("{} {key}: failed: {error}", self.paint("31", "✗"))
            }
            Event::Retrying {
                key,
                attempt,
                after,
                reason,
            } => {
                // Not an event line of `--json` (its schema has none); the trace shows the
                // refused requests.
                let reason = moat_spec::diag::escape_text(reason);
                format!(
                    "  {key}: retrying in {:.1}s (attempt {attempt}): {reason}",
                    after.as_secs_f64()
                )
            }
            Event::Skipped { key, because } => {
                // The walk reports skips only once it is over; the apply summary lists them
                // once, with what each one needed, so a stderr line here would say it twice.
                c.failed += 1;
                if let Some(j) = &self.json {
                    j.emit("skipped", json!({ "key": key, "because": because }));
                }
                return;
            }
        };
        self.line(&text, &c);
    }
}

/// The JSON Schema (draft-07) of the event lines of `--json`, checked in as
/// `schemas/events.schema.json` (a test fails when the file is stale, and validates the lines
/// of a real apply against it).
pub fn events_schema() -> Value {
    let key =
        json!({ "type": "string", "description": "The resource key (`vnet`, `vnet/training`)." });
    let action = json!({
        "enum": ["no_op", "read", "create", "update", "replace", "delete", "unreadable"],
        "description": "What is done to the resource (the JSON plan's words)."
    });
    let elapsed = json!({ "type": "number", "minimum": 0, "description": "Seconds since the write started." });
    let count = |d: &str| json!({ "type": "integer", "minimum": 0, "description": d });
    let event = |name: &str, what: &str, required: &[&str], props: Value| {
        let mut p = json!({
            "type": { "const": name },
            "v": { "const": EVENT_FORMAT_VERSION, "description": "Version of the event format." },
            "t": { "type": "number", "minimum": 0, "description": "Seconds since the first event line of the run." }
        });
        if let (Some(p), Value::Object(more)) = (p.as_object_mut(), props) {
            p.extend(more);
        }
        let mut req = vec!["type", "v", "t"];
        req.extend_from_slice(required);
        json!({
            "description": what,
            "type": "object",
            "additionalProperties": false,
            "required": req,
            "properties": p
        })
    };
    json!({
        "$schema": "http://json-schema.org/draft-07/schema#",
        "$id": "https://moat.invalid/schemas/events.schema.json",
        "title": "moat event line (format 1)",
        "description": "One line of `moat plan|apply|destroy --json` on stdout: each line is one JSON object of this schema. A plan emits `planned` lines then a `summary`; an apply or destroy emits `planned` lines, then `started`, `accepted`, `progress`, `done`, `failed` and `skipped` as the writes go, then a `summary`.",
        "oneOf": [
            { "$ref": "#/definitions/planned" },
            { "$ref": "#/definitions/started" },
            { "$ref": "#/definitions/accepted" },
            { "$ref": "#/definitions/progress" },
            { "$ref": "#/definitions/done" },
            { "$ref": "#/definitions/failed" },
            { "$ref": "#/definitions/skipped" },
            { "$ref": "#/definitions/summary" }
        ],
        "definitions": {
            "planned": event("planned", "A resource the plan lists.", &["key", "kind", "action", "id"], json!({
                "key": key, "kind": { "type": "string", "description": "The spec's kind word." },
                "action": action, "id": { "type": "string", "description": "The ARM resource ID." },
                "reasons": { "type": "array", "items": { "type": "string" }, "description": "Why, in words (a forced replacement, a read error)." }
            })),
            "started": event("started", "A write starts.", &["key", "action"], json!({ "key": key, "action": action })),
            "accepted": event("accepted", "ARM accepted the write; moat waits for it to finish.", &["key", "request_id"], json!({
                "key": key,
                "request_id": { "type": ["string", "null"], "description": "ARM's `x-ms-request-id`, for support requests." }
            })),
            "progress": event("progress", "A heartbeat: the write is still running (every 30 s, 10 s with `-v`).", &["key", "action", "elapsed_secs"], json!({
                "key": key, "action": action, "elapsed_secs": elapsed
            })),
            "done": event("done", "A write finished.", &["key", "action", "elapsed_secs"], json!({
                "key": key, "action": action, "elapsed_secs": elapsed
            })),
            "failed": event("failed", "A write failed.", &["key", "error"], json!({
                "key": key, "error": { "type": "string", "description": "What ARM said, with status, code and request id." }
            })),
            "skipped": event("skipped", "Not attempted because something it needs failed.", &["key", "because"], json!({
                "key": key, "because": { "type": "string", "description": "The failed resource it needed." }
            })),
            "summary": event("summary", "The last line.", &["command", "result"], json!({
                "command": { "enum": ["plan", "apply", "destroy"] },
                "result": {
                    "enum": ["changes", "no_changes", "applied", "failed", "interrupted"],
                    "description": "plan: `changes` or `no_changes`; apply and destroy: `applied`, `no_changes`, `failed` or `interrupted`."
                },
                "add": count("Creates planned."),
                "change": count("In-place updates planned."),
                "replace": count("Replacements planned."),
                "destroy": count("Deletes planned."),
                "done": count("Writes that finished."),
                "failed": count("Writes that failed."),
                "skipped": count("Writes not attempted."),
                "elapsed_secs": { "type": "number", "minimum": 0, "description": "Seconds the writes took." }
            }))
        }
    })
}

/// [`events_schema`] as the checked-in file: pretty, final newline.
pub fn events_schema_text() -> String {
    let mut s = serde_json::to_string_pretty(&events_schema()).unwrap_or_default();
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn elapsed_reads_like_terraform() {
        assert_eq!(format_elapsed(Duration::from_millis(9_900)), "9s");
        assert_eq!(format_elapsed(Duration::from_secs(60)), "1m0s");
        assert_eq!(format_elapsed(Duration::from_secs(3_723)), "1h2m3s");
    }
}
