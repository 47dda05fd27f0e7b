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

/// One thing a consent page says the application may do, in words.
#[derive(Debug, Clone, Serialize)]
pub struct ConsentPermission {
    pub text: String,
    /// Administrator rights: shown as a warning.
    pub admin: bool,
}

impl ConsentPermission {
    /// For the consent pages' samples: one ordinary permission and one admin right.
    fn samples() -> Vec<Self> {
        vec![
            Self {
                text: "Use your Matrix account: read and send messages, join rooms".to_owned(),
                admin: false,
            },
            Self {
                text: "Administer the homeserver (Synapse admin API)".to_owned(),
                admin: true,
            },
        ]
    }
}

/// `consent.html`: the signed-in person allows an OAuth 2.0 client what it asked for, or not.
#[derive(Debug, Serialize)]
pub struct ConsentPage<'a> {
    pub service: Service,
    pub csrf: &'a str,
    /// Where the form posts.
    pub action: &'a str,
    /// The browser session the page was shown to: the answer must come from the same one.
    pub session: &'a str,
    pub mxid: &'a str,
    pub client_name: &'a str,
    /// The client's home page (http(s) only).
    pub client_uri: Option<&'a str>,
    /// The client's logo (https, or http where insecure URIs are allowed).
    pub logo_uri: Option<&'a str>,
    /// The host of the redirect URI, where the browser goes next.
    pub redirect_host: &'a str,
    pub permissions: Vec<ConsentPermission>,
    /// The Matrix device the sign-in creates, if the client named one.
    pub device_id: Option<&'a str>,
    /// Whether any permission is an administrator right.
    pub admin: bool,
    /// Signs in as someone else, then comes back here.
    pub switch_account: &'a str,
}

impl Page for ConsentPage<'_> {
    const TEMPLATE: &'static str = "consent.html";

    fn sample() -> Self {
        Self {
            service: Service::sample(),
            csrf: "sample-csrf-token",
            action: "/consent/01JA8ZQ3XK5W7N2M4P6R9T1V3Y",
            session: "01JA8ZQ3XK5W7N2M4P6R9T1V3Z",
            mxid: "@alice:example.com",
            client_name: "Element",
            client_uri: Some("https://element.io/"),
            logo_uri: Some("https://element.io/logo.png"),
            redirect_host: "app.element.io",
            permissions: ConsentPermission::samples(),
            device_id: Some("ABCDEFGHIJ"),
            admin: true,
            switch_account: "/login?prompt=login&next=%2Fconsent%2F01JA8ZQ3XK5W7N2M4P6R9T1V3Y",
        }
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
    pub permissions: Vec<ConsentPermission>,
    /// Whether any permission is an administrator right.
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
        Self {
            service: Service::sample(),
            csrf: "sample-csrf-token",
            mxid: "@alice:example.com",
            client_name: "Living-room TV",
            client_uri: "https://tv.example.com/",
            permissions: ConsentPermission::samples(),
            admin: true,
            device_id: "ABCDEFGHIJ",
            ip_address: "192.0.2.7",
            user_agent: "ExampleTV/1.0",
            action: "/device/01JA8ZQ3XK5W7N2M4P6R9T1V3Y",
        }
    }
}
