//! Terminal output: colour decisions (`--no-color`, `NO_COLOR`, non-TTY), diagnostics, the
//! one place errors are printed, and the writers of data (stdout) and status (stderr) that
//! survive a closed pipe: `moat plan | head -1` must end quietly, not panic.

use crate::cli::Global;
use moat_spec::{Diagnostic, RenderOptions, SourceFile};
use std::io::{ErrorKind, IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};

/// Set once stdout's reader has gone away; later data is dropped instead of written.
static STDOUT_CLOSED: AtomicBool = AtomicBool::new(false);

/// Writes data to stdout. A closed pipe (`| head -1`) is not an error: the reader has what it
/// wanted, so the rest is dropped and the command goes on (an apply must still finish and
/// release its lock). Any other write error is returned.
pub fn data(text: &str) -> std::io::Result<()> {
    if STDOUT_CLOSED.load(Ordering::Relaxed) {
        return Ok(());
    }
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() == ErrorKind::BrokenPipe => {
            STDOUT_CLOSED.store(true, Ordering::Relaxed);
            Ok(())
        }
        other => other,
    }
}

/// [`data`] with a final newline added when `text` lacks one, so every JSON document and
/// listing ends with one.
pub fn data_line(text: &str) -> std::io::Result<()> {
    if text.ends_with('\n') {
        data(text)
    } else {
        data(&format!("{text}\n"))
    }
}

/// Writes a line to stderr, ignoring errors: there is nowhere left to report them.
pub fn err_line(text: &str) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{text}");
}

/// Output settings for one run.
#[derive(Clone, Debug)]
pub struct Output {
    /// ANSI colours on stderr.
    pub color: bool,
    /// Only errors.
    pub quiet: bool,
    /// Verbosity.
    pub verbose: u8,
}

impl Output {
    /// Settings from the global flags and the environment.
    pub fn new(g: &Global) -> Output {
        let no_color_env = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Output {
            color: !g.no_color && !no_color_env && std::io::stderr().is_terminal(),
            quiet: g.quiet,
            verbose: g.verbose,
        }
    }

    /// Prints diagnostics to stderr (warnings and notes are dropped with `--quiet`).
    pub fn diagnostics(&self, file: &SourceFile, diags: &[Diagnostic]) {
        for d in diags {
            if self.quiet && !d.is_error() {
                continue;
            }
            err_line(&moat_spec::diag::render(
                d,
                file,
                RenderOptions { color: self.color },
            ));
        }
    }

    /// Whether to colour what goes to stdout (the plan).
    pub fn color_stdout(&self) -> bool {
        self.color && std::io::stdout().is_terminal()
    }

    /// A status line on stderr, unless quiet.
    pub fn status(&self, line: &str) {
        if !self.quiet {
            err_line(line);
        }
    }
}

/// Prints an error and its causes once, without a backtrace.
pub fn print_error(err: &anyhow::Error) {
    // Errors quote paths, keys, values and server messages: escaped, each stays on its line.
    let esc = |e: &dyn std::fmt::Display| moat_spec::diag::escape_text(&e.to_string());
    let mut text = format!("error: {}", esc(err));
    for cause in err.chain().skip(1) {
        text.push_str(&format!("\n  caused by: {}", esc(cause)));
    }
    err_line(&text);
}
