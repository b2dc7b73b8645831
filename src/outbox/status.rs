//! [`Status`], where a delivery stands, with its names as stored in the
//! database and typed on the command line. It depends on nothing else in the
//! outbox, so the error type and the API values can both name it.

use std::fmt;
use std::str::FromStr;

/// A status name that is none of [`Status::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown delivery status {0:?} (expected pending, leased, delivered, dead, held or orphaned)"
)]
pub struct UnknownStatus(pub String);

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Status {
    Pending,
    Leased,
    Delivered,
    Dead,
    /// Its service is disabled (410 Gone); released by `enable_service`.
    Held,
    /// Its service left the configuration; released by `retry` or at start
    /// once the service is back.
    Orphaned,
}

impl Status {
    pub const ALL: [Status; 6] = [
        Status::Pending,
        Status::Leased,
        Status::Delivered,
        Status::Dead,
        Status::Held,
        Status::Orphaned,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Leased => "leased",
            Status::Delivered => "delivered",
            Status::Dead => "dead",
            Status::Held => "held",
            Status::Orphaned => "orphaned",
        }
    }

    /// Delivered and dead rows are finished: no worker will touch them again.
    pub fn is_final(&self) -> bool {
        matches!(self, Status::Delivered | Status::Dead)
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Status {
    type Err = UnknownStatus;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Status::ALL
            .into_iter()
            .find(|st| st.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| UnknownStatus(s.to_string()))
    }
}

impl rusqlite::types::FromSql for Status {
    fn column_result(v: rusqlite::types::ValueRef<'_>) -> rusqlite::types::FromSqlResult<Self> {
        v.as_str()?
            .parse()
            .map_err(|e: UnknownStatus| rusqlite::types::FromSqlError::Other(Box::new(e)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_round_trips_and_refuses_unknown() {
        for st in Status::ALL {
            assert_eq!(st.as_str().parse::<Status>().unwrap(), st);
        }
        assert_eq!("DEAD".parse::<Status>().unwrap(), Status::Dead);
        assert!(matches!(
            "gone".parse::<Status>(),
            Err(UnknownStatus(s)) if s == "gone"
        ));
    }
}
