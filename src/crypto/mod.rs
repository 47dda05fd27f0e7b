//! Password schemes, signing keys, encryption of secrets at rest.
