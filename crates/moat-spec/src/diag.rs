//! Diagnostics: one problem found in a spec, located by span, and the caret renderer that
//! prints it the way a compiler would (`file:line:col`, the line, a caret, a hint).

use crate::span::{SourceFile, Span};
use serde::Serialize;
use std::fmt::Write as _;

/// How bad a problem is. Errors stop `validate`, `plan` and `apply`; the rest are advice.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth knowing; no action required.
    Note,
    /// Probably wrong; does not stop anything.
    Warning,
    /// Wrong; stops the command.
    Error,
}

impl Severity {
    /// The word printed before the message.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Note => "note",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

/// A span with a short text printed under its caret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Label {
    /// What the label points at.
    pub span: Span,
    /// Text after the carets; may be empty.
    pub text: String,
}

/// One located problem.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    /// Severity.
    pub severity: Severity,
    /// Stable code, e.g. `E0201` or a lint rule id.
    pub code: String,
    /// One-line message: lowercase, literals in backticks, no trailing period.
    pub message: String,
    /// The main location.
    pub primary: Label,
    /// Other places that explain the problem (e.g. the first of two duplicate keys).
    pub secondary: Vec<Label>,
    /// Free-form notes printed after the snippet.
    pub notes: Vec<String>,
    /// How to fix it, when known.
    pub hint: Option<String>,
}

impl Diagnostic {
    /// An error with `code` and `message` at `span`.
    pub fn error(code: &str, message: impl Into<String>, span: Span) -> Diagnostic {
        Diagnostic::new(Severity::Error, code, message, span)
    }

    /// A warning with `code` and `message` at `span`.
    pub fn warning(code: &str, message: impl Into<String>, span: Span) -> Diagnostic {
        Diagnostic::new(Severity::Warning, code, message, span)
    }

    /// A diagnostic of any severity.
    pub fn new(
        severity: Severity,
        code: &str,
        message: impl Into<String>,
        span: Span,
    ) -> Diagnostic {
        Diagnostic {
            severity,
            code: code.to_string(),
            message: message.into(),
            primary: Label {
                span,
                text: String::new(),
            },
            secondary: Vec::new(),
            notes: Vec::new(),
            hint: None,
        }
    }

    /// Sets the text under the primary caret.
    pub fn label(mut self, text: impl Into<String>) -> Self {
        self.primary.text = text.into();
        self
    }

    /// Adds a secondary location.
    pub fn with_secondary(mut self, span: Span, text: impl Into<String>) -> Self {
        self.secondary.push(Label {
            span,
            text: text.into(),
        });
        self
    }

    /// Adds a note.
    pub fn note(mut self, text: impl Into<String>) -> Self {
        self.notes.push(text.into());
        self
    }

    /// Sets the hint.
    pub fn hint(mut self, text: impl Into<String>) -> Self {
        self.hint = Some(text.into());
        self
    }

    /// Sets the hint when one is given.
    pub fn maybe_hint(mut self, text: Option<String>) -> Self {
        if text.is_some() {
            self.hint = text;
        }
        self
    }

    /// True for errors.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// The JSON form used by `--format json`: stable field names, 1-based positions.
    pub fn to_json(&self, file: &SourceFile) -> JsonDiagnostic {
        let loc = |l: &Label| {
            let s = file.line_col(l.span.start);
            let e = file.line_col(l.span.end);
            JsonLabel {
                line: s.line,
                column: s.col,
                end_line: e.line,
                end_column: e.col,
                text: l.text.clone(),
            }
        };
        JsonDiagnostic {
            file: file.name().to_string(),
            severity: self.severity,
            code: self.code.clone(),
            message: self.message.clone(),
            primary: loc(&self.primary),
            secondary: self.secondary.iter().map(loc).collect(),
            notes: self.notes.clone(),
            hint: self.hint.clone(),
        }
    }
}

/// A located label in JSON output.
#[derive(Clone, Debug, Serialize)]
pub struct JsonLabel {
    /// 1-based line of the start.
    pub line: usize,
    /// 1-based column of the start.
    pub column: usize,
    /// 1-based line of the end.
    pub end_line: usize,
    /// 1-based column of the end (exclusive).
    pub end_column: usize,
    /// Label text.
    pub text: String,
}

/// A diagnostic in JSON output.
#[derive(Clone, Debug, Serialize)]
pub struct JsonDiagnostic {
    /// File name as given on the command line.
    pub file: String,
    /// Severity.
    pub severity: Severity,
    /// Stable code.
    pub code: String,
    /// Message.
    pub message: String,
    /// Main location.
    pub primary: JsonLabel,
    /// Other locations.
    pub secondary: Vec<JsonLabel>,
    /// Notes.
    pub notes: Vec<String>,
    /// Fix, when known.
    pub hint: Option<String>,
}

/// Rendering switches.
#[derive(Clone, Copy, Debug, Default)]
pub struct RenderOptions {
    /// ANSI colours.
    pub color: bool,
}

struct Paint {
    on: bool,
}

impl Paint {
    fn wrap(&self, code: &str, s: &str) -> String {
        if self.on {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }
}

/// Widest source line shown; longer lines (minified or generated specs) are cut around the caret.
const MAX_LINE_CHARS: usize = 120;

/// The part of a source line that is printed, made safe for a terminal.
#[derive(Default)]
struct Window {
    /// What is printed, with `…` where the line was cut.
    text: String,
    /// First shown character (0-based).
    first: usize,
    /// Number of characters shown from the line.
    shown: usize,
    /// Whether a leading `…` was printed.
    cut_left: bool,
    /// Characters in the whole line.
    line_chars: usize,
}

impl Window {
    fn new(line: &str, focus_col: usize) -> Window {
        // Control characters (including ANSI escapes from a binary file) must never reach the
        // terminal raw; each becomes one visible character so columns still line up.
        let chars: Vec<char> = line
            .chars()
            .map(|c| {
                if c == '\t' {
                    ' '
                } else if c.is_control() {
                    '\u{fffd}'
                } else {
                    c
                }
            })
            .collect();
        let n = chars.len();
        if n <= MAX_LINE_CHARS {
            return Window {
                text: chars.into_iter().collect(),
                first: 0,
                shown: n,
                cut_left: false,
                line_chars: n,
            };
        }
        let first = focus_col
            .saturating_sub(1)
            .saturating_sub(MAX_LINE_CHARS / 3)
            .min(n - MAX_LINE_CHARS);
        let last = first + MAX_LINE_CHARS;
        let mut text = String::new();
        if first > 0 {
            text.push('…');
        }
        text.extend(&chars[first..last]);
        if last < n {
            text.push('…');
        }
        Window {
            text,
            first,
            shown: MAX_LINE_CHARS,
            cut_left: first > 0,
            line_chars: n,
        }
    }

    /// Padding and caret length for 1-based columns `start..end` (end exclusive).
    fn place(&self, start: usize, end: usize) -> (usize, usize) {
        let lead = usize::from(self.cut_left);
        let from = start
            .saturating_sub(1)
            .clamp(self.first, self.first + self.shown);
        let to = end
            .saturating_sub(1)
            .clamp(from, self.first + self.shown + 1);
        (from - self.first + lead, (to - from).max(1))
    }
}

/// Renders one diagnostic against its file:
///
/// ```text
/// error[E0201]: unknown reference `vnet-main`
///   --> infra/prod.yaml:14:17
///    |
/// 14 |     subnet: vnet-main/training
///    |             ^^^^^^^^^ no resource named `vnet-main`
///    |
/// hint: did you mean `vnet_main`?
/// ```
pub fn render(diag: &Diagnostic, file: &SourceFile, opts: RenderOptions) -> String {
    let p = Paint { on: opts.color };
    let sev_color = match diag.severity {
        Severity::Error => "1;31",
        Severity::Warning => "1;33",
        Severity::Note => "1;36",
    };
    let mut out = String::new();
    let head = format!("{}[{}]", diag.severity.as_str(), diag.code);
    let _ = writeln!(
        out,
        "{}: {}",
        p.wrap(sev_color, &head),
        p.wrap("1", &diag.message)
    );
    let start = file.line_col(diag.primary.span.start);
    let mut labels: Vec<(&Label, bool)> = vec![(&diag.primary, true)];
    labels.extend(diag.secondary.iter().map(|l| (l, false)));
    labels.sort_by_key(|(l, _)| l.span.start);
    let max_line = labels
        .iter()
        .map(|(l, _)| file.line_col(l.span.start).line)
        .max()
        .unwrap_or(1);
    let width = max_line.to_string().len();
    let gutter = " ".repeat(width);
    let _ = writeln!(
        out,
        "{gutter}{} {}:{}:{}",
        p.wrap("1;34", "-->"),
        file.name(),
        start.line,
        start.col
    );
    let _ = writeln!(out, "{gutter} {}", p.wrap("1;34", "|"));
    let mut last_line = 0;
    let mut window = Window::default();
    for (label, primary) in labels {
        let s = file.line_col(label.span.start);
        if last_line != 0 && s.line > last_line + 1 {
            let _ = writeln!(out, "{}", p.wrap("1;34", "..."));
        }
        if s.line != last_line {
            window = Window::new(file.line_text(s.line), s.col);
            let num = format!("{:>width$} |", s.line);
            let _ = writeln!(out, "{} {}", p.wrap("1;34", &num), window.text);
        }
        last_line = s.line;
        let e = file.line_col(label.span.end);
        let end_col = if e.line == s.line {
            e.col.max(s.col + 1)
        } else {
            window.line_chars + 1
        };
        let (pad, caret_len) = window.place(s.col, end_col);
        let mark = if primary { "^" } else { "-" };
        let carets = mark.repeat(caret_len);
        let color = if primary { sev_color } else { "1;34" };
        let pad = " ".repeat(pad);
        let tail = if label.text.is_empty() {
            String::new()
        } else {
            format!(" {}", label.text)
        };
        let _ = writeln!(
            out,
            "{gutter} {} {pad}{}",
            p.wrap("1;34", "|"),
            p.wrap(color, &format!("{carets}{tail}"))
        );
    }
    if !diag.notes.is_empty() || diag.hint.is_some() {
        let _ = writeln!(out, "{gutter} {}", p.wrap("1;34", "|"));
    }
    for n in &diag.notes {
        let _ = writeln!(out, "{gutter} = {}: {n}", p.wrap("1", "note"));
    }
    if let Some(h) = &diag.hint {
        let _ = writeln!(out, "{}: {h}", p.wrap("1;32", "hint"));
    }
    out
}

/// The short one-line form `file:line:col: severity[code]: message`.
pub fn render_short(diag: &Diagnostic, file: &SourceFile) -> String {
    let s = file.line_col(diag.primary.span.start);
    format!(
        "{}:{}:{}: {}[{}]: {}",
        file.name(),
        s.line,
        s.col,
        diag.severity.as_str(),
        diag.code,
        diag.message
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_caret_under_span_and_hint() {
        let f = SourceFile::new("spec.yaml", "stack: a\nresources:\n  x: { type: vnet }\n");
        let at = f.text().find("vnet").unwrap_or(0);
        let d = Diagnostic::error(
            "E0113",
            "unknown resource type `vnet`",
            Span::new(at, at + 4),
        )
        .label("not a resource type")
        .hint("did you mean `virtual_network`?");
        let text = render(&d, &f, RenderOptions::default());
        assert_eq!(
            text,
            "error[E0113]: unknown resource type `vnet`\n --> spec.yaml:3:14\n  |\n3 |   x: { type: vnet }\n  |              ^^^^ not a resource type\n  |\nhint: did you mean `virtual_network`?\n"
        );
        assert_eq!(
            render_short(&d, &f),
            "spec.yaml:3:14: error[E0113]: unknown resource type `vnet`"
        );
    }

    #[test]
    fn long_lines_are_cut_around_the_caret() {
        let line = format!("key: [{}bad{}]", "x, ".repeat(100), ", y".repeat(100));
        let f = SourceFile::new("s.yaml", line.clone());
        let at = line.find("bad").unwrap_or(0);
        let d = Diagnostic::error("E0302", "bad", Span::new(at, at + 3)).label("here");
        let text = render(&d, &f, RenderOptions::default());
        let lines: Vec<&str> = text.lines().collect();
        assert!(
            lines
                .iter()
                .all(|l| l.chars().count() <= MAX_LINE_CHARS + 10),
            "{text}"
        );
        // The caret sits under `bad` in the shortened line.
        let shown = lines[3];
        let caret = lines[4];
        let col = caret.find('^').unwrap_or(0);
        assert_eq!(
            &shown[shown.char_indices().nth(col).map_or(0, |(i, _)| i)..][..3],
            "bad",
            "{text}"
        );
        assert!(shown.contains('…'));
    }

    #[test]
    fn control_characters_never_reach_the_terminal() {
        let f = SourceFile::new("s.yaml", "a: \u{1b}[31mred\u{7}\n");
        let d = Diagnostic::error("E0001", "x", Span::new(3, 4));
        let text = render(&d, &f, RenderOptions::default());
        assert!(
            !text.contains('\u{1b}') && !text.contains('\u{7}'),
            "{text:?}"
        );
        assert!(text.contains("a: \u{fffd}[31mred\u{fffd}"), "{text}");
    }
}
