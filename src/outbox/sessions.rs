//! What the backfill remembers across postcall restarts: per switch, when
//! the last session began, the last moment it was known to be up and when
//! it ended (migration 004); and which of a set of calls the queue already
//! holds, so that a backfilled call that was emitted before is not emitted
//! again.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, OptionalExtension};

use super::model::{from_ms, to_ms};
use super::{Outbox, OutboxError};

/// The last session with a switch, as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Session {
    pub connected_at: DateTime<Utc>,
    pub seen_at: DateTime<Utc>,
    /// `None` while up, or when postcall stopped without seeing it end
    /// (`kill -9`, a power cut).
    pub ended_at: Option<DateTime<Utc>>,
}

impl Session {
    /// Since when calls may have gone unseen: the end postcall saw, else
    /// the last moment the session was known up.
    pub fn unseen_since(&self) -> DateTime<Utc> {
        self.ended_at.unwrap_or(self.seen_at)
    }
}

fn last(conn: &Connection, switch: &str) -> Result<Option<Session>, OutboxError> {
    let row: Option<(i64, i64, Option<i64>)> = conn
        .query_row(
            "SELECT connected_at, seen_at, ended_at FROM switch_sessions WHERE switch = ?1",
            params![switch],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?;
    row.map(|(c, s, e)| {
        Ok(Session {
            connected_at: from_ms(c)?,
            seen_at: from_ms(s)?,
            ended_at: e.map(from_ms).transpose()?,
        })
    })
    .transpose()
}

fn known(conn: &Connection, ids: &[String]) -> Result<HashSet<String>, OutboxError> {
    let mut stmt = conn.prepare_cached("SELECT 1 FROM calls WHERE event_id = ?1")?;
    let mut out = HashSet::new();
    for id in ids {
        if stmt.exists(params![id])? {
            out.insert(id.clone());
        }
    }
    Ok(out)
}

impl Outbox {
    /// A session with `switch` began at `at`.
    pub async fn session_connected(
        &self,
        switch: &str,
        at: DateTime<Utc>,
    ) -> Result<(), OutboxError> {
        let switch = switch.to_string();
        self.write(move |ctx| {
            ctx.conn.execute(
                "INSERT INTO switch_sessions (switch, connected_at, seen_at, ended_at)
                 VALUES (?1, ?2, ?2, NULL)
                 ON CONFLICT (switch) DO UPDATE SET connected_at = excluded.connected_at,
                     seen_at = excluded.seen_at, ended_at = NULL",
                params![switch, to_ms(at)],
            )?;
            Ok(())
        })
        .await
    }

    /// The session with `switch` was still up at `at`.
    pub async fn session_seen(&self, switch: &str, at: DateTime<Utc>) -> Result<(), OutboxError> {
        let switch = switch.to_string();
        self.write(move |ctx| {
            ctx.conn.execute(
                "UPDATE switch_sessions SET seen_at = max(seen_at, ?2)
                 WHERE switch = ?1 AND ended_at IS NULL",
                params![switch, to_ms(at)],
            )?;
            Ok(())
        })
        .await
    }

    /// The session with `switch` ended at `at`.
    pub async fn session_ended(&self, switch: &str, at: DateTime<Utc>) -> Result<(), OutboxError> {
        let switch = switch.to_string();
        self.write(move |ctx| {
            ctx.conn.execute(
                "UPDATE switch_sessions SET seen_at = max(seen_at, ?2), ended_at = ?2
                 WHERE switch = ?1 AND ended_at IS NULL",
                params![switch, to_ms(at)],
            )?;
            Ok(())
        })
        .await
    }

    /// The last session with `switch`, if postcall ever had one.
    pub async fn last_session(&self, switch: &str) -> Result<Option<Session>, OutboxError> {
        let switch = switch.to_string();
        self.read(move |conn| last(conn, &switch)).await
    }

    /// Which of `event_ids` the queue holds already (calls stored once).
    pub async fn known_calls(
        &self,
        event_ids: Vec<String>,
    ) -> Result<HashSet<String>, OutboxError> {
        self.read(move |conn| known(conn, &event_ids)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outbox::OutboxSettings;

    #[tokio::test]
    async fn a_session_is_remembered_across_a_reopen() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("q.sqlite3");
        let t = |s| DateTime::from_timestamp(s, 0).unwrap();
        let outbox = Outbox::open(&path, OutboxSettings::default())
            .await
            .unwrap();
        assert_eq!(outbox.last_session("pbx").await.unwrap(), None);
        outbox.session_connected("pbx", t(100)).await.unwrap();
        outbox.session_seen("pbx", t(105)).await.unwrap();
        outbox.session_seen("pbx", t(103)).await.unwrap();
        outbox.close().await;
        // A crash: no end was written; the last sighting stands.
        let outbox = Outbox::open(&path, OutboxSettings::default())
            .await
            .unwrap();
        let s = outbox.last_session("pbx").await.unwrap().unwrap();
        assert_eq!(
            (s.connected_at, s.seen_at, s.ended_at),
            (t(100), t(105), None)
        );
        assert_eq!(s.unseen_since(), t(105));
        outbox.session_ended("pbx", t(110)).await.unwrap();
        outbox.session_seen("pbx", t(120)).await.unwrap();
        let s = outbox.last_session("pbx").await.unwrap().unwrap();
        assert_eq!(
            s.unseen_since(),
            t(110),
            "a sighting after the end is ignored"
        );
        outbox.session_connected("pbx", t(130)).await.unwrap();
        let s = outbox.last_session("pbx").await.unwrap().unwrap();
        assert_eq!((s.connected_at, s.ended_at), (t(130), None));
        assert_eq!(outbox.last_session("other").await.unwrap(), None);
        assert!(outbox
            .known_calls(vec!["nope".into()])
            .await
            .unwrap()
            .is_empty());
    }
}
