//! A place inside an item: where a search hit or a cited passage is, so a client can open the
//! item right there (seek the player, outline the box, scroll to the paragraph).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Where something is in its item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Place {
    /// Seconds from the start of a recording or video.
    Time { start: f64, end: f64 },
    /// A box in an image, in its pixels.
    Box {
        x: f32,
        y: f32,
        width: f32,
        height: f32,
    },
    /// A video's keyframe, by its index and time in seconds.
    Keyframe { index: i32, time: f64 },
    /// A text's paragraph, as a byte range of the text.
    Paragraph { start: i32, end: i32 },
}
