//! Command-line verbs, one file per verb group.
