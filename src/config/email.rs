//! The `email` section: sender addresses and the outgoing mail transport.
//!
//! As in MAS, the transport options sit next to `transport` rather than under it:
//!
//! ```yaml
//! email:
//!   from: '"Authentication Service" <auth@example.com>'
//!   transport: smtp
//!   mode: starttls
//!   hostname: smtp.example.com
//!   port: 587
//! ```
//!
//! [`EmailConfig::transport`] turns the flat keys into a typed [`EmailTransport`].

use std::fmt;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::ConfigError;
use super::util::{Redacted, check_exclusive, read_trimmed_string};

const DEFAULT_FROM: &str = "\"Authentication Service\" <root@localhost>";
const DEFAULT_SENDMAIL_COMMAND: &str = "sendmail";

/// `email.transport`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EmailTransportKind {
    /// Drop every email.
    #[default]
    Blackhole,
    Smtp,
    Sendmail,
}

/// `email.mode` (SMTP only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpMode {
    /// No TLS at all.
    Plain,
    /// Implicit TLS.
    Tls,
    /// Plain connection upgraded with STARTTLS.
    Starttls,
}

/// `email`.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct EmailConfig {
    pub from: String,
    pub reply_to: String,
    pub transport: EmailTransportKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<SmtpMode>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password_file: Option<PathBuf>,
    /// The sendmail binary; `sendmail` when unset.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
}

impl Default for EmailConfig {
    fn default() -> Self {
        Self {
            from: DEFAULT_FROM.to_owned(),
            reply_to: DEFAULT_FROM.to_owned(),
            transport: EmailTransportKind::Blackhole,
            mode: None,
            hostname: None,
            port: None,
            username: None,
            password: None,
            password_file: None,
            command: None,
        }
    }
}

/// The typed transport built by [`EmailConfig::transport`].
#[derive(Clone, PartialEq, Eq)]
pub enum EmailTransport {
    Blackhole,
    Smtp {
        mode: SmtpMode,
        hostname: String,
        /// `None`: the default port of `mode`.
        port: Option<u16>,
        /// Username and password, when authentication is configured.
        credentials: Option<(String, String)>,
    },
    Sendmail {
        command: String,
    },
}

impl EmailConfig {
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        check_exclusive(
            "email",
            ("password", self.password.is_some()),
            ("password_file", self.password_file.is_some()),
            false,
        )?;
        if self.transport == EmailTransportKind::Smtp {
            if self.mode.is_none() {
                return Err(ConfigError::invalid(
                    "email.mode",
                    "required with `transport: smtp` (plain, tls or starttls)",
                ));
            }
            if self.hostname.as_deref().is_none_or(str::is_empty) {
                return Err(ConfigError::invalid(
                    "email.hostname",
                    "required with `transport: smtp`",
                ));
            }
            let has_password = self.password.is_some() || self.password_file.is_some();
            if self.username.is_some() != has_password {
                return Err(ConfigError::invalid(
                    "email.username",
                    "`username` and `password` must be set together",
                ));
            }
        }
        Ok(())
    }

    /// The configured transport, reading `password_file` when needed.
    pub fn transport(&self) -> Result<EmailTransport, ConfigError> {
        match self.transport {
            EmailTransportKind::Blackhole => Ok(EmailTransport::Blackhole),
            EmailTransportKind::Sendmail => Ok(EmailTransport::Sendmail {
                command: self
                    .command
                    .clone()
                    .unwrap_or_else(|| DEFAULT_SENDMAIL_COMMAND.to_owned()),
            }),
            EmailTransportKind::Smtp => {
                let mode = self.mode.ok_or_else(|| {
                    ConfigError::invalid("email.mode", "required with `transport: smtp`")
                })?;
                let hostname = self.hostname.clone().ok_or_else(|| {
                    ConfigError::invalid("email.hostname", "required with `transport: smtp`")
                })?;
                let password = match (&self.password, &self.password_file) {
                    (Some(password), _) => Some(password.clone()),
                    (None, Some(file)) => Some(read_trimmed_string("email.password_file", file)?),
                    (None, None) => None,
                };
                let credentials = match (&self.username, password) {
                    (Some(username), Some(password)) => Some((username.clone(), password)),
                    _ => None,
                };
                Ok(EmailTransport::Smtp {
                    mode,
                    hostname,
                    port: self.port,
                    credentials,
                })
            }
        }
    }
}

impl fmt::Debug for EmailConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmailConfig")
            .field("from", &self.from)
            .field("reply_to", &self.reply_to)
            .field("transport", &self.transport)
            .field("mode", &self.mode)
            .field("hostname", &self.hostname)
            .field("port", &self.port)
            .field("username", &self.username)
            .field("password", &Redacted(&self.password))
            .field("password_file", &self.password_file)
            .field("command", &self.command)
            .finish()
    }
}

impl fmt::Debug for EmailTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Blackhole => f.write_str("Blackhole"),
            Self::Smtp {
                mode,
                hostname,
                port,
                credentials,
            } => f
                .debug_struct("Smtp")
                .field("mode", mode)
                .field("hostname", hostname)
                .field("port", port)
                .field(
                    "credentials",
                    &credentials
                        .as_ref()
                        .map(|(user, _)| (user, crate::domain::redact::Redacted)),
                )
                .finish(),
            Self::Sendmail { command } => f
                .debug_struct("Sendmail")
                .field("command", command)
                .finish(),
        }
    }
}
