//! The browser's part: a cookie-keeping HTTP client that walks Gatehouse's pages from the
//! authorization URL to the redirect back to the client, filling the sign-in form and approving
//! the consent form as a person would (no JavaScript: the pages are plain HTML forms).

use std::time::Duration;

use anyhow::{Context, bail, ensure};
use matrix_sdk::reqwest::{self, Certificate, Method, StatusCode, redirect::Policy};
use url::Url;

use crate::Options;

/// Pages and redirects one authorization may pass through before it is a loop.
const MAX_HOPS: usize = 12;

pub struct Browser {
    http: reqwest::Client,
}

/// What the walk went through, for the step line.
pub struct Walk {
    pub callback: Url,
    pub visited: Vec<&'static str>,
}

impl Browser {
    pub fn new(certificate: Certificate) -> anyhow::Result<Browser> {
        let http = reqwest::Client::builder()
            .cookie_store(true)
            .redirect(Policy::none())
            .tls_certs_only([certificate])
            .timeout(Duration::from_secs(30))
            .build()?;
        Ok(Browser { http })
    }

    /// Follow `start` through sign-in and consent until a redirect to `redirect_uri` (any port,
    /// as for a loopback redirect), and return where it points.
    pub async fn authorize(
        &self,
        start: Url,
        options: &Options,
        redirect_uri: &Url,
    ) -> anyhow::Result<Walk> {
        let mut visited = Vec::new();
        let mut request = self.http.get(start.clone());
        let mut at = start;
        for _ in 0..MAX_HOPS {
            let response = request.send().await.with_context(|| format!("{at}"))?;
            let status = response.status();
            if status.is_redirection() {
                let location = response
                    .headers()
                    .get(reqwest::header::LOCATION)
                    .context("a redirect without Location")?
                    .to_str()
                    .context("a Location that is not text")?;
                let next = at.join(location).context("a Location that is not a URL")?;
                if is_redirect_to(&next, redirect_uri) {
                    return Ok(Walk {
                        callback: next,
                        visited,
                    });
                }
                request = self.http.get(next.clone());
                at = next;
                continue;
            }
            let body = response.text().await?;
            ensure!(
                status == StatusCode::OK,
                "{} answered {status}: {}",
                at.path(),
                page_message(&body)
            );
            let forms = parse_forms(&body);
            let (form, page) = if let Some(form) = forms.iter().find(|f| f.has_password()) {
                if visited.contains(&"sign-in page") {
                    bail!("the sign-in page came back: {}", page_message(&body));
                }
                (sign_in(form, options)?, "sign-in page")
            } else if let Some(form) = consent(&forms) {
                if visited.contains(&"consent page") {
                    bail!("the consent page came back: {}", page_message(&body));
                }
                (form, "consent page")
            } else {
                bail!(
                    "{} is neither a sign-in nor a consent page: {}",
                    at.path(),
                    page_message(&body)
                );
            };
            visited.push(page);
            let action = match form.action.as_deref() {
                None | Some("") => at.clone(),
                Some(action) => at.join(action).context("a form action that is not a URL")?,
            };
            request = if form.method == Method::GET {
                let mut url = action.clone();
                url.query_pairs_mut().extend_pairs(&form.fields);
                self.http.get(url)
            } else {
                self.http.post(action.clone()).form(&form.fields)
            };
            at = action;
        }
        bail!("no redirect to the client after {MAX_HOPS} pages and redirects")
    }

    /// GET whoami on the homeserver with `token`: the status and the Matrix errcode, if any.
    pub async fn whoami(
        &self,
        homeserver: &Url,
        token: &str,
    ) -> anyhow::Result<(u16, Option<String>)> {
        let response = self
            .http
            .get(homeserver.join("_matrix/client/v3/account/whoami")?)
            .bearer_auth(token)
            .send()
            .await?;
        let status = response.status().as_u16();
        let body: serde_json::Value = response.json().await.unwrap_or_default();
        Ok((status, body["errcode"].as_str().map(str::to_owned)))
    }

    /// A refresh grant as the SDK sends it: the status and the OAuth error, if any.
    pub async fn refresh(
        &self,
        token_endpoint: &Url,
        client_id: &str,
        refresh_token: &str,
    ) -> anyhow::Result<(u16, Option<String>)> {
        let response = self
            .http
            .post(token_endpoint.clone())
            .form(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh_token),
                ("client_id", client_id),
            ])
            .send()
            .await?;
        let status = response.status().as_u16();
        let body: serde_json::Value = response.json().await.unwrap_or_default();
        Ok((status, body["error"].as_str().map(str::to_owned)))
    }
}

/// RFC 8252 §7.3: a loopback redirect matches on any port.
fn is_redirect_to(url: &Url, redirect_uri: &Url) -> bool {
    url.scheme() == redirect_uri.scheme()
        && url.host() == redirect_uri.host()
        && url.path() == redirect_uri.path()
}

/// Fill the sign-in form. With an MSC4198 `mxid:` login hint the page must come prefilled with
/// that user, and the prefilled value is what is sent.
fn sign_in(form: &Form, options: &Options) -> anyhow::Result<Submission> {
    let username_field = form
        .inputs
        .iter()
        .find(|i| i.name == "username")
        .context("the sign-in form has no username field")?;
    let prefilled = username_field.value.clone();
    if let Some(mxid) = options
        .login_hint
        .as_deref()
        .and_then(|h| h.strip_prefix("mxid:"))
    {
        let localpart = mxid
            .strip_prefix('@')
            .and_then(|m| m.split_once(':'))
            .map(|(localpart, _)| localpart);
        ensure!(
            Some(prefilled.as_str()) == localpart || prefilled == mxid,
            "login_hint {mxid}: the username field holds {prefilled:?}"
        );
    }
    let mut fields = Vec::new();
    for input in &form.inputs {
        let value = match (input.name.as_str(), input.kind.as_str()) {
            ("username", _) if !prefilled.is_empty() => prefilled.clone(),
            ("username", _) => options.username.clone(),
            (_, "password") => options.password.clone(),
            _ => input.value.clone(),
        };
        fields.push((input.name.clone(), value));
    }
    Ok(form.submit(fields))
}

/// Choose the approving form on a consent page: pages may put approve and deny in one form
/// (two submit buttons) or in two forms; the deny one is recognised by its words.
fn consent(forms: &[Form]) -> Option<Submission> {
    let form = forms
        .iter()
        .filter(|f| f.method == Method::POST)
        .find(|f| {
            !is_refusal(f.action.as_deref().unwrap_or_default()) && f.approve_button().is_some()
        })?;
    let fields = form
        .inputs
        .iter()
        .map(|i| (i.name.clone(), i.value.clone()))
        .collect();
    Some(form.submit(fields))
}

fn is_refusal(text: &str) -> bool {
    let text = text.to_ascii_lowercase();
    [
        "deny", "decline", "cancel", "reject", "refuse", "not you", "sign out", "logout",
    ]
    .iter()
    .any(|word| text.contains(word))
}

/// A short, human part of a page for error messages: its alert or error text, else its title.
fn page_message(html: &str) -> String {
    let text = |from: usize| {
        let end = html[from..].find("</").map_or(html.len(), |e| from + e);
        decode_entities(strip_tags(&html[from..end]).trim())
    };
    if let Some(at) = html
        .find("role=\"alert\"")
        .or_else(|| html.find("class=\"error\""))
        && let Some(close) = html[at..].find('>')
    {
        return text(at + close + 1);
    }
    if let Some(at) = html.find("<title>") {
        return text(at + "<title>".len());
    }
    html.chars().take(200).collect()
}

struct Submission {
    method: Method,
    action: Option<String>,
    fields: Vec<(String, String)>,
}

struct Form {
    method: Method,
    action: Option<String>,
    inputs: Vec<Field>,
    buttons: Vec<Button>,
}

struct Field {
    name: String,
    kind: String,
    value: String,
}

struct Button {
    name: String,
    value: String,
    text: String,
}

impl Form {
    fn has_password(&self) -> bool {
        self.inputs.iter().any(|i| i.kind == "password")
    }

    /// Send `fields` with the approving button (and its name and value, when it has a name).
    fn submit(&self, mut fields: Vec<(String, String)>) -> Submission {
        fields.extend(
            self.approve_button()
                .filter(|b| !b.name.is_empty())
                .map(|b| (b.name.clone(), b.value.clone())),
        );
        Submission {
            method: self.method.clone(),
            action: self.action.clone(),
            fields,
        }
    }

    /// The submit control that does not refuse (a form with one plain button approves).
    fn approve_button(&self) -> Option<&Button> {
        self.buttons
            .iter()
            .find(|b| !is_refusal(&format!("{} {} {}", b.name, b.value, b.text)))
    }
}

/// The forms of a page, with their named inputs and submit buttons.
fn parse_forms(html: &str) -> Vec<Form> {
    let mut forms = Vec::new();
    let mut current: Option<Form> = None;
    let tags = tags(html);
    for (index, tag) in tags.iter().enumerate() {
        match tag.name.as_str() {
            "form" => {
                let method = match tag.attr("method").map(str::to_ascii_lowercase).as_deref() {
                    Some("post") => Method::POST,
                    _ => Method::GET,
                };
                current = Some(Form {
                    method,
                    action: tag.attr("action").map(str::to_owned),
                    inputs: Vec::new(),
                    buttons: Vec::new(),
                });
            }
            "/form" => forms.extend(current.take()),
            "input" => {
                let Some(form) = current.as_mut() else {
                    continue;
                };
                let kind = tag.attr("type").unwrap_or("text").to_ascii_lowercase();
                let name = tag.attr("name").unwrap_or_default().to_owned();
                let value = tag.attr("value").unwrap_or_default().to_owned();
                if kind == "submit" {
                    form.buttons.push(Button {
                        name,
                        text: value.clone(),
                        value,
                    });
                } else {
                    // Unchecked boxes, plain buttons and nameless inputs are not sent.
                    let unchecked = matches!(kind.as_str(), "checkbox" | "radio")
                        && tag.attr("checked").is_none();
                    let button = matches!(kind.as_str(), "button" | "image" | "reset");
                    if !name.is_empty() && !unchecked && !button {
                        form.inputs.push(Field { name, kind, value });
                    }
                }
            }
            "button" => {
                let Some(form) = current.as_mut() else {
                    continue;
                };
                let kind = tag.attr("type").unwrap_or("submit").to_ascii_lowercase();
                if kind != "submit" {
                    continue;
                }
                let end = tags[index..]
                    .iter()
                    .find(|t| t.name == "/button")
                    .map_or(tag.end, |t| t.start);
                form.buttons.push(Button {
                    name: tag.attr("name").unwrap_or_default().to_owned(),
                    value: tag.attr("value").unwrap_or_default().to_owned(),
                    text: decode_entities(strip_tags(&html[tag.end..end.max(tag.end)]).trim()),
                });
            }
            _ => {}
        }
    }
    forms
}

struct Tag {
    /// Lower-case; closing tags as `/name`.
    name: String,
    attrs: Vec<(String, String)>,
    start: usize,
    end: usize,
}

impl Tag {
    fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Every start and end tag of `html` (comments skipped), attribute values entity-decoded.
fn tags(html: &str) -> Vec<Tag> {
    let mut tags = Vec::new();
    let mut at = 0;
    while let Some(open) = html[at..].find('<').map(|o| at + o) {
        if html[open..].starts_with("<!--") {
            at = html[open..]
                .find("-->")
                .map_or(html.len(), |e| open + e + 3);
            continue;
        }
        let (tag, end) = parse_tag(html, open);
        at = end.max(open + 1);
        tags.extend(tag);
    }
    tags
}

/// The tag starting at `open` (a `<`), and the offset after it.
fn parse_tag(html: &str, open: usize) -> (Option<Tag>, usize) {
    let bytes = html.as_bytes();
    let mut i = open + 1;
    let name_start = i;
    while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'/') {
        i += 1;
    }
    let name = html[name_start..i].to_ascii_lowercase();
    if name.is_empty() || name == "/" {
        return (None, i);
    }
    let mut attrs = Vec::new();
    loop {
        while i < bytes.len() && (bytes[i].is_ascii_whitespace() || bytes[i] == b'/') {
            i += 1;
        }
        if i >= bytes.len() {
            return (None, i);
        }
        if bytes[i] == b'>' {
            i += 1;
            break;
        }
        let attr_start = i;
        while i < bytes.len()
            && !matches!(bytes[i], b'=' | b'>' | b'/')
            && !bytes[i].is_ascii_whitespace()
        {
            i += 1;
        }
        let attr = html[attr_start..i].to_ascii_lowercase();
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        let mut value = String::new();
        if i < bytes.len() && bytes[i] == b'=' {
            i += 1;
            while i < bytes.len() && bytes[i].is_ascii_whitespace() {
                i += 1;
            }
            if i < bytes.len() && (bytes[i] == b'"' || bytes[i] == b'\'') {
                let quote = bytes[i];
                let value_start = i + 1;
                i = value_start;
                while i < bytes.len() && bytes[i] != quote {
                    i += 1;
                }
                value = decode_entities(&html[value_start..i.min(bytes.len())]);
                i += 1;
            } else {
                let value_start = i;
                while i < bytes.len() && bytes[i] != b'>' && !bytes[i].is_ascii_whitespace() {
                    i += 1;
                }
                value = decode_entities(&html[value_start..i]);
            }
        }
        if !attr.is_empty() {
            attrs.push((attr, value));
        }
    }
    let tag = Tag {
        name,
        attrs,
        start: open,
        end: i.min(html.len()),
    };
    (Some(tag), i)
}

fn strip_tags(html: &str) -> String {
    let mut text = String::new();
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            c if !in_tag => text.push(c),
            _ => {}
        }
    }
    text
}

/// HTML character references as template engines write them (`&amp;`, `&quot;`, `&#x2f;`...).
fn decode_entities(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        let decoded = rest.find(';').and_then(|semi| {
            let entity = &rest[1..semi];
            let c = match entity {
                "amp" => Some('&'),
                "lt" => Some('<'),
                "gt" => Some('>'),
                "quot" => Some('"'),
                "apos" => Some('\''),
                _ => entity
                    .strip_prefix("#x")
                    .or_else(|| entity.strip_prefix("#X"))
                    .and_then(|hex| u32::from_str_radix(hex, 16).ok())
                    .or_else(|| entity.strip_prefix('#').and_then(|d| d.parse().ok()))
                    .and_then(char::from_u32),
            };
            c.map(|c| (c, semi + 1))
        });
        match decoded {
            Some((c, len)) => {
                out.push(c);
                rest = &rest[len..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_hidden_inputs_and_buttons() {
        let html = r#"<!-- <form action="/nope"> -->
<form method="POST" action="/consent/01AB?x=1&amp;y=2">
  <input type="hidden" name="csrf" value="a&#x2f;b&quot;c">
  <input type=checkbox name=remember>
  <button type="submit" name="action" value="deny">Deny</button>
  <button name="action" value="allow"><span>Allow</span> access</button>
</form>
<form method="post" action="/logout"><button>Sign out</button></form>"#;
        let forms = parse_forms(html);
        assert_eq!(forms.len(), 2);
        let submission = consent(&forms).unwrap();
        assert_eq!(submission.action.as_deref(), Some("/consent/01AB?x=1&y=2"));
        assert_eq!(
            submission.fields,
            vec![
                ("csrf".to_owned(), "a/b\"c".to_owned()),
                ("action".to_owned(), "allow".to_owned())
            ]
        );
    }

    #[test]
    fn two_forms_consent_takes_the_approving_one() {
        let html = r#"<form method="post" action="/consent/1/deny"><input type="hidden" name="csrf" value="t"><button>No thanks</button></form>
<form method="post" action="/consent/1"><input type="hidden" name="csrf" value="t"><button>Continue</button></form>"#;
        let submission = consent(&parse_forms(html)).unwrap();
        assert_eq!(submission.action.as_deref(), Some("/consent/1"));
    }

    #[test]
    fn entities() {
        assert_eq!(
            decode_entities("a&amp;b&#39;c&#x27;&bogus;&"),
            "a&b'c'&bogus;&"
        );
    }
}
