//! The macros that run diesel DSL on either backend. Each expands its body once per backend, so
//! every copy is type-checked against its own SQL dialect (a function generic over the connection
//! type would drown in trait bounds); declared first in `db`, so every module of it sees them.

/// Runs `$body` with `$conn` bound to a pooled connection, compiled once per backend.
/// The body evaluates to a `DbResult`.
macro_rules! with_conn {
    ($db:expr, $conn:ident => $body:expr) => {
        match &$db.backend {
            $crate::db::Backend::Postgres(pool) => {
                let mut guard = pool
                    .local()
                    .get()
                    .await
                    .map_err($crate::db::DbError::from)?;
                let $conn: &mut diesel_async::AsyncPgConnection = &mut guard;
                $body
            }
            $crate::db::Backend::Sqlite(pool) => {
                let mut guard = pool
                    .local()
                    .get()
                    .await
                    .map_err($crate::db::DbError::from)?;
                let $conn: &mut $crate::db::SqliteConn = &mut guard;
                $body
            }
        }
    };
}

/// Runs `$body` in a write transaction (PostgreSQL: READ COMMITTED; SQLite: BEGIN IMMEDIATE),
/// compiled once per backend. The body evaluates to a `DbResult`; an error rolls back.
///
/// **The body may run more than once**: each outcome goes through [`TransientRetry::settle`], which
/// runs the transaction again when PostgreSQL reports a deadlock or a serialization failure. The
/// lock order makes deadlocks impossible between this service's own transactions; should
/// PostgreSQL still report one, the client never sees it.
///
/// [`TransientRetry::settle`]: crate::db::error::TransientRetry::settle
macro_rules! transaction {
    ($db:expr, $conn:ident => $body:expr) => {{
        let mut retry = $crate::db::error::TransientRetry::default();
        loop {
            let outcome: $crate::db::DbResult<_> = match &$db.backend {
                $crate::db::Backend::Postgres(pool) => {
                    let mut guard = pool.local().get().await.map_err($crate::db::DbError::from)?;
                    let conn: &mut diesel_async::AsyncPgConnection = &mut guard;
                    diesel_async::AsyncConnection::transaction(
                        conn,
                        async |$conn: &mut diesel_async::AsyncPgConnection| -> $crate::db::DbResult<_> { $body },
                    )
                    .await
                }
                $crate::db::Backend::Sqlite(pool) => {
                    let mut guard = pool.local().get().await.map_err($crate::db::DbError::from)?;
                    let conn: &mut $crate::db::SqliteConn = &mut guard;
                    conn.immediate_transaction(async |$conn: &mut $crate::db::SqliteConn| -> $crate::db::DbResult<_> { $body })
                        .await
                }
            };
            if let Some(settled) = retry.settle(outcome) {
                break settled;
            }
        }
    }};
}

/// `$query` restricted to the page after the keyset position `($at, $id)` of a newest-first list
/// ordered by `($created, $tiebreak)`, ordered and limited. `$created <= $at` alone is redundant,
/// but it is what lets the index range start at the cursor; the `OR` then drops the rows of the
/// cursor's instant that the previous page showed.
macro_rules! newest_first_page {
    ($query:expr, $created:expr, $tiebreak:expr, ($at:expr, $id:expr), $limit:expr) => {
        $query
            .filter($created.le($at))
            .filter($created.lt($at).or($tiebreak.lt($id)))
            .order(($created.desc(), $tiebreak.desc()))
            .limit($limit)
    };
}

/// The page of `$viewer`'s materialised feed after the keyset position `$start`, joined with its
/// posts (select [`post_with_like_columns!`]).
macro_rules! materialised_page {
    ($viewer:expr, $start:expr, $limit:expr) => {
        newest_first_page!(
            feed_entries::table
                .inner_join(posts_with_likes!($viewer))
                .filter(feed_entries::viewer_id.eq($viewer)),
            feed_entries::created_at,
            feed_entries::post_id,
            ($start.0, $start.1),
            $limit
        )
    };
}

/// `$created, $id` at or after the key `$key` (not older). The first `>=` is redundant, and
/// there for the index range to end at the key, as in `newest_first_page!`.
macro_rules! key_at_or_after {
    ($created:expr, $id:expr, $key:expr) => {
        $created.ge($key.0).and(
            $created
                .gt($key.0)
                .or($created.eq($key.0).and($id.ge($key.1))),
        )
    };
}

/// `$created, $id` strictly before the key `$key` (older); the first `<=` is there for the
/// index range, as in `key_at_or_after!`.
macro_rules! key_before {
    ($created:expr, $id:expr, $key:expr) => {
        $created.le($key.0).and(
            $created
                .lt($key.0)
                .or($created.eq($key.0).and($id.lt($key.1))),
        )
    };
}

/// Posts joined with their authors and with `$viewer`'s like of each. There is no user 0, so a
/// viewer of 0 (no one signed in) likes nothing.
macro_rules! posts_with_likes {
    ($viewer:expr) => {
        posts::table.inner_join(users::table).left_join(
            likes::table.on(likes::post_id.eq(posts::id).and(likes::user_id.eq($viewer))),
        )
    };
}

/// The columns of a [`PostWithLike`], for `posts_with_likes!`.
macro_rules! post_with_like_columns {
    () => {
        (
            PostRow::as_select(),
            AuthorRow::as_select(),
            likes::user_id.nullable(),
        )
    };
}
