//! The Being Social server: configuration, telemetry, and the wiring of adapters to handlers.
//! `main.rs` is a thin command line over this library; the integration tests start the same
//! [`startup::Application`].

pub mod allocator;
pub mod cli;
pub mod configuration;
pub mod settings;
pub mod startup;
pub mod telemetry;
