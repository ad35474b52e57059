//! The helpdesk library. Its layers point one way, each importing only those below it:
//!
//! 1. [`domain`]: records, rules and validation; no I/O.
//! 2. [`ports`]: what the services need from the outside world, a trait per aggregate.
//! 3. [`services`]: the capabilities (customers, companies, fields, imports, inbound mail,
//!    tickets, notifications) over the ports.
//! 4. Adapters ([`store`], [`objects`], [`mail`], [`publish`]) and the edges ([`http`], [`lambda`],
//!    [`telemetry`]).
//! 5. [`app`]: the wiring, one constructor per entry point.
//!
//! The Lambda functions and the local `helpdesk` program read their configuration and call
//! one constructor of [`app`].

pub mod app;
#[cfg(any(feature = "dynamodb", feature = "s3"))]
pub mod aws;
pub mod budget;
pub mod domain;
#[cfg(feature = "http")]
pub mod http;
#[cfg(feature = "lambda")]
pub mod lambda;
pub mod mail;
pub mod objects;
pub mod ports;
pub mod publish;
pub mod services;
pub mod store;
pub mod telemetry;

pub use domain::clock::{new_id, now, stable_hash};
