//! Server-rendered pages: minijinja templates embedded from `templates/`, or replaced by files of
//! the same name in `templates.path`, rendered with strict undefined behaviour so a missing value
//! is an error, not an empty string. The server and `templates check` load them the same way;
//! [`pages`] holds the typed context of each page.

mod pages;

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
};

use minijinja::{Environment, UndefinedBehavior, Value, value::Serde};

pub use self::pages::{
    CompatSsoPage, ConsentPage, ConsentPermission, DeviceConsentPage, ErrorPage, IndexPage,
    LinkPage, LoginPage, Page, Service,
};
use crate::config::{ConfigError, TemplatesConfig};

/// Every embedded template, by name.
pub const TEMPLATES: &[(&str, &str)] = &[
    ("base.html", include_str!("../templates/base.html")),
    ("login.html", include_str!("../templates/login.html")),
    (
        "compat_sso.html",
        include_str!("../templates/compat_sso.html"),
    ),
    ("index.html", include_str!("../templates/index.html")),
    ("error.html", include_str!("../templates/error.html")),
    ("consent.html", include_str!("../templates/consent.html")),
    ("link.html", include_str!("../templates/link.html")),
    (
        "device_consent.html",
        include_str!("../templates/device_consent.html"),
    ),
];

/// Embedded templates that are only layouts: rendered through the pages that extend them,
/// never with a context of their own.
pub const LAYOUTS: &[&str] = &["base.html"];

/// A page template with its sample context, as `templates check` renders it.
pub struct Sample {
    pub template: &'static str,
    render: fn(&Templates) -> Result<String, minijinja::Error>,
}

impl Sample {
    const fn of<P: Page>() -> Self {
        Self {
            template: P::TEMPLATE,
            render: |templates| templates.render(&P::sample()),
        }
    }

    pub fn render(&self, templates: &Templates) -> Result<String, minijinja::Error> {
        (self.render)(templates)
    }
}

/// Every page template (every embedded template but the [`LAYOUTS`]) with its sample context.
pub const SAMPLES: &[Sample] = &[
    Sample::of::<IndexPage>(),
    Sample::of::<LoginPage>(),
    Sample::of::<CompatSsoPage>(),
    Sample::of::<ErrorPage>(),
    Sample::of::<ConsentPage>(),
    Sample::of::<LinkPage>(),
    Sample::of::<DeviceConsentPage>(),
];

/// Why the templates could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum TemplatesError {
    /// `templates.path` or a file in it could not be read.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A template does not compile (a syntax error); minijinja's message gives the line.
    #[error("template {name}: {source}")]
    Compile {
        name: String,
        source: minijinja::Error,
    },
}

/// Where a template's source came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    Embedded,
    File(PathBuf),
}

pub struct Templates {
    env: Environment<'static>,
    origins: BTreeMap<String, Origin>,
}

impl Templates {
    /// The embedded templates, with every `*.html` file directly in `templates.path` (when set)
    /// in place of the embedded template of the same name, or added beside them.
    pub fn load(config: &TemplatesConfig) -> Result<Self, TemplatesError> {
        let mut sources: BTreeMap<String, (Origin, String)> = TEMPLATES
            .iter()
            .map(|(name, source)| ((*name).to_owned(), (Origin::Embedded, (*source).to_owned())))
            .collect();
        if let Some(dir) = &config.path {
            for (name, path, source) in read_directory(dir)? {
                sources.insert(name, (Origin::File(path), source));
            }
        }
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        let mut origins = BTreeMap::new();
        for (name, (origin, source)) in sources {
            env.add_template_owned(name.clone(), source)
                .map_err(|source| TemplatesError::Compile {
                    name: name.clone(),
                    source,
                })?;
            origins.insert(name, origin);
        }
        Ok(Self { env, origins })
    }

    /// Where the template `name` came from; `None` for a template that is not loaded.
    pub fn origin(&self, name: &str) -> Option<&Origin> {
        self.origins.get(name)
    }

    /// Every loaded template's name (in name order) and where it came from.
    pub fn origins(&self) -> impl Iterator<Item = (&str, &Origin)> {
        self.origins
            .iter()
            .map(|(name, origin)| (name.as_str(), origin))
    }

    /// Render `page` with the template its type names.
    pub fn render<P: Page>(&self, page: &P) -> Result<String, minijinja::Error> {
        self.env
            .get_template(P::TEMPLATE)?
            .render(Value::from(Serde(page)))
    }
}

/// The `*.html` files directly in `dir` (subdirectories are not templates Gatehouse knows),
/// each as (template name, path, source).
fn read_directory(dir: &Path) -> Result<Vec<(String, PathBuf, String)>, ConfigError> {
    let unreadable = |file: &Path| {
        let file = file.to_owned();
        move |source| ConfigError::File {
            key: "templates.path".to_owned(),
            file,
            source,
        }
    };
    let mut templates = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(unreadable(dir))? {
        let path = entry.map_err(unreadable(dir))?.path();
        // A name that is not UTF-8 cannot be the name of a template Gatehouse renders.
        let Some(name) = path.file_name().and_then(|name| name.to_str()) else {
            continue;
        };
        if !name.ends_with(".html") || !path.is_file() {
            continue;
        }
        let name = name.to_owned();
        let source = std::fs::read_to_string(&path).map_err(unreadable(&path))?;
        templates.push((name, path, source));
    }
    Ok(templates)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service() -> Service {
        Service {
            name: "Gatehouse".to_owned(),
            base: "/".to_owned(),
        }
    }

    #[test]
    fn every_template_renders_and_escapes() {
        let templates = Templates::load(&TemplatesConfig::default()).expect("templates compile");
        let login = templates
            .render(&LoginPage {
                service: service(),
                csrf: "tok",
                next: "/x?a=<b>",
                username: "",
                error: "",
            })
            .expect("login renders");
        assert!(login.contains("name=\"csrf\" value=\"tok\""));
        assert!(
            login.contains("value=\"&#x2f;x?a=&lt;b&gt;\"") && !login.contains("<b>"),
            "values are HTML-escaped: {login}"
        );
        let sso = templates
            .render(&CompatSsoPage {
                service: service(),
                csrf: "tok",
                mxid: "@a:b",
                client_host: "app.example",
                action: "/complete-compat-sso/1",
            })
            .expect("sso renders");
        assert!(sso.contains("app.example"));
        let signed_out = templates
            .render(&IndexPage {
                service: service(),
                mxid: "",
                csrf: "t",
            })
            .expect("index renders");
        assert!(signed_out.contains("Sign in"));
        for sample in SAMPLES {
            sample
                .render(&templates)
                .unwrap_or_else(|error| panic!("{}: {error:#}", sample.template));
        }
    }

    #[test]
    fn every_embedded_template_is_a_page_with_a_sample_or_a_layout() {
        for (name, _) in TEMPLATES {
            let pages = SAMPLES.iter().filter(|s| s.template == *name).count();
            let layout = LAYOUTS.contains(name);
            assert!(
                pages + usize::from(layout) == 1,
                "{name}: {pages} samples, layout: {layout}"
            );
        }
    }

    #[test]
    fn a_directory_replaces_embedded_templates_by_name() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(
            dir.path().join("error.html"),
            "{% include \"footer.html\" %} {{ title }}",
        )
        .expect("write");
        std::fs::write(dir.path().join("footer.html"), "custom").expect("write");
        std::fs::write(dir.path().join("notes.txt"), "{{ not a template").expect("write");
        let config = TemplatesConfig {
            path: Some(dir.path().to_owned()),
            ..TemplatesConfig::default()
        };
        let templates = Templates::load(&config).expect("templates compile");
        let rendered = templates
            .render(&ErrorPage {
                service: service(),
                title: "T",
                message: "M",
            })
            .expect("renders");
        assert_eq!(rendered, "custom T");
        let origins: BTreeMap<&str, &Origin> = templates.origins().collect();
        assert_eq!(
            origins["error.html"],
            &Origin::File(dir.path().join("error.html"))
        );
        assert_eq!(
            origins["footer.html"],
            &Origin::File(dir.path().join("footer.html"))
        );
        assert_eq!(origins["login.html"], &Origin::Embedded);
        assert!(!origins.contains_key("notes.txt"));
    }

    #[test]
    fn strict_an_undefined_value_is_an_error_with_its_line() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("login.html"), "line one\n{{ nope }}").expect("write");
        let config = TemplatesConfig {
            path: Some(dir.path().to_owned()),
            ..TemplatesConfig::default()
        };
        let templates = Templates::load(&config).expect("templates compile");
        let error = templates
            .render(&LoginPage::sample())
            .expect_err("undefined");
        assert!(error.to_string().contains("login.html:2"), "{error}");
    }

    #[test]
    fn a_missing_directory_or_a_syntax_error_is_named() {
        let config = TemplatesConfig {
            path: Some("/nonexistent/gatehouse-templates".into()),
            ..TemplatesConfig::default()
        };
        let error = Templates::load(&config).err().expect("fails");
        assert!(
            error
                .to_string()
                .starts_with("templates.path: could not read /nonexistent/gatehouse-templates"),
            "{error}"
        );

        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("login.html"), "{% if %}").expect("write");
        let config = TemplatesConfig {
            path: Some(dir.path().to_owned()),
            ..TemplatesConfig::default()
        };
        let error = Templates::load(&config).err().expect("fails");
        assert!(
            error
                .to_string()
                .starts_with("template login.html: syntax error"),
            "{error}"
        );
    }
}
