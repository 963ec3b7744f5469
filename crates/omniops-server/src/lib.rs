//! The Omniops service as a library: `main` parses the command line and calls
//! [`launch_with_listener`]; tests call it with a listener on `127.0.0.1:0`.
//!
//! Layout: `ingest/` (queue and batch writer), `queries/` (the one query layer),
//! `api/` (JSON routes), `pages/` (the dashboard), `jobs/` (background work), `auth`
//! (keys and access).

pub mod alerting;
pub mod api;
pub mod auth;
pub mod commands;
pub mod error;
pub mod guard;
pub mod import;
pub mod ingest;
pub mod jobs;
pub mod live;
pub mod metrics;
pub mod outbound;
pub mod pages;
pub mod queries;
pub mod request;
pub mod routes;
pub mod settings;
pub mod state;
pub mod transport;
pub mod woocommerce;

pub use settings::{Secret, Settings, SettingsLayer};

use axum::extract::{MatchedPath, Request};
use axum::Router;
use omniops_core::clock::{Clock, SystemClock};
use omniops_store::Store;
use state::AppState;
use std::future::Future;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower_http::trace::TraceLayer;

/// Opens the configured store and serves on `listener` until `shutdown` completes.
pub async fn launch_with_listener(
    settings: Settings,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    launch_with_clock(settings, listener, shutdown, Arc::new(SystemClock)).await
}

/// As [`launch_with_listener`], reading time from `clock` (tests move it by hand).
pub async fn launch_with_clock(
    settings: Settings,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<()> {
    // On SQLite, commands that write directly can tell that this server uses the database.
    let _lock = commands::lock_data_dir(&settings, "another omniops server is running")?;
    let store = settings.open_store().await?;
    serve(store, settings, listener, shutdown, clock).await
}

/// Refuses to serve without keys on anything but loopback: an open server must not be
/// reachable from the network.
pub async fn check_access(store: &Store, listener: &TcpListener) -> anyhow::Result<()> {
    let local = listener.local_addr()?;
    if store.count_active_keys().await? == 0 {
        if !local.ip().is_loopback() {
            anyhow::bail!(
                "refusing to listen on {local} without an API key: anyone on the network could read and write. \
                 Create one with `omniops keys create --scope admin`, or bind 127.0.0.1"
            );
        }
        tracing::warn!(%local, "no API key configured: answering every request (loopback only)");
    }
    Ok(())
}

pub async fn serve(
    store: Store,
    settings: Settings,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<()> {
    check_access(&store, &listener).await?;
    let backend = store.backend().name();
    let (queue, receiver) = ingest::IngestQueue::new(settings.queue_capacity);
    let state = AppState::new(store, settings, clock, queue, listener.local_addr().ok());
    api::config::load_retention_override(&state).await?;

    let stop = CancellationToken::new();
    let writer = ingest::spawn_writer(state.clone(), receiver, stop.clone());
    let retention = tokio::spawn(jobs::retention::run(state.clone(), stop.clone()));
    let reaper = tokio::spawn(jobs::reaper::run(state.clone(), stop.clone()));
    let alerts = tokio::spawn(jobs::alerts::run(state.clone(), stop.clone()));
    let webhooks = tokio::spawn(jobs::webhooks::run(state.clone(), stop.clone()));
    let prices = tokio::spawn(jobs::prices::run(state.clone(), stop.clone()));
    let repricing = tokio::spawn(jobs::repricing::run(state.clone(), stop.clone()));
    let woocommerce = tokio::spawn(jobs::woocommerce::run(state.clone(), stop.clone()));
    let recount = state.clone();
    tokio::spawn(async move {
        if let Err(error) = queries::missing::recount_demand_once(&recount).await {
            tracing::error!(?error, "counting missing-product demand again failed");
        }
    });
    // Several instances on one PostgreSQL: other instances' live changes reach our stream.
    let (notifications, mut incoming) = tokio::sync::mpsc::channel::<String>(1024);
    let remote_live = state
        .store
        .listen(live::NOTIFY_CHANNEL, notifications)
        .then(|| {
            let state = state.clone();
            tokio::spawn(async move {
                while let Some(payload) = incoming.recv().await {
                    state.live.receive_remote(&payload, &state.generation);
                }
            })
        });
    let demo = state
        .settings
        .demo
        .then(|| tokio::spawn(jobs::demo::run(state.clone(), stop.clone())));

    let local = listener.local_addr()?;
    let fd_limit = transport::raise_fd_limit();
    let max_connections = transport::connection_cap(&state.settings, fd_limit);
    tracing::info!(%local, backend, max_connections, "omniops listening on http://{local}");
    let stopping = state.stopping.clone();
    let app = router(state.clone());
    let settings = state.settings.clone();
    transport::serve(listener, app, &settings, max_connections, async move {
        shutdown.await;
        // Live streams never end by themselves: end them so shutdown can finish.
        stopping.cancel();
    })
    .await;
    // In-flight requests have been answered; let the writer finish what is queued.
    stop.cancel();
    let _ = tokio::join!(
        writer,
        retention,
        reaper,
        alerts,
        webhooks,
        prices,
        repricing,
        woocommerce
    );
    if let Some(task) = remote_live {
        task.abort();
    }
    if let Some(demo) = demo {
        let _ = demo.await;
    }
    state.store.close().await;
    tracing::info!("omniops stopped");
    Ok(())
}

pub fn router(state: AppState) -> Router {
    routes::build(&state)
        .fallback(|| async { error::ApiError::NotFound("no such route".into()) })
        .method_not_allowed_fallback(|| async { error::ApiError::MethodNotAllowed })
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            metrics::track,
        ))
        .layer(tower_http::timeout::RequestBodyTimeoutLayer::new(
            std::time::Duration::from_millis(state.settings.body_timeout_ms),
        ))
        .layer(axum::middleware::from_fn_with_state(
            transport::BodyBudget::new(
                state.settings.body_bytes_in_flight,
                std::time::Duration::from_millis(state.settings.body_timeout_ms),
            ),
            transport::limit_bodies,
        ))
        .layer(tower_http::compression::CompressionLayer::new())
        .layer(axum::middleware::from_fn(security_headers))
        .layer(
            TraceLayer::new_for_http().make_span_with(|request: &Request| {
                let route = request
                    .extensions()
                    .get::<MatchedPath>()
                    .map_or("unmatched", MatchedPath::as_str);
                tracing::info_span!("request", method = %request.method(), route)
            }),
        )
        .with_state(state)
}

/// The content security policy: our own embedded scripts and styles only (no inline ones),
/// no framing, no plugins.
pub const CONTENT_SECURITY_POLICY: &str =
    "default-src 'self'; script-src 'self'; style-src 'self'; \
    img-src 'self' data:; connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; \
    form-action 'self'; frame-ancestors 'none'";

/// Middleware: headers every response carries — the policy above, no framing (also for
/// old browsers), no MIME sniffing, and no referrer sent to other sites.
async fn security_headers(
    request: Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::http::{header, HeaderValue};
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    for (name, value) in [
        (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "same-origin"),
    ] {
        headers
            .entry(name)
            .or_insert_with(|| HeaderValue::from_static(value));
    }
    response
}

/// `omniops export`: a dataset (see [`queries::export::DATASETS`]) written to `out`, the
/// same bytes as `GET /api/export/{dataset}` with these query parameters. Returns the
/// number of bytes written.
pub async fn export_to(
    settings: Settings,
    dataset: &str,
    params: request::Params,
    out: &mut (dyn std::io::Write + Send),
) -> anyhow::Result<u64> {
    use futures_util::StreamExt;
    let store = settings.open_store().await?;
    let (queue, _receiver) = ingest::IngestQueue::new(1);
    let state = AppState::new(store, settings, Arc::new(SystemClock), queue, None);
    let format = match params.get("format").map(String::as_str) {
        None => queries::export::Format::Csv,
        Some(text) => queries::export::Format::parse(text)
            .ok_or_else(|| anyhow::anyhow!("--format must be csv or json"))?,
    };
    let (window, filter) =
        api::sessions::filter_of(&params, &auth::Principal::default(), state.now())
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    let known: Vec<&str> = queries::export::DATASETS.iter().map(|(n, _)| *n).collect();
    let mut chunks = Box::pin(
        queries::export::export(state.clone(), dataset, window, filter, format).ok_or_else(
            || anyhow::anyhow!("no dataset `{dataset}`; one of: {}", known.join(", ")),
        )?,
    );
    let mut written = 0u64;
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk?;
        out.write_all(chunk.as_bytes())?;
        written += chunk.len() as u64;
    }
    out.flush()?;
    state.store.close().await;
    Ok(written)
}
