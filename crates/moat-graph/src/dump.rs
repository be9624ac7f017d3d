//! Text renderings of a graph: sorted `a -> b` lines, Graphviz DOT and Mermaid. Edges
//! point from a node to what it depends on. Output depends only on the graph's content,
//! never on insertion order.

use std::fmt::Write as _;

use crate::graph::Graph;

impl<N> Graph<N> {
    /// One `from -> to` line per edge, sorted, then one line per node that has no edge at
    /// all; every line ends with a newline.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let edges = self.edges();
        for (a, b) in &edges {
            let _ = writeln!(out, "{a} -> {b}");
        }
        let connected: std::collections::BTreeSet<&str> =
            edges.iter().flat_map(|(a, b)| [*a, *b]).collect();
        for key in self.keys() {
            if !connected.contains(key) {
                let _ = writeln!(out, "{key}");
            }
        }
        out
    }

    /// Graphviz DOT, nodes labelled with their keys.
    pub fn to_dot(&self) -> String {
        self.to_dot_with(|_, _| None)
    }

    /// Graphviz DOT; `label` gives a node's label (`None`: its key). Labels may contain
    /// newlines.
    pub fn to_dot_with(&self, label: impl Fn(&str, &N) -> Option<String>) -> String {
        let mut out = String::from("digraph {\n    rankdir=LR;\n");
        for (key, payload) in self.nodes() {
            let text = label(key, payload).unwrap_or_else(|| key.to_owned());
            let _ = writeln!(
                out,
                "    \"{}\" [label=\"{}\"];",
                dot_escape(key),
                dot_escape(&text)
            );
        }
        for (a, b) in self.edges() {
            let _ = writeln!(out, "    \"{}\" -> \"{}\";", dot_escape(a), dot_escape(b));
        }
        out.push_str("}\n");
        out
    }

    /// Mermaid `flowchart LR`, nodes labelled with their keys.
    pub fn to_mermaid(&self) -> String {
        self.to_mermaid_with(|_, _| None)
    }

    /// Mermaid `flowchart LR`; `label` gives a node's label (`None`: its key). Node ids are
    /// `n0`, `n1`, ... in key order because keys such as `vnet/training` are not valid
    /// Mermaid ids.
    pub fn to_mermaid_with(&self, label: impl Fn(&str, &N) -> Option<String>) -> String {
        let mut out = String::from("flowchart LR\n");
        let ids: std::collections::BTreeMap<&str, usize> =
            self.keys().enumerate().map(|(i, k)| (k, i)).collect();
        for (key, payload) in self.nodes() {
            let text = label(key, payload).unwrap_or_else(|| key.to_owned());
            let _ = writeln!(out, "    n{}[\"{}\"]", ids[key], mermaid_escape(&text));
        }
        for (a, b) in self.edges() {
            let _ = writeln!(out, "    n{} --> n{}", ids[a], ids[b]);
        }
        out
    }
}

fn dot_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

fn mermaid_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => out.push_str("#quot;"),
            '\n' => out.push_str("<br/>"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use crate::Graph;

    fn sample() -> Graph<&'static str> {
        let mut g = Graph::new();
        g.add_node("vnet/training", "subnet").unwrap();
        g.add_node("vnet", "virtual_network").unwrap();
        g.add_node("rg", "resource_group").unwrap();
        g.add_node("lonely", "x\"y").unwrap();
        g.add_edge("vnet/training", "vnet").unwrap();
        g.add_edge("vnet", "rg").unwrap();
        g
    }

    #[test]
    fn text_is_sorted_and_lists_isolated_nodes() {
        assert_eq!(
            sample().to_text(),
            "vnet -> rg\nvnet/training -> vnet\nlonely\n"
        );
    }

    #[test]
    fn dot_with_labels() {
        let dot = sample().to_dot_with(|k, p| Some(format!("{k}\n{p}")));
        assert_eq!(
            dot,
            "digraph {\n    rankdir=LR;\n\
             \x20   \"lonely\" [label=\"lonely\\nx\\\"y\"];\n\
             \x20   \"rg\" [label=\"rg\\nresource_group\"];\n\
             \x20   \"vnet\" [label=\"vnet\\nvirtual_network\"];\n\
             \x20   \"vnet/training\" [label=\"vnet/training\\nsubnet\"];\n\
             \x20   \"vnet\" -> \"rg\";\n\
             \x20   \"vnet/training\" -> \"vnet\";\n}\n"
        );
    }

    #[test]
    fn mermaid_uses_safe_ids() {
        let m = sample().to_mermaid();
        assert_eq!(
            m,
            "flowchart LR\n    n0[\"lonely\"]\n    n1[\"rg\"]\n    n2[\"vnet\"]\n    \
             n3[\"vnet/training\"]\n    n2 --> n1\n    n3 --> n2\n"
        );
        let labelled = sample().to_mermaid_with(|_, p| Some((*p).to_owned()));
        assert!(labelled.contains("n0[\"x#quot;y\"]"), "{labelled}");
    }

    #[test]
    fn output_does_not_depend_on_insertion_order() {
        let mut g = Graph::new();
        g.add_node("rg", "resource_group").unwrap();
        g.add_node("lonely", "x\"y").unwrap();
        g.add_node("vnet", "virtual_network").unwrap();
        g.add_node("vnet/training", "subnet").unwrap();
        g.add_edge("vnet", "rg").unwrap();
        g.add_edge("vnet/training", "vnet").unwrap();
        let s = sample();
        assert_eq!(g.to_text(), s.to_text());
        assert_eq!(g.to_dot(), s.to_dot());
        assert_eq!(g.to_mermaid(), s.to_mermaid());
    }
}
