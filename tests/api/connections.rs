//! Connections as slow, idle or numerous clients hold them: keep-alive longer than client pools,
//! deadlines for a request's head and body, a cap on open connections.

use std::time::Duration;

use being_social::settings::Settings;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

use crate::helpers::TestApp;
use crate::helpers::with_settings;

on_both_backends!(idle_connections_outlive_client_pools);
on_both_backends!(
    a_trickled_body_is_cut_off,
    start: with_settings(crate::connections::short_deadlines)
);
on_both_backends!(
    a_trickled_head_is_cut_off,
    start: with_settings(crate::connections::short_deadlines)
);
on_both_backends!(
    connections_past_the_cap_wait,
    start: with_settings(crate::connections::one_connection)
);

fn short_deadlines(s: &mut Settings) {
    s.request_head_timeout = Duration::from_secs(1);
    s.request_body_timeout = Duration::from_secs(1);
}

fn one_connection(s: &mut Settings) {
    s.workers = Some(1);
    s.max_connections = 1;
}

const HEALTHZ: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n";

async fn connect(app: &TestApp) -> TcpStream {
    TcpStream::connect(app.address.trim_start_matches("http://"))
        .await
        .unwrap()
}

/// One response's status and body, or `None` if none came within `wait` (or the server closed
/// the connection first).
async fn response(stream: &mut TcpStream, wait: Duration) -> Option<(u16, Vec<u8>)> {
    let read = async {
        let mut buffer = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&buffer[..end]).to_lowercase();
                let length: usize = head
                    .lines()
                    .find_map(|line| line.strip_prefix("content-length:"))
                    .map_or(0, |n| n.trim().parse().unwrap());
                if buffer.len() >= end + 4 + length {
                    let status = head.split_whitespace().nth(1)?.parse().ok()?;
                    return Some((status, buffer[end + 4..end + 4 + length].to_vec()));
                }
            }
            let n = stream.read(&mut chunk).await.ok()?;
            if n == 0 {
                return None;
            }
            buffer.extend_from_slice(&chunk[..n]);
        }
    };
    timeout(wait, read).await.ok().flatten()
}

/// Whether the server closes the connection within `wait`.
async fn closed(stream: &mut TcpStream, wait: Duration) -> bool {
    let mut rest = Vec::new();
    matches!(
        timeout(wait, stream.read_to_end(&mut rest)).await,
        Ok(Ok(_))
    )
}

async fn idle_connections_outlive_client_pools(app: TestApp) {
    let mut stream = connect(&app).await;
    stream.write_all(HEALTHZ).await.unwrap();
    let (status, _) = response(&mut stream, Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(status, 200);
    // Idle longer than actix's default keep-alive (5 s), as a client's pool keeps connections.
    tokio::time::sleep(Duration::from_secs(6)).await;
    stream.write_all(HEALTHZ).await.unwrap();
    let again = response(&mut stream, Duration::from_secs(10)).await;
    assert_eq!(again.map(|(status, _)| status), Some(200));
}

async fn a_trickled_body_is_cut_off(app: TestApp) {
    let mut stream = connect(&app).await;
    let head = "POST /accounts/login/ HTTP/1.1\r\nHost: test\r\n\
                Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n";
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(b"{\"email\": ").await.unwrap();
    // The rest never comes: a 408 with the contract's body after the deadline, then the close.
    let (status, body) = response(&mut stream, Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(status, 408);
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["code"], "request_timeout", "{body}");
    assert!(closed(&mut stream, Duration::from_secs(30)).await);
}

async fn a_trickled_head_is_cut_off(app: TestApp) {
    let mut stream = connect(&app).await;
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: te")
        .await
        .unwrap();
    // Cut off after the 1 s setting, well before actix's own default (5 s).
    assert!(closed(&mut stream, Duration::from_secs(4)).await);
}

async fn connections_past_the_cap_wait(app: TestApp) {
    let mut first = connect(&app).await;
    first.write_all(HEALTHZ).await.unwrap();
    assert!(
        response(&mut first, Duration::from_secs(10))
            .await
            .is_some()
    );
    // The first stays open (keep-alive); the second is not served while it is.
    let mut second = connect(&app).await;
    second.write_all(HEALTHZ).await.unwrap();
    assert!(
        response(&mut second, Duration::from_secs(2))
            .await
            .is_none()
    );
    drop(first);
    let served = response(&mut second, Duration::from_secs(10)).await;
    assert_eq!(served.map(|(status, _)| status), Some(200));
}
