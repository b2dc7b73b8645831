//! contrib/call-record.schema.json compiles in a standard validator's strict
//! mode (ajv 8 with every strict option, tests/schema-peer) and every record
//! postcall prints for the captured calls is valid against it.

mod support;

use std::path::Path;
use std::process::Command;

fn peer() -> &'static Path {
    let dir = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/schema-peer"));
    assert!(
        dir.join("node_modules/ajv").is_dir(),
        "the schema peer is not installed: run `npm ci --prefix tests/schema-peer` (README's test command does)"
    );
    dir
}

#[test]
fn ajv_strict_compiles_the_schema_and_accepts_every_captured_record() {
    let peer = peer();
    let out_dir = tempfile::tempdir().unwrap();
    let fixtures = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures"));
    let mut records = Vec::new();
    for kind in ["freeswitch", "asterisk"] {
        for entry in std::fs::read_dir(fixtures.join(kind)).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            if !(name.ends_with(".esl") || name.ends_with(".ami")) {
                continue;
            }
            let out = support::cli::bin()
                .args(["replay", "--print"])
                .arg(&path)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{name}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            for (i, line) in String::from_utf8(out.stdout).unwrap().lines().enumerate() {
                let file = out_dir.path().join(format!("{name}.{i}.json"));
                std::fs::write(&file, line).unwrap();
                records.push(file);
            }
        }
    }
    assert!(records.len() > 20, "only {} records printed", records.len());
    let schema = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/contrib/call-record.schema.json"
    );
    let out = Command::new("node")
        .arg(peer.join("validate.js"))
        .arg(schema)
        .args(&records)
        .output()
        .expect("node is installed");
    assert!(
        out.status.success(),
        "ajv strict refused:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
