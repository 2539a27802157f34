//! The adapter conformance suite: one set of test bodies for every port method of the six
//! repositories, run against PostgreSQL and against SQLite (each test on a fresh database), and
//! against the coalescing adapters where they stand in for a port.
//!
//! `cargo test -p being-social --test conformance`; PostgreSQL at DATABASE_URL (when it starts
//! with `postgres`) or `postgres://postgres@127.0.0.1:5432/postgres`. Each test body takes a
//! [`fixture::Fixture`]; `on_both_backends!` (of `being_social_test_support`) runs it on both.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[macro_use]
extern crate being_social_test_support;

mod fixture;
mod support;

mod accounts;
mod comments;
mod concurrency;
mod feed;
mod follows;
mod likes;
mod posts;
mod sessions;
