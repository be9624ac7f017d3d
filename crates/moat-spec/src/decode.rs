//! Typed decoding of the node tree. Every problem is collected into [`Cx`] rather than returned,
//! so one run reports all of them; a value that cannot be decoded becomes `None` and decoding
//! carries on with its siblings.
//!
//! Structs and enums of the spec are declared with [`spec_struct!`](crate::spec_struct) and
//! [`spec_enum!`](crate::spec_enum), which generate the Rust type, its decoder and its JSON
//! Schema from one declaration, so the schema cannot drift from what the decoder accepts.

use crate::codes;
use crate::diag::Diagnostic;
use crate::span::{Span, Spanned};
use crate::suggest::did_you_mean;
use crate::yaml::{Entry, Node, Value};
use serde_json::json;
use std::collections::BTreeMap;

/// Looks up environment variables; injected so that decoding stays pure and testable.
pub type EnvLookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// The decoding context: the source text, variables and the problems found so far.
pub struct Cx<'a> {
    /// Problems found so far.
    pub diags: Vec<Diagnostic>,
    source: &'a str,
    env: EnvLookup<'a>,
    vars: BTreeMap<String, String>,
    vars_ready: bool,
    /// Declared variables that got no value (already reported where they are declared).
    valueless: Vec<String>,
    /// The key span of the entry whose value is being decoded, for "missing field" messages.
    owner: Span,
    /// Every secret field value decoded so far, references and literals, where it was written.
    pub secrets: Vec<Spanned<crate::secret::Secret>>,
}

impl<'a> Cx<'a> {
    /// A context over `source` that reads the environment through `env`.
    pub fn new(source: &'a str, env: EnvLookup<'a>) -> Cx<'a> {
        Cx {
            diags: Vec::new(),
            source,
            env,
            vars: BTreeMap::new(),
            vars_ready: false,
            valueless: Vec::new(),
            owner: Span::point(0),
            secrets: Vec::new(),
        }
    }

    /// Records a problem.
    pub fn push(&mut self, d: Diagnostic) {
        self.diags.push(d);
    }

    /// Installs the resolved variables; before this, `${var.…}` is an error.
    pub fn set_vars(&mut self, vars: BTreeMap<String, String>) {
        self.vars = vars;
        self.vars_ready = true;
    }

    /// Records a declared variable that has no value, so that its uses are not reported as
    /// unknown variables on top of the error at its declaration.
    pub fn mark_valueless(&mut self, name: &str) {
        self.valueless.push(name.to_string());
    }

    /// Makes `span` (usually a mapping's key) the place "missing field" errors point at while
    /// that mapping is read; returns the previous owner for restoring.
    pub fn set_owner(&mut self, span: Span) -> Span {
        std::mem::replace(&mut self.owner, span)
    }

    /// The span used for "missing field" errors in the mapping being decoded.
    pub fn owner(&self) -> Span {
        self.owner
    }

    /// Reports a shape mismatch.
    pub fn type_error(&mut self, node: &Node, expected: &str) {
        let found = node.kind_name();
        let mut d = Diagnostic::error(
            codes::E0110,
            format!("expected {expected}, found {found}"),
            node.span,
        )
        .label(format!("expected {expected}"));
        match &node.value {
            Value::Scalar(sc) if expected.contains("list") => {
                let example = if sc.text.len() <= 40 && !sc.text.contains(['[', ']', ',']) {
                    sc.text.as_str()
                } else {
                    "value"
                };
                d = d.hint(format!("write a list, e.g. `[{example}]`"));
            }
            Value::Seq(_) | Value::Scalar(_) if expected.starts_with("a mapping") => {
                d = d.hint(
                    "write `key: value` pairs, one per line or as `{ key: value, other: value }`",
                );
            }
            _ => {}
        }
        self.push(d);
    }

    /// Substitutes `${var.NAME}`, `${env.NAME}` and `${env.NAME:-fallback}` in a scalar.
    /// `$${` escapes a literal `${`. Errors point at the exact `${…}` when the scalar's source
    /// text maps one-to-one to its value, else at the whole scalar.
    pub fn interpolate(&mut self, text: &str, span: Span) -> Option<String> {
        if !text.contains("${") {
            return Some(text.to_string());
        }
        let base = self.value_offset(text, span);
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        let mut consumed = 0usize;
        let mut ok = true;
        while let Some(i) = rest.find("${") {
            if i > 0 && rest.as_bytes()[i - 1] == b'$' {
                out.push_str(&rest[..i - 1]);
                out.push_str("${");
                rest = &rest[i + 2..];
                consumed += i + 2;
                continue;
            }
            out.push_str(&rest[..i]);
            let start = consumed + i;
            let Some(close) = rest[i..].find('}') else {
                self.push(
                    Diagnostic::error(
                        codes::E0120,
                        "unterminated `${` in value",
                        self.sub_span(span, base, start, text.len()),
                    )
                    .label("no closing `}`")
                    .hint("close the expression with `}`, or write `$${` for a literal `${`"),
                );
                return None;
            };
            let expr = &rest[i + 2..i + close];
            let at = self.sub_span(span, base, start, start + close + 1);
            match self.eval(expr, at) {
                Some(v) => out.push_str(&v),
                None => ok = false,
            }
            rest = &rest[i + close + 1..];
            consumed = start + close + 1;
        }
        out.push_str(rest);
        ok.then_some(out)
    }

    fn eval(&mut self, expr: &str, at: Span) -> Option<String> {
        let expr = expr.trim();
        if let Some(name) = expr.strip_prefix("var.") {
            if !self.vars_ready {
                self.push(
                    Diagnostic::error(
                        codes::E0120,
                        "variables cannot refer to other variables",
                        at,
                    )
                    .hint("use `${env.NAME}` in a variable's default, or write the value out"),
                );
                return None;
            }
            if let Some(v) = self.vars.get(name) {
                return Some(v.clone());
            }
            if self.valueless.iter().any(|v| v == name) {
                return None;
            }
            let hint = did_you_mean(name, self.vars.keys().map(String::as_str))
                .map(|s| format!("did you mean `${{var.{s}}}`?"))
                .unwrap_or_else(|| {
                    format!("declare it under `variables:`, e.g. `{name}: {{ default: … }}`")
                });
            self.push(
                Diagnostic::error(codes::E0120, format!("unknown variable `{name}`"), at)
                    .label("not declared under `variables:`")
                    .hint(hint),
            );
            return None;
        }
        if let Some(rest) = expr.strip_prefix("env.") {
            let (name, fallback) = match rest.split_once(":-") {
                Some((n, f)) => (n, Some(f)),
                None => (rest, None),
            };
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                self.push(Diagnostic::error(
                    codes::E0120,
                    format!("invalid environment variable name `{name}`"),
                    at,
                ));
                return None;
            }
            return match ((self.env)(name), fallback) {
                (Some(v), _) => Some(v),
                (None, Some(f)) => Some(f.to_string()),
                (None, None) => {
                    self.push(
                        Diagnostic::error(
                            codes::E0121,
                            format!("environment variable `{name}` is not set"),
                            at,
                        )
                        .label("unset")
                        .hint(format!(
                            "set `{name}`, or give a fallback: `${{env.{name}:-value}}`"
                        )),
                    );
                    None
                }
            };
        }
        self.push(
            Diagnostic::error(
                codes::E0120,
                format!("unknown expression `${{{expr}}}`"),
                at,
            )
            .hint("only `${var.NAME}`, `${env.NAME}` and `${env.NAME:-fallback}` are supported"),
        );
        None
    }

    /// Byte offset of the scalar's value inside its source span, when the mapping is exact.
    fn value_offset(&self, text: &str, span: Span) -> Option<usize> {
        let src = self.source.get(span.start as usize..span.end as usize)?;
        if src == text {
            Some(0)
        } else if src.len() == text.len() + 2 && &src[1..src.len() - 1] == text {
            Some(1)
        } else {
            None
        }
    }

    fn sub_span(&self, span: Span, base: Option<usize>, from: usize, to: usize) -> Span {
        match base {
            Some(b) => span.sub(b + from, b + to),
            None => span,
        }
    }
}

/// A type that can be read from a spec node, and described as JSON Schema.
pub trait Decode: Sized {
    /// Reads the value; on failure records problems in `cx` and returns `None`.
    fn decode(node: &Node, cx: &mut Cx<'_>) -> Option<Self>;
    /// The JSON Schema of the accepted YAML.
    fn schema() -> serde_json::Value;
}

/// A mapping with arbitrary keys (tags, subnets by name, variables), in source order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Map<T>(pub Vec<(Spanned<String>, Spanned<T>)>);

impl<T> Map<T> {
    /// Looks a key up.
    pub fn get(&self, key: &str) -> Option<&Spanned<T>> {
        self.0.iter().find(|(k, _)| k.value == key).map(|(_, v)| v)
    }

    /// Iterates over entries in source order.
    pub fn iter(&self) -> impl Iterator<Item = &(Spanned<String>, Spanned<T>)> {
        self.0.iter()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Decode for String {
    fn decode(node: &Node, cx: &mut Cx<'_>) -> Option<Self> {
        match &node.value {
            Value::Scalar(s) => cx.interpolate(&s.text, node.span),
            _ => {
                cx.type_error(node, "a string");
                None
            }
        }
    }
    fn schema() -> serde_json::Value {
        json!({ "type": "string" })
    }
}

fn scalar_text(node: &Node, cx: &mut Cx<'_>, expected: &str) -> Option<(String, bool)> {
    match &node.value {
        Value::Scalar(s) if !s.quoted => {
            let interpolated = s.text.contains("${");
            cx.interpolate(&s.text, node.span)
                .map(|t| (t, interpolated))
        }
        Value::Scalar(s) if s.text.contains("${") => {
            cx.interpolate(&s.text, node.span).map(|t| (t, true))
        }
        _ => {
            cx.type_error(node, expected);
            None
        }
    }
}

impl Decode for bool {
    fn decode(node: &Node, cx: &mut Cx<'_>) -> Option<Self> {
        let (text, _) = scalar_text(node, cx, "`true` or `false`")?;
        match text.as_str() {
            "true" | "True" | "TRUE" => Some(true),
            "false" | "False" | "FALSE" => Some(false),
            other => {
                let mut d = Diagnostic::error(
                    codes::E0110,
                    format!("expected `true` or `false`, found `{other}`"),
                    node.span,
                )
                .label("expected `true` or `false`");
                let lower = other.to_ascii_lowercase();
                if matches!(lower.as_str(), "yes" | "on" | "y") {
                    d = d.hint(format!(
                        "write `true`: moat reads YAML 1.2, where `{other}` is a string"
                    ));
                } else if matches!(lower.as_str(), "no" | "off" | "n") {
                    d = d.hint(format!(
                        "write `false`: moat reads YAML 1.2, where `{other}` is a string"
                    ));
                }
                cx.push(d);
                None
            }
        }
    }
    fn schema() -> serde_json::Value {
        json!({ "anyOf": [ { "type": "boolean" }, crate::schema::interpolated() ] })
    }
}

macro_rules! int_decode {
    ($t:ty, $min:expr, $max:expr) => {
        impl Decode for $t {
            fn decode(node: &Node, cx: &mut Cx<'_>) -> Option<Self> {
                let (text, _) = scalar_text(node, cx, "an integer")?;
                match text.trim().parse::<i128>() {
                    Ok(v) if v >= $min as i128 && v <= $max as i128 => Some(v as $t),
                    Ok(v) => {
                        cx.push(
                            Diagnostic::error($crate::codes::E0114, format!("{v} is out of range"), node.span)
                                .label(format!("must be between {} and {}", $min, $max)),
                        );
                        None
                    }
                    Err(_) => {
                        cx.push(
                            Diagnostic::error($crate::codes::E0110, format!("expected an integer, found `{text}`"), node.span)
                                .label("expected an integer")
                                .hint("write a whole number in digits, e.g. `4`"),
                        );
                        None
                    }
                }
            }
            fn schema() -> serde_json::Value {
                json!({ "anyOf": [ { "type": "integer", "minimum": $min, "maximum": $max }, $crate::schema::interpolated() ] })
            }
        }
    };
}
int_decode!(u32, 0u32, u32::MAX);
int_decode!(u16, 0u16, u16::MAX);

impl<T: Decode> Decode for Spanned<T> {
    fn decode(node: &Node, cx: &mut Cx<'_>) -> Option<Self> {
        T::decode(node, cx).map(|v| Spanned::new(v, node.span))
    }
    fn schema() -> serde_json::Value {
        T::schema()
    }
}

/// Boxed, for the big optional parts of a kind (a deployment's probes and settings), so
/// the kind enum stays small.
impl<T: Decode> Decode for Box<T> {
    fn decode(node: &Node, cx: &mut Cx<'_>) -> Option<Self> {
        T::decode(node, cx).map(Box::new)
    }
    fn schema() -> serde_json::Value {
        T::schema()
    }
}

impl<T: Decode> Decode for Vec<T> {
    fn decode(node: &Node, cx: &mut Cx<'_>) -> Option<Self> {
        match &node.value {
            Value::Seq(items) => {
                let mut out = Vec::with_capacity(items.len());
                let mut ok = true;
                for item in items {
                    match T::decode(item, cx) {
                        Some(v) => out.push(v),
                        None => ok = false,
                    }
                }
                ok.then_some(out)
            }
            _ => {
                cx.type_error(node, "a list");
                None
            }
        }
    }
    fn schema() -> serde_json::Value {
        json!({ "type": "array", "items": T::schema() })
    }
}

impl<T: Decode> Decode for Map<T> {
    fn decode(node: &Node, cx: &mut Cx<'_>) -> Option<Self> {
        match &node.value {
            Value::Map(entries) => {
                let mut out = Vec::with_capacity(entries.len());
                let mut ok = true;
                for Entry { key, value } in entries {
                    let saved = std::mem::replace(&mut cx.owner, key.span);
                    match T::decode(value, cx) {
                        Some(v) => out.push((key.clone(), Spanned::new(v, value.span))),
                        None => ok = false,
                    }
                    cx.owner = saved;
                }
                ok.then_some(Map(out))
            }
            _ => {
                cx.type_error(node, "a mapping");
                None
            }
        }
    }
    fn schema() -> serde_json::Value {
        json!({ "type": "object", "additionalProperties": T::schema() })
    }
}

/// `Foo bar` → `foo bar`, leaving acronyms (`VM size`, `ARM ID`) alone.
fn lowercase_first(s: &str) -> String {
    let mut chars = s.chars();
    match (chars.next(), chars.next()) {
        (Some(a), Some(b)) if a.is_ascii_uppercase() && !b.is_ascii_uppercase() => {
            format!("{}{}", a.to_ascii_lowercase(), &s[1..])
        }
        _ => s.to_string(),
    }
}

/// Reads the fields of one mapping, remembering which keys were used so that the rest can be
/// reported as unknown (with a suggestion) by [`MapReader::finish`].
pub struct MapReader<'n> {
    entries: &'n [Entry],
    used: Vec<bool>,
    span: Span,
    owner: Span,
    what: String,
    /// Required fields found missing: the key, its doc, and the index of the "missing field"
    /// error in `cx.diags`, so that [`MapReader::finish`] can fold a misspelling of the key
    /// into that one error instead of reporting the same typo twice.
    missing: Vec<(String, String, usize)>,
}

impl<'n> MapReader<'n> {
    /// Starts reading `node` as the mapping of a `what` (used in messages).
    pub fn new(node: &'n Node, what: &str, cx: &mut Cx<'_>) -> Option<MapReader<'n>> {
        match &node.value {
            Value::Map(entries) => Some(MapReader {
                entries,
                used: vec![false; entries.len()],
                span: node.span,
                owner: cx.owner,
                what: what.to_string(),
                missing: Vec::new(),
            }),
            _ => {
                cx.type_error(node, &format!("a mapping ({what})"));
                None
            }
        }
    }

    /// The span of the whole mapping.
    pub fn span(&self) -> Span {
        self.span
    }

    /// Marks `key` used and returns its entry; a `null` value counts as absent.
    pub fn take(&mut self, key: &str) -> Option<&'n Entry> {
        let i = self.entries.iter().position(|e| e.key.value == key)?;
        self.used[i] = true;
        let e = &self.entries[i];
        (!matches!(e.value.value, Value::Null)).then_some(e)
    }

    /// True when the mapping has `key` (used or not).
    pub fn has(&self, key: &str) -> bool {
        self.entries.iter().any(|e| e.key.value == key)
    }

    /// Reads an optional field.
    pub fn opt<T: Decode>(&mut self, key: &str, cx: &mut Cx<'_>) -> Option<Spanned<T>> {
        let entry = self.take(key)?;
        let saved = std::mem::replace(&mut cx.owner, entry.key.span);
        let v = T::decode(&entry.value, cx).map(|v| Spanned::new(v, entry.value.span));
        cx.owner = saved;
        v
    }

    /// Reads a required field; its absence is reported at the mapping's owner.
    pub fn req<T: Decode>(&mut self, key: &str, cx: &mut Cx<'_>) -> Option<Spanned<T>> {
        self.req_doc(key, "", cx)
    }

    /// Reads a required field whose documentation is `doc`; the doc becomes the hint when the
    /// field is missing, so the user learns what to write.
    pub fn req_doc<T: Decode>(
        &mut self,
        key: &str,
        doc: &str,
        cx: &mut Cx<'_>,
    ) -> Option<Spanned<T>> {
        if self.take(key).is_none() {
            let at = if self.owner.is_empty() {
                Span::new(self.span.start as usize, self.span.start as usize + 1)
            } else {
                self.owner
            };
            let doc = doc.trim().trim_end_matches('.');
            let hint = if doc.is_empty() {
                format!("add `{key}:`")
            } else {
                format!("add `{key}:` — {}", lowercase_first(doc))
            };
            self.missing
                .push((key.to_string(), doc.to_string(), cx.diags.len()));
            cx.push(
                Diagnostic::error(
                    codes::E0112,
                    format!("missing field `{key}` in {}", self.what),
                    at,
                )
                .label(format!("`{key}` is required here"))
                .hint(hint),
            );
            return None;
        }
        self.opt(key, cx)
    }

    /// Keys that were not read, each with a suggestion from `known`. An unknown key that is a
    /// misspelling of a required field found missing replaces that field's "missing" error:
    /// one typo, one diagnostic, pointing at the typo.
    pub fn finish(self, cx: &mut Cx<'_>, known: &[&str]) {
        let mut merged = vec![false; self.missing.len()];
        for (e, used) in self.entries.iter().zip(&self.used) {
            if *used || e.key.value == "<<" {
                continue;
            }
            let missing = did_you_mean(
                &e.key.value,
                self.missing
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| !merged[*i])
                    .map(|(_, (k, _, _))| k.as_str()),
            )
            .and_then(|s| self.missing.iter().position(|(k, _, _)| k == s));
            if let Some(i) = missing {
                merged[i] = true;
                let (key, doc, at) = &self.missing[i];
                let hint = if doc.is_empty() {
                    format!("rename it `{key}`")
                } else {
                    format!("rename it `{key}` — {}", lowercase_first(doc))
                };
                cx.diags[*at] = Diagnostic::error(
                    codes::E0112,
                    format!(
                        "unknown field `{}` in {}, where `{key}` is missing",
                        e.key.value, self.what
                    ),
                    e.key.span,
                )
                .label(format!("did you mean the required `{key}`?"))
                .hint(hint);
                continue;
            }
            let hint = did_you_mean(&e.key.value, known.iter().copied())
                .map(|s| format!("did you mean `{s}`?"))
                .unwrap_or_else(|| {
                    format!("the fields of {} are: {}", self.what, known.join(", "))
                });
            cx.push(
                Diagnostic::error(
                    codes::E0111,
                    format!("unknown field `{}` in {}", e.key.value, self.what),
                    e.key.span,
                )
                .label("unknown field")
                .hint(hint),
            );
        }
    }
}

/// Declares a spec struct: the Rust type, its decoder and its JSON Schema, from one list of
/// fields. `req T` fields become `Spanned<T>`, `opt T` fields `Option<Spanned<T>>`.
#[macro_export]
macro_rules! spec_struct {
    (
        $(#[doc = $doc:literal])*
        $name:ident ($what:literal) {
            $( $(#[doc = $fdoc:literal])* $field:ident : $mode:ident $ty:ty ),* $(,)?
        }
    ) => {
        $(#[doc = $doc])*
        #[derive(Clone, Debug, PartialEq)]
        pub struct $name {
            $( $(#[doc = $fdoc])* pub $field: $crate::spec_struct!(@ty $mode $ty), )*
        }

        impl $name {
            /// The YAML keys this struct reads.
            pub const FIELDS: &'static [&'static str] = &[$(stringify!($field)),*];

            /// Reads this struct's fields from a mapping that may hold other fields too.
            #[allow(unused_variables)]
            pub fn read_fields(r: &mut $crate::decode::MapReader<'_>, cx: &mut $crate::decode::Cx<'_>) -> Option<Self> {
                $( let $field = $crate::spec_struct!(@read r cx $mode $field $ty $(, $fdoc)*); )*
                Some(Self { $( $field: $crate::spec_struct!(@unwrap $mode $field), )* })
            }

            /// The JSON Schema `properties` and `required` of this struct.
            #[allow(unused_mut)]
            pub fn schema_parts() -> (serde_json::Map<String, serde_json::Value>, Vec<String>) {
                let mut props = serde_json::Map::new();
                let mut required: Vec<String> = Vec::new();
                $(
                    let mut s = <$ty as $crate::decode::Decode>::schema();
                    let doc = [$($fdoc),*].iter().map(|l: &&str| l.trim()).collect::<Vec<_>>().join(" ");
                    $crate::schema::refine_field(&mut s, &doc);
                    if let (Some(obj), false) = (s.as_object_mut(), doc.is_empty()) {
                        obj.insert("description".into(), serde_json::Value::String(doc));
                    }
                    props.insert(stringify!($field).into(), s);
                    $crate::spec_struct!(@required required $mode $field);
                )*
                (props, required)
            }
        }

        impl $crate::decode::Decode for $name {
            fn decode(node: &$crate::yaml::Node, cx: &mut $crate::decode::Cx<'_>) -> Option<Self> {
                let mut r = $crate::decode::MapReader::new(node, $what, cx)?;
                let v = Self::read_fields(&mut r, cx);
                r.finish(cx, Self::FIELDS);
                v
            }
            fn schema() -> serde_json::Value {
                let (props, required) = Self::schema_parts();
                let doc = [$($doc),*].iter().map(|l: &&str| l.trim()).collect::<Vec<_>>().join(" ");
                serde_json::json!({
                    "type": "object",
                    "description": doc,
                    "properties": props,
                    "required": required,
                    "additionalProperties": false,
                })
            }
        }
    };
    (@ty req $ty:ty) => { $crate::span::Spanned<$ty> };
    (@ty opt $ty:ty) => { Option<$crate::span::Spanned<$ty>> };
    (@read $r:ident $cx:ident req $field:ident $ty:ty $(, $fdoc:literal)*) => {
        $r.req_doc::<$ty>(stringify!($field), &[$($fdoc),*].iter().map(|l: &&str| l.trim()).collect::<Vec<_>>().join(" "), $cx)
    };
    (@read $r:ident $cx:ident opt $field:ident $ty:ty $(, $fdoc:literal)*) => { $r.opt::<$ty>(stringify!($field), $cx) };
    (@unwrap req $field:ident) => { $field? };
    (@unwrap opt $field:ident) => { $field };
    (@required $req:ident req $field:ident) => { $req.push(stringify!($field).to_string()) };
    (@required $req:ident opt $field:ident) => { () };
}

/// Declares a closed set of spec words (`inbound`, `allow`, …) as a Rust enum with a decoder
/// that suggests the closest word, and a JSON Schema `enum`.
#[macro_export]
macro_rules! spec_enum {
    (
        $(#[doc = $doc:literal])*
        $name:ident { $( $(#[doc = $vdoc:literal])* $variant:ident = $word:literal ),* $(,)? }
    ) => {
        $(#[doc = $doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum $name { $( $(#[doc = $vdoc])* #[doc = concat!("Spec word `", $word, "`.")] $variant, )* }

        impl $name {
            /// Every accepted word, in declaration order.
            pub const WORDS: &'static [&'static str] = &[$($word),*];

            /// The spec word for this value.
            pub fn as_str(self) -> &'static str {
                match self { $( $name::$variant => $word, )* }
            }

            /// Parses a spec word.
            pub fn from_word(s: &str) -> Option<Self> {
                match s { $( $word => Some($name::$variant), )* _ => None }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl $crate::decode::Decode for $name {
            fn decode(node: &$crate::yaml::Node, cx: &mut $crate::decode::Cx<'_>) -> Option<Self> {
                let text = <String as $crate::decode::Decode>::decode(node, cx)?;
                if let Some(v) = Self::from_word(&text) {
                    return Some(v);
                }
                let hint = match $crate::suggest::did_you_mean(&text, Self::WORDS.iter().copied()) {
                    Some(s) => format!("did you mean `{s}`?"),
                    None => format!("use one of: {}", Self::WORDS.join(", ")),
                };
                cx.push(
                    $crate::diag::Diagnostic::error($crate::codes::E0113, format!("invalid value `{text}`"), node.span)
                        .label(format!("expected one of: {}", Self::WORDS.join(", ")))
                        .hint(hint),
                );
                None
            }
            fn schema() -> serde_json::Value {
                serde_json::json!({ "anyOf": [ { "type": "string", "enum": Self::WORDS }, $crate::schema::interpolated() ] })
            }
        }
    };
}
