//! Plain types and rules, no I/O.
