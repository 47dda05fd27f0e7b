//! The `database` section: where the database is (a `uri`, or PostgreSQL connection fields),
//! TLS settings and connection-pool tuning, plus [`DatabaseConfig::connection_url`] which turns
//! all of that into a URL sqlx accepts.
//!
//! MAS only speaks PostgreSQL. Gatehouse additionally accepts `sqlite://` URIs:
//! `sqlite:///abs/path.db` (absolute) and `sqlite://relative.db` (relative to the working
//! directory).

use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::ConfigError;
use super::util::{Redacted, check_exclusive, read_trimmed_string};

/// Used by [`DatabaseConfig::connection_url`] when neither `uri` nor any connection field is
/// set: the local PostgreSQL server, database `matrix_auth`.
pub const DEFAULT_DATABASE_URI: &str = "postgresql:///matrix_auth";

/// `database.ssl_mode`, as in libpq.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PgSslMode {
    Disable,
    Allow,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl PgSslMode {
    fn as_str(self) -> &'static str {
        match self {
            Self::Disable => "disable",
            Self::Allow => "allow",
            Self::Prefer => "prefer",
            Self::Require => "require",
            Self::VerifyCa => "verify-ca",
            Self::VerifyFull => "verify-full",
        }
    }
}

/// `database`.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DatabaseConfig {
    /// A full connection URI (`postgresql://…` or `sqlite://…`). Exclusive with the fields below.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// Directory of the PostgreSQL UNIX socket.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub socket: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password_file: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ssl_mode: Option<PgSslMode>,
    /// Inline PEM CA certificate. Not expressible in a URL; see [`Self::connection_url`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ssl_ca: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ssl_ca_file: Option<PathBuf>,
    /// Inline PEM client certificate. Not expressible in a URL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ssl_certificate: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ssl_certificate_file: Option<PathBuf>,
    /// Inline PEM client key. Not expressible in a URL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ssl_key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ssl_key_file: Option<PathBuf>,
    /// Pool size limits.
    pub max_connections: u32,
    pub min_connections: u32,
    /// Seconds to wait for a connection.
    pub connect_timeout: u64,
    /// Seconds before an idle connection is closed; `null` disables.
    pub idle_timeout: Option<u64>,
    /// Seconds before a connection is recycled; `null` disables.
    pub max_lifetime: Option<u64>,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            uri: None,
            host: None,
            port: None,
            socket: None,
            username: None,
            password: None,
            password_file: None,
            database: None,
            ssl_mode: None,
            ssl_ca: None,
            ssl_ca_file: None,
            ssl_certificate: None,
            ssl_certificate_file: None,
            ssl_key: None,
            ssl_key_file: None,
            max_connections: 10,
            min_connections: 0,
            connect_timeout: 30,
            idle_timeout: Some(600),
            max_lifetime: Some(1800),
        }
    }
}

/// The database engine a configuration points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Engine {
    Sqlite,
    Postgres,
}

fn engine_of(uri: &str) -> Option<Engine> {
    let scheme = uri.split_once(':')?.0.to_ascii_lowercase();
    match scheme.as_str() {
        "sqlite" => Some(Engine::Sqlite),
        "postgres" | "postgresql" => Some(Engine::Postgres),
        _ => None,
    }
}

impl DatabaseConfig {
    fn has_fields(&self) -> bool {
        self.host.is_some()
            || self.port.is_some()
            || self.socket.is_some()
            || self.username.is_some()
            || self.password.is_some()
            || self.password_file.is_some()
            || self.database.is_some()
    }

    /// True when the configuration points at SQLite rather than PostgreSQL.
    pub fn is_sqlite(&self) -> bool {
        self.uri
            .as_deref()
            .is_some_and(|uri| engine_of(uri) == Some(Engine::Sqlite))
    }

    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        if let Some(uri) = &self.uri {
            if engine_of(uri).is_none() {
                return Err(ConfigError::invalid(
                    "database.uri",
                    "the scheme must be one of sqlite, postgres, postgresql",
                ));
            }
            if self.has_fields() {
                return Err(ConfigError::invalid(
                    "database.uri",
                    "cannot be combined with host, port, socket, username, password, password_file or database",
                ));
            }
        }
        check_exclusive(
            "database",
            ("password", self.password.is_some()),
            ("password_file", self.password_file.is_some()),
            false,
        )?;
        check_exclusive(
            "database",
            ("ssl_ca", self.ssl_ca.is_some()),
            ("ssl_ca_file", self.ssl_ca_file.is_some()),
            false,
        )?;
        check_exclusive(
            "database",
            ("ssl_certificate", self.ssl_certificate.is_some()),
            ("ssl_certificate_file", self.ssl_certificate_file.is_some()),
            false,
        )?;
        check_exclusive(
            "database",
            ("ssl_key", self.ssl_key.is_some()),
            ("ssl_key_file", self.ssl_key_file.is_some()),
            false,
        )?;
        if self.max_connections == 0 {
            return Err(ConfigError::invalid(
                "database.max_connections",
                "must be at least 1",
            ));
        }
        if self.min_connections > self.max_connections {
            return Err(ConfigError::invalid(
                "database.min_connections",
                "must not exceed database.max_connections",
            ));
        }
        Ok(())
    }

    /// A URL sqlx can connect with.
    ///
    /// - `sqlite://…` becomes `sqlite://<path>?mode=rwc` (created when missing) with a relative
    ///   path resolved against the working directory; an explicit query is kept as is.
    /// - A `postgres(ql)://` URI is returned unchanged.
    /// - The field form becomes a `postgresql://` URL with every part percent-encoded;
    ///   `password_file` is read and trimmed, `socket` becomes the `host` query parameter and the
    ///   `ssl_*_file` paths become `sslrootcert`/`sslcert`/`sslkey`.
    /// - With nothing set, [`DEFAULT_DATABASE_URI`].
    ///
    /// The inline `ssl_ca`/`ssl_certificate`/`ssl_key` PEMs cannot travel in a URL: callers
    /// building `PgConnectOptions` must apply them separately.
    pub fn connection_url(&self) -> Result<String, ConfigError> {
        match &self.uri {
            Some(uri) => match engine_of(uri) {
                Some(Engine::Sqlite) => sqlite_url(uri),
                Some(Engine::Postgres) => Ok(uri.clone()),
                None => Err(ConfigError::invalid(
                    "database.uri",
                    "the scheme must be one of sqlite, postgres, postgresql",
                )),
            },
            None if self.has_fields() || self.ssl_mode.is_some() => self.postgres_field_url(),
            None => Ok(DEFAULT_DATABASE_URI.to_owned()),
        }
    }

    fn postgres_field_url(&self) -> Result<String, ConfigError> {
        let password = match (&self.password, &self.password_file) {
            (Some(password), _) => Some(password.clone()),
            (None, Some(file)) => Some(read_trimmed_string("database.password_file", file)?),
            (None, None) => None,
        };
        let mut url = String::from("postgresql://");
        let mut query: Vec<(&str, String)> = Vec::new();
        match &self.host {
            Some(host) => {
                if let Some(username) = &self.username {
                    url.push_str(&percent_encode(username));
                    if let Some(password) = &password {
                        url.push(':');
                        url.push_str(&percent_encode(password));
                    }
                    url.push('@');
                }
                if host.contains(':') && !host.starts_with('[') {
                    url.push('[');
                    url.push_str(host);
                    url.push(']');
                } else {
                    url.push_str(&percent_encode_host(host));
                }
            }
            // libpq-style empty authority with user info is not portable; use parameters.
            None => {
                if let Some(username) = &self.username {
                    query.push(("user", username.clone()));
                }
                if let Some(password) = password {
                    query.push(("password", password));
                }
            }
        }
        if let Some(port) = self.port {
            if self.host.is_some() {
                url.push(':');
                url.push_str(&port.to_string());
            } else {
                query.push(("port", port.to_string()));
            }
        }
        url.push('/');
        if let Some(database) = &self.database {
            url.push_str(&percent_encode(database));
        }
        if let Some(socket) = &self.socket {
            query.push(("host", path_string("database.socket", socket)?));
        }
        if let Some(mode) = self.ssl_mode {
            query.push(("sslmode", mode.as_str().to_owned()));
        }
        if let Some(file) = &self.ssl_ca_file {
            query.push(("sslrootcert", path_string("database.ssl_ca_file", file)?));
        }
        if let Some(file) = &self.ssl_certificate_file {
            query.push((
                "sslcert",
                path_string("database.ssl_certificate_file", file)?,
            ));
        }
        if let Some(file) = &self.ssl_key_file {
            query.push(("sslkey", path_string("database.ssl_key_file", file)?));
        }
        for (i, (key, value)) in query.iter().enumerate() {
            url.push(if i == 0 { '?' } else { '&' });
            url.push_str(key);
            url.push('=');
            url.push_str(&percent_encode(value));
        }
        Ok(url)
    }
}

fn path_string(key: &str, path: &Path) -> Result<String, ConfigError> {
    path.to_str()
        .map(str::to_owned)
        .ok_or_else(|| ConfigError::invalid(key, "the path is not valid UTF-8"))
}

/// Percent-encodes everything except RFC 3986 unreserved characters.
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

fn percent_encode_host(host: &str) -> String {
    // Host names are plain ASCII in practice; encode anything else rather than break the URL.
    percent_encode(host)
}

fn sqlite_url(uri: &str) -> Result<String, ConfigError> {
    let rest = uri
        .get("sqlite:".len()..)
        .ok_or_else(|| ConfigError::invalid("database.uri", "incomplete sqlite URI"))?;
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    let (path, query) = match rest.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (rest, None),
    };
    if path.is_empty() || path == ":memory:" {
        return Ok(format!("sqlite://{rest}"));
    }
    let path = Path::new(path);
    let resolved = if path.is_absolute() {
        path.to_path_buf()
    } else {
        let cwd = std::env::current_dir().map_err(|source| ConfigError::File {
            key: "database.uri".to_owned(),
            file: PathBuf::from("."),
            source,
        })?;
        cwd.join(path)
    };
    let resolved = path_string("database.uri", &resolved)?;
    let encoded: String = resolved
        .chars()
        .map(|c| match c {
            '%' => "%25".to_owned(),
            '?' => "%3F".to_owned(),
            '#' => "%23".to_owned(),
            c => c.to_string(),
        })
        .collect();
    Ok(format!(
        "sqlite://{encoded}?{}",
        query.filter(|q| !q.is_empty()).unwrap_or("mode=rwc")
    ))
}

impl fmt::Debug for DatabaseConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A URI may embed a password.
        f.debug_struct("DatabaseConfig")
            .field("uri", &Redacted(&self.uri))
            .field("host", &self.host)
            .field("port", &self.port)
            .field("socket", &self.socket)
            .field("username", &self.username)
            .field("password", &Redacted(&self.password))
            .field("password_file", &self.password_file)
            .field("database", &self.database)
            .field("ssl_mode", &self.ssl_mode)
            .field("ssl_ca", &self.ssl_ca)
            .field("ssl_ca_file", &self.ssl_ca_file)
            .field("ssl_certificate", &self.ssl_certificate)
            .field("ssl_certificate_file", &self.ssl_certificate_file)
            .field("ssl_key", &Redacted(&self.ssl_key))
            .field("ssl_key_file", &self.ssl_key_file)
            .field("max_connections", &self.max_connections)
            .field("min_connections", &self.min_connections)
            .field("connect_timeout", &self.connect_timeout)
            .field("idle_timeout", &self.idle_timeout)
            .field("max_lifetime", &self.max_lifetime)
            .finish()
    }
}
