//! The context each page template is rendered with, as a type: handlers build these, and
//! `templates check` renders each page with its [`Page::sample`], so the names the check tries
//! are the names the server passes.

use serde::Serialize;

/// A page context and the template it renders.
pub trait Page: Serialize {
    const TEMPLATE: &'static str;

    /// A context with every value set (non-empty, so that `{% if %}` branches are taken), for
    /// `templates check`. Nothing in it varies between runs.
    fn sample() -> Self;
}

/// `service`, in every page: the name shown to people and the base path of the pages.
#[derive(Debug, Clone, Serialize)]
pub struct Service {
    pub name: String,
    /// `http.public_base`'s path, ending in `/`.
    pub base: String,
}

impl Service {
    fn sample() -> Self {
        Self {
            name: "Gatehouse".to_owned(),
            base: "/".to_owned(),
        }
    }
}

/// `index.html`: who is signed in, with a sign-out form; a sign-in link when `mxid` is empty.
#[derive(Debug, Serialize)]
pub struct IndexPage<'a> {
    pub service: Service,
    /// Empty when nobody is signed in.
    pub mxid: &'a str,
    pub csrf: &'a str,
}

impl Page for IndexPage<'_> {
    const TEMPLATE: &'static str = "index.html";

    fn sample() -> Self {
        Self {
            service: Service::sample(),
            mxid: "@alice:example.com",
            csrf: "sample-csrf-token",
        }
    }
}

/// `login.html`: the username and password form.
#[derive(Debug, Serialize)]
pub struct LoginPage<'a> {
    pub service: Service,
    pub csrf: &'a str,
    /// Where to go after signing in (a same-site path).
    pub next: &'a str,
    /// What was typed last time, kept after a failed attempt.
    pub username: &'a str,
    /// Why the last attempt failed; empty for none.
    pub error: &'a str,
}

impl Page for LoginPage<'_> {
    const TEMPLATE: &'static str = "login.html";

    fn sample() -> Self {
        Self {
            service: Service::sample(),
            csrf: "sample-csrf-token",
            next: "/complete-compat-sso/01JA8ZQ3XK5W7N2M4P6R9T1V3Y",
            username: "alice",
            error: "Wrong username or password.",
        }
    }
}

/// `compat_sso.html`: the signed-in person confirms that a legacy client may sign in.
#[derive(Debug, Serialize)]
pub struct CompatSsoPage<'a> {
    pub service: Service,
    pub csrf: &'a str,
    pub mxid: &'a str,
    /// The host of the client's redirect URI, which is all a person can check it by.
    pub client_host: &'a str,
    /// Where the form posts.
    pub action: &'a str,
}

impl Page for CompatSsoPage<'_> {
    const TEMPLATE: &'static str = "compat_sso.html";

    fn sample() -> Self {
        Self {
            service: Service::sample(),
            csrf: "sample-csrf-token",
            mxid: "@alice:example.com",
            client_host: "app.example.com",
            action: "/complete-compat-sso/01JA8ZQ3XK5W7N2M4P6R9T1V3Y",
        }
    }
}

/// `error.html`: what went wrong, for a person.
#[derive(Debug, Serialize)]
pub struct ErrorPage<'a> {
    pub service: Service,
    pub title: &'a str,
    pub message: &'a str,
}

impl Page for ErrorPage<'_> {
    const TEMPLATE: &'static str = "error.html";

    fn sample() -> Self {
        Self {
            service: Service::sample(),
            title: "This sign-in link is not valid",
            message: "It may have expired or been used already.",
        }
    }
}

/// One line of "what this app may do", in words. `admin` lines are called out.
#[derive(Debug, Clone, Serialize)]
pub struct ScopeLine {
    pub text: String,
    /// The scope token it stands for, shown small for those who want to check.
    pub token: String,
    pub admin: bool,
}

impl ScopeLine {
    /// The lines for every token of `scope`, in its order; device scopes are left out (the
    /// pages name the device being created on their own).
    pub fn describe(scope: &crate::domain::scopes::Scope, service_name: &str) -> Vec<Self> {
        use crate::domain::scopes::{
            DEVICE_PREFIX, DEVICE_PREFIX_UNSTABLE, MAS_ADMIN, MATRIX_API, MATRIX_API_UNSTABLE,
            SYNAPSE_ADMIN,
        };
        scope
            .iter()
            .filter(|token| {
                !token.starts_with(DEVICE_PREFIX) && !token.starts_with(DEVICE_PREFIX_UNSTABLE)
            })
            .map(|token| {
                let (text, admin) = match token {
                    "openid" => ("See your Matrix ID".to_owned(), false),
                    "email" => ("See your email address".to_owned(), false),
                    "profile" => ("See your display name".to_owned(), false),
                    MATRIX_API | MATRIX_API_UNSTABLE => (
                        "Use your Matrix account: read and send messages, join rooms, change \
                         your settings"
                            .to_owned(),
                        false,
                    ),
                    SYNAPSE_ADMIN => (
                        "Administer the homeserver: every account and room on it".to_owned(),
                        true,
                    ),
                    MAS_ADMIN => (format!("Administer {service_name}: every account"), true),
                    other => (format!("Other access: {other}"), false),
                };
                Self {
                    text,
                    token: token.to_owned(),
                    admin,
                }
            })
            .collect()
    }
}

/// `link.html`: the form a person types a device's user code into.
#[derive(Debug, Serialize)]
pub struct LinkPage<'a> {
    pub service: Service,
    pub csrf: &'a str,
    /// What goes in the field: the code from the link, or what was typed last time.
    pub code: &'a str,
    /// Why the last code was not accepted; empty for none.
    pub error: &'a str,
}

impl Page for LinkPage<'_> {
    const TEMPLATE: &'static str = "link.html";

    fn sample() -> Self {
        Self {
            service: Service::sample(),
            csrf: "sample-csrf-token",
            code: "BCDF-GHJK",
            error: "That code is not valid. Check the code on your device and type it again.",
        }
    }
}

/// `device_consent.html`: the signed-in person approves or declines a device's request.
#[derive(Debug, Serialize)]
pub struct DeviceConsentPage<'a> {
    pub service: Service,
    pub csrf: &'a str,
    pub mxid: &'a str,
    pub client_name: &'a str,
    /// The client's home page; empty when it gave none.
    pub client_uri: &'a str,
    pub scopes: Vec<ScopeLine>,
    /// Whether any scope gives admin rights.
    pub admin: bool,
    /// The Matrix device the sign-in creates; empty when the scope names none.
    pub device_id: &'a str,
    /// Where the device asked from, so the person can tell it is theirs; empty when unknown.
    pub ip_address: &'a str,
    pub user_agent: &'a str,
    /// Where the form posts.
    pub action: &'a str,
}

impl Page for DeviceConsentPage<'_> {
    const TEMPLATE: &'static str = "device_consent.html";

    fn sample() -> Self {
        let scope = crate::domain::scopes::Scope::parse(
            "openid urn:matrix:client:api:* urn:matrix:client:device:ABCDEFGHIJ urn:synapse:admin:*",
        )
        .unwrap_or_default();
        Self {
            service: Service::sample(),
            csrf: "sample-csrf-token",
            mxid: "@alice:example.com",
            client_name: "Living-room TV",
            client_uri: "https://tv.example.com/",
            scopes: ScopeLine::describe(&scope, "Gatehouse"),
            admin: true,
            device_id: "ABCDEFGHIJ",
            ip_address: "192.0.2.7",
            user_agent: "ExampleTV/1.0",
            action: "/device/01JA8ZQ3XK5W7N2M4P6R9T1V3Y",
        }
    }
}
