//! `X-Request-Id`: kept when sane, made otherwise, on every response and every log line of the
//! request.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::helpers::{Backend, TestApp, TestDatabase};

on_both_backends!(
    an_incoming_id_is_echoed,
    a_missing_id_is_generated_per_request,
    an_insane_id_is_replaced,
    error_responses_carry_the_id,
);

fn id_of(headers: &HeaderMap) -> String {
    let values: Vec<_> = headers.get_all("x-request-id").iter().collect();
    assert_eq!(values.len(), 1, "one X-Request-Id: {headers:?}");
    values[0].to_str().unwrap().to_owned()
}

/// What a generated ID looks like: a UUID.
fn assert_generated(id: &str) {
    assert!(uuid::Uuid::parse_str(id).is_ok(), "not a UUID: {id:?}");
}

async fn an_incoming_id_is_echoed(app: TestApp) {
    for id in [
        "abc-123",
        "0f8fad5b-d9cb-469f-a165-70867728950e",
        "req_01H:x/y=z",
        &"a".repeat(128),
    ] {
        let (status, headers, _) = app
            .send_raw(Method::GET, "/healthz", &[("X-Request-Id", id)], None)
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(id_of(&headers), id);
    }
}

async fn a_missing_id_is_generated_per_request(app: TestApp) {
    let mut seen = std::collections::HashSet::new();
    for _ in 0..5 {
        let (status, headers, _) = app.send_raw(Method::GET, "/healthz", &[], None).await;
        assert_eq!(status, StatusCode::OK);
        let id = id_of(&headers);
        assert_generated(&id);
        assert!(seen.insert(id), "an ID given twice");
    }
}

async fn an_insane_id_is_replaced(app: TestApp) {
    let too_long = "a".repeat(129);
    for bad in [too_long.as_str(), "", "with space", "tab\there"] {
        let (status, headers, _) = app
            .send_raw(Method::GET, "/healthz", &[("X-Request-Id", bad)], None)
            .await;
        assert_eq!(status, StatusCode::OK);
        let id = id_of(&headers);
        assert_ne!(id, bad);
        assert_generated(&id);
    }
    // Bytes beyond ASCII.
    let response = app
        .client
        .get(app.url("/healthz"))
        .header(
            "X-Request-Id",
            reqwest::header::HeaderValue::from_bytes(b"caf\xc3\xa9").unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_generated(&id_of(response.headers()));
}

/// A request that fails, and the status it fails with.
struct Failing {
    method: Method,
    path: &'static str,
    json: Option<Vec<u8>>,
    expected: StatusCode,
}

async fn error_responses_carry_the_id(app: TestApp) {
    let get = |path, expected| Failing {
        method: Method::GET,
        path,
        json: None,
        expected,
    };
    let cases = [
        get("/no/such/path/", StatusCode::NOT_FOUND),
        get("/accounts/999999/", StatusCode::NOT_FOUND),
        get("/accounts/me/", StatusCode::UNAUTHORIZED),
        Failing {
            method: Method::PUT,
            ..get("/accounts/me/", StatusCode::METHOD_NOT_ALLOWED)
        },
        Failing {
            method: Method::POST,
            json: Some(b"{".to_vec()),
            ..get("/accounts/signup/", StatusCode::BAD_REQUEST)
        },
        Failing {
            method: Method::POST,
            json: Some(vec![b' '; 100 * 1024]),
            ..get("/accounts/signup/", StatusCode::PAYLOAD_TOO_LARGE)
        },
    ];
    for (i, case) in cases.into_iter().enumerate() {
        let Failing {
            method,
            path,
            json,
            expected,
        } = case;
        let mut headers = Vec::new();
        if json.is_some() {
            headers.push(("Content-Type", "application/json"));
        }
        let (status, response_headers, _) = app
            .send_raw(method.clone(), path, &headers, json.clone())
            .await;
        assert_eq!(status, expected, "{method} {path}");
        assert_generated(&id_of(&response_headers));

        let id = format!("error-case-{i}");
        headers.push(("X-Request-Id", &id));
        let (status, response_headers, _) =
            app.send_raw(method.clone(), path, &headers, json).await;
        assert_eq!(status, expected, "{method} {path}");
        assert_eq!(id_of(&response_headers), id, "{method} {path}");
    }
}

/// The real binary, serving on a free port with JSON logs; its stdout lines arrive on a channel.
struct Server {
    child: Child,
    lines: mpsc::Receiver<String>,
    address: String,
}

impl Server {
    fn start(database_url: &str, media: &std::path::Path) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_being-social"))
            .env("DATABASE_URL", database_url)
            .env("MEDIA_DIR", media)
            .env("BIND", "127.0.0.1:0")
            .env("LOG_FORMAT", "json")
            .env("RUST_LOG", "info")
            .env("WORKERS", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut server = Self {
            child,
            lines,
            address: String::new(),
        };
        let serving = server.wait_for(|line| line["fields"]["message"] == "serving");
        let port = serving["fields"]["port"].as_u64().unwrap();
        server.address = format!("http://127.0.0.1:{port}");
        server
    }

    /// The first JSON log line that `wanted` accepts; every line must be JSON.
    fn wait_for(&self, wanted: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = self
                .lines
                .recv_timeout(left)
                .expect("the log line arrives in time");
            let json: Value = serde_json::from_str(&line)
                .unwrap_or_else(|e| panic!("not a JSON log line ({e}): {line}"));
            if wanted(&json) {
                return json;
            }
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_lines_of_a_request_carry_its_id() {
    let db = TestDatabase::create(Backend::Sqlite).await;
    let media = std::env::temp_dir().join(format!("bs_media_{}", uuid::Uuid::new_v4().simple()));
    let server = tokio::task::spawn_blocking({
        let url = db.url.clone();
        let media = media.clone();
        move || Server::start(&url, &media)
    })
    .await
    .unwrap();
    let client = reqwest::Client::new();

    // A 404 logs a warning inside the request's span.
    let response = client
        .get(format!("{}/no/such/path/", server.address))
        .header("X-Request-Id", "log-test-42")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let generated = client
        .get(format!("{}/accounts/999999/", server.address))
        .send()
        .await
        .unwrap();
    let generated = id_of(generated.headers());

    let server = tokio::task::spawn_blocking(move || {
        for id in ["log-test-42", generated.as_str()] {
            let line = server.wait_for(|line| {
                line["level"] == "WARN"
                    && line["fields"]["message"]
                        .as_str()
                        .is_some_and(|m| m.starts_with("Error encountered"))
            });
            assert_eq!(line["span"]["request_id"], id, "{line}");
            // The fields of tracing-actix-web's own root span are kept beside the ID.
            assert_eq!(line["span"]["http.client_ip"], "127.0.0.1", "{line}");
            assert!(line["span"]["http.user_agent"].is_string(), "{line}");
            assert_eq!(line["span"]["http.scheme"], "http", "{line}");
            let spans = line["spans"].as_array().unwrap();
            assert_eq!(spans[0]["request_id"], id, "{line}");
        }
        server
    })
    .await
    .unwrap();
    drop(server);
    let _ = std::fs::remove_dir_all(media);
}
