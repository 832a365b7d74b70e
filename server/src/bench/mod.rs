//! `coves-appview bench …`: performance measurements of a release build, each reported
//! next to its baseline measured in the same run. Figures go to BENCHMARKS.md.

mod ingest;
mod live;
mod read;

use clap::{Args, Subcommand};

/// Which benchmark to run.
#[derive(Args, Debug)]
pub struct BenchArgs {
    #[command(subcommand)]
    pub which: Bench,
}

/// The benchmarks.
#[derive(Subcommand, Debug)]
pub enum Bench {
    /// Replay generated Coves events through a local Jetstream into PostgreSQL, batched,
    /// and against one transaction per event.
    Ingest(ingest::IngestBenchArgs),
    /// Load a forum-sized data set and read posts pages and comment threads over HTTP,
    /// against the same service calls made directly.
    Read(read::ReadBenchArgs),
    /// Hold many live `postStats` subscriptions over websockets while the ingest applies a
    /// steady vote stream: delivery latency, memory per subscription, CPU, convergence.
    Live(live::LiveBenchArgs),
}

/// Runs a benchmark and prints its report (Markdown).
pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    match args.which {
        Bench::Ingest(args) => ingest::run(args).await,
        Bench::Read(args) => read::run(args).await,
        Bench::Live(args) => live::run(args).await,
    }
}
