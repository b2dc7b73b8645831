//! `postcall queue list` / `queue show` on a row that was never tried: a
//! SOAP service whose WSDL cannot be fetched (and has nothing cached)
//! cannot be planned, so the replay's delivery is held, with that reason,
//! without a request being sent.

mod support;

use support::config::{App, Config, Service};

#[test]
fn a_held_row_shows_it_was_never_tried() {
    let dir = tempfile::tempdir().unwrap();
    // Nothing listens on a port just freed: the WSDL fetch fails.
    let port = support::process::free_port();
    let wsdl = format!("http://127.0.0.1:{port}/calls.wsdl");
    let calls = Service::soap("calls", &wsdl, "RecordCall").param("callId", "{{ call.call_id }}");
    let config = Config::new()
        .queue_in(dir.path())
        .app(App::new("survey").service(calls))
        .write(dir.path());
    let capture = support::cli::freeswitch_fixture("01-answered-agent-hangup.plain.esl");
    let run = |args: &[&str]| support::cli::text(&support::cli::postcall(args, &config));
    let replayed = run(&["replay", capture.to_str().unwrap()]);

    let list = run(&["queue", "list"]);
    let row = list
        .lines()
        .find(|l| l.contains("held"))
        .unwrap_or_else(|| panic!("no held row: {list}\nreplay: {replayed}"));
    let columns: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(columns[1], "held", "{list}");
    assert_eq!(columns[2], "-", "TRY of a never-tried row: {list}");

    let show = run(&["queue", "show", columns[0]]);
    assert!(
        show.contains(
            "tries            none: never tried (1 lease(s) found the service not deliverable)"
        ),
        "{show}"
    );
    let last = show.lines().last().unwrap();
    assert!(last.trim_start().starts_with("- "), "{show}");
    assert!(last.contains("could not be fetched"), "{show}");
}
