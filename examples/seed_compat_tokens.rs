//! Benchmark setup: create N users, each with one compat session and a non-expiring access token,
//! in a Gatehouse database, and write the token strings (one per line) to a file. Also gives
//! every user the same password, for login benchmarks.
//!
//!     cargo run --release --example seed_compat_tokens -- DATABASE_URL N TOKENS_FILE [PASSWORD]
//!
//! DATABASE_URL is a sqlx URL (`sqlite:///tmp/x.db?mode=rwc` or `postgres://…`). The schema is
//! migrated first. Users are named bench000001, bench000002, …

use std::{io::Write, sync::Arc};

use gatehouse::{
    crypto::passwords::{PasswordAlgorithm, PasswordHasher, PasswordScheme},
    domain::{
        Clock, SystemClock,
        compat::{CompatAccessToken, CompatSession},
        ids::new_id,
        tokens::TokenType,
        users::User,
    },
    store::{PoolSettings, Store, passwords::UserPassword},
};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let [_, url, count, out, rest @ ..] = args.as_slice() else {
        anyhow::bail!("usage: seed_compat_tokens DATABASE_URL N TOKENS_FILE [PASSWORD]");
    };
    let count: usize = count.parse()?;
    let password = rest.first().cloned();
    let store = Store::connect(url, &PoolSettings::default()).await?;
    store.migrate().await?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    // One hash shared by every user: hashing 100k passwords would dominate the setup.
    let hashed = match &password {
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
    let mut rng = rand::rngs::OsRng;
    let mut file = std::io::BufWriter::new(std::fs::File::create(out)?);
    let started = std::time::Instant::now();
    for chunk_start in (0..count).step_by(1000) {
        let mut repo = store.repo().await?;
        for n in chunk_start..(chunk_start + 1000).min(count) {
            let now = clock.now();
            let user = User {
                id: new_id(clock.as_ref()),
                username: format!("bench{:06}", n + 1),
                created_at: now,
                locked_at: None,
                deactivated_at: None,
                can_request_admin: false,
                is_guest: false,
            };
            repo.users().add(&user).await?;
            if let Some(hashed) = &hashed {
                repo.passwords()
                    .add(&UserPassword {
                        id: new_id(clock.as_ref()),
                        user_id: user.id,
                        hashed_password: hashed.clone(),
                        version: 1,
                        upgraded_from_id: None,
                        created_at: now,
                    })
                    .await?;
            }
            let session = CompatSession {
                id: new_id(clock.as_ref()),
                user_id: user.id,
                device_id: Some(format!("BENCH{:06}", n + 1)),
                human_name: None,
                created_at: now,
                finished_at: None,
                is_synapse_admin: false,
                last_active_at: None,
                last_active_ip: None,
                user_agent: None,
                redirect_uri: None,
            };
            repo.compat().add_session(&session).await?;
            let token = TokenType::CompatAccessToken.generate(&mut rng);
            repo.compat()
                .add_access_token(
                    &CompatAccessToken {
                        id: new_id(clock.as_ref()),
                        session_id: session.id,
                        created_at: now,
                        expires_at: None,
                        first_used_at: None,
                    },
                    &token,
                )
                .await?;
            writeln!(file, "{token}")?;
        }
        repo.save().await?;
    }
    file.flush()?;
    eprintln!(
        "seeded {count} users with tokens in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
