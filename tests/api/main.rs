//! HTTP integration tests: the real application, a real database per test, both backends.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[macro_use]
extern crate being_social_test_support;

mod client;
mod helpers;

mod accounts;
mod comments;
mod configuration;
mod connections;
mod feed;
mod follows;
mod hardening;
mod likes;
mod media;
mod metrics;
mod openapi;
mod posts;
mod ratelimit;
mod request_id;
mod sessions;
