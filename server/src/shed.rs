//! Load shedding: at most `max_requests` requests in progress and at most `max_body_bytes` of
//! request bodies announced by those in progress; a request past either answers 503 with
//! `Retry-After` at once, instead of queueing until memory or latency give out. A body's size is
//! its `Content-Length` (a body without one counts as the largest body allowed). The permits are
//! held until the answer is ready (a streamed answer, such as the event stream, keeps none).

use std::convert::Infallible;
use std::future::{ready, Future, Ready};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::extract::Request;
use axum::http::header::{self, HeaderValue};
use axum::response::{IntoResponse, Response};
use futures_util::future::Either;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tower::{Layer, Service};

use crate::error::ApiError;

#[derive(Debug, Clone)]
pub struct ShedConfig {
    pub max_requests: usize,
    pub max_body_bytes: usize,
}

impl Default for ShedConfig {
    fn default() -> Self {
        Self {
            max_requests: 4096,
            max_body_bytes: 256 * 1024 * 1024,
        }
    }
}

/// The permits of one server.
#[derive(Debug)]
pub struct Limits {
    requests: Arc<Semaphore>,
    bytes: Arc<Semaphore>,
    config: ShedConfig,
}

impl Limits {
    pub fn new(config: ShedConfig) -> Arc<Self> {
        Arc::new(Self {
            requests: Arc::new(Semaphore::new(config.max_requests.max(1))),
            bytes: Arc::new(Semaphore::new(config.max_body_bytes.max(1))),
            config,
        })
    }

    /// Requests in progress now.
    pub fn requests_in_progress(&self) -> usize {
        self.config.max_requests.max(1) - self.requests.available_permits()
    }

    /// Body bytes held by the requests in progress.
    pub fn body_bytes_in_progress(&self) -> usize {
        self.config.max_body_bytes.max(1) - self.bytes.available_permits()
    }
}

#[derive(Debug, Clone)]
pub struct ShedLayer {
    limits: Arc<Limits>,
    /// The size a body without `Content-Length` is counted as.
    largest_body: usize,
}

impl ShedLayer {
    pub fn new(limits: Arc<Limits>, largest_body: usize) -> Self {
        let largest_body = largest_body.min(limits.config.max_body_bytes.max(1));
        Self {
            limits,
            largest_body,
        }
    }
}

impl<S> Layer<S> for ShedLayer {
    type Service = Shed<S>;

    fn layer(&self, inner: S) -> Shed<S> {
        Shed {
            inner,
            layer: self.clone(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Shed<S> {
    inner: S,
    layer: ShedLayer,
}

fn shed(message: String) -> Response {
    let mut r = ApiError::Unavailable {
        message,
        problems: Vec::new(),
    }
    .into_response();
    r.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    r
}

impl<S> Service<Request> for Shed<S>
where
    S: Service<Request, Response = Response, Error = Infallible>,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Either<Ready<Result<Response, Infallible>>, Holding<S::Future>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        let Ok(request) = Arc::clone(&self.layer.limits.requests).try_acquire_owned() else {
            return Either::Left(ready(Ok(shed(format!(
                "the server is at its limit of {} requests in progress; retry in a moment",
                self.layer.limits.config.max_requests
            )))));
        };
        let body_bytes = match req.headers().get(header::CONTENT_LENGTH) {
            Some(v) => v
                .to_str()
                .ok()
                .and_then(|v| v.parse::<usize>().ok())
                .unwrap_or(self.layer.largest_body),
            None if has_body(&req) => self.layer.largest_body,
            None => 0,
        }
        .min(self.layer.largest_body);
        let bytes = if body_bytes == 0 {
            None
        } else {
            let permits = u32::try_from(body_bytes).unwrap_or(u32::MAX);
            match Arc::clone(&self.layer.limits.bytes).try_acquire_many_owned(permits) {
                Ok(p) => Some(p),
                Err(_) => {
                    return Either::Left(ready(Ok(shed(format!(
                        "the server is holding its limit of {} MB of request bodies; retry in a \
                         moment",
                        self.layer.limits.config.max_body_bytes / (1024 * 1024)
                    )))))
                }
            }
        };
        Either::Right(Holding {
            answer: self.inner.call(req),
            permits: Some((request, bytes)),
        })
    }
}

pin_project_lite::pin_project! {
    /// The inner answer, holding the request's permits until it is ready (no boxing: this
    /// layer is on every request's path).
    pub struct Holding<F> {
        #[pin]
        answer: F,
        permits: Option<(OwnedSemaphorePermit, Option<OwnedSemaphorePermit>)>,
    }
}

impl<F: Future> Future for Holding<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let out = std::task::ready!(this.answer.poll(cx));
        this.permits.take();
        Poll::Ready(out)
    }
}

/// Whether a request without `Content-Length` may still carry a body (chunked).
fn has_body(req: &Request) -> bool {
    req.headers().contains_key(header::TRANSFER_ENCODING)
}
