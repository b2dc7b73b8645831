//! mod_callcenter's answer to `callcenter_config agent list`: one header
//! line of `|`-separated column names (`name|instance_id|uuid|type|contact|
//! status|state|max_no_answer|wrap_up_time|…`), one line per agent, then
//! `+OK`. A failed command answers `-ERR …` instead. Pure.
//!
//! Values are not escaped, and an agent's `contact` is a dial string, which
//! may itself hold `|` (sequential failover): a row with more fields than
//! the header has them in its contact, so columns after `contact` are
//! counted from the row's end.

/// The `api` command whose reply [`wrap_up_time`] reads.
pub const AGENT_LIST: &str = "callcenter_config agent list";

/// Why the reply gave no wrap-up time.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AgentListError {
    #[error("the switch refused: {0}")]
    Refused(String),
    #[error("not an agent list (no name and wrap_up_time columns)")]
    NotAList,
    #[error("agent {0:?} is not in the list")]
    NoSuchAgent(String),
    #[error("agent {agent:?} has wrap_up_time {value:?}, not a number of seconds")]
    BadValue { agent: String, value: String },
}

/// The `wrap_up_time` (seconds) of `agent` in an agent list reply.
pub fn wrap_up_time(reply: &str, agent: &str) -> Result<u64, AgentListError> {
    let trimmed = reply.trim();
    if let Some(reason) = trimmed.strip_prefix("-ERR") {
        return Err(AgentListError::Refused(reason.trim().to_string()));
    }
    let mut lines = trimmed.lines().map(|l| l.trim_end_matches('\r'));
    let header: Vec<&str> = lines.next().unwrap_or("").split('|').collect();
    let column = |name: &str| header.iter().position(|c| *c == name);
    let (Some(name_at), Some(wrap_at)) = (column("name"), column("wrap_up_time")) else {
        return Err(AgentListError::NotAList);
    };
    let contact_at = column("contact");
    let row = lines
        .map(|l| l.split('|').collect::<Vec<&str>>())
        .find(|row| row.get(name_at) == Some(&agent))
        .ok_or_else(|| AgentListError::NoSuchAgent(agent.to_string()))?;
    let extra = row.len().saturating_sub(header.len());
    let at = match contact_at {
        Some(contact) if wrap_at > contact => wrap_at + extra,
        _ => wrap_at,
    };
    let value = row.get(at).copied().unwrap_or("");
    value.trim().parse().map_err(|_| AgentListError::BadValue {
        agent: agent.to_string(),
        value: value.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::switch::esl::codec::{parse_frame, EslCodec, Frame};
    use bytes::BytesMut;
    use tokio_util::codec::Decoder;

    /// The api/response bodies of capture 24's control connection.
    fn captured_replies() -> Vec<String> {
        let bytes = include_bytes!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/freeswitch/24-cc-queue-wrap-up.control.esl"
        ));
        let mut codec = EslCodec::new(1 << 20);
        let mut buf = BytesMut::from(&bytes[..]);
        let mut out = Vec::new();
        while let Ok(Some(raw)) = codec.decode(&mut buf) {
            if let Ok(Frame::ApiResponse { body }) = parse_frame(&raw) {
                out.push(String::from_utf8_lossy(&body).into_owned());
            }
        }
        out
    }

    #[test]
    fn the_captured_agent_list_gives_each_agents_wrap_up() {
        let replies = captured_replies();
        // Two agent lists, then `show channels count`.
        assert_eq!(replies.len(), 3, "{replies:?}");
        for reply in &replies[..2] {
            assert_eq!(wrap_up_time(reply, "1001@default"), Ok(5));
            assert_eq!(wrap_up_time(reply, "1002@default"), Ok(5));
            assert_eq!(
                wrap_up_time(reply, "1003@default"),
                Err(AgentListError::NoSuchAgent("1003@default".into()))
            );
        }
        assert_eq!(
            wrap_up_time(&replies[2], "1001@default"),
            Err(AgentListError::NotAList)
        );
    }

    #[test]
    fn a_contact_holding_pipes_does_not_shift_the_columns() {
        let reply = &captured_replies()[0];
        let failover = reply
            .replace(
                "1002@default|single_box||callback|[leg_timeout=4]loopback/1002-${cc_mode_1002}/cc-agents|Available|Waiting|0|5|",
                "1002@default|single_box||callback|user/1002|user/2002|Available|Waiting|0|30|",
            );
        assert_ne!(&failover, reply);
        assert_eq!(wrap_up_time(&failover, "1002@default"), Ok(30));
        assert_eq!(wrap_up_time(&failover, "1001@default"), Ok(5));
    }

    #[test]
    fn refusals_and_garbage_are_errors() {
        assert_eq!(
            wrap_up_time("-ERR no reply\n", "1001@default"),
            Err(AgentListError::Refused("no reply".into()))
        );
        assert_eq!(wrap_up_time("", "a"), Err(AgentListError::NotAList));
        assert_eq!(
            wrap_up_time("name|wrap_up_time\na|soon\n+OK\n", "a"),
            Err(AgentListError::BadValue {
                agent: "a".into(),
                value: "soon".into()
            })
        );
        assert_eq!(
            wrap_up_time("name|wrap_up_time\na\n+OK\n", "a"),
            Err(AgentListError::BadValue {
                agent: "a".into(),
                value: "".into()
            })
        );
    }
}
