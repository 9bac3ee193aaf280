//! Command-line conventions of ffmpeg and ffprobe shared by media, video and speech.

use std::ffi::OsString;
use std::path::Path;

/// The argument naming a file to read or write: the `file:` protocol keeps a name such as
/// `concat:x` or `-y` from being read as a protocol or an option.
pub(crate) fn file_arg(path: &Path) -> OsString {
    let mut arg = OsString::from("file:");
    arg.push(path.as_os_str());
    arg
}
