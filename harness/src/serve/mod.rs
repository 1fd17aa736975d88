//! `splitbrain serve`: browse the store over HTTP.
//!
//! * `/` lists the runs newest first, with what a test engineer scans for (time, test, system,
//!   seed, duration, nemesis, each checker's verdict), filtered by `?verdict=` and `?test=`, a
//!   page of [`pages::PAGE_SIZE`] at a time (`?page=`), from an [`index::Index`] kept in memory;
//! * `/run/<test>/<timestamp>/` lists a run's files; `/run/<test>/<timestamp>/<file>` serves one,
//!   streamed from disk, with HEAD, byte ranges and conditional requests;
//! * `/zip/<test>/<timestamp>` downloads the run as a zip, compressed while it is sent;
//! * any other path is a file of the store by its path in it (a merged campaign's
//!   `campaign.html`, and the run reports it links to).
//!
//! Pages are gzip-compressed for clients that accept it; files are sent as they are stored (so
//! a byte range or a validator always means the same bytes), with `X-Content-Type-Options:
//! nosniff`. At most [`CONCURRENCY`] requests are answered at once and [`files::ZIPS_AT_ONCE`]
//! zips written at once (more get 503).
//! Nothing outside the store is ever served: every path is resolved and must stay inside it.

pub mod files;
pub mod index;
pub mod pages;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use tokio::sync::Semaphore;
use tower::ServiceExt as _;
use tower::limit::GlobalConcurrencyLimitLayer;
use tower_http::compression::CompressionLayer;
use tower_http::services::ServeFile;
use tower_http::set_header::SetResponseHeaderLayer;

use crate::error::Error;
use index::Index;

/// How often the index looks for new and finished runs.
pub const REFRESH: Duration = Duration::from_secs(2);

/// Requests answered at once; more wait their turn.
pub const CONCURRENCY: usize = 64;

/// Serves `store` on `listener` until the process ends: scans the store first, then keeps the
/// index up to date every [`REFRESH`].
pub async fn serve(store: PathBuf, listener: tokio::net::TcpListener) -> Result<(), Error> {
    let root = store.canonicalize().map_err(|e| Error::file(&store, e))?;
    let scanned = root.clone();
    let index = Arc::new(
        tokio::task::spawn_blocking(move || Index::scan(scanned))
            .await
            .expect("the store's scan does not panic"),
    );
    let refreshed = index.clone();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(REFRESH).await;
            let index = refreshed.clone();
            let _ = tokio::task::spawn_blocking(move || index.refresh()).await;
        }
    });
    let address = listener.local_addr().ok();
    axum::serve(listener, router(root, index)).await.map_err(|e| Error::Serve { address, source: e })
}

/// The routes over the store at `root` (canonical) and its `index`.
pub fn router(root: PathBuf, index: Arc<Index>) -> Router {
    let pages = Router::new()
        .route("/", get(runs))
        .route("/run/{test}/{stamp}", get(run))
        .route("/run/{test}/{stamp}/", get(run))
        .layer(CompressionLayer::new());
    let state = Served { root: Arc::new(root), index, zips: Arc::new(Semaphore::new(files::ZIPS_AT_ONCE)) };
    Router::new()
        .route("/run/{test}/{stamp}/{*file}", get(file))
        .route("/zip/{test}/{stamp}", get(zip))
        .merge(pages)
        .fallback(stored)
        .with_state(state)
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(GlobalConcurrencyLimitLayer::new(CONCURRENCY))
}

#[derive(Clone)]
struct Served {
    root: Arc<PathBuf>,
    index: Arc<Index>,
    /// Zips being written.
    zips: Arc<Semaphore>,
}

fn not_found(what: &'static str) -> Response {
    (StatusCode::NOT_FOUND, what).into_response()
}

async fn runs(State(served): State<Served>, Query(filter): Query<pages::Filter>) -> Response {
    if let Err(problem) = filter.validate() {
        return (StatusCode::BAD_REQUEST, problem).into_response();
    }
    let campaign = served.root.join("campaign.html").is_file();
    Html(pages::index(&served.index.runs(), &filter, campaign)).into_response()
}

async fn run(State(served): State<Served>, Path((test, stamp)): Path<(String, String)>) -> Response {
    match files::resolve(&served.root, [test.as_str(), stamp.as_str()]).filter(|d| d.is_dir()) {
        Some(dir) => Html(pages::run(&test, &stamp, &files::list(&dir))).into_response(),
        None => not_found("no such run"),
    }
}

async fn file(
    State(served): State<Served>,
    Path((test, stamp, file)): Path<(String, String, String)>,
    request: Request,
) -> Response {
    let names = [test.as_str(), stamp.as_str()].into_iter().chain(file.split('/'));
    let Some(path) = files::resolve(&served.root, names).filter(|f| f.is_file()) else {
        return not_found("no such file");
    };
    send(&path, request).await
}

/// Any other path names a file of the store by its path in it: a merged campaign's
/// `campaign.html` and the runs' reports it links to relatively.
async fn stored(State(served): State<Served>, request: Request) -> Response {
    let decoded: Option<Vec<String>> = request
        .uri()
        .path()
        .split('/')
        .skip(1)
        .map(|name| percent_encoding::percent_decode_str(name).decode_utf8().ok().map(String::from))
        .collect();
    let found = decoded.and_then(|names| files::resolve(&served.root, names.iter().map(String::as_str)));
    match found.filter(|f| f.is_file()) {
        Some(path) => send(&path, request).await,
        None => not_found("not found"),
    }
}

/// The stored file at `path`, as `request` asks for it (whole, a range, or only its head).
async fn send(path: &std::path::Path, request: Request) -> Response {
    let mime = files::content_type(path).parse().expect("our content types parse");
    match ServeFile::new_with_mime(path, &mime).oneshot(request).await {
        Ok(response) => response.into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

async fn zip(
    State(served): State<Served>,
    Path((test, stamp)): Path<(String, String)>,
    method: Method,
) -> Response {
    let Some(dir) = files::resolve(&served.root, [test.as_str(), stamp.as_str()]).filter(|d| d.is_dir())
    else {
        return not_found("no such run");
    };
    let name = format!("{test}-{stamp}");
    if method == Method::HEAD {
        return files::zip_head(&name);
    }
    match served.zips.clone().try_acquire_owned() {
        Ok(permit) => files::zip(dir, &name, permit),
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("{} zips are being written; try again when one is done", files::ZIPS_AT_ONCE),
        )
            .into_response(),
    }
}
