//! The database adapter: PostgreSQL (production) and embedded SQLite (the zero-setup default)
//! behind one type, [`Database`], which implements every repository port.
//!
//! # One query code for two backends
//! Queries are written once, as diesel DSL inside [`with_conn!`] or [`transaction!`]. Each macro
//! expands its body once per backend, so every copy is type-checked against its own SQL dialect
//! (a function generic over the connection type would drown in trait bounds). What truly differs
//! between the backends lives in the [`Dialect`] trait: row locks, the feed's LATERAL join, the
//! recursive walk of a comment thread.
//!
//! # Transactions and locks
//! On PostgreSQL a write transaction runs at READ COMMITTED and takes the row locks it needs in a
//! fixed order: user rows in ascending id, then post rows, then comment rows. Two transactions that
//! lock the same rows therefore always queue, never deadlock. On SQLite every write transaction is
//! `BEGIN IMMEDIATE`: it takes the single write lock first, so the same code needs no row locks.
//! Counters move by `count = count ± n` in the transaction that changes the rows they count.

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
/// The lock order makes deadlocks impossible between this service's own transactions; should
/// PostgreSQL still report one (or a serialization failure), the whole transaction runs again,
/// a few times at most, so the client never sees it.
macro_rules! transaction {
    ($db:expr, $conn:ident => $body:expr) => {{
        let mut attempt = 0;
        loop {
            attempt += 1;
            let result: $crate::db::DbResult<_> = match &$db.backend {
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
            match result {
                Err(err) if attempt < $crate::db::TRANSIENT_ATTEMPTS && $crate::db::is_transient(&err) => {
                    tracing::warn!(attempt, error = %err, "transaction failed transiently; running it again");
                }
                other => break other,
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

mod batched;
pub mod check;
mod comments;
mod follows;
pub mod models;
mod posts;
pub mod schema;
pub mod seed;
mod tokens;
mod users;

use std::path::Path;
use std::time::Duration;

use being_social_domain::DomainError;
use being_social_domain::model::ListedUser;
use being_social_domain::pagination::{Cursor, Page, PageRequest};
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel::sqlite::SqliteConnection;
use diesel_async::pooled_connection::deadpool::{Pool, PoolError};
use diesel_async::pooled_connection::{
    AsyncDieselConnectionManager, ManagerConfig, RecyclingMethod,
};
use diesel_async::sync_connection_wrapper::SyncConnectionWrapper;
use diesel_async::{
    AsyncConnection, AsyncMigrationHarness, AsyncPgConnection, SimpleAsyncConnection,
};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

pub use batched::{CoalescedFollows, CoalescedLikes, CoalescedTokens};
pub(crate) use dialect::Dialect;
use schema::Ts;

mod dialect;

pub type SqliteConn = SyncConnectionWrapper<SqliteConnection>;

const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/postgres");
const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/sqlite");

/// How long a request waits for a pooled connection before answering 503.
const POOL_WAIT: Duration = Duration::from_secs(10);
/// How long SQLite waits for the write lock before giving up (busy_timeout).
const SQLITE_BUSY_TIMEOUT_MS: u32 = 10_000;

#[derive(Clone)]
pub(crate) enum Backend {
    Postgres(Pools<Pool<AsyncPgConnection>>),
    Sqlite(Pools<Pool<SqliteConn>>),
}

thread_local! {
    /// The pool shard this thread checks connections out of (see [`Pools`]).
    static SHARD: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// The connection pool, split into shards: one per HTTP worker thread on PostgreSQL.
///
/// A PostgreSQL connection's socket is driven by a task on the runtime that opened it, and each
/// actix worker is its own single-threaded runtime. With one shared pool, a request on one worker
/// often got a connection opened on the other, so each query crossed threads twice (request task
/// to connection task and back), each crossing a wake-up through the kernel and, on a busy
/// machine, a wait for the other thread's turn. A worker that only uses the connections it opened
/// keeps a query on one thread. The cost: a worker whose shard is busy waits even if another
/// shard has an idle connection.
///
/// SQLite has one shard: its connections run on blocking threads whatever the worker.
#[derive(Clone)]
pub(crate) struct Pools<P> {
    shards: std::sync::Arc<[P]>,
}

impl<P> Pools<P> {
    /// This thread's shard.
    pub(crate) fn local(&self) -> &P {
        &self.shards[SHARD.with(std::cell::Cell::get) % self.shards.len()]
    }
}

impl<C> Pools<Pool<C>>
where
    C: diesel_async::pooled_connection::PoolableConnection + Send + 'static,
    AsyncDieselConnectionManager<C>: deadpool::managed::Manager,
{
    /// `size` connections in all, spread evenly over `shards` pools of at least one each.
    fn new(
        manager: impl Fn() -> AsyncDieselConnectionManager<C>,
        size: usize,
        shards: usize,
    ) -> Result<Self, ConnectError> {
        let size = size.max(1);
        let count = shards.clamp(1, size);
        let shards = (0..count)
            .map(|i| build_pool(manager(), size / count + usize::from(i < size % count)))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            shards: shards.into(),
        })
    }

    /// The shards' figures added up.
    fn status(&self) -> deadpool::managed::Status {
        let mut total = deadpool::managed::Status {
            max_size: 0,
            size: 0,
            available: 0,
            waiting: 0,
        };
        for status in self.shards.iter().map(Pool::status) {
            total.max_size += status.max_size;
            total.size += status.size;
            total.available += status.available;
            total.waiting += status.waiting;
        }
        total
    }

    fn close(&self) {
        self.shards.iter().for_each(Pool::close);
    }
}

/// A pool of connections to PostgreSQL or SQLite; implements every repository port.
#[derive(Clone)]
pub struct Database {
    pub(crate) backend: Backend,
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self.backend {
            Backend::Postgres(_) => "Database(postgres)",
            Backend::Sqlite(_) => "Database(sqlite)",
        })
    }
}

/// How many connections the pool opens, and over how many shards (one per HTTP worker).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolConfig {
    /// The most connections open at once, all shards together.
    pub connections: usize,
    /// PostgreSQL only (SQLite has one): the connections are split evenly into this many
    /// pools, and a thread only uses the one [`Database::use_shard`] gave it.
    pub shards: usize,
}

impl PoolConfig {
    /// One pool of `connections`, shared by every thread.
    pub fn shared(connections: usize) -> Self {
        Self {
            connections,
            shards: 1,
        }
    }
}

/// A snapshot of the connection pool (deadpool's `Status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolStatus {
    /// The most connections the pool opens.
    pub max_size: usize,
    /// Connections open now.
    pub size: usize,
    /// Connections lent out to a request or a batch.
    pub in_use: usize,
    /// Open connections idle in the pool.
    pub available: usize,
    /// Requests waiting for a connection.
    pub waiting: usize,
}

/// Why the database could not be opened. Each message names what to change.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("DATABASE_URL must start with postgres://, postgresql:// or sqlite:// (got {0:?})")]
    UnknownScheme(String),
    #[error(
        "cannot create the directory of the SQLite database {path}: {source} (set DATABASE_URL)"
    )]
    Directory {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot connect to the database at DATABASE_URL: {0}")]
    Connect(String),
    #[error("cannot apply the database migrations: {0}")]
    Migrate(String),
    #[error("cannot build the connection pool: {0}")]
    Pool(String),
}

impl Database {
    /// Opens a pool to `url` (`postgres://…` or `sqlite://path`) of at most `pool.connections`
    /// connections, in `pool.shards` shards on PostgreSQL. Connections are made lazily; call
    /// [`Database::migrate`] to check the URL and bring the schema up to date.
    ///
    /// # Errors
    /// [`ConnectError`] for an unknown scheme, an uncreatable directory, or a pool that cannot be
    /// built.
    pub fn open(url: &str, pool: PoolConfig) -> Result<Self, ConnectError> {
        let backend = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            // No `SELECT 1` on every checkout: a connection whose server went away is closed
            // (`is_broken`) and dropped by the pool; one that died unnoticed fails its query once,
            // which answers 503 (see `is_unavailable`) and marks it broken.
            let manager = || {
                let mut config = ManagerConfig::<AsyncPgConnection>::default();
                config.recycling_method = RecyclingMethod::Fast;
                config.custom_setup = Box::new(|url| Box::pin(establish_postgres(url.to_owned())));
                AsyncDieselConnectionManager::<AsyncPgConnection>::new_with_config(url, config)
            };
            Backend::Postgres(Pools::new(manager, pool.connections, pool.shards)?)
        } else if let Some(path) = url.strip_prefix("sqlite://") {
            if let Some(dir) = Path::new(path)
                .parent()
                .filter(|d| !d.as_os_str().is_empty())
            {
                std::fs::create_dir_all(dir).map_err(|source| ConnectError::Directory {
                    path: path.to_owned(),
                    source,
                })?;
            }
            let manager = || {
                let mut config = ManagerConfig::<SqliteConn>::default();
                config.recycling_method = RecyclingMethod::Fast;
                config.custom_setup = Box::new(|url| Box::pin(establish_sqlite(url.to_owned())));
                AsyncDieselConnectionManager::<SqliteConn>::new_with_config(path, config)
            };
            Backend::Sqlite(Pools::new(manager, pool.connections, 1)?)
        } else {
            return Err(ConnectError::UnknownScheme(redact(url)));
        };
        Ok(Self { backend })
    }

    /// Applies pending migrations on a dedicated connection.
    ///
    /// Needs a multi-thread tokio runtime: the migration harness blocks in place.
    ///
    /// # Errors
    /// [`ConnectError::Connect`] when the database cannot be reached, [`ConnectError::Migrate`]
    /// when a migration fails.
    pub async fn migrate(&self) -> Result<(), ConnectError> {
        let connect = |e: PoolError| ConnectError::Connect(e.to_string());
        match &self.backend {
            Backend::Postgres(pool) => {
                let conn =
                    deadpool::managed::Object::take(pool.local().get().await.map_err(connect)?);
                run_migrations(conn, POSTGRES_MIGRATIONS).await
            }
            Backend::Sqlite(pool) => {
                let conn =
                    deadpool::managed::Object::take(pool.local().get().await.map_err(connect)?);
                run_migrations(conn, SQLITE_MIGRATIONS).await
            }
        }
    }

    /// Opens up to `connections` more connections in this thread's shard (its maximum is never
    /// passed), so that the first burst of requests after a start does not queue behind
    /// connection handshakes.
    /// A connection's IO is driven by the runtime that opened it: call this from the threads that
    /// will use the connections. Best effort: a connection that cannot be opened now is opened on
    /// demand later.
    pub async fn warm_up(&self, connections: usize) {
        match &self.backend {
            Backend::Postgres(pools) => fill(pools.local(), connections).await,
            Backend::Sqlite(pools) => fill(pools.local(), connections).await,
        }
    }

    /// From now on, this thread checks connections out of shard `index` (modulo the number of
    /// shards; see [`PoolConfig::shards`]). Call it once on each HTTP worker's thread, with the
    /// worker's number, before [`Self::warm_up`]. Other threads use shard 0.
    pub fn use_shard(index: usize) {
        SHARD.with(|shard| shard.set(index));
    }

    /// The connection pool's figures at this instant, for the metrics endpoint.
    pub fn pool_status(&self) -> PoolStatus {
        let status = match &self.backend {
            Backend::Postgres(pool) => pool.status(),
            Backend::Sqlite(pool) => pool.status(),
        };
        PoolStatus {
            max_size: status.max_size,
            size: status.size,
            in_use: status.size.saturating_sub(status.available),
            available: status.available,
            waiting: status.waiting,
        }
    }

    /// Closes the pool: idle connections close now, connections in use when they come back, and
    /// every later checkout fails (503). Called once the server has stopped.
    pub fn close(&self) {
        match &self.backend {
            Backend::Postgres(pool) => pool.close(),
            Backend::Sqlite(pool) => pool.close(),
        }
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self.backend, Backend::Postgres(_))
    }
}

#[async_trait::async_trait]
impl being_social_domain::ports::HealthCheck for Database {
    async fn ready(&self) -> bool {
        let result: Result<(), DbError> = async {
            with_conn!(self, conn => {
                conn.batch_execute("SELECT 1").await?;
                Ok(())
            })
        }
        .await;
        result.is_ok()
    }
}

/// Checks out `connections` connections at once (new ones where none is idle), then returns them
/// all to the pool.
async fn fill<C>(pool: &Pool<C>, connections: usize)
where
    C: diesel_async::pooled_connection::PoolableConnection + Send + 'static,
    AsyncDieselConnectionManager<C>: deadpool::managed::Manager,
{
    let connections = connections.min(pool.status().max_size);
    let mut held = Vec::with_capacity(connections);
    while held.len() < connections {
        match pool.get().await {
            Ok(conn) => held.push(conn),
            Err(_) => break,
        }
    }
}

fn build_pool<C>(
    manager: AsyncDieselConnectionManager<C>,
    size: usize,
) -> Result<Pool<C>, ConnectError>
where
    C: diesel_async::pooled_connection::PoolableConnection + Send + 'static,
    AsyncDieselConnectionManager<C>: deadpool::managed::Manager,
{
    Pool::builder(manager)
        .max_size(size.max(1))
        // The most recently returned connection first: the few connections a light load needs
        // stay hot (their prepared statements, PostgreSQL's caches) and the rest stay idle.
        .queue_mode(deadpool::managed::QueueMode::Lifo)
        .runtime(deadpool::Runtime::Tokio1)
        .wait_timeout(Some(POOL_WAIT))
        .create_timeout(Some(POOL_WAIT))
        .build()
        .map_err(|e| ConnectError::Pool(e.to_string()))
}

async fn establish_postgres(url: String) -> diesel::ConnectionResult<AsyncPgConnection> {
    let mut conn = AsyncPgConnection::establish(&url).await?;
    // Every statement diesel caches is prepared once per connection, and its plan should be too.
    // PostgreSQL's default re-plans a prepared statement at every execution whenever its generic
    // plan is estimated dearer than a plan for the values at hand; for the feed page that meant
    // 1.5 ms of planning for 0.3 ms of execution, every page (the benchmark's feed went from
    // about 2,000 to 4,700 pages a second with generic plans). Every cached statement here is an
    // index lookup or range whose best plan does not depend on the values.
    conn.batch_execute("SET plan_cache_mode = force_generic_plan")
        .await
        .map_err(diesel::ConnectionError::CouldntSetupConfiguration)?;
    Ok(conn)
}

async fn establish_sqlite(path: String) -> diesel::ConnectionResult<SqliteConn> {
    let mut conn = SqliteConn::establish(&path).await?;
    // WAL lets readers run beside the one writer; synchronous=FULL makes every commit durable
    // before it returns, which the contract promises for every success answer. busy_timeout
    // comes first: switching to WAL needs a lock, and a connection opened while another one
    // writes must wait for it, not fail with "database is locked" (seen under concurrent
    // sign-ups, when the pool opened a connection in the middle of a write).
    let pragmas = format!(
        "PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}; PRAGMA journal_mode = WAL; \
         PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;"
    );
    conn.batch_execute(&pragmas)
        .await
        .map_err(diesel::ConnectionError::CouldntSetupConfiguration)?;
    Ok(conn)
}

async fn run_migrations<C>(conn: C, migrations: EmbeddedMigrations) -> Result<(), ConnectError>
where
    C: AsyncConnection + 'static,
    AsyncMigrationHarness<C>: MigrationHarness<C::Backend>,
{
    let mut harness = AsyncMigrationHarness::new(conn);
    harness
        .run_pending_migrations(migrations)
        .map(|_| ())
        .map_err(|e| ConnectError::Migrate(e.to_string()))
}

/// Hides a password in a URL before it goes into an error message.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            format!("{}://***@{}", &url[..scheme_end], &url[at + 1..])
        }
        _ => url.to_owned(),
    }
}

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
            DbError::Query(err) => DomainError::Internal(format!("database: {err}")),
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

/// Most ids one statement binds. SQLite binds each id of an `IN (...)` list as a parameter of its
/// own and refuses a statement with more than 32,766; lists that can be long (a thread's replies,
/// everything a user liked, a user's followers) go in chunks of this many. PostgreSQL binds a list
/// as one array either way, so there the chunks only add round trips past this size.
pub(crate) const IDS_PER_STATEMENT: usize = 10_000;

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

/// The keyset position before every item of a newest-first list, or the page's cursor.
pub(crate) fn newest_first_start(after: Option<Cursor>) -> (Ts, i64) {
    after.map(storable).unwrap_or((Ts::latest(), i64::MAX))
}

/// The keyset position before every item of an oldest-first list, or the page's cursor.
pub(crate) fn oldest_first_start(after: Option<Cursor>) -> (Ts, i64) {
    after.map(storable).unwrap_or((Ts::earliest(), i64::MIN))
}

/// A cursor moved into the range both backends store and compare: a forged cursor far outside
/// it is read as its nearest end, which changes no answer (PostgreSQL would refuse it).
fn storable(cursor: Cursor) -> (Ts, i64) {
    let at = cursor.at.clamp(Ts::earliest().0, Ts::latest().0);
    (Ts::from(at), cursor.id)
}

/// A page of users listed by the time of the edge that lists them (follows, likes).
pub(crate) fn listed_page(
    rows: Vec<(Ts, models::UserRow)>,
    page: &PageRequest,
) -> Page<ListedUser> {
    let listed = rows
        .into_iter()
        .map(|(since, user)| ListedUser {
            user: user.into(),
            since: since.0,
            relationship: Default::default(),
        })
        .collect();
    Page::from_rows(listed, page, |l: &ListedUser| Cursor {
        at: l.since,
        id: l.user.id,
    })
}

/// Whether a query failed on the named kind of constraint.
pub(crate) fn is_violation(err: &DbError, kind: &DatabaseErrorKind) -> bool {
    matches!(err, DbError::Query(DieselError::DatabaseError(k, _)) if std::mem::discriminant(k) == std::mem::discriminant(kind))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::{Backend, Database, DbError, PoolConfig, redact};
    use being_social_domain::DomainError;
    use diesel::result::{DatabaseErrorKind, Error as DieselError};

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

    #[test]
    fn passwords_never_reach_error_messages() {
        assert_eq!(redact("postgres://u:secret@h/db"), "postgres://***@h/db");
        assert_eq!(redact("mysql://h/db"), "mysql://h/db");
    }

    /// Nothing listens there: building pools never connects.
    const NOWHERE: &str = "postgres://nobody@127.0.0.1:1/nothing";

    fn shard_sizes(db: &Database) -> Vec<usize> {
        match &db.backend {
            Backend::Postgres(pools) => pools.shards.iter().map(|p| p.status().max_size).collect(),
            Backend::Sqlite(pools) => pools.shards.iter().map(|p| p.status().max_size).collect(),
        }
    }

    #[test]
    fn the_connections_are_split_evenly_between_shards() {
        let open = |connections, shards| {
            Database::open(
                NOWHERE,
                PoolConfig {
                    connections,
                    shards,
                },
            )
            .unwrap()
        };
        assert_eq!(shard_sizes(&open(5, 2)), [3, 2]);
        assert_eq!(open(5, 2).pool_status().max_size, 5);
        assert_eq!(shard_sizes(&open(8, 4)), [2, 2, 2, 2]);
        assert_eq!(shard_sizes(&open(2, 3)), [1, 1], "never an empty shard");
        assert_eq!(shard_sizes(&open(0, 2)), [1]);
        assert_eq!(shard_sizes(&open(4, 0)), [4]);
    }

    #[test]
    fn sqlite_keeps_one_pool_whatever_the_shards() {
        let path = std::env::temp_dir()
            .join("being-social-pools-test")
            .join("db.sqlite3");
        let url = format!("sqlite://{}", path.display());
        let db = Database::open(
            &url,
            PoolConfig {
                connections: 4,
                shards: 2,
            },
        )
        .unwrap();
        assert_eq!(shard_sizes(&db), [4]);
    }

    #[tokio::test]
    async fn warming_up_asks_for_at_most_the_shard_and_gives_up_quietly() {
        // The server asks for the whole pool; a shard is smaller. Nothing listens here, so no
        // connection opens and warm-up returns without one.
        let db = Database::open(
            NOWHERE,
            PoolConfig {
                connections: 4,
                shards: 2,
            },
        )
        .unwrap();
        db.warm_up(usize::MAX).await;
        assert_eq!(db.pool_status().size, 0);
    }

    #[test]
    fn each_thread_checks_out_of_the_shard_it_was_given() {
        let db = Database::open(
            NOWHERE,
            PoolConfig {
                connections: 4,
                shards: 2,
            },
        )
        .unwrap();
        let Backend::Postgres(pools) = &db.backend else {
            unreachable!("a postgres:// URL")
        };
        let shard_of_a_thread = |given: Option<usize>| {
            let pools = pools.clone();
            std::thread::spawn(move || {
                if let Some(index) = given {
                    Database::use_shard(index);
                }
                let local = pools.local();
                pools.shards.iter().position(|p| std::ptr::eq(p, local))
            })
            .join()
            .unwrap()
        };
        assert_eq!(
            shard_of_a_thread(None),
            Some(0),
            "threads without a shard use the first"
        );
        assert_eq!(shard_of_a_thread(Some(1)), Some(1));
        assert_eq!(
            shard_of_a_thread(Some(2)),
            Some(0),
            "worker numbers wrap around"
        );
    }
}
