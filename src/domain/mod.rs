//! Plain types and rules, no I/O: users, sessions, OAuth 2.0 clients, upstream providers, token
//! strings, jobs. Time and randomness come in as parameters ([`Clock`], an RNG) so that expiry
//! and generation are testable without sleeping.

pub mod browser_sessions;
pub mod client_registration;
pub mod clock;
pub mod compat;
pub mod emails;
pub mod ids;
pub mod jobs;
pub mod oauth2_clients;
pub mod oauth2_grants;
pub mod oauth2_sessions;
pub mod personal;
pub mod policy_data;
pub mod random;
pub mod redact;
pub mod registration_tokens;
pub mod scopes;
pub mod tokens;
pub mod upstream;
pub mod users;

pub use clock::{Clock, MockClock, SystemClock};
pub use random::RandomSource;
