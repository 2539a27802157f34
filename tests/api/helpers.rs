//! The test harness: every test starts the real application on a random port against its own new
//! database (PostgreSQL or SQLite), and drops that database afterwards.

use std::collections::HashSet;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::ServerHandle;
use being_social::settings::Settings;
use being_social::startup::Application;
use being_social_infra::db::check::Scope;
use being_social_test_support::Start;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

pub use being_social_test_support::{Backend, TestDatabase};

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub backend: Backend,
    pub settings: Settings,
    /// `None` when the server is another process (tests/process), which stops it itself.
    handle: Option<ServerHandle>,
    // Dropped last: the server must stop before its database goes. Shared by the apps of
    // several server processes on one database.
    pub db: Arc<TestDatabase>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        // The stop command is sent at once; its completion is not awaited (Drop cannot).
        if let Some(handle) = &self.handle {
            drop(handle.stop(false));
        }
    }
}

/// A signed-up, logged-in user.
#[derive(Debug, Clone)]
pub struct TestUser {
    pub id: i64,
    pub email: String,
    pub password: String,
    pub token: String,
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> Self {
        Self::spawn_with(backend, |_| {}).await
    }

    pub async fn spawn_with(backend: Backend, adjust: impl FnOnce(&mut Settings)) -> Self {
        // TEST_LOG: also for the tests that start an application without on_both_backends!.
        being_social_test_support::log::init();
        let db = TestDatabase::create(backend).await;
        let mut settings = Settings::for_database(db.url.clone(), db.dir.join("media"));
        adjust(&mut settings);
        Self::start(backend, settings, Arc::new(db)).await
    }

    /// A second server on this test's database with the same settings: another process as far
    /// as what a process keeps in memory goes.
    pub async fn another_server(&self) -> Self {
        Self::start(self.backend, self.settings.clone(), self.db.clone()).await
    }

    /// Starts the application in this process with `settings` on `db`, and waits until it is
    /// ready.
    async fn start(backend: Backend, settings: Settings, db: Arc<TestDatabase>) -> Self {
        let app = Application::build(&settings)
            .await
            .expect("the application starts");
        let address = format!("http://127.0.0.1:{}", app.port());
        let handle = app.handle();
        tokio::spawn(app.run_until_stopped());
        let mut this = Self::at(address, backend, settings, db);
        this.handle = Some(handle);
        this.wait_until_ready().await;
        this
    }

    /// Waits, as a load balancer's readiness probe would, until `/readyz` answers 200 three times
    /// in a row on new connections (each may reach another worker, whose pool shard warms up
    /// on its own), so that no test's first request races a worker still starting.
    async fn wait_until_ready(&self) {
        let probe = reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        let mut in_a_row = 0;
        while in_a_row < 3 {
            let ready = probe.get(self.url("/readyz")).send().await;
            if ready.is_ok_and(|r| r.status() == StatusCode::OK) {
                in_a_row += 1;
            } else {
                in_a_row = 0;
                assert!(
                    std::time::Instant::now() < deadline,
                    "not ready within a minute"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }

    /// The helpers for a server already listening at `address` (e.g. a process of its own).
    pub fn at(
        address: String,
        backend: Backend,
        settings: Settings,
        db: Arc<TestDatabase>,
    ) -> Self {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(120))
            // The server closes a keep-alive connection after KEEP_ALIVE idle; reusing one just
            // as it closes fails the request with "connection reset". Idle connections are
            // dropped first.
            .pool_idle_timeout(Duration::from_secs(2))
            .build()
            .unwrap();
        Self {
            address,
            client,
            backend,
            settings,
            handle: None,
            db,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// Sends a request with an optional token and JSON body; returns status and JSON (or Null).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self.client.request(method, self.url(path));
        if let Some(token) = token {
            request = request.header("Authorization", format!("Token {token}"));
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("the request is answered");
        let status = response.status();
        let bytes = response.bytes().await.unwrap_or_default();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> (StatusCode, Value) {
        self.call(Method::GET, path, token, None).await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, token, Some(body)).await
    }

    pub async fn patch(&self, path: &str, token: Option<&str>, body: Value) -> (StatusCode, Value) {
        self.call(Method::PATCH, path, token, Some(body)).await
    }

    pub async fn delete(&self, path: &str, token: Option<&str>) -> (StatusCode, Value) {
        self.call(Method::DELETE, path, token, None).await
    }

    pub async fn signup(&self, email: &str, password: &str) -> (StatusCode, Value) {
        self.post(
            "/accounts/signup/",
            None,
            json!({"email": email, "full_name": "Test Person", "password": password}),
        )
        .await
    }

    /// A token of `user` that was valid and is revoked: a second login, logged out.
    pub async fn revoked_token(&self, user: &TestUser) -> String {
        let (status, login) = self.login(&user.email, &user.password).await;
        assert_eq!(status, StatusCode::OK);
        let revoked = login["token"].as_str().unwrap().to_owned();
        let (status, _) = self
            .call(Method::POST, "/accounts/logout/", Some(&revoked), None)
            .await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        revoked
    }

    pub async fn login(&self, email: &str, password: &str) -> (StatusCode, Value) {
        self.post(
            "/accounts/login/",
            None,
            json!({"email": email, "password": password}),
        )
        .await
    }

    /// Signs up and logs in a new user named `name`.
    pub async fn user(&self, name: &str) -> TestUser {
        let email = format!("{name}@example.com");
        let password = format!("{name}-password");
        let (status, body) = self.signup(&email, &password).await;
        assert_eq!(status, StatusCode::CREATED, "signup of {name}: {body}");
        let (status, body) = self.login(&email, &password).await;
        assert_eq!(status, StatusCode::OK, "login of {name}: {body}");
        TestUser {
            id: body["user"]["id"].as_i64().unwrap(),
            email,
            password,
            token: body["token"].as_str().unwrap().to_owned(),
        }
    }

    /// `n` users, signed up and logged in concurrently.
    pub async fn users(&self, prefix: &str, n: usize) -> Vec<TestUser> {
        let futures = (0..n).map(|i| {
            let name = format!("{prefix}{i}");
            async move { self.user(&name).await }
        });
        futures_util::future::join_all(futures).await
    }

    /// Uploads a picture as a new post.
    pub async fn upload(&self, token: &str, image: Vec<u8>, caption: &str) -> (StatusCode, Value) {
        let form = reqwest::multipart::Form::new()
            .part(
                "image",
                reqwest::multipart::Part::bytes(image).file_name("photo.jpg"),
            )
            .text("caption", caption.to_owned());
        let response = self
            .client
            .post(self.url("/posts/create/"))
            .header("Authorization", format!("Token {token}"))
            .multipart(form)
            .send()
            .await
            .expect("the upload is answered");
        let status = response.status();
        let bytes = response.bytes().await.unwrap_or_default();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    /// Creates a post with a small generated picture and returns its id.
    pub async fn post_by(&self, user: &TestUser, caption: &str) -> i64 {
        self.as_(user).post(caption).await
    }

    /// `who` follows `whom` through the API; returns the status (201 new edge, 200 already there).
    pub async fn follow(&self, who: &TestUser, whom: &TestUser) -> StatusCode {
        let (status, body) = self.as_(who).follow(whom).await;
        assert!(
            status == StatusCode::CREATED || status == StatusCode::OK,
            "follow: {status} {body}"
        );
        status
    }

    /// Follows every `next` link from `path`, returning every item in order.
    pub async fn walk(&self, path: &str, token: Option<&str>) -> Vec<Value> {
        let mut items = Vec::new();
        let (status, mut body) = self.get(path, token).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        loop {
            items.extend(body["results"].as_array().cloned().unwrap_or_default());
            let Some(next) = body["next"].as_str().map(str::to_owned) else {
                break;
            };
            assert!(next.starts_with("http://"), "next must be absolute: {next}");
            let path = next.trim_start_matches(&self.address).to_owned();
            let (status, page) = self.get(&path, token).await;
            assert_eq!(status, StatusCode::OK, "{path}: {page}");
            body = page;
        }
        items
    }

    /// Asserts that every counter in the database equals the rows it counts.
    pub async fn assert_counters_exact(&self) {
        let db = self
            .db
            .open()
            .await
            .with_feed_rules(self.settings.feed_rules());
        let drift = db.counter_drift(Scope::Everything).await.unwrap();
        assert!(drift.is_empty(), "counters drifted: {drift:?}");
    }
}

impl TestApp {
    /// Waits until no post waits in the feed outbox (PostgreSQL's worker copies the posts of
    /// authors with many followers after their commit; SQLite has none).
    pub async fn wait_for_feed_delivery(&self) {
        let db = self.db.open().await;
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while db.outbox_len().await.unwrap() > 0 {
            assert!(
                std::time::Instant::now() < deadline,
                "feed delivery took over 30 s"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Asserts the contract's error body: `detail` and `code`, and the code expected.
pub fn assert_error(status: StatusCode, body: &Value, expected_status: StatusCode, code: &str) {
    assert_eq!(status, expected_status, "body: {body}");
    assert_eq!(body["code"], code, "body: {body}");
    assert!(body["detail"].is_string(), "error without detail: {body}");
}

/// A PNG of the given size with a gradient (and full opacity).
pub fn png(width: u32, height: u32) -> Vec<u8> {
    let img = image::RgbImage::from_fn(width, height, |x, y| {
        image::Rgb([(x % 256) as u8, (y % 256) as u8, 128])
    });
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

/// A JPEG of the given size.
pub fn jpeg(width: u32, height: u32) -> Vec<u8> {
    let img = image::RgbImage::from_fn(width, height, |x, y| {
        image::Rgb([(x % 256) as u8, 64, (y % 256) as u8])
    });
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Jpeg).unwrap();
    out.into_inner()
}

/// The running application is what a test body of `on_both_backends!` is given.
impl Start for TestApp {
    async fn start(backend: Backend) -> Self {
        Self::spawn(backend).await
    }
}

/// How to start an application whose settings `adjust` changed first, for `on_both_backends!`:
/// `on_both_backends!(name, start: with_settings(|s| s.max_upload_bytes = 50_000));`
pub fn with_settings(
    adjust: impl FnOnce(&mut Settings) + Send + 'static,
) -> impl FnOnce(Backend) -> Pin<Box<dyn Future<Output = TestApp> + Send>> {
    move |backend| Box::pin(TestApp::spawn_with(backend, adjust))
}

/// Requests with full control over headers and body, for tests of authentication and parsing.
impl TestApp {
    /// Sends `body` as raw bytes with the given headers; returns status, headers and JSON (or Null).
    pub async fn send_raw(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> (StatusCode, reqwest::header::HeaderMap, Value) {
        let mut request = self.client.request(method, self.url(path));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(body) = body {
            request = request.body(body);
        }
        let response = request.send().await.expect("the request is answered");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.unwrap_or_default();
        (
            status,
            headers,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    /// Like [`TestApp::call`], with the `Authorization` header given verbatim (e.g.
    /// `"Bearer abc"`) and the response headers returned too.
    pub async fn call_with_header(
        &self,
        method: Method,
        path: &str,
        authorization: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, reqwest::header::HeaderMap, Value) {
        let mut headers = Vec::new();
        if let Some(value) = authorization {
            headers.push(("Authorization", value));
        }
        let bytes = body.map(|b| {
            headers.push(("Content-Type", "application/json"));
            serde_json::to_vec(&b).unwrap()
        });
        self.send_raw(method, path, &headers, bytes).await
    }

    /// Asserts that `method path`, with the `Authorization` header `authorization` (none for
    /// `None`) and no body, is answered as [`assert_unauthenticated`] says.
    pub async fn assert_unauthenticated_call(
        &self,
        method: Method,
        path: &str,
        authorization: Option<&str>,
    ) {
        let (status, headers, body) = self
            .call_with_header(method, path, authorization, None)
            .await;
        assert_unauthenticated(status, &headers, &body);
    }
}

/// The `id` of every item of a list.
pub fn ids(items: &[Value]) -> Vec<i64> {
    items
        .iter()
        .map(|item| item["id"].as_i64().unwrap())
        .collect()
}

/// Asserts a `401` with the contract's error body and the `WWW-Authenticate: Token` challenge.
pub fn assert_unauthenticated(
    status: StatusCode,
    headers: &reqwest::header::HeaderMap,
    body: &Value,
) {
    assert_eq!(status, StatusCode::UNAUTHORIZED, "body: {body}");
    assert!(body["code"].is_string(), "401 without code: {body}");
    assert!(body["detail"].is_string(), "401 without detail: {body}");
    let challenge = headers
        .get(reqwest::header::WWW_AUTHENTICATE)
        .and_then(|v| v.to_str().ok());
    assert_eq!(
        challenge,
        Some("Token"),
        "WWW-Authenticate of a 401: {body}"
    );
}

/// One part of a multipart form: a text field or a file, with an optional file name and type.
#[derive(Debug, Clone)]
pub struct FormPart {
    pub name: String,
    pub bytes: Vec<u8>,
    pub file_name: Option<String>,
    pub mime: Option<String>,
}

impl FormPart {
    /// A text field.
    pub fn text(name: &str, value: &str) -> Self {
        Self {
            name: name.to_owned(),
            bytes: value.as_bytes().to_vec(),
            file_name: None,
            mime: None,
        }
    }

    /// A file field named `name`, sent as `file_name`.
    pub fn file(name: &str, bytes: Vec<u8>, file_name: &str) -> Self {
        Self {
            name: name.to_owned(),
            bytes,
            file_name: Some(file_name.to_owned()),
            mime: None,
        }
    }

    /// The part with a declared `Content-Type`.
    pub fn mime(mut self, mime: &str) -> Self {
        self.mime = Some(mime.to_owned());
        self
    }
}

/// Status, headers and raw bytes of a response.
#[derive(Debug)]
pub struct RawResponse {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub bytes: Vec<u8>,
}

impl RawResponse {
    /// A header's value as text (empty when missing).
    pub fn header(&self, name: &str) -> String {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    }

    /// The body parsed as JSON (Null when it is not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.bytes).unwrap_or(Value::Null)
    }

    /// Asserts the status, showing the body when it is another.
    pub fn assert_status(&self, expected: StatusCode) {
        assert_eq!(self.status, expected, "{:?}", self.json());
    }

    /// Asserts an error answer, as [`assert_error`] does.
    pub fn assert_error(&self, status: StatusCode, code: &str) {
        assert_error(self.status, &self.json(), status, code);
    }
}

impl TestApp {
    pub async fn put(&self, path: &str, token: Option<&str>, body: Value) -> (StatusCode, Value) {
        self.call(Method::PUT, path, token, Some(body)).await
    }

    /// Sends a multipart form built from `parts`; returns status and JSON (or Null).
    pub async fn multipart(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        parts: Vec<FormPart>,
    ) -> (StatusCode, Value) {
        let mut form = reqwest::multipart::Form::new();
        for part in parts {
            let mut p = reqwest::multipart::Part::bytes(part.bytes);
            if let Some(file_name) = part.file_name {
                p = p.file_name(file_name);
            }
            if let Some(mime) = part.mime {
                p = p.mime_str(&mime).expect("a valid mime type");
            }
            form = form.part(part.name, p);
        }
        let mut request = self.client.request(method, self.url(path)).multipart(form);
        if let Some(token) = token {
            request = request.header("Authorization", format!("Token {token}"));
        }
        let response = request.send().await.expect("the form is answered");
        let status = response.status();
        let bytes = response.bytes().await.unwrap_or_default();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    /// `POST /posts/create/` with the given form parts.
    pub async fn upload_with(
        &self,
        token: Option<&str>,
        parts: Vec<FormPart>,
    ) -> (StatusCode, Value) {
        self.multipart(Method::POST, "/posts/create/", token, parts)
            .await
    }

    /// Sends `body` as is with the given `Content-Type` (none when `None`).
    pub async fn send_bytes(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        content_type: Option<&str>,
        body: Vec<u8>,
    ) -> RawResponse {
        let mut request = self.client.request(method, self.url(path)).body(body);
        if let Some(token) = token {
            request = request.header("Authorization", format!("Token {token}"));
        }
        if let Some(content_type) = content_type {
            request = request.header("Content-Type", content_type);
        }
        let response = request.send().await.expect("the request is answered");
        RawResponse {
            status: response.status(),
            headers: response.headers().clone(),
            bytes: response.bytes().await.unwrap_or_default().to_vec(),
        }
    }

    /// `GET path` (a path, or an absolute URL of this app) with extra headers; the raw answer.
    pub async fn get_bytes(&self, path: &str, headers: &[(&str, &str)]) -> RawResponse {
        let mut request = self.client.get(self.url(&self.path_of(path)));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await.expect("the request is answered");
        RawResponse {
            status: response.status(),
            headers: response.headers().clone(),
            bytes: response.bytes().await.unwrap_or_default().to_vec(),
        }
    }

    /// The path of an absolute URL of this app (a path is returned as is).
    pub fn path_of(&self, url: &str) -> String {
        url.strip_prefix(&self.address).unwrap_or(url).to_owned()
    }

    /// Sends `request` (the raw bytes of an HTTP/1.1 request) over a new TCP connection, unchanged
    /// by any client library (paths with `..` stay as they are); returns status and body.
    pub async fn raw_http(&self, request: &str) -> (u16, Vec<u8>) {
        use std::io::{Read, Write};
        let host = self.address.trim_start_matches("http://").to_owned();
        let request = request.to_owned();
        let response = tokio::task::spawn_blocking(move || {
            let mut stream = std::net::TcpStream::connect(host).unwrap();
            stream
                .set_read_timeout(Some(Duration::from_secs(30)))
                .unwrap();
            stream.write_all(request.as_bytes()).unwrap();
            let mut response = Vec::new();
            let _ = stream.read_to_end(&mut response);
            response
        })
        .await
        .unwrap();
        let text = String::from_utf8_lossy(&response);
        let status = text
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let body = match response.windows(4).position(|w| w == b"\r\n\r\n") {
            Some(at) => response[at + 4..].to_vec(),
            None => Vec::new(),
        };
        (status, body)
    }

    /// Asserts that `user` has no post and that no picture is stored (a refused upload leaves
    /// nothing behind).
    pub async fn assert_nothing_posted_by(&self, user: &TestUser) {
        assert_eq!(self.post_count(user.id).await, 0);
        assert!(self.media_files().is_empty(), "{:?}", self.media_files());
    }

    /// Every regular file under the media directory (empty directories do not count).
    pub fn media_files(&self) -> Vec<PathBuf> {
        fn walk(dir: &std::path::Path, out: &mut Vec<PathBuf>) {
            let Ok(entries) = std::fs::read_dir(dir) else {
                return;
            };
            for entry in entries.flatten() {
                let path = entry.path();
                if path.is_dir() {
                    walk(&path, out);
                } else {
                    out.push(path);
                }
            }
        }
        let mut files = Vec::new();
        walk(&self.settings.media_dir, &mut files);
        files
    }

    /// The stored JPEG and PNG files (each rendition's; not the WebP files beside some of them,
    /// whose number depends on the pictures' content), checking that no WebP is left without
    /// the rendition it was stored beside.
    pub fn picture_files(&self) -> Vec<PathBuf> {
        let (webp, pictures): (Vec<PathBuf>, Vec<PathBuf>) = self
            .media_files()
            .into_iter()
            .partition(|path| path.extension().is_some_and(|e| e == "webp"));
        for path in &webp {
            let beside = ["jpg", "png"].map(|ext| path.with_extension(ext));
            assert!(
                beside.iter().any(|p| pictures.contains(p)),
                "{} is left without its picture",
                path.display()
            );
        }
        pictures
    }

    /// `n` users made `batch` at a time (each batch concurrently). Hundreds of concurrent sign-ups
    /// each hash a password on the blocking pool at once, which can starve the server's workers.
    pub async fn users_in_batches(&self, prefix: &str, n: usize, batch: usize) -> Vec<TestUser> {
        let mut users = Vec::with_capacity(n);
        let mut start = 0;
        while start < n {
            let size = batch.max(1).min(n - start);
            users.extend(self.users(&format!("{prefix}{start}x"), size).await);
            start += size;
        }
        users
    }

    /// The app with a client that drops connections idle for over two seconds, well before the
    /// server's keep-alive closes them: under heavy load a request sent on a connection the
    /// server is closing at that moment is reset, which is a property of HTTP/1.1 keep-alive and
    /// not of the API.
    pub fn with_short_lived_connections(mut self) -> Self {
        self.client = reqwest::Client::builder()
            .timeout(Duration::from_secs(120))
            .pool_idle_timeout(Duration::from_secs(2))
            .build()
            .unwrap();
        self
    }

    /// A user's `post_count`, as `GET /accounts/{id}/` shows it.
    pub async fn post_count(&self, user_id: i64) -> i64 {
        let (status, body) = self.get(&format!("/accounts/{user_id}/"), None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["post_count"].as_i64().unwrap()
    }
}

/// Bytes that compress badly: a PNG of pseudo-random noise, about `width × height × 3` bytes.
pub fn noisy_png(width: u32, height: u32) -> Vec<u8> {
    let mut state: u32 = 0x1234_5678;
    let img = image::RgbImage::from_fn(width, height, |_, _| {
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            (state & 0xff) as u8
        };
        image::Rgb([next(), next(), next()])
    });
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

/// The `errors` map of a validation error, checking the status, code and that `field` is named.
pub fn assert_validation(status: StatusCode, body: &Value, field: &str) {
    assert_error(status, body, StatusCode::BAD_REQUEST, "validation_error");
    let messages = &body["errors"][field];
    assert!(
        messages.as_array().is_some_and(
            |m| !m.is_empty() && m.iter().all(|s| s.as_str().is_some_and(|s| !s.is_empty()))
        ),
        "errors.{field} should list messages: {body}"
    );
}

/// The fields named in a validation error.
pub fn error_fields(body: &Value) -> HashSet<String> {
    body["errors"]
        .as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default()
}

pub async fn profile_of(app: &TestApp, user: &TestUser) -> Value {
    let (status, body) = app
        .get(&format!("/accounts/{}/", user.id), Some(&user.token))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

pub async fn get_post(app: &TestApp, id: i64, user: &TestUser) -> Value {
    let (status, body) = app.as_(user).get_post(id).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

pub fn image_part(bytes: Vec<u8>) -> FormPart {
    FormPart::file("image", bytes, "photo.jpg")
}
