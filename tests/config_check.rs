//! `postcall check` as an operator runs it: the real binary on files in a
//! temporary directory. The example config passes; each broken config exits
//! 78 and names the key and the reason; secrets never reach the output.

mod support;

use std::path::Path;
use std::process::Output;

const EXIT_CONFIG: i32 = 78;

/// The example's one WSDL URL, an outside host no test may reach.
const EXAMPLE_WSDL: &str = "https://billing.example.com/CallService?wsdl";

/// The example configuration with its WSDL URL replaced by `url`.
fn example_with_wsdl(url: &str) -> String {
    let example = include_str!("../contrib/postcall.example.toml");
    assert!(example.contains(EXAMPLE_WSDL), "the example changed");
    example.replace(EXAMPLE_WSDL, url)
}

/// The example with its WSDL served on 127.0.0.1 (tests/fixtures/soap/
/// billing.wsdl, the WSDL of the service it calls), so `check` fetches and
/// judges the example's SOAP parameters without reaching billing.example.com.
/// The server runs as long as the returned runtime.
fn local_example() -> (tokio::runtime::Runtime, support::http::Receiver, String) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let wsdl = include_str!("fixtures/soap/billing.wsdl");
    let server = runtime.block_on(support::http::Receiver::start(move |_, _| {
        support::http::Reply::status(200)
            .with_header("content-type", "text/xml")
            .with_body(wsdl)
    }));
    let text = example_with_wsdl(&server.url("/CallService?wsdl"));
    (runtime, server, text)
}

fn check(dir: &Path, text: &str) -> Output {
    let path = dir.join("postcall.toml");
    std::fs::write(&path, text).unwrap();
    support::cli::bin()
        .args(["check", "--config"])
        .arg(&path)
        .current_dir(dir)
        .env_remove("POSTCALL_CONFIG")
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A valid application with one REST service; `service_extra` is appended
/// to the service table.
fn app_with_service(service_extra: &str) -> String {
    format!(
        "[[applications]]\nname = \"survey\"\n\n[[applications.services]]\nname = \"crm\"\nurl = \"https://crm.example.com/calls\"\n{service_extra}\n"
    )
}

#[test]
fn the_example_config_passes() {
    let (_runtime, server, example) = local_example();
    let dir = tempfile::tempdir().unwrap();
    let out = check(dir.path(), &example);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(server.requests().len(), 1, "the WSDL was not fetched");
    assert!(
        text(&out.stderr).contains(&format!(
            "judged against the WSDL fetched now from {}",
            server.url("/CallService?wsdl")
        )),
        "{}",
        text(&out.stderr)
    );
    let shown = text(&out.stdout);
    for key in [
        "[[switches]]",
        "[calls.dialling_plan]",
        "[queue]",
        "max_retries = 6",
        "[[applications]]",
        "[[applications.services]]",
        "[[applications.services.auth]]",
        "type = \"soap\"",
        "type = \"standard_webhooks\"",
    ] {
        assert!(shown.contains(key), "{key} missing from\n{shown}");
    }
}

#[test]
fn the_effective_config_parses_as_toml() {
    let (_runtime, _server, example) = local_example();
    let dir = tempfile::tempdir().unwrap();
    let out = check(dir.path(), &example);
    let shown: toml::Table = text(&out.stdout).parse().unwrap();
    assert_eq!(shown["applications"].as_array().unwrap().len(), 5);
    assert_eq!(shown["queue"]["workers"].as_integer(), Some(8));
}

/// With its WSDL host unreachable and nothing cached, the example fails
/// `check` naming the key, and passes with `--allow-unreachable-wsdl`.
#[test]
fn the_example_with_its_wsdl_host_down_passes_only_when_tolerated() {
    let url = format!(
        "http://127.0.0.1:{}/CallService?wsdl",
        support::process::free_port()
    );
    let dir = tempfile::tempdir().unwrap();
    let out = check(dir.path(), &example_with_wsdl(&url));
    assert_eq!(out.status.code(), Some(EXIT_CONFIG));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "applications[2].services[0].wsdl: WSDL {url} could not be fetched ("
        )) && stderr.contains(
            ") and nothing is cached (`postcall check --allow-unreachable-wsdl` tolerates this"
        ),
        "{stderr}"
    );
    let path = dir.path().join("postcall.toml");
    let out = support::cli::bin()
        .args(["check", "--allow-unreachable-wsdl", "--config"])
        .arg(&path)
        .current_dir(dir.path())
        .env_remove("POSTCALL_CONFIG")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("postcall: warning: applications[2].services[0].wsdl: "),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn secrets_never_appear_in_check_output() {
    let dir = tempfile::tempdir().unwrap();
    let secret_file = dir.path().join("esl.secret");
    std::fs::write(&secret_file, "file-secret-value-4711\n").unwrap();
    let config = format!(
        r#"
[[switches]]
name = "pbx"
kind = "asterisk"
username = "postcall"
secret = {{ file = "{}" }}

[[applications]]
name = "survey"
recording_url = "https://files.example.com/{{{{ call.call_id }}}}"
recording_url_secret = "inline-recording-key-0815"

[[applications.services]]
name = "crm"
url = "https://crm.example.com/calls"
auth = [
  {{ type = "basic", username = "svc", password = "inline-password-1234" }},
  {{ type = "bearer", token = "inline-token-5678" }},
  {{ type = "header", name = "X-Token", value = {{ env = "POSTCALL_CHECK_TEST_TOKEN" }} }},
  {{ type = "hmac_sha256", secret = "inline-hmac-3456" }},
  {{ type = "standard_webhooks", secret = "whsec_c2VjcmV0LWtleS1ieXRlcw==", next_secret = "whsec_bmV4dC10b2tlbi05MDEy" }},
]
"#,
        secret_file.display()
    );
    let path = dir.path().join("postcall.toml");
    std::fs::write(&path, config).unwrap();
    let out = support::cli::bin()
        .args(["check", "--config"])
        .arg(&path)
        .env("POSTCALL_CHECK_TEST_TOKEN", "env-token-value-7777")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let all = text(&out.stdout) + &text(&out.stderr);
    for secret in [
        "file-secret-value-4711",
        "inline-recording-key-0815",
        "inline-password-1234",
        "inline-token-5678",
        "bmV4dC10b2tlbi05MDEy",
        "env-token-value-7777",
        "inline-hmac-3456",
        "whsec_c2VjcmV0LWtleS1ieXRlcw==",
    ] {
        assert!(!all.contains(secret), "{secret} leaked:\n{all}");
    }
    assert!(all.contains("********"), "{all}");
    assert!(
        all.contains("POSTCALL_CHECK_TEST_TOKEN"),
        "sources are shown:\n{all}"
    );
}

#[test]
fn broken_configs_exit_78_naming_key_and_reason() {
    let dir = tempfile::tempdir().unwrap();
    let cases: Vec<(&str, String, &str, &str)> = vec![
        (
            "unknown key",
            app_with_service("methd = \"GET\""),
            "applications[0].services[0].methd",
            "unknown field `methd`",
        ),
        (
            "bad template syntax",
            app_with_service("params = { id = \"{{ call.call_id \" }"),
            "applications[0].services[0].params.id",
            "syntax error",
        ),
        (
            "unknown template variable",
            app_with_service("headers = { \"X-From\" = \"{{ call.caller }}\" }"),
            "applications[0].services[0].headers.X-From",
            "the call record has no field `caller`",
        ),
        (
            "unknown top-level template name",
            app_with_service("body = \"{{ record.from }}\""),
            "applications[0].services[0].body",
            "unknown template variable `record`",
        ),
        (
            "bad duration",
            app_with_service("timeout = \"5 parsecs\""),
            "applications[0].services[0].timeout",
            "invalid duration \"5 parsecs\"",
        ),
        (
            "missing secret file",
            app_with_service("auth = [{ type = \"bearer\", token = { file = \"/nonexistent/postcall/token\" } }]"),
            "applications[0].services[0].auth[0].token",
            "cannot read secret file /nonexistent/postcall/token",
        ),
        (
            "duplicate application name",
            format!("{}\n[[applications]]\nname = \"survey\"\n", app_with_service("")),
            "applications[1].name",
            "duplicate application name \"survey\"",
        ),
        (
            "duplicate service name",
            format!(
                "{}\n[[applications]]\nname = \"other\"\n[[applications.services]]\nname = \"crm\"\nurl = \"https://x.example/\"\n",
                app_with_service("")
            ),
            "applications[1].services[0].name",
            "duplicate service name \"crm\"",
        ),
        (
            "relative URL",
            "[[applications]]\nname = \"a\"\n[[applications]]\nname = \"b\"\n[[applications.services]]\nname = \"crm\"\nurl = \"crm/calls\"\n".to_string(),
            "applications[1].services[0].url",
            "relative URL \"crm/calls\" has no scheme",
        ),
        (
            "bad method",
            app_with_service("method = \"PATCH\""),
            "applications[0].services[0].method",
            "unknown method \"PATCH\"; expected one of GET, POST, POST_RAW, PUT, DELETE",
        ),
        (
            "bad status in filters",
            "[[applications]]\nname = \"a\"\nfilters = { statuses = [\"completed\", \"queue\"] }\n".to_string(),
            "applications[0].filters.statuses[1]",
            "unknown value \"queue\"",
        ),
        (
            "contradictory filters",
            "[[applications]]\nname = \"a\"\nfilters = { only_completed = true, statuses = [\"busy\"] }\n".to_string(),
            "applications[0].filters.statuses",
            "contradicts applications[0].filters.only_completed = true",
        ),
        (
            "client_cert without client_key",
            app_with_service("tls = { client_cert = \"/etc/hostname\" }"),
            "applications[0].services[0].tls.client_cert",
            "needs client_key as well",
        ),
        (
            "asterisk without username",
            "[[switches]]\nkind = \"asterisk\"\nsecret = \"s\"\n".to_string(),
            "switches[0].username",
            "Asterisk needs the AMI username",
        ),
        (
            "bad timezone",
            "[[switches]]\nkind = \"freeswitch\"\ntimezone = \"Europe/Atlantis\"\n".to_string(),
            "switches[0].timezone",
            "unknown time zone \"Europe/Atlantis\"",
        ),
        (
            "invalid include glob",
            "[calls]\nvariables = [\"postcall_*\", \"survey_[\"]\n".to_string(),
            "calls.variables[1]",
            "invalid pattern \"survey_[\"",
        ),
        (
            "CR/LF in a literal header value",
            app_with_service("headers = { \"X-Note\" = \"a\\r\\nX-Injected: 1\" }"),
            "applications[0].services[0].headers.X-Note",
            "header value contains CR or LF",
        ),
        (
            "SOAP service with a method key",
            "[[applications]]\nname = \"a\"\n[[applications.services]]\nname = \"soap\"\ntype = \"soap\"\nwsdl = \"https://x.example/?wsdl\"\noperation = \"Report\"\nmethod = \"POST\"\n".to_string(),
            "applications[0].services[0].method",
            "`method` is a REST key but this service is SOAP",
        ),
        (
            "a successor for a scheme that sends one value",
            app_with_service("auth = [{ type = \"bearer\", token = \"t-1\", next_token = \"t-2\" }]"),
            "applications[0].services[0].auth[0].next_token",
            "has no effect: this scheme sends `token` alone",
        ),
        (
            "standard webhooks secret without prefix",
            app_with_service("auth = [{ type = \"standard_webhooks\", secret = \"c2VjcmV0\" }]"),
            "applications[0].services[0].auth[0].secret",
            "starts with \"whsec_\"",
        ),
    ];
    assert!(cases.len() >= 12);
    for (what, config, key, reason) in cases {
        let out = check(dir.path(), &config);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(EXIT_CONFIG), "{what}: {stderr}");
        assert!(out.stdout.is_empty(), "{what}: printed a config");
        let line = stderr
            .lines()
            .find(|l| l.trim_start().starts_with(&format!("{key}: ")))
            .unwrap_or_else(|| panic!("{what}: no line for {key} in\n{stderr}"));
        assert!(line.contains(reason), "{what}: {line:?} lacks {reason:?}");
    }
}

#[test]
fn three_mistakes_are_all_reported() {
    let dir = tempfile::tempdir().unwrap();
    let config = r#"
[queue]
retention = "a week"

[[applications]]
name = "survey"
filters = { outcomes = ["hung-up"] }

[[applications.services]]
name = "crm"
method = "PATCH"
url = "https://crm.example.com/calls"
"#;
    let out = check(dir.path(), config);
    assert_eq!(out.status.code(), Some(EXIT_CONFIG));
    let stderr = text(&out.stderr);
    let errors: Vec<&str> = stderr.lines().skip(1).map(str::trim).collect();
    assert_eq!(errors.len(), 3, "{stderr}");
    assert!(errors
        .iter()
        .any(|l| l.starts_with("queue.retention: invalid duration")));
    assert!(errors
        .iter()
        .any(|l| l.starts_with("applications[0].filters.outcomes[0]: unknown value \"hung-up\"")));
    assert!(errors
        .iter()
        .any(|l| l.starts_with("applications[0].services[0].method: unknown method")));
}

#[test]
fn check_help_reads_well() {
    let out = support::cli::bin()
        .args(["check", "--help"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let help = text(&out.stdout);
    assert!(help.contains("--config <FILE>"), "{help}");
    assert!(help.contains("secrets masked"), "{help}");
    assert!(help.contains("78"), "{help}");
}

#[test]
fn without_a_file_check_shows_the_embedded_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let out = support::cli::bin()
        .arg("check")
        .current_dir(dir.path())
        .env_remove("POSTCALL_CONFIG")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let shown: toml::Table = text(&out.stdout).parse().unwrap();
    assert_eq!(shown["switches"][0]["kind"].as_str(), Some("freeswitch"));
    assert_eq!(shown["queue"]["path"].as_str(), Some("postcall.sqlite3"));
    assert_eq!(shown["queue"]["max_retries"].as_integer(), Some(6));
}

#[test]
fn a_body_that_would_not_render_as_json_fails_check_not_delivery() {
    let dir = tempfile::tempdir().unwrap();
    let out = check(
        dir.path(),
        &app_with_service(r#"body = '{"caller": "{{ call.caller_name }}"}'"#),
    );
    assert_eq!(out.status.code(), Some(78));
    let err = text(&out.stderr);
    assert!(
        err.contains("applications[0].services[0]: with the sample call record: body: the rendered body is not valid JSON"),
        "{err}"
    );
    // Written the documented way, the same template passes.
    let out = check(
        dir.path(),
        &app_with_service(r#"body = '{"caller": {{ call.caller_name }} }'"#),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
}

#[test]
fn absurd_durations_are_refused_with_their_key() {
    let dir = tempfile::tempdir().unwrap();
    let out = check(
        dir.path(),
        "[calls]\nidle_timeout = \"300000y\"\n[queue]\nretry_schedule = [\"5s\", \"300000y\"]\n",
    );
    assert_eq!(out.status.code(), Some(78));
    let err = text(&out.stderr);
    assert!(
        err.contains("calls.idle_timeout: duration \"300000y\" is too long"),
        "{err}"
    );
    assert!(err.contains("queue.retry_schedule"), "{err}");
}

#[test]
fn credentials_in_a_url_are_refused_without_echoing_them() {
    let dir = tempfile::tempdir().unwrap();
    let out = check(
        dir.path(),
        &app_with_service("").replace(
            "https://crm.example.com/calls",
            "https://bob:hunter2@crm.example.com/calls",
        ),
    );
    assert_eq!(out.status.code(), Some(78));
    let err = text(&out.stderr);
    assert!(
        err.contains("applications[0].services[0].url: the URL carries credentials"),
        "{err}"
    );
    assert!(!err.contains("hunter2"), "{err}");
    assert!(!text(&out.stdout).contains("hunter2"));
}

/// Standard Webhooks secrets are checked by `check` whatever their source
/// (inline, file): not base64 is an error naming the key without echoing
/// the value; base64 without its `=` padding is accepted, as the official
/// libraries accept it.
#[test]
fn standard_webhooks_secrets_are_checked_as_the_libraries_decode_them() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("webhook-secret");
    std::fs::write(&file, "whsec_not base64!!\n").unwrap();
    let out = check(
        dir.path(),
        &app_with_service(&format!(
            "auth = [{{ type = \"standard_webhooks\", secret = {{ file = \"{}\" }} }}]",
            file.display()
        )),
    );
    assert_eq!(out.status.code(), Some(EXIT_CONFIG));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("applications[0].services[0].auth[0].secret: the part after \"whsec_\" is not standard base64"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("not base64!!"),
        "echoed the secret: {stderr}"
    );

    // Base64 ending in one `=` of padding, and the same without it.
    let padded = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwMfKQ9r8GKYqrTwjUPD8ILPY=";
    for secret in [padded, padded.trim_end_matches('=')] {
        let out = check(
            dir.path(),
            &app_with_service(&format!(
                "auth = [{{ type = \"standard_webhooks\", secret = \"{secret}\" }}]"
            )),
        );
        assert_eq!(
            out.status.code(),
            Some(0),
            "{secret}: {}",
            text(&out.stderr)
        );
    }
}

/// Every payload template shipped in contrib/templates passes `check` as the
/// body of a POST_RAW service (002 once failed: its `{% set %}` inside an
/// `{% if %}` looked undeclared to the name checker).
#[test]
fn every_contrib_template_passes_check() {
    let templates = Path::new(env!("CARGO_MANIFEST_DIR")).join("contrib/templates");
    let mut checked = 0;
    for entry in std::fs::read_dir(&templates).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().map_or(true, |e| e != "j2") {
            continue;
        }
        let body = std::fs::read_to_string(&path).unwrap();
        assert!(!body.contains("'''"), "{}: cannot inline", path.display());
        let dir = tempfile::tempdir().unwrap();
        let out = check(
            dir.path(),
            &format!(
                "[queue]\npath = \"q.sqlite3\"\n[[applications]]\nname = \"a\"\n[[applications.services]]\nname = \"s\"\nurl = \"http://127.0.0.1:9/h\"\nmethod = \"POST_RAW\"\nbody = '''\n{body}'''\n"
            ),
        );
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}: {}",
            path.display(),
            text(&out.stderr)
        );
        checked += 1;
    }
    assert_eq!(checked, 3, "the seed shapes: 001, 002 (and 003), 004");
}

#[test]
fn an_applications_time_zone_is_checked_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let app = |zone: &str| {
        format!(
            "[queue]\npath = \"q.sqlite3\"\n[[applications]]\nname = \"a\"\ntimezone = \"{zone}\"\n[[applications.services]]\nname = \"s\"\nurl = \"http://127.0.0.1:9/h\"\n"
        )
    };
    let out = check(dir.path(), &app("Mars/Olympus"));
    assert_eq!(out.status.code(), Some(EXIT_CONFIG));
    let err = text(&out.stderr);
    assert!(
        err.contains("applications[0].timezone: unknown time zone \"Mars/Olympus\""),
        "{err}"
    );
    let out = check(dir.path(), &app("Europe/Berlin"));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("timezone = \"Europe/Berlin\""),
        "the effective config shows it: {}",
        text(&out.stdout)
    );
}

/// A per-call URL from a channel variable in the plain form: the sample
/// call has no such variable, and check does not refuse the URL for it.
#[test]
fn a_url_from_a_channel_variable_passes_check_in_the_plain_form() {
    let dir = tempfile::tempdir().unwrap();
    for url in [
        "{{ vars.crm_url }}/calls/{{ call.call_id }}",
        "{{ vars.crm_url or 'https://crm.example.com' }}/calls",
    ] {
        let out = check(
            dir.path(),
            &format!(
                "[queue]\npath = \"q.sqlite3\"\n{}",
                app_with_service("").replace(
                    "url = \"https://crm.example.com/calls\"",
                    &format!("url = \"{url}\""),
                )
            ),
        );
        assert_eq!(out.status.code(), Some(0), "{url}: {}", text(&out.stderr));
    }
    // A recording link sees `path` and `file`, as README says.
    let out = check(
        dir.path(),
        "[queue]\npath = \"q.sqlite3\"\n[[applications]]\nname = \"a\"\ninclude_recordings = true\nrecording_url = \"https://files.example.com{{ path }}?f={{ file }}\"\n[[applications.services]]\nname = \"s\"\nurl = \"http://127.0.0.1:9/h\"\n",
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
}
