//! Rate limits shared through Redis by three server processes: a client that spreads its writes
//! over the three is limited exactly as a client of one; Redis killed under them, the processes
//! keep serving (or refuse) as `rate_limit_failure` says, and count again once it is back.
//!
//! Each test runs a Redis of its own (`redis-server` on a free port, nothing saved), so that it
//! can kill it.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{Backend, TestApp, TestDatabase, TestUser};
use crate::server::{ServerProcess, free_port, settings_for};

/// A `redis-server` of the test's own, killed when dropped.
pub struct RedisServer {
    child: Option<Child>,
    pub port: u16,
    dir: PathBuf,
}

impl RedisServer {
    pub fn start() -> Self {
        let dir = std::env::temp_dir().join(format!("bs_redis_{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut redis = Self {
            child: None,
            port: free_port(),
            dir,
        };
        redis.resume();
        redis
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Starts it (again, on the same port) and waits until it answers `PING`.
    pub fn resume(&mut self) {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--dir"])
            .arg(&self.dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server (apt-get install redis-server)");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while !self.answers() {
            assert!(Instant::now() < deadline, "redis-server not up in 10 s");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn answers(&self) -> bool {
        let Ok(mut stream) = TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
        let mut answer = [0u8; 7];
        stream.write_all(b"PING\r\n").is_ok()
            && stream.read_exact(&mut answer).is_ok()
            && &answer == b"+PONG\r\n"
    }

    /// SIGKILL: connections drop, counts are lost.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Three processes on one database and one Redis, with `writes` writes per token per hour.
async fn three_nodes(
    db: &Arc<TestDatabase>,
    redis: &RedisServer,
    writes: u32,
    failure: [&str; 3],
) -> (Vec<ServerProcess>, Vec<TestApp>) {
    let mut servers = Vec::new();
    let mut apps = Vec::new();
    let url = redis.url();
    let writes = writes.to_string();
    for failure in failure {
        let settings = settings_for(db);
        let env = [
            ("RATE_LIMITS", "on"),
            ("AUTH_RATE_LIMIT", "1000"),
            ("WRITE_RATE_LIMIT", writes.as_str()),
            ("WRITE_RATE_WINDOW", "1h"),
            ("REDIS_URL", url.as_str()),
            ("REDIS_TIMEOUT", "200ms"),
            ("RATE_LIMIT_FAILURE", failure),
        ];
        let server = ServerProcess::start_with_env(&settings, &env).await;
        apps.push(server.app(&settings, db));
        servers.push(server);
    }
    (servers, apps)
}

/// A write that can be repeated forever: a follow, then its undoing, and so on.
async fn write(app: &TestApp, from: &TestUser, to: &TestUser, k: usize) -> StatusCode {
    let path = format!("/accounts/follow/{}/", to.id);
    let token = Some(from.token.as_str());
    let (status, _) = if k.is_multiple_of(2) {
        app.post(&path, token, json!({})).await
    } else {
        app.delete(&path, token).await
    };
    status
}

fn allowed(statuses: &[StatusCode]) -> usize {
    for status in statuses {
        assert!(
            status.is_success() || *status == StatusCode::TOO_MANY_REQUESTS,
            "{statuses:?}"
        );
    }
    statuses.iter().filter(|s| s.is_success()).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_of_three_nodes_is_limited_as_a_client_of_one() {
    let redis = RedisServer::start();
    let db = Arc::new(TestDatabase::create(Backend::Postgres).await);
    let (servers, apps) = three_nodes(&db, &redis, 5, ["open"; 3]).await;
    let ann = apps[0].user("ann").await;
    let bob = apps[1].user("bob").await;
    let cat = apps[2].user("cat").await;

    // Ann writes through one node only; Bob through the three in turn.
    let mut one = Vec::new();
    let mut spread = Vec::new();
    for k in 0..9 {
        one.push(write(&apps[0], &ann, &cat, k).await);
        spread.push(write(&apps[k % 3], &bob, &cat, k).await);
    }
    assert_eq!(allowed(&one), 5, "{one:?}");
    assert_eq!(allowed(&spread), 5, "{spread:?}");
    assert_eq!(one, spread);
    // Refused everywhere, with the same headers from each node.
    for app in &apps {
        let (status, headers, _) = app
            .call_with_header(
                reqwest::Method::POST,
                &format!("/accounts/follow/{}/", ann.id),
                Some(&format!("Token {}", bob.token)),
                Some(json!({})),
            )
            .await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(headers["x-ratelimit-limit"], "5");
        assert_eq!(headers["x-ratelimit-remaining"], "0");
    }
    drop(apps);
    drop(servers);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_redis_keeps_serving_per_the_setting() {
    let mut redis = RedisServer::start();
    let db = Arc::new(TestDatabase::create(Backend::Postgres).await);
    // Nodes 0 and 1 fail open (the default), node 2 closed.
    let (servers, apps) = three_nodes(&db, &redis, 2, ["open", "open", "closed"]).await;
    let ann = apps[0].user("ann").await;
    let bob = apps[0].user("bob").await;
    let cat = apps[0].user("cat").await;
    let mut statuses = Vec::new();
    for k in 0..4 {
        statuses.push(write(&apps[k % 3], &ann, &bob, k).await);
    }
    assert_eq!(allowed(&statuses), 2, "{statuses:?}");

    redis.kill();
    // Open: served, past the limit, and never held up by the dead Redis.
    let started = Instant::now();
    for k in 0..6 {
        let status = write(&apps[k % 2], &ann, &bob, k).await;
        assert!(
            status.is_success(),
            "write {k} through an open node: {status}"
        );
    }
    assert!(started.elapsed() < Duration::from_secs(20));
    let (status, _) = apps[0].get("/readyz", None).await;
    assert_eq!(status, StatusCode::OK);
    // Closed: refused with the contract's 503, and not ready; reads are still served.
    let (status, body) = apps[2]
        .post(
            &format!("/accounts/follow/{}/", cat.id),
            Some(&cat.token),
            json!({}),
        )
        .await;
    crate::helpers::assert_error(
        status,
        &body,
        StatusCode::SERVICE_UNAVAILABLE,
        "service_unavailable",
    );
    let (status, _) = apps[2].get("/readyz", None).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    let (status, body) = apps[2].get("/accounts/me/", Some(&cat.token)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let log = servers[0].log();
    assert!(log.contains("the rate-limit store failed"), "{log}");
    let metrics = apps[0].get_bytes("/metrics", &[]).await;
    let metrics = String::from_utf8(metrics.bytes).unwrap();
    let errors: f64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("ratelimit_store_errors_total "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap();
    assert!(errors >= 3.0, "{errors}");

    // Back by itself once Redis is (with its counts forgotten): the closed node serves and
    // every node limits again.
    redis.resume();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, _) = apps[2].get("/readyz", None).await;
        if status == StatusCode::OK {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not ready 30 s after Redis came back"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The open nodes try a new connection at most once a second: past that, their next check
    // connects.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let mut statuses = Vec::new();
    for k in 0..4 {
        statuses.push(write(&apps[k % 3], &cat, &bob, k).await);
    }
    assert_eq!(allowed(&statuses), 2, "{statuses:?}");
    drop(apps);
    drop(servers);
}
