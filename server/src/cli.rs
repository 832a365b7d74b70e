//! The command line: `serve` (default), `migrate`, `schema`, and the tools around the
//! ingest: `replay`, `generate`, `bench`.

use clap::{Args, Parser, Subcommand};
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::generate::GenerateArgs;
use crate::replay::ReplayArgs;

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
    pub serve: ServeArgs,
}

/// Subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the server (ingest and API).
    Serve(Box<ServeArgs>),
    /// Apply pending database migrations and exit.
    Migrate(Box<Config>),
    /// Print the merged GraphQL schema (SDL) and exit.
    Schema,
    /// Serve a JSONL file of Jetstream events as a local Jetstream (for tests and demos).
    Replay(ReplayArgs),
    /// Write a deterministic JSONL stream of Coves activity and its expected counts.
    Generate(GenerateArgs),
    /// Measure the server (release build): see BENCHMARKS.md.
    Bench(crate::bench::BenchArgs),
}

/// `serve` settings.
#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Replay a generated sample of Coves activity through a local Jetstream on loopback,
    /// into a fresh embedded database: data appears in GraphQL within seconds, offline.
    #[arg(long)]
    pub demo: bool,
    #[command(flatten)]
    pub config: Config,
}

impl Cli {
    /// Runs the chosen command.
    pub async fn run(self) -> anyhow::Result<()> {
        match self.command {
            None => serve(self.serve).await,
            Some(Command::Serve(args)) => serve(*args).await,
            Some(Command::Migrate(config)) => migrate(*config).await,
            Some(Command::Schema) => {
                print!("{}", crate::schema_sdl()?);
                Ok(())
            }
            Some(Command::Replay(args)) => {
                crate::telemetry::init_logging(crate::config::LogFormat::Text);
                let shutdown = CancellationToken::new();
                crate::shutdown::cancel_on_signal(shutdown.clone());
                crate::replay::run(args, shutdown).await
            }
            Some(Command::Generate(args)) => {
                let summary = crate::generate::run(&args)?;
                eprintln!("wrote {} events to {}", summary.events, args.out.display());
                Ok(())
            }
            Some(Command::Bench(args)) => crate::bench::run(args).await,
        }
    }
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    crate::telemetry::init_logging(args.config.log.log_format);
    if args.demo { crate::demo::serve(args.config).await } else { crate::app::serve(args.config).await }
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
