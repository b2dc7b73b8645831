//! Shared test helpers.
#![allow(dead_code)]
pub mod cli;
pub mod driver;
pub mod fake_switch;
pub mod faults;
pub mod http;
pub mod pipeline;
pub mod process;
pub mod receiver;
