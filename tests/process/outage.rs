//! PostgreSQL stops and starts again under a running server: requests meanwhile answer 503 with
//! the contract's body (none hangs, none is a 500), `/readyz` says 503 while `/healthz` says 200,
//! and the service comes back by itself, with no dead pooled connection handed out afterwards.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::cluster::Cluster;
use crate::helpers::{Backend, TestApp, TestDatabase, assert_error};
use crate::server::{ServerProcess, settings_for};

/// Longest any request may take during the outage; a hanging one fails the test.
const NO_HANG: Duration = Duration::from_secs(20);

async fn bounded<T>(what: &str, request: impl Future<Output = T>) -> T {
    tokio::time::timeout(NO_HANG, request)
        .await
        .unwrap_or_else(|_| panic!("{what} hung during the outage"))
}

/// `n` concurrent reads of the caller's own account (token lookup, then a user read).
async fn many_me(app: &TestApp, token: &str, n: usize) -> Vec<(StatusCode, serde_json::Value)> {
    join_all((0..n).map(|_| app.get("/accounts/me/", Some(token)))).await
}

/// Requests sent without pause by a few concurrent clients until stopped; each answer must be a
/// success or the contract's 503, within [`NO_HANG`].
struct Traffic {
    stop: Arc<AtomicBool>,
    clients: Vec<tokio::task::JoinHandle<usize>>,
}

impl Traffic {
    fn start(app: &TestApp, token: &str, post: i64) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let clients = (0..4)
            .map(|k| {
                let (client, stop) = (app.client.clone(), stop.clone());
                let url = if k % 2 == 0 {
                    app.url("/accounts/me/")
                } else {
                    app.url(&format!("/posts/post-comment/{post}/"))
                };
                let token = format!("Token {token}");
                tokio::spawn(async move {
                    let mut sent = 0;
                    while !stop.load(Ordering::Relaxed) {
                        let request = client.get(&url).header("Authorization", &token).send();
                        let response = bounded("traffic", request).await.unwrap();
                        let status = response.status();
                        let body = response.json().await.unwrap_or(Value::Null);
                        if status != StatusCode::OK {
                            assert_error(
                                status,
                                &body,
                                StatusCode::SERVICE_UNAVAILABLE,
                                "service_unavailable",
                            );
                        }
                        sent += 1;
                    }
                    sent
                })
            })
            .collect();
        Self { stop, clients }
    }

    async fn stop_and_check(self) {
        self.stop.store(true, Ordering::Relaxed);
        for client in self.clients {
            assert!(client.await.unwrap() > 0);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_rides_out_a_postgresql_restart() {
    let cluster = Cluster::start();
    let db = Arc::new(TestDatabase::create_on(Backend::Postgres, cluster.admin_url()).await);
    let mut settings = settings_for(&db);
    settings.pool_size = 6;
    let server = ServerProcess::start(&settings).await;
    let app = server.app(&settings, &db);

    let ann = app.user("ann").await;
    let post = app.post_by(&ann, "before").await;
    // Fill the pool: every connection it holds dies with the database.
    for (status, body) in many_me(&app, &ann.token, 12).await {
        assert_eq!(status, StatusCode::OK, "{body}");
    }

    // Traffic all through the stop and the start: requests that meet a dying connection, one
    // the pool hands out before noticing it died, or a database starting up.
    let traffic = Traffic::start(&app, &ann.token, post);

    cluster.stop();

    let (status, body) = bounded("/readyz", app.get("/readyz", None)).await;
    assert_error(
        status,
        &body,
        StatusCode::SERVICE_UNAVAILABLE,
        "service_unavailable",
    );
    let (status, body) = bounded("/healthz", app.get("/healthz", None)).await;
    assert_eq!((status, body), (StatusCode::OK, json!({"status": "ok"})));
    // More requests than pooled connections: each dead one is handed out at most once.
    for (status, body) in bounded("reads", many_me(&app, &ann.token, 12)).await {
        assert_error(
            status,
            &body,
            StatusCode::SERVICE_UNAVAILABLE,
            "service_unavailable",
        );
    }
    let writes = [
        bounded(
            "like",
            app.post(
                &format!("/posts/post-reaction/{post}/"),
                Some(&ann.token),
                json!({}),
            ),
        )
        .await,
        bounded(
            "comment",
            app.post(
                &format!("/posts/post-comment/{post}/"),
                Some(&ann.token),
                json!({"content": "hi"}),
            ),
        )
        .await,
        bounded("signup", app.signup("bob@example.com", "bob-password")).await,
        bounded("login", app.login(&ann.email, &ann.password)).await,
        bounded(
            "public read",
            app.get(&format!("/accounts/{}/", ann.id), None),
        )
        .await,
    ];
    for (status, body) in writes {
        assert_error(
            status,
            &body,
            StatusCode::SERVICE_UNAVAILABLE,
            "service_unavailable",
        );
    }

    cluster.resume();

    // Back by itself: no restart of the server, no request from an operator.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, _) = app.get("/accounts/me/", Some(&ann.token)).await;
        if status == StatusCode::OK {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not serving 30 s after PostgreSQL came back: {status}\n{}",
            server.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (status, _) = app.get("/readyz", None).await;
    assert_eq!(status, StatusCode::OK);
    traffic.stop_and_check().await;
    // No dead connection is left in the pool to fail a later request.
    for (status, body) in many_me(&app, &ann.token, 12).await {
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let (status, body) = app
        .post(
            &format!("/posts/post-reaction/{post}/"),
            Some(&ann.token),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let bob = app.user("bob").await;
    assert!(bob.id > ann.id);
    // Dropped in order: the server, the database (on the cluster), then the cluster.
    drop(app);
    drop(server);
    drop(db);
}
