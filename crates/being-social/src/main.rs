use anyhow::Context;
use std::process::ExitCode;

use being_social::cli::{Cli, Command, SeedArgs};
use being_social::configuration::ConfigError;
use being_social::settings::{Settings, show_duration};
use being_social::startup::{Application, media_store, open_database};
use being_social::telemetry;
use being_social_infra::db::check::Scope;
use being_social_infra::db::seed::{SeedSpec, write_token_file};
use being_social_infra::orphans::check_media as check_media_files;

fn main() -> ExitCode {
    being_social::allocator::configure();
    let cli = match Cli::load_from(std::env::args_os(), |name| std::env::var_os(name)) {
        Ok(cli) => cli,
        Err(ConfigError::Usage(err)) => err.exit(),
        Err(err) => {
            // The same status as clap's usage errors: the command line (or its setup) is wrong.
            eprintln!("being-social: {err}");
            return ExitCode::from(2);
        }
    };
    telemetry::init(cli.settings.log_format);
    match run(cli.command, cli.settings) {
        Ok(code) => code,
        Err(err) => {
            // One line, naming the setting to change; no backtrace.
            eprintln!("being-social: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(command: Option<Command>, settings: Settings) -> anyhow::Result<ExitCode> {
    // Multi-thread: the migration harness blocks in place. HTTP workers get their own threads.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        match command.unwrap_or(Command::Serve) {
            Command::Migrate => {
                open_database(&settings).await?;
                tracing::info!("migrations applied");
                Ok(ExitCode::SUCCESS)
            }
            Command::Check {
                repair,
                counters_only,
                media,
                media_grace,
            } => {
                let rows = check(&settings, repair, counters_only).await?;
                let files = if media {
                    check_media(&settings, repair, media_grace).await?
                } else {
                    ExitCode::SUCCESS
                };
                Ok(if rows == ExitCode::SUCCESS { files } else { rows })
            }
            Command::Seed(args) => seed(&settings, args).await,
            Command::Serve => {
                let app = Application::build(&settings).await?;
                tracing::info!(port = app.port(), database = %redacted_scheme(&settings.database_url), "serving");
                app.run_until_stopped().await?;
                Ok(ExitCode::SUCCESS)
            }
        }
    })
}

/// Reports every counter that differs from its rows and every feed that differs from its follows
/// and posts (exit 1 if any), repairing them on request.
async fn check(settings: &Settings, repair: bool, counters_only: bool) -> anyhow::Result<ExitCode> {
    let scope = if counters_only {
        Scope::CountersOnly
    } else {
        Scope::Everything
    };
    let db = open_database(settings).await?;
    let drift = db.counter_drift(scope).await?;
    for counter in &drift {
        println!("{counter}");
    }
    if drift.is_empty() {
        println!("every counter equals its rows, every feed its follows");
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{} counter(s) or feed(s) differ from their rows",
        drift.len()
    );
    if repair {
        db.repair_counters(scope).await?;
        let left = db.counter_drift(scope).await?;
        println!("repaired; {} left", left.len());
    }
    Ok(ExitCode::from(1))
}

/// Reports every file of the media store that no row names and that is older than `grace` (exit
/// 1 if any), removing them on request.
async fn check_media(
    settings: &Settings,
    repair: bool,
    grace: std::time::Duration,
) -> anyhow::Result<ExitCode> {
    let db = open_database(settings).await?;
    let store = media_store(settings)?;
    let found = check_media_files(&db, &store, grace, repair).await?;
    println!(
        "media: {} file(s), {} named by no row (older than {}), {} too recent to tell, {} not keys of the store (left alone)",
        found.files,
        found.orphans.len(),
        show_duration(grace),
        found.recent,
        found.foreign
    );
    if found.orphans.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    const SHOWN: usize = 100;
    for key in found.orphans.iter().take(SHOWN) {
        println!("media file named by no row: {key}");
    }
    if found.orphans.len() > SHOWN {
        println!("... and {} more", found.orphans.len() - SHOWN);
    }
    if repair {
        println!("removed {} file(s)", found.orphans.len());
    }
    Ok(ExitCode::from(1))
}

/// Fills an empty PostgreSQL database with the benchmark dataset; prints `key=value` lines that
/// the benchmark script reads (`hot_post=`, `naive_post=`, ...).
async fn seed(settings: &Settings, args: SeedArgs) -> anyhow::Result<ExitCode> {
    if !args.confirmed {
        eprintln!(
            "refusing to seed: the benchmark dataset has users whose tokens anyone can compute; \
             on a database made for benchmarks only, pass --yes-this-is-a-benchmark-database"
        );
        return Ok(ExitCode::from(2));
    }
    let db = open_database(settings).await?;
    let spec = SeedSpec {
        users: i64::from(args.users),
        posts: i64::from(args.posts),
        follows_per_user: i64::from(args.follows_per_user),
        heavy_follows: i64::from(args.heavy_follows),
        likers: i64::from(args.likers),
        celebrities: i64::from(args.celebrities),
        celebrity_followers: i64::from(args.celebrity_followers),
        pulled_followed: i64::from(args.pulled_followed),
        prolific_posts: i64::from(args.prolific_posts),
        outbox_followers: i64::from(args.outbox_followers),
    };
    let report = db.seed(spec).await?;
    if let Some(path) = &args.tokens_out {
        write_token_file(path, report.users)
            .with_context(|| format!("cannot write the tokens to {}", path.display()))?;
    }
    println!(
        "seeded {} users, {} posts, {} follows in {:.1} s (foreign-key checks {})",
        report.users,
        report.posts,
        report.follows,
        report.elapsed.as_secs_f64(),
        if report.skipped_foreign_key_checks {
            "skipped: superuser"
        } else {
            "kept"
        }
    );
    println!("users={}", report.users);
    println!("feed_users={}", spec.users);
    println!("likers={}..{}", report.likers.0, report.likers.1);
    println!("posts={}", report.posts);
    println!("follows={}", report.follows);
    println!("hot_post={}", report.hot_post);
    println!("naive_post={}", report.naive_post);
    let roles = &report.roles;
    let range = |r: Option<(i64, i64)>| r.map(|(a, b)| format!("{a}..{b}"));
    for (key, value) in [
        ("celebrities", range(roles.celebrities)),
        ("modest_author", roles.modest_author.map(|v| v.to_string())),
        ("pulled_authors", range(roles.pulled_authors)),
        ("mixed_viewer", roles.mixed_viewer.map(|v| v.to_string())),
        (
            "prolific_leader",
            roles.prolific_leader.map(|v| v.to_string()),
        ),
        ("modest_leader", roles.modest_leader.map(|v| v.to_string())),
        ("outbox_author", roles.outbox_author.map(|v| v.to_string())),
    ] {
        if let Some(value) = value {
            println!("{key}={value}");
        }
    }
    if let Some(path) = &args.tokens_out {
        println!("tokens_out={}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// The database kind without credentials, for the start-up log line.
fn redacted_scheme(url: &str) -> &str {
    url.split("://").next().unwrap_or("unknown")
}
