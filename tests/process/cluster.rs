//! A PostgreSQL cluster of the test's own, which it can stop and start again: initdb and pg_ctl
//! of the installed server, run as the `postgres` OS user (PostgreSQL refuses to run as root).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::server::free_port;

pub struct Cluster {
    dir: PathBuf,
    bin: PathBuf,
    pub port: u16,
}

/// The `bin` directory of the newest PostgreSQL under /usr/lib/postgresql.
fn postgres_bin() -> PathBuf {
    let mut versions: Vec<u32> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL's server binaries under /usr/lib/postgresql")
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .collect();
    versions.sort_unstable();
    let version = versions.last().expect("a PostgreSQL version installed");
    PathBuf::from(format!("/usr/lib/postgresql/{version}/bin"))
}

/// A PostgreSQL tool run as the `postgres` user when we are root (as ourselves otherwise), in
/// `dir`: the postgres user may not enter the caller's working directory.
fn postgres_tool(dir: &Path, program: &Path, args: &[&str]) -> Command {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0\n"));
    let mut command = if root {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    };
    command.args(args).current_dir(dir);
    command
}

fn run(mut command: Command) -> Output {
    let output = command.output().unwrap();
    assert!(
        output.status.success(),
        "{command:?}: {}\n{}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

impl Cluster {
    /// Creates a cluster in a new temporary directory and starts it on a free port.
    pub fn start() -> Self {
        let dir =
            std::env::temp_dir().join(format!("bs_cluster_{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        let cluster = Self {
            dir,
            bin: postgres_bin(),
            port: free_port(),
        };
        // Not root: chown fails and the tools run as ourselves, who own the directory already.
        let _ = Command::new("chown")
            .args(["-R", "postgres:postgres"])
            .arg(&cluster.dir)
            .status();
        let data = cluster.data();
        run(postgres_tool(
            &cluster.dir,
            &cluster.bin.join("initdb"),
            &[
                "-D",
                &data,
                "-U",
                "postgres",
                "--auth=trust",
                "--no-sync",
                "-E",
                "UTF8",
            ],
        ));
        cluster.resume();
        cluster
    }

    fn data(&self) -> String {
        self.dir.join("data").display().to_string()
    }

    fn pg_ctl(&self, args: &[&str]) -> Command {
        let data = self.data();
        let mut all = vec!["-D", data.as_str()];
        all.extend_from_slice(args);
        postgres_tool(&self.dir, &self.bin.join("pg_ctl"), &all)
    }

    /// Starts the server and waits until it accepts connections.
    pub fn resume(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.dir.display()
        );
        let log = self.dir.join("postgres.log").display().to_string();
        run(self.pg_ctl(&["-w", "-l", &log, "-o", &options, "start"]));
    }

    /// Stops the server the way an operator restarting it does: sessions are terminated.
    pub fn stop(&self) {
        run(self.pg_ctl(&["-w", "-m", "fast", "stop"]));
    }

    /// The URL of the cluster's maintenance database.
    pub fn admin_url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // Also when the test failed half-way: stop the server (if running) and remove its files.
        let _ = self.pg_ctl(&["-w", "-m", "immediate", "stop"]).output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
