//! Settings, from command-line flags, environment variables and an optional TOML file, in that
//! order of precedence (a flag beats the environment, which beats the file, which beats the
//! default). Built once in `main` and passed down; nothing reads the environment after start-up.
//!
//! Every setting is one field of [`Settings`]: its doc comment is the `--help` text, its clap
//! attributes the flag, the environment variable, the default and the parser; the TOML key is
//! the field name. Adding a setting is adding a field (and a row to docs/configuration.md, which a
//! test checks). Clap parses every value: [`Cli::load_from`] only picks, per setting, the text of
//! the first source that has one and remembers which source that was, for the error message.

use std::collections::HashMap;
use std::ffi::OsString;
use std::fmt::Display;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use being_social_domain::pagination::PageLimits;
use being_social_domain::services::TokenLifetimes;
use being_social_http::multipart::{FORM_OVERHEAD_BYTES, UploadMemory};
use being_social_http::public_url::BaseUrl;
use being_social_http::ratelimit::{Quota, RateLimits, StoreFailure, StorePolicy};
use being_social_images::{ImageBudget, ImageLimits};
use being_social_infra::credentials::Argon2Credentials;
use being_social_infra::db::{DEFAULT_MAX_FOLLOWING, FeedRules};
use being_social_infra::object_media::S3Config;
use clap::error::{ContextKind, ContextValue};
use clap::parser::ValueSource;
use clap::{ArgAction, Args, CommandFactory, FromArgMatches, Parser, Subcommand};

/// The command line with every setting. Read it with [`Cli::load_from`]: clap's own `parse`
/// would leave out the file and the rules between settings.
#[derive(Debug, Parser)]
#[command(
    name = "being-social",
    version,
    about = "Being Social: a photo-sharing social REST API.",
    after_help = "Every setting comes from its flag, else its environment variable, else its key in \
                  the TOML file named by --config (CONFIG_FILE), else its default. \
                  See docs/configuration.md."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,

    /// TOML file of settings (keys as shown by [toml: ...]); an error if missing.
    #[arg(long, env = "CONFIG_FILE", value_name = "PATH")]
    pub config: Option<String>,

    #[command(flatten)]
    pub settings: Settings,
}
#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    /// Apply pending migrations, then serve the API (the default).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Compare every counter with the rows it counts, and every user's feed with their follows and
    /// posts; exit status 1 if any differs.
    Check {
        /// Set every differing counter to the count of its rows and rebuild every differing feed.
        #[arg(long)]
        repair: bool,
        /// Leave the feeds out (their comparison reads every feed entry: minutes for tens of
        /// millions).
        #[arg(long)]
        counters_only: bool,
        /// Also compare the media store with the rows: files that no row names are reported,
        /// and removed with --repair (it lists every file of the store).
        #[arg(long)]
        media: bool,
        /// With --media, files younger than this are left alone even if no row names them
        /// (an upload writes its files before its row).
        #[arg(long, default_value = "1h", value_parser = duration)]
        media_grace: Duration,
    },
    /// Fill an empty PostgreSQL database with the benchmark dataset (see docs/benchmarks.md).
    Seed(SeedArgs),
}

/// Sizes of the benchmark dataset. Users `1..=users` post and follow; the likers come after them.
#[derive(Debug, Clone, Args)]
pub struct SeedArgs {
    /// Users who post and follow ("feed users").
    #[arg(long, default_value_t = 10_000)]
    pub users: u32,
    /// Posts, spread over the feed users (plus the hot post and the pgbench post).
    #[arg(long, default_value_t = 500_000)]
    pub posts: u32,
    /// How many users each feed user other than user 1 follows.
    #[arg(long, default_value_t = 100)]
    pub follows_per_user: u32,
    /// How many users user 1 follows (users 2..=N+1).
    #[arg(long, default_value_t = 1_000)]
    pub heavy_follows: u32,
    /// Extra users with a token and nothing else (hot-likes, mutual follows).
    #[arg(long, default_value_t = 400_000)]
    pub likers: u32,
    /// Celebrity authors, each followed by the first `--celebrity-followers` likers, and one
    /// modest author followed by the first 10 (the celebrity-post scenario).
    #[arg(long, default_value_t = 0)]
    pub celebrities: u32,
    /// Followers of each celebrity (at most `--likers`).
    #[arg(long, default_value_t = 1_000_000)]
    pub celebrity_followers: u32,
    /// Pulled authors (each followed by the first `feed_push_limit` + 1 likers) that a mixed
    /// viewer follows besides user 1's authors (the mixed-feed scenario).
    #[arg(long, default_value_t = 0)]
    pub pulled_followed: u32,
    /// Posts of a prolific leader, beside a modest leader with 10 (the prolific-follow scenario).
    #[arg(long, default_value_t = 0)]
    pub prolific_posts: u32,
    /// Followers of an author whose posts go through the feed outbox (the delivery scenario).
    #[arg(long, default_value_t = 0)]
    pub outbox_followers: u32,
    /// Write every user's token secret to this file, one a line (line k: user k).
    #[arg(long)]
    pub tokens_out: Option<PathBuf>,
    /// Required: the seed makes users whose login tokens anyone can compute (`bench-<id>`), so it
    /// runs only on a database made for benchmarks, said in so many words.
    #[arg(long = "yes-this-is-a-benchmark-database")]
    pub confirmed: bool,
}

/// Every setting of the server.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct Settings {
    /// Address and port to listen on.
    #[arg(long, env, default_value = "127.0.0.1:8080", value_parser = parsed::<SocketAddr>)]
    pub bind: SocketAddr,
    /// Database to use: `sqlite://PATH` (embedded) or `postgres://USER@HOST:PORT/DB`.
    #[arg(long, env, default_value = "sqlite://data/being-social.db")]
    pub database_url: String,
    /// Most database connections the server keeps open.
    #[arg(long, env = "DATABASE_POOL_SIZE", default_value = "16")]
    #[arg(value_parser = positive(parsed::<usize>))]
    pub pool_size: usize,
    /// Directory where uploaded pictures are stored (unless `media_store` says elsewhere).
    #[arg(long, env, default_value = "data/media", value_parser = path)]
    pub media_dir: PathBuf,
    /// Where uploaded pictures are stored: `file://PATH` (a directory of this machine) or
    /// `s3://BUCKET/PREFIX` (an S3-compatible bucket, every node serving every picture; see the
    /// `s3_*` settings). Default: `file://` and `media_dir`.
    #[arg(long, env, value_parser = MediaStoreUrl::parse)]
    pub media_store: Option<MediaStoreUrl>,
    /// Endpoint of an S3-compatible server other than AWS (`http://HOST:PORT`), addressed
    /// path-style.
    #[arg(long, env, value_parser = SecretUrl::parse)]
    pub s3_endpoint: Option<SecretUrl>,
    /// Region of the bucket.
    #[arg(long, env, default_value = "us-east-1")]
    pub s3_region: String,
    /// Access key id for the bucket, with `s3_secret_access_key` (without both, requests are not
    /// signed).
    #[arg(long, env, value_parser = Secret::parse)]
    pub s3_access_key_id: Option<Secret>,
    /// Secret access key for the bucket; never shown.
    #[arg(long, env, value_parser = Secret::parse)]
    pub s3_secret_access_key: Option<Secret>,
    /// The longest one call to the media store may take (`503` past it).
    #[arg(long, env, default_value = "10s", value_parser = positive(duration))]
    pub media_store_timeout: Duration,
    /// Base URL of pictures in answers instead of this server's `/media/`, e.g. a bucket's or a
    /// CDN's `https://cdn.example/pictures` (a picture's URL is it, `/` and the key).
    #[arg(long, env, value_parser = BaseUrl::parse)]
    pub media_public_url: Option<BaseUrl>,
    /// Largest accepted upload, in bytes (413 beyond).
    #[arg(long, env, default_value = "10485760", value_parser = positive(parsed::<usize>))]
    pub max_upload_bytes: usize,
    /// Largest accepted picture, in pixels (width × height; 400 beyond).
    #[arg(long, env, default_value = "40000000", value_parser = positive(parsed::<u64>))]
    pub max_image_pixels: u64,
    /// Longest accepted edge of a picture, in pixels (400 `image_bad_shape` beyond).
    #[arg(long, env, default_value_t = ImageLimits::DEFAULT_MAX_EDGE)]
    #[arg(value_parser = positive(parsed::<u32>))]
    pub max_image_edge: u32,
    /// Most times a picture's long edge may be its short edge (400 `image_bad_shape` beyond).
    #[arg(long, env, default_value_t = ImageLimits::DEFAULT_MAX_ASPECT_RATIO)]
    #[arg(value_parser = positive(parsed::<u32>))]
    pub max_image_aspect_ratio: u32,
    /// Memory, in MiB, that all picture processing of the process may hold at once; each upload
    /// reserves its estimated need and waits while others hold the rest.
    #[arg(long, env, default_value_t = ImageBudget::DEFAULT_BYTES >> 20)]
    #[arg(value_parser = positive(parsed::<u64>))]
    pub image_memory_mib: u64,
    /// Memory, in MiB, that the bodies of all uploads in progress may hold at once (at least
    /// one largest upload); each upload reserves its declared length before its body is read.
    #[arg(long, env, default_value_t = UploadMemory::DEFAULT_BYTES >> 20)]
    #[arg(value_parser = positive(parsed::<u64>))]
    pub upload_memory_mib: u64,
    /// How long an upload waits for its share of `upload_memory_mib` and of `image_memory_mib`
    /// before it is answered 503.
    #[arg(long, env, default_value = "30s", value_parser = positive(duration))]
    pub image_wait_timeout: Duration,
    /// Page size of list endpoints when the request has no `?limit=`.
    #[arg(long, env, default_value = "30", value_parser = positive(parsed::<u32>))]
    pub default_page_size: u32,
    /// Largest `?limit=` a list endpoint accepts (400 beyond).
    #[arg(long, env, default_value = "100", value_parser = positive(parsed::<u32>))]
    pub max_page_size: u32,
    /// Memory of one argon2id password hash, in KiB.
    #[arg(long, env, default_value_t = Argon2Credentials::DEFAULT_MEMORY_KIB)]
    #[arg(value_parser = parsed::<u32>)]
    pub argon2_memory_kib: u32,
    /// Passes of one argon2id password hash.
    #[arg(long, env, default_value_t = Argon2Credentials::DEFAULT_ITERATIONS)]
    #[arg(value_parser = parsed::<u32>)]
    pub argon2_iterations: u32,
    /// Lanes of one argon2id password hash.
    #[arg(long, env, default_value_t = Argon2Credentials::DEFAULT_PARALLELISM)]
    #[arg(value_parser = parsed::<u32>)]
    pub argon2_parallelism: u32,
    /// Login tokens unused for this long expire (`30d`, `12h`; a bare number is seconds).
    #[arg(long, env, default_value = "30d", value_parser = positive(duration))]
    pub token_idle_lifetime: Duration,
    /// Login tokens older than this expire, however recently used; at least
    /// `token_idle_lifetime`.
    #[arg(long, env, default_value = "365d", value_parser = duration)]
    pub token_absolute_lifetime: Duration,
    /// How often the server deletes expired tokens (in batches of 1,000).
    #[arg(long, env, default_value = "1h", value_parser = positive(duration))]
    pub token_sweep_interval: Duration,
    /// Authors with more followers than this are pulled: their posts are merged into feeds when
    /// read instead of copied into each follower's (docs/architecture.md, "The feed").
    #[arg(long, env, default_value_t = FeedRules::default().push_limit)]
    #[arg(value_parser = positive(parsed::<i64>))]
    pub feed_push_limit: i64,
    /// Most entries one viewer's materialised feed holds; older pages are read from the posts.
    #[arg(long, env, default_value_t = FeedRules::default().max_entries)]
    #[arg(value_parser = positive(parsed::<i64>))]
    pub feed_max_entries: i64,
    /// Most of a leader's newest posts a follow copies into the follower's feed.
    #[arg(long, env, default_value_t = FeedRules::default().follow_backfill)]
    #[arg(value_parser = positive(parsed::<i64>))]
    pub feed_follow_backfill: i64,
    /// Most followers a post is copied to in its own transaction; beyond, a worker copies it
    /// after the commit (PostgreSQL; SQLite copies every post in its transaction).
    #[arg(long, env, default_value_t = FeedRules::default().inline_fanout)]
    #[arg(value_parser = parsed::<i64>)]
    pub feed_inline_fanout: i64,
    /// Most users one user may follow (409 `following_limit` beyond): every page of a feed below
    /// its horizon reads one index range per followee.
    #[arg(long, env, default_value_t = DEFAULT_MAX_FOLLOWING)]
    #[arg(value_parser = positive(parsed::<i64>))]
    pub max_following: i64,
    /// Rate limits (`off` disables every limit below). Each process keeps its own counts, unless
    /// `redis_url` is set.
    #[arg(long, env, default_value = "on", value_parser = on_off, action = ArgAction::Set)]
    pub rate_limits: bool,
    /// Logins and sign-ups allowed per client address per `auth_rate_window`.
    #[arg(long, env, default_value = "30", value_parser = positive(parsed::<u32>))]
    pub auth_rate_limit: u32,
    /// Window of `auth_rate_limit` (`90s`, `5m`, `1h`; a bare number is seconds).
    #[arg(long, env, default_value = "300s", value_parser = positive(duration))]
    pub auth_rate_window: Duration,
    /// Writes (POST, PUT, PATCH, DELETE) allowed per token per `write_rate_window`.
    #[arg(long, env, default_value = "300", value_parser = positive(parsed::<u32>))]
    pub write_rate_limit: u32,
    /// Window of `write_rate_limit` (`90s`, `5m`, `1h`; a bare number is seconds).
    #[arg(long, env, default_value = "300s", value_parser = positive(duration))]
    pub write_rate_window: Duration,
    /// Redis that keeps the rate limits' counts for every process using it, e.g.
    /// `redis://127.0.0.1:6379/0` (default: each process counts in its own memory).
    #[arg(long, env, value_parser = SecretUrl::parse)]
    pub redis_url: Option<SecretUrl>,
    /// What limited requests get while Redis fails or does not answer within `redis_timeout`:
    /// `open` (served, unlimited) or `closed` (503).
    #[arg(long, env, default_value = "open", value_parser = open_closed)]
    pub rate_limit_failure: StoreFailure,
    /// The longest a request waits for Redis before `rate_limit_failure` applies.
    #[arg(long, env, default_value = "250ms", value_parser = positive(duration))]
    pub redis_timeout: Duration,
    /// Behind a proxy that sets them: take the client address from `X-Forwarded-For`, and the
    /// scheme and host of absolute URLs from `Forwarded`/`X-Forwarded-*` unless `public_url` is set.
    #[arg(long, env, default_value = "off", value_parser = on_off, action = ArgAction::Set)]
    pub behind_proxy: bool,
    /// Scheme, host and optional path prefix of every absolute URL in answers, e.g.
    /// `https://social.example` (default: `http://` and the address the server listens on).
    #[arg(long, env, value_parser = BaseUrl::parse)]
    pub public_url: Option<BaseUrl>,
    /// How long an idle keep-alive connection stays open. Longer than clients keep idle
    /// connections in their pools (60 s is common), so the server never closes one just as a
    /// client reuses it.
    #[arg(long, env, default_value = "75s", value_parser = duration)]
    pub keep_alive: Duration,
    /// Time a client has to send a request's head (method, path, headers) once it starts.
    #[arg(long, env, default_value = "10s", value_parser = positive(duration))]
    pub request_head_timeout: Duration,
    /// Time a client has to send a request's whole body (408 past it).
    #[arg(long, env, default_value = "120s", value_parser = positive(duration))]
    pub request_body_timeout: Duration,
    /// Most connections the process serves at once; more wait to be accepted.
    #[arg(long, env, default_value = "10000", value_parser = positive(parsed::<usize>))]
    pub max_connections: usize,
    /// HTTP worker threads (default: one per CPU core).
    #[arg(long, env, value_parser = positive(parsed::<usize>))]
    pub workers: Option<usize>,
    /// Seconds that in-flight requests get to finish after SIGTERM or SIGINT; requests still
    /// running then are cut off.
    #[arg(long, env, default_value = "30", value_parser = parsed::<u64>)]
    pub shutdown_timeout: u64,
    /// Log format: `human` (one readable line per event) or `json` (one object per event).
    #[arg(long, env, default_value = "human", value_parser = parsed::<LogFormat>)]
    pub log_format: LogFormat,
}

impl Default for Settings {
    fn default() -> Self {
        Self::from_texts(|_| None).unwrap_or_else(|err| panic!("a default is invalid: {err}"))
    }
}

impl Settings {
    /// Settings for tests and tools: everything default but the database and media directory,
    /// a free port, a small pool and no rate limits (the suites sign up hundreds of users from
    /// one address).
    pub fn for_database(database_url: impl Into<String>, media_dir: PathBuf) -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            database_url: database_url.into(),
            pool_size: 8,
            media_dir,
            workers: Some(2),
            rate_limits: false,
            ..Self::default()
        }
    }

    /// HTTP worker threads: the setting, or one per CPU core. Each has its own share of the
    /// database pool on PostgreSQL.
    pub fn worker_count(&self) -> usize {
        self.workers
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from))
            .max(1)
    }

    pub fn page_limits(&self) -> PageLimits {
        PageLimits {
            default: self.default_page_size,
            max: self.max_page_size,
        }
    }

    pub fn image_limits(&self) -> ImageLimits {
        ImageLimits {
            max_pixels: self.max_image_pixels,
            max_edge: self.max_image_edge,
            max_aspect_ratio: self.max_image_aspect_ratio,
            ..ImageLimits::default()
        }
    }

    pub fn image_budget(&self) -> ImageBudget {
        ImageBudget::new(
            self.image_memory_mib.saturating_mul(1 << 20),
            self.image_wait_timeout,
        )
    }

    pub fn upload_memory(&self) -> UploadMemory {
        UploadMemory::new(
            self.upload_memory_mib.saturating_mul(1 << 20),
            self.max_upload_bytes + FORM_OVERHEAD_BYTES,
            self.image_wait_timeout,
        )
    }

    pub fn feed_rules(&self) -> FeedRules {
        FeedRules {
            push_limit: self.feed_push_limit,
            max_entries: self.feed_max_entries,
            follow_backfill: self.feed_follow_backfill,
            inline_fanout: self.feed_inline_fanout,
        }
    }

    pub fn token_lifetimes(&self) -> TokenLifetimes {
        TokenLifetimes {
            idle: self.token_idle_lifetime,
            absolute: self.token_absolute_lifetime,
        }
    }

    pub fn rate_limits(&self) -> RateLimits {
        if !self.rate_limits {
            return RateLimits::off();
        }
        RateLimits {
            auth: Some(Quota {
                count: self.auth_rate_limit,
                window: self.auth_rate_window,
            }),
            writes: Some(Quota {
                count: self.write_rate_limit,
                window: self.write_rate_window,
            }),
            behind_proxy: self.behind_proxy,
        }
    }

    /// Where pictures are stored: `media_store`, else `media_dir`.
    pub fn media_location(&self) -> MediaStoreUrl {
        self.media_store
            .clone()
            .unwrap_or_else(|| MediaStoreUrl::File(self.media_dir.clone()))
    }

    /// The bucket of an `s3://` media store, with its endpoint and credentials.
    pub fn s3_config(&self, bucket: &str, prefix: &str) -> S3Config {
        S3Config {
            bucket: bucket.to_owned(),
            prefix: prefix.to_owned(),
            endpoint: self.s3_endpoint.as_ref().map(|url| url.expose().to_owned()),
            region: self.s3_region.clone(),
            access_key_id: self
                .s3_access_key_id
                .as_ref()
                .map(|s| s.expose().to_owned()),
            secret_access_key: self
                .s3_secret_access_key
                .as_ref()
                .map(|s| s.expose().to_owned()),
        }
    }

    /// How the rate limiter uses Redis, when `redis_url` is set.
    pub fn rate_limit_store_policy(&self) -> StorePolicy {
        StorePolicy {
            timeout: self.redis_timeout,
            on_failure: self.rate_limit_failure,
        }
    }

    /// The password hasher these costs describe.
    ///
    /// # Errors
    /// When argon2 rejects the combination (checked at start-up by [`Cli::load_from`]).
    pub fn credentials(
        &self,
    ) -> Result<Argon2Credentials, being_social_infra::credentials::InvalidArgon2Params> {
        Argon2Credentials::new(
            self.argon2_memory_kib,
            self.argon2_iterations,
            self.argon2_parallelism,
        )
    }

    /// The settings with the text `text(key)` gives, parsed as their flags would be; the
    /// defaults for the others and for an empty text where there is no default (`WORKERS=`).
    fn from_texts(text: impl Fn(&str) -> Option<String>) -> Result<Self, clap::Error> {
        let command = Self::augment_args(clap::Command::new("being-social")).mut_args(|arg| {
            let text = text(arg.get_id().as_str())
                .filter(|t| !t.is_empty() || !arg.get_default_values().is_empty());
            match text {
                Some(text) => arg.env(None).default_value(text),
                None => arg.env(None),
            }
        });
        Self::from_arg_matches(&command.try_get_matches_from(["being-social"])?)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// One readable line per event.
    Human,
    /// One JSON object per event.
    Json,
}

impl FromStr for LogFormat {
    type Err = &'static str;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.trim().to_ascii_lowercase().as_str() {
            "human" => Ok(Self::Human),
            "json" => Ok(Self::Json),
            _ => Err("expected human or json"),
        }
    }
}

/// `text` as a `T`, blanks around it ignored.
fn parsed<T: FromStr<Err: Display>>(text: &str) -> Result<T, String> {
    text.trim().parse().map_err(|err: T::Err| err.to_string())
}

/// Counts, sizes and periods: zero is refused.
fn positive<T: Default + PartialEq + Clone + Send + Sync + 'static>(
    parse: fn(&str) -> Result<T, String>,
) -> impl Fn(&str) -> Result<T, String> + Clone + Send + Sync + 'static {
    move |text| match parse(text)? {
        zero if zero == T::default() => Err("must be at least 1".into()),
        value => Ok(value),
    }
}

fn path(text: &str) -> Result<PathBuf, String> {
    if text.is_empty() {
        return Err("empty path".into());
    }
    Ok(text.into())
}

fn open_closed(text: &str) -> Result<StoreFailure, String> {
    match text.trim().to_ascii_lowercase().as_str() {
        "open" => Ok(StoreFailure::Open),
        "closed" => Ok(StoreFailure::Closed),
        _ => Err("expected open or closed".into()),
    }
}

/// A URL that may carry a password (`redis://:secret@host`): shown everywhere (`Debug`, logs)
/// with its user information replaced by `***`.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretUrl(String);

impl SecretUrl {
    /// Any non-empty text without blanks; the client that uses it judges the rest. The error
    /// does not repeat the text.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if text.is_empty() || text.contains(char::is_whitespace) || !text.contains("://") {
            return Err("expected a URL, SCHEME://[USER:PASSWORD@]HOST[:PORT][/PATH]".into());
        }
        Ok(Self(text.to_owned()))
    }

    /// The URL itself, password included: for the client that connects, never for a log.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The URL without its user information.
    pub fn redacted(&self) -> String {
        let Some((scheme, rest)) = self.0.split_once("://") else {
            return "***".into();
        };
        let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        match rest[..authority_end].rfind('@') {
            Some(at) => format!("{scheme}://***@{}", &rest[at + 1..]),
            None => self.0.clone(),
        }
    }
}

impl std::fmt::Debug for SecretUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", self.redacted())
    }
}

/// A credential: shown everywhere (`Debug`, logs) as `***`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Any non-empty text.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if text.is_empty() {
            return Err("empty".into());
        }
        Ok(Self(text.to_owned()))
    }

    /// The credential itself: for the client that uses it, never for a log.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("\"***\"")
    }
}

/// Where pictures are stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaStoreUrl {
    /// `file://PATH`: a directory of this machine.
    File(PathBuf),
    /// `s3://BUCKET/PREFIX`: an S3-compatible bucket.
    S3 { bucket: String, prefix: String },
}

impl MediaStoreUrl {
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if let Some(path) = text.strip_prefix("file://") {
            return match path {
                "" => Err("file:// needs a path".into()),
                path => Ok(Self::File(path.into())),
            };
        }
        let Some(rest) = text.strip_prefix("s3://") else {
            return Err("expected file://PATH or s3://BUCKET/PREFIX".into());
        };
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let valid_bucket = (3..=63).contains(&bucket.len())
            && bucket
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
        if !valid_bucket {
            return Err("expected s3://BUCKET/PREFIX with a bucket name of 3 to 63 lowercase letters, digits, dots and dashes".into());
        }
        Ok(Self::S3 {
            bucket: bucket.to_owned(),
            prefix: prefix.trim_matches('/').to_owned(),
        })
    }
}

fn on_off(text: &str) -> Result<bool, String> {
    match text.trim().to_ascii_lowercase().as_str() {
        "on" | "true" | "yes" | "1" => Ok(true),
        "off" | "false" | "no" | "0" => Ok(false),
        _ => Err("expected on or off".into()),
    }
}

/// A bare number of seconds, or humantime's `500ms`, `90s`, `5m`, `1h`, `30d`, `1h 30m`...
fn duration(text: &str) -> Result<Duration, String> {
    match text.trim().parse() {
        Ok(seconds) => Ok(Duration::from_secs(seconds)),
        Err(_) => humantime::parse_duration(text.trim()).map_err(|err| err.to_string()),
    }
}

/// A duration as [`duration`] reads it: whole days and hours as such (`30d`, not `2592000s`),
/// else seconds (`300s`, not humantime's `5m`) or milliseconds.
pub fn show_duration(duration: Duration) -> String {
    let millis = duration.as_millis();
    let (per, unit) = [(86_400_000, "d"), (3_600_000, "h"), (1000, "s")]
        .into_iter()
        .find(|&(per, unit)| millis.is_multiple_of(per) && (millis > 0 || unit == "s"))
        .unwrap_or((1, "ms"));
    format!("{}{unit}", millis / per)
}

/// Why the command line or a setting cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// Usage errors, `--help` and `--version`: [`clap::Error::exit`] prints them.
    #[error(transparent)]
    Usage(#[from] clap::Error),
    /// A setting that cannot be used: one line naming it and where its value came from.
    #[error("{0}")]
    Invalid(String),
}

const CONFIG_ENV: &str = "CONFIG_FILE";

/// Settings that may hold a password: an error about one never repeats its value.
const SECRET_SETTINGS: &[&str] = &[
    "redis_url",
    "s3_endpoint",
    "s3_access_key_id",
    "s3_secret_access_key",
];

/// The command line as first read: every value a text, the settings allowed after the
/// subcommand, and `--help` saying where else each may come from. The environment is left to
/// [`Cli::load_from`], which reads it through its own lookup.
fn command() -> clap::Command {
    Cli::command().mut_args(|arg| {
        let (Some(env), key) = (arg.get_env(), arg.get_id().as_str()) else {
            return arg;
        };
        let toml = if key == "config" {
            String::new()
        } else {
            format!(" [toml: {key}]")
        };
        let help = format!(
            "{} [env: {}]{toml}",
            arg.get_help().map(ToString::to_string).unwrap_or_default(),
            env.display()
        );
        let arg = arg.env(None).global(true).help(help);
        arg.value_parser(clap::builder::ValueParser::string())
    })
}

/// The declared settings (flag, environment variable, default), in the order of `--help`.
fn setting_args() -> Vec<clap::Arg> {
    Settings::augment_args(clap::Command::new("settings"))
        .get_arguments()
        .cloned()
        .collect()
}

/// Every environment variable the server reads: the settings' and `CONFIG_FILE`.
pub fn environment_variables() -> Vec<String> {
    let settings = setting_args().into_iter();
    let vars = settings.filter_map(|arg| Some(arg.get_env()?.to_string_lossy().into_owned()));
    vars.chain([CONFIG_ENV.to_owned()]).collect()
}

/// The setting (its key) whose value a parser refused, and why.
fn refused(err: &clap::Error) -> Option<(String, String)> {
    // The argument as `--pool-size <POOL_SIZE>`.
    let Some(ContextValue::String(arg)) = err.get(ContextKind::InvalidArg) else {
        return None;
    };
    let key = arg.strip_prefix("--")?.split(' ').next()?.replace('-', "_");
    Some((key, std::error::Error::source(err)?.to_string()))
}

fn invalid(message: String) -> ConfigError {
    ConfigError::Invalid(message)
}

impl Cli {
    /// The command line `args` (the program's name first), and the settings from them, from
    /// `env` (a lookup of environment variables), from the file these name, and the defaults.
    ///
    /// # Errors
    /// Usage errors; a bad value from any source, an unknown key or bad TOML in the file, a
    /// missing file; a setting that breaks a rule between settings.
    pub fn load_from<I, T>(
        args: I,
        env: impl Fn(&str) -> Option<OsString>,
    ) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = T>,
        T: Into<OsString> + Clone,
    {
        let matches = command().try_get_matches_from(args)?;
        let command = match matches.subcommand_name() {
            Some(_) => Some(Command::from_arg_matches(&matches)?),
            None => None,
        };
        let var = |name: &str| match env(name).map(OsString::into_string) {
            Some(Err(_)) => Err(invalid(format!(
                "invalid value for {name}: not valid UTF-8"
            ))),
            found => Ok(found.and_then(Result::ok)),
        };
        let config = match matches.get_one::<String>("config") {
            Some(path) => Some(path.clone()),
            None => var(CONFIG_ENV)?.filter(|path| !path.is_empty()),
        };
        let mut file = config
            .as_deref()
            .map_or_else(|| Ok(toml::Table::new()), read_file)?;
        let file_name = config.unwrap_or_default();

        // Per setting: its text and how an error about it begins, from the first source with it.
        let (args, mut found) = (setting_args(), HashMap::new());
        if let Some(key) = file
            .keys()
            .find(|key| !args.iter().any(|a| a.get_id() == *key))
        {
            let help = "see being-social --help for the keys";
            return Err(invalid(format!(
                "unknown key \"{key}\" in {file_name} ({help})"
            )));
        }
        for arg in &args {
            let key = arg.get_id().as_str();
            let var_name = arg
                .get_env()
                .map_or_else(String::new, |e| e.to_string_lossy().into());
            // A refused secret is named, never repeated.
            let shown = |text: &str| {
                if SECRET_SETTINGS.contains(&key) {
                    "***".to_owned()
                } else {
                    text.to_owned()
                }
            };
            let (text, prefix) = if matches.value_source(key) == Some(ValueSource::CommandLine) {
                let text = matches.get_one::<String>(key).cloned().unwrap_or_default();
                let flag = key.replace('_', "-");
                let prefix = format!("invalid value \"{}\" for --{flag}", shown(&text));
                (text, prefix)
            } else if let Some(text) = var(&var_name)? {
                let prefix = format!("invalid value \"{}\" for {var_name}", shown(&text));
                (text, prefix)
            } else if let Some(value) = file.remove(key) {
                let text = value
                    .as_str()
                    .map_or_else(|| value.to_string(), str::to_owned);
                let prefix = format!("invalid {key} \"{}\" in {file_name}", shown(&text));
                if value.is_array() || value.is_table() || value.is_datetime() {
                    return Err(invalid(format!(
                        "{prefix}: expected a string, number or boolean"
                    )));
                }
                (text, prefix)
            } else {
                continue;
            };
            found.insert(key.to_owned(), (text, prefix));
        }
        let blame = |key: &str, reason: &dyn Display| {
            let default = || {
                let arg = args.iter().find(|arg| arg.get_id() == key);
                let text = arg.and_then(|arg| arg.get_default_values().first());
                let text = text.map_or_else(String::new, |t| t.to_string_lossy().into_owned());
                format!("invalid {key} \"{text}\" (the default)")
            };
            let prefix = found
                .get(key)
                .map_or_else(default, |(_, prefix)| prefix.clone());
            invalid(format!("{prefix}: {reason}"))
        };
        let text = |key: &str| found.get(key).map(|(text, _)| text.clone());
        let settings = Settings::from_texts(text).map_err(|err| match refused(&err) {
            Some((key, reason)) => blame(&key, &reason),
            None => err.into(),
        })?;
        validate(&settings, |key| found.contains_key(key))
            .map_err(|(key, why)| blame(key, &why))?;
        let config = (!file_name.is_empty()).then_some(file_name);
        Ok(Self {
            command,
            config,
            settings,
        })
    }
}

fn read_file(path: &str) -> Result<toml::Table, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|err| invalid(format!("cannot read the config file {path}: {err}")))?;
    text.parse().map_err(|err: toml::de::Error| {
        let line = err
            .span()
            .map(|span| text[..span.start.min(text.len())].lines().count());
        let at = line.map_or_else(String::new, |line| format!(" at line {}", line.max(1)));
        invalid(format!(
            "invalid TOML in {path}{at}: {}",
            err.message().trim()
        ))
    })
}

/// Rules between settings: the setting to blame (one that was `set`, else the default) and why.
fn validate(s: &Settings, set: impl Fn(&str) -> bool) -> Result<(), (&'static str, String)> {
    if s.default_page_size > s.max_page_size {
        let reason = format!("must not exceed max_page_size ({})", s.max_page_size);
        return Err(("default_page_size", reason));
    }
    if s.token_absolute_lifetime < s.token_idle_lifetime {
        // Either may be the one set wrong; blame the one that was set, the absolute one if both.
        let idle = set("token_idle_lifetime") && !set("token_absolute_lifetime");
        let key = if idle {
            "token_idle_lifetime"
        } else {
            "token_absolute_lifetime"
        };
        let (absolute, idle) = (s.token_absolute_lifetime, s.token_idle_lifetime);
        let (absolute, idle) = (show_duration(absolute), show_duration(idle));
        let reason = format!(
            "token_absolute_lifetime ({absolute}) must be at least token_idle_lifetime ({idle})"
        );
        return Err((key, reason));
    }
    if s.s3_access_key_id.is_some() != s.s3_secret_access_key.is_some() {
        let key = if s.s3_access_key_id.is_some() {
            "s3_secret_access_key"
        } else {
            "s3_access_key_id"
        };
        return Err((
            key,
            "set both s3_access_key_id and s3_secret_access_key, or neither".into(),
        ));
    }
    if let Err(err) = s.credentials() {
        let keys = [
            "argon2_memory_kib",
            "argon2_iterations",
            "argon2_parallelism",
        ];
        let key = keys.into_iter().find(|key| set(key)).unwrap_or(keys[0]);
        let (m, t, p) = (
            s.argon2_memory_kib,
            s.argon2_iterations,
            s.argon2_parallelism,
        );
        return Err((
            key,
            format!("{err} (memory {m} KiB, {t} iterations, parallelism {p})"),
        ));
    }
    Ok(())
}
#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::io::Write;

    use being_social_http::HttpLimits;

    use super::*;

    /// The settings from `args` (flags), `env` and a config file with `toml` (when given).
    fn resolve(
        args: &[&str],
        env: &[(&str, &str)],
        toml: Option<&str>,
    ) -> Result<Settings, String> {
        let file = toml.map(|text| {
            let mut file = tempfile().expect("a temporary file");
            file.1.write_all(text.as_bytes()).unwrap();
            file
        });
        let mut argv = vec!["being-social".to_owned()];
        argv.extend(args.iter().map(|a| (*a).to_owned()));
        if let Some((path, _)) = &file {
            argv.push("--config".into());
            argv.push(path.display().to_string());
        }
        let env: HashMap<String, String> = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let result = Cli::load_from(argv, |name| env.get(name).map(OsString::from))
            .map(|cli| cli.settings)
            .map_err(|e| e.to_string());
        if let Some((path, _)) = file {
            let _ = std::fs::remove_file(path);
        }
        result
    }

    fn tempfile() -> std::io::Result<(PathBuf, std::fs::File)> {
        use std::sync::atomic::{AtomicU32, Ordering};
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let path = std::env::temp_dir().join(format!(
            "being-social-config-{}-{}.toml",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        Ok((path.clone(), std::fs::File::create(path)?))
    }

    /// For one setting: flag beats env beats file beats default.
    fn check_precedence(key: &str, values: [&str; 3], read: impl Fn(&Settings) -> String) {
        let arg = setting_args()
            .into_iter()
            .find(|arg| arg.get_id() == key)
            .unwrap();
        let (name, var) = (
            arg.get_long().unwrap(),
            arg.get_env().unwrap().to_str().unwrap(),
        );
        let [flag, env, file] = values;
        let flag_arg = format!("--{name}={flag}");
        let env_var = [(var, env)];
        let toml = format!("{key} = {}", toml_literal(file));
        let default = read(&Settings::default());
        let expect = |s: Result<Settings, String>| read(&s.unwrap());
        let want = |text: &str| read(&resolve(&[&format!("--{name}={text}")], &[], None).unwrap());
        assert_eq!(
            expect(resolve(&[&flag_arg], &env_var, Some(&toml))),
            want(flag),
            "{key}: flag"
        );
        assert_eq!(
            expect(resolve(&[], &env_var, Some(&toml))),
            want(env),
            "{key}: env"
        );
        assert_eq!(
            expect(resolve(&[], &[], Some(&toml))),
            want(file),
            "{key}: file"
        );
        assert_eq!(expect(resolve(&[], &[], None)), default, "{key}: default");
        assert_ne!(want(file), default, "{key}: the test must change something");
    }

    /// Numbers and booleans are written bare in TOML, the rest as strings.
    fn toml_literal(text: &str) -> String {
        if text.parse::<i64>().is_ok() || text == "true" || text == "false" {
            text.to_owned()
        } else {
            format!("\"{text}\"")
        }
    }

    #[test]
    fn worker_count_is_the_setting_or_one_per_core() {
        let three = Settings {
            workers: Some(3),
            ..Settings::default()
        };
        assert_eq!(three.worker_count(), 3);
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        assert_eq!(Settings::default().worker_count(), cores);
    }

    #[test]
    fn defaults_agree_with_the_http_layer() {
        let defaults = Settings::default();
        assert_eq!(
            defaults.request_body_timeout,
            HttpLimits::DEFAULT_BODY_TIMEOUT
        );
        assert_eq!(
            defaults.max_upload_bytes,
            HttpLimits::DEFAULT_MAX_UPLOAD_BYTES
        );
        assert_eq!(defaults.image_limits(), ImageLimits::default());
        assert_eq!(defaults.image_budget().bytes(), ImageBudget::DEFAULT_BYTES);
        assert_eq!(defaults.image_wait_timeout, ImageBudget::DEFAULT_WAIT);
    }

    #[test]
    fn precedence_for_every_kind_of_setting() {
        check_precedence("pool_size", ["3", "4", "5"], |s| s.pool_size.to_string());
        check_precedence(
            "database_url",
            ["postgres://a@h/db", "sqlite://b.db", "sqlite://c.db"],
            |s| s.database_url.clone(),
        );
        check_precedence("bind", ["0.0.0.0:1", "0.0.0.0:2", "0.0.0.0:3"], |s| {
            s.bind.to_string()
        });
        check_precedence("media_dir", ["/a", "/b", "/c"], |s| {
            s.media_dir.display().to_string()
        });
        check_precedence("workers", ["1", "2", "3"], |s| format!("{:?}", s.workers));
        check_precedence("rate_limits", ["on", "off", "false"], |s| {
            s.rate_limits.to_string()
        });
        check_precedence("auth_rate_window", ["1s", "2m", "3"], |s| {
            format!("{:?}", s.auth_rate_window)
        });
        check_precedence("log_format", ["human", "json", "json"], |s| {
            format!("{:?}", s.log_format)
        });
        check_precedence("default_page_size", ["7", "8", "9"], |s| {
            s.default_page_size.to_string()
        });
    }

    #[test]
    fn flags_after_a_subcommand_count_too() {
        let cli =
            Cli::load_from(["being-social", "migrate", "--pool-size", "3"], |_| None).unwrap();
        assert_eq!(cli.settings.pool_size, 3);
    }

    #[test]
    fn rate_limits_off_from_the_environment() {
        let settings = resolve(&[], &[("RATE_LIMITS", "off")], None).unwrap();
        assert_eq!(settings.rate_limits(), RateLimits::off());
        let settings = resolve(&["--rate-limits", "off"], &[], None).unwrap();
        assert_eq!(settings.rate_limits(), RateLimits::off());
        assert!(Settings::default().rate_limits().auth.is_some());
        assert_eq!(
            Settings::for_database("sqlite://x", "m".into()).rate_limits(),
            RateLimits::off()
        );
    }

    #[test]
    fn bad_values_name_the_setting_and_the_source() {
        let err = resolve(&["--pool-size", "abc"], &[], None).unwrap_err();
        assert_eq!(
            err,
            "invalid value \"abc\" for --pool-size: invalid digit found in string"
        );
        let err = resolve(&[], &[("DATABASE_POOL_SIZE", "abc")], None).unwrap_err();
        assert_eq!(
            err,
            "invalid value \"abc\" for DATABASE_POOL_SIZE: invalid digit found in string"
        );
        let err = resolve(&[], &[], Some("pool_size = \"abc\"")).unwrap_err();
        assert!(
            err.starts_with("invalid pool_size \"abc\" in ")
                && err.ends_with(".toml: invalid digit found in string"),
            "{err}"
        );
        let err = resolve(&[], &[("RATE_LIMITS", "maybe")], None).unwrap_err();
        assert_eq!(
            err,
            "invalid value \"maybe\" for RATE_LIMITS: expected on or off"
        );
        let err = resolve(&[], &[], Some("auth_rate_window = \"5 fortnights\"")).unwrap_err();
        assert!(
            err.contains("auth_rate_window") && err.contains("unit"),
            "{err}"
        );
        let err = resolve(&[], &[], Some("media_dir = [\n\"a\",\n\"b\"]")).unwrap_err();
        assert!(err.starts_with("invalid media_dir"), "{err}");
        assert!(
            err.ends_with("expected a string, number or boolean"),
            "{err}"
        );
        assert!(!err.contains('\n'), "one line: {err}");
    }

    #[test]
    fn rules_between_settings() {
        let err = resolve(&["--default-page-size", "200"], &[], None).unwrap_err();
        assert_eq!(
            err,
            "invalid value \"200\" for --default-page-size: must not exceed max_page_size (100)"
        );
        let ok = resolve(
            &["--default-page-size", "200", "--max-page-size", "500"],
            &[],
            None,
        );
        assert_eq!(
            ok.unwrap().page_limits(),
            PageLimits {
                default: 200,
                max: 500
            }
        );
        let err = resolve(&[], &[("DATABASE_POOL_SIZE", "0")], None).unwrap_err();
        assert_eq!(
            err,
            "invalid value \"0\" for DATABASE_POOL_SIZE: must be at least 1"
        );
        let err = resolve(&[], &[], Some("argon2_memory_kib = 1")).unwrap_err();
        assert!(
            err.starts_with("invalid argon2_memory_kib \"1\" in "),
            "{err}"
        );
        assert!(!err.contains('\n'), "{err}");
    }

    #[test]
    fn token_lifetimes_take_days_and_must_be_in_order() {
        let defaults = Settings::default().token_lifetimes();
        assert_eq!(defaults, TokenLifetimes::default());
        assert_eq!(defaults.idle, Duration::from_secs(30 * 86_400));
        assert_eq!(defaults.absolute, Duration::from_secs(365 * 86_400));
        assert_eq!(show_duration(defaults.idle), "30d");
        assert_eq!(show_duration(Duration::from_secs(3600)), "1h");
        assert_eq!(show_duration(Duration::from_secs(300)), "300s");

        let settings = resolve(
            &["--token-idle-lifetime", "7d"],
            &[("TOKEN_ABSOLUTE_LIFETIME", "90d")],
            Some("token_sweep_interval = \"10m\""),
        )
        .unwrap();
        assert_eq!(
            settings.token_idle_lifetime,
            Duration::from_secs(7 * 86_400)
        );
        assert_eq!(
            settings.token_absolute_lifetime,
            Duration::from_secs(90 * 86_400)
        );
        assert_eq!(settings.token_sweep_interval, Duration::from_secs(600));

        let err = resolve(&[], &[("TOKEN_ABSOLUTE_LIFETIME", "7d")], None).unwrap_err();
        assert_eq!(
            err,
            "invalid value \"7d\" for TOKEN_ABSOLUTE_LIFETIME: token_absolute_lifetime (7d) \
             must be at least token_idle_lifetime (30d)"
        );
        let err = resolve(&["--token-idle-lifetime", "400d"], &[], None).unwrap_err();
        assert!(
            err.starts_with("invalid value \"400d\" for --token-idle-lifetime: "),
            "{err}"
        );
        let err = resolve(&[], &[("TOKEN_SWEEP_INTERVAL", "0s")], None).unwrap_err();
        assert_eq!(
            err,
            "invalid value \"0s\" for TOKEN_SWEEP_INTERVAL: must be at least 1"
        );
    }

    #[test]
    fn unknown_keys_and_missing_files_are_errors() {
        let err = resolve(&[], &[], Some("pool_size = 3\npool_sise = 4")).unwrap_err();
        assert!(err.starts_with("unknown key \"pool_sise\" in "), "{err}");
        let err = resolve(&[], &[], Some("[server]\nbind = \"0.0.0.0:1\"")).unwrap_err();
        assert!(err.starts_with("unknown key \"server\""), "{err}");
        let err = resolve(&[], &[], Some("pool_size = ")).unwrap_err();
        assert!(
            err.starts_with("invalid TOML in ") && err.contains("line 1"),
            "{err}"
        );
        assert!(!err.contains('\n'), "{err}");
        let err = resolve(&["--config", "/nonexistent/being-social.toml"], &[], None).unwrap_err();
        assert!(
            err.starts_with("cannot read the config file /nonexistent/being-social.toml: "),
            "{err}"
        );
        let err = Cli::load_from(["being-social"], |name| {
            (name == "CONFIG_FILE").then(|| "/nonexistent/x.toml".into())
        })
        .unwrap_err();
        assert!(err.to_string().contains("/nonexistent/x.toml"), "{err}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn argon2_costs_reach_the_hasher() {
        use being_social_domain::ports::Credentials as _;
        let settings = resolve(
            &["--argon2-memory-kib", "8192", "--argon2-iterations", "1"],
            &[("ARGON2_PARALLELISM", "2")],
            None,
        )
        .unwrap();
        let hash = settings
            .credentials()
            .unwrap()
            .hash_password("correct horse".into())
            .await
            .unwrap();
        assert!(hash.contains("$m=8192,t=1,p=2$"), "{hash}");
        let default = Settings::default().credentials().unwrap();
        let hash = default.hash_password("x".into()).await.unwrap();
        assert!(hash.contains("$m=19456,t=2,p=1$"), "{hash}");
    }

    #[test]
    fn every_setting_is_in_the_help_and_the_docs() {
        let help = command().render_long_help().to_string();
        let docs = include_str!("../../../docs/configuration.md");
        for arg in setting_args() {
            let (key, flag) = (arg.get_id().as_str(), arg.get_long().unwrap());
            assert_eq!(flag, key.replace('_', "-"), "flag of {key}");
            let env = arg.get_env().unwrap().to_string_lossy().into_owned();
            for name in [format!("--{flag}"), env, key.to_owned()] {
                assert!(help.contains(&name), "{name} missing from --help");
                assert!(
                    docs.contains(&name),
                    "{name} missing from docs/configuration.md"
                );
            }
        }
        assert!(help.contains("--config") && help.contains("CONFIG_FILE"));
    }

    #[test]
    fn a_redis_password_is_never_shown() {
        let settings = resolve(
            &[],
            &[
                ("REDIS_URL", "redis://user:hunter2@cache.internal:6379/2"),
                ("RATE_LIMIT_FAILURE", "closed"),
            ],
            None,
        )
        .unwrap();
        let url = settings.redis_url.clone().unwrap();
        assert_eq!(url.expose(), "redis://user:hunter2@cache.internal:6379/2");
        assert_eq!(url.redacted(), "redis://***@cache.internal:6379/2");
        assert!(!format!("{settings:?}").contains("hunter2"));
        assert_eq!(settings.rate_limit_failure, StoreFailure::Closed);
        let plain = SecretUrl::parse("redis://127.0.0.1:6379").unwrap();
        assert_eq!(plain.redacted(), "redis://127.0.0.1:6379");
        // A refused value is named, not repeated.
        let err = resolve(&[], &[("REDIS_URL", "hunter2 with blanks")], None).unwrap_err();
        assert!(
            err.contains("REDIS_URL") && !err.contains("hunter2"),
            "{err}"
        );
        let defaults = Settings::default();
        assert_eq!(defaults.redis_url, None);
        assert_eq!(defaults.rate_limit_failure, StoreFailure::Open);
        assert_eq!(defaults.redis_timeout, Duration::from_millis(250));
    }

    #[test]
    fn the_example_file_in_the_docs_is_valid() {
        let docs = include_str!("../../../docs/configuration.md");
        let example = docs
            .split("```toml")
            .nth(1)
            .and_then(|rest| rest.split("```").next())
            .expect("a TOML example in docs/configuration.md");
        let settings = resolve(&[], &[], Some(example)).unwrap();
        assert_ne!(settings, Settings::default());
    }
}
