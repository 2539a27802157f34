//! The server binary in a process of its own, configured through its environment.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use being_social::settings::Settings;

use crate::helpers::{Backend, TestApp, TestDatabase};

/// A running `being-social serve`, killed when dropped if it is still running.
pub struct ServerProcess {
    child: Child,
    pub port: u16,
    log: PathBuf,
}

/// A port nobody listens on now (the kernel's choice for port 0, released at once).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Settings for a process on `db`: a free port, media under the database's directory.
pub fn settings_for(db: &TestDatabase) -> Settings {
    let mut settings = Settings::for_database(db.url.clone(), db.dir.join("media"));
    settings.bind = ([127, 0, 0, 1], free_port()).into();
    settings
}

impl ServerProcess {
    /// Starts the binary with `settings` and waits until `/readyz` answers 200.
    pub async fn start(settings: &Settings) -> Self {
        Self::start_with_env(settings, &[]).await
    }

    /// [`Self::start`] with more environment variables (settings the helper does not pass on).
    pub async fn start_with_env(settings: &Settings, env: &[(&str, &str)]) -> Self {
        let port = settings.bind.port();
        let log = settings
            .media_dir
            .with_file_name(format!("server-{port}.log"));
        std::fs::create_dir_all(&settings.media_dir).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_being-social"))
            .env("BIND", settings.bind.to_string())
            .env("DATABASE_URL", &settings.database_url)
            .env("DATABASE_POOL_SIZE", settings.pool_size.to_string())
            .env("MEDIA_DIR", &settings.media_dir)
            .env("MAX_UPLOAD_BYTES", settings.max_upload_bytes.to_string())
            .env("WORKERS", settings.workers.unwrap_or(2).to_string())
            .env("SHUTDOWN_TIMEOUT", settings.shutdown_timeout.to_string())
            .env("RATE_LIMITS", "off")
            .env("RUST_LOG", "info")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(std::fs::File::options().append(true).open(&log).unwrap())
            .spawn()
            .unwrap();
        let mut server = Self { child, port, log };
        server.wait_ready().await;
        server
    }

    async fn wait_ready(&mut self) {
        let client = reqwest::Client::new();
        let url = format!("http://127.0.0.1:{}/readyz", self.port);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("the server exited ({status}) before ready:\n{}", self.log());
            }
            if let Ok(response) = client.get(&url).send().await
                && response.status() == 200
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "not ready in 60 s:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub fn address(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The HTTP helpers, aimed at this process.
    pub fn app(&self, settings: &Settings, db: &Arc<TestDatabase>) -> TestApp {
        TestApp::at(
            self.address(),
            Backend::Postgres,
            settings.clone(),
            db.clone(),
        )
    }

    /// The most memory the process has held resident so far (`VmHWM`), in bytes.
    pub fn peak_rss(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        let kib: u64 = status
            .lines()
            .find_map(|line| line.strip_prefix("VmHWM:"))
            .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap();
        kib * 1024
    }

    /// What the server printed.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Sends a signal by name (`TERM`, `INT`, `KILL`).
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
        assert!(status.success(), "kill -{name} failed");
    }

    /// Waits (at most `limit`) for the process to end.
    pub async fn exit_status(&mut self, limit: Duration) -> ExitStatus {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "still running {limit:?} after being told to stop:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// `being-social check` with `args` on the server's database: whether every counter equals
    /// its rows and every feed its follows and posts.
    pub fn check(settings: &Settings, args: &[&str]) -> std::process::Output {
        Self::check_with_env(settings, &[], args)
    }

    /// [`ServerProcess::check`] with more environment (a media store's settings).
    pub fn check_with_env(
        settings: &Settings,
        env: &[(String, String)],
        args: &[&str],
    ) -> std::process::Output {
        Command::new(env!("CARGO_BIN_EXE_being-social"))
            .arg("check")
            .args(args)
            .env("DATABASE_URL", &settings.database_url)
            .env("MEDIA_DIR", &settings.media_dir)
            .env("RUST_LOG", "warn")
            .envs(env.iter().map(|(k, v)| (k, v)))
            .output()
            .unwrap()
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        // TEST_LOG: the process's log goes into the test's output (shown when the test fails).
        if being_social_test_support::log::enabled() {
            println!(
                "--- log of the server on port {}:\n{}",
                self.port,
                self.log()
            );
        }
    }
}

/// Asserts that `being-social check` finds no counter that differs from its rows.
pub fn assert_check_passes(settings: &Settings) {
    let output = ServerProcess::check(settings, &[]);
    assert!(
        output.status.success(),
        "being-social check: {}\n{}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
