//! The command line: `serve` (default), `migrate`, `schema`.

use clap::{Parser, Subcommand};

use crate::config::Config;

/// Coves AppView: indexes social.coves.* records from Jetstream into PostgreSQL and
/// serves them over GraphQL and XRPC.
#[derive(Parser, Debug)]
#[command(name = "coves-appview", version, args_conflicts_with_subcommands = true)]
pub struct Cli {
    /// What to do (default: serve).
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Settings for the default `serve`.
    #[command(flatten)]
    pub config: Config,
}

/// Subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the server (ingest and API).
    Serve(Box<Config>),
    /// Apply pending database migrations and exit.
    Migrate(Box<Config>),
    /// Print the merged GraphQL schema (SDL) and exit.
    Schema,
}

impl Cli {
    /// Runs the chosen command.
    pub async fn run(self) -> anyhow::Result<()> {
        match self.command {
            None => serve(self.config).await,
            Some(Command::Serve(config)) => serve(*config).await,
            Some(Command::Migrate(config)) => migrate(*config).await,
            Some(Command::Schema) => {
                print!("{}", crate::schema_sdl()?);
                Ok(())
            }
        }
    }
}

async fn serve(config: Config) -> anyhow::Result<()> {
    crate::telemetry::init_logging(config.log.log_format);
    crate::app::serve(config).await
}

async fn migrate(config: Config) -> anyhow::Result<()> {
    crate::telemetry::init_logging(config.log.log_format);
    config.validate()?;
    let plugins = crate::plugins::linked()?;
    let (url, embedded) = crate::app::database(&config).await?;
    let result = crate::db::migrate::run(&url, &plugins).await;
    if let Some(pg) = embedded {
        pg.stop().await?;
    }
    let applied = result?;
    tracing::info!(count = applied.len(), ?applied, "migrations applied");
    Ok(())
}
