//! Adapters for the ports of `being-social-domain`.
//!
//! - [`db`]: PostgreSQL and embedded SQLite through diesel-async, one query code for both.
//! - [`media`]: pictures on the local disk.
//! - [`images`]: decoding, orienting, resizing and re-encoding pictures with the `image` crate.
//! - [`credentials`]: argon2id password hashes and login tokens.

pub mod coalesce;
pub mod credentials;
pub mod db;
pub mod images;
pub mod media;
