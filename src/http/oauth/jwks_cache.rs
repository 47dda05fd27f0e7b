//! The JWK Sets of `private_key_jwt` clients that publish theirs at a `jwks_uri`: fetched on
//! first use, kept for [`JWKS_TTL`], fetched again early when an assertion names a key the
//! cached set lacks (the client rotated its keys), and capped at [`MAX_JWKS_BYTES`].

use std::{collections::HashMap, sync::Arc, time::Duration};

use chrono::{DateTime, Utc};

use crate::crypto::jwt::{JwtError, MAX_JWKS_BYTES, PublicKeySet};

/// How long a fetched JWK Set is used before it is fetched again.
pub const JWKS_TTL: chrono::Duration = chrono::Duration::minutes(5);
/// A set is fetched again for an unknown `kid` only when it is at least this old, so that
/// assertions naming made-up kids cannot make Gatehouse fetch on every request.
const REFETCH_AFTER: chrono::Duration = chrono::Duration::seconds(30);

#[derive(Debug, thiserror::Error)]
pub enum JwksFetchError {
    #[error("request failed: {0}")]
    Request(String),
    #[error("answered HTTP {0}")]
    Status(u16),
    #[error(transparent)]
    Invalid(#[from] JwtError),
}

struct Entry {
    keys: Arc<PublicKeySet>,
    fetched_at: DateTime<Utc>,
}

pub struct JwksCache {
    http: reqwest::Client,
    entries: std::sync::Mutex<HashMap<String, Entry>>,
}

impl std::fmt::Debug for JwksCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwksCache").finish_non_exhaustive()
    }
}

impl JwksCache {
    pub fn new() -> Result<Self, JwksFetchError> {
        crate::crypto::install_tls_provider();
        let http = reqwest::Client::builder()
            .user_agent(concat!("gatehouse/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(10))
            // The configured URI is the one trusted; a redirect could lead anywhere.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| JwksFetchError::Request(e.to_string()))?;
        Ok(Self {
            http,
            entries: std::sync::Mutex::default(),
        })
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        self.entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The key set published at `uri`, from the cache when fetched less than [`JWKS_TTL`] ago.
    /// When a fetch fails, a set fetched before is used rather than refusing every client.
    pub async fn get(
        &self,
        uri: &str,
        now: DateTime<Utc>,
    ) -> Result<Arc<PublicKeySet>, JwksFetchError> {
        self.get_fresher_than(uri, now, JWKS_TTL).await
    }

    /// Like [`Self::get`], but fetches again when the cached set is older than 30 seconds:
    /// for an assertion that names a key the cached set does not have.
    pub async fn refetch(
        &self,
        uri: &str,
        now: DateTime<Utc>,
    ) -> Result<Arc<PublicKeySet>, JwksFetchError> {
        self.get_fresher_than(uri, now, REFETCH_AFTER).await
    }

    async fn get_fresher_than(
        &self,
        uri: &str,
        now: DateTime<Utc>,
        max_age: chrono::Duration,
    ) -> Result<Arc<PublicKeySet>, JwksFetchError> {
        let cached = self
            .entries()
            .get(uri)
            .map(|entry| (entry.keys.clone(), entry.fetched_at));
        if let Some((keys, fetched_at)) = &cached
            && now - *fetched_at < max_age
        {
            return Ok(keys.clone());
        }
        match self.fetch(uri).await {
            Ok(keys) => {
                let keys = Arc::new(keys);
                self.entries().insert(
                    uri.to_owned(),
                    Entry {
                        keys: keys.clone(),
                        fetched_at: now,
                    },
                );
                Ok(keys)
            }
            Err(error) => match cached {
                Some((keys, _)) => {
                    tracing::warn!(jwks_uri = uri, %error, "fetching a client's JWK Set failed; using the one fetched before");
                    Ok(keys)
                }
                None => Err(error),
            },
        }
    }

    async fn fetch(&self, uri: &str) -> Result<PublicKeySet, JwksFetchError> {
        let request_failed = |e: reqwest::Error| JwksFetchError::Request(e.to_string());
        let mut response = self
            .http
            .get(uri)
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(request_failed)?;
        if !response.status().is_success() {
            return Err(JwksFetchError::Status(response.status().as_u16()));
        }
        if response
            .content_length()
            .is_some_and(|length| length > MAX_JWKS_BYTES as u64)
        {
            return Err(JwtError::JwksTooLarge.into());
        }
        // The length may be absent or wrong: count what arrives, and stop past the cap.
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(request_failed)? {
            if body.len() + chunk.len() > MAX_JWKS_BYTES {
                return Err(JwtError::JwksTooLarge.into());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(PublicKeySet::from_json(&body)?)
    }
}
