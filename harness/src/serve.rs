//! `splitbrain serve`: browse the store over HTTP. `/` lists the runs newest first with their
//! verdict's colour; `/run/<test>/<timestamp>/` lists a run's files and links its report;
//! `/run/<test>/<timestamp>/<file>` serves a file; `/zip/<test>/<timestamp>` downloads the run
//! as a zip. Nothing outside the store is ever served.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Component, Path, PathBuf};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use checkers::verdict::Verdict;

use crate::error::Error;
use crate::report::markup::escape;

/// Serves `store` on `listener` until the process ends.
pub async fn serve(store: PathBuf, listener: TcpListener) -> Result<(), Error> {
    let root = store.canonicalize().map_err(|e| Error::file(&store, e))?;
    loop {
        let Ok((stream, _)) = listener.accept().await else { continue };
        let root = root.clone();
        tokio::spawn(async move {
            let _ = answer(stream, &root).await;
        });
    }
}

struct Response {
    status: &'static str,
    kind: &'static str,
    body: Vec<u8>,
}

async fn answer(mut stream: TcpStream, root: &Path) -> std::io::Result<()> {
    let mut buf = vec![0u8; 8192];
    let mut len = 0;
    while len < buf.len() && !buf[..len].windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut buf[len..]).await?;
        if n == 0 {
            break;
        }
        len += n;
    }
    let head = String::from_utf8_lossy(&buf[..len]);
    let mut words = head.split_whitespace();
    let response = match (words.next(), words.next()) {
        (Some("GET"), Some(path)) => route(root, path),
        _ => text("400 Bad Request", "only GET is served"),
    };
    let header = format!(
        "HTTP/1.1 {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        response.status,
        response.kind,
        response.body.len()
    );
    stream.write_all(header.as_bytes()).await?;
    stream.write_all(&response.body).await?;
    stream.shutdown().await
}

fn text(status: &'static str, body: &str) -> Response {
    Response { status, kind: "text/plain; charset=utf-8", body: body.as_bytes().to_vec() }
}

fn html(body: String) -> Response {
    Response { status: "200 OK", kind: "text/html; charset=utf-8", body: body.into_bytes() }
}

fn route(root: &Path, path: &str) -> Response {
    let path = path.split('?').next().unwrap_or_default();
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    match parts.as_slice() {
        [] => html(index(root)),
        ["run", test, stamp, rest @ ..] => match safe(root, &[test, stamp]) {
            Some(run) if rest.is_empty() && run.is_dir() => html(listing(&run, test, stamp)),
            Some(run) => match safe(&run, rest) {
                Some(file) if file.is_file() => file_response(&file),
                _ => text("404 Not Found", "no such file"),
            },
            None => text("404 Not Found", "no such run"),
        },
        ["zip", test, stamp] => match safe(root, &[test, stamp]).filter(|d| d.is_dir()) {
            Some(run) => match zip(&run) {
                Ok(bytes) => Response { status: "200 OK", kind: "application/zip", body: bytes },
                Err(e) => text("500 Internal Server Error", &crate::error::chain(&e)),
            },
            None => text("404 Not Found", "no such run"),
        },
        _ => text("404 Not Found", "not found"),
    }
}

/// `base` joined with `parts`, when every part is a plain name and the result stays inside.
fn safe(base: &Path, parts: &[&str]) -> Option<PathBuf> {
    let mut path = base.to_path_buf();
    for part in parts {
        let mut components = Path::new(part).components();
        match (components.next(), components.next()) {
            (Some(Component::Normal(name)), None) => path.push(name),
            _ => return None,
        }
    }
    let real = path.canonicalize().ok()?;
    real.starts_with(base.canonicalize().ok()?).then_some(real)
}

fn file_response(file: &Path) -> Response {
    let kind = match file.extension().and_then(|e| e.to_str()) {
        Some("html") => "text/html; charset=utf-8",
        Some("json") => "application/json",
        Some("xml") => "application/xml",
        _ => "text/plain; charset=utf-8",
    };
    match std::fs::read(file) {
        Ok(body) => Response { status: "200 OK", kind, body },
        Err(e) => text("500 Internal Server Error", &crate::error::chain(&e)),
    }
}

/// The overall verdict of a stored `results.json`, whatever else it holds.
#[derive(serde::Deserialize)]
struct Overall {
    valid: Verdict,
}

/// Runs in the store: `(test, timestamp, verdict word)`, newest first.
fn runs(root: &Path) -> Vec<(String, String, &'static str)> {
    let mut runs = Vec::new();
    let real = |e: &std::fs::DirEntry| !e.path().is_symlink();
    for test in
        std::fs::read_dir(root).into_iter().flatten().flatten().filter(|e| real(e) && e.path().is_dir())
    {
        for run in std::fs::read_dir(test.path()).into_iter().flatten().flatten().filter(real) {
            let Ok(text) = std::fs::read_to_string(run.path().join("results.json")) else { continue };
            let verdict = serde_json::from_str::<Overall>(&text).map_or(Verdict::Unknown, |o| o.valid).word();
            runs.push((
                test.file_name().to_string_lossy().into_owned(),
                run.file_name().to_string_lossy().into_owned(),
                verdict,
            ));
        }
    }
    runs.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    runs
}

const STYLE: &str = "<style>body{font:14px system-ui,sans-serif;margin:1.5em}td,th{border:1px solid #ccc;padding:2px 8px}\
table{border-collapse:collapse}.valid{background:#c8e6c9}.INVALID{background:#ffcdd2}.unknown{background:#ffe0b2}</style>";

fn index(root: &Path) -> String {
    let mut page = format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>splitbrain store</title>{STYLE}</head><body><h1>Runs</h1><table><tr><th>verdict</th><th>test</th><th>run</th><th></th></tr>"
    );
    for (test, stamp, verdict) in runs(root) {
        let (t, s) = (escape(&test), escape(&stamp));
        let _ = write!(
            page,
            "<tr class=\"{verdict}\"><td>{verdict}</td><td>{t}</td><td><a href=\"/run/{t}/{s}/\">{s}</a></td><td><a href=\"/run/{t}/{s}/report.html\">report</a> <a href=\"/zip/{t}/{s}\">zip</a></td></tr>"
        );
    }
    page.push_str("</table></body></html>\n");
    page
}

fn listing(run: &Path, test: &str, stamp: &str) -> String {
    let (t, s) = (escape(test), escape(stamp));
    let mut page = format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{t} {s}</title>{STYLE}</head><body><h1>{t} {s}</h1><p><a href=\"/\">all runs</a> · <a href=\"/zip/{t}/{s}\">download as zip</a></p><ul>"
    );
    for file in files(run) {
        let name = escape(&file);
        let _ = write!(page, "<li><a href=\"/run/{t}/{s}/{name}\">{name}</a></li>");
    }
    page.push_str("</ul></body></html>\n");
    page
}

/// Files of a run, relative to it (one level of subfolders: the node logs).
fn files(run: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(run).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if entry.path().is_dir() {
            for inner in std::fs::read_dir(entry.path()).into_iter().flatten().flatten() {
                out.push(format!("{name}/{}", inner.file_name().to_string_lossy()));
            }
        } else {
            out.push(name);
        }
    }
    out.sort();
    out
}

fn zip(run: &Path) -> Result<Vec<u8>, Error> {
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    for name in files(run) {
        let data = std::fs::read(run.join(&name)).map_err(|e| Error::file(run.join(&name), e))?;
        writer.start_file(name.as_str(), options).map_err(|e| Error::file(run, e))?;
        writer.write_all(&data).map_err(|e| Error::file(run, e))?;
    }
    Ok(writer.finish().map_err(|e| Error::file(run, e))?.into_inner())
}
