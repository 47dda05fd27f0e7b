//! Refuse request bodies larger than `http.max_body_size` with 413, whether or not the client
//! declared a Content-Length (chunked bodies are counted as they arrive). Matrix paths get a
//! Matrix error body (`M_TOO_LARGE`), others a plain one.

use poem::{
    Body, Endpoint, IntoResponse, Middleware, Request, Response, Result,
    http::{StatusCode, header},
};

use super::matrix_error::MatrixError;

pub struct BodyLimit {
    max: usize,
}

impl BodyLimit {
    pub fn new(max: usize) -> Self {
        Self { max }
    }
}

impl<E: Endpoint> Middleware<E> for BodyLimit {
    type Output = BodyLimitEndpoint<E>;

    fn transform(&self, inner: E) -> Self::Output {
        BodyLimitEndpoint {
            inner,
            max: self.max,
        }
    }
}

pub struct BodyLimitEndpoint<E> {
    inner: E,
    max: usize,
}

fn too_large(req: &Request) -> Response {
    if req.uri().path().starts_with("/_matrix/") {
        MatrixError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "M_TOO_LARGE",
            "Request body too large.",
        )
        .into_response()
    } else {
        StatusCode::PAYLOAD_TOO_LARGE
            .with_body("request body too large")
            .into_response()
    }
}

impl<E: Endpoint> Endpoint for BodyLimitEndpoint<E> {
    type Output = Response;

    async fn call(&self, mut req: Request) -> Result<Response> {
        let declared = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|len| len > self.max as u64) {
            return Ok(too_large(&req));
        }
        // Bodies without a declared length are read here, up to the limit.
        if declared.is_none() && req.method() != poem::http::Method::GET {
            match req.take_body().into_bytes_limit(self.max).await {
                Ok(bytes) => req.set_body(Body::from(bytes)),
                Err(poem::error::ReadBodyError::PayloadTooLarge) => return Ok(too_large(&req)),
                Err(error) => return Err(error.into()),
            }
        }
        self.inner.call(req).await.map(IntoResponse::into_response)
    }
}
