//! The connection pool, split into one shard per HTTP worker on PostgreSQL.

use std::time::Duration;

use diesel_async::pooled_connection::AsyncDieselConnectionManager;
use diesel_async::pooled_connection::deadpool::Pool;

use super::ConnectError;

/// How long a request waits for a pooled connection before answering 503.
const POOL_WAIT: Duration = Duration::from_secs(10);

thread_local! {
    /// The pool shard this thread checks connections out of (see [`Pools`]).
    pub(super) static SHARD: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
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
    pub(super) fn new(
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
    pub(super) fn status(&self) -> deadpool::managed::Status {
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

    pub(super) fn close(&self) {
        self.shards.iter().for_each(Pool::close);
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

/// Checks out `connections` connections at once (new ones where none is idle), then returns them
/// all to the pool.
pub(super) async fn fill<C>(pool: &Pool<C>, connections: usize)
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

pub(super) fn build_pool<C>(
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::db::{Backend, Database};

    const NOWHERE: &str = "postgres://nobody@127.0.0.1:1/nothing";

    /// The database at `url` with `connections` split into `shards`.
    fn open(url: &str, connections: usize, shards: usize) -> Database {
        let pool = PoolConfig {
            connections,
            shards,
        };
        Database::open(url, pool).unwrap()
    }

    fn shard_sizes(db: &Database) -> Vec<usize> {
        match &db.backend {
            Backend::Postgres(pools) => pools.shards.iter().map(|p| p.status().max_size).collect(),
            Backend::Sqlite(pools) => pools.shards.iter().map(|p| p.status().max_size).collect(),
        }
    }

    #[test]
    fn the_connections_are_split_evenly_between_shards() {
        let open = |connections, shards| open(NOWHERE, connections, shards);
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
        let db = open(&url, 4, 2);
        assert_eq!(shard_sizes(&db), [4]);
    }

    #[tokio::test]
    async fn warming_up_asks_for_at_most_the_shard_and_gives_up_quietly() {
        // The server asks for the whole pool; a shard is smaller. Nothing listens here, so no
        // connection opens and warm-up returns without one.
        let db = open(NOWHERE, 4, 2);
        db.warm_up(usize::MAX).await;
        assert_eq!(db.pool_status().size, 0);
    }

    #[test]
    fn each_thread_checks_out_of_the_shard_it_was_given() {
        let db = open(NOWHERE, 4, 2);
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
