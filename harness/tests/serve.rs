//! `splitbrain serve` over real HTTP: the index (columns, filters, pages), a run's files (HEAD,
//! ranges, compression), zips, and nothing outside the store in any spelling of a path.

use std::io::Read as _;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use harness::serve::index::Index;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Stores a run of test `test` at `stamp` with overall verdict `valid` (JSON: true, false or
/// "unknown") and a mastership checker of the same verdict.
fn run(store: &Path, test: &str, stamp: &str, valid: &str) {
    let dir = store.join(test).join(stamp);
    std::fs::create_dir_all(dir.join("n1")).unwrap();
    std::fs::write(dir.join("test.yaml"), "system: seeds-group\nseed: 42\nnemesis: [partition, kill]\n")
        .unwrap();
    std::fs::write(
        dir.join("results.json"),
        format!("{{\"valid\": {valid}, \"checkers\": {{\"mastership\": {{\"valid\": {valid}}}, \"stats\": {{\"valid\": true}}}}}}"),
    )
    .unwrap();
    std::fs::write(dir.join("report.html"), "<html><svg id=\"mastership\"></svg></html>").unwrap();
    std::fs::write(dir.join("n1/replica.log"), "role Backup->Master\n".repeat(100)).unwrap();
}

/// Serves `store` on a fresh loopback port.
async fn start(store: &Path) -> SocketAddr {
    let root = store.canonicalize().unwrap();
    let index = Arc::new(Index::scan(root.clone()));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, harness::serve::router(root, index)).await });
    addr
}

/// One request as the bytes a client sends (`path` exactly as given, not normalised), and the
/// response's head and body.
async fn ask(addr: SocketAddr, method: &str, path: &str, headers: &str) -> (String, Vec<u8>) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let request = format!("{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{headers}\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    let at = raw.windows(4).position(|w| w == b"\r\n\r\n").expect("a response head");
    let head = String::from_utf8_lossy(&raw[..at]).to_lowercase();
    let body = if head.contains("transfer-encoding: chunked") {
        dechunk(&raw[at + 4..])
    } else {
        raw[at + 4..].to_vec()
    };
    (head, body)
}

/// A chunked body's bytes.
fn dechunk(mut raw: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    loop {
        let end = raw.windows(2).position(|w| w == b"\r\n").expect("a chunk size line");
        let size = usize::from_str_radix(std::str::from_utf8(&raw[..end]).unwrap().trim(), 16).unwrap();
        if size == 0 {
            return body;
        }
        body.extend_from_slice(&raw[end + 2..end + 2 + size]);
        raw = &raw[end + 2 + size + 2..];
    }
}

async fn get(addr: SocketAddr, path: &str) -> (String, String) {
    let (head, body) = ask(addr, "GET", path, "").await;
    (head, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test]
async fn the_index_shows_what_an_engineer_scans_for_newest_first() {
    let store = tempfile::tempdir().unwrap();
    run(store.path(), "t", "2026-01-01T000000Z", "true");
    run(store.path(), "t", "2026-01-02T000000Z", "false");
    let addr = start(store.path()).await;
    let (head, page) = get(addr, "/").await;
    assert!(head.starts_with("http/1.1 200") && head.contains("text/html"), "{head}");
    let newer = page.find("2026-01-02T000000Z").unwrap();
    let older = page.find("2026-01-01T000000Z").unwrap();
    assert!(newer < older, "newest first");
    for column in ["time", "test", "system", "seed", "duration", "nemesis", "verdict", "mastership", "stats"]
    {
        assert!(page.contains(&format!("<th>{column}</th>")), "column {column}");
    }
    assert!(page.contains("<td>seeds-group</td>") && page.contains(">42</td>"), "system and seed");
    assert!(page.contains("<td>partition, kill</td>"), "nemesis");
    assert!(page.contains("class=\"INVALID\"") && page.contains("class=\"valid\""), "verdict colours");
    assert!(page.contains("href=\"/run/t/2026-01-02T000000Z/report.html\""), "report link");
}

#[tokio::test]
async fn the_index_filters_by_verdict_and_test_and_pages() {
    let store = tempfile::tempdir().unwrap();
    for i in 0..250 {
        let verdict = if i % 5 == 0 { "false" } else { "true" };
        run(
            store.path(),
            if i % 2 == 0 { "even" } else { "odd" },
            &format!("2026-01-01T00{:02}{:02}Z", i / 60, i % 60),
            verdict,
        );
    }
    let addr = start(store.path()).await;
    let rows = |page: &str| page.matches("<tr><td><a href=\"/run/").count();

    let (_, page) = get(addr, "/").await;
    assert_eq!(rows(&page), 100, "a page of 100");
    assert!(page.contains("runs 1–100 of 250") && page.contains("page 1 of 3"), "counts");
    let (_, last) = get(addr, "/?page=3").await;
    assert_eq!(rows(&last), 50);
    assert!(last.contains("runs 201–250 of 250"));
    assert!(last.contains("2026-01-01T000000Z") && !page.contains("2026-01-01T000000Z"), "oldest last");

    let (_, invalid) = get(addr, "/?verdict=invalid").await;
    assert_eq!(rows(&invalid), 50, "every fifth run is invalid");
    let cells = |page: &str, word: &str| page.matches(&format!("<td class=\"{word}\">{word}</td>")).count();
    assert_eq!(
        (cells(&invalid, "INVALID"), cells(&invalid, "valid")),
        (100, 50),
        "overall and mastership invalid, stats valid"
    );
    let (_, even_invalid) = get(addr, "/?verdict=invalid&test=even").await;
    assert_eq!(rows(&even_invalid), 25);
    assert!(!even_invalid.contains("<td>odd</td>"));
    assert!(even_invalid.contains("runs 1–25 of 25 (250 in the store)"));
    let (_, none) = get(addr, "/?test=nosuch").await;
    assert_eq!(rows(&none), 0);
    assert!(none.contains("runs 0–0 of 0"));

    for bad in ["/?verdict=green", "/?page=0", "/?page=x"] {
        let (head, body) = get(addr, bad).await;
        assert!(head.starts_with("http/1.1 400"), "{bad}: {head}");
        assert!(!body.is_empty(), "{bad}: the refusal says why");
    }
}

#[tokio::test]
async fn a_runs_files_are_listed_and_streamed_with_head_ranges_and_compression() {
    let store = tempfile::tempdir().unwrap();
    run(store.path(), "t", "2026-01-02T000000Z", "true");
    let addr = start(store.path()).await;
    let log = "role Backup->Master\n".repeat(100);

    let (_, listing) = get(addr, "/run/t/2026-01-02T000000Z/").await;
    assert!(
        listing.contains("n1/replica.log") && listing.contains(&format!(">{}</td>", log.len())),
        "names and sizes"
    );
    let (head, body) = get(addr, "/run/t/2026-01-02T000000Z/n1/replica.log").await;
    assert!(head.starts_with("http/1.1 200") && head.contains("text/plain"), "{head}");
    assert_eq!(body, log);

    let (head, body) = ask(addr, "HEAD", "/run/t/2026-01-02T000000Z/n1/replica.log", "").await;
    assert!(
        head.starts_with("http/1.1 200") && head.contains(&format!("content-length: {}", log.len())),
        "{head}"
    );
    assert!(body.is_empty(), "HEAD sends no body");

    let (head, body) =
        ask(addr, "GET", "/run/t/2026-01-02T000000Z/n1/replica.log", "Range: bytes=5-10\r\n").await;
    assert!(
        head.starts_with("http/1.1 206")
            && head.contains(&format!("content-range: bytes 5-10/{}", log.len())),
        "{head}"
    );
    assert_eq!(body, &log.as_bytes()[5..=10]);
    let (head, _) =
        ask(addr, "GET", "/run/t/2026-01-02T000000Z/n1/replica.log", "Range: bytes=99999-\r\n").await;
    assert!(head.starts_with("http/1.1 416"), "{head}");

    let (head, body) = ask(
        addr,
        "GET",
        "/run/t/2026-01-02T000000Z/n1/replica.log",
        "Range: bytes=5-10\r\nAccept-Encoding: gzip\r\n",
    )
    .await;
    assert!(
        head.starts_with("http/1.1 206") && !head.contains("content-encoding"),
        "a range is of the stored bytes: {head}"
    );
    assert_eq!(body, &log.as_bytes()[5..=10]);
    let (head, body) =
        ask(addr, "GET", "/run/t/2026-01-02T000000Z/n1/replica.log", "Accept-Encoding: gzip\r\n").await;
    assert!(!head.contains("content-encoding") && head.contains("x-content-type-options: nosniff"), "{head}");
    assert_eq!(
        body,
        log.as_bytes(),
        "files are sent as stored, so their validators and ranges mean those bytes"
    );
    let (head, body) = ask(addr, "GET", "/run/t/2026-01-02T000000Z/", "Accept-Encoding: gzip\r\n").await;
    assert!(head.contains("content-encoding: gzip"), "pages are compressed: {head}");
    let mut unzipped = String::new();
    flate2::read::GzDecoder::new(&body[..]).read_to_string(&mut unzipped).unwrap();
    assert!(unzipped.contains("n1/replica.log"));
    for page in ["/", "/run/t/2026-01-02T000000Z/", "/zip/t/2026-01-02T000000Z"] {
        let (head, body) = ask(addr, "HEAD", page, "").await;
        assert!(head.starts_with("http/1.1 200") && body.is_empty(), "HEAD {page}: {head}");
    }
    let (head, _) = ask(addr, "HEAD", "/zip/t/2026-01-02T000000Z", "").await;
    assert!(
        head.contains("content-disposition: attachment; filename=\"t-2026-01-02t000000z.zip\""),
        "{head}"
    );
    assert!(!head.contains("content-length: 0"), "HEAD does not claim an empty zip: {head}");
    std::os::unix::fs::symlink("2026-01-02T000000Z", store.path().join("t/latest")).unwrap();
    let (head, body) = get(addr, "/run/t/latest/report.html").await;
    assert!(
        head.starts_with("http/1.1 200") && body.contains("mastership"),
        "a link inside the store is followed: {head}"
    );

    let (head, body) = ask(addr, "GET", "/zip/t/2026-01-02T000000Z", "Accept-Encoding: gzip\r\n").await;
    assert!(head.contains("application/zip") && !head.contains("content-encoding"), "{head}");
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(body)).unwrap();
    let mut names: Vec<String> = archive.file_names().map(String::from).collect();
    names.sort();
    assert_eq!(names, ["n1/replica.log", "report.html", "results.json", "test.yaml"]);
    let mut inside = String::new();
    archive.by_name("n1/replica.log").unwrap().read_to_string(&mut inside).unwrap();
    assert_eq!(inside, log);
}

#[tokio::test]
async fn nothing_outside_the_store_is_served_in_any_spelling() {
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret.txt"), "outside any run").unwrap();
    let store = tempfile::tempdir().unwrap();
    run(store.path(), "t", "2026-01-02T000000Z", "true");
    std::fs::write(store.path().join("secret.txt"), "outside any run").unwrap();
    let run_dir = store.path().join("t/2026-01-02T000000Z");
    std::os::unix::fs::symlink(outside.path().join("secret.txt"), run_dir.join("link.txt")).unwrap();
    std::os::unix::fs::symlink(outside.path(), run_dir.join("out")).unwrap();
    std::os::unix::fs::symlink(outside.path(), store.path().join("t/escape")).unwrap();
    std::os::unix::fs::symlink(outside.path(), store.path().join("away")).unwrap();
    std::fs::create_dir(outside.path().join("run")).unwrap();
    std::fs::write(outside.path().join("run/secret.txt"), "outside any run").unwrap();
    let addr = start(store.path()).await;
    let secret = outside.path().join("secret.txt");
    let absolute = secret.to_string_lossy().into_owned();

    let spellings = [
        "/run/t/../secret.txt".to_string(),
        "/run/t/2026-01-02T000000Z/../../secret.txt".into(),
        "/run/t/2026-01-02T000000Z/%2e%2e/%2e%2e/secret.txt".into(),
        "/run/t/2026-01-02T000000Z/%2E%2E/%2E%2E/secret.txt".into(),
        "/run/t/2026-01-02T000000Z/..%2f..%2fsecret.txt".into(),
        "/run/t/2026-01-02T000000Z/%2e%2e%2f%2e%2e%2fsecret.txt".into(),
        "/run/t/2026-01-02T000000Z/..%5c..%5csecret.txt".into(),
        "/run/t/2026-01-02T000000Z/%252e%252e/%252e%252e/secret.txt".into(),
        format!("/run/t/2026-01-02T000000Z/{absolute}"),
        format!("/run/t/2026-01-02T000000Z/{}", absolute.replace('/', "%2f")),
        format!("/run/t/2026-01-02T000000Z//{absolute}"),
        absolute.clone(),
        "/run/t/2026-01-02T000000Z/link.txt".into(),
        "/run/t/2026-01-02T000000Z/out/secret.txt".into(),
        "/run/t/escape/secret.txt".into(),
        "/run/away/run/secret.txt".into(),
        "/zip/away/run".into(),
        "/zip/t/escape".into(),
        "/zip/t/..".into(),
        "/zip/%2e%2e/%2e%2e".into(),
        "/run/..%2f..%2f/etc/passwd".into(),
        "/run/t%2f2026-01-02T000000Z/n1/".into(),
        "/%2e%2e/secret.txt".into(),
        "/t/..%2f..%2fsecret.txt".into(),
        "/t/2026-01-02T000000Z/link.txt".into(),
        "/t/2026-01-02T000000Z/out/secret.txt".into(),
        "/away/secret.txt".into(),
        "/t/escape/secret.txt".into(),
        format!("/{}", absolute.replace('/', "%2f")),
        "/zip/t%2f2026-01-02T000000Z/n1".into(),
    ];
    for path in &spellings {
        let (head, body) = get(addr, path).await;
        assert!(head.starts_with("http/1.1 404") || head.starts_with("http/1.1 400"), "{path}: {head}");
        assert!(
            !body.contains("outside any run") && !body.contains("root:"),
            "{path}: served what is outside"
        );
    }
    let (_, listing) = get(addr, "/run/t/2026-01-02T000000Z/").await;
    assert!(!listing.contains("link.txt") && !listing.contains(">out/"), "links out are not listed");
    let (head, body) = get(addr, "/run/t/2026-01-02T000000Z/n1/replica.log").await;
    assert!(
        head.starts_with("http/1.1 200") && body.starts_with("role"),
        "the control: a stored file is served"
    );
}

#[tokio::test]
async fn a_merged_campaign_is_browsable_from_its_page() {
    let store = tempfile::tempdir().unwrap();
    run(store.path(), "t", "2026-01-02T000000Z", "true");
    std::fs::write(
        store.path().join("campaign.html"),
        "<html><a href=\"t/2026-01-02T000000Z/report.html\">report</a></html>",
    )
    .unwrap();
    let addr = start(store.path()).await;
    let (_, index) = get(addr, "/").await;
    assert!(index.contains("href=\"/campaign.html\""), "the index links the campaign's page");
    let (head, page) = get(addr, "/campaign.html").await;
    assert!(
        head.starts_with("http/1.1 200") && head.contains("text/html") && page.contains("report"),
        "{head}"
    );
    let (head, report) = get(addr, "/t/2026-01-02T000000Z/report.html").await;
    assert!(
        head.starts_with("http/1.1 200") && report.contains("<svg id=\"mastership\""),
        "its relative links: {head}"
    );
    let (head, _) = get(addr, "/t/2026-01-02T000000Z/nosuch.html").await;
    assert!(head.starts_with("http/1.1 404"), "{head}");

    let plain = tempfile::tempdir().unwrap();
    run(plain.path(), "t", "2026-01-02T000000Z", "true");
    let (_, index) = get(start(plain.path()).await, "/").await;
    assert!(!index.contains("campaign.html"), "the control: no campaign, no link");
}
