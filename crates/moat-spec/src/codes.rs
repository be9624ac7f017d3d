//! Every diagnostic code the parser and the resolver emit, one constant each, so a code is
//! written once and `ALL` can be checked against the error-code table of `docs/spec.md`
//! (`crates/moat/tests/spec_doc.rs`). Codes are a public contract: never renumber one.

/// Declares each code as a constant named by itself, and `ALL`.
macro_rules! codes {
    ($( $(#[doc = $doc:literal])* $name:ident ),* $(,)?) => {
        $( $(#[doc = $doc])* pub const $name: &str = stringify!($name); )*

        /// Every code, in order.
        pub const ALL: &[&str] = &[$(stringify!($name)),*];
    };
}

codes! {
    /// The file is not a spec at all: empty, binary (a NUL byte), not UTF-8, or larger than 16 MiB.
    E0001,
    /// Invalid YAML: a syntax error (the caret marks where the parser stopped, and an unclosed `{`/`[` is pointed out), a second document, an unsupported tag, a non-scalar key or a bad merge key.
    E0101,
    /// A key appears twice in one mapping (both places are shown).
    E0102,
    /// Too many YAML nodes: aliases that expand past 100 000 nodes ("billion laughs"), a document past 2 000 000 nodes, or an alias to an unknown anchor.
    E0103,
    /// Nesting deeper than moat accepts (64 levels).
    E0104,
    /// A tab character in indentation.
    E0105,
    /// A value of the wrong shape: a word for an integer, a list for a mapping, a single value for a list, `yes` for a boolean, a spec that is not a mapping.
    E0110,
    /// An unknown field (with the closest known one), or a field that is not allowed here: kind fields on an `existing:` resource, `cluster_purpose` outside `create:`.
    E0111,
    /// A required field is missing: `stack`, `resources`, a resource's `type`, a kind's required fields, `next_hop_ip` for `virtual_appliance`, `cluster:` or `create:`, `service_cidr` with `dns_service_ip`, `existing.resource_group`/`existing.id`.
    E0112,
    /// A word outside its closed set: an unknown resource type, enum value or service endpoint (with the closest valid one).
    E0113,
    /// A value out of range or fields that contradict each other: priorities, ports, node counts, `min_nodes` > `max_nodes`, retention days, durations, SSH keys, tenant IDs, SKU requirements, `cluster:` with `create:`, `existing.id` with `existing.name`.
    E0114,
    /// Bad interpolation: an unknown `${var.…}` (with the closest declared one), an unknown expression, a `${` without `}`, or a variable default that uses `${var.…}`.
    E0120,
    /// `${env.NAME}` names an unset environment variable and gives no `:-fallback`.
    E0121,
    /// A variable problem: a declared variable with no default and no `--var`, or a `--var` that names no declared variable.
    E0122,
    /// A secret reference problem: not `{ env: NAME }` or `{ file: PATH }` (both, neither, a bad variable name, an empty path), or — at plan and apply time — the variable it names is unset or empty, or the file cannot be read or is empty.
    E0130,
    /// An unknown reference: no resource has this key (with the closest key).
    E0201,
    /// A reference to the wrong kind of resource (the hint lists resources of the right kind), an ARM ID of the wrong type, or a child where none is allowed.
    E0202,
    /// A `vnet/subnet` reference to a subnet the network does not declare (with the closest subnet), or — at plan time — a subnet of an `existing:` network that the live network does not hold; as a warning, an `image_build_compute` that names no cluster of the workspace.
    E0203,
    /// A dependency cycle; the message prints the whole path (`a -> b -> c -> a`).
    E0204,
    /// Not an ARM resource ID (`/subscriptions/<guid>/resourceGroups/<group>/providers/<Namespace>/<type>/<name>`).
    E0205,
    /// A name Azure would refuse (length, characters, first or last character, `--`), with a valid suggestion; also invalid stack names, resource keys, subnet, rule, route, node pool names and DNS prefixes.
    E0301,
    /// An invalid address: CIDR syntax, host bits set (with the network meant), an IP, a service tag's shape, a private range or /31–/32 in a storage firewall.
    E0302,
    /// A subnet outside its network's address space, or smaller than /29.
    E0303,
    /// Overlapping ranges: two subnets of one network, or two ranges of one address space.
    E0304,
    /// A region problem: an unknown region (with the closest one), a resource with no location, or a subnet in a network of another region.
    E0305,
    /// A subscription problem: `subscription:` is not a GUID, or a subnet is in another subscription.
    E0306,
    /// Two resources would get the same Azure name (in one scope, or anywhere for globally unique names).
    E0307,
    /// A tag problem: more than 50 tags, moat's own `moat-stack`, an invalid tag name or a value over 256 characters.
    E0308,
    /// A virtual network or subnet range Azure refuses: the catch-all, or one overlapping a reserved range.
    E0309,
    /// A secret field holds a literal string: it sits in the spec file (and in version control); write `{ env: NAME }` or `{ file: PATH }`.
    W0130,
    /// A globally unique name (storage account, key vault, registry) defaulted from the key; it is probably taken.
    W0301,
    /// A plan turns on a workspace's managed network isolation, which cannot be turned off again (checked at plan time).
    W0302,
}
