//! Which copy of a WSDL decides: fetch-then-judge. A WSDL file is read
//! with the files it imports. A WSDL URL is fetched with every document it
//! imports (each capped at [`DOCUMENT_LIMIT`]); when that works the fresh
//! copy decides and is stored in the queue's cache with its imports. Only
//! when the origin cannot be reached (no connection, a timeout, HTTP 5xx)
//! does the cached copy decide, and [`Source`] says so. A reachable origin
//! serving an unusable WSDL is an error, not a reason to use an old copy.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::outbox::wsdl_cache::CachedWsdl;
use crate::outbox::Outbox;

use super::wsdl::documents::{gather_files, is_url, too_large, Documents, Gather, DOCUMENT_LIMIT};
use super::wsdl::{Wsdl, WsdlError};

/// The time allowed to fetch each WSDL document.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(10);

/// Which copy of a WSDL decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    File,
    /// Fetched from its origin now.
    Fetched,
    /// The origin could not be reached (`error`); the copy cached at
    /// `fetched_at` was used.
    Cached {
        fetched_at: DateTime<Utc>,
        error: String,
    },
}

impl Source {
    /// Words for messages: which copy was used.
    pub fn describe(&self, location: &str) -> String {
        match self {
            Source::File => format!("the WSDL file {location}"),
            Source::Fetched => format!("the WSDL fetched now from {location}"),
            Source::Cached { fetched_at, error } => format!(
                "the copy of {location} cached {fetched_at}, because it cannot be fetched now: {error}"
            ),
        }
    }
}

/// The queue's WSDL cache, as the caller can reach it.
#[derive(Clone, Copy)]
pub enum Cache<'a> {
    None,
    /// Read, and written with every fresh copy.
    Queue(&'a Outbox),
    /// Read only, from the queue file (`postcall check`).
    File(&'a Path),
}

/// A WSDL, read, and which copy it is.
#[derive(Debug, Clone)]
pub struct Obtained {
    pub wsdl: Arc<Wsdl>,
    pub source: Source,
}

/// Why no copy of a WSDL can be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ObtainError {
    #[error("WSDL {location}: {error}")]
    Invalid { location: String, error: String },
    #[error("WSDL {url} could not be fetched ({error}) and nothing is cached")]
    NothingCached { url: String, error: String },
    #[error("WSDL {url} could not be fetched ({error}), and the cached copy fetched {fetched_at} cannot be read: {cached}")]
    CachedUnreadable {
        url: String,
        error: String,
        fetched_at: DateTime<Utc>,
        cached: String,
    },
    #[error("WSDL {url}: the WSDL cache: {error}")]
    Cache { url: String, error: String },
    #[error("WSDL {url}: the copy cached {fetched_at} cannot be read: {error}")]
    CachedCopy {
        url: String,
        fetched_at: DateTime<Utc>,
        error: String,
    },
}

impl ObtainError {
    /// The origin could not be reached and no cached copy could stand in:
    /// what `postcall check --allow-unreachable-wsdl` tolerates, and what
    /// the daemon holds deliveries for and fetches again.
    pub fn origin_unreachable(&self) -> bool {
        matches!(
            self,
            ObtainError::NothingCached { .. } | ObtainError::CachedUnreadable { .. }
        )
    }
}

/// A document that could not be read or parsed, as an [`ObtainError`]; the
/// location is said once (a read error names it already).
fn unusable(location: &str, e: WsdlError) -> ObtainError {
    let error = match e {
        WsdlError::Read { path, message } if path == location => {
            format!("cannot be read: {message}")
        }
        e => e.to_string(),
    };
    ObtainError::Invalid {
        location: location.to_string(),
        error,
    }
}

/// Why one document could not be fetched: `unreachable` when the origin
/// did not answer usefully (no connection, timeout, HTTP 5xx).
#[derive(Debug)]
struct FetchError {
    unreachable: bool,
    message: String,
}

/// The WSDL at `location`, per fetch-then-judge (see the module).
pub async fn obtain(location: &str, cache: Cache<'_>) -> Result<Obtained, ObtainError> {
    let invalid = |e: WsdlError| unusable(location, e);
    if !is_url(location) {
        let wsdl = Wsdl::assemble(&gather_files(location).map_err(invalid)?).map_err(invalid)?;
        return Ok(Obtained {
            wsdl: Arc::new(wsdl),
            source: Source::File,
        });
    }
    let error = match fetch_documents(location).await {
        Ok(docs) => {
            let wsdl = Wsdl::assemble(&docs).map_err(invalid)?;
            if let Cache::Queue(outbox) = cache {
                let imports: BTreeMap<String, String> = docs
                    .imports()
                    .map(|(l, t)| (l.to_string(), t.to_string()))
                    .collect();
                let main = &docs.texts[&docs.main];
                if let Err(e) = outbox
                    .store_wsdl(location, main, &imports, Utc::now())
                    .await
                {
                    tracing::warn!(wsdl = location, error = %e, "WSDL not cached");
                }
            }
            return Ok(Obtained {
                wsdl: Arc::new(wsdl),
                source: Source::Fetched,
            });
        }
        Err(Ok(e)) => return Err(invalid(e)),
        Err(Err(unreachable)) => unreachable,
    };
    let found = match cache {
        Cache::None => Ok(None),
        Cache::Queue(outbox) => outbox
            .cached_wsdl(location)
            .await
            .map_err(|e| e.to_string()),
        Cache::File(db) => {
            crate::outbox::wsdl_cache::read_cached(db, location).map_err(|e| e.to_string())
        }
    }
    .map_err(|e| ObtainError::Cache {
        url: location.to_string(),
        error: e,
    })?;
    let Some(found) = found else {
        return Err(ObtainError::NothingCached {
            url: location.to_string(),
            error,
        });
    };
    match from_cache(location, &found) {
        Ok(wsdl) => Ok(Obtained {
            wsdl: Arc::new(wsdl),
            source: Source::Cached {
                fetched_at: found.fetched_at,
                error,
            },
        }),
        Err(e) => Err(ObtainError::CachedUnreadable {
            url: location.to_string(),
            error,
            fetched_at: found.fetched_at,
            cached: e.to_string(),
        }),
    }
}

/// The cached copy of the WSDL at `url` in the queue file `db`, read
/// without trying the origin.
pub fn cached(db: &Path, url: &str) -> Result<Option<Obtained>, ObtainError> {
    let found =
        crate::outbox::wsdl_cache::read_cached(db, url).map_err(|e| ObtainError::Cache {
            url: url.to_string(),
            error: e.to_string(),
        })?;
    let Some(found) = found else {
        return Ok(None);
    };
    let wsdl = from_cache(url, &found).map_err(|e| ObtainError::CachedCopy {
        url: url.to_string(),
        fetched_at: found.fetched_at,
        error: e.to_string(),
    })?;
    Ok(Some(Obtained {
        wsdl: Arc::new(wsdl),
        source: Source::Cached {
            fetched_at: found.fetched_at,
            error: "not fetched now".into(),
        },
    }))
}

/// A cached WSDL read from its cached documents alone.
fn from_cache(url: &str, found: &CachedWsdl) -> Result<Wsdl, WsdlError> {
    let mut gather = Gather::new(url);
    while let Some(location) = gather.next_location() {
        let text = if location == url {
            Some(&found.text)
        } else {
            found.imports.get(&location)
        };
        gather.supply(text.cloned().ok_or_else(|| "not in the cache".to_string()))?;
    }
    Wsdl::assemble(&gather.finish())
}

/// Fetches a WSDL and every document it imports. `Err(Ok(_))`: the origin
/// answered with something unusable; `Err(Err(message))`: it could not be
/// reached.
async fn fetch_documents(url: &str) -> Result<Documents, Result<WsdlError, String>> {
    let client = reqwest::Client::builder()
        .timeout(FETCH_TIMEOUT)
        .user_agent(crate::deliver::rest::USER_AGENT)
        .build()
        .map_err(|e| Err(e.to_string()))?;
    let mut gather = Gather::new(url);
    while let Some(location) = gather.next_location() {
        match fetch_text(&client, &location).await {
            Ok(text) => gather.supply(Ok(text)).map_err(Ok)?,
            Err(e) if e.unreachable && location == url => return Err(Err(e.message)),
            Err(e) if e.unreachable => {
                return Err(Err(format!("import {location}: {}", e.message)))
            }
            Err(e) => gather.supply(Err(e.message)).map_err(Ok)?,
        }
    }
    Ok(gather.finish())
}

/// One document over HTTP(S), at most [`DOCUMENT_LIMIT`] bytes.
async fn fetch_text(client: &reqwest::Client, url: &str) -> Result<String, FetchError> {
    let unreachable = |message: String| FetchError {
        unreachable: true,
        message,
    };
    let refused = |message: String| FetchError {
        unreachable: false,
        message,
    };
    let mut response = client
        .get(url)
        .send()
        .await
        .map_err(|e| unreachable(crate::deliver::rest::error_chain(&e.without_url())))?;
    let status = response.status();
    if status.is_server_error() {
        return Err(unreachable(format!("HTTP {}", status.as_u16())));
    }
    if !status.is_success() {
        return Err(refused(format!("HTTP {}", status.as_u16())));
    }
    if response
        .content_length()
        .is_some_and(|n| n > DOCUMENT_LIMIT as u64)
    {
        return Err(refused(too_large()));
    }
    let mut bytes = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| unreachable(e.without_url().to_string()))?
    {
        if bytes.len() + chunk.len() > DOCUMENT_LIMIT {
            return Err(refused(too_large()));
        }
        bytes.extend_from_slice(&chunk);
    }
    String::from_utf8(bytes).map_err(|_| refused("not UTF-8 text".into()))
}
