//! HTTP integration tests: the real application, a real database per test, both backends.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod helpers;

mod accounts;
mod comments;
mod feed;
mod follows;
mod media;
mod openapi;
mod posts;
