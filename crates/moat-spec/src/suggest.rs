//! "Did you mean …?": the closest candidate to a misspelt name.

/// Edit distance between two strings (insertions, deletions, substitutions), in characters.
pub fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.chars().enumerate() {
        cur[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let cost = usize::from(ca != cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

fn fold(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c == '-' || c == ' ' {
                '_'
            } else {
                c.to_ascii_lowercase()
            }
        })
        .collect()
}

/// The candidate closest to `wrong`, if one is close enough to be a plausible typo.
/// Case and `-`/`_` differences count as exact matches.
pub fn did_you_mean<'a, I>(wrong: &str, candidates: I) -> Option<&'a str>
where
    I: IntoIterator<Item = &'a str>,
{
    let folded = fold(wrong);
    let limit = (wrong.chars().count() / 3).clamp(1, 4);
    let mut best: Option<(usize, &'a str)> = None;
    for c in candidates {
        let d = if fold(c) == folded {
            0
        } else {
            levenshtein(&folded, &fold(c))
        };
        let better = match best {
            None => true,
            Some((bd, bc)) => d < bd || (d == bd && c < bc),
        };
        if d <= limit && better {
            best = Some((d, c));
        }
    }
    best.map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_close_names_only() {
        let names = ["address_prefix", "network_security_group", "route_table"];
        assert_eq!(did_you_mean("adress_prefix", names), Some("address_prefix"));
        assert_eq!(did_you_mean("Route-Table", names), Some("route_table"));
        assert_eq!(did_you_mean("zzz", names), None);
        assert_eq!(levenshtein("kitten", "sitting"), 3);
    }
}
