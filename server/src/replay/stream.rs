//! Reading the JSONL file for one connection, and pacing what it sends.
//!
//! Every connection streams the file through its own buffered reader, so a 500 MB
//! capture costs each subscriber one read buffer, not a copy of the file.

use std::path::Path;
use std::time::Duration;

use serde::Deserialize;
use tokio::fs::File;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::time::Instant;

/// Read buffer per connection: big enough that refills (each a blocking-pool hop for
/// `tokio::fs`) are rare.
const READ_BUFFER: usize = 1 << 20;

/// The file's lines, starting at the cursor, one at a time.
pub struct EventSource {
    reader: BufReader<File>,
    /// The line being read or last returned (with its newline).
    line: Vec<u8>,
    /// `line` holds a finished line, to be cleared before reading the next.
    complete: bool,
    eof: bool,
    /// Lines are skipped until one has `time_us >= cursor`; `None` once reached.
    cursor: Option<i64>,
}

/// Just enough of an event to compare it with the cursor.
#[derive(Deserialize)]
struct TimeOnly {
    time_us: Option<i64>,
}

impl EventSource {
    /// Opens `path` to stream from `cursor` (unix µs; `None` = the first line).
    pub async fn open(path: &Path, cursor: Option<i64>) -> std::io::Result<Self> {
        let file = File::open(path).await?;
        Ok(Self {
            reader: BufReader::with_capacity(READ_BUFFER, file),
            line: Vec::new(),
            complete: false,
            eof: false,
            cursor,
        })
    }

    /// Advances to the next non-blank line at or after the cursor; `false` at the end of
    /// the file.
    ///
    /// Cancel-safe (it runs in `select!` against pings): a partly read line stays in
    /// `line` and the next call continues it, as `read_until` promises.
    pub async fn next_line(&mut self) -> std::io::Result<bool> {
        loop {
            if self.complete {
                self.line.clear();
                self.complete = false;
            }
            if self.eof {
                return Ok(false);
            }
            if self.reader.read_until(b'\n', &mut self.line).await? == 0 {
                self.eof = true;
                return Ok(false);
            }
            self.complete = true;
            let line = self.current();
            if line.is_empty() {
                continue;
            }
            if let Some(cursor) = self.cursor {
                // Lines without a readable time cannot be placed, so they are skipped too.
                match serde_json::from_slice::<TimeOnly>(line) {
                    Ok(TimeOnly { time_us: Some(t) }) if t >= cursor => self.cursor = None,
                    _ => continue,
                }
            }
            return Ok(true);
        }
    }

    /// The line the last successful [`next_line`](Self::next_line) stopped at, without
    /// its line ending.
    pub fn current(&self) -> &[u8] {
        let line = self.line.strip_suffix(b"\n").unwrap_or(&self.line);
        line.strip_suffix(b"\r").unwrap_or(line)
    }

    /// The whole file has been read.
    pub fn at_eof(&self) -> bool {
        self.eof
    }

    /// The next line needs a file read (which may take a while), so buffered messages
    /// should be flushed to the client first.
    pub fn needs_read(&self) -> bool {
        self.reader.buffer().is_empty()
    }
}

/// A token bucket: `rate` events per second on average, in bursts of up to 10 ms worth,
/// so high rates are reachable without a timer per event.
pub struct Pacer {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl Pacer {
    /// A pacer for `rate` events per second (at least 1).
    pub fn new(rate: u32) -> Self {
        let rate = f64::from(rate.max(1));
        let burst = (rate / 100.0).max(1.0);
        Self { rate, burst, tokens: burst, last: Instant::now() }
    }

    /// Takes one event's token if there is one (`None`), otherwise says how long until
    /// there will be.
    pub fn take(&mut self) -> Option<Duration> {
        let now = Instant::now();
        let elapsed = now.duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            None
        } else {
            Some(Duration::from_secs_f64((1.0 - self.tokens) / self.rate))
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    #[tokio::test]
    async fn skips_to_the_cursor_then_keeps_file_order() {
        let mut file = tempfile::NamedTempFile::new().expect("temp file");
        write!(file, "{{\"time_us\":1}}\n\n{{\"time_us\":3}}\r\nnot json\n{{\"time_us\":2}}\n{{\"time_us\":4}}")
            .expect("write");
        let mut source = EventSource::open(file.path(), Some(2)).await.expect("open");
        let mut lines = Vec::new();
        while source.next_line().await.expect("read") {
            lines.push(String::from_utf8(source.current().to_vec()).expect("utf-8"));
        }
        assert!(source.at_eof());
        assert_eq!(lines, ["{\"time_us\":3}", "not json", "{\"time_us\":2}", "{\"time_us\":4}"]);
    }

    #[tokio::test]
    async fn paces_with_small_bursts() {
        let mut pacer = Pacer::new(1000);
        let mut sent = 0;
        let start = Instant::now();
        while sent < 100 {
            match pacer.take() {
                None => sent += 1,
                Some(wait) => tokio::time::sleep(wait).await,
            }
        }
        let elapsed = start.elapsed();
        // 10 events of burst up front, the other 90 at 1 ms each.
        assert!(elapsed >= Duration::from_millis(85) && elapsed <= Duration::from_millis(500), "{elapsed:?}");
    }
}
