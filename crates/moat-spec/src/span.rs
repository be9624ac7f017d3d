//! Source positions: byte spans, values that carry one, and the source file that maps them
//! back to lines and columns for diagnostics.

use std::fmt;

/// A byte range in one source file. `start == end` marks a position rather than a range.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Span {
    /// First byte of the range.
    pub start: u32,
    /// One past the last byte of the range.
    pub end: u32,
}

impl Span {
    /// A span from byte offsets.
    pub fn new(start: usize, end: usize) -> Span {
        let clamp = |v: usize| u32::try_from(v).unwrap_or(u32::MAX);
        Span {
            start: clamp(start),
            end: clamp(end.max(start)),
        }
    }

    /// The empty span at `offset`.
    pub fn point(offset: usize) -> Span {
        Span::new(offset, offset)
    }

    /// The smallest span covering both.
    pub fn to(self, other: Span) -> Span {
        Span {
            start: self.start.min(other.start),
            end: self.end.max(other.end),
        }
    }

    /// A sub-range given relative to this span's start.
    pub fn sub(self, from: usize, to: usize) -> Span {
        Span::new(self.start as usize + from, self.start as usize + to)
    }

    /// Length in bytes.
    pub fn len(self) -> usize {
        (self.end - self.start) as usize
    }

    /// True for a position span.
    pub fn is_empty(self) -> bool {
        self.start == self.end
    }
}

/// A value together with the place in the spec it came from.
#[derive(Clone, Debug)]
pub struct Spanned<T> {
    /// The value.
    pub value: T,
    /// Where it was written.
    pub span: Span,
}

impl<T> Spanned<T> {
    /// Wraps `value` with `span`.
    pub fn new(value: T, span: Span) -> Self {
        Spanned { value, span }
    }

    /// Applies `f` to the value and keeps the span.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Spanned<U> {
        Spanned {
            value: f(self.value),
            span: self.span,
        }
    }

    /// Borrows the value, keeping the span.
    pub fn as_ref(&self) -> Spanned<&T> {
        Spanned {
            value: &self.value,
            span: self.span,
        }
    }
}

/// Equality ignores spans: two specs that say the same thing are equal.
impl<T: PartialEq> PartialEq for Spanned<T> {
    fn eq(&self, other: &Self) -> bool {
        self.value == other.value
    }
}

impl<T: fmt::Display> fmt::Display for Spanned<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.value.fmt(f)
    }
}

impl<T> std::ops::Deref for Spanned<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.value
    }
}

/// A 1-based line and column (columns count characters, not bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LineCol {
    /// 1-based line.
    pub line: usize,
    /// 1-based column in characters.
    pub col: usize,
}

/// One spec file: its display name, its text, and a line index.
#[derive(Clone, Debug)]
pub struct SourceFile {
    name: String,
    text: String,
    line_starts: Vec<usize>,
    /// Byte ranges never shown in a snippet (literal secrets): [`SourceFile::display_line`]
    /// prints `*` in their place.
    masked: Vec<(usize, usize)>,
}

impl SourceFile {
    /// Indexes `text` under the display `name` (usually the path as the user typed it).
    pub fn new(name: impl Into<String>, text: impl Into<String>) -> SourceFile {
        let text = text.into();
        let mut line_starts = vec![0];
        line_starts.extend(
            text.bytes()
                .enumerate()
                .filter(|&(_, b)| b == b'\n')
                .map(|(i, _)| i + 1),
        );
        SourceFile {
            name: name.into(),
            text,
            line_starts,
            masked: Vec::new(),
        }
    }

    /// Hides `spans` (literal secrets) from every snippet a diagnostic shows of this file.
    pub fn mask(&mut self, spans: impl IntoIterator<Item = Span>) {
        // A scalar's span may take the blank after it along; the blank is no secret.
        let text = self.text.as_bytes();
        self.masked.extend(spans.into_iter().map(|s| {
            let (start, mut end) = (s.start as usize, (s.end as usize).min(text.len()));
            while end > start && text[end - 1].is_ascii_whitespace() {
                end -= 1;
            }
            (start, end)
        }));
    }

    /// A 1-based line as a diagnostic shows it: [`SourceFile::line_text`] with every masked
    /// range replaced by as many `*` as it has characters (so carets stay in place).
    pub fn display_line(&self, line: usize) -> std::borrow::Cow<'_, str> {
        let text = self.line_text(line);
        let Some(&start) = self.line_starts.get(line.saturating_sub(1)) else {
            return text.into();
        };
        let end = start + text.len();
        let hits: Vec<(usize, usize)> = self
            .masked
            .iter()
            .filter(|(a, b)| *a < end && *b > start)
            .map(|(a, b)| ((*a).max(start) - start, (*b).min(end) - start))
            .collect();
        if hits.is_empty() {
            return text.into();
        }
        let mut out = String::with_capacity(text.len());
        for (i, c) in text.char_indices() {
            if hits.iter().any(|(a, b)| i >= *a && i < *b) {
                out.push('*');
            } else {
                out.push(c);
            }
        }
        out.into()
    }

    /// The display name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The whole text.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The text under `span`, or "" when the span is out of range.
    pub fn slice(&self, span: Span) -> &str {
        self.text
            .get(span.start as usize..span.end as usize)
            .unwrap_or("")
    }

    /// 1-based line and column of a byte offset (clamped to the text).
    pub fn line_col(&self, offset: u32) -> LineCol {
        let offset = (offset as usize).min(self.text.len());
        let line = self.line_starts.partition_point(|&s| s <= offset) - 1;
        let start = self.line_starts[line];
        let col = self
            .text
            .get(start..offset)
            .map_or(offset - start, |s| s.chars().count())
            + 1;
        LineCol {
            line: line + 1,
            col,
        }
    }

    /// The text of a 1-based line without its line break.
    pub fn line_text(&self, line: usize) -> &str {
        let Some(&start) = self.line_starts.get(line.saturating_sub(1)) else {
            return "";
        };
        let end = self.line_starts.get(line).map_or(self.text.len(), |&e| e);
        self.text
            .get(start..end)
            .unwrap_or("")
            .trim_end_matches(['\n', '\r'])
    }

    /// Number of lines.
    pub fn line_count(&self) -> usize {
        self.line_starts.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masked_ranges_show_as_stars_of_the_same_width() {
        let text = "a: 1\nkey: { pw: s3cr3t-é, u: x }\n";
        let mut f = SourceFile::new("a.yaml", text);
        let at = text.find("s3cr3t").unwrap();
        f.mask([Span::new(at, at + "s3cr3t-é".len())]);
        assert_eq!(f.display_line(2), "key: { pw: ********, u: x }");
        assert_eq!(f.display_line(1), "a: 1");
        assert_eq!(f.line_text(2), "key: { pw: s3cr3t-é, u: x }");
    }

    #[test]
    fn line_col_counts_characters() {
        let f = SourceFile::new("a.yaml", "ab\nçd: x\n");
        assert_eq!(f.line_col(0), LineCol { line: 1, col: 1 });
        assert_eq!(f.line_col(3), LineCol { line: 2, col: 1 });
        // `ç` is two bytes but one column.
        assert_eq!(f.line_col(6), LineCol { line: 2, col: 3 });
        assert_eq!(f.line_text(2), "çd: x");
        assert_eq!(f.line_text(9), "");
    }
}
