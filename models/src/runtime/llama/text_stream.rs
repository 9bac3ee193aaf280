//! The text stream: token bytes to streamed text, safe for UTF-8 and for stop texts.

use std::ops::ControlFlow;

/// What happened to a piece pushed into a [`TextStream`].
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Pushed {
    /// The completion goes on.
    Open,
    /// A stop text appeared; the text before it was streamed.
    Stopped,
    /// The callback asked to stop.
    Refused,
}

/// Turns token bytes into streamed text: holds back incomplete UTF-8 sequences and any tail
/// that could be the start of a stop text, and cuts the text at the first stop text.
pub(super) struct TextStream<'s> {
    stops: Vec<&'s str>,
    longest_stop: usize,
    pending: Vec<u8>,
    text: String,
    emitted: usize,
}

impl<'s> TextStream<'s> {
    pub(super) fn new(stops: &'s [String]) -> Self {
        let stops: Vec<&str> = stops
            .iter()
            .map(String::as_str)
            .filter(|s| !s.is_empty())
            .collect();
        let longest_stop = stops.iter().map(|s| s.len()).max().unwrap_or(0);
        TextStream {
            stops,
            longest_stop,
            pending: Vec::new(),
            text: String::new(),
            emitted: 0,
        }
    }

    pub(super) fn push(
        &mut self,
        bytes: &[u8],
        sink: &mut impl FnMut(&str) -> ControlFlow<()>,
    ) -> Pushed {
        self.pending.extend_from_slice(bytes);
        self.decode_pending(false);

        let mut from = self.emitted.saturating_sub(self.longest_stop);
        while !self.text.is_char_boundary(from) {
            from -= 1;
        }
        let found = self
            .stops
            .iter()
            .filter_map(|stop| self.text[from..].find(stop).map(|i| from + i))
            .min();
        if let Some(at) = found {
            let at = at.max(self.emitted);
            self.text.truncate(at);
            // The stop is final even if the callback refuses this last piece.
            let _ = self.emit(at, sink);
            return Pushed::Stopped;
        }

        let held = self.held_back();
        match self.emit(self.text.len() - held, sink) {
            ControlFlow::Continue(()) => Pushed::Open,
            ControlFlow::Break(()) => Pushed::Refused,
        }
    }

    /// The length of the longest tail of the unstreamed text that begins some stop text.
    fn held_back(&self) -> usize {
        let tail = &self.text.as_bytes()[self.emitted..];
        self.stops
            .iter()
            .flat_map(|stop| {
                (1..stop.len().min(tail.len() + 1))
                    .rev()
                    .find(|&k| tail.ends_with(&stop.as_bytes()[..k]))
            })
            .filter(|&k| self.text.is_char_boundary(self.text.len() - k))
            .max()
            .unwrap_or(0)
    }

    fn emit(
        &mut self,
        end: usize,
        sink: &mut impl FnMut(&str) -> ControlFlow<()>,
    ) -> ControlFlow<()> {
        if end <= self.emitted {
            return ControlFlow::Continue(());
        }
        let Some(piece) = self.text.get(self.emitted..end) else {
            return ControlFlow::Continue(());
        };
        self.emitted = end;
        sink(piece)
    }

    /// Streams everything held back (an unfinished UTF-8 sequence becomes U+FFFD).
    pub(super) fn flush(&mut self, sink: &mut impl FnMut(&str) -> ControlFlow<()>) {
        self.decode_pending(true);
        let _ = self.emit(self.text.len(), sink);
    }

    fn decode_pending(&mut self, last: bool) {
        loop {
            match std::str::from_utf8(&self.pending) {
                Ok(s) => {
                    self.text.push_str(s);
                    self.pending.clear();
                    return;
                }
                Err(e) => {
                    let valid = e.valid_up_to();
                    if let Ok(s) = std::str::from_utf8(&self.pending[..valid]) {
                        self.text.push_str(s);
                    }
                    match e.error_len() {
                        Some(bad) => {
                            self.text.push(char::REPLACEMENT_CHARACTER);
                            self.pending.drain(..valid + bad);
                        }
                        None if last => {
                            self.text.push(char::REPLACEMENT_CHARACTER);
                            self.pending.clear();
                            return;
                        }
                        None => {
                            self.pending.drain(..valid);
                            return;
                        }
                    }
                }
            }
        }
    }

    /// The streamed text.
    pub(super) fn into_text(mut self) -> String {
        self.text.truncate(self.emitted);
        self.text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(pieces: &[&[u8]], stops: &[&str]) -> (Vec<String>, String, Pushed) {
        let stops: Vec<String> = stops.iter().map(|s| s.to_string()).collect();
        let mut stream = TextStream::new(&stops);
        let mut out = Vec::new();
        let mut last = Pushed::Open;
        for piece in pieces {
            last = stream.push(piece, &mut |s: &str| {
                out.push(s.to_owned());
                ControlFlow::Continue(())
            });
            if last != Pushed::Open {
                break;
            }
        }
        if last == Pushed::Open {
            stream.flush(&mut |s: &str| {
                out.push(s.to_owned());
                ControlFlow::Continue(())
            });
        }
        (out, stream.into_text(), last)
    }

    #[test]
    fn multi_byte_characters_split_across_tokens_are_streamed_whole() {
        let snowman = "☃".as_bytes();
        let (out, text, _) = run(
            &[b"a", &snowman[..1], &snowman[1..2], &snowman[2..], b"b"],
            &[],
        );
        assert_eq!(text, "a☃b");
        assert!(out.iter().all(|p| !p.is_empty()));
        assert_eq!(out, vec!["a", "☃", "b"]);
    }

    #[test]
    fn a_stop_text_split_across_tokens_is_never_streamed() {
        let (out, text, last) = run(&[b"Hello ", b"wor", b"ld", b" again"], &["world"]);
        assert_eq!(last, Pushed::Stopped);
        assert_eq!(text, "Hello ");
        assert_eq!(out.concat(), "Hello ");
    }

    #[test]
    fn a_held_back_prefix_that_is_not_a_stop_is_streamed_later() {
        let (out, text, last) = run(&[b"Hello wor", b"m"], &["world"]);
        assert_eq!(last, Pushed::Open);
        assert_eq!(text, "Hello worm");
        assert_eq!(out, vec!["Hello ", "worm"]);
    }

    #[test]
    fn invalid_utf8_becomes_replacement_characters() {
        let (_, text, _) = run(&[b"a\xff", b"\xe2\x98"], &[]);
        assert_eq!(text, "a\u{FFFD}\u{FFFD}");
    }
}
