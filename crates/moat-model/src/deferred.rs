//! Values known only after another resource exists (a new identity's principal ID): a request
//! body carries a marker naming where to read the value, and apply reads it just before the
//! write. The marker is plain text so the plan shows it as "known after apply".

/// The marker's opening words.
const OPEN: &str = "(known after apply: ";

/// The marker for `path` of the resource `id`, read at `api_version`.
pub fn value(id: &str, api_version: &str, path: &str) -> String {
    format!("{OPEN}{path} of {id}?api-version={api_version})")
}

/// `(id, api_version, path)` of a marker; `None` for any other string.
pub fn parse(s: &str) -> Option<(&str, &str, &str)> {
    let rest = s.strip_prefix(OPEN)?.strip_suffix(')')?;
    let (path, rest) = rest.split_once(" of ")?;
    let (id, api) = rest.rsplit_once("?api-version=")?;
    Some((id, api, path))
}

#[cfg(test)]
mod tests {
    #[test]
    fn markers_round_trip_and_nothing_else_parses() {
        let m = super::value(
            "/subscriptions/s/x/y",
            "2023-01-31",
            "properties.principalId",
        );
        assert_eq!(
            super::parse(&m),
            Some((
                "/subscriptions/s/x/y",
                "2023-01-31",
                "properties.principalId"
            ))
        );
        assert_eq!(super::parse("06651546-4121-4ccd-a25d-13fe0422467e"), None);
        assert_eq!(super::parse("(known after apply: nothing)"), None);
    }
}
