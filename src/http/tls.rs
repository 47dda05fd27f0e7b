//! TLS termination for listeners with `tls`: the certificate chain and key are loaded and checked
//! once at start-up (and by `config check`), and [`TlsAcceptor`] wraps a listener's sockets with
//! rustls on the *ring* provider: TLS 1.2 and 1.3, ALPN `h2` then `http/1.1`.

use std::{
    future::Future,
    io,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::Duration,
};

use poem::{
    http::uri::Scheme,
    listener::Acceptor,
    web::{LocalAddr, RemoteAddr},
};
use rustls::{
    ServerConfig,
    pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, pem::PemObject},
};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::{
    config::{ConfigError, TlsConfig},
    crypto::keys::parse_private_key,
};

/// A client that has not finished its handshake by then is dropped, so that idle connections do
/// not pile up before any HTTP timeout applies.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The rustls server configuration of a listener's `tls` section. `path` is that section's key
/// path (`http.listeners[0].tls`); every error names the key at fault.
pub fn server_config(tls: &TlsConfig, path: &str) -> Result<Arc<ServerConfig>, ConfigError> {
    let loaded = tls.load(path)?;
    let certificate_error =
        |message: String| ConfigError::invalid(loaded.certificate_key.clone(), message);
    let key_error = |message: String| ConfigError::invalid(loaded.key_key.clone(), message);

    let chain = CertificateDer::pem_slice_iter(&loaded.certificate)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| certificate_error(format!("not a PEM certificate chain: {e}")))?;
    if chain.is_empty() {
        return Err(certificate_error(
            "no `-----BEGIN CERTIFICATE-----` block found".to_owned(),
        ));
    }

    // The signing-key parser accepts every format MAS does for TLS keys too (PKCS#1, SEC1,
    // PKCS#8 plain or encrypted with the password); rustls gets the key as plain PKCS#8.
    let key = parse_private_key(&loaded.key, loaded.password.as_deref())
        .map_err(|e| key_error(e.to_string()))?;
    let key_der = key.to_pkcs8_der().map_err(|e| key_error(e.to_string()))?;
    let key_der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key_der.as_bytes().to_vec()));

    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| key_error(format!("TLS setup failed: {e}")))?
        .with_no_client_auth()
        // Also checks that the key is the one the end-entity certificate names.
        .with_single_cert(chain, key_der)
        .map_err(|e| match e {
            rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch) => {
                key_error(format!(
                    "the key does not match the certificate in `{}`",
                    loaded.certificate_key
                ))
            }
            rustls::Error::InvalidCertificate(e) => {
                certificate_error(format!("invalid certificate: {e}"))
            }
            other => key_error(format!("not usable for TLS: {other}")),
        })?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Wraps an acceptor (TCP, UNIX or both combined) so that every connection speaks TLS. The
/// handshake runs in the connection's own task, on its first read or write, so a slow client
/// never holds up accepting the next one. The peer address passes through unchanged, so the
/// client IP (`client_ip`) is still the TCP peer.
pub struct TlsAcceptor<A> {
    inner: A,
    tls: tokio_rustls::TlsAcceptor,
}

impl<A> TlsAcceptor<A> {
    pub fn new(inner: A, config: Arc<ServerConfig>) -> Self {
        Self {
            inner,
            tls: tokio_rustls::TlsAcceptor::from(config),
        }
    }
}

impl<A: Acceptor> Acceptor for TlsAcceptor<A> {
    type Io = TlsIo<A::Io>;

    fn local_addr(&self) -> Vec<LocalAddr> {
        self.inner.local_addr()
    }

    async fn accept(&mut self) -> io::Result<(Self::Io, LocalAddr, RemoteAddr, Scheme)> {
        let (io, local, remote, _) = self.inner.accept().await?;
        let handshake = self.tls.accept(io);
        let handshake = async move {
            tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake)
                .await
                .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "TLS handshake timed out"))?
        };
        Ok((
            TlsIo::Handshaking(Box::pin(handshake)),
            local,
            remote,
            Scheme::HTTPS,
        ))
    }
}

type Handshake<IO> =
    Pin<Box<dyn Future<Output = io::Result<tokio_rustls::server::TlsStream<IO>>> + Send>>;

/// A server-side TLS connection whose handshake completes on first use.
pub enum TlsIo<IO> {
    Handshaking(Handshake<IO>),
    Ready(Box<tokio_rustls::server::TlsStream<IO>>),
    Failed,
}

impl<IO: AsyncRead + AsyncWrite + Unpin> TlsIo<IO> {
    /// The established stream, driving the handshake first if needed.
    fn poll_stream(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<&mut tokio_rustls::server::TlsStream<IO>>> {
        if let Self::Handshaking(handshake) = self {
            match handshake.as_mut().poll(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Ok(stream)) => *self = Self::Ready(Box::new(stream)),
                Poll::Ready(Err(e)) => {
                    *self = Self::Failed;
                    return Poll::Ready(Err(e));
                }
            }
        }
        match self {
            Self::Ready(stream) => Poll::Ready(Ok(stream)),
            _ => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::NotConnected,
                "the TLS handshake failed",
            ))),
        }
    }
}

impl<IO: AsyncRead + AsyncWrite + Unpin> AsyncRead for TlsIo<IO> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut().poll_stream(cx) {
            Poll::Ready(Ok(stream)) => Pin::new(stream).poll_read(cx, buf),
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<IO: AsyncRead + AsyncWrite + Unpin> AsyncWrite for TlsIo<IO> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut().poll_stream(cx) {
            Poll::Ready(Ok(stream)) => Pin::new(stream).poll_write(cx, buf),
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut().poll_stream(cx) {
            Poll::Ready(Ok(stream)) => Pin::new(stream).poll_flush(cx),
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut().poll_stream(cx) {
            Poll::Ready(Ok(stream)) => Pin::new(stream).poll_shutdown(cx),
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
    }
}

#[cfg(test)]
mod tests {
    use pkcs8::{DecodePrivateKey, PrivateKeyInfo, der::pem::LineEnding};

    use super::*;

    const RSA_PKCS1: &str = include_str!("../crypto/testdata/rsa-pkcs1.pem");
    const K256_SEC1: &str = include_str!("../crypto/testdata/k256-sec1-with-params.pem");

    fn certificate_for(key: &rcgen::KeyPair) -> String {
        rcgen::CertificateParams::new(vec!["localhost".to_owned()])
            .expect("params")
            .self_signed(key)
            .expect("self-signed certificate")
            .pem()
    }

    fn inline(certificate: &str, key: &str, password: Option<&str>) -> TlsConfig {
        TlsConfig {
            certificate: Some(certificate.to_owned()),
            key: Some(key.to_owned()),
            password: password.map(str::to_owned),
            ..TlsConfig::default()
        }
    }

    /// Encrypted PKCS#8 PEM (PBKDF2 parameters keep the test fast).
    fn encrypt(pkcs8_der: &[u8], password: &str) -> String {
        let info = PrivateKeyInfo::try_from(pkcs8_der).expect("PKCS#8");
        let params =
            pkcs8::pkcs5::pbes2::Parameters::pbkdf2_sha256_aes256cbc(2048, b"saltsalt", &[7u8; 16])
                .expect("params");
        let encrypted = info
            .encrypt_with_params(params, password.as_bytes())
            .expect("encrypt");
        encrypted
            .to_pem("ENCRYPTED PRIVATE KEY", LineEnding::LF)
            .expect("PEM")
            .to_string()
    }

    fn error(config: &TlsConfig) -> String {
        match server_config(config, "http.listeners[0].tls") {
            Ok(_) => panic!("should have been refused"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn accepts_pkcs8_sec1_encrypted_pkcs8_and_pkcs1_keys() {
        let key = rcgen::KeyPair::generate().expect("P-256 key");
        let certificate = certificate_for(&key);
        let config =
            server_config(&inline(&certificate, &key.serialize_pem(), None), "t").expect("PKCS#8");
        assert_eq!(
            config.alpn_protocols,
            [b"h2".to_vec(), b"http/1.1".to_vec()]
        );

        let sec1 = p256::SecretKey::from_pkcs8_der(&key.serialize_der())
            .expect("P-256")
            .to_sec1_pem(LineEnding::LF)
            .expect("SEC1");
        server_config(&inline(&certificate, &sec1, None), "t").expect("SEC1");

        let encrypted = encrypt(&key.serialize_der(), "hunter2");
        server_config(&inline(&certificate, &encrypted, Some("hunter2")), "t")
            .expect("encrypted PKCS#8 with its password");

        // RSA, given as PKCS#1 (`RSA PRIVATE KEY`).
        let rsa = parse_private_key(RSA_PKCS1.as_bytes(), None).expect("RSA fixture");
        let rsa_der = rsa.to_pkcs8_der().expect("PKCS#8");
        let rsa_pair = rcgen::KeyPair::try_from(rsa_der.as_bytes()).expect("rcgen RSA key");
        server_config(&inline(&certificate_for(&rsa_pair), RSA_PKCS1, None), "t").expect("PKCS#1");
    }

    #[test]
    fn errors_name_the_key_at_fault() {
        let key = rcgen::KeyPair::generate().expect("key");
        let other = rcgen::KeyPair::generate().expect("other key");
        let certificate = certificate_for(&key);

        let mismatch = error(&inline(&certificate, &other.serialize_pem(), None));
        assert!(
            mismatch.starts_with("http.listeners[0].tls.key: the key does not match"),
            "{mismatch}"
        );

        let encrypted = encrypt(&key.serialize_der(), "right");
        let wrong = error(&inline(&certificate, &encrypted, Some("wrong")));
        assert!(
            wrong.starts_with("http.listeners[0].tls.key: could not decrypt"),
            "{wrong}"
        );
        let missing = error(&inline(&certificate, &encrypted, None));
        assert_eq!(
            missing,
            "http.listeners[0].tls.key: encrypted key needs a password"
        );

        let no_certificate = error(&inline("not PEM at all", &key.serialize_pem(), None));
        assert!(
            no_certificate.starts_with("http.listeners[0].tls.certificate: no"),
            "{no_certificate}"
        );
        let garbage = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        let bad_certificate = error(&inline(garbage, &key.serialize_pem(), None));
        assert!(
            bad_certificate.starts_with("http.listeners[0].tls.certificate: "),
            "{bad_certificate}"
        );

        // secp256k1 is a signing key Gatehouse reads, but not one TLS can use.
        let k256 = error(&inline(&certificate, K256_SEC1, None));
        assert!(
            k256.starts_with("http.listeners[0].tls.key: not usable for TLS"),
            "{k256}"
        );

        let files = TlsConfig {
            certificate_file: Some("/nonexistent/cert.pem".into()),
            key_file: Some("/nonexistent/key.pem".into()),
            ..TlsConfig::default()
        };
        let unreadable = error(&files);
        assert!(
            unreadable.starts_with("http.listeners[0].tls.certificate_file: could not read"),
            "{unreadable}"
        );
        let dir = tempfile::tempdir().expect("tempdir");
        let certificate_file = dir.path().join("cert.pem");
        std::fs::write(&certificate_file, &certificate).expect("write");
        let key_file = dir.path().join("key.pem");
        std::fs::write(&key_file, &encrypted).expect("write");
        let password_file = dir.path().join("password");
        std::fs::write(&password_file, "wrong\n").expect("write");
        let mut files = TlsConfig {
            certificate_file: Some(certificate_file),
            key_file: Some(key_file),
            password_file: Some(password_file.clone()),
            ..TlsConfig::default()
        };
        let wrong = error(&files);
        assert!(
            wrong.starts_with("http.listeners[0].tls.key_file: could not decrypt"),
            "{wrong}"
        );
        // A password file's trailing newline is not part of the password.
        std::fs::write(&password_file, "right\n").expect("write");
        server_config(&files, "t").expect("password from a file");
        files.password_file = Some(dir.path().join("absent"));
        let absent = error(&files);
        assert!(
            absent.starts_with("http.listeners[0].tls.password_file: could not read"),
            "{absent}"
        );
    }
}
