//! The WSDL cache: the last fetched text of each WSDL URL, with when it was
//! fetched (migration 002). SOAP services fall back to it when the WSDL's
//! host cannot be reached.

use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, OptionalExtension};

use super::{Outbox, OutboxError};

/// A cached WSDL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedWsdl {
    pub text: String,
    pub fetched_at: DateTime<Utc>,
}

fn store(conn: &Connection, url: &str, text: &str, at: DateTime<Utc>) -> Result<(), OutboxError> {
    conn.execute(
        "INSERT INTO wsdl_cache (url, body, fetched_at) VALUES (?1, ?2, ?3)
         ON CONFLICT (url) DO UPDATE SET body = excluded.body, fetched_at = excluded.fetched_at",
        params![url, text, at.to_rfc3339()],
    )?;
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
        Ok(CachedWsdl { text, fetched_at })
    })
    .transpose()
}

impl Outbox {
    /// Stores (or replaces) the fetched text of the WSDL at `url`.
    pub async fn store_wsdl(
        &self,
        url: &str,
        text: &str,
        at: DateTime<Utc>,
    ) -> Result<(), OutboxError> {
        let (url, text) = (url.to_string(), text.to_string());
        self.inner
            .writer
            .call(move |ctx| store(ctx.conn, &url, &text, at))
            .await
    }

    /// The cached text of the WSDL at `url`, if it was ever fetched.
    pub async fn cached_wsdl(&self, url: &str) -> Result<Option<CachedWsdl>, OutboxError> {
        let url = url.to_string();
        self.read(move |conn| fetch(conn, &url)).await
    }
}
