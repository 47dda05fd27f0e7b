//! Benchmark setup: create N users, a public OAuth 2.0 client, and one OAuth 2.0 session per
//! user (an authorization approved and its code exchanged, through the same services the
//! endpoints use). Writes the client id on the first line of OUT, then one line per session:
//! `<access token> <refresh token>`. Access tokens live an hour. With PASSWORD, every user gets
//! that password (for `code_flow_load`'s sign-ins).
//!
//!     cargo run --release --example seed_oauth_sessions -- DATABASE_URL N OUT [PASSWORD]
//!
//! DATABASE_URL is a sqlx URL (`sqlite:///tmp/x.db?mode=rwc` or `postgres://…`). The schema is
//! migrated first. Users are named oauth000001, oauth000002, …

use std::{io::Write, sync::Arc};

use chrono::Duration;
use gatehouse::{
    crypto::passwords::{PasswordAlgorithm, PasswordHasher, PasswordScheme},
    domain::{
        Clock, SystemClock,
        ids::new_id,
        oauth2_clients::{GrantType, GrantTypes, OAuth2Client, TokenEndpointAuthMethod},
        oauth2_grants::{Pkce, PkceMethod, ResponseMode},
        scopes::Scope,
        users::User,
    },
    services::oauth2_sessions::{self, AuthorizationRequest, CodeExchange},
    store::{PoolSettings, Store, passwords::UserPassword},
};

pub const REDIRECT_URI: &str = "http://127.0.0.1/callback";
const VERIFIER: &str = "bench-code-verifier-bench-code-verifier-0123456789";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let [_, url, count, out, rest @ ..] = args.as_slice() else {
        anyhow::bail!("usage: seed_oauth_sessions DATABASE_URL N OUT [PASSWORD]");
    };
    let count: usize = count.parse()?;
    let access_ttl = Duration::hours(1);
    // One hash shared by every user: hashing thousands of passwords would dominate the setup.
    let hashed = match rest.first() {
        Some(password) => {
            let hasher = PasswordHasher::new(
                vec![PasswordScheme {
                    version: 1,
                    algorithm: PasswordAlgorithm::Argon2id,
                    pepper: None,
                    unicode_normalization: false,
                }],
                0,
            )?;
            Some(hasher.hash(password).await?.1)
        }
        None => None,
    };
    let store = Store::connect(url, &PoolSettings::default()).await?;
    store.migrate().await?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let clock = clock.as_ref();
    let mut rng = rand::rngs::OsRng;
    let client = OAuth2Client {
        id: new_id(clock),
        is_static: false,
        encrypted_client_secret: None,
        token_endpoint_auth_method: Some(TokenEndpointAuthMethod::None),
        jwks: None,
        jwks_uri: None,
        redirect_uris: vec![REDIRECT_URI.parse()?],
        client_name: Some("Benchmark client".into()),
        client_uri: Some("https://bench.example/".into()),
        grant_types: [GrantType::AuthorizationCode, GrantType::RefreshToken]
            .into_iter()
            .collect::<GrantTypes>(),
        metadata: Default::default(),
        created_at: clock.now(),
    };
    {
        let mut repo = store.repo().await?;
        repo.oauth2_clients().upsert(&client).await?;
        repo.save().await?;
    }
    let challenge = {
        use base64::Engine;
        use sha2::Digest;
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(sha2::Sha256::digest(VERIFIER.as_bytes()))
    };
    let mut file = std::io::BufWriter::new(std::fs::File::create(out)?);
    writeln!(file, "{}", client.id)?;
    let started = std::time::Instant::now();
    for n in 0..count {
        let user = User {
            id: new_id(clock),
            username: format!("oauth{:06}", n + 1),
            created_at: clock.now(),
            locked_at: None,
            deactivated_at: None,
            can_request_admin: false,
            is_guest: false,
        };
        {
            let mut repo = store.repo().await?;
            repo.users().add(&user).await?;
            if let Some(hashed) = &hashed {
                repo.passwords()
                    .add(&UserPassword {
                        id: new_id(clock),
                        user_id: user.id,
                        hashed_password: hashed.clone(),
                        version: 1,
                        upgraded_from_id: None,
                        created_at: clock.now(),
                    })
                    .await?;
            }
            repo.save().await?;
        }
        let scope = Scope::parse(&format!(
            "urn:matrix:client:api:* urn:matrix:client:device:OAUTH{:06}",
            n + 1
        ))?;
        let request = AuthorizationRequest {
            redirect_uri: REDIRECT_URI.into(),
            scope,
            state: None,
            nonce: None,
            response_mode: ResponseMode::Query,
            response_type_id_token: false,
            pkce: Some(Pkce {
                method: PkceMethod::S256,
                challenge: challenge.clone(),
            }),
            login_hint: None,
            prompt: None,
            max_age: None,
        };
        let grant = oauth2_sessions::start_authorization(&store, clock, &client, request).await?;
        let (_, code) =
            oauth2_sessions::fulfil_authorization(&store, clock, &mut rng, grant.id, &user, None)
                .await?;
        let exchange = CodeExchange {
            code: &code,
            redirect_uri: Some(REDIRECT_URI),
            code_verifier: Some(VERIFIER),
        };
        let issued =
            oauth2_sessions::exchange_code(&store, clock, &mut rng, &client, exchange, access_ttl)
                .await?;
        let refresh = issued
            .refresh_token
            .ok_or_else(|| anyhow::anyhow!("no refresh token issued"))?;
        writeln!(file, "{} {refresh}", issued.access_token)?;
    }
    file.flush()?;
    eprintln!(
        "seeded {count} OAuth 2.0 sessions in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
