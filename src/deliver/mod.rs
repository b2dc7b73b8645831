//! Delivery: from a leased outbox row to a sent, signed request and a
//! verdict.
//!
//! - [`render`]: the service's templates over the record → a request.
//! - [`sign`]: authentication headers and signatures, per attempt.
//! - [`rest`]: sends a rendered request (reqwest, rustls).
//! - [`policy`]: the response → delivered / retry / dead / disable service,
//!   and when to retry.
//! - [`limits`]: per-service rate and concurrency, the global worker limit.

pub mod policy;
pub mod render;
pub mod rest;
pub mod sign;
