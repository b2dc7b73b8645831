//! Shared test helpers.
#![allow(dead_code)]
pub mod backfill;
pub mod cli;
pub mod config;
pub mod driver;
pub mod fake_ami;
pub mod fake_server;
pub mod fake_switch;
pub mod faults;
pub mod http;
pub mod malformed;
pub mod pipeline;
pub mod process;
pub mod receiver;
pub mod restarts;
pub mod stream;

/// `DIR/NAME.toml`: a queue in DIR and `app` with one more service,
/// `service`, posting to `url`.
pub fn app_config(
    dir: &std::path::Path,
    name: &str,
    app: config::App,
    service: &str,
    url: &str,
) -> std::path::PathBuf {
    config::Config::new()
        .queue_in(dir)
        .app(app.service(config::Service::rest(service, url)))
        .write_to(&dir.join(format!("{name}.toml")))
}
