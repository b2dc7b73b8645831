//! The subscription: which events postcall asks FreeSWITCH for.
//!
//! FreeSWITCH serialises and queues every event a listener subscribed to,
//! so asking for less is what makes postcall cheap for the switch (issue
//! 14: at 50 calls/s `event plain ALL` cost the switch 30 points of a core,
//! named events 13–17). Events are asked for by name. A CUSTOM subclass can
//! only be subscribed by its exact name, so a glob such as the default
//! `postcall::*` needs `event … ALL`; then ESL `filter` commands, checked by
//! the switch before it copies an event for the listener, keep the
//! subscription as narrow as the names would: one `filter Event-Name` per
//! event, one `filter Event-Subclass` per subclass name and one regex
//! filter (`/…/`) per glob. Filters are sent before `event`, so no
//! unfiltered event is ever queued.

use crate::config::EslEventFormat;

/// The events the tracker needs, besides the CUSTOM subclasses.
pub const EVENTS: &[&str] = &[
    "CHANNEL_CREATE",
    "CHANNEL_UUID",
    "CHANNEL_ANSWER",
    "CHANNEL_BRIDGE",
    "CHANNEL_UNBRIDGE",
    "CHANNEL_HANGUP",
    "CHANNEL_HANGUP_COMPLETE",
    "CHANNEL_DESTROY",
    "RECORD_START",
    "RECORD_STOP",
    "HEARTBEAT",
];

/// mod_callcenter's one event subclass (queue joins, agent offers and
/// connections, the member's end), always asked for.
pub const CALLCENTER_SUBCLASS: &str = "callcenter::info";

/// Is a configured subclass a glob rather than a name FreeSWITCH can match?
fn is_pattern(subclass: &str) -> bool {
    subclass.contains(['*', '?', '[', '{'])
}

/// Subclasses usable in a command: trimmed, non-empty, one word (a space
/// or line end would split or end the command).
fn usable(custom_subclasses: &[String]) -> impl Iterator<Item = &str> {
    custom_subclasses
        .iter()
        .map(|s| s.trim())
        .filter(|s| !s.is_empty() && !s.contains(char::is_whitespace))
}

/// The commands that subscribe, in the order to send them, each ending in
/// its blank line; every one is answered by one `command/reply`. See the
/// module documentation.
pub fn subscribe_commands(format: EslEventFormat, custom_subclasses: &[String]) -> Vec<String> {
    let event = match format {
        EslEventFormat::Plain => "event plain",
        EslEventFormat::Json => "event json",
    };
    let mut names = vec![CALLCENTER_SUBCLASS];
    let mut globs = Vec::new();
    for subclass in usable(custom_subclasses) {
        let list = if is_pattern(subclass) {
            &mut globs
        } else {
            &mut names
        };
        if !list.contains(&subclass) {
            list.push(subclass);
        }
    }
    if globs.is_empty() {
        return vec![format!(
            "{event} {} CUSTOM {}\n\n",
            EVENTS.join(" "),
            names.join(" ")
        )];
    }
    let mut commands: Vec<String> = EVENTS
        .iter()
        .map(|name| format!("filter Event-Name {name}\n\n"))
        .collect();
    commands.extend(
        names
            .iter()
            .map(|name| format!("filter Event-Subclass {name}\n\n")),
    );
    commands.extend(
        globs
            .iter()
            .map(|glob| format!("filter Event-Subclass /{}/i\n\n", glob_regex(glob))),
    );
    commands.push(format!("{event} ALL\n\n"));
    commands
}

/// The configured subclasses that are globs and so cannot be subscribed by
/// name (they are filtered by regex on an `ALL` subscription).
pub fn unsubscribable_subclasses(custom_subclasses: &[String]) -> Vec<&str> {
    usable(custom_subclasses)
        .filter(|s| is_pattern(s))
        .collect()
}

/// A glob (`*`, `?`, `[…]`, `{a,b}`) as an anchored PCRE pattern; every
/// other character stands for itself.
pub fn glob_regex(glob: &str) -> String {
    let mut out = String::from("^");
    let mut in_class = false;
    let mut in_braces = false;
    for c in glob.chars() {
        match c {
            _ if in_class => {
                if c == ']' {
                    in_class = false;
                }
                if c == '\\' {
                    out.push('\\');
                }
                out.push(c);
            }
            '[' => {
                in_class = true;
                out.push('[');
            }
            '*' => out.push_str(".*"),
            '?' => out.push('.'),
            '{' => {
                in_braces = true;
                out.push_str("(?:");
            }
            '}' if in_braces => {
                in_braces = false;
                out.push(')');
            }
            ',' if in_braces => out.push('|'),
            c if c.is_ascii_alphanumeric() || c == '_' || c == ':' || c == '-' => out.push(c),
            c => {
                out.push('\\');
                out.push(c);
            }
        }
    }
    out.push('$');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_names_give_one_event_command_with_custom_subclasses_last() {
        let cmds = subscribe_commands(
            EslEventFormat::Json,
            &[
                "postcall::amd".into(),
                "avmd::beep".into(),
                "avmd::beep".into(),
            ],
        );
        assert_eq!(
            cmds,
            ["event json CHANNEL_CREATE CHANNEL_UUID CHANNEL_ANSWER CHANNEL_BRIDGE CHANNEL_UNBRIDGE CHANNEL_HANGUP CHANNEL_HANGUP_COMPLETE CHANNEL_DESTROY RECORD_START RECORD_STOP HEARTBEAT CUSTOM callcenter::info postcall::amd avmd::beep\n\n"]
        );
        let cmds = subscribe_commands(EslEventFormat::Plain, &[" ".into(), "a b".into()]);
        assert_eq!(cmds.len(), 1);
        assert!(cmds[0].starts_with("event plain CHANNEL_CREATE "));
        assert!(cmds[0].ends_with(" HEARTBEAT CUSTOM callcenter::info\n\n"));
    }

    #[test]
    fn globs_give_filters_first_then_all() {
        for (format, word) in [
            (EslEventFormat::Plain, "plain"),
            (EslEventFormat::Json, "json"),
        ] {
            let cmds = subscribe_commands(format, &["postcall::amd".into(), "postcall::*".into()]);
            assert_eq!(cmds.len(), EVENTS.len() + 4);
            for (cmd, name) in cmds.iter().zip(EVENTS) {
                assert_eq!(cmd, &format!("filter Event-Name {name}\n\n"));
            }
            assert_eq!(
                cmds[EVENTS.len()..],
                [
                    "filter Event-Subclass callcenter::info\n\n".to_string(),
                    "filter Event-Subclass postcall::amd\n\n".to_string(),
                    "filter Event-Subclass /^postcall::.*$/i\n\n".to_string(),
                    format!("event {word} ALL\n\n"),
                ]
            );
        }
        assert_eq!(
            unsubscribable_subclasses(&["postcall::*".into(), "a::b".into()]),
            vec!["postcall::*"]
        );
    }

    #[test]
    fn globs_become_anchored_regexes() {
        assert_eq!(glob_regex("postcall::*"), "^postcall::.*$");
        assert_eq!(glob_regex("a?.b"), "^a.\\.b$");
        assert_eq!(glob_regex("x::{amd,beep}"), "^x::(?:amd|beep)$");
        assert_eq!(glob_regex("x[0-9]+/"), "^x[0-9]\\+\\/$");
    }
}
