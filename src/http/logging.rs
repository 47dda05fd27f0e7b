//! One log line per request: method, path (never the query string, which may carry
//! `access_token=`), status and latency. Successful requests log at `debug` (Synapse calls
//! introspection for every client request: an access log at `info` would dominate the output),
//! client errors at `info`, server errors at `warn`.

use std::time::Instant;

use poem::{Endpoint, IntoResponse, Middleware, Request, Response, Result};

pub struct RequestLog {
    listener: String,
}

impl RequestLog {
    pub fn new(listener: String) -> Self {
        Self { listener }
    }
}

impl<E: Endpoint> Middleware<E> for RequestLog {
    type Output = RequestLogEndpoint<E>;

    fn transform(&self, inner: E) -> Self::Output {
        RequestLogEndpoint {
            inner,
            listener: self.listener.clone(),
        }
    }
}

pub struct RequestLogEndpoint<E> {
    inner: E,
    listener: String,
}

impl<E: Endpoint> Endpoint for RequestLogEndpoint<E> {
    type Output = Response;

    async fn call(&self, req: Request) -> Result<Response> {
        let method = req.method().clone();
        // A clone of the URI shares its bytes: no copy of the path on every request.
        let uri = req.uri().clone();
        let started = Instant::now();
        let result = self.inner.call(req).await;
        let response = match result {
            Ok(output) => output.into_response(),
            Err(error) => error.into_response(),
        };
        let status = response.status().as_u16();
        let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
        let listener = &self.listener;
        let path = uri.path();
        match status {
            500.. => tracing::warn!(%listener, %method, %path, status, elapsed_ms, "request"),
            400..=499 => tracing::info!(%listener, %method, %path, status, elapsed_ms, "request"),
            _ => tracing::debug!(%listener, %method, %path, status, elapsed_ms, "request"),
        }
        Ok(response)
    }
}
