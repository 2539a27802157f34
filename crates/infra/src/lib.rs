//! Adapters for the ports of `being-social-domain`.
//!
//! - [`db`]: PostgreSQL and embedded SQLite through diesel-async, one query code for both.
//! - [`media`]: the shape of media keys; [`object_media`]: pictures in an object store, a local
//!   directory or an S3-compatible bucket (the one media store).
//! - [`orphans`]: files of the media store that no row names (`being-social check --media`).
//! - [`ratelimit`]: the rate limits' counts in Redis, shared by every process.
//!
//! Picture processing, the other CPU-heavy adapter, is its own crate (`being-social-images`), built
//! optimised even in debug builds.
//! - [`credentials`]: argon2id password hashes and login tokens.

pub mod coalesce;
pub mod credentials;
pub mod db;
pub mod media;
pub mod object_media;
pub mod orphans;
pub mod ratelimit;
