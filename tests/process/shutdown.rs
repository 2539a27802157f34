//! SIGTERM and SIGINT: the listener closes at once, requests in flight finish (within the
//! deadline), the pool closes, and the process exits 0.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use being_social_domain::ports::HealthCheck;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Backend, TestDatabase, noisy_png};
use crate::server::{ServerProcess, settings_for};

/// A request whose head the server has read and started to serve: it answered the head's
/// `Expect: 100-continue`. Sent whole or up to the middle of its body, it is in flight until
/// [`Self::finish`], running (a sign-up hashing, an upload decoding) or reading its body.
///
/// A request still unread in the socket when the signal comes is not in flight: actix-web closes
/// such a connection like an idle keep-alive one, without an answer.
struct InFlight {
    stream: TcpStream,
    rest: Vec<u8>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sent {
    Whole,
    Half,
}

impl InFlight {
    fn begin(
        port: u16,
        path: &str,
        token: Option<&str>,
        content_type: &str,
        body: Vec<u8>,
        sent: Sent,
    ) -> Self {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(60)))
            .unwrap();
        let auth = token
            .map(|t| format!("Authorization: Token {t}\r\n"))
            .unwrap_or_default();
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n{auth}\
             Content-Type: {content_type}\r\nContent-Length: {}\r\nExpect: 100-continue\r\n\r\n",
            body.len()
        );
        stream.write_all(head.as_bytes()).unwrap();
        assert_eq!(read_head(&mut stream), 100, "no 100 Continue for {path}");
        let half = match sent {
            Sent::Whole => body.len(),
            Sent::Half => body.len() / 2,
        };
        stream.write_all(&body[..half]).unwrap();
        stream.flush().unwrap();
        Self {
            stream,
            rest: body[half..].to_vec(),
        }
    }

    /// Sends the rest of the body; the status and body of the answer, or why there is none.
    fn finish(mut self) -> Result<(u16, Value), String> {
        self.stream
            .write_all(&self.rest)
            .map_err(|e| format!("sending the rest: {e}"))?;
        let mut response = Vec::new();
        self.stream
            .read_to_end(&mut response)
            .map_err(|e| format!("reading the answer: {e}"))?;
        let text = String::from_utf8_lossy(&response);
        let status = text
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| format!("no answer: {text:?}"))?;
        let body = text
            .split_once("\r\n\r\n")
            .map(|(_, b)| b)
            .unwrap_or_default();
        Ok((status, serde_json::from_str(body).unwrap_or(Value::Null)))
    }
}

/// Reads a response head (up to its blank line); its status.
fn read_head(stream: &mut TcpStream) -> u16 {
    let mut bytes = Vec::new();
    let mut byte = [0u8; 1];
    while !bytes.ends_with(b"\r\n\r\n") {
        stream.read_exact(&mut byte).unwrap();
        bytes.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&bytes);
    head.split_whitespace().nth(1).unwrap().parse().unwrap()
}

fn signup_body(name: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "email": format!("{name}@example.com"),
        "full_name": "In Flight",
        "password": format!("{name}-password"),
    }))
    .unwrap()
}

const BOUNDARY: &str = "in-flight-boundary";

fn upload_body(image: &[u8], caption: &str) -> Vec<u8> {
    let mut body = format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"caption\"\r\n\r\n{caption}\r\n\
         --{BOUNDARY}\r\nContent-Disposition: form-data; name=\"image\"; filename=\"p.png\"\r\n\
         Content-Type: image/png\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(image);
    body.extend_from_slice(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
    body
}

/// Waits until connecting to `port` is refused (bounded): the listener is closed.
async fn wait_until_refused(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match TcpStream::connect(("127.0.0.1", port)) {
            Err(e) if e.kind() == ErrorKind::ConnectionRefused => return,
            // Accepted before the listener closed: let it go at once (it holds no request).
            Ok(stream) => drop(stream),
            Err(e) => panic!("connecting after the signal: {e}"),
        }
        assert!(
            Instant::now() < deadline,
            "still accepting 10 s after the signal"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Starts slow requests (sign-ups hash a password, uploads decode and re-encode a picture), half
/// of them sent whole and half of them half-sent, sends `signal`, and checks that the listener closed while they were in
/// flight, that every one of them succeeded, and that the process exited 0.
async fn stops_gracefully_on(signal: &str, requests: usize) {
    let db = Arc::new(TestDatabase::create(Backend::Postgres).await);
    let settings = settings_for(&db);
    let mut server = ServerProcess::start(&settings).await;
    let app = server.app(&settings, &db);
    let uploader = app.user("uploader").await;
    let picture = noisy_png(800, 800);

    let in_flight: Vec<InFlight> = [Sent::Whole, Sent::Half]
        .into_iter()
        .flat_map(|sent| (0..requests).map(move |i| (sent, format!("{sent:?}{i}"))))
        .flat_map(|(sent, name)| {
            [
                InFlight::begin(
                    server.port,
                    "/accounts/signup/",
                    None,
                    "application/json",
                    signup_body(&name.to_lowercase()),
                    sent,
                ),
                InFlight::begin(
                    server.port,
                    "/posts/create/",
                    Some(&uploader.token),
                    &format!("multipart/form-data; boundary={BOUNDARY}"),
                    upload_body(&picture, &name),
                    sent,
                ),
            ]
        })
        .collect();

    server.signal(signal);
    wait_until_refused(server.port).await;

    let answers = tokio::task::spawn_blocking(move || {
        in_flight
            .into_iter()
            .map(InFlight::finish)
            .collect::<Vec<_>>()
    })
    .await
    .unwrap();
    for (i, answer) in answers.into_iter().enumerate() {
        let (status, body) =
            answer.unwrap_or_else(|e| panic!("request {i} in flight: {e}\n{}", server.log()));
        assert_eq!(status, 201, "request {i} in flight: {body}");
    }
    let status = server.exit_status(Duration::from_secs(60)).await;
    assert!(status.success(), "exit status {status}:\n{}", server.log());

    // What was answered 201 is there: 1 + 2 × requests users, 2 × requests posts.
    let check = ServerProcess::start(&settings).await;
    let app = check.app(&settings, &db);
    let (status, me) = app.get(&format!("/accounts/{}/", uploader.id), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["post_count"], json!(2 * requests), "{me}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_finishes_requests_in_flight_refuses_new_ones_and_exits_0() {
    stops_gracefully_on("TERM", 4).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigint_stops_as_gracefully_as_sigterm() {
    stops_gracefully_on("INT", 2).await;
}

/// With a zero deadline, a request still running at the signal is cut off, and the process
/// still exits 0: the deadline is what bounds a shutdown.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_still_running_at_the_deadline_are_cut_off() {
    let db = Arc::new(TestDatabase::create(Backend::Postgres).await);
    let mut settings = settings_for(&db);
    settings.shutdown_timeout = 0;
    let mut server = ServerProcess::start(&settings).await;
    let request = InFlight::begin(
        server.port,
        "/accounts/signup/",
        None,
        "application/json",
        signup_body("late"),
        Sent::Half,
    );
    server.signal("TERM");
    // Well below actix-web's own default deadline (30 s), which would keep waiting.
    let status = server.exit_status(Duration::from_secs(15)).await;
    assert!(status.success(), "exit status {status}:\n{}", server.log());
    let answer = tokio::task::spawn_blocking(move || request.finish())
        .await
        .unwrap();
    assert!(answer.is_err(), "answered after the deadline: {answer:?}");
}

/// Closing the pool (done when the server stops) closes its connections at once instead of
/// leaving them to the end of the process.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closing_the_pool_closes_its_connections() {
    let db = TestDatabase::create(Backend::Postgres).await;
    let name = db.url.rsplit('/').next().unwrap().to_owned();
    let database = db.open().await;
    assert!(database.ready().await);
    assert!(sessions_on(&name).await > 0);
    database.close();
    assert!(
        !database.ready().await,
        "a closed pool hands out no connection"
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while sessions_on(&name).await > 0 {
        assert!(
            Instant::now() < deadline,
            "connections still open 10 s after close"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn sessions_on(database: &str) -> i64 {
    #[derive(diesel::QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let mut conn = AsyncPgConnection::establish(&being_social_test_support::admin_url())
        .await
        .unwrap();
    let count: Count =
        diesel::sql_query("SELECT COUNT(*) AS n FROM pg_stat_activity WHERE datname = $1")
            .bind::<diesel::sql_types::Text, _>(database)
            .get_result(&mut conn)
            .await
            .unwrap();
    count.n
}
