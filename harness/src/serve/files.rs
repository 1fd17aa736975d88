//! A run's files as `serve` hands them out: paths resolved strictly inside the store, files
//! streamed from disk (with HEAD, ranges and conditional requests), and the run as a zip written
//! while it is sent.

use std::io::Write as _;
use std::path::{Component, Path, PathBuf};

use axum::body::Body;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use tokio_util::io::{ReaderStream, SyncIoBridge};

use crate::error::Error;

/// `base` joined with `parts` (each of which may hold `/`-separated names), when every name is a
/// plain one and the real path, symbolic links resolved, is still inside `base` (canonical).
pub fn resolve(base: &Path, parts: &[&str]) -> Option<PathBuf> {
    let mut path = base.to_path_buf();
    for name in parts.iter().flat_map(|p| p.split('/')) {
        let mut components = Path::new(name).components();
        match (components.next(), components.next()) {
            (Some(Component::Normal(plain)), None) if !name.contains('\\') => path.push(plain),
            _ => return None,
        }
    }
    let real = path.canonicalize().ok()?;
    real.starts_with(base).then_some(real)
}

/// The content type a stored file is served with: the store's text files open in the browser.
pub fn content_type(file: &Path) -> &'static str {
    match file.extension().and_then(|e| e.to_str()) {
        Some("html") => "text/html; charset=utf-8",
        Some("json") => "application/json",
        Some("xml") => "application/xml",
        Some("svg") => "image/svg+xml",
        Some("zip") => "application/zip",
        Some("gz") => "application/gzip",
        _ => "text/plain; charset=utf-8",
    }
}

/// A stored file of a run, relative to the run, with its size.
pub struct Listed {
    /// `name` or `folder/name` (one level of folders: the node logs).
    pub name: String,
    /// Bytes.
    pub size: u64,
}

/// The files of `run`, by name; symbolic links are left out, as [`resolve`] would refuse most.
pub fn list(run: &Path) -> Vec<Listed> {
    let entries = |dir: &Path| -> Vec<std::fs::DirEntry> {
        std::fs::read_dir(dir).into_iter().flatten().flatten().collect()
    };
    let mut out = Vec::new();
    for entry in entries(run) {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Ok(kind) = entry.file_type() else { continue };
        if kind.is_dir() {
            for inner in entries(&entry.path()) {
                if let Some(meta) = inner.metadata().ok().filter(|m| m.is_file()) {
                    out.push(Listed {
                        name: format!("{name}/{}", inner.file_name().to_string_lossy()),
                        size: meta.len(),
                    });
                }
            }
        } else if kind.is_file() {
            out.push(Listed { name, size: entry.metadata().map_or(0, |m| m.len()) });
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// The run in `dir` as a zip named `name.zip`, compressed while it is sent: memory stays a few
/// buffers whatever the size of the run's files. A file that cannot be read ends the download
/// early (the client sees a truncated archive) and is logged.
pub fn zip(dir: PathBuf, name: &str) -> Response {
    let (reader, writer) = tokio::io::duplex(256 << 10);
    tokio::task::spawn_blocking(move || {
        if let Err(e) = write_zip(&dir, SyncIoBridge::new(writer)) {
            tracing::warn!("zip of {}: {}", dir.display(), crate::error::chain(&e));
        }
    });
    let disposition = format!("attachment; filename=\"{}.zip\"", name.replace(['"', '\\'], "_"));
    let mut response = Body::from_stream(ReaderStream::new(reader)).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/zip"));
    if let Ok(value) = HeaderValue::from_str(&disposition) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    response
}

fn write_zip(dir: &Path, out: impl std::io::Write) -> Result<(), Error> {
    let mut writer = zip::ZipWriter::new_stream(out);
    let failed = |e: zip::result::ZipError| Error::file(dir, e);
    for file in list(dir) {
        let path = dir.join(&file.name);
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .large_file(file.size >= u64::from(u32::MAX));
        writer.start_file(file.name.as_str(), options).map_err(failed)?;
        let mut input = std::fs::File::open(&path).map_err(|e| Error::file(&path, e))?;
        std::io::copy(&mut input, &mut writer).map_err(|e| Error::file(&path, e))?;
    }
    writer.finish().map_err(failed)?.flush().map_err(|e| Error::file(dir, e))
}
