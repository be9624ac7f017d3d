//! YAML text → a spanned node tree, with the guard rails a spec parser needs: duplicate keys
//! are errors, nesting depth and alias expansion are bounded (no "billion laughs"), merge keys
//! (`<<`) work, and every node keeps the byte span it was written at.
//!
//! The tree is built iteratively from parser events so that deep input cannot overflow the stack.

use crate::codes;
use crate::diag::Diagnostic;
use crate::span::{Span, Spanned};
use saphyr_parser::{Event, Marker, Parser, ScalarStyle, ScanError};
use std::collections::HashMap;

/// Deepest nesting of mappings and sequences accepted. Real specs stay under 10.
pub const MAX_DEPTH: usize = 64;
/// Most nodes a document may hold, aliases expanded. Generous: a 10 MB spec of real resources
/// has about a million; the limit only bounds memory on pathological input.
pub const MAX_NODES: usize = 2_000_000;
/// Most nodes that alias expansion may add. Aliases in a spec share small snippets; a
/// "billion laughs" document hits this long before it costs memory.
pub const MAX_ALIAS_NODES: usize = 100_000;
/// Largest spec file accepted, in bytes.
pub const MAX_BYTES: usize = 16 * 1024 * 1024;

/// A YAML node and where it was written.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    /// Where the node was written (for an alias: where the alias was written).
    pub span: Span,
    /// The node.
    pub value: Value,
}

/// The shapes a node can have.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// `~`, `null`, or nothing at all.
    Null,
    /// Any scalar other than null.
    Scalar(Scalar),
    /// A sequence.
    Seq(Vec<Node>),
    /// A mapping, in source order, keys unique.
    Map(Vec<Entry>),
}

/// A scalar's text and whether it was quoted (quoted scalars are always strings).
#[derive(Clone, Debug, PartialEq)]
pub struct Scalar {
    /// The scalar's value after YAML unescaping.
    pub text: String,
    /// False for plain scalars, which may also be numbers or booleans.
    pub quoted: bool,
}

/// One `key: value` pair of a mapping.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    /// The key (keys are always scalars in a spec).
    pub key: Spanned<String>,
    /// The value.
    pub value: Node,
}

impl Node {
    /// A short word for the node's shape, for "expected X, found Y" messages.
    pub fn kind_name(&self) -> &'static str {
        match &self.value {
            Value::Null => "nothing",
            Value::Scalar(s) if s.quoted => "a string",
            Value::Scalar(s) => plain_kind(&s.text),
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }

    /// The mapping's entries, if it is one.
    pub fn as_map(&self) -> Option<&[Entry]> {
        match &self.value {
            Value::Map(m) => Some(m),
            _ => None,
        }
    }

    /// Looks up a key of a mapping.
    pub fn get(&self, key: &str) -> Option<&Entry> {
        self.as_map()?.iter().find(|e| e.key.value == key)
    }

    fn count(&self) -> usize {
        match &self.value {
            Value::Seq(items) => 1 + items.iter().map(Node::count).sum::<usize>(),
            Value::Map(entries) => 1 + entries.iter().map(|e| 1 + e.value.count()).sum::<usize>(),
            _ => 1,
        }
    }
}

fn plain_kind(text: &str) -> &'static str {
    if matches!(text, "true" | "false" | "True" | "False" | "TRUE" | "FALSE") {
        "a boolean"
    } else if text.parse::<i64>().is_ok() {
        "an integer"
    } else if text.parse::<f64>().is_ok() && text.chars().any(|c| c.is_ascii_digit()) {
        "a number"
    } else {
        "a string"
    }
}

/// Maps the parser's character positions to byte offsets through line starts.
struct Positions<'a> {
    text: &'a str,
    line_starts: Vec<usize>,
}

impl<'a> Positions<'a> {
    fn new(text: &'a str) -> Self {
        let mut line_starts = vec![0];
        line_starts.extend(
            text.bytes()
                .enumerate()
                .filter(|&(_, b)| b == b'\n')
                .map(|(i, _)| i + 1),
        );
        Positions { text, line_starts }
    }

    fn offset(&self, m: &Marker) -> usize {
        let Some(&start) = self.line_starts.get(m.line().saturating_sub(1)) else {
            return self.text.len();
        };
        let line = &self.text[start..];
        let within = line
            .char_indices()
            .nth(m.col())
            .map_or_else(|| line.find('\n').unwrap_or(line.len()), |(i, _)| i);
        (start + within).min(self.text.len())
    }

    fn span(&self, s: &saphyr_parser::Span) -> Span {
        Span::new(self.offset(&s.start), self.offset(&s.end))
    }
}

enum Frame {
    Seq {
        start: Span,
        anchor: usize,
        items: Vec<Node>,
    },
    Map {
        start: Span,
        anchor: usize,
        entries: Vec<Entry>,
        key: Option<Spanned<String>>,
        merges: Vec<Node>,
        /// Key → position in `entries`, built once a mapping grows past [`INDEX_FROM`]
        /// entries, so that the duplicate-key check stays linear for a `resources:` mapping
        /// of tens of thousands of keys.
        index: Option<HashMap<String, usize>>,
    },
}

/// Entries from which a mapping's keys are indexed instead of scanned.
const INDEX_FROM: usize = 16;

/// Parses one YAML document. On failure returns the problems found; parsing stops at the first
/// syntax error (YAML cannot be resynchronised reliably) but reports every duplicate key.
pub fn parse(text: &str) -> Result<Node, Vec<Diagnostic>> {
    let pos = Positions::new(text);
    let mut parser = Parser::new_from_str(text);
    let mut stack: Vec<Frame> = Vec::new();
    let mut anchors: HashMap<usize, Node> = HashMap::new();
    let mut root: Option<Node> = None;
    let mut diags = Vec::new();
    let mut nodes = 0usize;
    let mut alias_nodes = 0usize;
    let mut documents = 0usize;

    loop {
        let (event, raw_span) = match parser.next() {
            None => break,
            Some(Ok(ev)) => ev,
            Some(Err(e)) => {
                diags.push(scan_error(&e, &pos, text));
                return Err(diags);
            }
        };
        let span = pos.span(&raw_span);
        let done: Option<(Node, usize)> = match event {
            Event::StreamStart | Event::StreamEnd | Event::DocumentEnd | Event::Nothing => None,
            Event::DocumentStart(_) => {
                documents += 1;
                if documents > 1 {
                    diags.push(
                        Diagnostic::error(
                            codes::E0101,
                            "a spec holds exactly one YAML document",
                            span,
                        )
                        .label("second document starts here")
                        .hint("split the specs into separate files, or remove the `---` separator"),
                    );
                    return Err(diags);
                }
                None
            }
            Event::Alias(id) => match anchors.get(&id) {
                Some(target) => {
                    let added = target.count();
                    nodes += added;
                    alias_nodes += added;
                    if alias_nodes > MAX_ALIAS_NODES {
                        diags.push(
                            Diagnostic::error(codes::E0103, "aliases expand to too many YAML nodes", span)
                                .label(format!("expansion passes {MAX_ALIAS_NODES} nodes here"))
                                .hint("a spec should not need deeply nested aliases; write the values out"),
                        );
                        return Err(diags);
                    }
                    Some((
                        Node {
                            span,
                            value: target.value.clone(),
                        },
                        0,
                    ))
                }
                None => {
                    diags.push(Diagnostic::error(
                        codes::E0103,
                        "alias to an unknown anchor",
                        span,
                    ));
                    return Err(diags);
                }
            },
            Event::Scalar(value, style, anchor, tag) => {
                nodes += 1;
                if let Some(tag) = tag {
                    let t = tag.to_string();
                    if !t.starts_with("tag:yaml.org,2002:") && !t.starts_with("!!") {
                        diags.push(
                            Diagnostic::error(
                                codes::E0101,
                                format!("YAML tag `{t}` is not supported"),
                                span,
                            )
                            .hint("remove the tag; moat specs use plain YAML values"),
                        );
                        return Err(diags);
                    }
                }
                let quoted = !matches!(style, ScalarStyle::Plain);
                let node =
                    if !quoted && matches!(value.as_ref(), "" | "~" | "null" | "Null" | "NULL") {
                        Node {
                            span,
                            value: Value::Null,
                        }
                    } else {
                        Node {
                            span,
                            value: Value::Scalar(Scalar {
                                text: value.into_owned(),
                                quoted,
                            }),
                        }
                    };
                Some((node, anchor))
            }
            Event::SequenceStart(anchor, _) | Event::MappingStart(anchor, _) => {
                nodes += 1;
                if stack.len() >= MAX_DEPTH {
                    diags.push(
                        Diagnostic::error(codes::E0104, "the spec is nested too deeply", span)
                            .label(format!("nesting passes {MAX_DEPTH} levels here"))
                            .hint("a moat spec needs only a few levels of nesting; check for runaway brackets"),
                    );
                    return Err(diags);
                }
                let is_seq = matches!(event, Event::SequenceStart(..));
                stack.push(if is_seq {
                    Frame::Seq {
                        start: span,
                        anchor,
                        items: Vec::new(),
                    }
                } else {
                    Frame::Map {
                        start: span,
                        anchor,
                        entries: Vec::new(),
                        key: None,
                        merges: Vec::new(),
                        index: None,
                    }
                });
                None
            }
            Event::SequenceEnd => match stack.pop() {
                Some(Frame::Seq {
                    start,
                    anchor,
                    items,
                }) => {
                    let end = items.last().map_or(start, |n| n.span);
                    Some((
                        Node {
                            span: start.to(end),
                            value: Value::Seq(items),
                        },
                        anchor,
                    ))
                }
                _ => None,
            },
            Event::MappingEnd => match stack.pop() {
                Some(Frame::Map {
                    start,
                    anchor,
                    mut entries,
                    merges,
                    ..
                }) => {
                    let end = entries.last().map_or(start, |e| e.value.span);
                    // Explicit keys win over merged ones; earlier merge sources win over later.
                    for merged in merges {
                        if let Value::Map(extra) = merged.value {
                            for e in extra {
                                if !entries.iter().any(|x| x.key.value == e.key.value) {
                                    entries.push(e);
                                }
                            }
                        }
                    }
                    Some((
                        Node {
                            span: start.to(end),
                            value: Value::Map(entries),
                        },
                        anchor,
                    ))
                }
                _ => None,
            },
        };
        if nodes > MAX_NODES {
            diags.push(
                Diagnostic::error(codes::E0103, "the spec has too many YAML nodes", span)
                    .label(format!("passes {MAX_NODES} nodes here"))
                    .hint("split the spec into several stacks"),
            );
            return Err(diags);
        }
        let Some((node, anchor)) = done else { continue };
        if anchor != 0 {
            anchors.insert(anchor, node.clone());
        }
        attach(&mut stack, &mut root, node, &mut diags);
    }
    if !diags.is_empty() {
        return Err(diags);
    }
    Ok(root.unwrap_or(Node {
        span: Span::point(0),
        value: Value::Null,
    }))
}

fn attach(stack: &mut [Frame], root: &mut Option<Node>, node: Node, diags: &mut Vec<Diagnostic>) {
    match stack.last_mut() {
        None => *root = Some(node),
        Some(Frame::Seq { items, .. }) => items.push(node),
        Some(Frame::Map {
            entries,
            key,
            merges,
            index,
            ..
        }) => match key.take() {
            None => {
                let text = match &node.value {
                    Value::Scalar(s) => s.text.clone(),
                    Value::Null => String::new(),
                    _ => {
                        diags.push(
                            Diagnostic::error(
                                codes::E0101,
                                "mapping keys must be plain strings",
                                node.span,
                            )
                            .label(format!("this key is {}", node.kind_name())),
                        );
                        "\u{0}invalid".to_string()
                    }
                };
                *key = Some(Spanned::new(text, node.span));
            }
            Some(k) if k.value == "<<" => match node.value {
                Value::Map(_) => merges.push(node),
                Value::Seq(items) => merges.extend(
                    items
                        .into_iter()
                        .filter(|n| matches!(n.value, Value::Map(_))),
                ),
                _ => diags.push(
                    Diagnostic::error(
                        codes::E0101,
                        "a merge key `<<` takes a mapping or a list of mappings",
                        node.span,
                    )
                    .label(format!("found {}", node.kind_name())),
                ),
            },
            Some(k) => {
                let first = match index {
                    Some(ix) => ix.get(&k.value).map(|&i| &entries[i]),
                    None => entries.iter().find(|e| e.key.value == k.value),
                };
                if let Some(first) = first {
                    diags.push(
                        Diagnostic::error(
                            codes::E0102,
                            format!("duplicate key `{}`", k.value),
                            k.span,
                        )
                        .label("defined again here")
                        .with_secondary(first.key.span, "first defined here")
                        .hint("remove one of the two; YAML keys must be unique in a mapping"),
                    );
                } else {
                    if let Some(ix) = index {
                        ix.insert(k.value.clone(), entries.len());
                    }
                    entries.push(Entry {
                        key: k,
                        value: node,
                    });
                    if index.is_none() && entries.len() >= INDEX_FROM {
                        *index = Some(
                            entries
                                .iter()
                                .enumerate()
                                .map(|(i, e)| (e.key.value.clone(), i))
                                .collect(),
                        );
                    }
                }
            }
        },
    }
}

fn scan_error(e: &ScanError, pos: &Positions<'_>, text: &str) -> Diagnostic {
    let at = pos.offset(e.marker());
    let info = e.info();
    let line_start = text[..at.min(text.len())].rfind('\n').map_or(0, |i| i + 1);
    let line = &text[line_start..];
    let line = &line[..line.find('\n').unwrap_or(line.len())];
    let has_tab = line.starts_with([' ', '\t'])
        && line
            .chars()
            .take_while(|c| c.is_whitespace())
            .any(|c| c == '\t');
    let mut d = Diagnostic::error(
        codes::E0101,
        format!("invalid YAML: {}", backtick_quotes(info)),
        Span::point(at),
    )
    .label("the YAML parser stopped here");
    if info.contains("recursion limit") {
        return Diagnostic::error(
            codes::E0104,
            "the spec is nested too deeply",
            Span::point(at),
        )
        .label("nesting limit reached here")
        .hint("a moat spec needs only a few levels of nesting; check for runaway brackets");
    }
    if has_tab || info.contains("tab") {
        let tab = line_start + line.find('\t').unwrap_or(0);
        d = Diagnostic::error(
            codes::E0105,
            "tab character in indentation",
            Span::new(tab, tab + 1),
        )
        .label("tab here")
        .hint("YAML indentation must use spaces; replace the tab with spaces");
    } else if info.contains("mapping values are not allowed") {
        d = d.hint("a value containing `: ` must be quoted, or the indentation is off");
    } else if info.contains("did not find expected") {
        d = d.hint("check the indentation and that every `[`/`{` and quote is closed");
    }
    if (info.contains("flow mapping") || info.contains("flow sequence"))
        && let Some(open) = unclosed_bracket(&text[..at.min(text.len())])
    {
        let c = &text[open..open + 1];
        d = d.with_secondary(
            Span::new(open, open + 1),
            format!("this `{c}` is not closed"),
        );
    }
    d
}

/// Rewrites the parser's `'x'` quoting of literals into the backticks moat's messages use.
fn backtick_quotes(info: &str) -> String {
    let mut out = String::with_capacity(info.len());
    let chars: Vec<char> = info.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        // Only short quoted literals (`','`, `'}'`): apostrophes in prose stay as they are.
        if chars[i] == '\''
            && let Some(len) = chars[i + 1..].iter().take(4).position(|&c| c == '\'')
            && len > 0
        {
            out.push('`');
            out.extend(&chars[i + 1..i + 1 + len]);
            out.push('`');
            i += len + 2;
            continue;
        }
        out.push(chars[i]);
        i += 1;
    }
    out
}

/// The offset of the last `{` or `[` before the end of `text` that is still open, skipping
/// brackets inside quotes and comments. A heuristic for pointing at an unclosed flow collection.
fn unclosed_bracket(text: &str) -> Option<usize> {
    let mut open: Vec<usize> = Vec::new();
    let mut quote: Option<u8> = None;
    let mut comment = false;
    let bytes = text.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        if comment {
            comment = b != b'\n';
            continue;
        }
        match (quote, b) {
            (Some(q), _) if b == q => quote = None,
            (Some(_), _) => {}
            (None, b'"' | b'\'')
                if i == 0 || matches!(bytes[i - 1], b' ' | b'[' | b'{' | b',' | b':') =>
            {
                quote = Some(b)
            }
            (None, b'#') if i == 0 || bytes[i - 1].is_ascii_whitespace() => comment = true,
            (None, b'{' | b'[') => open.push(i),
            (None, b'}' | b']') => {
                open.pop();
            }
            _ => {}
        }
    }
    open.pop()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map_keys(n: &Node) -> Vec<String> {
        n.as_map()
            .unwrap_or_default()
            .iter()
            .map(|e| e.key.value.clone())
            .collect()
    }

    #[test]
    fn spans_point_at_scalars() {
        let src = "a: hello\nb:\n  - 'x y'\n";
        let n = parse(src).expect("parses");
        let a = n.get("a").expect("a");
        assert_eq!(
            &src[a.value.span.start as usize..a.value.span.end as usize],
            "hello"
        );
        assert_eq!(
            &src[a.key.span.start as usize..a.key.span.end as usize],
            "a"
        );
    }

    #[test]
    fn duplicate_keys_are_errors_at_the_second_key() {
        let src = "a: 1\nb: 2\na: 3\n";
        let errs = parse(src).expect_err("duplicate");
        assert_eq!(errs[0].code, "E0102");
        assert_eq!(errs[0].primary.span.start, 10);
    }

    #[test]
    fn merge_keys_merge_and_explicit_keys_win() {
        let src = "base: &b { x: 1, y: 2 }\nthing:\n  <<: *b\n  y: 3\n";
        let n = parse(src).expect("parses");
        let thing = &n.get("thing").expect("thing").value;
        assert_eq!(map_keys(thing), vec!["y", "x"]);
    }

    #[test]
    fn alias_bomb_is_bounded() {
        let mut src = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x]\n");
        for i in 1..10 {
            let p = i - 1;
            src.push_str(&format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
            ));
        }
        let errs = parse(&src).expect_err("bomb");
        assert_eq!(errs[0].code, "E0103");
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let src = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        let errs = parse(&src).expect_err("deep");
        assert_eq!(errs[0].code, "E0104");
    }

    #[test]
    fn non_ascii_offsets_are_bytes() {
        let src = "é: ünïcode\n";
        let n = parse(src).expect("parses");
        let e = n.get("é").expect("key");
        assert_eq!(
            &src[e.value.span.start as usize..e.value.span.end as usize],
            "ünïcode"
        );
    }
}
