//! The `event …` subscription command: which events postcall asks the
//! switch for, by name.

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
    "RECORD_START",
    "RECORD_STOP",
    "HEARTBEAT",
];

/// Is a configured subclass a glob rather than a name FreeSWITCH can match?
fn is_pattern(subclass: &str) -> bool {
    subclass.contains(['*', '?', '[', '{'])
}

/// The `event …` command: the tracker's events, then `CUSTOM` with every
/// subclass name last (FreeSWITCH reads every word after `CUSTOM` as a
/// subclass, and `CUSTOM` alone delivers nothing). FreeSWITCH matches
/// subclasses by exact name only, so when a subclass is a glob pattern
/// (the default `postcall::*`), the only subscription that delivers its
/// events is `ALL`; the tracker then keeps what the patterns select and
/// ignores the rest.
pub fn subscribe_command(format: EslEventFormat, custom_subclasses: &[String]) -> String {
    let mut command = String::from(match format {
        EslEventFormat::Plain => "event plain",
        EslEventFormat::Json => "event json",
    });
    if !unsubscribable_subclasses(custom_subclasses).is_empty() {
        command.push_str(" ALL\n\n");
        return command;
    }
    for name in EVENTS {
        command.push(' ');
        command.push_str(name);
    }
    let names: Vec<&str> = custom_subclasses
        .iter()
        .map(|s| s.trim())
        .filter(|s| !s.is_empty() && !s.contains(char::is_whitespace))
        .collect();
    if !names.is_empty() {
        command.push_str(" CUSTOM");
        for name in names {
            command.push(' ');
            command.push_str(name);
        }
    }
    command.push_str("\n\n");
    command
}

/// The configured subclasses that are globs and so cannot be subscribed.
pub fn unsubscribable_subclasses(custom_subclasses: &[String]) -> Vec<&str> {
    custom_subclasses
        .iter()
        .map(|s| s.trim())
        .filter(|s| is_pattern(s))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subscription_puts_custom_subclasses_last_and_uses_all_for_globs() {
        let cmd = subscribe_command(
            EslEventFormat::Json,
            &["postcall::amd".into(), "avmd::beep".into()],
        );
        assert!(cmd.starts_with("event json CHANNEL_CREATE "));
        assert!(cmd.ends_with(" HEARTBEAT CUSTOM postcall::amd avmd::beep\n\n"));
        let cmd = subscribe_command(EslEventFormat::Json, &[]);
        assert!(!cmd.contains("CUSTOM"));
        assert!(cmd.ends_with(" HEARTBEAT\n\n"));
        for format in [EslEventFormat::Plain, EslEventFormat::Json] {
            let cmd = subscribe_command(format, &["postcall::amd".into(), "postcall::*".into()]);
            assert!(cmd.ends_with(" ALL\n\n"), "{cmd:?}");
            assert!(!cmd.contains("CHANNEL_CREATE"));
        }
        assert_eq!(
            unsubscribable_subclasses(&["postcall::*".into(), "a::b".into()]),
            vec!["postcall::*"]
        );
    }
}
