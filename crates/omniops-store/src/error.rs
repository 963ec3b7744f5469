//! Storage errors by what the caller should do about them.

/// Why the store could not do something.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database is briefly unreachable or busy (connection lost, serialization failure,
    /// lock timeout): retry later. HTTP 503 with `Retry-After`.
    #[error("storage is unavailable: {0}")]
    Transient(String),
    /// A value the engine cannot store: the request (or event) that carried it is refused.
    #[error("the database refused a value: {0}")]
    BadInput(String),
    #[error("not found")]
    NotFound,
    #[error("{0}")]
    Conflict(String),
    /// Anything else (disk full, corruption, a defect): logged, HTTP 500, and `/healthz`
    /// reports it.
    #[error("storage fault: {0:#}")]
    Fault(anyhow::Error),
}

impl StoreError {
    pub fn is_transient(&self) -> bool {
        matches!(self, StoreError::Transient(_))
    }

    /// Classifies an error from the database driver.
    pub fn of_sqlx(error: sqlx::Error) -> StoreError {
        use sqlx::Error as E;
        match &error {
            E::Io(_) | E::PoolTimedOut | E::PoolClosed | E::WorkerCrashed | E::Tls(_) => {
                StoreError::Transient(error.to_string())
            }
            E::Database(db) => {
                let code = db.code().map(|c| c.into_owned()).unwrap_or_default();
                match classify_code(&code) {
                    Class::Transient => StoreError::Transient(error.to_string()),
                    Class::BadInput => StoreError::BadInput(db.message().to_string()),
                    Class::Fault => StoreError::Fault(error.into()),
                }
            }
            _ => StoreError::Fault(error.into()),
        }
    }

    /// Classifies any error whose chain holds a driver error; others are faults.
    pub fn of_anyhow(error: anyhow::Error) -> StoreError {
        match error.downcast::<sqlx::Error>() {
            Ok(sqlx) => StoreError::of_sqlx(sqlx),
            Err(other) => match other.downcast::<StoreError>() {
                Ok(store) => store,
                Err(other) => StoreError::Fault(other),
            },
        }
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> Self {
        StoreError::of_sqlx(error)
    }
}

enum Class {
    Transient,
    BadInput,
    Fault,
}

/// PostgreSQL SQLSTATEs and SQLite result codes (primary and extended).
fn classify_code(code: &str) -> Class {
    match code {
        // PostgreSQL: connection exceptions, serialization failure, deadlock, lock not
        // available, shutdown, too many connections, out of memory for now.
        c if c.starts_with("08") => Class::Transient,
        "40001" | "40P01" | "55P03" | "57P01" | "57P02" | "57P03" | "53300" | "53200" => {
            Class::Transient
        }
        // PostgreSQL data exceptions: a value it cannot hold (NUL, out of range, bad UTF-8).
        c if c.starts_with("22") => Class::BadInput,
        // SQLite: BUSY, LOCKED (and their extended codes).
        "5" | "6" | "261" | "517" | "262" => Class::Transient,
        // SQLite: TOOBIG, MISMATCH, RANGE.
        "18" | "20" | "25" => Class::BadInput,
        _ => Class::Fault,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_classified() {
        assert!(matches!(classify_code("08006"), Class::Transient));
        assert!(matches!(classify_code("40001"), Class::Transient));
        assert!(matches!(classify_code("22P05"), Class::BadInput));
        assert!(matches!(classify_code("22003"), Class::BadInput));
        assert!(matches!(classify_code("5"), Class::Transient));
        assert!(matches!(classify_code("13"), Class::Fault));
        assert!(StoreError::of_sqlx(sqlx::Error::PoolTimedOut).is_transient());
        let wrapped = anyhow::Error::new(sqlx::Error::PoolClosed).context("reading");
        assert!(StoreError::of_anyhow(wrapped).is_transient());
    }
}
