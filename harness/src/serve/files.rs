//! A run's files as `serve` hands them out: paths resolved strictly inside the store, files
//! streamed from disk (with HEAD, ranges and conditional requests), and the run as a zip written
//! while it is sent.

use std::io::Write as _;
use std::path::{Component, Path, PathBuf};

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use tokio::sync::{OwnedSemaphorePermit, mpsc};

use crate::error::Error;

/// `base` joined with `names`, when each is a plain name (no `/`, `\\`, `..`, `.` or empty one)
/// and the real path, symbolic links resolved, is still inside `base` (canonical). A symbolic link
/// that stays inside the store (such as `latest`) is followed.
pub fn resolve<'a>(base: &Path, names: impl IntoIterator<Item = &'a str>) -> Option<PathBuf> {
    let mut path = base.to_path_buf();
    for name in names {
        let mut components = Path::new(name).components();
        match (components.next(), components.next()) {
            (Some(Component::Normal(plain)), None) if !name.contains(['/', '\\']) => path.push(plain),
            _ => return None,
        }
    }
    let real = path.canonicalize().ok()?;
    real.starts_with(base).then_some(real)
}

/// The content type a stored file is served with: the store's text files open in the browser;
/// what we do not know is bytes.
pub fn content_type(file: &Path) -> &'static str {
    match file.extension().and_then(|e| e.to_str()) {
        Some("html") => "text/html; charset=utf-8",
        Some("json") => "application/json",
        Some("xml") => "application/xml",
        Some("svg") => "image/svg+xml",
        Some("jsonl" | "log" | "yaml" | "yml" | "txt" | "edn" | "csv" | "md") => "text/plain; charset=utf-8",
        Some("zip") => "application/zip",
        Some("gz") => "application/gzip",
        _ => "application/octet-stream",
    }
}

/// A stored file of a run, relative to the run, with its size.
pub struct Listed {
    /// `name` or `folder/name` (one level of folders: the node logs).
    pub name: String,
    /// Bytes.
    pub size: u64,
}

/// The files of `run`, by name; symbolic links are left out (so neither listed nor zipped).
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

/// Zips written at once; more are refused with 503 until one ends.
pub const ZIPS_AT_ONCE: usize = 4;

/// How long a zip waits for a client that stopped reading before it gives up.
const STALLED: Duration = Duration::from_secs(60);

/// Bytes of a zip sent to the client at a time.
const CHUNK: usize = 64 << 10;

/// The run in `dir` as a zip named `name.zip`, compressed while it is sent: memory stays a few
/// chunks whatever the size of the run's files, and one blocking thread writes it, holding
/// `permit`. A file that cannot be read, or a client that stops reading for [`STALLED`], aborts
/// the response: the client sees a failed download, never an archive that looks whole.
pub fn zip(dir: PathBuf, name: &str, permit: OwnedSemaphorePermit) -> Response {
    let files = list(&dir);
    let chunks = zip_chunks(dir, files, permit);
    let stream =
        futures::stream::unfold(chunks, |mut chunks| async move { Some((chunks.recv().await?, chunks)) });
    zip_headers(Body::from_stream(stream).into_response(), name)
}

/// What a GET of the zip would answer, without writing it (nor claiming a length).
pub fn zip_head(name: &str) -> Response {
    let unknown_length = futures::stream::empty::<std::io::Result<Bytes>>();
    zip_headers(Body::from_stream(unknown_length).into_response(), name)
}

fn zip_headers(mut response: Response, name: &str) -> Response {
    let disposition = format!("attachment; filename=\"{}.zip\"", name.replace(['"', '\\'], "_"));
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/zip"));
    if let Ok(value) = HeaderValue::from_str(&disposition) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    response
}

/// The zip of `files` of `dir`, written by a blocking thread (holding `permit`) in chunks; the
/// last item is an error when it failed.
fn zip_chunks<P: Send + 'static>(
    dir: PathBuf,
    files: Vec<Listed>,
    permit: P,
) -> mpsc::Receiver<std::io::Result<Bytes>> {
    let (chunks, receiver) = mpsc::channel(4);
    let runtime = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || {
        let _permit = permit;
        let abandoned = Arc::new(AtomicBool::new(false));
        let out = ChunkWriter {
            chunks: chunks.clone(),
            runtime,
            buffer: Vec::with_capacity(CHUNK),
            abandoned: abandoned.clone(),
        };
        if let Err(e) = write_zip(&dir, &files, out, &abandoned) {
            let why = crate::error::chain(&e);
            tracing::warn!("zip of {}: {why}", dir.display());
            let _ = chunks.blocking_send(Err(std::io::Error::other(why)));
        }
    });
    receiver
}

/// Writes the `files` of `dir` as a zip into `out`. When that fails, `abandoned` is set before
/// the zip writer is dropped (it writes its table of contents as it drops), for `out` to refuse.
fn write_zip(
    dir: &Path,
    files: &[Listed],
    out: impl std::io::Write,
    abandoned: &AtomicBool,
) -> Result<(), Error> {
    let mut writer = zip::ZipWriter::new_stream(out);
    let failed = |e: zip::result::ZipError| Error::file(dir, e);
    let mut entries = || -> Result<(), Error> {
        for file in files {
            let path = dir.join(&file.name);
            let options = zip::write::SimpleFileOptions::default()
                .compression_method(zip::CompressionMethod::Deflated)
                .large_file(file.size >= u64::from(u32::MAX));
            let mut input = std::fs::File::open(&path).map_err(|e| Error::file(&path, e))?;
            writer.start_file(file.name.as_str(), options).map_err(failed)?;
            std::io::copy(&mut input, &mut writer).map_err(|e| Error::file(&path, e))?;
        }
        Ok(())
    };
    if let Err(e) = entries() {
        abandoned.store(true, Ordering::SeqCst);
        return Err(e);
    }
    writer.finish().map_err(failed)?.flush().map_err(|e| Error::file(dir, e))
}

/// The zip's bytes, in chunks, to the response; once it has failed (the client is gone, or a
/// file could not be read) it takes nothing more, so what the zip writer still writes when it
/// is dropped (its table of contents) never reaches the client.
struct ChunkWriter {
    chunks: mpsc::Sender<std::io::Result<Bytes>>,
    runtime: tokio::runtime::Handle,
    buffer: Vec<u8>,
    abandoned: Arc<AtomicBool>,
}

impl ChunkWriter {
    fn refuse_if_abandoned(&self) -> std::io::Result<()> {
        match self.abandoned.load(Ordering::SeqCst) {
            true => Err(std::io::Error::other("the zip was abandoned")),
            false => Ok(()),
        }
    }

    fn send(&mut self) -> std::io::Result<()> {
        self.refuse_if_abandoned()?;
        if self.buffer.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(&mut self.buffer, Vec::with_capacity(CHUNK)));
        let sent = self.runtime.block_on(tokio::time::timeout(STALLED, self.chunks.send(Ok(chunk))));
        if !matches!(sent, Ok(Ok(()))) {
            self.abandoned.store(true, Ordering::SeqCst);
            return Err(std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the client stopped reading"));
        }
        Ok(())
    }
}

impl std::io::Write for ChunkWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.refuse_if_abandoned()?;
        self.buffer.extend_from_slice(data);
        if self.buffer.len() >= CHUNK {
            self.send()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.send()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_that_cannot_be_read_fails_the_zip_instead_of_ending_it_early() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.txt"), "a").unwrap();
        let listed = |name: &str| Listed { name: name.into(), size: 1 };
        let mut out = Vec::new();
        write_zip(dir.path(), &[listed("a.txt")], &mut out, &AtomicBool::new(false)).expect("the control");
        assert!(zip::ZipArchive::new(std::io::Cursor::new(out)).is_ok());
        let abandoned = AtomicBool::new(false);
        let failed = write_zip(dir.path(), &[listed("a.txt"), listed("gone.txt")], Vec::new(), &abandoned);
        assert!(abandoned.load(Ordering::SeqCst), "the writer is told before the zip writer drops");
        assert!(crate::error::chain(&failed.unwrap_err()).contains("gone.txt"), "names the file");
    }

    #[tokio::test]
    async fn a_failed_zip_ends_its_stream_with_an_error_and_nothing_that_unzips() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.txt"), "a".repeat(1000)).unwrap();
        let listed = |name: &str| Listed { name: name.into(), size: 1000 };
        let collect = |files: Vec<Listed>| {
            let mut chunks = zip_chunks(dir.path().to_path_buf(), files, ());
            async move {
                let (mut bytes, mut errors) = (Vec::new(), Vec::new());
                while let Some(chunk) = chunks.recv().await {
                    match chunk {
                        Ok(b) => bytes.extend_from_slice(&b),
                        Err(e) => errors.push(e.to_string()),
                    }
                }
                (bytes, errors)
            }
        };
        let (whole, errors) = collect(vec![listed("a.txt")]).await;
        assert!(
            errors.is_empty() && zip::ZipArchive::new(std::io::Cursor::new(whole)).is_ok(),
            "the control"
        );
        let (partial, errors) = collect(vec![listed("a.txt"), listed("gone.txt")]).await;
        assert_eq!(errors.len(), 1, "the stream ends with the error");
        assert!(errors[0].contains("gone.txt"));
        assert!(
            zip::ZipArchive::new(std::io::Cursor::new(partial)).is_err(),
            "no table of contents was sent"
        );
    }
}
