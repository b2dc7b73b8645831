//! The one way tests and benches write the daemon's TOML: a small typed
//! builder ([`Config`] of [`Switch`]es, `[queue]`, `[calls]`, `[metrics]`
//! and [`App`]s with their [`Service`]s) rendered by the `toml` crate, so
//! no test formats TOML by hand and a renamed key is changed in one place.
//! Typed methods cover what most tests say; `set` adds any other key of
//! a table, with a `toml::Value` (or anything that converts into one).
//! Tests whose subject is the TOML text itself (a check message that
//! points at a key) keep their literal TOML.

use std::path::{Path, PathBuf};

use toml::{Table, Value};

/// A TOML inline table from `(key, value)` pairs, for `set`.
pub fn table<K: Into<String>, V: Into<Value>>(pairs: impl IntoIterator<Item = (K, V)>) -> Value {
    Value::Table(
        pairs
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect(),
    )
}

/// A path as a TOML string.
pub fn path(p: &Path) -> Value {
    Value::String(p.display().to_string())
}

/// `key = value` into `t`'s sub-table `name` (made if missing).
fn set_in(t: &mut Table, name: &str, key: &str, value: Value) {
    let sub = t.entry(name).or_insert_with(|| Value::Table(Table::new()));
    if let Value::Table(sub) = sub {
        sub.insert(key.into(), value);
    }
}

/// `value` appended to `t`'s array `name` (made if missing).
fn push_to(t: &mut Table, name: &str, value: Value) {
    let list = t.entry(name).or_insert_with(|| Value::Array(Vec::new()));
    if let Value::Array(list) = list {
        list.push(value);
    }
}

/// A whole configuration file.
#[derive(Debug, Clone, Default)]
pub struct Config {
    root: Table,
}

impl Config {
    pub fn new() -> Config {
        Config::default()
    }

    /// `[queue] path = DIR/q.sqlite3`.
    pub fn queue_in(self, dir: &Path) -> Config {
        self.queue("path", path(&dir.join("q.sqlite3")))
    }

    /// `[queue] KEY = VALUE`.
    pub fn queue(mut self, key: &str, value: impl Into<Value>) -> Config {
        set_in(&mut self.root, "queue", key, value.into());
        self
    }

    /// `[calls] KEY = VALUE`.
    pub fn calls(mut self, key: &str, value: impl Into<Value>) -> Config {
        set_in(&mut self.root, "calls", key, value.into());
        self
    }

    /// `[metrics] listen = "127.0.0.1:PORT"`.
    pub fn metrics(mut self, port: u16) -> Config {
        set_in(
            &mut self.root,
            "metrics",
            "listen",
            format!("127.0.0.1:{port}").into(),
        );
        self
    }

    /// One more `[[switches]]`.
    pub fn switch(mut self, switch: Switch) -> Config {
        push_to(&mut self.root, "switches", Value::Table(switch.0));
        self
    }

    /// One more `[[applications]]`.
    pub fn app(mut self, app: App) -> Config {
        push_to(&mut self.root, "applications", Value::Table(app.0));
        self
    }

    /// The TOML text.
    pub fn toml(&self) -> String {
        toml::to_string(&self.root).unwrap_or_else(|e| panic!("renders: {e}"))
    }

    /// Written to `path`, which is returned.
    pub fn write_to(&self, path: &Path) -> PathBuf {
        std::fs::write(path, self.toml()).unwrap();
        path.to_path_buf()
    }

    /// Written to `DIR/postcall.toml`, which is returned.
    pub fn write(&self, dir: &Path) -> PathBuf {
        self.write_to(&dir.join("postcall.toml"))
    }

    /// Parsed and validated as the daemon would.
    pub fn parse(&self) -> postcall::config::Config {
        postcall::config::Config::from_toml_str(&self.toml())
            .unwrap_or_else(|e| panic!("{e}\n{}", self.toml()))
    }
}

/// One `[[switches]]` table.
#[derive(Debug, Clone)]
pub struct Switch(Table);

impl Switch {
    /// `kind = KIND`, nothing else.
    pub fn new(kind: &str) -> Switch {
        Switch(Table::new()).set("kind", kind)
    }

    /// FreeSWITCH `lab` at `address`, as most daemon tests follow.
    pub fn lab(address: &str) -> Switch {
        Switch::new("freeswitch").name("lab").address(address)
    }

    /// Asterisk with AMI `username` and `secret`.
    pub fn asterisk(username: &str, secret: &str) -> Switch {
        Switch::new("asterisk")
            .set("username", username)
            .set("secret", secret)
    }

    pub fn name(self, name: &str) -> Switch {
        self.set("name", name)
    }

    pub fn address(self, address: &str) -> Switch {
        self.set("address", address)
    }

    /// `[switches.cdr] dirs = [DIRS]`.
    pub fn cdr_dirs(mut self, dirs: &[&Path]) -> Switch {
        let dirs: Vec<Value> = dirs.iter().map(|d| path(d)).collect();
        set_in(&mut self.0, "cdr", "dirs", Value::Array(dirs));
        self
    }

    /// `KEY = VALUE` in this switch's table.
    pub fn set(mut self, key: &str, value: impl Into<Value>) -> Switch {
        self.0.insert(key.into(), value.into());
        self
    }
}

/// One `[[applications]]` table with its services.
#[derive(Debug, Clone)]
pub struct App(Table);

impl App {
    pub fn new(name: &str) -> App {
        App(Table::new()).set("name", name)
    }

    /// `[applications.match] any = true`.
    pub fn match_any(self) -> App {
        self.matching("any", true)
    }

    /// `[applications.match] KEY = VALUE`.
    pub fn matching(mut self, key: &str, value: impl Into<Value>) -> App {
        set_in(&mut self.0, "match", key, value.into());
        self
    }

    /// `[applications.filters] KEY = VALUE`.
    pub fn filter(mut self, key: &str, value: impl Into<Value>) -> App {
        set_in(&mut self.0, "filters", key, value.into());
        self
    }

    /// One more `[[applications.services]]`.
    pub fn service(mut self, service: Service) -> App {
        push_to(&mut self.0, "services", Value::Table(service.0));
        self
    }

    /// `KEY = VALUE` in this application's table.
    pub fn set(mut self, key: &str, value: impl Into<Value>) -> App {
        self.0.insert(key.into(), value.into());
        self
    }
}

/// One `[[applications.services]]` table.
#[derive(Debug, Clone)]
pub struct Service(Table);

impl Service {
    /// A REST service (the default type) posting to `url`.
    pub fn rest(name: &str, url: &str) -> Service {
        Service(Table::new()).set("name", name).set("url", url)
    }

    /// A SOAP service calling `operation` of the WSDL at `wsdl` (a path or
    /// a URL).
    pub fn soap(name: &str, wsdl: &str, operation: &str) -> Service {
        Service(Table::new())
            .set("name", name)
            .set("type", "soap")
            .set("wsdl", wsdl)
            .set("operation", operation)
    }

    /// `params.KEY = VALUE` (a template).
    pub fn param(mut self, key: &str, value: &str) -> Service {
        set_in(&mut self.0, "params", key, value.into());
        self
    }

    /// `params` from (name, template) pairs.
    pub fn params(self, pairs: &[(&str, &str)]) -> Service {
        pairs.iter().fold(self, |service, (name, template)| {
            service.param(name, template)
        })
    }

    /// `headers.KEY = VALUE` (a template).
    pub fn header(mut self, key: &str, value: &str) -> Service {
        set_in(&mut self.0, "headers", key, value.into());
        self
    }

    /// `[applications.services.filters] KEY = VALUE`.
    pub fn filter(mut self, key: &str, value: impl Into<Value>) -> Service {
        set_in(&mut self.0, "filters", key, value.into());
        self
    }

    /// `tls.KEY = VALUE`.
    pub fn tls(mut self, key: &str, value: impl Into<Value>) -> Service {
        set_in(&mut self.0, "tls", key, value.into());
        self
    }

    /// One more `auth` entry, e.g. `[("type", "bearer"), ("token", "t")]`.
    pub fn auth<'a>(mut self, pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Service {
        push_to(&mut self.0, "auth", table(pairs));
        self
    }

    /// `KEY = VALUE` in this service's table.
    pub fn set(mut self, key: &str, value: impl Into<Value>) -> Service {
        self.0.insert(key.into(), value.into());
        self
    }
}
