//! Process-level tests: the real binary in its own process, stopped by signals, killed, run twice
//! on one database, and kept running while PostgreSQL restarts under it; three of them sharing
//! one Redis for their rate limits, and one bucket of SeaweedFS for their pictures.
#![allow(clippy::unwrap_used, clippy::expect_used)]

// The HTTP helpers and the typed client of the API suites (users, uploads, error bodies), pointed
// at a process.
#[path = "../api/client.rs"]
#[allow(dead_code)]
mod client;
#[path = "../api/helpers.rs"]
#[allow(dead_code)]
mod helpers;

mod check;
mod cluster;
mod kill;
mod memory;
mod outage;
mod redis;
mod scale;
mod seaweed;
mod seed;
mod server;
mod shutdown;
mod storm;
