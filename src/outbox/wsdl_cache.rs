//! The WSDL cache: the last fetched text of each WSDL URL, with when it was
//! fetched (migration 002), and of every document it imports (migration
//! 003), stored and replaced together. SOAP services fall back to it when
//! the WSDL's host cannot be reached.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, OpenFlags, OptionalExtension};
use std::path::Path;

use super::{Outbox, OutboxError};

/// A cached WSDL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedWsdl {
    pub text: String,
    pub fetched_at: DateTime<Utc>,
    /// The documents it imports, by URL.
    pub imports: BTreeMap<String, String>,
}

fn store(
    conn: &Connection,
    url: &str,
    text: &str,
    imports: &BTreeMap<String, String>,
    at: DateTime<Utc>,
) -> Result<(), OutboxError> {
    // The writer runs each job inside its transaction.
    conn.execute(
        "INSERT INTO wsdl_cache (url, body, fetched_at) VALUES (?1, ?2, ?3)
         ON CONFLICT (url) DO UPDATE SET body = excluded.body, fetched_at = excluded.fetched_at",
        params![url, text, at.to_rfc3339()],
    )?;
    conn.execute(
        "DELETE FROM wsdl_cache_import WHERE wsdl_url = ?1",
        params![url],
    )?;
    for (import, body) in imports {
        conn.execute(
            "INSERT INTO wsdl_cache_import (wsdl_url, url, body) VALUES (?1, ?2, ?3)",
            params![url, import, body],
        )?;
    }
    Ok(())
}

fn fetch(conn: &Connection, url: &str) -> Result<Option<CachedWsdl>, OutboxError> {
    let row: Option<(String, String)> = conn
        .query_row(
            "SELECT body, fetched_at FROM wsdl_cache WHERE url = ?1",
            params![url],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    row.map(|(text, at)| {
        let fetched_at = DateTime::parse_from_rfc3339(&at)
            .map_err(|e| OutboxError::Corrupt(format!("wsdl_cache.fetched_at {at:?}: {e}")))?
            .with_timezone(&Utc);
        Ok(CachedWsdl {
            text,
            fetched_at,
            imports: imports(conn, url)?,
        })
    })
    .transpose()
}

/// A cached WSDL's imports; none in a queue file older than migration 003.
fn imports(conn: &Connection, url: &str) -> Result<BTreeMap<String, String>, OutboxError> {
    if !has_table(conn, "wsdl_cache_import")? {
        return Ok(BTreeMap::new());
    }
    let mut stmt = conn.prepare("SELECT url, body FROM wsdl_cache_import WHERE wsdl_url = ?1")?;
    let rows = stmt.query_map(params![url], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

fn has_table(conn: &Connection, name: &str) -> Result<bool, OutboxError> {
    Ok(conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1)",
        params![name],
        |r| r.get(0),
    )?)
}

/// The cached WSDL at `url`, read synchronously and read-only from the
/// queue file `db` (for `postcall check` and plans built without the
/// daemon). `None` when the file, the table or the row does not exist.
pub fn read_cached(db: &Path, url: &str) -> Result<Option<CachedWsdl>, OutboxError> {
    if !db.is_file() {
        return Ok(None);
    }
    let conn = Connection::open_with_flags(
        db,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    if !has_table(&conn, "wsdl_cache")? {
        return Ok(None);
    }
    fetch(&conn, url)
}

impl Outbox {
    /// Stores (or replaces) the fetched text of the WSDL at `url` and of
    /// the documents it imports, in one transaction.
    pub async fn store_wsdl(
        &self,
        url: &str,
        text: &str,
        imports: &BTreeMap<String, String>,
        at: DateTime<Utc>,
    ) -> Result<(), OutboxError> {
        let (url, text, imports) = (url.to_string(), text.to_string(), imports.clone());
        self.write(move |ctx| store(ctx.conn, &url, &text, &imports, at))
            .await
    }

    /// The cached text of the WSDL at `url`, if it was ever fetched.
    pub async fn cached_wsdl(&self, url: &str) -> Result<Option<CachedWsdl>, OutboxError> {
        let url = url.to_string();
        self.read(move |conn| fetch(conn, &url)).await
    }
}
