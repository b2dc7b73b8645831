//! The switch's answer to `show channels as json`: the legs up right after
//! a (re)connect, for adoption by the tracker.

use crate::event::Headers;

/// The rows of `show channels as json` (`{"row_count":N,"rows":[{…}]}`),
/// each as headers named like the JSON keys; `None` when the body is not
/// such a listing. `{"row_count":0}` is an empty list.
pub fn live_channels(body: &[u8]) -> Option<Vec<Headers>> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    let object = value.as_object()?;
    object.get("row_count")?;
    let rows = match object.get("rows") {
        Some(serde_json::Value::Array(rows)) => rows.as_slice(),
        _ => &[],
    };
    Some(
        rows.iter()
            .filter_map(|row| row.as_object())
            .map(|row| {
                row.iter()
                    .map(|(k, v)| {
                        let v = match v {
                            serde_json::Value::String(s) => s.clone(),
                            serde_json::Value::Null => String::new(),
                            other => other.to_string(),
                        };
                        (k.clone(), v)
                    })
                    .collect()
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn live_channel_listings() {
        assert_eq!(live_channels(b"{\"row_count\":0}\n"), Some(vec![]));
        let rows = live_channels(
            br#"{"row_count":1,"rows":[{"uuid":"u1","direction":"inbound","created_epoch":"1795502735","cid_num":"+1555","n":5}]}"#,
        )
        .unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].get("uuid"), Some("u1"));
        assert_eq!(rows[0].get("n"), Some("5"));
        assert_eq!(live_channels(b"+OK\n"), None);
        assert_eq!(live_channels(b"{\"a\":1}"), None);
    }
}
