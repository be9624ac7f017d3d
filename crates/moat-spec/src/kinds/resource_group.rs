//! The `resource_group` kind. Its spec declaration: the fields, their docs and decoders.

use crate::spec_struct;

spec_struct! {
    /// A resource group (no fields beyond the common ones).
    ResourceGroup ("a resource_group") {}
}
