//! Wiring: adapters into ports, ports into services, services into the HTTP server.

use std::fmt;
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use actix_web::dev::Server;
use actix_web::middleware::from_fn;
use actix_web::{App, HttpServer, web};
use anyhow::Context;
use being_social_domain::services::{Ports, Services, SessionService};
use being_social_http::body_deadline;
use being_social_http::metrics::Metrics;
use being_social_http::ratelimit::{self, RateLimiter};
use being_social_http::request_id::{AssignRequestId, RequestIdRootSpan};
use being_social_http::{AppState, HttpLimits, PublicUrl};
use being_social_images::RustImageProcessor;
use being_social_infra::coalesce::BATCH_SIZE_BOUNDS;
use being_social_infra::db::{Database, Follows, Likes, OutboxStep, PoolConfig, Sessions};
use being_social_infra::object_media::{MediaStoreUrl, ObjectMediaStore};
use being_social_infra::ratelimit::RedisRateLimitStore;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use tracing_actix_web::TracingLogger;

use crate::settings::Settings;

/// Opens the database and brings its schema up to date.
///
/// # Errors
/// A one-line message naming the setting to change.
pub async fn open_database(settings: &Settings) -> anyhow::Result<Database> {
    open_sharded(settings, 1).await
}

/// [`open_database`] with the pool split into `shards` (the server: one per HTTP worker).
async fn open_sharded(settings: &Settings, shards: usize) -> anyhow::Result<Database> {
    let pool = PoolConfig {
        connections: settings.pool_size,
        shards,
    };
    let db = Database::open(&settings.database_url, pool)?
        .with_feed_rules(settings.feed_rules())
        .with_max_following(settings.max_following);
    db.migrate().await?;
    Ok(db)
}

/// The adapters whose figures `/metrics` shows beside the HTTP ones.
#[derive(Clone)]
struct Observed {
    db: Database,
    likes: Likes,
    follows: Follows,
    sessions: Sessions,
    delivery: FeedDelivery,
    limiter: Arc<RateLimiter>,
}

/// What the feed worker of this process has done: the figures to alert on when fan-outs fall
/// behind (docs/operations.md, "Feed delivery").
#[derive(Clone, Default)]
struct FeedDelivery {
    chunks: Counter,
    failures: Counter,
    /// Seconds from the post's creation to the commit of the last chunk delivered.
    lag: Gauge<f64, AtomicU64>,
}

/// The rate limiter: counts in Redis when `redis_url` is set, in this process otherwise.
///
/// # Errors
/// When `redis_url` cannot be read as a Redis URL.
fn rate_limiter(settings: &Settings) -> anyhow::Result<RateLimiter> {
    let limits = settings.rate_limits();
    let Some(url) = settings.redis_url.as_ref().filter(|_| settings.rate_limits) else {
        return Ok(RateLimiter::new(limits));
    };
    let store = RedisRateLimitStore::new(url.expose(), settings.redis_timeout)
        .map_err(|err| anyhow::anyhow!("cannot use REDIS_URL {}: {err}", url.redacted()))?;
    tracing::info!(redis = %url.redacted(), "rate limits counted in Redis");
    Ok(RateLimiter::shared(
        limits,
        Arc::new(store),
        settings.rate_limit_store_policy(),
    ))
}

/// The media store `media_store` (or `media_dir`) names.
///
/// # Errors
/// When the directory cannot be created or the bucket settings cannot make a client.
pub fn media_store(settings: &Settings) -> anyhow::Result<ObjectMediaStore> {
    let timeout = settings.media_store_timeout;
    let store = match settings.media_location() {
        MediaStoreUrl::File(dir) => {
            ObjectMediaStore::local(dir.clone(), timeout).with_context(|| {
                format!(
                    "cannot create the media directory {} (set MEDIA_STORE or MEDIA_DIR)",
                    dir.display()
                )
            })?
        }
        MediaStoreUrl::S3 { bucket, prefix } => {
            ObjectMediaStore::s3(&settings.s3_config(&bucket, &prefix), timeout)
                .map_err(|err| anyhow::anyhow!("{err} (check MEDIA_STORE and the S3_* settings)"))?
        }
    };
    tracing::info!(%store, "media store");
    Ok(store)
}

/// Builds every adapter and the services on top of them.
///
/// # Errors
/// When the media directory cannot be created, the argon2 parameters are invalid or the Redis
/// URL cannot be read.
fn wire(settings: &Settings, db: Database) -> anyhow::Result<(Services, Observed)> {
    // Likes, follows and token lookups coalesce what arrives together; see db/likes.rs,
    // db/follows.rs and db/sessions.rs.
    let observed = Observed {
        db: db.clone(),
        likes: Likes::new(db.clone()),
        follows: Follows::new(db.clone()),
        sessions: Sessions::new(db.clone()),
        delivery: FeedDelivery::default(),
        limiter: Arc::new(rate_limiter(settings)?),
    };
    let likes = Arc::new(observed.likes.clone());
    let follows = Arc::new(observed.follows.clone());
    let sessions = Arc::new(observed.sessions.clone());
    let db = Arc::new(db);
    let media = media_store(settings)?;
    let images = RustImageProcessor::new(settings.image_limits(), settings.image_budget())
        .releasing_memory_with(crate::allocator::release_freed_memory);
    let services = Services::new(Ports {
        accounts: db.clone(),
        sessions,
        follows,
        posts: db.clone(),
        likes,
        comments: db.clone(),
        feed: db.clone(),
        health: db,
        media: Arc::new(media),
        images: Arc::new(images),
        credentials: Arc::new(settings.credentials()?),
    })
    .with_token_lifetimes(settings.token_lifetimes());
    Ok((services, observed))
}

/// The pool and batcher figures of `/metrics` (listed in docs/architecture.md), read on each
/// scrape.
impl Collector for Observed {
    fn encode(&self, mut out: DescriptorEncoder) -> fmt::Result {
        let pool = self.db.pool_status();
        for (name, help, value) in [
            (
                "db_pool_max_connections",
                "The most connections the database pool opens.",
                pool.max_size,
            ),
            (
                "db_pool_connections",
                "Database connections open now.",
                pool.size,
            ),
            (
                "db_pool_connections_in_use",
                "Database connections lent out now.",
                pool.in_use,
            ),
            (
                "db_pool_connections_available",
                "Open database connections idle in the pool.",
                pool.available,
            ),
            (
                "db_pool_waiting",
                "Requests waiting for a database connection.",
                pool.waiting,
            ),
        ] {
            ConstGauge::new(value).encode(out.encode_descriptor(
                name,
                help,
                None,
                MetricType::Gauge,
            )?)?;
        }

        let batchers = [
            ("likes", self.likes.stats()),
            ("follows", self.follows.stats()),
            ("tokens", self.sessions.stats()),
        ];
        let help = "Requests per batch of a coalescing batcher; _count is the batches run.";
        let mut family = out.encode_descriptor("batch_size", help, None, MetricType::Histogram)?;
        for (batcher, stats) in batchers {
            let counts = stats.batch_sizes();
            let buckets: Vec<(f64, u64)> = BATCH_SIZE_BOUNDS
                .iter()
                .zip(counts)
                .map(|(&bound, count)| (bound as f64, count))
                .collect();
            let sum = stats.requests.load(Ordering::Relaxed) as f64;
            family
                .encode_family(&[("batcher", batcher)])?
                .encode_histogram::<NoLabelSet>(sum, counts.iter().sum(), &buckets, None)?;
        }
        let largest =
            batchers.map(|(batcher, s)| (batcher, s.largest_batch.load(Ordering::Relaxed)));
        let waiting = batchers.map(|(batcher, s)| (batcher, s.waiting.load(Ordering::Relaxed)));
        ConstCounter::new(self.limiter.store_errors()).encode(out.encode_descriptor(
            "ratelimit_store_errors",
            "Rate-limit checks whose shared store (Redis) failed or did not answer in time.",
            None,
            MetricType::Counter,
        )?)?;
        for (name, help, values) in [
            ("batch_size_max", "The largest batch run so far.", largest),
            (
                "batch_waiting",
                "Requests queued for the next batch of their key.",
                waiting,
            ),
        ] {
            let mut family = out.encode_descriptor(name, help, None, MetricType::Gauge)?;
            for (batcher, value) in values {
                ConstGauge::new(value).encode(family.encode_family(&[("batcher", batcher)])?)?;
            }
        }
        let delivery = &self.delivery;
        let help = "Outbox chunks (up to 1,000 followers of one post) the feed worker delivered.";
        let chunks =
            out.encode_descriptor("feed_delivery_chunks", help, None, MetricType::Counter)?;
        delivery.chunks.encode(chunks)?;
        let help = "Outbox steps that failed (retried after 1 s).";
        let failures =
            out.encode_descriptor("feed_delivery_failures", help, None, MetricType::Counter)?;
        delivery.failures.encode(failures)?;
        let help = "Age of the post of the last chunk delivered, at its commit: how far fan-outs run behind.";
        let lag =
            out.encode_descriptor("feed_delivery_lag_seconds", help, None, MetricType::Gauge)?;
        delivery.lag.encode(lag)
    }
}

impl fmt::Debug for Observed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Observed").finish_non_exhaustive()
    }
}

/// The most expired tokens one statement of the sweep deletes: a short write (SQLite holds its
/// one write lock for it) however large the backlog.
pub const TOKEN_SWEEP_BATCH: u64 = 1000;

/// The most batches one run of the sweep deletes before waiting for the next run, so that a huge
/// backlog (after a long downtime, or a shorter lifetime) is worked off over several runs.
const TOKEN_SWEEP_BATCHES_PER_RUN: u32 = 100;

/// Deletes expired tokens every `every`, starting at once, until the task is aborted. Each run
/// deletes batches of [`TOKEN_SWEEP_BATCH`] until one comes back short, with a pause between
/// batches for the requests' own writes. Every server process sweeps; on one database their
/// sweeps overlap harmlessly (a token is deleted once).
async fn sweep_expired_tokens(sessions: SessionService, every: Duration) {
    let mut runs = tokio::time::interval(every);
    runs.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        runs.tick().await;
        let mut deleted = 0;
        for _ in 0..TOKEN_SWEEP_BATCHES_PER_RUN {
            match sessions.delete_expired_tokens(TOKEN_SWEEP_BATCH).await {
                Ok(n) => {
                    deleted += n;
                    if n < TOKEN_SWEEP_BATCH {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(err) => {
                    tracing::warn!(error = %err, "cannot delete expired tokens; trying again later");
                    break;
                }
            }
        }
        if deleted > 0 {
            tracing::info!(deleted, "deleted expired tokens");
        }
    }
}

/// A server bound to its port, not yet running.
pub struct Application {
    port: u16,
    server: Server,
    db: Database,
    /// The services the token sweep runs with, and how often it runs.
    sweep: (SessionService, Duration),
    delivery: FeedDelivery,
}

impl Application {
    /// Opens the database (applying migrations), builds the services and binds the listener.
    ///
    /// Must run inside a multi-thread tokio runtime: migrations block in place.
    ///
    /// # Errors
    /// A one-line message naming the setting to change.
    pub async fn build(settings: &Settings) -> anyhow::Result<Self> {
        let workers = settings.worker_count();
        let db = open_sharded(settings, workers).await?;
        let (services, observed) = wire(settings, db.clone())?;
        let sweep = (services.sessions.clone(), settings.token_sweep_interval);
        let delivery = observed.delivery.clone();
        let metrics = Arc::new(Metrics::default().with_source(observed.clone()));
        let listener = TcpListener::bind(settings.bind)
            .with_context(|| format!("cannot listen on {} (set BIND)", settings.bind))?;
        let local = listener.local_addr()?;
        let port = local.port();
        let public_url = PublicUrl::new(settings.public_url.clone(), settings.behind_proxy, local);
        if matches!(public_url, PublicUrl::FromHost { .. }) {
            tracing::warn!(
                "listening on every interface without PUBLIC_URL: absolute URLs follow each \
                 request's Host header; set PUBLIC_URL to the address clients use"
            );
        }
        let state = web::Data::new(AppState {
            services,
            limits: HttpLimits {
                max_upload_bytes: settings.max_upload_bytes,
                pages: settings.page_limits(),
                body_timeout: settings.request_body_timeout,
                ..HttpLimits::default()
            },
            public_url,
            uploads: settings.upload_memory(),
            media_url: settings.media_public_url.clone(),
        });
        // One limiter for every worker: the counts are per process (or in Redis), not per thread.
        let limiter = web::Data::from(observed.limiter.clone());
        let (warm_db, pool_size) = (db.clone(), settings.pool_size);
        let started_workers = Arc::new(AtomicUsize::new(0));
        let server = HttpServer::new(move || {
            // This runs on each worker's thread: the worker takes its own shard of the pool and
            // opens it there, so its connections' IO runs beside its requests (see `Pools`).
            Database::use_shard(started_workers.fetch_add(1, Ordering::Relaxed));
            let (pool, connections) = (warm_db.clone(), pool_size);
            actix_web::rt::spawn(async move { pool.warm_up(connections).await });
            App::new()
                .app_data(state.clone())
                .app_data(web::Data::from(metrics.clone()))
                .app_data(limiter.clone())
                // The last wrapped runs first: metrics see every answer, the request ID is set
                // before the logger makes its span, and the rate limits run inside the logger so
                // that refused requests are logged too.
                .wrap(from_fn(body_deadline::enforce))
                .wrap(from_fn(ratelimit::enforce))
                .wrap(TracingLogger::<RequestIdRootSpan>::new())
                .wrap(AssignRequestId)
                .wrap(from_fn(being_social_http::metrics::record))
                .wrap(being_social_http::default_headers())
                .configure(being_social_http::metrics::configure)
                .configure(being_social_http::configure)
        })
        // Before `listen`, which copies it. Without TCP_NODELAY a response written in two parts
        // (the head, then a picture's bytes) waits for the client's delayed ACK of the first:
        // 40 ms for every `/media/` read of a local file on a kept-alive connection.
        .on_connect(|connection, _| {
            if let Some(tcp) = connection.downcast_ref::<actix_web::rt::net::TcpStream>() {
                let _ = tcp.set_nodelay(true);
            }
        })
        .listen(listener)?
        // actix-web stops gracefully on SIGTERM but cuts requests off on SIGINT; both mean "stop
        // gracefully" here: an operator's Ctrl-C must not cut a request off half-way.
        .shutdown_signal(termination_requested())
        .shutdown_timeout(settings.shutdown_timeout)
        .keep_alive(settings.keep_alive)
        .client_request_timeout(settings.request_head_timeout)
        // actix counts connections per worker.
        .max_connections(settings.max_connections.div_ceil(workers).max(1))
        .workers(workers);
        Ok(Self {
            port,
            server: server.run(),
            db,
            sweep,
            delivery,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// A handle to stop the server from elsewhere.
    pub fn handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }

    /// Serves until the process is told to stop (SIGTERM, SIGINT, or [`Self::handle`]): the
    /// listener closes at once, in-flight requests get `shutdown_timeout` seconds to finish, then
    /// the database pool closes. Meanwhile expired tokens are deleted every
    /// `token_sweep_interval`, and pending feed fan-outs are delivered (both stop with the
    /// server).
    ///
    /// Must run inside a tokio runtime (the sweep is a task of it).
    ///
    /// # Errors
    /// When the server fails.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let (sessions, every) = self.sweep;
        let sweep = tokio::spawn(sweep_expired_tokens(sessions, every));
        let outbox = tokio::spawn(deliver_feeds(self.db.clone(), self.delivery));
        let served = self.server.await;
        // Stopped wherever they are: each batch or chunk is one transaction, done in full or not
        // at all (a chunk cut off is delivered again by the next worker to claim it).
        sweep.abort();
        outbox.abort();
        self.db.close();
        tracing::info!("stopped");
        served
    }
}

/// How long the feed worker sleeps when nothing waits in the outbox: the most a fan-out waits
/// to start, on top of the chunks before it.
const OUTBOX_POLL: Duration = Duration::from_millis(50);

/// Delivers the fan-outs waiting in the feed outbox (db/feed.rs), forever: each server process
/// runs one, and processes share the work (`SKIP LOCKED`). SQLite has no outbox.
async fn deliver_feeds(db: Database, figures: FeedDelivery) {
    if !db.is_postgres() {
        return;
    }
    loop {
        match db.deliver_outbox().await {
            Ok(OutboxStep::Delivered { posted_at }) => {
                figures.chunks.inc();
                let lag = SystemTime::now()
                    .duration_since(posted_at)
                    .unwrap_or_default();
                figures.lag.set(lag.as_secs_f64());
            }
            Ok(OutboxStep::Idle) => tokio::time::sleep(OUTBOX_POLL).await,
            Err(err) => {
                figures.failures.inc();
                tracing::warn!(error = %err, "feed delivery failed; retrying in 1 s");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

/// Resolves on the first SIGTERM or SIGINT (Ctrl-C elsewhere than Unix).
async fn termination_requested() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) {
            (Ok(mut term), Ok(mut int)) => {
                let name = tokio::select! {
                    _ = term.recv() => "SIGTERM",
                    _ = int.recv() => "SIGINT",
                };
                tracing::info!(signal = name, "stopping: finishing in-flight requests");
            }
            (Err(err), _) | (_, Err(err)) => {
                // Only a runtime without its signal driver refuses; serve on, stoppable by handle.
                tracing::warn!(error = %err, "cannot listen for SIGTERM/SIGINT");
                std::future::pending::<()>().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        if tokio::signal::ctrl_c().await.is_ok() {
            tracing::info!("stopping: finishing in-flight requests");
        } else {
            std::future::pending::<()>().await;
        }
    }
}
