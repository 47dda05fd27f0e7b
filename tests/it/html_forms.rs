//! The forms of a page, read the way a browser submits them: action, method, the inputs with
//! their values, and the submit buttons. Enough for the person in the real-client tests to walk
//! the sign-in, consent and device-link pages without knowing their markup in advance.

#![allow(dead_code)]

use crate::browser::html_unescape;

#[derive(Debug, Clone, Default)]
pub struct Form {
    pub action: String,
    pub method: String,
    pub inputs: Vec<Input>,
    pub buttons: Vec<Button>,
}

#[derive(Debug, Clone, Default)]
pub struct Input {
    pub name: String,
    pub kind: String,
    pub value: String,
}

#[derive(Debug, Clone, Default)]
pub struct Button {
    pub name: Option<String>,
    pub value: String,
    pub text: String,
}

impl Form {
    pub fn has_input_of_kind(&self, kind: &str) -> bool {
        self.inputs.iter().any(|i| i.kind == kind)
    }

    /// The inputs a person types into (text-like, not hidden, not a password).
    pub fn typed_inputs(&self) -> impl Iterator<Item = &Input> {
        self.inputs.iter().filter(|i| {
            matches!(
                i.kind.as_str(),
                "text" | "email" | "search" | "tel" | "url" | ""
            )
        })
    }

    /// The name/value pairs submitted with `button`, after `fill` set the typed values.
    pub fn submission(
        &self,
        fill: &[(&str, &str)],
        button: Option<&Button>,
    ) -> Vec<(String, String)> {
        let mut pairs: Vec<(String, String)> = self
            .inputs
            .iter()
            .filter(|i| !matches!(i.kind.as_str(), "submit" | "button" | "checkbox" | "radio"))
            .map(|i| {
                let value = fill
                    .iter()
                    .find(|(name, _)| *name == i.name)
                    .map_or_else(|| i.value.clone(), |(_, v)| (*v).to_owned());
                (i.name.clone(), value)
            })
            .collect();
        // Checkboxes and radios as they are checked in the markup.
        pairs.extend(
            self.inputs
                .iter()
                .filter(|i| i.kind == "checkbox-checked" || i.kind == "radio-checked")
                .map(|i| (i.name.clone(), i.value.clone())),
        );
        if let Some(Button {
            name: Some(name),
            value,
            ..
        }) = button
        {
            pairs.push((name.clone(), value.clone()));
        }
        pairs
    }

    /// The button that says yes: allow, approve, continue… rather than deny or cancel.
    pub fn affirmative_button(&self) -> Option<&Button> {
        let says = |b: &Button, words: &[&str]| {
            let label = format!("{} {}", b.value, b.text).to_ascii_lowercase();
            words.iter().any(|w| label.contains(w))
        };
        let no = [
            "deny", "cancel", "decline", "reject", "not you", "sign out", "no,",
        ];
        let yes = [
            "allow", "approve", "accept", "consent", "continue", "confirm", "yes", "grant",
        ];
        self.buttons
            .iter()
            .find(|b| says(b, &yes) && !says(b, &no))
            .or_else(|| self.buttons.iter().find(|b| !says(b, &no)))
    }
}

/// Every `<form>` of `html`, in document order.
pub fn forms(html: &str) -> Vec<Form> {
    let lower = html.to_ascii_lowercase();
    let mut found = Vec::new();
    let mut at = 0;
    while let Some(start) = lower[at..].find("<form").map(|i| i + at) {
        let end = lower[start..]
            .find("</form>")
            .map_or(html.len(), |i| i + start);
        let (tag_attrs, tag_end) = attributes(html, start + "<form".len());
        let body = &html[tag_end.min(end)..end];
        let mut form = Form {
            action: attr(&tag_attrs, "action").unwrap_or_default(),
            method: attr(&tag_attrs, "method")
                .unwrap_or_else(|| "get".to_owned())
                .to_ascii_lowercase(),
            ..Form::default()
        };
        read_controls(body, &mut form);
        found.push(form);
        at = end.max(start + 1);
    }
    found
}

fn read_controls(body: &str, form: &mut Form) {
    let lower = body.to_ascii_lowercase();
    let mut at = 0;
    loop {
        let input = lower[at..].find("<input").map(|i| i + at);
        let button = lower[at..].find("<button").map(|i| i + at);
        match (input, button) {
            (Some(i), b) if b.is_none_or(|b| i < b) => {
                let (attrs, next) = attributes(body, i + "<input".len());
                let mut kind = attr(&attrs, "type")
                    .unwrap_or_else(|| "text".to_owned())
                    .to_ascii_lowercase();
                let checked = attrs.iter().any(|(k, _)| k == "checked");
                if matches!(kind.as_str(), "checkbox" | "radio") && checked {
                    kind.push_str("-checked");
                }
                if kind == "submit" {
                    form.buttons.push(Button {
                        name: attr(&attrs, "name"),
                        value: attr(&attrs, "value").unwrap_or_default(),
                        text: String::new(),
                    });
                } else if let Some(name) = attr(&attrs, "name") {
                    form.inputs.push(Input {
                        name,
                        kind,
                        value: attr(&attrs, "value").unwrap_or_default(),
                    });
                }
                at = next;
            }
            (_, Some(b)) => {
                let (attrs, next) = attributes(body, b + "<button".len());
                let close = lower[next..]
                    .find("</button>")
                    .map_or(body.len(), |i| i + next);
                let kind = attr(&attrs, "type").unwrap_or_else(|| "submit".to_owned());
                if kind.eq_ignore_ascii_case("submit") {
                    form.buttons.push(Button {
                        name: attr(&attrs, "name"),
                        value: attr(&attrs, "value").unwrap_or_default(),
                        text: strip_tags(&body[next..close]),
                    });
                }
                at = close;
            }
            _ => break,
        }
    }
}

fn attr(attrs: &[(String, String)], name: &str) -> Option<String> {
    attrs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.clone())
}

/// The attributes of the tag whose name ends at `from`, and the index just past its `>`.
fn attributes(html: &str, from: usize) -> (Vec<(String, String)>, usize) {
    let bytes = html.as_bytes();
    let mut at = from;
    let mut attrs = Vec::new();
    loop {
        while at < bytes.len() && (bytes[at].is_ascii_whitespace() || bytes[at] == b'/') {
            at += 1;
        }
        if at >= bytes.len() {
            return (attrs, at);
        }
        if bytes[at] == b'>' {
            return (attrs, at + 1);
        }
        let name_start = at;
        while at < bytes.len()
            && !matches!(bytes[at], b'=' | b'>' | b'/')
            && !bytes[at].is_ascii_whitespace()
        {
            at += 1;
        }
        let name = html[name_start..at].to_ascii_lowercase();
        let mut value = String::new();
        if at < bytes.len() && bytes[at] == b'=' {
            at += 1;
            if at < bytes.len() && (bytes[at] == b'"' || bytes[at] == b'\'') {
                let quote = bytes[at];
                let start = at + 1;
                let end = html[start..]
                    .bytes()
                    .position(|c| c == quote)
                    .map_or(html.len(), |i| i + start);
                value = html_unescape(&html[start..end]);
                at = (end + 1).min(html.len());
            } else {
                let start = at;
                while at < bytes.len() && bytes[at] != b'>' && !bytes[at].is_ascii_whitespace() {
                    at += 1;
                }
                value = html_unescape(&html[start..at]);
            }
        }
        attrs.push((name, value));
    }
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
    html_unescape(
        text.split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .as_str(),
    )
}

#[test]
fn reads_a_consent_form() {
    let html = r#"<form method="post" action="/logout"><button>Sign out</button></form>
        <form method="POST" action="/consent/01J?x=1&amp;y=2">
          <input type="hidden" name="csrf" value="a&#x2f;b">
          <input name=code>
          <button type="submit" name="action" value="deny">Deny</button>
          <button type="submit" name="action" value="allow"><span>Allow</span> access</button>
        </form>"#;
    let all = forms(html);
    assert_eq!(all.len(), 2);
    let consent = &all[1];
    assert_eq!(consent.action, "/consent/01J?x=1&y=2");
    assert_eq!(consent.method, "post");
    assert_eq!(consent.typed_inputs().count(), 1);
    let yes = consent.affirmative_button().expect("a yes button");
    assert_eq!(yes.value, "allow");
    assert_eq!(yes.text, "Allow access");
    assert_eq!(
        consent.submission(&[("code", "ABCD")], Some(yes)),
        vec![
            ("csrf".to_owned(), "a/b".to_owned()),
            ("code".to_owned(), "ABCD".to_owned()),
            ("action".to_owned(), "allow".to_owned())
        ]
    );
    assert_eq!(
        all[0].affirmative_button().map(|b| b.text.as_str()),
        None,
        "a sign-out button is never the yes"
    );
}
