//! Computes the user owns, attached to a workspace over SSH: a virtual machine (computeType
//! `VirtualMachine`) or an HDInsight cluster (`HDInsight`). The login's private key or password
//! is a secret field: the spec gives a reference, the body a marker, the plan and the state a
//! fingerprint (`VirtualMachineSshCredentials.privateKeyData` is `x-ms-secret` in
//! machineLearningServices.json 2024-04-01; `password` is not, a gap of the definition, and is
//! a secret here all the same). Destroying one detaches it (`underlyingResourceAction=Detach`):
//! the VM or the cluster is never deleted.

use super::{Field, KindDef, ML_SECRETS, Scope, ScopeRef, Site, canon, refs};
use crate::arm::MapContext;
use crate::armid::ArmId;
use crate::model::{Body, Kind, Resource};
use crate::resolve::Resolver;
use crate::{json, naming, secret};
use moat_spec::ast::{KindSpec, SshLogin};
use moat_spec::{Diagnostic, Spanned, codes};
use serde_json::{Value, json};

/// The managed fields both kinds share.
const FIELDS: &[Field] = &[
    Field::new("properties.description", canon::same),
    Field::new("properties.resourceId", canon::id_of).immutable(),
    Field::new("properties.properties.address", canon::same),
    Field::new("properties.properties.sshPort", canon::same).default("22"),
    // `Compute_Get` leaves the administrator account out (its secrets are read with the
    // `listKeys` action only): the last applied value stands for an absent live one.
    Field::new(
        "properties.properties.administratorAccount.username",
        canon::same,
    )
    .write_only(),
    Field::new(
        "properties.properties.administratorAccount.privateKeyData",
        canon::same,
    )
    .secret(),
    Field::new(
        "properties.properties.administratorAccount.password",
        canon::same,
    )
    .secret(),
];

pub(crate) static VM: KindDef = attached(Kind::VmCompute, "vm_compute");
pub(crate) static HDINSIGHT: KindDef = attached(Kind::HdinsightCompute, "hdinsight_compute");

/// The definition both attach kinds share: they differ only in kind and spec word. Destroy
/// detaches: the VM or cluster is the user's, not the workspace's.
const fn attached(kind: Kind, word: &'static str) -> KindDef {
    KindDef {
        scope_ref: Some(ScopeRef {
            field: refs::WORKSPACE,
            get: scope_ref,
        }),
        delete_query: &[("underlyingResourceAction", "Detach")],
        fields: FIELDS,
        immutable_unlisted: true,
        secrets: ML_SECRETS,
        ..KindDef::new(
            kind,
            word,
            "Microsoft.MachineLearningServices/workspaces/computes",
            "2024-04-01",
            Scope::Child {
                parent: Kind::MlWorkspace,
                segment: "computes",
            },
            naming::ML_COMPUTE,
            60,
            body,
            check,
        )
    }
}

/// The parts both kinds share, from either spec.
struct Parts<'a> {
    compute_type: &'static str,
    /// The attached resource's ARM type.
    arm_type: &'static str,
    what: &'static str,
    resource_id: &'a Spanned<String>,
    address: Option<&'a Spanned<String>>,
    ssh: &'a Spanned<SshLogin>,
    subnet: Option<&'a Spanned<String>>,
    nsg: Option<&'a Spanned<String>>,
    description: Option<&'a Spanned<String>>,
}

fn parts(spec: &KindSpec) -> Option<Parts<'_>> {
    match spec {
        KindSpec::VmCompute(c) => Some(Parts {
            compute_type: "VirtualMachine",
            arm_type: "Microsoft.Compute/virtualMachines",
            what: "a virtual machine",
            resource_id: &c.resource_id,
            address: c.address.as_ref(),
            ssh: &c.ssh,
            subnet: c.subnet.as_ref(),
            nsg: c.network_security_group.as_ref(),
            description: c.description.as_ref(),
        }),
        KindSpec::HdinsightCompute(c) => Some(Parts {
            compute_type: "HDInsight",
            arm_type: "Microsoft.HDInsight/clusters",
            what: "an HDInsight cluster",
            resource_id: &c.resource_id,
            address: c.address.as_ref(),
            ssh: &c.ssh,
            subnet: c.subnet.as_ref(),
            nsg: None,
            description: c.description.as_ref(),
        }),
        _ => None,
    }
}

/// The attached resource's ID in the kind's type spelling.
fn resource_id(p: &Parts<'_>) -> String {
    ArmId::parse(&p.resource_id.value).map_or_else(
        || p.resource_id.value.clone(),
        |id| id.with_type_casing(p.arm_type).to_string(),
    )
}

fn body(r: &Resource, b: &mut Value, _ctx: &MapContext) {
    let Body::Spec(spec) = &r.body else {
        return;
    };
    let Some(p) = parts(spec) else {
        return;
    };
    json::set(b, "properties.computeType", json!(p.compute_type));
    json::set(b, "properties.resourceId", json!(resource_id(&p)));
    if let Some(d) = p.description {
        json::set(b, "properties.description", json!(d.value));
    }
    if let Some(a) = p.address {
        json::set(b, "properties.properties.address", json!(a.value));
    }
    let ssh = &p.ssh.value;
    json::set(
        b,
        "properties.properties.sshPort",
        json!(ssh.port.as_ref().map_or(22, |x| x.value)),
    );
    let account = "properties.properties.administratorAccount";
    json::set(b, &format!("{account}.username"), json!(ssh.username.value));
    if let Some(k) = &ssh.private_key {
        json::set(
            b,
            &format!("{account}.privateKeyData"),
            json!(secret::marker(k)),
        );
    }
    if let Some(pw) = &ssh.password {
        json::set(b, &format!("{account}.password"), json!(secret::marker(pw)));
    }
}

/// The resource ID names a resource of the right type; exactly one credential; the subnet
/// (region) and the network security group bound for lint.
fn check(rs: &mut Resolver<'_>, spec: &KindSpec, site: Site<'_>) {
    let Site {
        key,
        location,
        refs,
        ..
    } = site;
    let Some(p) = parts(spec) else {
        return;
    };
    let id = &p.resource_id;
    match ArmId::parse_checked(&id.value) {
        Err(why) => rs.push(
            Diagnostic::error(
                codes::E0205,
                format!("`resource_id` is not the ARM ID of {}", p.what),
                id.span,
            )
            .label(why.to_string())
            .hint(format!(
                "write `/subscriptions/<guid>/resourceGroups/<group>/providers/{}/<name>`",
                p.arm_type
            )),
        ),
        Ok(parsed) if !parsed.full_type().eq_ignore_ascii_case(p.arm_type) => rs.push(
            Diagnostic::error(
                codes::E0202,
                format!(
                    "`resource_id` names a `{}`, not {}",
                    parsed.full_type(),
                    p.what
                ),
                id.span,
            )
            .label(format!("expected a `{}` ID", p.arm_type))
            .hint(format!(
                "attach {} (`{}`), or use the kind that attaches this type",
                p.what, p.arm_type
            )),
        ),
        Ok(_) => {}
    }
    let ssh = &p.ssh.value;
    match (&ssh.private_key, &ssh.password) {
        (Some(_), Some(pw)) => rs.push(
            Diagnostic::error(
                codes::E0114,
                "give `private_key` or `password`, not both",
                pw.span,
            )
            .label("second credential")
            .hint("keep the private key (`private_key: { env: NAME }`) and drop `password`"),
        ),
        (None, None) => rs.push(
            Diagnostic::error(
                codes::E0112,
                "missing `private_key` (or `password`) in ssh",
                p.ssh.span,
            )
            .label("no credential")
            .hint(
                "add `private_key: { env: NAME }` (or `{ file: PATH }`): Azure ML logs in with it",
            ),
        ),
        _ => {}
    }
    if let Some(port) = &ssh.port
        && port.value == 0
    {
        rs.err(
            codes::E0114,
            "`port` must be between 1 and 65535",
            port.span,
        );
    }
    if let Some(sn) = p.subnet
        && let Some(r) = rs.bind(sn, refs::SUBNET, &[Kind::Subnet])
    {
        rs.check_same_region(key, location, &r, p.what);
        refs.push(r);
    }
    if let Some(n) = p.nsg
        && let Some(r) = rs.bind(
            n,
            refs::NETWORK_SECURITY_GROUP,
            &[Kind::NetworkSecurityGroup],
        )
    {
        refs.push(r);
    }
}

/// The `workspace:` naming its scope.
fn scope_ref(spec: &KindSpec) -> Option<&Spanned<String>> {
    match spec {
        KindSpec::VmCompute(x) => Some(&x.workspace),
        KindSpec::HdinsightCompute(x) => Some(&x.workspace),
        _ => None,
    }
}
