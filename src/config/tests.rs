//! Known-answer tests of loading: defaults, effective values, collection of
//! every error with its key.

use super::*;

fn errors(text: &str) -> Vec<String> {
    match Config::from_toml_str(text) {
        Ok(_) => panic!("accepted:\n{text}"),
        Err(e) => e.errors.iter().map(|e| e.to_string()).collect(),
    }
}

#[test]
fn empty_file_is_the_embedded_defaults() {
    let c = Config::from_toml_str("").unwrap();
    assert_eq!(c.switches.len(), 1);
    assert_eq!(c.switches[0].address(), "127.0.0.1:8021");
    assert_eq!(c.queue.workers, 8);
    assert_eq!(c.queue.max_retries, 6);
    assert_eq!(c.queue.retry_base, std::time::Duration::from_secs(60));
    assert_eq!(c.queue.retry_factor, 6);
    assert_eq!(c.queue.retry_max, std::time::Duration::from_secs(24 * 3600));
    assert_eq!(c.queue.retention, std::time::Duration::from_secs(7 * 86400));
    assert!(c.applications.is_empty());
}

#[test]
fn service_defaults_are_filled_in() {
    let c = Config::from_toml_str(
        r#"
[queue]
default_concurrency = 2
[[applications]]
name = "survey"
[[applications.services]]
name = "crm"
url = "https://crm.example.com/{{ call.call_id }}"
"#,
    )
    .unwrap();
    let app = c.application("survey").unwrap();
    assert_eq!(app.match_rule.variable.as_deref(), Some("postcall_app"));
    assert_eq!(app.match_rule.value.as_deref(), Some("survey"));
    let (_, s) = c.service("crm").unwrap();
    assert_eq!(s.timeout, std::time::Duration::from_secs(5));
    assert_eq!(s.concurrency, 2);
    assert_eq!(s.rate_limit, 20.0);
    let ServiceKind::Rest(rest) = &s.kind else {
        panic!("not REST")
    };
    assert_eq!(rest.method, Method::PostRaw);
    assert_eq!(rest.content_type.as_deref(), Some("application/json"));
}

#[test]
fn every_error_is_reported_at_once() {
    let e = errors(
        r#"
[queue]
workers = 0
[[switches]]
kind = "freeswitch"
keepalive = "soon"
[[applications]]
name = "a"
[[applications.services]]
name = "s"
url = "crm/calls"
"#,
    );
    assert_eq!(e.len(), 3, "{e:#?}");
    assert!(e.contains(&"queue.workers: must be at least 1".to_string()));
    assert!(e
        .iter()
        .any(|m| m.starts_with("switches[0].keepalive: invalid duration")));
    assert!(e.contains(
        &"applications[0].services[0].url: relative URL \"crm/calls\" has no scheme".to_string()
    ));
}

#[test]
fn unknown_keys_are_named_at_every_level() {
    let e = errors("colour = 1\n[queue]\npth = \"x\"\n");
    assert!(e[0].starts_with("colour: unknown key"), "{e:?}");
    assert!(e[1].starts_with("queue.pth: unknown field `pth`"), "{e:?}");
    let e = errors(
        "[[applications]]\nname = \"a\"\n[[applications.services]]\nname = \"s\"\nurl = \"https://x/\"\ntls = { verify = false }\n",
    );
    assert!(
        e[0].starts_with("applications[0].services[0].tls.verify: unknown field"),
        "{e:?}"
    );
}

#[test]
fn syntax_errors_give_the_line() {
    let e = errors("[queue]\npath = \n");
    assert!(e[0].starts_with("line 2, column"), "{e:?}");
}

#[test]
fn rest_and_soap_keys_do_not_mix() {
    let e = errors(
        r#"
[[applications]]
name = "a"
[[applications.services]]
name = "rest"
url = "https://x.example/"
operation = "Op"
[[applications.services]]
name = "soap"
type = "soap"
wsdl = "https://x.example/?wsdl"
operation = "Op"
headers = { A = "b" }
version = "2.0"
"#,
    );
    assert_eq!(e.len(), 3, "{e:#?}");
    assert!(e[0].starts_with("applications[0].services[0].operation: `operation` is a SOAP key"));
    assert!(e[1].starts_with("applications[0].services[1].headers: `headers` is a REST key"));
    assert!(e[2].starts_with("applications[0].services[1].version: unknown SOAP version"));
}

#[test]
fn body_only_for_raw_methods_and_secret_sources_checked() {
    std::env::remove_var("POSTCALL_TEST_UNSET_VARIABLE");
    let e = errors(
        r#"
[[applications]]
name = "a"
[[applications.services]]
name = "s"
method = "get"
url = "https://x.example/"
body = "{}"
auth = [{ type = "bearer", token = { env = "POSTCALL_TEST_UNSET_VARIABLE" } }]
"#,
    );
    assert_eq!(e.len(), 2, "{e:#?}");
    assert!(e[0].starts_with("applications[0].services[0].body: only POST_RAW and PUT"));
    assert_eq!(
        e[1],
        "applications[0].services[0].auth[0].token: environment variable POSTCALL_TEST_UNSET_VARIABLE is not set"
    );
}

#[test]
fn describe_masks_inline_secrets_and_shows_sources() {
    let c = Config::from_toml_str(
        r#"
[[switches]]
kind = "freeswitch"
secret = "esl-pass-123"
[[applications]]
name = "a"
recording_url = "https://f.example/{{ call.call_id }}"
recording_url_secret = "rec-key-456"
[[applications.services]]
name = "s"
url = "https://x.example/"
auth = [
  { type = "basic", username = "u", password = "pw-789" },
  { type = "standard_webhooks", secret = "whsec_cHctNzg5", next_secret = "whsec_cHctMDAw" },
]
"#,
    )
    .unwrap();
    let shown = c.describe();
    for secret in [
        "esl-pass-123",
        "rec-key-456",
        "pw-789",
        "cHctNzg5",
        "cHctMDAw",
    ] {
        assert!(!shown.contains(secret), "{secret} in\n{shown}");
    }
    assert_eq!(
        shown.matches(&format!("= \"{}\"", secret::MASK)).count(),
        5,
        "{shown}"
    );
    assert!(shown.contains("username = \"u\""));
}

#[test]
fn a_frame_limit_over_one_gib_is_refused_at_its_key() {
    let e = errors("[[switches]]\nkind = \"freeswitch\"\nmax_frame_bytes = 2147483648\n");
    assert_eq!(
        e,
        ["switches[0].max_frame_bytes: must be at most 1073741824 (1 GiB); one event is a few KiB"]
    );
    let c = Config::from_toml_str(
        "[[switches]]\nkind = \"freeswitch\"\nmax_frame_bytes = 1073741824\n",
    );
    assert!(c.is_ok());
}
