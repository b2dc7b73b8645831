//! Shared test helpers.
#![allow(dead_code)]
pub mod driver;
pub mod fake_switch;
pub mod http;
pub mod process;
pub mod receiver;
