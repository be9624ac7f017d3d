//! Apply progress on stderr: one timestamped line per event (what started, what ARM accepted,
//! what finished and how long it took, what failed — the summary lists what was skipped), and
//! on a terminal a status line of what is running, waiting and done.

use moat_engine::apply::{Event, Progress};
use moat_engine::plan::Action;
use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::Instant;

/// Prints events as lines.
pub struct Lines {
    start: Instant,
    color: bool,
    tty: bool,
    state: Mutex<Counts>,
}

#[derive(Default)]
struct Counts {
    total: usize,
    running: Vec<(String, Instant)>,
    done: usize,
    failed: usize,
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

impl Lines {
    /// A reporter for `total` writes.
    pub fn new(total: usize, color: bool) -> Lines {
        let tty = std::io::stderr().is_terminal();
        Lines {
            start: Instant::now(),
            color,
            tty,
            state: Mutex::new(Counts {
                total,
                ..Counts::default()
            }),
        }
    }

    fn paint(&self, code: &str, s: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }

    fn line(&self, text: &str, counts: &Counts) {
        let mut err = std::io::stderr().lock();
        let stamp = format!("[{:>7.1}s]", self.start.elapsed().as_secs_f64());
        if self.tty {
            // Replace the status line, print the event, then redraw the status line.
            let _ = write!(err, "\r\x1b[2K");
        }
        let _ = writeln!(err, "{} {text}", self.paint("2", &stamp));
        if self.tty && counts.done + counts.failed < counts.total {
            let running: Vec<String> = counts
                .running
                .iter()
                .map(|(k, t)| format!("{k} {}s", t.elapsed().as_secs()))
                .collect();
            let waiting = counts
                .total
                .saturating_sub(counts.done + counts.failed + counts.running.len());
            let status = format!(
                "running {} · waiting {waiting} · done {}/{}: {}",
                counts.running.len(),
                counts.done,
                counts.total,
                running.join(", ")
            );
            let _ = write!(
                err,
                "{}",
                self.paint("2", &status.chars().take(160).collect::<String>())
            );
        }
        let _ = err.flush();
    }
}

impl Progress for Lines {
    fn event(&self, event: Event) {
        let Ok(mut c) = self.state.lock() else { return };
        let text = match &event {
            Event::Started { key, action } => {
                c.running.push((key.clone(), Instant::now()));
                format!(
                    "{} {key}: {}…",
                    self.paint("1", action.symbol()),
                    verb(*action, false)
                )
            }
            Event::Accepted { key, request_id } => match request_id {
                Some(id) => format!("  {key}: accepted by ARM (request {id})"),
                None => format!("  {key}: accepted by ARM"),
            },
            Event::Finished {
                key,
                action,
                elapsed,
            } => {
                c.running.retain(|(k, _)| k != key);
                c.done += 1;
                format!(
                    "{} {key}: {} in {:.1}s",
                    self.paint("32", "✓"),
                    verb(*action, true),
                    elapsed.as_secs_f64()
                )
            }
            Event::Failed { key, error } => {
                c.running.retain(|(k, _)| k != key);
                c.failed += 1;
                let error = moat_spec::diag::escape_text(&error.to_string());
                format!("{} {key}: failed: {error}", self.paint("31", "✗"))
            }
            Event::Skipped { .. } => {
                // The walk reports skips only once it is over; the apply summary lists them
                // once, with what each one needed, so a line here would say it twice.
                c.failed += 1;
                return;
            }
        };
        self.line(&text, &c);
    }
}
