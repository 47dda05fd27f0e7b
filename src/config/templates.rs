//! The `templates` section: where the page templates come from. MAS's other keys are parsed so
//! that MAS configurations load unchanged, but nothing reads them yet.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// `templates`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct TemplatesConfig {
    /// A directory whose `*.html` files replace the embedded templates of the same name (and may
    /// add templates those include). Relative to the working directory, as in MAS. Unset: only
    /// the embedded templates.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<PathBuf>,
    /// MAS's frontend asset manifest. Not used yet: Gatehouse's pages carry their own CSS.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assets_manifest: Option<PathBuf>,
    /// MAS's translation files. Not used yet: Gatehouse's pages are in English only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub translations_path: Option<PathBuf>,
}

impl TemplatesConfig {
    pub fn is_empty(&self) -> bool {
        self == &Self::default()
    }
}
