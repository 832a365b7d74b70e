//! One subscriber: reads its `options_update` messages while streaming the file to it.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, close_code};
use futures::stream::{SplitSink, SplitStream};
use futures::{SinkExt, StreamExt};
use tokio::sync::watch;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

use super::Shared;
use super::filter::{ClientMessage, Envelope, Filter, Subscription};
use super::stream::{EventSource, Pacer};
use crate::jetstream::compression::compress;

/// Jetstream pings every subscriber this often; clients may rely on it for liveness.
const PING_PERIOD: Duration = Duration::from_secs(30);

/// Messages written without a flush at most; flushing each one would cost a syscall
/// per event.
const FLUSH_EVERY: usize = 32;

/// How long a close frame may take to go out before the socket is dropped anyway.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);

/// Longest close reason a close frame can carry (125-byte control payload minus the code).
const MAX_CLOSE_REASON: usize = 123;

/// How a connection ends.
enum Exit {
    /// Drop the TCP connection without a close frame (test hooks).
    Abrupt,
    /// Send this close frame, then drop the connection.
    Close(CloseFrame),
    /// The client closed or the socket failed: nothing left to say.
    Gone,
}

impl Exit {
    fn close(code: u16, reason: &str) -> Self {
        let mut end = reason.len().min(MAX_CLOSE_REASON);
        while !reason.is_char_boundary(end) {
            end -= 1;
        }
        Exit::Close(CloseFrame { code, reason: reason[..end].into() })
    }
}

/// Serves one upgraded `/subscribe` connection until the client leaves, the file fails,
/// the server stops, or a test hook cuts it (`kill`).
pub(super) async fn serve(
    socket: WebSocket,
    subscription: Subscription,
    source: EventSource,
    shared: Arc<Shared>,
    kill: CancellationToken,
    id: u64,
) {
    let (sink, mut stream) = socket.split();
    let (filter_tx, filter_rx) = watch::channel(subscription.filter);
    let mut writer = Writer {
        sink,
        filter: filter_rx,
        shared: Arc::clone(&shared),
        compress: subscription.compress,
        sent: 0,
        unflushed: 0,
    };
    // Interrupting the writer mid-send is fine: the sink keeps whole frames, so the
    // close frame below still goes out intact after whatever was queued.
    let exit = tokio::select! {
        biased;
        () = kill.cancelled() => Exit::Abrupt,
        () = shared.stop.cancelled() => Exit::close(close_code::AWAY, "server shutting down"),
        exit = read_client(&mut stream, &filter_tx, id) => exit,
        exit = writer.stream(source, subscription.require_hello, shared.rate) => exit,
    };
    let sent = writer.sent;
    match exit {
        Exit::Abrupt => tracing::debug!(id, sent, "replay: dropping connection without a close frame"),
        Exit::Gone => tracing::debug!(id, sent, "replay: subscriber left"),
        Exit::Close(frame) => {
            tracing::debug!(id, sent, code = frame.code, reason = %frame.reason.as_str(), "replay: closing");
            let _ = tokio::time::timeout(CLOSE_TIMEOUT, writer.sink.send(Message::Close(Some(frame)))).await;
        }
    }
    // Dropping both halves closes the TCP connection.
}

/// Reads the subscriber's messages: `options_update` replaces the filter; an invalid one
/// ends the connection with the reason, as Jetstream does. Pings are answered by
/// tungstenite while this reads.
async fn read_client(stream: &mut SplitStream<WebSocket>, filter: &watch::Sender<Filter>, id: u64) -> Exit {
    while let Some(message) = stream.next().await {
        match message {
            Ok(Message::Text(text)) => match ClientMessage::parse(text.as_str()) {
                Ok(ClientMessage::OptionsUpdate(update)) => {
                    tracing::debug!(id, ?update, "replay: options_update");
                    filter.send_replace(update);
                }
                Ok(ClientMessage::Other(kind)) => {
                    tracing::warn!(id, kind, "replay: ignoring subscriber message of unexpected type");
                }
                Err(e) => {
                    tracing::warn!(id, error = %e, "replay: invalid subscriber message, closing");
                    return Exit::close(close_code::NORMAL, &e.to_string());
                }
            },
            Ok(Message::Binary(_)) => tracing::warn!(id, "replay: ignoring binary message from subscriber"),
            Ok(_) => {}
            Err(e) => {
                tracing::debug!(id, error = %e, "replay: subscriber socket failed");
                return Exit::Gone;
            }
        }
    }
    Exit::Gone
}

/// The sending half of a connection.
struct Writer {
    sink: SplitSink<WebSocket, Message>,
    filter: watch::Receiver<Filter>,
    shared: Arc<Shared>,
    compress: bool,
    /// Events sent on this connection (for `drop_after`).
    sent: u64,
    /// Messages written since the last flush.
    unflushed: usize,
}

impl Writer {
    /// Streams the file in order, then idles (pinging) like a quiet live stream.
    async fn stream(&mut self, mut source: EventSource, require_hello: bool, rate: Option<u32>) -> Exit {
        if require_hello && self.filter.changed().await.is_err() {
            return Exit::Gone;
        }
        let mut pacer = rate.filter(|&r| r > 0).map(Pacer::new);
        let mut ping = tokio::time::interval_at(Instant::now() + PING_PERIOD, PING_PERIOD);
        ping.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            if self.shared.drop_after_reached(self.sent) {
                // The n events must really reach the client before the cut.
                return match self.flush().await {
                    Ok(()) => Exit::Abrupt,
                    Err(exit) => exit,
                };
            }
            if (self.unflushed >= FLUSH_EVERY || source.needs_read())
                && let Err(exit) = self.flush().await
            {
                return exit;
            }
            // Reading is cancel-safe, so a ping can interrupt a slow file read.
            let read = tokio::select! {
                biased;
                read = source.next_line(), if !source.at_eof() => Some(read),
                _ = ping.tick() => None,
            };
            match read {
                None => {
                    if let Err(exit) = self.send(Message::Ping(Bytes::new())).await {
                        return exit;
                    }
                    if let Err(exit) = self.flush().await {
                        return exit;
                    }
                    continue;
                }
                Some(Ok(true)) => {}
                Some(Ok(false)) => continue, // end of file: idle on pings from now on
                Some(Err(e)) => {
                    tracing::error!(error = %e, "replay: cannot read the events file");
                    return Exit::close(close_code::ERROR, "replay file unreadable");
                }
            }
            let Some(message) = self.message(source.current()) else { continue };
            if let Some(pacer) = pacer.as_mut() {
                while let Some(wait) = pacer.take() {
                    if let Err(exit) = self.flush().await {
                        return exit;
                    }
                    tokio::time::sleep(wait).await;
                }
            }
            if let Err(exit) = self.send(message).await {
                return exit;
            }
            self.sent += 1;
            self.shared.events_sent.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The message for one line, or `None` when the filter or size limit skips it.
    fn message(&self, line: &[u8]) -> Option<Message> {
        if !self.filter.borrow().wants(Envelope::parse(line).as_ref()) {
            return None;
        }
        let message = if self.compress {
            match compress(line) {
                Ok(frame) => Message::Binary(frame.into()),
                Err(e) => {
                    tracing::warn!(error = %e, "replay: cannot compress an event, skipping it");
                    return None;
                }
            }
        } else {
            match Utf8Bytes::try_from(line.to_vec()) {
                Ok(text) => Message::Text(text),
                Err(_) => {
                    tracing::warn!("replay: skipping a line that is not UTF-8");
                    return None;
                }
            }
        };
        // Jetstream compares the size of what it sends (compressed when compressing).
        let len = match &message {
            Message::Binary(bytes) => bytes.len(),
            Message::Text(text) => text.len(),
            _ => 0,
        };
        self.filter.borrow().fits(len).then_some(message)
    }

    /// Writes one message; it goes out with the next flush (or sooner, when the write
    /// buffer fills). Awaiting this is the backpressure: a slow client slows the reading.
    async fn send(&mut self, message: Message) -> Result<(), Exit> {
        self.sink.feed(message).await.map_err(|_| Exit::Gone)?;
        self.unflushed += 1;
        Ok(())
    }

    async fn flush(&mut self) -> Result<(), Exit> {
        if self.unflushed > 0 {
            self.sink.flush().await.map_err(|_| Exit::Gone)?;
            self.unflushed = 0;
        }
        Ok(())
    }
}
