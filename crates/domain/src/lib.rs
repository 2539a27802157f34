//! The core of Being Social: entities, validated values, the ports the adapters implement, and the
//! services that hold the rules. Nothing in this crate performs IO; everything that does sits behind
//! a port in [`ports`].

pub mod error;
pub mod model;
pub mod pagination;
pub mod ports;
pub mod services;
pub mod values;

pub use error::{Cause, DomainError, FieldErrors, Resource, Result};
