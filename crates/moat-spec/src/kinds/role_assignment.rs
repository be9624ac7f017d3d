//! The `role_assignment` kind: a grant of a role to a principal at a scope. Its spec
//! declaration: the fields, their docs and decoders.

use crate::{spec_enum, spec_struct};

spec_enum! {
    /// What kind of directory object a role assignment's principal is.
    PrincipalType { ServicePrincipal = "service_principal", User = "user", Group = "group" }
}

spec_struct! {
    /// A role assignment (`Microsoft.Authorization/roleAssignments`, an extension resource of
    /// its scope). Its Azure name is a UUID derived from scope, principal and role, so a
    /// re-apply never creates a second one.
    RoleAssignment ("a role_assignment") {
        /// Where the role applies: the key of any resource in this spec, or an ARM ID.
        scope: req String,
        /// A built-in role's name (`AcrPull`, `Key Vault Secrets User`, …) or a role
        /// definition ID (`/subscriptions/…/providers/Microsoft.Authorization/roleDefinitions/<GUID>`).
        role: req String,
        /// Who gets it: a `user_assigned_identity` key, the key of a resource with a
        /// system-assigned identity (that identity), or a directory object ID (GUID).
        principal: req String,
        /// The principal's type (default `service_principal` for identities; needed for an
        /// object ID that is a user or a group).
        principal_type: opt PrincipalType,
        /// Description.
        description: opt String,
    }
}
