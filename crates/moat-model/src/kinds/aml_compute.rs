//! AML compute clusters: children of a workspace; only scale settings and the description change in place.

use super::user_assigned_identity as uai;
use super::{Field, KindDef, ML_SECRETS, Scope, ScopeRef, Site, canon, refs, words};
use crate::arm::{MapContext, id_obj, iso_duration};
use crate::model::{Body, Kind, Resource};
use crate::resolve::{Resolver, parse_duration};
use crate::{json, naming};
use moat_spec::ast::{self, KindSpec};
use moat_spec::{Diagnostic, Spanned, codes};
use serde_json::{Value, json};

pub(crate) static DEF: KindDef = KindDef {
    scope_ref: Some(ScopeRef {
        field: refs::WORKSPACE,
        get: scope_ref,
    }),
    delete_query: &[("underlyingResourceAction", "Delete")],
    // In-place changes: `Compute_Update` (PATCH) takes `ClusterUpdateParameters`, whose only
    // property is `properties.scaleSettings` (machineLearningServices.json 2024-04-01,
    // `ClusterUpdateProperties` → `ScaleSettingsInformation`); every other AmlCompute
    // property is fixed at creation (`immutable_unlisted`). moat sends the update as the
    // full PUT `Compute_CreateOrUpdate` documents ("will overwrite a compute if it exists").
    fields: &[
        // Not in `ClusterUpdateParameters`; kept in place as moat always has, since the PUT
        // carries it and no recording shows it refused [unverified].
        Field::new("properties.description", canon::same)
            .default("null")
            .spec("description"),
        Field::new("properties.properties.vmSize", canon::lower)
            .immutable()
            .spec("vm_size"),
        Field::new("properties.properties.vmPriority", canon::lower)
            .immutable()
            .spec_words("vm_priority", words::vm_priority),
        Field::new(
            "properties.properties.scaleSettings.minNodeCount",
            canon::same,
        )
        .spec("min_nodes"),
        Field::new(
            "properties.properties.scaleSettings.maxNodeCount",
            canon::same,
        )
        .spec("max_nodes"),
        Field::new(
            "properties.properties.scaleSettings.nodeIdleTimeBeforeScaleDown",
            canon::iso_seconds,
        )
        .spec("idle_time_before_scale_down"),
        Field::new("properties.properties.subnet", canon::id_of)
            .default("null")
            .immutable()
            .spec("subnet"),
        Field::new(
            "properties.properties.remoteLoginPortPublicAccess",
            remote_login,
        )
        .immutable()
        .spec_words("remote_login_port_public_access", words::remote_login),
        Field::new(
            "properties.properties.userAccountCredentials.adminUserName",
            canon::same,
        )
        .immutable()
        .spec("ssh.admin_username"),
        // The SSH *public* key: `UserAccountCredentials.adminUserSshPublicKey` is marked
        // `x-ms-secret` in the definition, but a public key protects nothing; hiding it hid
        // a rotation from the plan (issue 12, repro 4), so it is shown and stored. Not in
        // `ClusterUpdateParameters`, so rotating it replaces the cluster (nodes are
        // re-provisioned; an AmlCompute holds no data). `Compute_Get` returns no
        // `x-ms-secret` property ("Any secrets … are not returned"), so an absent live value
        // compares as the last applied one.
        Field::new(
            "properties.properties.userAccountCredentials.adminUserSshPublicKey",
            ssh_key,
        )
        .public()
        .write_only()
        .immutable()
        .spec("ssh.admin_public_key"),
        Field::new("properties.properties.enableNodePublicIp", canon::same)
            .default("true")
            .immutable()
            .spec("enable_node_public_ip"),
        Field::new("properties.properties.osType", canon::lower)
            .immutable()
            .spec_words("os_type", words::os_type),
        // Not in `ClusterUpdateParameters`: a new identity replaces the cluster.
        Field::new("identity.type", uai::identity_type)
            .default(r#""none""#)
            .immutable(),
        Field::new("identity.userAssignedIdentities", uai::user_assigned_ids)
            .default("[]")
            .immutable(),
    ],
    server_outputs: &[("principal_id", "identity.principalId")],
    immutable_unlisted: true,
    secrets: ML_SECRETS,
    ..KindDef::new(
        Kind::AmlCompute,
        "aml_compute",
        "Microsoft.MachineLearningServices/workspaces/computes",
        "2024-04-01",
        Scope::Child {
            parent: Kind::MlWorkspace,
            segment: "computes",
        },
        naming::ML_COMPUTE,
        90,
        body,
        check,
    )
};

/// An OpenSSH public key, compared without surrounding whitespace (a pasted key often
/// carries a trailing newline).
fn ssh_key(v: &Value) -> Option<Value> {
    v.as_str().map(|s| json!(s.trim()))
}

/// Azure turns `NotSpecified` into `Enabled` (BEHAVIOR.md §2.10).
fn remote_login(v: &Value) -> Option<Value> {
    let s = v.as_str().unwrap_or("").to_lowercase();
    Some(json!(if s == "notspecified" {
        "enabled".to_string()
    } else {
        s
    }))
}

fn body(r: &Resource, b: &mut Value, _ctx: &MapContext) {
    let Body::Spec(KindSpec::AmlCompute(c)) = &r.body else {
        return;
    };
    let reference = |field: &str| super::ref_id(r, field);
    json::set(b, "properties.computeType", json!("AmlCompute"));
    if let Some(i) = &c.identity {
        uai::set_body(
            r,
            b,
            uai::system(Some(i), false),
            "SystemAssigned,UserAssigned",
        );
    }
    if let Some(d) = &c.description {
        json::set(b, "properties.description", json!(d.value));
    }
    let p =
        |b: &mut Value, k: &str, v: Value| json::set(b, &format!("properties.properties.{k}"), v);
    p(b, "vmSize", json!(c.vm_size.value));
    let prio = if c
        .vm_priority
        .as_ref()
        .is_some_and(|x| x.value == ast::VmPriority::LowPriority)
    {
        "LowPriority"
    } else {
        "Dedicated"
    };
    p(b, "vmPriority", json!(prio));
    let idle = c
        .idle_time_before_scale_down
        .as_ref()
        .and_then(|t| parse_duration(&t.value).ok())
        .unwrap_or(120);
    p(
        b,
        "scaleSettings",
        json!({
            "minNodeCount": c.min_nodes.as_ref().map_or(0, |x| x.value),
            "maxNodeCount": c.max_nodes.value,
            "nodeIdleTimeBeforeScaleDown": iso_duration(idle),
        }),
    );
    if let Some(id) = reference(refs::SUBNET) {
        p(b, "subnet", id_obj(&id));
    }
    let login = match c.remote_login_port_public_access.as_ref().map(|x| x.value) {
        Some(ast::RemoteLogin::Enabled) => "Enabled",
        Some(ast::RemoteLogin::NotSpecified) => "NotSpecified",
        _ => "Disabled",
    };
    p(b, "remoteLoginPortPublicAccess", json!(login));
    if let Some(ssh) = &c.ssh {
        p(
            b,
            "userAccountCredentials",
            json!({ "adminUserName": ssh.value.admin_username.value, "adminUserSshPublicKey": ssh.value.admin_public_key.value }),
        );
    }
    if let Some(x) = &c.enable_node_public_ip {
        p(b, "enableNodePublicIp", json!(x.value));
    }
    let os = if c
        .os_type
        .as_ref()
        .is_some_and(|x| x.value == ast::OsType::Windows)
    {
        "Windows"
    } else {
        "Linux"
    };
    p(b, "osType", json!(os));
}

/// Offline checks of one `aml_compute`: what Azure would reject that can be known from the spec.
pub(crate) fn check(rs: &mut Resolver<'_>, spec: &KindSpec, site: Site<'_>) {
    let Site {
        key,
        location,
        refs,
        ..
    } = site;
    let KindSpec::AmlCompute(c) = spec else {
        return;
    };
    if let Some(min) = &c.min_nodes
        && min.value > c.max_nodes.value
    {
        rs.push(
            Diagnostic::error(
                codes::E0114,
                format!(
                    "`min_nodes` ({}) is larger than `max_nodes` ({})",
                    min.value, c.max_nodes.value
                ),
                min.span,
            )
            .label("more than the maximum")
            .with_secondary(c.max_nodes.span, "the maximum")
            .hint("lower `min_nodes` or raise `max_nodes`"),
        );
    }
    if c.max_nodes.value == 0 {
        rs.err(
            codes::E0114,
            "`max_nodes` must be at least 1",
            c.max_nodes.span,
        );
    }
    if let Some(t) = &c.idle_time_before_scale_down
        && let Err(why) = parse_duration(&t.value)
    {
        rs.push(
            Diagnostic::error(
                codes::E0114,
                format!("invalid duration `{}`", t.value),
                t.span,
            )
            .label(why)
            .hint("write e.g. `120s`, `2m`, `1h` or `PT2M`"),
        );
    }
    if let Some(ssh) = &c.ssh {
        let k = &ssh.value.admin_public_key;
        if !["ssh-rsa ", "ssh-ed25519 ", "ecdsa-sha2-"]
            .iter()
            .any(|p| k.value.starts_with(p))
        {
            rs.push(
                Diagnostic::error(
                    codes::E0114,
                    "`admin_public_key` is not an OpenSSH public key",
                    k.span,
                )
                .hint(
                    "paste the contents of `~/.ssh/id_ed25519.pub` (it starts with `ssh-ed25519 `)",
                ),
            );
        }
    }
    uai::bind(rs, c.identity.as_ref(), refs);
    if let Some(sn) = &c.subnet
        && let Some(r) = rs.bind(sn, refs::SUBNET, &[Kind::Subnet])
    {
        rs.check_same_region(key, location, &r, "an AmlCompute cluster");
        rs.check_same_subscription(&r);
        refs.push(r);
    }
}

/// The `workspace:` naming its scope.
fn scope_ref(spec: &KindSpec) -> Option<&Spanned<String>> {
    match spec {
        KindSpec::AmlCompute(x) => Some(&x.workspace),
        _ => None,
    }
}
