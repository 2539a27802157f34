//! Settings, from command-line flags, environment variables and an optional TOML file, in that
//! order of precedence (a flag beats the environment, which beats the file, which beats the
//! default). Built once in `main` and passed down; nothing reads the environment after start-up.
//!
//! Every setting is one line of the [`settings!`] table below, which makes the [`Settings`] field,
//! its flag, its environment variable, its TOML key (the field name), its `--help` text and its
//! parser. Adding a setting is adding a line there (and to docs/configuration.md).

use std::collections::HashMap;
use std::ffi::OsString;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use being_social_domain::pagination::PageLimits;
use being_social_domain::services::TokenLifetimes;
use being_social_http::HttpLimits;
use being_social_http::public_url::BaseUrl;
use being_social_http::ratelimit::{Quota, RateLimits};
use being_social_images::{ImageBudget, ImageLimits};
use being_social_infra::credentials::Argon2Credentials;
use clap::{ArgAction, ArgMatches, Args, Parser, Subcommand};

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

    #[command(flatten)]
    pub settings: SettingsArgs,
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
    /// Write every user's token secret to this file, one a line (line k: user k).
    #[arg(long)]
    pub tokens_out: Option<PathBuf>,
    /// Required: the seed makes users whose login tokens anyone can compute (`bench-<id>`), so it
    /// runs only on a database made for benchmarks, said in so many words.
    #[arg(long = "yes-this-is-a-benchmark-database")]
    pub confirmed: bool,
}

/// Declares [`Settings`] and [`SETTINGS`] from one table: doc comment (the `--help` text), field,
/// type, default, flag and environment variable. The TOML key is the field name.
macro_rules! settings {
    ($(
        $(#[doc = $doc:literal])+
        $field:ident: $ty:ty = $default:expr, $flag:literal, $env:literal;
    )+) => {
        /// Every setting of the server.
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct Settings {
            $($(#[doc = $doc])+ pub $field: $ty,)+
        }

        impl Default for Settings {
            fn default() -> Self {
                Self { $($field: $default,)+ }
            }
        }

        /// Every setting, in the order of `--help`.
        pub static SETTINGS: &[Spec] = &[$(Spec {
            key: stringify!($field),
            flag: $flag,
            env: $env,
            help: concat!($($doc),+),
            hint: <$ty as Value>::HINT,
            show: |s| Value::show(&s.$field),
            apply: |s, text| {
                s.$field = Value::parse(text)?;
                Ok(())
            },
        },)+];
    };
}

settings! {
    /// Address and port to listen on.
    bind: SocketAddr = SocketAddr::from(([127, 0, 0, 1], 8080)), "bind", "BIND";
    /// Database to use: `sqlite://PATH` (embedded) or `postgres://USER@HOST:PORT/DB`.
    database_url: String = "sqlite://data/being-social.db".into(), "database-url", "DATABASE_URL";
    /// Most database connections the server keeps open.
    pool_size: usize = 16, "pool-size", "DATABASE_POOL_SIZE";
    /// Directory where uploaded pictures are stored.
    media_dir: PathBuf = "data/media".into(), "media-dir", "MEDIA_DIR";
    /// Largest accepted upload, in bytes (413 beyond).
    max_upload_bytes: usize = 10 * 1024 * 1024, "max-upload-bytes", "MAX_UPLOAD_BYTES";
    /// Largest accepted picture, in pixels (width × height; 400 beyond).
    max_image_pixels: u64 = 40_000_000, "max-image-pixels", "MAX_IMAGE_PIXELS";
    /// Longest accepted edge of a picture, in pixels (400 `image_bad_shape` beyond).
    max_image_edge: u32 = ImageLimits::DEFAULT_MAX_EDGE, "max-image-edge", "MAX_IMAGE_EDGE";
    /// Most times a picture's long edge may be its short edge (400 `image_bad_shape` beyond).
    max_image_aspect_ratio: u32 = ImageLimits::DEFAULT_MAX_ASPECT_RATIO, "max-image-aspect-ratio", "MAX_IMAGE_ASPECT_RATIO";
    /// Memory, in MiB, that all picture processing of the process may hold at once; each upload
    /// reserves its estimated need and waits while others hold the rest.
    image_memory_mib: u64 = ImageBudget::DEFAULT_BYTES >> 20, "image-memory-mib", "IMAGE_MEMORY_MIB";
    /// How long an upload waits for its share of `image_memory_mib` before it is answered 503.
    image_wait_timeout: Duration = ImageBudget::DEFAULT_WAIT, "image-wait-timeout", "IMAGE_WAIT_TIMEOUT";
    /// Page size of list endpoints when the request has no `?limit=`.
    default_page_size: u32 = 30, "default-page-size", "DEFAULT_PAGE_SIZE";
    /// Largest `?limit=` a list endpoint accepts (400 beyond).
    max_page_size: u32 = 100, "max-page-size", "MAX_PAGE_SIZE";
    /// Memory of one argon2id password hash, in KiB.
    argon2_memory_kib: u32 = Argon2Credentials::DEFAULT_MEMORY_KIB, "argon2-memory-kib", "ARGON2_MEMORY_KIB";
    /// Passes of one argon2id password hash.
    argon2_iterations: u32 = Argon2Credentials::DEFAULT_ITERATIONS, "argon2-iterations", "ARGON2_ITERATIONS";
    /// Lanes of one argon2id password hash.
    argon2_parallelism: u32 = Argon2Credentials::DEFAULT_PARALLELISM, "argon2-parallelism", "ARGON2_PARALLELISM";
    /// Login tokens unused for this long expire (`30d`, `12h`; a bare number is seconds).
    token_idle_lifetime: Duration = TokenLifetimes::DEFAULT_IDLE, "token-idle-lifetime", "TOKEN_IDLE_LIFETIME";
    /// Login tokens older than this expire, however recently used; at least
    /// `token_idle_lifetime`.
    token_absolute_lifetime: Duration = TokenLifetimes::DEFAULT_ABSOLUTE, "token-absolute-lifetime", "TOKEN_ABSOLUTE_LIFETIME";
    /// How often the server deletes expired tokens (in batches of 1,000).
    token_sweep_interval: Duration = Duration::from_secs(3600), "token-sweep-interval", "TOKEN_SWEEP_INTERVAL";
    /// Rate limits (`off` disables every limit below). Each process keeps its own counts.
    rate_limits: bool = true, "rate-limits", "RATE_LIMITS";
    /// Logins and sign-ups allowed per client address per `auth_rate_window`.
    auth_rate_limit: u32 = 30, "auth-rate-limit", "AUTH_RATE_LIMIT";
    /// Window of `auth_rate_limit` (`90s`, `5m`, `1h`; a bare number is seconds).
    auth_rate_window: Duration = Duration::from_secs(300), "auth-rate-window", "AUTH_RATE_WINDOW";
    /// Writes (POST, PUT, PATCH, DELETE) allowed per token per `write_rate_window`.
    write_rate_limit: u32 = 300, "write-rate-limit", "WRITE_RATE_LIMIT";
    /// Window of `write_rate_limit` (`90s`, `5m`, `1h`; a bare number is seconds).
    write_rate_window: Duration = Duration::from_secs(300), "write-rate-window", "WRITE_RATE_WINDOW";
    /// Behind a proxy that sets them: take the client address from `X-Forwarded-For`, and the
    /// scheme and host of absolute URLs from `Forwarded`/`X-Forwarded-*` unless `public_url` is set.
    behind_proxy: bool = false, "behind-proxy", "BEHIND_PROXY";
    /// Scheme, host and optional path prefix of every absolute URL in answers, e.g.
    /// `https://social.example` (default: `http://` and the address the server listens on).
    public_url: Option<BaseUrl> = None, "public-url", "PUBLIC_URL";
    /// How long an idle keep-alive connection stays open. Longer than clients keep idle
    /// connections in their pools (60 s is common), so the server never closes one just as a
    /// client reuses it.
    keep_alive: Duration = Duration::from_secs(75), "keep-alive", "KEEP_ALIVE";
    /// Time a client has to send a request's head (method, path, headers) once it starts.
    request_head_timeout: Duration = Duration::from_secs(10), "request-head-timeout", "REQUEST_HEAD_TIMEOUT";
    /// Time a client has to send a request's whole body (408 past it).
    request_body_timeout: Duration = HttpLimits::DEFAULT_BODY_TIMEOUT, "request-body-timeout", "REQUEST_BODY_TIMEOUT";
    /// Most connections the process serves at once; more wait to be accepted.
    max_connections: usize = 10_000, "max-connections", "MAX_CONNECTIONS";
    /// HTTP worker threads (default: one per CPU core).
    workers: Option<usize> = None, "workers", "WORKERS";
    /// Seconds that in-flight requests get to finish after SIGTERM or SIGINT; requests still
    /// running then are cut off.
    shutdown_timeout: u64 = 30, "shutdown-timeout", "SHUTDOWN_TIMEOUT";
    /// Log format: `human` (one readable line per event) or `json` (one object per event).
    log_format: LogFormat = LogFormat::Human, "log-format", "LOG_FORMAT";
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// One readable line per event.
    Human,
    /// One JSON object per event.
    Json,
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

    /// The password hasher these costs describe.
    ///
    /// # Errors
    /// When argon2 rejects the combination (checked at start-up by [`SettingsArgs::resolve`]).
    pub fn credentials(
        &self,
    ) -> Result<Argon2Credentials, being_social_infra::credentials::InvalidArgon2Params> {
        Argon2Credentials::new(
            self.argon2_memory_kib,
            self.argon2_iterations,
            self.argon2_parallelism,
        )
    }
}

/// One setting: its names in each source and how to read it.
pub struct Spec {
    /// The TOML key and field name.
    pub key: &'static str,
    /// The flag, without its dashes.
    pub flag: &'static str,
    pub env: &'static str,
    pub help: &'static str,
    /// What the value looks like, for `--help`.
    pub hint: &'static str,
    show: fn(&Settings) -> Option<String>,
    apply: fn(&mut Settings, &str) -> Result<(), String>,
}

impl Spec {
    /// This setting's value in `settings`, as it would be written (`None` when unset).
    pub fn show(&self, settings: &Settings) -> Option<String> {
        (self.show)(settings)
    }

    fn arg(&self, defaults: &Settings) -> clap::Arg {
        let default = self
            .show(defaults)
            .map_or_else(String::new, |d| format!(" [default: {d}]"));
        clap::Arg::new(self.key)
            .long(self.flag)
            .value_name(self.hint)
            .action(ArgAction::Set)
            .value_parser(clap::value_parser!(String))
            .global(true)
            .help(format!(
                "{} [env: {}] [toml: {}]{default}",
                self.help.trim(),
                self.env,
                self.key
            ))
    }
}

/// How a type is read from text (flags, environment, TOML values) and written back (`--help`).
pub trait Value: Sized {
    const HINT: &'static str;
    /// # Errors
    /// Why `text` is not a value of this type.
    fn parse(text: &str) -> Result<Self, String>;
    fn show(&self) -> Option<String>;
}

macro_rules! value_from_str {
    ($($ty:ty => $hint:literal),+) => {$(
        impl Value for $ty {
            const HINT: &'static str = $hint;
            fn parse(text: &str) -> Result<Self, String> {
                text.trim().parse().map_err(|e| format!("{e}"))
            }
            fn show(&self) -> Option<String> {
                Some(self.to_string())
            }
        }
    )+};
}

value_from_str!(SocketAddr => "ADDR:PORT", usize => "N", u32 => "N", u64 => "N");

impl Value for String {
    const HINT: &'static str = "URL";
    fn parse(text: &str) -> Result<Self, String> {
        Ok(text.to_owned())
    }
    fn show(&self) -> Option<String> {
        Some(self.clone())
    }
}

impl Value for BaseUrl {
    const HINT: &'static str = "URL";
    fn parse(text: &str) -> Result<Self, String> {
        BaseUrl::parse(text)
    }
    fn show(&self) -> Option<String> {
        Some(self.as_str().to_owned())
    }
}

impl Value for PathBuf {
    const HINT: &'static str = "PATH";
    fn parse(text: &str) -> Result<Self, String> {
        if text.is_empty() {
            return Err("empty path".into());
        }
        Ok(text.into())
    }
    fn show(&self) -> Option<String> {
        Some(self.display().to_string())
    }
}

/// An empty value means "unset", so that `WORKERS=` is the same as no `WORKERS`.
impl<T: Value> Value for Option<T> {
    const HINT: &'static str = T::HINT;
    fn parse(text: &str) -> Result<Self, String> {
        if text.trim().is_empty() {
            return Ok(None);
        }
        T::parse(text).map(Some)
    }
    fn show(&self) -> Option<String> {
        self.as_ref().and_then(T::show)
    }
}

impl Value for bool {
    const HINT: &'static str = "on|off";
    fn parse(text: &str) -> Result<Self, String> {
        match text.trim().to_ascii_lowercase().as_str() {
            "on" | "true" | "yes" | "1" => Ok(true),
            "off" | "false" | "no" | "0" => Ok(false),
            _ => Err("expected on or off".into()),
        }
    }
    fn show(&self) -> Option<String> {
        Some(if *self { "on" } else { "off" }.into())
    }
}

impl Value for Duration {
    const HINT: &'static str = "DURATION";
    fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let split = text
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len());
        let (number, unit) = text.split_at(split);
        let number: u64 = number
            .parse()
            .map_err(|_| "expected a duration such as 500ms, 90s, 5m, 1h or 30d".to_owned())?;
        let millis = match unit.trim() {
            "ms" => Some(number),
            "" | "s" => number.checked_mul(1000),
            "m" => number.checked_mul(60_000),
            "h" => number.checked_mul(3_600_000),
            "d" => number.checked_mul(86_400_000),
            other => return Err(format!("unknown unit \"{other}\" (use ms, s, m, h or d)")),
        };
        millis
            .map(Duration::from_millis)
            .ok_or_else(|| "duration too long".into())
    }
    fn show(&self) -> Option<String> {
        let millis = self.as_millis();
        // Whole days and hours as such (`30d`, not `2592000s`); minutes stay seconds (`300s`).
        Some(if millis > 0 && millis.is_multiple_of(86_400_000) {
            format!("{}d", millis / 86_400_000)
        } else if millis > 0 && millis.is_multiple_of(3_600_000) {
            format!("{}h", millis / 3_600_000)
        } else if millis.is_multiple_of(1000) {
            format!("{}s", millis / 1000)
        } else {
            format!("{millis}ms")
        })
    }
}

impl Value for LogFormat {
    const HINT: &'static str = "human|json";
    fn parse(text: &str) -> Result<Self, String> {
        match text.trim().to_ascii_lowercase().as_str() {
            "human" => Ok(Self::Human),
            "json" => Ok(Self::Json),
            _ => Err("expected human or json".into()),
        }
    }
    fn show(&self) -> Option<String> {
        Some(
            match self {
                Self::Human => "human",
                Self::Json => "json",
            }
            .into(),
        )
    }
}

/// A setting that cannot be used; the message is one line naming the setting and its source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError(String);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

const CONFIG_FLAG: &str = "config";
const CONFIG_ENV: &str = "CONFIG_FILE";

/// The settings as the command line gave them: raw text, read by [`SettingsArgs::resolve`].
#[derive(Debug, Clone, Default)]
pub struct SettingsArgs {
    config: Option<String>,
    flags: HashMap<&'static str, String>,
}

impl clap::FromArgMatches for SettingsArgs {
    fn from_arg_matches(matches: &ArgMatches) -> Result<Self, clap::Error> {
        let mut args = Self::default();
        args.update_from_arg_matches(matches)?;
        Ok(args)
    }

    fn update_from_arg_matches(&mut self, matches: &ArgMatches) -> Result<(), clap::Error> {
        let text = |id: &str| matches.try_get_one::<String>(id).ok().flatten().cloned();
        if let Some(path) = text(CONFIG_FLAG) {
            self.config = Some(path);
        }
        for spec in SETTINGS {
            if let Some(value) = text(spec.key) {
                self.flags.insert(spec.key, value);
            }
        }
        Ok(())
    }
}

impl Args for SettingsArgs {
    fn augment_args(cmd: clap::Command) -> clap::Command {
        let defaults = Settings::default();
        cmd.arg(
            clap::Arg::new(CONFIG_FLAG)
                .long(CONFIG_FLAG)
                .value_name("PATH")
                .action(ArgAction::Set)
                .value_parser(clap::value_parser!(String))
                .global(true)
                .help(format!(
                    "TOML file of settings (keys as shown by [toml: ...]); an error if missing \
                     [env: {CONFIG_ENV}]"
                )),
        )
        .args(SETTINGS.iter().map(|spec| spec.arg(&defaults)))
    }

    fn augment_args_for_update(cmd: clap::Command) -> clap::Command {
        Self::augment_args(cmd)
    }
}

/// Where a setting's value came from.
#[derive(Debug, Clone, Copy)]
enum Origin<'a> {
    Flag,
    Env,
    File(&'a Path),
    Default,
}

/// A value as found, before parsing.
struct Found<'a> {
    origin: Origin<'a>,
    text: String,
}

impl Found<'_> {
    fn invalid(&self, spec: &Spec, reason: &str) -> ConfigError {
        let text = &self.text;
        ConfigError(match self.origin {
            Origin::Flag => format!("invalid value \"{text}\" for --{}: {reason}", spec.flag),
            Origin::Env => format!("invalid value \"{text}\" for {}: {reason}", spec.env),
            Origin::File(path) => format!(
                "invalid {} \"{text}\" in {}: {reason}",
                spec.key,
                path.display()
            ),
            Origin::Default => format!("invalid {} \"{text}\" (the default): {reason}", spec.key),
        })
    }
}

impl SettingsArgs {
    /// The settings from `args` as flags, from `env`, and from the file these name.
    ///
    /// # Errors
    /// A bad value from any source, an unknown key or bad TOML in the file, a missing file.
    pub fn resolve(&self, env: impl Fn(&str) -> Option<OsString>) -> Result<Settings, ConfigError> {
        let env_text = |name: &str| -> Result<Option<String>, ConfigError> {
            env(name)
                .map(|value| {
                    value.into_string().map_err(|_| {
                        ConfigError(format!("invalid value for {name}: not valid UTF-8"))
                    })
                })
                .transpose()
        };
        let config_path = match &self.config {
            Some(path) => Some(PathBuf::from(path)),
            None => env_text(CONFIG_ENV)?
                .filter(|p| !p.is_empty())
                .map(PathBuf::from),
        };
        let file = match &config_path {
            Some(path) => read_file(path)?,
            None => toml::Table::new(),
        };

        let mut settings = Settings::default();
        let mut found: HashMap<&'static str, Found<'_>> = HashMap::new();
        for spec in SETTINGS {
            let value = if let Some(text) = self.flags.get(spec.key) {
                Some(Found {
                    origin: Origin::Flag,
                    text: text.clone(),
                })
            } else if let Some(text) = env_text(spec.env)? {
                Some(Found {
                    origin: Origin::Env,
                    text,
                })
            } else if let (Some(value), Some(path)) = (file.get(spec.key), &config_path) {
                let found = Found {
                    origin: Origin::File(path),
                    text: toml_text(value),
                };
                if !is_scalar(value) {
                    return Err(found.invalid(spec, "expected a string, number or boolean"));
                }
                Some(found)
            } else {
                None
            };
            if let Some(value) = value {
                (spec.apply)(&mut settings, &value.text).map_err(|e| value.invalid(spec, &e))?;
                found.insert(spec.key, value);
            }
        }
        validate(&settings, &found)?;
        Ok(settings)
    }
}

fn read_file(path: &Path) -> Result<toml::Table, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        ConfigError(format!(
            "cannot read the config file {}: {e}",
            path.display()
        ))
    })?;
    let table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
        let line = e
            .span()
            .map(|span| text[..span.start.min(text.len())].lines().count().max(1));
        let at = line.map_or_else(String::new, |l| format!(" at line {l}"));
        ConfigError(format!(
            "invalid TOML in {}{at}: {}",
            path.display(),
            e.message().trim()
        ))
    })?;
    if let Some(unknown) = table
        .keys()
        .find(|key| !SETTINGS.iter().any(|spec| spec.key == key.as_str()))
    {
        return Err(ConfigError(format!(
            "unknown key \"{unknown}\" in {} (see being-social --help for the keys)",
            path.display()
        )));
    }
    Ok(table)
}

fn is_scalar(value: &toml::Value) -> bool {
    matches!(
        value,
        toml::Value::String(_)
            | toml::Value::Integer(_)
            | toml::Value::Float(_)
            | toml::Value::Boolean(_)
    )
}

fn toml_text(value: &toml::Value) -> String {
    match value {
        toml::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn spec(key: &str) -> Option<&'static Spec> {
    SETTINGS.iter().find(|spec| spec.key == key)
}

/// Rules between settings, or beyond what their type says.
fn validate(
    settings: &Settings,
    found: &HashMap<&'static str, Found<'_>>,
) -> Result<(), ConfigError> {
    let invalid = |key: &str, reason: &str| -> ConfigError {
        let Some(spec) = spec(key) else {
            return ConfigError(format!("invalid {key}: {reason}"));
        };
        match found.get(key) {
            Some(value) => value.invalid(spec, reason),
            None => Found {
                origin: Origin::Default,
                text: spec.show(settings).unwrap_or_default(),
            }
            .invalid(spec, reason),
        }
    };
    let at_least_one = [
        ("pool_size", settings.pool_size as u64),
        ("max_upload_bytes", settings.max_upload_bytes as u64),
        ("max_image_pixels", settings.max_image_pixels),
        ("max_image_edge", u64::from(settings.max_image_edge)),
        (
            "max_image_aspect_ratio",
            u64::from(settings.max_image_aspect_ratio),
        ),
        ("image_memory_mib", settings.image_memory_mib),
        ("default_page_size", u64::from(settings.default_page_size)),
        ("max_page_size", u64::from(settings.max_page_size)),
        ("auth_rate_limit", u64::from(settings.auth_rate_limit)),
        ("write_rate_limit", u64::from(settings.write_rate_limit)),
        ("workers", settings.workers.map_or(1, |w| w as u64)),
        ("max_connections", settings.max_connections as u64),
        (
            "request_head_timeout",
            u64::try_from(settings.request_head_timeout.as_millis()).unwrap_or(u64::MAX),
        ),
        (
            "request_body_timeout",
            u64::try_from(settings.request_body_timeout.as_millis()).unwrap_or(u64::MAX),
        ),
        (
            "auth_rate_window",
            u64::try_from(settings.auth_rate_window.as_millis()).unwrap_or(u64::MAX),
        ),
        (
            "write_rate_window",
            u64::try_from(settings.write_rate_window.as_millis()).unwrap_or(u64::MAX),
        ),
        (
            "token_idle_lifetime",
            u64::try_from(settings.token_idle_lifetime.as_millis()).unwrap_or(u64::MAX),
        ),
        (
            "token_sweep_interval",
            u64::try_from(settings.token_sweep_interval.as_millis()).unwrap_or(u64::MAX),
        ),
    ];
    for (key, value) in at_least_one {
        if value == 0 {
            return Err(invalid(key, "must be at least 1"));
        }
    }
    if settings.default_page_size > settings.max_page_size {
        return Err(invalid(
            "default_page_size",
            &format!("must not exceed max_page_size ({})", settings.max_page_size),
        ));
    }
    if settings.token_absolute_lifetime < settings.token_idle_lifetime {
        // Either may be the one set wrong; blame the one that was set, the absolute one if both.
        let key = if found.contains_key("token_absolute_lifetime")
            || !found.contains_key("token_idle_lifetime")
        {
            "token_absolute_lifetime"
        } else {
            "token_idle_lifetime"
        };
        return Err(invalid(
            key,
            &format!(
                "token_absolute_lifetime ({}) must be at least token_idle_lifetime ({})",
                Value::show(&settings.token_absolute_lifetime).unwrap_or_default(),
                Value::show(&settings.token_idle_lifetime).unwrap_or_default(),
            ),
        ));
    }
    if let Err(err) = settings.credentials() {
        // Blame the costs that were set; all three when none was (a bad default is a bug).
        let key = [
            "argon2_memory_kib",
            "argon2_iterations",
            "argon2_parallelism",
        ]
        .into_iter()
        .find(|key| found.contains_key(key))
        .unwrap_or("argon2_memory_kib");
        return Err(invalid(
            key,
            &format!(
                "{err} (memory {} KiB, {} iterations, parallelism {})",
                settings.argon2_memory_kib, settings.argon2_iterations, settings.argon2_parallelism
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::io::Write;

    use clap::CommandFactory;

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
        let cli = Cli::try_parse_from(argv).map_err(|e| e.to_string())?;
        let env: HashMap<String, String> = env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let result = cli
            .settings
            .resolve(|name| env.get(name).map(OsString::from))
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
        let spec = spec(key).unwrap();
        let [flag, env, file] = values;
        let flag_arg = format!("--{}={flag}", spec.flag);
        let env_var = [(spec.env, env)];
        let toml = format!("{key} = {}", toml_literal(file));
        let default = read(&Settings::default());
        let expect = |s: Result<Settings, String>| read(&s.unwrap());
        let want = |text: &str| {
            let mut s = Settings::default();
            (spec.apply)(&mut s, text).unwrap();
            read(&s)
        };
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
        let cli = Cli::try_parse_from(["being-social", "migrate", "--pool-size", "3"]).unwrap();
        assert_eq!(cli.settings.resolve(|_| None).unwrap().pool_size, 3);
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
        assert_eq!(Value::show(&defaults.idle).as_deref(), Some("30d"));
        assert_eq!(
            Value::show(&Duration::from_secs(3600)).as_deref(),
            Some("1h")
        );
        assert_eq!(
            Value::show(&Duration::from_secs(300)).as_deref(),
            Some("300s")
        );

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
        let cli = Cli::try_parse_from(["being-social"]).unwrap();
        let err = cli
            .settings
            .resolve(|name| (name == "CONFIG_FILE").then(|| "/nonexistent/x.toml".into()))
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
        let help = Cli::command().render_long_help().to_string();
        let docs = include_str!("../../../docs/configuration.md");
        for spec in SETTINGS {
            assert_eq!(
                spec.flag,
                spec.key.replace('_', "-"),
                "flag of {}",
                spec.key
            );
            for name in [
                format!("--{}", spec.flag),
                spec.env.to_owned(),
                spec.key.to_owned(),
            ] {
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
