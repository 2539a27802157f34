//! The test harness: every test starts the real application on a random port against its own new
//! database (PostgreSQL or SQLite), and drops that database afterwards.

use std::path::PathBuf;
use std::time::Duration;

use actix_web::dev::ServerHandle;
use being_social::configuration::Settings;
use being_social::startup::Application;
use being_social_infra::db::Database;
use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// The PostgreSQL server tests create their databases on.
pub fn admin_url() -> String {
    std::env::var("DATABASE_URL")
        .ok()
        .filter(|u| u.starts_with("postgres"))
        .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// `postgres://user@host:port/NAME` for the same server as the admin URL.
fn database_url(admin: &str, name: &str) -> String {
    match admin.rfind('/') {
        Some(slash) if slash > "postgres://".len() => format!("{}/{name}", &admin[..slash]),
        _ => format!("{admin}/{name}"),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

/// A database made for one test and removed when the test ends.
pub struct TestDatabase {
    pub url: String,
    backend: Backend,
    name: String,
    dir: PathBuf,
}

impl TestDatabase {
    pub async fn create(backend: Backend) -> Self {
        let name = format!("bs_test_{}", uuid::Uuid::new_v4().simple());
        let dir = std::env::temp_dir().join(&name);
        std::fs::create_dir_all(&dir).unwrap();
        let url = match backend {
            Backend::Postgres => {
                let admin = admin_url();
                let mut conn = AsyncPgConnection::establish(&admin).await.unwrap_or_else(|e| {
                    panic!(
                        "cannot reach PostgreSQL at {admin} ({e}). Start PostgreSQL, or point the \
                         tests at one with DATABASE_URL=postgres://USER@HOST:PORT/postgres"
                    )
                });
                conn.batch_execute(&format!("CREATE DATABASE {name}"))
                    .await
                    .unwrap();
                database_url(&admin, &name)
            }
            Backend::Sqlite => format!("sqlite://{}", dir.join("db.sqlite").display()),
        };
        Self {
            url,
            backend,
            name,
            dir,
        }
    }

    /// A second connection pool to the same database, for checks the API does not expose.
    pub async fn open(&self) -> Database {
        Database::open(&self.url, 2).unwrap()
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
        if self.backend == Backend::Postgres {
            let name = self.name.clone();
            // Drop cannot await: a short-lived runtime on its own thread does the cleanup.
            let _ = std::thread::spawn(move || {
                let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                else {
                    return;
                };
                rt.block_on(async move {
                    if let Ok(mut conn) = AsyncPgConnection::establish(&admin_url()).await {
                        let _ = conn
                            .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                            .await;
                    }
                });
            })
            .join();
        }
    }
}

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub backend: Backend,
    pub settings: Settings,
    handle: ServerHandle,
    // Dropped last: the server must stop before its database goes.
    pub db: TestDatabase,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        // The stop command is sent at once; its completion is not awaited (Drop cannot).
        drop(self.handle.stop(false));
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
        let db = TestDatabase::create(backend).await;
        let mut settings = Settings::for_database(db.url.clone(), db.dir.join("media"));
        adjust(&mut settings);
        let app = Application::build(&settings)
            .await
            .expect("the application starts");
        let address = format!("http://127.0.0.1:{}", app.port());
        let handle = app.handle();
        tokio::spawn(app.run_until_stopped());
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(120))
            .build()
            .unwrap();
        Self {
            address,
            client,
            backend,
            settings,
            handle,
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
        let (status, body) = self.upload(&user.token, png(40, 30), caption).await;
        assert_eq!(status, StatusCode::CREATED, "upload: {body}");
        body["id"].as_i64().unwrap()
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
        let db = self.db.open().await;
        let drift = db.counter_drift().await.unwrap();
        assert!(drift.is_empty(), "counters drifted: {drift:?}");
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

/// Runs each named test body against both backends, as `<name>::postgres` and `<name>::sqlite`.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    super::$name($crate::helpers::TestApp::spawn($crate::helpers::Backend::Postgres).await).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::$name($crate::helpers::TestApp::spawn($crate::helpers::Backend::Sqlite).await).await;
                }
            }
        )*
    };
}
