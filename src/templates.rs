//! Server-rendered pages: minijinja templates embedded from `templates/`, rendered with strict
//! undefined behaviour so a missing value is an error, not an empty string.

use minijinja::{Environment, UndefinedBehavior, Value};

/// Every template, by name. `templates check` renders each with sample data.
pub const TEMPLATES: &[(&str, &str)] = &[
    ("base.html", include_str!("../templates/base.html")),
    ("login.html", include_str!("../templates/login.html")),
    (
        "compat_sso.html",
        include_str!("../templates/compat_sso.html"),
    ),
    ("index.html", include_str!("../templates/index.html")),
    ("error.html", include_str!("../templates/error.html")),
];

pub struct Templates {
    env: Environment<'static>,
}

impl Templates {
    pub fn new() -> Result<Self, minijinja::Error> {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        for (name, source) in TEMPLATES {
            env.add_template(name, source)?;
        }
        Ok(Self { env })
    }

    pub fn render(&self, name: &str, context: Value) -> Result<String, minijinja::Error> {
        self.env.get_template(name)?.render(context)
    }
}

#[cfg(test)]
mod tests {
    use minijinja::context;

    use super::*;

    #[test]
    fn every_template_renders_and_escapes() {
        let templates = Templates::new().expect("templates compile");
        let service = context! { name => "Gatehouse", base => "/" };
        let login = templates
            .render(
                "login.html",
                context! { service => service.clone(), csrf => "tok", next => "/x?a=<b>", username => "", error => "" },
            )
            .expect("login renders");
        assert!(login.contains("name=\"csrf\" value=\"tok\""));
        assert!(
            login.contains("value=\"&#x2f;x?a=&lt;b&gt;\"") && !login.contains("<b>"),
            "values are HTML-escaped: {login}"
        );
        let sso = templates
            .render(
                "compat_sso.html",
                context! { service => service.clone(), csrf => "tok", mxid => "@a:b", client_host => "app.example", action => "/complete-compat-sso/1" },
            )
            .expect("sso renders");
        assert!(sso.contains("app.example"));
        templates
            .render(
                "index.html",
                context! { service => service.clone(), mxid => "@a:b", csrf => "t" },
            )
            .expect("index renders");
        templates
            .render(
                "error.html",
                context! { service => service, title => "T", message => "M" },
            )
            .expect("error renders");
        // Strict: a missing value is an error.
        assert!(templates.render("error.html", context! {}).is_err());
    }
}
