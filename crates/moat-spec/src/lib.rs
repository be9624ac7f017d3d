//! moat-spec: YAML text → a spanned, typed [`ast::Spec`]; diagnostics and their caret renderer;
//! the JSON Schema of the spec. No IO, no async: callers hand in text and get values back.

pub mod ast;
pub mod codes;
pub mod decode;
pub mod diag;
pub mod kinds;
pub mod schema;
pub mod secret;
pub mod span;
pub mod suggest;
pub mod yaml;

pub use ast::{Spec, VarOverrides};
pub use diag::{Diagnostic, Label, RenderOptions, Severity};
pub use span::{SourceFile, Span, Spanned};

/// Turns raw file bytes into a [`SourceFile`], refusing what cannot be a spec: oversized files,
/// binary data and invalid UTF-8, each with a located diagnostic.
// The error is built at most once per file; boxing it would only complicate every caller.
#[allow(clippy::result_large_err)]
pub fn source_from_bytes(
    name: &str,
    bytes: Vec<u8>,
) -> Result<SourceFile, (SourceFile, Diagnostic)> {
    if bytes.len() > yaml::MAX_BYTES {
        let file = SourceFile::new(name, "");
        let d = Diagnostic::error(
            codes::E0001,
            format!(
                "the spec is too large ({} bytes; the limit is {} bytes)",
                bytes.len(),
                yaml::MAX_BYTES
            ),
            Span::point(0),
        )
        .hint("split the spec into several stacks");
        return Err((file, d));
    }
    if let Some(nul) = bytes.iter().position(|&b| b == 0) {
        let prefix = String::from_utf8_lossy(&bytes[..nul]).into_owned();
        let at = prefix.len();
        let file = SourceFile::new(name, prefix);
        let d = Diagnostic::error(
            codes::E0001,
            "the file is binary, not a YAML spec",
            Span::point(at),
        )
        .label("NUL byte here")
        .hint("check the path: moat reads YAML text");
        return Err((file, d));
    }
    match String::from_utf8(bytes) {
        Ok(mut text) => {
            if text.starts_with('\u{feff}') {
                // A BOM is legal but invisible; drop it so columns match what editors show.
                text.replace_range(..3, "");
            }
            Ok(SourceFile::new(name, text))
        }
        Err(e) => {
            let at = e.utf8_error().valid_up_to();
            let bytes = e.into_bytes();
            let file = SourceFile::new(name, String::from_utf8_lossy(&bytes).into_owned());
            let d = Diagnostic::error(
                codes::E0001,
                "the spec is not valid UTF-8",
                Span::new(at, at + 1),
            )
            .label("invalid byte here")
            .hint("save the file as UTF-8");
            Err((file, d))
        }
    }
}

/// Parses and decodes a spec file: every problem found, and the spec when decoding got far
/// enough to build one (it may still come with errors).
pub fn load(
    file: &SourceFile,
    overrides: &VarOverrides,
    env: decode::EnvLookup<'_>,
) -> (Option<Spec>, Vec<Diagnostic>) {
    let root = match yaml::parse(file.text()) {
        Ok(root) => root,
        Err(diags) => return (None, diags),
    };
    let mut cx = decode::Cx::new(file.text(), env);
    let spec = Spec::decode(&root, overrides, &mut cx);
    (spec, cx.diags)
}
