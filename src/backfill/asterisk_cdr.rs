//! One cdr_custom line → the AMI events its channel would have sent, so that
//! the Asterisk tracker joins, classifies and numbers it as a live call (the
//! Linkedid is the first leg, hence the live `event_id`).
//!
//! The columns are those of contrib/asterisk/cdr_custom.conf, each quoted by
//! `CSV_QUOTE`. A CDR holds the ids, the times, the disposition, the
//! billable seconds and what the dialplan copied into it (the application
//! variable); it does not hold the hang-up cause, the hang-up requests (who
//! hung up), channel variables, recordings, queue events or the legs that
//! had no CDR of their own (a dialled Local channel's `;1` half). Those stay
//! unknown.

use chrono::{DateTime, TimeZone, Utc};

use crate::event::Headers;

/// The columns in contrib/asterisk/cdr_custom.conf order, named as the AMI
/// `Cdr` event names them (the tracker reads the row as that event).
const COLUMNS: [&str; 20] = [
    "CallerID",
    "Source",
    "Destination",
    "DestinationContext",
    "Channel",
    "DestinationChannel",
    "LastApplication",
    "LastData",
    "StartTime",
    "AnswerTime",
    "EndTime",
    "Duration",
    "BillableSeconds",
    "Disposition",
    "AMAFlags",
    "AccountCode",
    "UniqueID",
    "UserField",
    "Linkedid",
    "Application",
];

/// Why a line could not be read as a CDR.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RowError {
    #[error("unterminated quoted value")]
    Quote,
    #[error("{0} columns, expected {n} (contrib/asterisk/cdr_custom.conf)", n = COLUMNS.len())]
    Columns(usize),
    #[error("no uniqueid")]
    NoUniqueid,
    #[error("no linkedid")]
    NoLinkedid,
    #[error("no usable end time")]
    NoEnd,
}

/// One CDR line.
#[derive(Debug, Clone, PartialEq)]
pub struct CdrRow {
    pub uniqueid: String,
    pub linkedid: String,
    pub started_at: DateTime<Utc>,
    pub ended_at: DateTime<Utc>,
    /// The row as an AMI `Cdr` event's headers.
    pub cdr: Headers,
    /// `${CDR(POSTCALL_APP)}`, when the dialplan copied it.
    pub application: Option<String>,
}

impl CdrRow {
    pub fn get(&self, column: &str) -> &str {
        self.cdr.get(column).unwrap_or_default()
    }
}

/// Splits one CSV line: values in double quotes with inner quotes doubled
/// (what `CSV_QUOTE` writes); unquoted values are taken as they are.
pub fn split(line: &str) -> Result<Vec<String>, RowError> {
    let mut out = Vec::new();
    let mut chars = line.trim_end_matches(['\r', '\n']).chars().peekable();
    loop {
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next() {
                    Some('"') if chars.peek() == Some(&'"') => {
                        chars.next();
                        value.push('"');
                    }
                    Some('"') => break,
                    Some(c) => value.push(c),
                    None => return Err(RowError::Quote),
                }
            }
            // Anything between the closing quote and the comma is kept.
            while let Some(c) = chars.next_if(|c| *c != ',') {
                value.push(c);
            }
        } else {
            while let Some(c) = chars.next_if(|c| *c != ',') {
                value.push(c);
            }
        }
        out.push(value);
        if chars.next().is_none() {
            return Ok(out);
        }
    }
}

/// `2026-11-24 06:44:02` (Asterisk's CDR time, local, no zone) in `zone`
/// (`None`: this machine's) → UTC.
fn local_time(text: &str, zone: Option<chrono_tz::Tz>) -> Option<DateTime<Utc>> {
    let naive = chrono::NaiveDateTime::parse_from_str(text.trim(), "%Y-%m-%d %H:%M:%S").ok()?;
    let t = match zone {
        Some(tz) => tz
            .from_local_datetime(&naive)
            .earliest()?
            .with_timezone(&Utc),
        None => chrono::Local
            .from_local_datetime(&naive)
            .earliest()?
            .with_timezone(&Utc),
    };
    Some(t)
}

/// Parses one line of a cdr_custom file.
pub fn parse(line: &str, zone: Option<chrono_tz::Tz>) -> Result<CdrRow, RowError> {
    let values = split(line)?;
    if values.len() != COLUMNS.len() {
        return Err(RowError::Columns(values.len()));
    }
    let mut cdr = Headers::with_capacity(COLUMNS.len() + 1);
    cdr.push("Event", "Cdr");
    for (name, value) in COLUMNS.iter().zip(&values) {
        cdr.push(name, value);
    }
    let nonempty = |name: &str| cdr.get(name).filter(|v| !v.trim().is_empty());
    let uniqueid = nonempty("UniqueID")
        .ok_or(RowError::NoUniqueid)?
        .to_string();
    let linkedid = nonempty("Linkedid")
        .ok_or(RowError::NoLinkedid)?
        .to_string();
    let ended_at = nonempty("EndTime")
        .and_then(|t| local_time(t, zone))
        .ok_or(RowError::NoEnd)?;
    let started_at = nonempty("StartTime")
        .and_then(|t| local_time(t, zone))
        .unwrap_or(ended_at);
    let application = nonempty("Application").map(str::to_string);
    Ok(CdrRow {
        uniqueid,
        linkedid,
        started_at,
        ended_at,
        cdr,
        application,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINE: &str = r#""""Customer 08"" <15550000008>","15550000008","bridge","scenarios","Local/bridge@scenarios-0000000c;2","Local/agent@callees-0000000d;1","Dial","Local/agent@callees,10","2026-11-24 06:44:30","2026-11-24 06:44:30","2026-11-24 06:44:34","3","3","ANSWERED","DOCUMENTATION","","1795502670.49","","1795502670.48","survey""#;

    #[test]
    fn a_line_is_read_as_the_cdr_event() {
        let row = parse(&format!("{LINE}\n"), Some(chrono_tz::UTC)).unwrap();
        assert_eq!(row.uniqueid, "1795502670.49");
        assert_eq!(row.linkedid, "1795502670.48");
        assert_eq!(row.get("CallerID"), r#""Customer 08" <15550000008>"#);
        assert_eq!(row.get("LastData"), "Local/agent@callees,10");
        assert_eq!(row.get("Disposition"), "ANSWERED");
        assert_eq!(row.application.as_deref(), Some("survey"));
        assert_eq!(row.ended_at.to_rfc3339(), "2026-11-24T06:44:34+00:00");
        assert_eq!(
            (row.ended_at - row.started_at).num_seconds(),
            4,
            "start and end as written"
        );
    }

    #[test]
    fn bad_lines_are_errors_not_panics() {
        let zone = Some(chrono_tz::UTC);
        assert_eq!(parse("\"open", zone), Err(RowError::Quote));
        assert_eq!(parse("a,b", zone), Err(RowError::Columns(2)));
        let no_end = LINE.replace("\"2026-11-24 06:44:34\"", "\"\"");
        assert_eq!(parse(&no_end, zone), Err(RowError::NoEnd));
        let no_link = LINE.replace("\"1795502670.48\"", "\"\"");
        assert_eq!(parse(&no_link, zone), Err(RowError::NoLinkedid));
        assert_eq!(split("x,,\"y\"").unwrap(), vec!["x", "", "y"]);
    }
}
