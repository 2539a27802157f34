//! Settings, from command-line flags or the environment (flags win). Built once in `main` and
//! passed down; nothing reads the environment after start-up.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "being-social",
    version,
    about = "Being Social: a photo-sharing social REST API."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,

    #[command(flatten)]
    pub settings: Settings,
}

#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    /// Apply pending migrations, then serve the API (the default).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Compare every counter with the rows it counts; exit status 1 if any differs.
    Check {
        /// Set every differing counter to the count of its rows.
        #[arg(long)]
        repair: bool,
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
}

#[derive(Debug, Clone, Args)]
pub struct Settings {
    /// Address and port to listen on.
    #[arg(long, env = "BIND", default_value = "127.0.0.1:8080", global = true)]
    pub bind: SocketAddr,

    /// Database to use: `sqlite://PATH` (embedded, the default) or `postgres://USER@HOST:PORT/DB`.
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "sqlite://data/being-social.db",
        global = true
    )]
    pub database_url: String,

    /// Most database connections the server keeps open.
    #[arg(long, env = "DATABASE_POOL_SIZE", default_value_t = 16, global = true)]
    pub pool_size: usize,

    /// Directory where uploaded pictures are stored.
    #[arg(long, env = "MEDIA_DIR", default_value = "data/media", global = true)]
    pub media_dir: PathBuf,

    /// Largest accepted upload, in bytes (413 beyond).
    #[arg(long, env = "MAX_UPLOAD_BYTES", default_value_t = 10 * 1024 * 1024, global = true)]
    pub max_upload_bytes: usize,

    /// Largest accepted picture, in pixels (width × height; 400 beyond).
    #[arg(
        long,
        env = "MAX_IMAGE_PIXELS",
        default_value_t = 40_000_000,
        global = true
    )]
    pub max_image_pixels: u64,

    /// HTTP worker threads (default: one per CPU core).
    #[arg(long, env = "WORKERS", global = true)]
    pub workers: Option<usize>,

    /// Seconds that in-flight requests get to finish after SIGTERM or SIGINT; requests still
    /// running then are cut off.
    #[arg(long, env = "SHUTDOWN_TIMEOUT", default_value_t = 30, global = true)]
    pub shutdown_timeout: u64,

    /// Log format.
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value_t = LogFormat::Human, global = true)]
    pub log_format: LogFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// One readable line per event.
    Human,
    /// One JSON object per event.
    Json,
}

impl Settings {
    /// Settings for tests and tools: everything default but the database and media directory.
    pub fn for_database(database_url: impl Into<String>, media_dir: PathBuf) -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            database_url: database_url.into(),
            pool_size: 8,
            media_dir,
            max_upload_bytes: 10 * 1024 * 1024,
            max_image_pixels: 40_000_000,
            workers: Some(2),
            shutdown_timeout: 30,
            log_format: LogFormat::Human,
        }
    }
}
