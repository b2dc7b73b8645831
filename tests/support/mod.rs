//! Shared test helpers.
#![allow(dead_code)]
pub mod backfill;
pub mod cli;
pub mod driver;
pub mod fake_ami;
pub mod fake_switch;
pub mod faults;
pub mod http;
pub mod pipeline;
pub mod process;
pub mod receiver;
pub mod restarts;
pub mod stream;

/// `DIR/NAME.toml`: a queue in DIR and one application (`app`, TOML lines
/// after `name = …`) whose one service posts to `url`.
pub fn app_config(
    dir: &std::path::Path,
    name: &str,
    app: &str,
    service: &str,
    url: &str,
) -> std::path::PathBuf {
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(
        &path,
        format!(
            "[queue]\npath = \"{}\"\n[[applications]]\n{app}\n[[applications.services]]\nname = \"{service}\"\nurl = \"{url}\"\n",
            dir.join("q.sqlite3").display()
        ),
    )
    .unwrap();
    path
}
