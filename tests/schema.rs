//! `postcall schema` prints the call record's JSON Schema, and
//! contrib/call-record.schema.json is that output, kept in sync.

mod support;

use support::cli::{bin, succeeded};

fn schema_output() -> serde_json::Value {
    let out = succeeded(bin().arg("schema").output().expect("postcall runs"));
    serde_json::from_slice(&out.stdout).expect("the schema is JSON")
}

#[test]
fn contrib_schema_matches_the_binary() {
    let printed = schema_output();
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/contrib/call-record.schema.json"
    );
    let stored: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("contrib schema exists"))
            .expect("contrib schema is JSON");
    assert_eq!(
        printed, stored,
        "contrib/call-record.schema.json is stale: regenerate it with `cargo run -- schema > contrib/call-record.schema.json`"
    );
}

#[test]
fn schema_names_every_contract_field_and_vocabulary() {
    let schema = schema_output();
    let props = schema["properties"].as_object().expect("an object schema");
    for field in postcall::call::record::CONTRACT_FIELDS {
        assert!(props.contains_key(*field), "schema lacks {field}");
    }
    let text = schema.to_string();
    for word in [
        "hangup_on_voicemail",
        "no-answer",
        "human_pick_up_cut_off",
        "abandoned",
        "max_duration",
    ] {
        assert!(text.contains(word), "schema lacks the value {word}");
    }
    for never in ["\"queue\",", "\"paused\"", "\"initiated\""] {
        assert!(!schema["definitions"]["Status"].to_string().contains(never));
    }
}

#[test]
fn a_sample_record_validates_structurally() {
    // Every property the sample fills is declared, and every required
    // property is present.
    let schema = schema_output();
    let record = serde_json::to_value(postcall::call::record::CallRecord::sample()).unwrap();
    let props = schema["properties"].as_object().unwrap();
    for key in record.as_object().unwrap().keys() {
        assert!(props.contains_key(key), "{key} is not in the schema");
    }
    for required in schema["required"].as_array().unwrap() {
        assert!(record.get(required.as_str().unwrap()).is_some());
    }
}

#[test]
fn agent_and_queue_are_objects_and_transfers_have_their_own_shape() {
    let schema = schema_output();
    let named = &schema["definitions"]["Named"];
    assert_eq!(named["required"], serde_json::json!(["id"]));
    assert!(named["properties"]["name"].is_object(), "{named}");
    for field in ["agent", "queue"] {
        let text = schema["properties"][field].to_string();
        assert!(text.contains("#/definitions/Named"), "{field}: {text}");
    }
    let transfer = schema["definitions"]["Transfer"]["properties"]
        .as_object()
        .unwrap();
    for key in [
        "id",
        "kind",
        "status",
        "transfer_to",
        "channel",
        "started_at",
        "answered_at",
        "ended_at",
        "duration_seconds",
        "talk_time_seconds",
        "hangup_cause",
        "recordings",
    ] {
        assert!(transfer.contains_key(key), "Transfer lacks {key}");
    }
}
