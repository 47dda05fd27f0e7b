//! The `http` section: public base URL and issuer, trusted proxies, and the listeners (what
//! resources each one serves and where it binds).

use std::fmt;
use std::net::{IpAddr, Ipv6Addr};
use std::path::PathBuf;

use serde::{Deserialize, Deserializer, Serialize, de::Error as _};
use url::Url;

use super::ConfigError;
use super::util::{Redacted, check_exclusive, is_false, read_file, strip_line_ending};

/// `http`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct HttpConfig {
    pub listeners: Vec<ListenerConfig>,
    /// CIDRs (or bare addresses) allowed to set `X-Forwarded-For`.
    pub trusted_proxies: Vec<String>,
    /// Base URL used to build absolute URLs.
    pub public_base: Url,
    /// The OIDC issuer; see [`HttpConfig::issuer`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issuer: Option<Url>,
    /// Gatehouse extension: the largest request body accepted, in bytes (larger: 413).
    #[serde(
        default = "default_max_body_size",
        skip_serializing_if = "is_default_max_body_size"
    )]
    pub max_body_size: usize,
}

/// 1 MiB: far above any legitimate login, token or admin request.
pub const DEFAULT_MAX_BODY_SIZE: usize = 1024 * 1024;

fn default_max_body_size() -> usize {
    DEFAULT_MAX_BODY_SIZE
}

fn is_default_max_body_size(size: &usize) -> bool {
    *size == DEFAULT_MAX_BODY_SIZE
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            listeners: default_listeners(),
            trusted_proxies: default_trusted_proxies(),
            public_base: default_public_base(),
            issuer: None,
            max_body_size: DEFAULT_MAX_BODY_SIZE,
        }
    }
}

/// The default `http.public_base`. MAS uses `http://[::]:8080/`; a browser cannot reach that,
/// so Gatehouse defaults to `http://localhost:8080/`.
pub fn default_public_base() -> Url {
    Url::parse("http://localhost:8080/").unwrap_or_else(|_| unreachable!("constant URL parses"))
}

fn default_trusted_proxies() -> Vec<String> {
    [
        "192.168.0.0/16",
        "172.16.0.0/12",
        "10.0.0.0/8",
        "127.0.0.0/8",
        "fd00::/8",
        "::1/128",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect()
}

/// MAS's default listeners: `web` on `[::]:8080` and `internal` on `localhost:8081`.
pub fn default_listeners() -> Vec<ListenerConfig> {
    vec![
        ListenerConfig {
            name: "web".to_owned(),
            resources: vec![
                Resource::Discovery,
                Resource::Human,
                Resource::OAuth,
                Resource::Compat,
                Resource::GraphQL {
                    playground: false,
                    undocumented_oauth2_access: false,
                },
                Resource::Assets {
                    path: default_assets_path(),
                },
            ],
            prefix: None,
            binds: vec![BindConfig::Address {
                address: "[::]:8080".to_owned(),
            }],
            proxy_protocol: false,
            tls: None,
        },
        ListenerConfig {
            name: "internal".to_owned(),
            resources: vec![Resource::Health],
            prefix: None,
            binds: vec![BindConfig::Listen {
                host: Some("localhost".to_owned()),
                port: 8081,
            }],
            proxy_protocol: false,
            tls: None,
        },
    ]
}

fn default_assets_path() -> PathBuf {
    PathBuf::from("./share/assets/")
}

impl HttpConfig {
    /// The OIDC issuer: `issuer` if set, otherwise `public_base`.
    pub fn issuer(&self) -> Url {
        self.issuer
            .clone()
            .unwrap_or_else(|| self.public_base.clone())
    }

    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        check_http_url("http.public_base", &self.public_base)?;
        if let Some(issuer) = &self.issuer {
            check_http_url("http.issuer", issuer)?;
        }
        for (i, proxy) in self.trusted_proxies.iter().enumerate() {
            if !is_cidr(proxy) {
                return Err(ConfigError::invalid(
                    format!("http.trusted_proxies[{i}]"),
                    format!("{proxy:?} is not an IP network (CIDR)"),
                ));
            }
        }
        for (i, listener) in self.listeners.iter().enumerate() {
            listener.validate(&format!("http.listeners[{i}]"))?;
        }
        Ok(())
    }
}

fn check_http_url(path: &str, url: &Url) -> Result<(), ConfigError> {
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none_or(str::is_empty) {
        return Err(ConfigError::invalid(
            path,
            format!("{url} must be an absolute http(s) URL"),
        ));
    }
    Ok(())
}

fn is_cidr(text: &str) -> bool {
    let (addr, prefix) = match text.split_once('/') {
        Some((addr, prefix)) => (addr, Some(prefix)),
        None => (text, None),
    };
    let Ok(addr) = addr.parse::<IpAddr>() else {
        return false;
    };
    let max = if addr.is_ipv4() { 32 } else { 128 };
    match prefix {
        None => true,
        Some(p) => p.parse::<u8>().is_ok_and(|p| p <= max),
    }
}

/// `http.listeners[]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ListenerConfig {
    /// Used in logs only; may be empty.
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub resources: Vec<Resource>,
    /// Optional path prefix under which the resources are mounted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    #[serde(default)]
    pub binds: Vec<BindConfig>,
    /// Expect the HAProxy PROXY protocol on accepted connections.
    #[serde(default, skip_serializing_if = "is_false")]
    pub proxy_protocol: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsConfig>,
}

impl ListenerConfig {
    fn validate(&self, path: &str) -> Result<(), ConfigError> {
        if self.binds.is_empty() {
            return Err(ConfigError::invalid(
                format!("{path}.binds"),
                format!("listener {:?} has no binds", self.name),
            ));
        }
        for (i, bind) in self.binds.iter().enumerate() {
            if let BindConfig::Address { address } = bind
                && !is_host_port(address)
            {
                return Err(ConfigError::invalid(
                    format!("{path}.binds[{i}].address"),
                    format!("{address:?} is not a host:port address"),
                ));
            }
        }
        if let Some(prefix) = &self.prefix
            && !prefix.starts_with('/')
        {
            return Err(ConfigError::invalid(
                format!("{path}.prefix"),
                "must start with `/`",
            ));
        }
        if let Some(tls) = &self.tls {
            tls.validate(&format!("{path}.tls"))?;
        }
        Ok(())
    }
}

/// `host:port`, `[v6]:port` or `:port` (all interfaces).
fn is_host_port(address: &str) -> bool {
    let Some((host, port)) = address.rsplit_once(':') else {
        return false;
    };
    if port.parse::<u16>().is_err() {
        return false;
    }
    if let Some(inner) = host.strip_prefix('[') {
        return inner
            .strip_suffix(']')
            .is_some_and(|v6| v6.parse::<Ipv6Addr>().is_ok());
    }
    // An unbracketed host must not contain a colon (bare IPv6 addresses are ambiguous).
    !host.contains(':')
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
}

/// One resource served by a listener, selected by its `name`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "name")]
pub enum Resource {
    /// `.well-known` discovery documents.
    #[serde(rename = "discovery")]
    Discovery,
    /// Server-rendered pages and the web app.
    #[serde(rename = "human")]
    Human,
    /// OAuth 2.0 / OIDC endpoints.
    #[serde(rename = "oauth")]
    OAuth,
    /// Matrix client-server legacy login endpoints.
    #[serde(rename = "compat")]
    Compat,
    #[serde(rename = "graphql")]
    GraphQL {
        #[serde(default)]
        playground: bool,
        #[serde(default)]
        undocumented_oauth2_access: bool,
    },
    /// Static assets, served from `path`.
    #[serde(rename = "assets")]
    Assets {
        #[serde(default = "default_assets_path")]
        path: PathBuf,
    },
    /// The admin API (`/api/admin/v1`).
    #[serde(rename = "adminapi")]
    AdminApi,
    /// `/health`.
    #[serde(rename = "health")]
    Health,
    /// `/metrics`.
    #[serde(rename = "prometheus")]
    Prometheus,
    /// `/connection-info`, a debugging handler.
    #[serde(rename = "connection-info")]
    ConnectionInfo,
}

/// Where a listener binds. Written in YAML as one of `{address}`, `{host, port}`,
/// `{socket, mode}` or `{fd, kind}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum BindConfig {
    /// `address: "[::]:8080"`.
    Address { address: String },
    /// `host` (optional: all interfaces) and `port`.
    Listen {
        #[serde(skip_serializing_if = "Option::is_none")]
        host: Option<String>,
        port: u16,
    },
    /// A UNIX socket, with optional permission bits.
    Unix {
        socket: PathBuf,
        #[serde(skip_serializing_if = "Option::is_none")]
        mode: Option<u32>,
    },
    /// An inherited file descriptor (systemd socket activation).
    FileDescriptor { fd: u32, kind: FdKind },
}

/// The kind of an inherited file descriptor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FdKind {
    #[default]
    Tcp,
    Unix,
}

#[derive(Deserialize)]
struct RawBind {
    address: Option<String>,
    host: Option<String>,
    port: Option<u16>,
    socket: Option<PathBuf>,
    mode: Option<u32>,
    fd: Option<u32>,
    kind: Option<FdKind>,
}

// Hand-written instead of `#[serde(untagged)]` so that unknown keys inside a bind are reported
// and a bind matching no shape gets a readable error.
impl<'de> Deserialize<'de> for BindConfig {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = RawBind::deserialize(deserializer)?;
        let shapes = [
            raw.address.is_some(),
            raw.port.is_some() || raw.host.is_some(),
            raw.socket.is_some() || raw.mode.is_some(),
            raw.fd.is_some() || raw.kind.is_some(),
        ];
        if shapes.iter().filter(|s| **s).count() > 1 {
            return Err(D::Error::custom(
                "a bind must use exactly one of `address`, `host`/`port`, `socket`/`mode` or `fd`/`kind`",
            ));
        }
        if let Some(address) = raw.address {
            return Ok(Self::Address { address });
        }
        if shapes[1] {
            let port = raw
                .port
                .ok_or_else(|| D::Error::custom("a `host` bind needs a `port`"))?;
            return Ok(Self::Listen {
                host: raw.host,
                port,
            });
        }
        if shapes[2] {
            let socket = raw
                .socket
                .ok_or_else(|| D::Error::custom("a `mode` bind needs a `socket`"))?;
            return Ok(Self::Unix {
                socket,
                mode: raw.mode,
            });
        }
        if shapes[3] {
            return Ok(Self::FileDescriptor {
                fd: raw.fd.unwrap_or(3),
                kind: raw.kind.unwrap_or_default(),
            });
        }
        Err(D::Error::custom(
            "a bind needs one of `address`, `host`/`port`, `socket` or `fd`",
        ))
    }
}

/// `http.listeners[].tls`.
#[derive(Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct TlsConfig {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub certificate: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub certificate_file: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_file: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password_file: Option<PathBuf>,
}

impl TlsConfig {
    fn validate(&self, path: &str) -> Result<(), ConfigError> {
        check_exclusive(
            path,
            ("certificate", self.certificate.is_some()),
            ("certificate_file", self.certificate_file.is_some()),
            true,
        )?;
        check_exclusive(
            path,
            ("key", self.key.is_some()),
            ("key_file", self.key_file.is_some()),
            true,
        )?;
        check_exclusive(
            path,
            ("password", self.password.is_some()),
            ("password_file", self.password_file.is_some()),
            false,
        )
    }
}

/// Raw TLS material gathered by [`TlsConfig::load`], with the configuration key each piece came
/// from so that a parse failure can name it.
pub struct LoadedTls {
    /// PEM text, exactly as found.
    pub certificate: Vec<u8>,
    /// `….tls.certificate` or `….tls.certificate_file`.
    pub certificate_key: String,
    /// PEM text or DER bytes, exactly as found.
    pub key: Vec<u8>,
    /// `….tls.key` or `….tls.key_file`.
    pub key_key: String,
    /// Password for an encrypted PKCS#8 key (a trailing line ending of a file is removed).
    pub password: Option<Vec<u8>>,
}

impl TlsConfig {
    /// Read the certificate chain, key and password, inline or from their files. `path` is this
    /// section's key path (`http.listeners[0].tls`). Relative paths are relative to the working
    /// directory.
    pub fn load(&self, path: &str) -> Result<LoadedTls, ConfigError> {
        let (certificate, certificate_key) = match (&self.certificate, &self.certificate_file) {
            (Some(pem), _) => (pem.clone().into_bytes(), format!("{path}.certificate")),
            (None, Some(file)) => {
                let key = format!("{path}.certificate_file");
                (read_file(&key, file)?, key)
            }
            (None, None) => {
                return Err(ConfigError::invalid(
                    format!("{path}.certificate"),
                    "one of `certificate` or `certificate_file` is required",
                ));
            }
        };
        let (key, key_key) = match (&self.key, &self.key_file) {
            (Some(pem), _) => (pem.clone().into_bytes(), format!("{path}.key")),
            (None, Some(file)) => {
                let key = format!("{path}.key_file");
                (read_file(&key, file)?, key)
            }
            (None, None) => {
                return Err(ConfigError::invalid(
                    format!("{path}.key"),
                    "one of `key` or `key_file` is required",
                ));
            }
        };
        let password = match (&self.password, &self.password_file) {
            (Some(password), _) => Some(password.clone().into_bytes()),
            (None, Some(file)) => Some(strip_line_ending(read_file(
                &format!("{path}.password_file"),
                file,
            )?)),
            (None, None) => None,
        };
        Ok(LoadedTls {
            certificate,
            certificate_key,
            key,
            key_key,
            password,
        })
    }
}

impl fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsConfig")
            .field("certificate", &self.certificate)
            .field("certificate_file", &self.certificate_file)
            .field("key", &Redacted(&self.key))
            .field("key_file", &self.key_file)
            .field("password", &Redacted(&self.password))
            .field("password_file", &self.password_file)
            .finish()
    }
}
