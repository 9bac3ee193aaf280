//! A minimal walk over the box structure of MP4/QuickTime files: enough to tell audio-only files
//! from videos without an external tool, and to catch truncated files, which demuxers often play
//! up to the cut without complaint.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use super::sniff::IsoBrand;
use super::MediaError;

/// Boxes per level looked at before giving up; real files have a handful.
const MAX_BOXES: usize = 100_000;

/// What the tracks of a well-formed file hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Tracks {
    Video,
    AudioOnly,
}

struct BoxHeader {
    kind: [u8; 4],
    payload: u64,
    end: u64,
}

/// Checks that the top-level boxes exactly fill the file, finds `moov`, and reads the handler
/// type of each track.
pub(crate) fn inspect(path: &Path, brand: IsoBrand) -> Result<Tracks, MediaError> {
    let corrupt = |msg: &str| match brand {
        IsoBrand::M4a => MediaError::CorruptAudio(msg.to_owned()),
        _ => MediaError::CorruptVideo(msg.to_owned()),
    };
    let mut file = File::open(path)?;
    let len = file.metadata()?.len();

    let top = children(&mut file, 0, len).map_err(|e| e.into_media(&corrupt))?;
    let moov = top
        .iter()
        .find(|b| &b.kind == b"moov")
        .ok_or_else(|| corrupt("the file has no movie header (moov box); it may be truncated"))?;

    let (mut video, mut audio) = (false, false);
    let traks = children(&mut file, moov.payload, moov.end).map_err(|e| e.into_media(&corrupt))?;
    for trak in traks.iter().filter(|b| &b.kind == b"trak") {
        let inner =
            children(&mut file, trak.payload, trak.end).map_err(|e| e.into_media(&corrupt))?;
        let Some(mdia) = inner.iter().find(|b| &b.kind == b"mdia") else {
            continue;
        };
        let inner =
            children(&mut file, mdia.payload, mdia.end).map_err(|e| e.into_media(&corrupt))?;
        let Some(hdlr) = inner.iter().find(|b| &b.kind == b"hdlr") else {
            continue;
        };
        // Full box: version and flags (4), pre_defined (4), then the handler type.
        if hdlr.end < hdlr.payload + 12 {
            return Err(corrupt("a track's handler box is too short"));
        }
        let mut handler = [0u8; 4];
        file.seek(SeekFrom::Start(hdlr.payload + 8))?;
        file.read_exact(&mut handler)?;
        match &handler {
            b"vide" => video = true,
            b"soun" => audio = true,
            _ => {}
        }
    }
    match (video, audio) {
        (true, _) => Ok(Tracks::Video),
        (false, true) => Ok(Tracks::AudioOnly),
        (false, false) => Err(MediaError::UnsupportedType(
            "the MP4 file has neither a video nor an audio track".into(),
        )),
    }
}

enum WalkError {
    Io(std::io::Error),
    Malformed(&'static str),
}

impl WalkError {
    fn into_media(self, corrupt: &dyn Fn(&str) -> MediaError) -> MediaError {
        match self {
            WalkError::Io(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                corrupt("the file ends inside a box header")
            }
            WalkError::Io(e) => MediaError::Io(e),
            WalkError::Malformed(msg) => corrupt(msg),
        }
    }
}

impl From<std::io::Error> for WalkError {
    fn from(e: std::io::Error) -> Self {
        WalkError::Io(e)
    }
}

/// The boxes that exactly fill `start..end`.
fn children(file: &mut File, start: u64, end: u64) -> Result<Vec<BoxHeader>, WalkError> {
    let mut boxes = Vec::new();
    let mut pos = start;
    while pos < end {
        if boxes.len() >= MAX_BOXES {
            return Err(WalkError::Malformed("too many boxes"));
        }
        if end - pos < 8 {
            return Err(WalkError::Malformed("stray bytes after the last box"));
        }
        file.seek(SeekFrom::Start(pos))?;
        let mut header = [0u8; 8];
        file.read_exact(&mut header)?;
        let size32 = u32::from_be_bytes([header[0], header[1], header[2], header[3]]);
        let kind = [header[4], header[5], header[6], header[7]];
        let (size, header_len) = match size32 {
            // Size 0: the box runs to the end of its parent.
            0 => (end - pos, 8),
            1 => {
                let mut large = [0u8; 8];
                file.read_exact(&mut large)?;
                (u64::from_be_bytes(large), 16)
            }
            n => (u64::from(n), 8),
        };
        if size < header_len {
            return Err(WalkError::Malformed("a box is smaller than its header"));
        }
        let box_end = pos
            .checked_add(size)
            .ok_or(WalkError::Malformed("a box size overflows"))?;
        if box_end > end {
            return Err(WalkError::Malformed(
                "a box runs past the end of the file; it is probably truncated",
            ));
        }
        boxes.push(BoxHeader {
            kind,
            payload: pos + header_len,
            end: box_end,
        });
        pos = box_end;
    }
    Ok(boxes)
}
