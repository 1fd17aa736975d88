//! The admin port: `GET /status` answers the node's status as JSON over plain HTTP/1.1, so that
//! `curl` on the node works as well as [`crate::client::status`].

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};
use tracing::debug;

/// A status request handed to the driver loop, answered with the JSON body.
pub(crate) type StatusRequest = oneshot::Sender<String>;

const MAX_REQUEST: usize = 8192;
const READ_TIMEOUT: Duration = Duration::from_secs(2);

/// Serves the admin port forever.
pub(crate) async fn serve_admin(listener: TcpListener, requests: mpsc::Sender<StatusRequest>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else { continue };
        let requests = requests.clone();
        tokio::spawn(async move {
            if let Err(e) = answer(stream, requests).await {
                debug!("admin request failed: {e}");
            }
        });
    }
}

async fn answer(mut stream: TcpStream, requests: mpsc::Sender<StatusRequest>) -> std::io::Result<()> {
    let mut buf = Vec::with_capacity(256);
    let head = tokio::time::timeout(READ_TIMEOUT, async {
        let mut chunk = [0u8; 1024];
        while !buf.windows(4).any(|w| w == b"\r\n\r\n") && buf.len() < MAX_REQUEST {
            let n = stream.read(&mut chunk).await?;
            if n == 0 {
                break;
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        Ok::<_, std::io::Error>(())
    })
    .await;
    if !matches!(head, Ok(Ok(()))) {
        return Ok(());
    }
    let line = buf.split(|&b| b == b'\n').next().unwrap_or_default();
    let (status, body) = if line.starts_with(b"GET /status ") {
        let (tx, rx) = oneshot::channel();
        match requests.send(tx).await {
            Ok(()) => match rx.await {
                Ok(json) => ("200 OK", json),
                Err(_) => ("503 Service Unavailable", "{\"error\":\"shutting down\"}".to_string()),
            },
            Err(_) => ("503 Service Unavailable", "{\"error\":\"shutting down\"}".to_string()),
        }
    } else {
        ("404 Not Found", "{\"error\":\"only GET /status is served\"}".to_string())
    };
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(response.as_bytes()).await?;
    stream.shutdown().await
}
