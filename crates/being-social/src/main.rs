use anyhow::Context;
use being_social::configuration::{Cli, Command};
use being_social::startup::{Application, open_database};
use being_social::telemetry;
use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    telemetry::init(cli.settings.log_format);
    match run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            // One line, naming the setting to change; no backtrace.
            eprintln!("being-social: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    // Multi-thread: the migration harness blocks in place. HTTP workers get their own threads.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let settings = cli.settings;
        match cli.command.unwrap_or(Command::Serve) {
            Command::Migrate => {
                open_database(&settings).await?;
                tracing::info!("migrations applied");
                Ok(())
            }
            Command::Serve => {
                let app = Application::build(&settings).await?;
                tracing::info!(port = app.port(), database = %redacted_scheme(&settings.database_url), "serving");
                app.run_until_stopped().await?;
                Ok(())
            }
        }
    })
}

/// The database kind without credentials, for the start-up log line.
fn redacted_scheme(url: &str) -> &str {
    url.split("://").next().unwrap_or("unknown")
}
