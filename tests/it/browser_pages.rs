//! The pages in a real headless Chromium (Debian's `chromium`, driven by puppeteer-core from
//! `tests/clients/openid-client/pages.mjs`): sign in, consent, and the redirect to the client
//! carries a code; a device linked through `/link`; an error page. Screenshots of each land in
//! `target/screenshots/*.png`, and each must be a PNG that is not one flat colour.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use gatehouse::config::{ClientAuthMethod, ClientConfig};
use serde_json::{Value, json};
use sha2::Digest as _;

use crate::{
    common::TestDb,
    hardening::Setup,
    node_peer::{NodePeer, missing, node_modules},
    on_both_backends,
};

const CLIENT: &str = "01J0000000000000000000BR01";
const REDIRECT: &str = "http://127.0.0.1/callback";
const USERNAME: &str = "alice";
/// `hardening::Setup::register`'s password.
const PASSWORD: &str = "correct horse battery staple";

fn chromium() -> Option<PathBuf> {
    let path = std::env::var("GATEHOUSE_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    let path = PathBuf::from(path);
    if path.is_file() {
        Some(path)
    } else {
        missing(&format!(
            "no Chromium at {} (apt-get install chromium, or set GATEHOUSE_CHROMIUM)",
            path.display()
        ));
        None
    }
}

/// `target/screenshots`, beside the test binaries' own temporary directory.
fn screenshots_dir() -> PathBuf {
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    tmp.parent().unwrap_or(tmp).join("screenshots")
}

const VERIFIER: &str = "chromium-pkce-verifier-of-forty-three-characters-at-least";

fn authorization_url(setup: &Setup, state: &str) -> String {
    let verifier = VERIFIER;
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(sha2::Sha256::digest(verifier.as_bytes()));
    let mut url: url::Url = setup.server.at("/authorize").parse().expect("URL");
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", CLIENT)
        .append_pair("redirect_uri", REDIRECT)
        .append_pair(
            "scope",
            "openid urn:matrix:client:api:* urn:matrix:client:device:CHROMIUM01",
        )
        .append_pair("state", state)
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256");
    url.to_string()
}

/// Sign-in, consent, device link and error pages in Chromium, each screenshot checked.
async fn pages_in_chromium(db: TestDb) {
    let (Some(modules), Some(chromium)) = (node_modules(), chromium()) else {
        return;
    };
    let setup = Setup::start_with(&db, |config| {
        config.clients = vec![ClientConfig {
            client_id: CLIENT.parse().expect("a ULID"),
            client_auth_method: ClientAuthMethod::None,
            client_name: Some("Chromium test client".into()),
            client_secret: None,
            client_secret_file: None,
            jwks: None,
            jwks_uri: None,
            redirect_uris: vec![REDIRECT.parse().expect("URL")],
            client_uri: Some("https://client.example/".parse().expect("URL")),
        }];
    })
    .await;
    setup.cli(&["config", "sync"]);
    setup.register(USERNAME, false).await;

    let response = setup
        .server
        .http
        .post(setup.server.at("/oauth2/device"))
        .form(&[
            ("client_id", CLIENT),
            (
                "scope",
                "openid urn:matrix:client:api:* urn:matrix:client:device:CHROMIUM02",
            ),
        ])
        .send()
        .await
        .expect("device authorization");
    assert_eq!(response.status(), 200, "POST /oauth2/device");
    let device: Value = response.json().await.expect("device authorization JSON");

    // One directory per backend, so the two halves never write the same files.
    let dir = screenshots_dir().join(format!("{:?}", db.backend).to_lowercase());
    std::fs::create_dir_all(&dir).expect("create target/screenshots");
    let state = "chromium-state";
    let input = json!({
        "authorize_url": authorization_url(&setup, state),
        "redirect_uri": REDIRECT,
        "device": device,
        "error_url": setup.server.at("/authorize?response_type=code&client_id=01J0000000000000000000XX99&redirect_uri=https%3A%2F%2Fevil.example%2F"),
        "screenshots": dir,
        "chromium": chromium,
        "username": USERNAME,
        "password": PASSWORD,
    });
    let result = NodePeer::start(&modules, "pages.mjs", "browser-flows", &input)
        .done()
        .await;

    let redirected: url::Url = result["redirected"]
        .as_str()
        .expect("the redirect URL")
        .parse()
        .expect("a URL");
    let query: std::collections::HashMap<_, _> = redirected.query_pairs().collect();
    assert!(
        query.get("code").is_some_and(|c| !c.is_empty()),
        "{redirected}"
    );
    assert_eq!(query.get("state").map(|s| s.as_ref()), Some(state));
    // The code is real: the client exchanges it.
    let code = query.get("code").map(|c| c.to_string()).unwrap_or_default();
    let response = setup
        .server
        .http
        .post(setup.server.at("/oauth2/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("client_id", CLIENT),
            ("code_verifier", VERIFIER),
        ])
        .send()
        .await
        .expect("token request");
    assert_eq!(response.status(), 200, "the code from Chromium's redirect");

    let shots = result["screenshots"].as_array().expect("screenshots");
    let names: Vec<&str> = shots.iter().filter_map(|s| s["name"].as_str()).collect();
    assert_eq!(
        names,
        [
            "sign-in",
            "consent",
            "device-link",
            "device-consent",
            "device-done",
            "error"
        ]
    );
    for shot in shots {
        let path = shot["path"].as_str().expect("a path");
        assert_not_blank(Path::new(path));
    }
}

/// A valid PNG in which more than a sliver of pixels differ from the most common colour.
fn assert_not_blank(path: &Path) {
    let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut decoder = png::Decoder::new(std::io::BufReader::new(file));
    decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    let mut reader = decoder
        .read_info()
        .unwrap_or_else(|e| panic!("{} is not a PNG: {e}", path.display()));
    let mut pixels = vec![0; reader.output_buffer_size().expect("a sane image size")];
    let frame = reader
        .next_frame(&mut pixels)
        .unwrap_or_else(|e| panic!("{}: a broken PNG: {e}", path.display()));
    let bytes_per_pixel = frame.color_type.samples();
    let pixels = &pixels[..frame.buffer_size()];
    let mut counts = std::collections::HashMap::<&[u8], usize>::new();
    for pixel in pixels.chunks_exact(bytes_per_pixel) {
        *counts.entry(pixel).or_default() += 1;
    }
    let total = pixels.len() / bytes_per_pixel;
    let dominant = counts.values().copied().max().unwrap_or(total);
    let others = total - dominant;
    assert!(
        frame.width >= 100 && frame.height >= 100,
        "{}: {}x{}",
        path.display(),
        frame.width,
        frame.height
    );
    // A page with a heading, a paragraph and a form has far more than 0.5 % of non-background.
    assert!(
        others * 200 > total,
        "{} looks blank: {others} of {total} pixels differ from the background",
        path.display()
    );
}

#[test]
fn a_flat_image_is_blank() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("flat.png");
    let file = std::fs::File::create(&path).expect("create");
    let mut encoder = png::Encoder::new(file, 200, 200);
    encoder.set_color(png::ColorType::Rgb);
    let mut writer = encoder.write_header().expect("header");
    writer
        .write_image_data(&[255; 200 * 200 * 3])
        .expect("data");
    writer.finish().expect("finish");
    let blank = std::panic::catch_unwind(|| assert_not_blank(&path));
    assert!(blank.is_err(), "a flat white image must count as blank");
}

on_both_backends!(pages_in_chromium);
