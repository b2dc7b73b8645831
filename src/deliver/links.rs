//! Recording links: an application's `recording_url` template, compiled
//! in the one template environment, and the expiring HMAC signature a file
//! server checks before it serves the file. The link is rendered per
//! attempt (its expiry counts from the attempt that sends it) into the
//! record's `recording_url` and each transfer's.

use chrono_tz::Tz;
use minijinja::value::Value;
use minijinja::Environment;
use percent_encoding::{utf8_percent_encode, AsciiSet};
use std::collections::BTreeMap;
use std::time::Duration;
use url::Url;

use crate::call::record::{CallRecord, Recording};
use crate::deliver::render::RenderError;
use crate::deliver::sign::hmac_sha256_hex;
use crate::template::{call_context, environment, error_chain, COMPONENT};

/// A path keeps its slashes; each segment is a component.
const PATH: &AsciiSet = &COMPONENT.remove(b'/');

/// Expiring signatures for recording links.
#[derive(Clone, PartialEq, Eq)]
pub struct LinkSigning {
    pub secret: String,
    /// How long a link stays valid from the attempt that sends it.
    pub ttl: Duration,
}

impl std::fmt::Debug for LinkSigning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "LinkSigning(<masked>, ttl {:?})", self.ttl)
    }
}

/// An application's `recording_url` template, compiled.
///
/// The template sees `path` (the first recording's path, each segment
/// percent-encoded, slashes kept), `file` (its last segment), `call` and
/// `vars`, e.g. `https://files.example.com/recordings/{{ file }}`.
///
/// With signing, `expires` (unix seconds) and `signature` are appended to the
/// query, where `signature` is the lowercase hex HMAC-SHA256, under the
/// secret, of `<URL path as sent>\n<expires>`: a file server recomputes it
/// from the request path and the `expires` parameter and refuses expired or
/// altered links.
pub struct RecordingLink {
    env: Environment<'static>,
    signing: Option<LinkSigning>,
}

impl std::fmt::Debug for RecordingLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordingLink")
            .field("signing", &self.signing)
            .finish_non_exhaustive()
    }
}

impl RecordingLink {
    pub fn compile(template: &str, signing: Option<LinkSigning>) -> Result<Self, RenderError> {
        let mut env = environment();
        env.add_template_owned("url:recording", template.to_string())
            .map_err(|e| RenderError::Compile {
                part: "recording_url".into(),
                message: e.to_string(),
            })?;
        Ok(RecordingLink { env, signing })
    }

    /// The link for the call's first recording at unix time `now`; `None`
    /// when the call has no recording.
    pub fn render(
        &self,
        record: &CallRecord,
        vars: &BTreeMap<String, String>,
        now: i64,
    ) -> Result<Option<String>, RenderError> {
        self.render_for(record.recordings.first(), record, vars, now)
    }

    /// The link for each transfer's first recording, in the record's order
    /// (`None` for a transfer without one).
    pub fn render_transfers(
        &self,
        record: &CallRecord,
        vars: &BTreeMap<String, String>,
        now: i64,
    ) -> Result<Vec<Option<String>>, RenderError> {
        record
            .transfers
            .iter()
            .map(|t| self.render_for(t.recordings.first(), record, vars, now))
            .collect()
    }

    fn render_for(
        &self,
        recording: Option<&Recording>,
        record: &CallRecord,
        vars: &BTreeMap<String, String>,
        now: i64,
    ) -> Result<Option<String>, RenderError> {
        let Some(recording) = recording else {
            return Ok(None);
        };
        let path = &recording.path;
        let file = path.rsplit(['/', '\\']).next().unwrap_or(path);
        let ctx = minijinja::context! {
            path => Value::from_safe_string(utf8_percent_encode(path, PATH).to_string()),
            file => file,
            ..call_context(record, vars, Tz::UTC)
        };
        let text = self
            .env
            .get_template("url:recording")
            .and_then(|t| t.render(ctx))
            .map_err(|e| RenderError::Template {
                part: "recording_url".into(),
                message: error_chain(&e),
            })?;
        let Some(signing) = &self.signing else {
            return Ok(Some(text));
        };
        let mut url = Url::parse(text.trim()).map_err(|e| RenderError::Url {
            reason: format!("recording_url: {e}"),
        })?;
        let expires = now.saturating_add(i64::try_from(signing.ttl.as_secs()).unwrap_or(i64::MAX));
        let signature = sign_link(&signing.secret, url.path(), expires);
        url.query_pairs_mut()
            .append_pair("expires", &expires.to_string())
            .append_pair("signature", &signature);
        Ok(Some(url.into()))
    }
}

/// The signature of a recording link: hex HMAC-SHA256 of `path\nexpires`.
pub fn sign_link(secret: &str, path: &str, expires: i64) -> String {
    hmac_sha256_hex(secret.as_bytes(), format!("{path}\n{expires}").as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars() -> BTreeMap<String, String> {
        [("ivr_choice".to_string(), "2 & 3".to_string())].into()
    }

    #[test]
    fn recording_links_plain_and_signed() {
        let record = CallRecord::sample();
        let plain = RecordingLink::compile("https://files.example.com/rec/{{ file }}", None)
            .unwrap()
            .render(&record, &vars(), 1_000)
            .unwrap();
        assert_eq!(
            plain.as_deref(),
            Some("https://files.example.com/rec/dd4e0193.wav")
        );

        let link = RecordingLink::compile(
            "https://files.example.com{{ path }}",
            Some(LinkSigning {
                secret: "k".into(),
                ttl: Duration::from_secs(3600),
            }),
        )
        .unwrap();
        let signed = Url::parse(&link.render(&record, &vars(), 1_000).unwrap().unwrap()).unwrap();
        assert_eq!(signed.path(), "/var/lib/freeswitch/recordings/dd4e0193.wav");
        let q: BTreeMap<String, String> = signed.query_pairs().into_owned().collect();
        assert_eq!(q["expires"], "4600");
        assert_eq!(
            q["signature"],
            hmac_sha256_hex(b"k", b"/var/lib/freeswitch/recordings/dd4e0193.wav\n4600")
        );

        let mut silent = record.clone();
        silent.recordings.clear();
        assert_eq!(link.render(&silent, &vars(), 1_000).unwrap(), None);

        // Per transfer, from the transfer's own recordings.
        let mut with_transfers = record.clone();
        let transfer = |recordings: Vec<Recording>| crate::call::record::Transfer {
            id: "t".into(),
            kind: crate::call::record::TransferKind::Blind,
            status: crate::call::record::Status::Completed,
            transfer_to: Some("2001".into()),
            channel: None,
            started_at: None,
            answered_at: None,
            ended_at: None,
            duration_seconds: None,
            talk_time_seconds: 0,
            hangup_cause: None,
            recordings,
            recording_url: None,
        };
        let mut target = record.recordings[0].clone();
        target.path = "/rec/target leg.wav".into();
        with_transfers.transfers = vec![transfer(vec![target]), transfer(Vec::new())];
        let links = link
            .render_transfers(&with_transfers, &vars(), 1_000)
            .unwrap();
        assert_eq!(links.len(), 2);
        let first = Url::parse(links[0].as_deref().unwrap()).unwrap();
        assert_eq!(first.path(), "/rec/target%20leg.wav");
        let q: BTreeMap<String, String> = first.query_pairs().into_owned().collect();
        assert_eq!(
            q["signature"],
            hmac_sha256_hex(b"k", b"/rec/target%20leg.wav\n4600")
        );
        assert_eq!(links[1], None);
    }
}
