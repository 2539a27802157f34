//! The command line: the subcommands, their own arguments, and every setting of
//! [`crate::settings`] as a flag. Read it with [`Cli::load_from`] (in [`crate::configuration`]):
//! clap's own `parse` would read the environment without saying which source a bad value came
//! from, and would leave out the file and the rules between settings.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::settings::{Settings, duration};

/// The command line with every setting.
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
