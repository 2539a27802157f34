//! The database adapter: PostgreSQL (production) and embedded SQLite (the zero-setup default)
//! behind one type, [`Database`]. It is the adapter of the accounts, posts, comments and feed
//! ports; [`Likes`], [`Follows`] and [`Sessions`] wrap it with coalescing for theirs. One module
//! per feature, named as the feature is in every crate; beside them `macros` (the backend
//! macros), `pool` (connections), `error` (failures and the transient retry), `page` (keyset
//! pages), `dialect` (what differs between the backends).
//!
//! # One query code for two backends
//! Queries are written once, as diesel DSL inside `with_conn!` or `transaction!`. Each macro
//! expands its body once per backend, so every copy is type-checked against its own SQL dialect
//! (a function generic over the connection type would drown in trait bounds). What truly differs
//! between the backends lives in the [`Dialect`] trait: row locks, the batched inserts, the
//! recursive walk of a comment thread.
//!
//! # Transactions and locks
//! On PostgreSQL a write transaction runs at READ COMMITTED and takes the row locks it needs in a
//! fixed order: user rows in ascending id, then post rows, then comment rows. Two transactions that
//! lock the same rows therefore always queue, never deadlock. On SQLite every write transaction is
//! `BEGIN IMMEDIATE`: it takes the single write lock first, so the same code needs no row locks.
//! Counters move by `count = count ± n` in the transaction that changes the rows they count.

#[macro_use]
mod macros;

mod accounts;
pub mod check;
mod comments;
mod dialect;
mod error;
mod feed;
mod follows;
mod likes;
pub mod models;
mod page;
mod pool;
mod posts;
mod pulled_posts;
pub mod schema;
pub mod seed;
mod sessions;

use std::path::Path;
use std::sync::Arc;

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

pub(crate) use dialect::Dialect;
pub(crate) use error::{DbError, DbResult, is_violation};
pub use feed::{FeedRules, OutboxStep};
pub use follows::Follows;
pub use likes::Likes;
pub(crate) use page::{listed_page, newest_first_start, oldest_first_start};
pub(crate) use pool::Pools;
pub use pool::{PoolConfig, PoolStatus};
use pool::{SHARD, fill};
pub use sessions::Sessions;

/// How long SQLite waits for the write lock before giving up (busy_timeout).
const SQLITE_BUSY_TIMEOUT_MS: u32 = 10_000;

pub type SqliteConn = SyncConnectionWrapper<SqliteConnection>;

const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/postgres");
const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("../../migrations/sqlite");

#[derive(Clone)]
pub(crate) enum Backend {
    Postgres(Pools<Pool<AsyncPgConnection>>),
    Sqlite(Pools<Pool<SqliteConn>>),
}

/// A pool of connections to PostgreSQL or SQLite; implements every repository port.
#[derive(Clone)]
pub struct Database {
    pub(crate) backend: Backend,
    /// How far feeds are materialised (db/feed.rs).
    pub(crate) feed: FeedRules,
    /// The most users one user may follow (db/follows.rs).
    pub(crate) max_following: i64,
    /// The pulled followees of the viewers whose feeds this process read (db/feed.rs).
    pub(crate) pulled_followees: Arc<feed::PulledCache>,
    /// The newest posts of the pulled authors whose posts this process read (db/pulled_posts.rs).
    pub(crate) pulled_posts: Arc<pulled_posts::PulledPosts>,
}

/// [`Database::with_max_following`]'s default: ten times what the benchmark's heaviest reader
/// follows; Twitter long capped new accounts at 5,000.
pub const DEFAULT_MAX_FOLLOWING: i64 = 10_000;

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self.backend {
            Backend::Postgres(_) => "Database(postgres)",
            Backend::Sqlite(_) => "Database(sqlite)",
        })
    }
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
        Ok(Self {
            backend,
            feed: FeedRules::default(),
            max_following: DEFAULT_MAX_FOLLOWING,
            pulled_followees: Arc::new(feed::pulled_cache()),
            pulled_posts: Arc::new(pulled_posts::PulledPosts::new(
                FeedRules::DEFAULT.pulled_posts_kept,
            )),
        }
        .with_feed_rules(FeedRules::default()))
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
            // Not SQLite: opening its connection is a local file open, and its one pool serves
            // every worker. Each worker filling it held what it had taken while waiting for the
            // rest, which the other worker held: the pool was empty until the wait timed out,
            // and the first requests of a fresh embedded server hung that long and got 503.
            Backend::Sqlite(_) => {}
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

    /// The same database with feeds materialised by `rules`. SQLite copies every pushed post in
    /// its own transaction (it has one writer at a time, and no worker to hand a fan-out to).
    pub fn with_feed_rules(mut self, rules: FeedRules) -> Self {
        self.pulled_posts = Arc::new(pulled_posts::PulledPosts::new(rules.pulled_posts_kept));
        self.feed = match self.backend {
            Backend::Postgres(_) => rules,
            Backend::Sqlite(_) => FeedRules {
                inline_fanout: i64::MAX,
                ..rules
            },
        };
        self
    }

    /// The same database refusing a follow that would take its follower past `max` follows:
    /// every follow costs the reads of that user's feed (one index range per followee below the
    /// horizon), so their number is bounded.
    pub fn with_max_following(mut self, max: i64) -> Self {
        self.max_following = max;
        self
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

/// Most ids one statement binds. SQLite binds each id of an `IN (...)` list as a parameter of its
/// own and refuses a statement with more than 32,766; lists that can be long (a thread's replies,
/// everything a user liked, a user's followers) go in chunks of this many. PostgreSQL binds a list
/// as one array either way, so there the chunks only add round trips past this size.
pub(crate) const IDS_PER_STATEMENT: usize = 10_000;

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn passwords_never_reach_error_messages() {
        assert_eq!(redact("postgres://u:secret@h/db"), "postgres://***@h/db");
        assert_eq!(redact("mysql://h/db"), "mysql://h/db");
    }
}
