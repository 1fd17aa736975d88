//! `splitbrain serve` answers the listing, a run's files, its report and a zip over HTTP, and
//! nothing outside the store.

use std::path::Path;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

fn run(store: &Path, test: &str, stamp: &str, valid: bool) {
    let dir = store.join(test).join(stamp);
    std::fs::create_dir_all(dir.join("n1")).unwrap();
    std::fs::write(dir.join("results.json"), format!("{{\"valid\": {valid}, \"checkers\": {{}}}}")).unwrap();
    std::fs::write(dir.join("report.html"), "<html><svg id=\"mastership\"></svg></html>").unwrap();
    std::fs::write(dir.join("n1/replica.log"), "role Backup->Master\n").unwrap();
}

async fn get(addr: std::net::SocketAddr, path: &str) -> (String, Vec<u8>) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    let at = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    (String::from_utf8_lossy(&raw[..at]).into_owned(), raw[at + 4..].to_vec())
}

#[tokio::test]
async fn the_store_is_browsable_newest_first_with_reports_files_and_zips() {
    let store = tempfile::tempdir().unwrap();
    run(store.path(), "t", "2026-01-01T000000Z", true);
    run(store.path(), "t", "2026-01-02T000000Z", false);
    std::fs::write(store.path().join("secret.txt"), "outside any run").unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(harness::serve::serve(store.path().to_path_buf(), listener));

    let (head, body) = get(addr, "/").await;
    let page = String::from_utf8(body).unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let newer = page.find("2026-01-02T000000Z").unwrap();
    let older = page.find("2026-01-01T000000Z").unwrap();
    assert!(newer < older, "newest first");
    assert!(page.contains("class=\"INVALID\"") && page.contains("class=\"valid\""), "verdict colours");

    let (head, body) = get(addr, "/run/t/2026-01-02T000000Z/report.html").await;
    assert!(head.contains("text/html") && String::from_utf8_lossy(&body).contains("<svg id=\"mastership\""));
    let (_, body) = get(addr, "/run/t/2026-01-02T000000Z/").await;
    assert!(String::from_utf8_lossy(&body).contains("n1/replica.log"), "the run's files are listed");
    let (_, body) = get(addr, "/run/t/2026-01-02T000000Z/n1/replica.log").await;
    assert_eq!(body, b"role Backup->Master\n");

    let (head, body) = get(addr, "/zip/t/2026-01-02T000000Z").await;
    assert!(head.contains("application/zip") && body.starts_with(b"PK"), "{head}");

    for sneaky in
        ["/run/t/../secret.txt", "/run/t/2026-01-02T000000Z/../../secret.txt", "/run/../../etc/passwd/x"]
    {
        let (head, body) = get(addr, sneaky).await;
        assert!(head.starts_with("HTTP/1.1 404"), "{sneaky}: {head}");
        assert!(!String::from_utf8_lossy(&body).contains("outside any run"));
    }
}
