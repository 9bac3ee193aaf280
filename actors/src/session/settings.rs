//! Limits and timers of a WebSocket session.

use std::time::Duration;

/// Limits and timers of every session; one value per node, from configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionSettings {
    /// How often the server pings the client.
    pub heartbeat_interval: Duration,
    /// The session closes (`idle_timeout`) when nothing, not even a pong, came for this long.
    pub idle_timeout: Duration,
    /// An unauthenticated session closes (`auth_timeout`) after this long.
    pub auth_timeout: Duration,
    /// Frames (and reassembled fragmented messages) larger than this close the session.
    pub max_frame_bytes: usize,
    /// Frames waiting for a slow client; one more than this closes the session (`slow_consumer`)
    /// rather than growing server memory.
    pub outbound_queue: usize,
    /// How long to try to deliver a close frame to a client that does not read.
    pub close_timeout: Duration,
    /// How long catch-up (resume) waits for the client to read its frames before the session
    /// closes as `slow_consumer`.
    pub write_timeout: Duration,
    /// Messages a client may send per second, sustained (token bucket refill rate).
    pub messages_per_second: u32,
    /// Messages a client may send at once (token bucket size).
    pub message_burst: u32,
    /// Refused messages in a row (no accepted one in between) after which the session closes
    /// (`rate_limited`).
    pub flood_close_after: u32,
}

impl Default for SessionSettings {
    fn default() -> Self {
        Self {
            heartbeat_interval: Duration::from_secs(15),
            idle_timeout: Duration::from_secs(45),
            auth_timeout: Duration::from_secs(10),
            max_frame_bytes: 64 * 1024,
            outbound_queue: 256,
            close_timeout: Duration::from_secs(5),
            write_timeout: Duration::from_secs(10),
            messages_per_second: 20,
            message_burst: 40,
            flood_close_after: 20,
        }
    }
}
