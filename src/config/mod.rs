//! The `config.yaml` model (MAS section and key names), loading, validation and generation.
