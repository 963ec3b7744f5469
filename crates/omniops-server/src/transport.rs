//! Serving HTTP with bounds a misbehaving client cannot push past: at most
//! `max_connections` open at once (more are closed at accept), request headers within
//! `header_timeout_ms`, a connection idle between requests closed after `idle_timeout_ms`,
//! request bodies that stall closed after `body_timeout_ms`, and at most
//! `body_bytes_in_flight` bytes of request bodies held across all connections (more: 503).

use crate::settings::Settings;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

/// File descriptors kept free for the database, log files and outbound calls.
const RESERVED_FDS: u64 = 256;

/// Raises the open-file limit to its hard maximum where the system allows; returns the soft
/// limit now in force.
pub fn raise_fd_limit() -> u64 {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => limit,
        Err(error) => {
            tracing::warn!(%error, "could not raise the open-file limit");
            rlimit::getrlimit(rlimit::Resource::NOFILE).map_or(1024, |(soft, _)| soft)
        }
    }
}

/// The connection cap: the setting, but below the open-file limit.
pub fn connection_cap(settings: &Settings, fd_limit: u64) -> usize {
    let room = usize::try_from(fd_limit.saturating_sub(RESERVED_FDS).max(16)).unwrap_or(usize::MAX);
    settings.max_connections.min(room)
}

/// Accepts connections on `listener` and serves `app` on each until `shutdown` resolves;
/// then stops accepting, lets every connection finish its request, and returns.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    settings: &Settings,
    max_connections: usize,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let slots = Arc::new(Semaphore::new(max_connections));
    let tracker = TaskTracker::new();
    let stop = CancellationToken::new();
    let stopping = stop.clone();
    tokio::spawn(async move {
        shutdown.await;
        stopping.cancel();
    });
    let header_timeout = Duration::from_millis(settings.header_timeout_ms);
    let idle_timeout = Duration::from_millis(settings.idle_timeout_ms);
    loop {
        let accepted = tokio::select! {
            () = stop.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(pair) => pair,
            Err(error) => {
                // Out of descriptors or the like: wait a little rather than spin.
                tracing::warn!(%error, "accepting a connection");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            // Over the cap: closed at once, so descriptors never run out.
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let stop = stop.clone();
        tracker.spawn(async move {
            serve_connection(stream, peer, app, header_timeout, idle_timeout, stop).await;
            drop(slot);
        });
    }
    tracker.close();
    tracker.wait().await;
}

/// What the idle watchdog of one connection knows: requests still in flight (until their
/// response body is done) and when the last one ended.
#[derive(Default)]
struct Activity {
    in_flight: AtomicUsize,
    last_micros: AtomicU64,
}

impl Activity {
    fn touch(&self, origin: Instant) {
        let micros = u64::try_from(origin.elapsed().as_micros()).unwrap_or(u64::MAX);
        self.last_micros.store(micros, Ordering::Relaxed);
    }
}

async fn serve_connection(
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    app: Router,
    header_timeout: Duration,
    idle_timeout: Duration,
    stop: CancellationToken,
) {
    let origin = Instant::now();
    let activity = Arc::new(Activity::default());
    let seen = activity.clone();
    let service =
        hyper::service::service_fn(move |mut request: hyper::Request<hyper::body::Incoming>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            seen.in_flight.fetch_add(1, Ordering::Relaxed);
            let guard = InFlight {
                activity: seen.clone(),
                origin,
            };
            let app = app.clone();
            async move {
                let response = app.oneshot(request.map(Body::new)).await?;
                // The request counts as in flight until its body (an SSE stream, a download)
                // is done.
                Ok::<_, std::convert::Infallible>(response.map(|body| {
                    Body::new(Guarded {
                        body,
                        _guard: guard,
                    })
                }))
            }
        });
    let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout)
        .keep_alive(true);
    let connection = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
    tokio::pin!(connection);
    let mut watchdog = tokio::time::interval(idle_timeout / 4);
    let mut closing = false;
    loop {
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(error) = result {
                    tracing::debug!(%error, %peer, "connection ended");
                }
                return;
            }
            () = stop.cancelled(), if !closing => {
                closing = true;
                connection.as_mut().graceful_shutdown();
            }
            _ = watchdog.tick(), if !closing => {
                let idle_since = Duration::from_micros(activity.last_micros.load(Ordering::Relaxed));
                let idle = origin.elapsed().saturating_sub(idle_since);
                if activity.in_flight.load(Ordering::Relaxed) == 0 && idle >= idle_timeout {
                    closing = true;
                    connection.as_mut().graceful_shutdown();
                }
            }
        }
    }
}

/// Marks a request done when dropped (with its response body).
struct InFlight {
    activity: Arc<Activity>,
    origin: Instant,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.activity.touch(self.origin);
        self.activity.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A response body that holds its request's [`InFlight`] until it is done.
struct Guarded {
    body: Body,
    _guard: InFlight,
}

impl http_body::Body for Guarded {
    type Data = axum::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

/// The largest body any route takes (the price import); a request with a body but no
/// `Content-Length` reserves this much.
pub const MAX_REQUEST_BODY: usize = 32 * 1024 * 1024;

/// The budget of request-body bytes held at once, across all connections, and how long a
/// refused body is read (to be dropped) before the answer.
#[derive(Clone)]
pub struct BodyBudget(Arc<Semaphore>, usize, Duration);

impl BodyBudget {
    pub fn new(bytes: usize, drain_for: Duration) -> Self {
        BodyBudget(
            Arc::new(Semaphore::new(bytes.min(Semaphore::MAX_PERMITS))),
            bytes,
            drain_for,
        )
    }
}

/// Middleware: a request with a body first reserves its size from the budget and holds it
/// until answered; when the budget is spent it gets 503 with `Retry-After` at once, so
/// memory stays bounded however many clients upload together.
pub async fn limit_bodies(
    axum::extract::State(budget): axum::extract::State<BodyBudget>,
    request: Request,
    next: Next,
) -> Response {
    let method = request.method();
    if method == axum::http::Method::GET || method == axum::http::Method::HEAD {
        return next.run(request).await;
    }
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    let wanted = declared
        .unwrap_or(MAX_REQUEST_BODY)
        .min(MAX_REQUEST_BODY)
        .min(budget.1);
    if wanted == 0 {
        return next.run(request).await;
    }
    let permits = u32::try_from(wanted).unwrap_or(u32::MAX);
    let Ok(_reserved) = budget.0.clone().try_acquire_many_owned(permits) else {
        // Read and drop the body first, chunk by chunk (nothing is kept): a client still
        // sending when the connection closed would not see the answer.
        drain(request.into_body(), budget.2).await;
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::RETRY_AFTER, "1")],
            axum::Json(serde_json::json!({
                "error": "too many request bodies in flight; retry shortly",
                "field": "body"
            })),
        )
            .into_response();
    };
    next.run(request).await
}

/// Reads and discards a body, for at most `limit`.
async fn drain(body: Body, limit: Duration) {
    use futures_util::StreamExt;
    let mut stream = body.into_data_stream();
    let _ = tokio::time::timeout(limit, async {
        while let Some(Ok(_)) = stream.next().await {}
    })
    .await;
}
