//! Drives a workload with concurrent clients for a fixed time and collects latencies.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// One kind of request over a fixed list of targets.
pub trait Workload: Send + Sync + 'static {
    /// How many targets there are to pick from.
    fn targets(&self) -> usize;

    /// Sends one request for target `index` and checks its answer.
    fn request(&self, index: usize) -> impl Future<Output = anyhow::Result<()>> + Send;
}

/// How long and how wide a run is.
pub struct Settings {
    pub concurrency: usize,
    /// Requests started before this point are not measured.
    pub warmup: Duration,
    /// Requests started within this window after the warm-up are measured.
    pub measured: Duration,
}

/// A run's measured requests.
pub struct Figures {
    /// Latencies of the measured requests that succeeded, sorted.
    latencies: Vec<Duration>,
    /// Length of the measured window.
    seconds: f64,
    /// Measured requests that failed.
    pub errors: usize,
    /// Why the first one failed.
    pub first_error: Option<String>,
}

impl Figures {
    pub fn requests(&self) -> usize {
        self.latencies.len()
    }

    /// Successful requests per second.
    pub fn rate(&self) -> f64 {
        self.latencies.len() as f64 / self.seconds
    }

    /// The latency at quantile `q` (nearest rank); zero without requests.
    pub fn percentile(&self, q: f64) -> Duration {
        let rank = ((self.latencies.len() as f64 * q).ceil() as usize).saturating_sub(1);
        self.latencies.get(rank).copied().unwrap_or_default()
    }

    pub fn max(&self) -> Duration {
        self.latencies.last().copied().unwrap_or_default()
    }
}

/// What one client saw during the measured window.
#[derive(Default)]
struct ClientLog {
    latencies: Vec<Duration>,
    errors: usize,
    first_error: Option<String>,
}

/// Runs `workload` with `settings.concurrency` clients, each picking a random target per
/// request. Client `i`'s choices come from seed `i`, so the HTTP run and its direct
/// baseline draw the same targets in the same order.
pub async fn run<W: Workload>(label: &str, settings: &Settings, workload: Arc<W>) -> anyhow::Result<Figures> {
    eprintln!("{label}: {} s warm-up, {} s measured", settings.warmup.as_secs(), settings.measured.as_secs());
    let measure_from = Instant::now() + settings.warmup;
    let until = measure_from + settings.measured;
    let clients: Vec<_> = (0..settings.concurrency)
        .map(|i| tokio::spawn(client(workload.clone(), i as u64, measure_from, until)))
        .collect();
    let mut figures =
        Figures { latencies: Vec::new(), seconds: settings.measured.as_secs_f64(), errors: 0, first_error: None };
    for log in futures::future::join_all(clients).await {
        let log = log.context("a benchmark client panicked")?;
        figures.latencies.extend(log.latencies);
        figures.errors += log.errors;
        figures.first_error = figures.first_error.or(log.first_error);
    }
    figures.latencies.sort_unstable();
    Ok(figures)
}

async fn client<W: Workload>(workload: Arc<W>, seed: u64, measure_from: Instant, until: Instant) -> ClientLog {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut log = ClientLog::default();
    loop {
        let started = Instant::now();
        if started >= until {
            return log;
        }
        let outcome = workload.request(rng.random_range(0..workload.targets())).await;
        if started < measure_from {
            continue;
        }
        match outcome {
            Ok(()) => log.latencies.push(started.elapsed()),
            Err(e) => {
                log.errors += 1;
                log.first_error.get_or_insert_with(|| format!("{e:#}"));
            }
        }
    }
}
