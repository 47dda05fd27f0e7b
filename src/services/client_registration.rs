//! Dynamic client registration (RFC 7591): store a registration the policy accepted, with a new
//! client id and, for confidential clients, a new secret. An identical registration of a public
//! client is answered with the client it made before, so a client that registers at every sign-in
//! (as Matrix clients do) does not leave a row behind each time.

use rand::Rng;

use crate::{
    crypto::encryption::{Encrypter, EncryptionError},
    domain::{
        Clock, client_registration::ValidRegistration, ids::new_id, oauth2_clients::OAuth2Client,
        tokens::random_alphanumeric,
    },
    store::{Store, StoreError},
};

/// Length of a generated client secret (alphanumeric: about 285 bits).
const CLIENT_SECRET_LENGTH: usize = 48;

/// A stored registration and, for a new confidential client, its secret in the clear (shown
/// once, in the registration response).
#[derive(Clone)]
pub struct Registered {
    pub client: OAuth2Client,
    pub client_secret: Option<String>,
    /// Whether an earlier identical registration was reused.
    pub reused: bool,
}

impl std::fmt::Debug for Registered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registered")
            .field("client", &self.client)
            .field(
                "client_secret",
                &self.client_secret.as_ref().map(|_| "<redacted>"),
            )
            .field("reused", &self.reused)
            .finish()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RegisterError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("sealing the client secret: {0}")]
    Encryption(#[from] EncryptionError),
}

pub async fn register(
    store: &Store,
    clock: &dyn Clock,
    rng: &mut impl Rng,
    encrypter: &Encrypter,
    registration: ValidRegistration,
) -> Result<Registered, RegisterError> {
    let digest = registration.digest();
    let public = !registration.needs_secret();
    if public {
        let earlier = store
            .reader()
            .await?
            .oauth2_clients()
            .find_registered(&digest)
            .await?;
        if let Some(client) = earlier {
            return Ok(Registered {
                client,
                client_secret: None,
                reused: true,
            });
        }
    }

    let client_secret = (!public).then(|| random_alphanumeric(rng, CLIENT_SECRET_LENGTH));
    let encrypted_client_secret = client_secret
        .as_deref()
        .map(|secret| encrypter.encrypt_str(secret))
        .transpose()?;
    let client = OAuth2Client {
        id: new_id(clock),
        is_static: false,
        encrypted_client_secret,
        token_endpoint_auth_method: Some(registration.token_endpoint_auth_method),
        jwks: registration.jwks,
        jwks_uri: None,
        redirect_uris: registration.redirect_uris,
        client_name: registration.client_name,
        client_uri: registration.client_uri,
        grant_types: registration.grant_types,
        metadata: registration.metadata,
        created_at: clock.now(),
    };
    let mut repo = store.repo().await?;
    repo.oauth2_clients()
        .insert_registered(&client, &digest)
        .await?;
    repo.save().await?;
    Ok(Registered {
        client,
        client_secret,
        reused: false,
    })
}
