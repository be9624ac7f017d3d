//! Terminal output: colour decisions (`--no-color`, `NO_COLOR`, non-TTY), diagnostics, and the
//! one place errors are printed.

use crate::cli::Global;
use moat_spec::{Diagnostic, RenderOptions, SourceFile};
use std::io::IsTerminal;

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
            eprintln!(
                "{}",
                moat_spec::diag::render(d, file, RenderOptions { color: self.color })
            );
        }
    }

    /// Whether to colour what goes to stdout (the plan).
    pub fn color_stdout(&self) -> bool {
        self.color && std::io::stdout().is_terminal()
    }

    /// A status line on stderr, unless quiet.
    pub fn status(&self, line: &str) {
        if !self.quiet {
            eprintln!("{line}");
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
    eprintln!("{text}");
}
