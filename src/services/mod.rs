//! The operations every surface shares (the CLI's `manage` verbs, the admin API, the Synapse
//! admin routes, the compat endpoints and the pages). Each takes ids or a `&User`, checks its
//! rules, writes in one unit of work and queues the homeserver work it causes; none speaks HTTP.

pub mod access;
pub mod accounts;
pub mod activity;
pub mod browser_sessions;
pub mod client_registration;
pub mod compat_sessions;
pub mod compat_sso;
pub mod housekeeping;
pub mod oauth2_sessions;
pub mod policy;
pub mod rate_limit;
pub mod sessions;
pub mod sign_in;
pub mod users_csv;
