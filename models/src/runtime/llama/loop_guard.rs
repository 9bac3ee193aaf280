//! The loop guard: catches a generation that has started to repeat itself and keeps the
//! repetition from ever being streamed.
//!
//! The sampler's repetition controls (penalties and DRY) make loops rare; this is the net under
//! them. A token that continues a repetition of earlier tokens waits here; any other token
//! streams at once, with whatever was held before it. A loop is a run of at least [`HOLD`]
//! tokens that repeats, token for token, the run that began at most [`MAX_PERIOD`] tokens
//! earlier: by the time one is found, the repeated tokens are all still held, so they are
//! dropped and the reader sees the text up to where the repetition began.

use std::collections::VecDeque;

/// The shortest repeated run that is a loop.
pub(super) const HOLD: usize = 16;
/// The longest repeated block (in tokens) the guard looks for.
const MAX_PERIOD: usize = 192;

/// Tokens generated so far, and the held-back pieces of the newest of them.
pub(super) struct LoopGuard {
    tokens: Vec<i32>,
    held: VecDeque<Vec<u8>>,
}

/// What the guard decided about a new token.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Guarded {
    /// These held pieces may now be streamed, oldest first.
    Release(Vec<Vec<u8>>),
    /// The generation is repeating itself: stream these held pieces (those before the
    /// repetition), drop the rest, and stop.
    Loop(Vec<Vec<u8>>),
}

impl LoopGuard {
    pub(super) fn new() -> Self {
        LoopGuard {
            tokens: Vec::new(),
            held: VecDeque::with_capacity(HOLD),
        }
    }

    /// Takes a token and its text; says whether the generation loops, or which piece is due.
    pub(super) fn push(&mut self, token: i32, piece: &[u8]) -> Guarded {
        self.tokens.push(token);
        self.held.push_back(piece.to_vec());
        let run = repeating_run(&self.tokens);
        // Only the tokens of a repetition in progress are held; the rest stream at once.
        let before = self.held.len().saturating_sub(run);
        let free = self.held.drain(..before).collect();
        if run >= HOLD {
            self.held.clear();
            return Guarded::Loop(free);
        }
        Guarded::Release(free)
    }

    /// Everything still held, oldest first, for the end of a generation that did not loop.
    pub(super) fn drain(&mut self) -> impl Iterator<Item = Vec<u8>> + '_ {
        self.held.drain(..)
    }
}

/// The length of the longest run at the end of `tokens` that equals the run `period` tokens
/// before it, over every period up to [`MAX_PERIOD`]; 0 when the end repeats nothing.
fn repeating_run(tokens: &[i32]) -> usize {
    let n = tokens.len();
    let mut longest = 0;
    for period in 1..=MAX_PERIOD.min(n.saturating_sub(1)) {
        // How far back from the end tokens[i] == tokens[i - period] holds without a break.
        let run = (0..n - period)
            .rev()
            .take_while(|&i| tokens[i + period] == tokens[i])
            .count();
        longest = longest.max(run);
        if longest >= HOLD {
            break;
        }
    }
    longest
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(tokens: &[i32]) -> (Vec<i32>, bool) {
        let mut guard = LoopGuard::new();
        let mut out = Vec::new();
        for &t in tokens {
            match guard.push(t, &t.to_le_bytes()) {
                Guarded::Release(free) => {
                    for p in free {
                        out.push(i32::from_le_bytes(p.try_into().expect("4 bytes")));
                    }
                }
                Guarded::Loop(kept) => {
                    for p in kept {
                        out.push(i32::from_le_bytes(p.try_into().expect("4 bytes")));
                    }
                    return (out, true);
                }
            }
        }
        for p in guard.drain() {
            out.push(i32::from_le_bytes(p.try_into().expect("4 bytes")));
        }
        (out, false)
    }

    #[test]
    fn text_that_does_not_repeat_passes_whole() {
        let tokens: Vec<i32> = (0..300).collect();
        assert_eq!(feed(&tokens), (tokens.clone(), false));
    }

    #[test]
    fn a_repeated_sentence_is_cut_where_its_copy_begins() {
        let sentence: Vec<i32> = (100..140).collect();
        let mut tokens: Vec<i32> = (0..10).collect();
        for _ in 0..7 {
            tokens.extend(&sentence);
        }
        let (shown, looped) = feed(&tokens);
        assert!(looped);
        let mut first: Vec<i32> = (0..10).collect();
        first.extend(&sentence);
        assert_eq!(shown, first, "exactly one copy is shown");
    }

    #[test]
    fn a_short_word_said_twice_is_no_loop() {
        // "very very", "ha ha ha": repeated, but far shorter than a held run.
        let mut tokens: Vec<i32> = (0..20).collect();
        tokens.extend([7, 7, 7, 8, 9, 8, 9]);
        tokens.extend(30..60);
        assert!(!feed(&tokens).1);
    }

    #[test]
    fn a_one_token_stutter_is_a_loop() {
        let mut tokens: Vec<i32> = (0..5).collect();
        tokens.extend(std::iter::repeat_n(42, 40));
        let (shown, looped) = feed(&tokens);
        assert!(looped);
        assert_eq!(
            shown,
            vec![0, 1, 2, 3, 4, 42],
            "the first 42 is no repetition yet"
        );
    }
}
