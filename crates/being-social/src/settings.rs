//! Every setting of the server, one field of [`Settings`] each: its doc comment is the `--help`
//! text, its clap attributes the flag, the environment variable, the default and the parser; the
//! TOML key is the field name. Adding a setting is adding a field (and a row to
//! docs/configuration.md, which a test checks). Here are the settings, the rules between them and
//! the views the adapters take (`feed_rules`, `rate_limits`, ...); where each value comes from is
//! [`crate::configuration`]'s business. Built once in `main` and passed down: nothing reads the
//! environment after start-up.

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
use being_social_infra::object_media::{MediaStoreUrl, S3Config};
use clap::{ArgAction, Args, FromArgMatches};

use crate::telemetry::LogFormat;

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
    /// Most of a pulled author's newest posts whose keys each server process remembers, so
    /// that a page merges them without reading `posts` (24 bytes each; at most 1000); an older
    /// page reads its pulled authors' posts.
    #[arg(long, env, default_value_t = FeedRules::default().pulled_posts_kept)]
    #[arg(value_parser = positive(parsed::<i64>))]
    pub feed_pulled_posts_kept: i64,
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
            pulled_posts_kept: self.feed_pulled_posts_kept,
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
    /// When argon2 rejects the combination (checked when the settings are loaded).
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
    pub(crate) fn from_texts(text: impl Fn(&str) -> Option<String>) -> Result<Self, clap::Error> {
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

    /// The rule between settings that these break, if any: the setting to blame (one that was
    /// `set`, else the default) and why.
    pub(crate) fn check_rules(
        &self,
        set: impl Fn(&str) -> bool,
    ) -> Result<(), (&'static str, String)> {
        if self.feed_pulled_posts_kept > FeedRules::MAX_PULLED_POSTS_KEPT {
            let reason = format!("must not exceed {}", FeedRules::MAX_PULLED_POSTS_KEPT);
            return Err(("feed_pulled_posts_kept", reason));
        }
        if self.default_page_size > self.max_page_size {
            let reason = format!("must not exceed max_page_size ({})", self.max_page_size);
            return Err(("default_page_size", reason));
        }
        if self.token_absolute_lifetime < self.token_idle_lifetime {
            // Either may be the one set wrong; blame the one that was set, the absolute one if both.
            let idle = set("token_idle_lifetime") && !set("token_absolute_lifetime");
            let key = if idle {
                "token_idle_lifetime"
            } else {
                "token_absolute_lifetime"
            };
            let (absolute, idle) = (self.token_absolute_lifetime, self.token_idle_lifetime);
            let (absolute, idle) = (show_duration(absolute), show_duration(idle));
            let reason = format!(
                "token_absolute_lifetime ({absolute}) must be at least token_idle_lifetime ({idle})"
            );
            return Err((key, reason));
        }
        if self.s3_access_key_id.is_some() != self.s3_secret_access_key.is_some() {
            let key = if self.s3_access_key_id.is_some() {
                "s3_secret_access_key"
            } else {
                "s3_access_key_id"
            };
            return Err((
                key,
                "set both s3_access_key_id and s3_secret_access_key, or neither".into(),
            ));
        }
        if let Err(err) = self.credentials() {
            let keys = [
                "argon2_memory_kib",
                "argon2_iterations",
                "argon2_parallelism",
            ];
            let key = keys.into_iter().find(|key| set(key)).unwrap_or(keys[0]);
            let (m, t, p) = (
                self.argon2_memory_kib,
                self.argon2_iterations,
                self.argon2_parallelism,
            );
            return Err((
                key,
                format!("{err} (memory {m} KiB, {t} iterations, parallelism {p})"),
            ));
        }
        Ok(())
    }
}

// How a setting's text becomes its value: the parsers of the declarations above.

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

fn on_off(text: &str) -> Result<bool, String> {
    match text.trim().to_ascii_lowercase().as_str() {
        "on" | "true" | "yes" | "1" => Ok(true),
        "off" | "false" | "no" | "0" => Ok(false),
        _ => Err("expected on or off".into()),
    }
}

/// A bare number of seconds, or humantime's `500ms`, `90s`, `5m`, `1h`, `30d`, `1h 30m`...
pub(crate) fn duration(text: &str) -> Result<Duration, String> {
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

#[cfg(test)]
mod tests {
    use being_social_http::HttpLimits;

    use super::*;

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
}
