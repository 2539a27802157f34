//! What the test suites of Being Social share (`tests/api`, `tests/conformance`, `tests/process`):
//!
//! - [`TestDatabase`]: a new PostgreSQL database or SQLite file for one test, removed afterwards;
//! - [`Backend`] and [`on_both_backends!`]: one test body, run once on each backend;
//! - [`log`]: the `TEST_LOG` switch, which shows the server's log for a failing test;
//! - [`pictures`]: PNGs whose header claims more than their data holds.
//!
//! PostgreSQL is the server of `DATABASE_URL` when it starts with `postgres`, else
//! `postgres://postgres@127.0.0.1:5432/postgres`.

// Test code: a failed set-up is a failed test, with the reason in the panic.
#![allow(clippy::expect_used)]

mod database;
pub mod log;
mod macros;
pub mod pictures;

use std::future::Future;

pub use database::{TestDatabase, admin_url};

/// The database a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

/// What a test body of [`on_both_backends!`] is given, made for one backend before it runs (and
/// dropped, with its database, after).
pub trait Start: Sized {
    fn start(backend: Backend) -> impl Future<Output = Self>;
}

/// Runs one test body of [`on_both_backends!`]: the `TEST_LOG` subscriber, then its [`Start`]
/// for the backend, then the body with what that made.
pub async fn run<T, B, G>(body: B, backend: Backend)
where
    T: Start,
    B: FnOnce(T) -> G,
    G: Future<Output = ()>,
{
    run_with(body, T::start, backend).await;
}

/// [`run`], with `start` to make what the body is given.
pub async fn run_with<T, S, F, B, G>(body: B, start: S, backend: Backend)
where
    S: FnOnce(Backend) -> F,
    F: Future<Output = T>,
    B: FnOnce(T) -> G,
    G: Future<Output = ()>,
{
    log::init();
    let given = start(backend).await;
    body(given).await;
}
