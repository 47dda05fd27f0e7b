//! Plain types and rules, no I/O: users, sessions, token strings, jobs. Time and randomness come in
//! as parameters ([`Clock`], an RNG) so that expiry and generation are testable without sleeping.

pub mod clock;
pub mod compat;
pub mod emails;
pub mod ids;
pub mod jobs;
pub mod personal;
pub mod registration_tokens;
pub mod scopes;
pub mod tokens;
pub mod users;

pub use clock::{Clock, MockClock, SystemClock};
