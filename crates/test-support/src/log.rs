//! The `TEST_LOG` switch. Tests are quiet by default; with `TEST_LOG` set (to anything but `0`
//! or empty), every event the server logs inside a test is written to that test's output, which
//! the test harness shows when the test fails (or always, with `--nocapture`). `RUST_LOG` filters
//! it as it does the server's own log (default `info`):
//!
//! ```sh
//! TEST_LOG=1 cargo test -p being-social --test api likes::
//! TEST_LOG=1 RUST_LOG=debug,h2=info cargo test -p being-social --test api likes::
//! ```
//!
//! Servers that run as processes of their own (`tests/process`) write their log to a file; with
//! `TEST_LOG` set, that file is printed into the test's output when the server is dropped.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// Whether `TEST_LOG` asks for the server's log.
pub fn enabled() -> bool {
    std::env::var_os("TEST_LOG").is_some_and(|v| !v.is_empty() && v != "0")
}

/// Installs the test subscriber when [`enabled`]: events go to the output of the test whose
/// threads log them. Without `TEST_LOG`, nothing is installed and nothing is printed. Called by
/// [`on_both_backends!`](crate::on_both_backends) before every test body (and by whatever starts
/// a server in a test); a second call is a no-op.
pub fn init() {
    if !enabled() {
        return;
    }
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        // Colours only for a person at a terminal, as the server's own log.
        .with_ansi(std::io::stdout().is_terminal())
        .with_test_writer()
        .try_init();
}
