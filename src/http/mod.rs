//! The poem application. Each configured listener binds its sockets and serves the resources
//! named in `http.listeners[].resources`; one module per surface.

pub mod admin;
mod body_limit;
pub mod client_ip;
pub mod compat;
pub mod discovery;
pub mod health;
mod logging;
pub mod matrix_error;
pub mod oauth;
pub mod pages;
pub mod security_headers;

pub mod synapse_admin;
pub mod tls;

use std::{future::Future, path::PathBuf, sync::Arc, time::Duration};

use poem::{
    EndpointExt, Route, Server,
    listener::{Acceptor, AcceptorExt, BoxAcceptor, TcpAcceptor},
};

use crate::{
    config::{BindConfig, FdKind, ListenerConfig, Resource, RootConfig},
    crypto::{
        encryption::Encrypter, keys::Keystore, passwords::PasswordHasher, successors::SuccessorKey,
    },
    domain::{Clock, RandomSource},
    services::{
        activity::ActivityRecorder,
        rate_limit::{ClientKey, RateLimiter},
        sign_in::{LoginLimits, PasswordSignIn},
    },
    store::Store,
    synapse::SynapseClient,
};

/// What every handler may need. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub config: Arc<RootConfig>,
    pub clock: Arc<dyn Clock>,
    pub passwords: PasswordHasher,
    pub keystore: Arc<Keystore>,
    pub encrypter: Arc<Encrypter>,
    pub synapse: SynapseClient,
    /// The shared secret Synapse presents to introspect tokens (`matrix.secret`).
    pub matrix_secret: Arc<str>,
    /// Wakes the job worker when a request queued work.
    pub jobs_wake: Arc<tokio::sync::Notify>,
    /// Password sign-in (rate limits included), shared by every surface that takes passwords.
    pub sign_in: Arc<PasswordSignIn>,
    /// Where random values come from.
    pub random: RandomSource,
    pub trusted_proxies: Arc<[client_ip::Network]>,
    pub templates: Arc<crate::templates::Templates>,
    /// Recent active-token answers (`experimental.introspection_cache_ttl`).
    pub token_cache: Arc<crate::services::access::TokenCache>,
    /// Encrypts the pages' cookies; derived from `secrets.encryption`.
    pub cookie_key: Arc<[u8; 32]>,
    /// Derives the tokens that replace a refresh token; from `secrets.encryption`.
    pub refresh_successors: SuccessorKey,
    /// Token uses waiting to be recorded as session activity.
    pub activity: Arc<ActivityRecorder>,
    /// `rate_limiting.compat_sso_redirect`, per client.
    pub compat_sso_limit: Arc<RateLimiter<ClientKey>>,
    /// `policy.data` (client registration rules, `admin_clients`), with the newest policy data
    /// set through the admin API laid over it: read it with `policy.current(&store)`.
    pub policy: Arc<crate::services::policy::PolicySource>,
    /// `rate_limiting.client_registration`, per client address.
    pub client_registration_limiter: Arc<RateLimiter<ClientKey>>,
    /// `rate_limiting.device_code_entry`: user codes typed on `/link`.
    pub device_code_entry_limits: Arc<pages::CodeEntryLimits>,
    /// `rate_limiting.device_authorization`, per client address.
    pub device_authorization_limiter: Arc<RateLimiter<ClientKey>>,
    /// `private_key_jwt` clients' JWK Sets fetched from their `jwks_uri`.
    pub jwks_cache: Arc<oauth::JwksCache>,
}

impl AppState {
    /// Build the state from a checked configuration.
    pub fn new(
        store: Store,
        config: RootConfig,
        clock: Arc<dyn Clock>,
        random: RandomSource,
        passwords: PasswordHasher,
        keystore: Keystore,
    ) -> Result<Self, StateError> {
        let encryption_key = config.secrets.encryption_key()?;
        let encrypter = Encrypter::new(&encryption_key).with_random(random.clone());
        let secret = config.matrix.secret()?;
        let synapse = SynapseClient::new(&config.matrix, secret.clone())?;
        let passwords = passwords.with_random(random.clone());
        let policy = crate::services::policy::PolicySource::from_config(&config.policy)?;
        let sign_in = PasswordSignIn::new(
            store.clone(),
            clock.clone(),
            passwords.clone(),
            LoginLimits::new(&config.rate_limiting),
            config.passwords.enabled,
        );
        Ok(Self {
            store,
            passwords,
            sign_in: Arc::new(sign_in),
            random,
            keystore: Arc::new(keystore),
            encrypter: Arc::new(encrypter),
            synapse,
            matrix_secret: secret.into(),
            jobs_wake: Arc::new(tokio::sync::Notify::new()),
            trusted_proxies: client_ip::parse_networks(&config.http.trusted_proxies).into(),
            templates: Arc::new(crate::templates::Templates::load(&config.templates)?),
            token_cache: Arc::new(crate::services::access::TokenCache::new(
                std::time::Duration::from_secs(config.experimental.introspection_cache_ttl),
            )),
            refresh_successors: SuccessorKey::new(&encryption_key),
            cookie_key: Arc::new(encryption_key),
            activity: Arc::new(ActivityRecorder::new(std::time::Duration::from_secs(
                config.experimental.introspection_cache_ttl,
            ))),
            compat_sso_limit: Arc::new(RateLimiter::new(&config.rate_limiting.compat_sso_redirect)),
            policy: Arc::new(policy),
            client_registration_limiter: Arc::new(RateLimiter::new(
                &config.rate_limiting.client_registration,
            )),
            device_code_entry_limits: Arc::new(pages::CodeEntryLimits::new(&config.rate_limiting)),
            device_authorization_limiter: Arc::new(RateLimiter::new(
                &config.rate_limiting.device_authorization,
            )),
            jwks_cache: Arc::new(oauth::JwksCache::new()?),
            config: Arc::new(config),
            clock,
        })
    }

    /// Build the state and its services (password hasher, keystore) from a checked config.
    pub fn from_config(
        store: Store,
        config: RootConfig,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<Self> {
        let passwords = config.password_hasher()?;
        let keystore = config.keystore()?;
        Ok(Self::new(
            store,
            config,
            clock,
            RandomSource::System,
            passwords,
            keystore,
        )?)
    }

    /// `@localpart:server_name`.
    pub fn mxid(&self, localpart: &str) -> String {
        format!("@{localpart}:{}", self.config.matrix.homeserver)
    }

    /// An absolute URL under `http.public_base`.
    pub fn public_url(&self, path: &str) -> String {
        let base = self.config.http.public_base.as_str().trim_end_matches('/');
        format!("{base}/{}", path.trim_start_matches('/'))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error(transparent)]
    Synapse(#[from] crate::synapse::SynapseError),
    #[error(transparent)]
    Templates(#[from] crate::templates::TemplatesError),
    #[error("cannot build the HTTP client for client JWK Sets: {0}")]
    JwksClient(#[from] oauth::jwks_cache::JwksFetchError),
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("http.listeners[{index}] ({name}): cannot bind {bind}: {source}")]
    Bind {
        index: usize,
        name: String,
        bind: String,
        source: std::io::Error,
    },
    #[error("http.listeners[{index}] ({name}): {message}")]
    Unsupported {
        index: usize,
        name: String,
        message: &'static str,
    },
    /// A listener's `tls` section names an unreadable or unusable certificate or key.
    #[error(transparent)]
    Tls(#[from] crate::config::ConfigError),
    #[error("listener {name} stopped: {source}")]
    Serve {
        name: String,
        source: std::io::Error,
    },
}

/// A listener whose sockets are bound: the addresses are known before serving starts.
pub struct BoundListener {
    pub name: String,
    /// `http://host:port` (`https://` with `tls`, or `unix:path`) for each bound socket.
    pub urls: Vec<String>,
    pub resources: Vec<&'static str>,
    config: ListenerConfig,
    acceptor: BoxAcceptor,
}

/// Bind every socket of every configured listener. Binding everything first means a busy port
/// is reported before anything starts serving.
pub async fn bind_listeners(
    listeners: &[ListenerConfig],
) -> Result<Vec<BoundListener>, ServeError> {
    let mut bound = Vec::with_capacity(listeners.len());
    for (index, listener) in listeners.iter().enumerate() {
        let unsupported = |message| ServeError::Unsupported {
            index,
            name: listener.name.clone(),
            message,
        };
        // Loaded before this listener binds: a bad certificate or key stops start-up, and the
        // sockets bound so far are closed as the error returns.
        let tls = match &listener.tls {
            Some(tls) => Some(tls::server_config(
                tls,
                &format!("http.listeners[{index}].tls"),
            )?),
            None => None,
        };
        if listener.proxy_protocol {
            return Err(unsupported("the PROXY protocol is not supported"));
        }
        let mut acceptor: Option<BoxAcceptor> = None;
        let mut urls = Vec::new();
        for bind in &listener.binds {
            let (next, url) = bind_one(bind).await.map_err(|source| ServeError::Bind {
                index,
                name: listener.name.clone(),
                bind: describe_bind(bind),
                source,
            })?;
            urls.push(url);
            acceptor = Some(match acceptor {
                None => next,
                Some(previous) => previous.combine(next).boxed(),
            });
        }
        let Some(mut acceptor) = acceptor else {
            return Err(unsupported("no binds"));
        };
        // TLS covers every bind of the listener, UNIX sockets included.
        if let Some(tls) = tls {
            acceptor = tls::TlsAcceptor::new(acceptor, tls).boxed();
            for url in &mut urls {
                if let Some(rest) = url.strip_prefix("http://") {
                    *url = format!("https://{rest}");
                }
            }
        }
        bound.push(BoundListener {
            name: listener.name.clone(),
            urls,
            resources: listener.resources.iter().map(resource_name).collect(),
            config: listener.clone(),
            acceptor,
        });
    }
    Ok(bound)
}

async fn bind_one(bind: &BindConfig) -> std::io::Result<(BoxAcceptor, String)> {
    match bind {
        BindConfig::Address { address } => bind_tcp(address).await,
        BindConfig::Listen { host, port } => {
            let host = host.as_deref().unwrap_or("[::]");
            bind_tcp(&format!("{host}:{port}")).await
        }
        BindConfig::Unix { socket, mode } => bind_unix(socket, *mode),
        BindConfig::FileDescriptor { fd, kind } => bind_fd(*fd, *kind),
    }
}

async fn bind_tcp(address: &str) -> std::io::Result<(BoxAcceptor, String)> {
    let listener = tokio::net::TcpListener::bind(address).await?;
    let local = listener.local_addr()?;
    Ok((
        TcpAcceptor::from_tokio(listener)?.boxed(),
        format!("http://{local}"),
    ))
}

fn bind_unix(path: &PathBuf, mode: Option<u32>) -> std::io::Result<(BoxAcceptor, String)> {
    use std::os::unix::fs::PermissionsExt;
    // A socket file left by a previous run would make bind fail.
    if path.exists() {
        std::fs::remove_file(path)?;
    }
    let listener = std::os::unix::net::UnixListener::bind(path)?;
    listener.set_nonblocking(true)?;
    if let Some(mode) = mode {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
    }
    let acceptor = poem::listener::UnixAcceptor::from_std(listener)?;
    Ok((acceptor.boxed(), format!("unix:{}", path.display())))
}

fn bind_fd(fd: u32, kind: FdKind) -> std::io::Result<(BoxAcceptor, String)> {
    use std::os::fd::{FromRawFd, RawFd};
    let raw =
        RawFd::try_from(fd).map_err(|_| std::io::Error::other("file descriptor out of range"))?;
    // Only descriptors passed by the service manager (systemd socket activation, LISTEN_FDS
    // start at 3) are meaningful; refuse stdin/stdout/stderr outright.
    if raw < 3 {
        return Err(std::io::Error::other(
            "file descriptors 0-2 are not sockets we were given",
        ));
    }
    match kind {
        FdKind::Tcp => {
            // SAFETY: the operator declared that this descriptor is an inherited listening TCP
            // socket; we take sole ownership of it here, once, at start-up.
            let listener = unsafe { std::net::TcpListener::from_raw_fd(raw) };
            listener.set_nonblocking(true)?;
            let local = listener.local_addr()?;
            Ok((
                TcpAcceptor::from_std(listener)?.boxed(),
                format!("http://{local}"),
            ))
        }
        FdKind::Unix => {
            // SAFETY: as above, for an inherited listening UNIX socket.
            let listener = unsafe { std::os::unix::net::UnixListener::from_raw_fd(raw) };
            listener.set_nonblocking(true)?;
            let acceptor = poem::listener::UnixAcceptor::from_std(listener)?;
            Ok((acceptor.boxed(), format!("unix:fd{raw}")))
        }
    }
}

fn describe_bind(bind: &BindConfig) -> String {
    match bind {
        BindConfig::Address { address } => address.clone(),
        BindConfig::Listen { host, port } => {
            format!("{}:{port}", host.as_deref().unwrap_or("[::]"))
        }
        BindConfig::Unix { socket, .. } => format!("unix socket {}", socket.display()),
        BindConfig::FileDescriptor { fd, .. } => format!("fd {fd}"),
    }
}

pub fn resource_name(resource: &Resource) -> &'static str {
    match resource {
        Resource::Discovery => "discovery",
        Resource::Human => "human",
        Resource::OAuth => "oauth",
        Resource::Compat => "compat",
        Resource::GraphQL { .. } => "graphql",
        Resource::Assets { .. } => "assets",
        Resource::AdminApi => "adminapi",
        Resource::Health => "health",
        Resource::Prometheus => "prometheus",
        Resource::ConnectionInfo => "connection-info",
    }
}

/// The routes of one listener: its resources, under its prefix.
pub fn listener_routes(
    listener: &ListenerConfig,
    state: &AppState,
) -> poem::endpoint::BoxEndpoint<'static> {
    let mut route = Route::new();
    // A resource without a module yet serves nothing, and `server` says so at start-up.
    for resource in &listener.resources {
        route = match resource {
            Resource::Health => route.at("/health", health::health),
            Resource::Discovery => discovery::mount(route),
            Resource::OAuth => oauth::mount(route),
            Resource::Compat => compat::mount(route),
            Resource::Human => pages::mount(route),
            _ => route,
        };
    }
    if listener.resources.contains(&Resource::AdminApi) {
        route = route
            .nest("/api", admin::routes())
            .nest("/_synapse/admin", synapse_admin::routes());
    }
    let route = match listener.prefix.as_deref() {
        Some(prefix) if prefix != "/" => Route::new().nest(prefix, route),
        _ => route,
    };
    let endpoint = route
        .with(security_headers::SecurityHeaders)
        .with(body_limit::BodyLimit::new(state.config.http.max_body_size))
        // A bug must cost one request a 500, not the connection.
        .with(poem::middleware::CatchPanic::new())
        .data(state.clone());
    if listener.resources.contains(&Resource::Human) {
        pages::with_cookies(endpoint, &state.cookie_key)
    } else {
        endpoint.boxed()
    }
}

/// Resources this build serves; `server` warns about configured resources not in this list.
pub const SERVED_RESOURCES: &[&str] = &[
    "health",
    "discovery",
    "oauth",
    "compat",
    "human",
    "adminapi",
];

/// Serve every bound listener until `shutdown` resolves, then let in-flight requests finish
/// (up to `grace`).
pub async fn serve(
    listeners: Vec<BoundListener>,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
    grace: Duration,
) -> Result<(), ServeError> {
    let (stop_tx, _) = tokio::sync::broadcast::channel::<()>(1);
    let mut tasks = tokio::task::JoinSet::new();
    for listener in listeners {
        let routes = listener_routes(&listener.config, &state)
            .with(logging::RequestLog::new(listener.name.clone()));
        let mut stop = stop_tx.subscribe();
        let name = listener.name.clone();
        tasks.spawn(async move {
            let signal = async move {
                let _ = stop.recv().await;
            };
            Server::new_with_acceptor(listener.acceptor)
                .run_with_graceful_shutdown(routes, signal, Some(grace))
                .await
                .map_err(|source| ServeError::Serve { name, source })
        });
    }
    // Other processes' logouts and locks reach this server's token cache through the database.
    let follower = {
        let store = state.store.clone();
        let ttl = state.token_cache.ttl();
        let mut stop = stop_tx.subscribe();
        tokio::spawn(async move {
            tokio::select! {
                _ = crate::services::access::follow_invalidations(store, ttl) => {}
                _ = stop.recv() => {}
            }
        })
    };
    let recorder = {
        let (store, activity) = (state.store.clone(), state.activity.clone());
        let mut stop = stop_tx.subscribe();
        tokio::spawn(async move {
            tokio::select! {
                _ = activity.clone().run(store.clone()) => {}
                _ = stop.recv() => {}
            }
            // What was noted before the stop is still written.
            if let Err(error) = activity.flush(&store).await {
                tracing::warn!(%error, "could not record the last session activity");
            }
        })
    };
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop_tx.send(());
    });
    while let Some(done) = tasks.join_next().await {
        match done {
            Ok(result) => result?,
            Err(join_error) => {
                return Err(ServeError::Serve {
                    name: "listener task".into(),
                    source: std::io::Error::other(join_error.to_string()),
                });
            }
        }
    }
    follower.abort();
    let _ = recorder.await;
    Ok(())
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
    tracing::info!("shutdown requested; finishing in-flight requests");
}

impl BoundListener {
    pub fn local_addrs(&self) -> Vec<String> {
        self.acceptor
            .local_addr()
            .iter()
            .map(|a| a.to_string())
            .collect()
    }
}
