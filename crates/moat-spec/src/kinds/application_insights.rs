//! The `application_insights` kind. Its spec declaration: the fields, their docs and decoders.

use crate::ast::Toggle;
use crate::{spec_enum, spec_struct};

spec_enum! {
    /// Application Insights application types.
    ApplicationType { Web = "web", Other = "other" }
}

spec_struct! {
    /// An Application Insights component.
    ApplicationInsights ("an application_insights") {
        /// The resource group: the key of a `resource_group` in this spec, or its ARM ID.
        resource_group: req String,
        /// Application type (default `web`).
        application_type: opt ApplicationType,
        /// ARM ID of a Log Analytics workspace to store data in.
        log_analytics_workspace: opt String,
        /// Retention in days (30, 60, 90, 120, 180, 270, 365, 550 or 730; default 90).
        retention_days: opt u32,
        /// Public ingestion (default `enabled`).
        public_network_access_for_ingestion: opt Toggle,
        /// Public queries (default `enabled`).
        public_network_access_for_query: opt Toggle,
        /// Refuse instrumentation-key authentication (default false).
        disable_local_auth: opt bool,
    }
}
