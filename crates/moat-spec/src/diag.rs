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

/// Longest literal (text between backticks) echoed whole; a longer one is cut, with its size.
// ARM IDs (up to ~250 characters in moat's kinds) must stay whole.
const MAX_LITERAL_CHARS: usize = 320;
/// Longest message, label, note or hint printed; the rest is cut.
const MAX_TEXT_CHARS: usize = 2_000;

/// True for characters that must not reach a terminal or a CI log raw: C0/C1 controls (escape
/// sequences, newlines that would start a line of their own) and the bidirectional overrides
/// that make text display differently from what it says.
fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{feff}')
}

/// Text that came from a spec, the environment or a server, made safe to print: every unsafe
/// character is written as an escape (`\n`, `\u{1b}`), so the text stays on one line — no line
/// of moat's output can begin with user text, and so none can be a GitHub Actions workflow
/// command (`::error …`) — and no escape sequence reaches the terminal.
pub fn escape_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if !is_unsafe(c) {
            out.push(c);
            continue;
        }
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c => {
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
        }
    }
    out
}

/// [`escape_text`], with each long literal between backticks cut to its start and its size,
/// and the whole cut at a bound: a 2 MB value is never echoed (let alone twice).
pub fn clean_text(text: &str) -> String {
    let escaped = escape_text(text);
    let mut out = String::with_capacity(escaped.len().min(MAX_TEXT_CHARS * 4));
    // Even-numbered pieces are prose, odd-numbered ones are literals (an unclosed backtick
    // makes the tail a literal, which is cut the same way).
    for (i, piece) in escaped.split('`').enumerate() {
        if i > 0 {
            out.push('`');
        }
        let n = piece.chars().count();
        if i % 2 == 1 && n > MAX_LITERAL_CHARS {
            out.extend(piece.chars().take(MAX_LITERAL_CHARS - 16));
            let _ = write!(out, "…({n} characters)");
        } else {
            out.push_str(piece);
        }
    }
    let n = out.chars().count();
    if n > MAX_TEXT_CHARS {
        let mut cut: String = out.chars().take(MAX_TEXT_CHARS).collect();
        let _ = write!(cut, "… ({} more characters)", n - MAX_TEXT_CHARS);
        return cut;
    }
    out
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
        p.wrap("1", &clean_text(&diag.message))
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
        escape_text(file.name()),
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
            window = Window::new(&file.display_line(s.line), s.col);
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
            format!(" {}", clean_text(&label.text))
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
        let _ = writeln!(out, "{gutter} = {}: {}", p.wrap("1", "note"), clean_text(n));
    }
    if let Some(h) = &diag.hint {
        let _ = writeln!(out, "{}: {}", p.wrap("1;32", "hint"), clean_text(h));
    }
    out
}

/// The short one-line form `file:line:col: severity[code]: message`.
pub fn render_short(diag: &Diagnostic, file: &SourceFile) -> String {
    let s = file.line_col(diag.primary.span.start);
    format!(
        "{}:{}:{}: {}[{}]: {}",
        escape_text(file.name()),
        s.line,
        s.col,
        diag.severity.as_str(),
        diag.code,
        clean_text(&diag.message)
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

    #[test]
    fn echoed_text_is_escaped_and_stays_on_its_line() {
        let f = SourceFile::new("s.yaml", "a: x\n");
        let d = Diagnostic::error(
            "E0302",
            "invalid address range `x\n::error title=t::pwned\u{1b}[2J`",
            Span::new(3, 4),
        )
        .label("`x\r\n::warning::y` is not \u{202e}ok")
        .note("from `${env.X}` = `\u{7}`")
        .hint("::notice::z");
        let text = render(&d, &f, RenderOptions::default());
        for line in text.lines() {
            assert!(!line.trim_start().starts_with("::"), "{line:?} in\n{text}");
        }
        assert!(!text.chars().any(is_unsafe_but_newline), "{text:?}");
        assert!(
            text.contains("`x\\n::error title=t::pwned\\u{1b}[2J`"),
            "{text}"
        );
        assert!(
            text.contains("`x\\r\\n::warning::y` is not \\u{202e}ok"),
            "{text}"
        );
        assert!(text.contains("hint: ::notice::z"), "{text}");
        assert!(render_short(&d, &f).lines().count() == 1);
    }

    fn is_unsafe_but_newline(c: char) -> bool {
        c != '\n' && is_unsafe(c)
    }

    #[test]
    fn long_literals_are_elided_with_their_size() {
        let big = "9".repeat(2 * 1024 * 1024);
        let f = SourceFile::new("s.yaml", format!("a: {big}\n"));
        let d = Diagnostic::error(
            "E0302",
            format!("invalid address range `{big}`"),
            Span::new(3, 3 + big.len()),
        )
        .label(format!("`{big}` is not an IPv4 address"));
        let text = render(&d, &f, RenderOptions::default());
        assert!(text.len() < 3_000, "{} bytes", text.len());
        assert_eq!(text.matches("…(2097152 characters)").count(), 2, "{text}");
        // A short literal is left alone, and so is prose without backticks under the bound.
        assert_eq!(
            clean_text("range `10.0.0.0/8` is fine"),
            "range `10.0.0.0/8` is fine"
        );
        let prose = "x".repeat(3_000);
        assert!(clean_text(&prose).ends_with("… (1000 more characters)"));
    }
}
