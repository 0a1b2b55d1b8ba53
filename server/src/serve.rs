//! The accept loop: plain HTTP/1.1 or TLS (rustls) connections served by hyper with the axum
//! application, each connection knowing its peer's address (for the key-guessing throttle and
//! the stream caps). A request's headers must arrive within a timeout ([`HEADER_READ_TIMEOUT`]
//! by default; a client that sends half a request is disconnected instead of holding a file
//! descriptor forever), and so must a TLS handshake; a client that stops reading its answer is
//! disconnected after [`crate::write_deadline::WRITE_TIMEOUT`]. Shutdown stops accepting,
//! lets requests in flight finish and closes idle connections.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio_rustls::rustls;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

use crate::write_deadline::WriteDeadline;

/// Longest wait for a request's headers (and for a TLS handshake).
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest wait for requests in flight at shutdown.
const DRAIN: Duration = Duration::from_secs(30);

/// A certificate chain and its private key for HTTPS.
#[derive(Clone)]
pub struct Tls(Arc<rustls::ServerConfig>);

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Tls(..)")
    }
}

impl Tls {
    /// Reads a PEM certificate chain and a PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub fn from_pem_files(cert: &Path, key: &Path) -> Result<Self, String> {
        use rustls_pki_types::pem::PemObject;
        use rustls_pki_types::{CertificateDer, PrivateKeyDer};
        for (flag, file) in [("--tls-cert", cert), ("--tls-key", key)] {
            std::fs::metadata(file).map_err(|e| format!("{flag} {}: {e}", file.display()))?;
        }
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
            .map_err(|e| format!("--tls-cert {}: {e}", cert.display()))?
            .collect::<Result<_, _>>()
            .map_err(|e| format!("--tls-cert {}: {e}", cert.display()))?;
        if certs.is_empty() {
            return Err(format!(
                "--tls-cert {}: no PEM certificate (`-----BEGIN CERTIFICATE-----`) in it",
                cert.display()
            ));
        }
        let key = PrivateKeyDer::from_pem_file(key).map_err(|e| {
            format!(
                "--tls-key {}: no PEM private key in it ({e})",
                key.display()
            )
        })?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS: {e}"))?
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .map_err(|e| format!("--tls-cert/--tls-key: {e}"))?;
        Ok(Self(Arc::new(config)))
    }
}

/// How long a connection may keep the server waiting.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// For a request's headers, and for a TLS handshake.
    pub header_read: Duration,
    /// For the client to read what the server writes ([`crate::write_deadline`]).
    pub write: Duration,
}

/// Serves `app` on `listener` until `shutdown` resolves, then drains.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    tls: Option<Tls>,
    timeouts: Timeouts,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let header_timeout = timeouts.header_read;
    let acceptor = tls.map(|t| TlsAcceptor::from(t.0));
    let graceful = GracefulShutdown::new();
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout);
    let builder = Arc::new(builder);
    tokio::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(e) => {
                    // out of file descriptors, mostly: wait a little instead of spinning
                    tracing::warn!(error = %e, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = tcp.set_nodelay(true);
        let tcp = WriteDeadline::new(tcp, timeouts.write);
        let service = TowerToHyperService::new(app.clone().map_request(
            move |mut req: hyper::Request<hyper::body::Incoming>| {
                req.extensions_mut().insert(ConnectInfo(peer));
                req.map(axum::body::Body::new)
            },
        ));
        let builder = Arc::clone(&builder);
        let watcher = graceful.watcher();
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            match acceptor {
                None => {
                    let conn = builder.serve_connection(TokioIo::new(tcp), service);
                    let _ = watcher.watch(conn).await;
                }
                Some(acceptor) => {
                    let tls = match tokio::time::timeout(header_timeout, acceptor.accept(tcp)).await
                    {
                        Ok(Ok(tls)) => tls,
                        // a client that isn't speaking TLS, or too slowly: its problem alone
                        Ok(Err(e)) => return tracing::debug!(%peer, "TLS handshake failed: {e}"),
                        Err(_) => return tracing::debug!(%peer, "TLS handshake timed out"),
                    };
                    let conn = builder.serve_connection(TokioIo::new(tls), service);
                    let _ = watcher.watch(conn).await;
                }
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(DRAIN, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            after_seconds = DRAIN.as_secs(),
            "requests still in flight; stopping anyway"
        );
    }
    Ok(())
}

/// The address a connection came from, as handlers see it.
pub type Peer = ConnectInfo<SocketAddr>;
