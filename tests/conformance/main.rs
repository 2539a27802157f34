//! The adapter conformance suite: one set of test bodies for every port method of the six
//! repositories, run against PostgreSQL and against SQLite (each test on a fresh database), and
//! against the coalescing adapters where they stand in for a port.
//!
//! `cargo test -p being-social --test conformance`; PostgreSQL at DATABASE_URL (when it starts
//! with `postgres`) or `postgres://postgres@127.0.0.1:5432/postgres`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

/// One test body, run as `<name>::postgres` and `<name>::sqlite`, each on its own new database.
/// Extra attributes (e.g. `#[ignore = "adapter bug: ..."]`) may be given per backend.
macro_rules! conformance_test {
    ($name:ident) => {
        conformance_test!($name, postgres: [], sqlite: []);
    };
    ($name:ident, postgres: [$(#[$pg:meta])*], sqlite: [$(#[$sq:meta])*]) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            $(#[$pg])*
            async fn postgres() {
                let fixture =
                    $crate::fixture::Fixture::new($crate::fixture::Backend::Postgres).await;
                super::$name(&fixture).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            $(#[$sq])*
            async fn sqlite() {
                let fixture = $crate::fixture::Fixture::new($crate::fixture::Backend::Sqlite).await;
                super::$name(&fixture).await;
            }
        }
    };
}

/// Runs each named test body against both backends.
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        $( conformance_test!($name); )*
    };
}

mod fixture;
mod support;

mod accounts;
mod comments;
mod concurrency;
mod follows;
mod likes;
mod posts;
mod sessions;
