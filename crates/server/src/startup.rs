//! Builds the application (routes, middleware, state) and serves it on a listener it is handed.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::sensitive_headers::SetSensitiveHeadersLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::error::ApiError;
use crate::state::AppState;
use crate::{api, jobs, web};

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Every route of the server with its middleware.
pub fn app(state: AppState) -> Router {
    let (api_routes, doc) = api::router();
    let routes = api::with_openapi_route(api_routes, doc)
        .route("/metrics", get(api::ops::metrics))
        .merge(web::router())
        .merge(crate::signaling::router())
        .fallback(not_found);
    let timeout = Duration::from_secs(state.config.request_timeout_seconds);
    routes
        .layer(DefaultBodyLimit::max(state.config.max_body_bytes))
        .layer(middleware::from_fn_with_state(state.clone(), security_headers))
        .layer(middleware::from_fn_with_state(state.clone(), observe))
        .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, timeout))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(TraceLayer::new_for_http().make_span_with(|request: &Request| {
            // Method, path and request id only: paths carry ids, never patient data.
            let id = request.headers().get(REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or("");
            tracing::info_span!("request", method = %request.method(), path = %request.uri().path(), request_id = %id)
        }))
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
        .layer(SetSensitiveHeadersLayer::new([header::AUTHORIZATION, header::COOKIE, header::SET_COOKIE]))
        .with_state(state)
}

async fn not_found(request: Request) -> Response {
    let path = request.uri().path();
    if path.starts_with("/api/") || path.starts_with("/oauth/") {
        ApiError::not_found("route").into_response()
    } else {
        web::not_found_page().into_response()
    }
}

async fn observe(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let response = next.run(request).await;
    state
        .metrics
        .observe(response.status().as_u16(), started.elapsed());
    response
}

/// Headers that make every page safe by default: no inline script, no framing, no sniffing.
async fn security_headers(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    let csp = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
               connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'";
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(csp),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(
        HeaderName::from_static("permissions-policy"),
        HeaderValue::from_static("camera=(self), microphone=(self), geolocation=()"),
    );
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    if state.config.tls() {
        headers.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=63072000; includeSubDomains"),
        );
    }
    response
}

/// With PostgreSQL, joins the other servers sharing the database so that visits' live messages
/// reach participants connected to any of them. With SQLite there is one server: nothing to do.
pub async fn start_relay(state: &AppState, database_url: &str) -> anyhow::Result<()> {
    if database_url.starts_with("postgres://") || database_url.starts_with("postgresql://") {
        let heartbeat = Duration::from_secs(state.config.live_heartbeat_seconds);
        relay_through_postgres(&state.hub, heartbeat, database_url)
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen for other servers' live messages: {e}"))?;
    }
    Ok(())
}

/// The relay's transport: one connection publishes the hub's messages in order (`NOTIFY`),
/// another listens for everyone's; both reconnect after a loss.
async fn relay_through_postgres(
    hub: &Arc<crate::signaling::hub::Hub>,
    heartbeat: Duration,
    url: &str,
) -> Result<(), store::relay::Error> {
    use store::relay::{RelayPublisher, RelaySubscriber};
    let mut publisher = RelayPublisher::connect(url).await?;
    let mut subscriber = RelaySubscriber::connect(url).await?;
    let (link, mut queued) = crate::signaling::relay::attach(hub, heartbeat);
    let publishing_url = url.to_string();
    tokio::spawn(async move {
        while let Some(payload) = queued.recv().await {
            while let Err(e) = publisher.publish(&payload).await {
                tracing::warn!(error = %e, "relay: publishing failed; reconnecting");
                tokio::time::sleep(Duration::from_millis(500)).await;
                match RelayPublisher::connect(&publishing_url).await {
                    Ok(fresh) => publisher = fresh,
                    Err(e) => tracing::warn!(error = %e, "relay: reconnecting failed"),
                }
            }
        }
    });
    tokio::spawn(async move {
        loop {
            match subscriber.recv().await {
                Ok(payload) => link.receive(&payload),
                Err(e) => {
                    tracing::warn!(error = %e, "relay: listening failed; retrying");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }
        }
    });
    tracing::info!(
        node = hub.node(),
        "relaying live messages through PostgreSQL"
    );
    Ok(())
}

/// Serves the app on `listener` until ctrl-c; TLS when the configuration names a certificate and key.
pub async fn serve(listener: std::net::TcpListener, state: AppState) -> anyhow::Result<()> {
    let jobs = tokio::spawn(jobs::run_forever(state.clone()));
    let tls = match (&state.config.tls_cert, &state.config.tls_key) {
        (Some(cert), Some(key)) => Some((cert.clone(), key.clone())),
        _ => None,
    };
    let limits = crate::connections::Limits::new(
        state.config.max_connections_per_address,
        Duration::from_secs(state.config.idle_connection_seconds),
    );
    let header_timeout = Duration::from_secs(state.config.header_timeout_seconds);
    let app = app(state).into_make_service_with_connect_info::<SocketAddr>();
    let handle = axum_server::Handle::new();
    let shutdown = handle.clone();
    tokio::spawn(async move {
        let _ = tokio::signal::ctrl_c().await;
        shutdown.graceful_shutdown(Some(Duration::from_secs(10)));
    });
    listener.set_nonblocking(true)?;
    let result = match tls {
        Some((cert, key)) => {
            let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
            let config = axum_server::tls_rustls::RustlsConfig::from_pem_file(cert, key).await?;
            let tls = axum_server::tls_rustls::RustlsAcceptor::new(config).acceptor(limits);
            limited(
                axum_server::from_tcp(listener)?.acceptor(tls),
                header_timeout,
            )
            .handle(handle)
            .serve(app)
            .await
        }
        None => {
            limited(
                axum_server::from_tcp(listener)?.acceptor(limits),
                header_timeout,
            )
            .handle(handle)
            .serve(app)
            .await
        }
    };
    jobs.abort();
    Ok(result?)
}

/// Bounds how long a connection may take to say what it wants: the first request (which also
/// covers protocol detection, before hyper's own timer runs), each request's headers, and the
/// wait for the next request on a kept-alive connection (hyper runs the header timer from the
/// moment it waits for a request). Accept failures (out of file descriptors) are logged.
fn limited<A>(
    mut server: axum_server::Server<SocketAddr, A>,
    header_timeout: Duration,
) -> axum_server::Server<SocketAddr, A> {
    server
        .http_builder()
        .http1()
        .header_read_timeout(header_timeout);
    server
        .first_request_timeout(header_timeout)
        .accept_error_handler(|peer, e| match peer {
            // Refusals by the per-address cap are logged where they are decided.
            Some(_) => tracing::debug!(error = %e, "connection not accepted"),
            None => tracing::warn!(error = %e, "cannot accept connections"),
        })
}

/// Starts the server in the background on an ephemeral port; for tests and benchmarks.
pub async fn spawn(state: AppState) -> anyhow::Result<SocketAddr> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        if let Err(e) = serve(listener, state).await {
            tracing::error!(error = %e, "server stopped");
        }
    });
    Ok(addr)
}

/// Shared by tests: the state over a store with the system clock.
pub fn state_for(store: Arc<dyn domain::Store>, config: crate::config::ServeConfig) -> AppState {
    let sealer = Arc::new(crate::auth::sealed::Sealer::random());
    AppState::new(store, Arc::new(domain::SystemClock), config, sealer)
}
