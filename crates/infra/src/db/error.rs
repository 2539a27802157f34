//! What can go wrong in the adapter, how each failure becomes a [`DomainError`], and the retry of
//! transactions that fail transiently.

use being_social_domain::DomainError;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel_async::pooled_connection::deadpool::PoolError;

/// What can go wrong inside the adapter, before it becomes a [`DomainError`].
#[derive(Debug, thiserror::Error)]
pub(crate) enum DbError {
    #[error(transparent)]
    Query(#[from] DieselError),
    #[error("connection pool: {0}")]
    Pool(#[from] PoolError),
    #[error(transparent)]
    Domain(#[from] DomainError),
    /// The set of rows a transaction locked changed before the locks were held; run it again.
    #[error("the rows to lock changed; retrying")]
    Retry,
}

/// A query that failed for a reason no client can fix, kept whole as the internal error's cause.
#[derive(Debug, thiserror::Error)]
#[error("database query failed")]
struct QueryFailed(#[source] DieselError);

impl From<DbError> for DomainError {
    fn from(err: DbError) -> Self {
        match err {
            DbError::Domain(err) => err,
            DbError::Pool(err) => DomainError::Unavailable(format!("database pool: {err}")),
            DbError::Query(DieselError::DatabaseError(kind, info))
                if is_unavailable(&kind, info.message()) =>
            {
                DomainError::Unavailable(format!("database: {}", info.message()))
            }
            DbError::Query(DieselError::DatabaseError(_, info))
                if is_unstorable(info.message()) =>
            {
                tracing::warn!(
                    error = info.message(),
                    "input the database refuses reached it"
                );
                DomainError::BadRequest {
                    code: "invalid_input",
                    detail: "The request holds a value that cannot be stored.".into(),
                }
            }
            DbError::Query(err) => DomainError::internal(QueryFailed(err)),
            DbError::Retry => DomainError::Unavailable("database: too much contention".into()),
        }
    }
}

/// Whether a query failed because the database cannot serve now (closed or broken connection,
/// server shutting down, restarting or overloaded, SQLite busy) rather than because of the query:
/// the client may try again, so it gets 503, not 500.
fn is_unavailable(kind: &DatabaseErrorKind, message: &str) -> bool {
    match kind {
        // tokio-postgres reports a connection that died (server stopped, socket reset) without
        // a SQLSTATE, which diesel-async maps to this kind.
        DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand => true,
        // diesel exposes no SQLSTATE; these are PostgreSQL's messages of class 08 (connection
        // exception), 53 (insufficient resources) and 57P01-57P03 (shutdown, crash, not ready),
        // and SQLite's busy lock.
        DatabaseErrorKind::Unknown => [
            "connection",
            "database system is",
            "too many clients",
            "out of memory",
            "database is locked",
        ]
        .iter()
        .any(|known| message.contains(known)),
        _ => false,
    }
}

/// Whether PostgreSQL refused a value itself (class 22, data exception: a NUL in text, a number
/// or time out of its type's range). The services validate every input first, so this is a net
/// under them: such input is the client's mistake (400), never a 500.
fn is_unstorable(message: &str) -> bool {
    [
        "invalid byte sequence for encoding",
        "out of range",
        "unsupported Unicode escape sequence",
    ]
    .iter()
    .any(|known| message.contains(known))
}

pub(crate) type DbResult<T> = Result<T, DbError>;

/// How many times a transaction runs when PostgreSQL reports a deadlock or serialization failure.
pub(crate) const TRANSIENT_ATTEMPTS: u32 = 4;

/// A failure that running the same transaction again can cure.
pub(crate) fn is_transient(err: &DbError) -> bool {
    match err {
        DbError::Query(DieselError::DatabaseError(DatabaseErrorKind::SerializationFailure, _)) => {
            true
        }
        DbError::Query(DieselError::DatabaseError(_, info)) => {
            info.message().contains("deadlock detected")
        }
        _ => false,
    }
}

/// Whether a query failed on the named kind of constraint.
pub(crate) fn is_violation(err: &DbError, kind: &DatabaseErrorKind) -> bool {
    matches!(err, DbError::Query(DieselError::DatabaseError(k, _)) if std::mem::discriminant(k) == std::mem::discriminant(kind))
}

/// The retry of transactions that fail transiently: a deadlock or serialization failure reported
/// by PostgreSQL is cured by running the same transaction again, up to [`TRANSIENT_ATTEMPTS`]
/// times in all. Every `transaction!` loops through [`TransientRetry::settle`], so **a transaction's
/// body may run more than once** and must have no effect outside its transaction.
#[derive(Debug, Default)]
pub(crate) struct TransientRetry {
    attempts: u32,
}

impl TransientRetry {
    /// The outcome of one attempt: `Some` to return it, `None` to run the transaction again.
    pub(crate) fn settle<T>(&mut self, outcome: DbResult<T>) -> Option<DbResult<T>> {
        self.attempts += 1;
        match outcome {
            Err(err) if self.attempts < TRANSIENT_ATTEMPTS && is_transient(&err) => {
                tracing::warn!(attempts = self.attempts, error = %err, "transaction failed transiently; running it again");
                None
            }
            other => Some(other),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn mapped(kind: DatabaseErrorKind, message: &str) -> DomainError {
        DbError::Query(DieselError::DatabaseError(
            kind,
            Box::new(message.to_owned()),
        ))
        .into()
    }

    #[test]
    fn a_database_that_went_away_is_unavailable_not_internal() {
        for (kind, message) in [
            (DatabaseErrorKind::UnableToSendCommand, "connection closed"),
            (
                DatabaseErrorKind::ClosedConnection,
                "server closed the connection",
            ),
            (
                DatabaseErrorKind::Unknown,
                "terminating connection due to administrator command",
            ),
            (
                DatabaseErrorKind::Unknown,
                "the database system is shutting down",
            ),
            (
                DatabaseErrorKind::Unknown,
                "the database system is starting up",
            ),
            (
                DatabaseErrorKind::Unknown,
                "sorry, too many clients already",
            ),
            (DatabaseErrorKind::Unknown, "database is locked"),
        ] {
            let err = mapped(kind, message);
            assert!(
                matches!(err, DomainError::Unavailable(_)),
                "{message}: {err:?}"
            );
        }
        let err = mapped(
            DatabaseErrorKind::Unknown,
            "syntax error at or near \"SELEC\"",
        );
        assert!(matches!(err, DomainError::Internal(_)), "{err:?}");
    }

    #[test]
    fn values_the_database_refuses_are_the_clients_mistake() {
        for message in [
            "invalid byte sequence for encoding \"UTF8\": 0x00",
            "timestamp out of range",
        ] {
            let err = mapped(DatabaseErrorKind::Unknown, message);
            assert!(
                matches!(
                    err,
                    DomainError::BadRequest {
                        code: "invalid_input",
                        ..
                    }
                ),
                "{message}: {err:?}"
            );
        }
    }
}
