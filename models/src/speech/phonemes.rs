//! Text to IPA phonemes the way Piper does it: the text is cut into clauses, each clause is
//! phonemised by the `espeak-ng` program (run as a subprocess, never linked: it is GPL), and the
//! clause's punctuation is put back after its phonemes, because the espeak-ng command line drops
//! it. Sentences (clauses ending in `.`, `?`, `!` or a blank line) are what Piper synthesises one
//! at a time.

use std::collections::VecDeque;
use std::time::Duration;

use unicode_normalization::UnicodeNormalization;

use super::SpeechError;
use crate::process::{self, Running};

/// The program that turns text into IPA.
pub const ESPEAK: &str = "espeak-ng";
/// The longest text accepted, in characters (about five minutes of speech).
pub const MAX_TEXT_CHARS: usize = 5_000;
/// How long one espeak-ng run may take by default: a guard against a hung program, not a speed
/// limit (a run that takes a fraction of a second alone took over 10 s on a saturated machine).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// Most IPA kept from one run; espeak-ng writes a few bytes per input character.
const STDOUT_CAP: usize = 1 << 20;
/// espeak-ng runs in flight at once: each mostly waits on start-up, not on the CPU.
const PARALLEL_RUNS: usize = 4;

/// How a clause ends, which decides the punctuation put after its phonemes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClauseEnd {
    /// `.` (also `...`): ends the sentence.
    Period,
    /// `?`: ends the sentence.
    Question,
    /// `!`: ends the sentence.
    Exclamation,
    /// `,` (also `…`): a pause inside the sentence.
    Comma,
    /// `:`: a pause inside the sentence.
    Colon,
    /// `;`: a pause inside the sentence.
    Semicolon,
    /// A blank line or the end of the text without punctuation: ends the sentence, adds nothing.
    Break,
}

impl ClauseEnd {
    /// What follows the clause's phonemes: `. ? !` alone, `, : ;` with a space (as Piper does).
    pub fn suffix(self) -> &'static str {
        match self {
            ClauseEnd::Period => ".",
            ClauseEnd::Question => "?",
            ClauseEnd::Exclamation => "!",
            ClauseEnd::Comma => ", ",
            ClauseEnd::Colon => ": ",
            ClauseEnd::Semicolon => "; ",
            ClauseEnd::Break => "",
        }
    }

    /// True when the clause closes its sentence.
    pub fn ends_sentence(self) -> bool {
        matches!(
            self,
            ClauseEnd::Period | ClauseEnd::Question | ClauseEnd::Exclamation | ClauseEnd::Break
        )
    }
}

/// One clause of the source text, whitespace collapsed, with its punctuation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Clause {
    /// The clause's text, including its closing punctuation.
    pub text: String,
    /// How it ends.
    pub end: ClauseEnd,
}

/// One sentence ready for the voice: its source text and its phonemes (IPA, NFD, with the
/// clauses' punctuation).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sentence {
    /// The source text of the sentence's clauses, joined by spaces.
    pub text: String,
    /// Its phonemes.
    pub phonemes: String,
}

/// Phonemises text with one espeak-ng voice.
#[derive(Clone, Debug)]
pub struct Phonemizer {
    voice: String,
    timeout: Duration,
}

impl Phonemizer {
    /// A phonemiser for an espeak-ng voice such as `en-us`. The name must be letters, digits and
    /// `- _ + /`, and may not start with `-` or `/`, so it can never be read as an option or a path.
    pub fn new(voice: &str) -> Result<Self, SpeechError> {
        let valid = !voice.is_empty()
            && voice.len() <= 64
            && !voice.starts_with(['-', '/'])
            && !voice.contains("//")
            && voice
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '+' | '/'));
        if !valid {
            return Err(SpeechError::InvalidVoice(voice.to_owned()));
        }
        Ok(Phonemizer {
            voice: voice.to_owned(),
            timeout: DEFAULT_TIMEOUT,
        })
    }

    /// The same phonemiser with another time limit for each espeak-ng run.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The espeak-ng voice.
    pub fn voice(&self) -> &str {
        &self.voice
    }

    /// The text's sentences with their phonemes. Empty or blank text gives no sentences, and so
    /// does text espeak-ng has no phonemes for; text over [`MAX_TEXT_CHARS`] is refused.
    pub fn phonemize(&self, text: &str) -> Result<Vec<Sentence>, SpeechError> {
        check_length(text)?;
        let clauses = split_clauses(text);
        let ipa = self.clauses_ipa(&clauses)?;
        Ok(assemble(&clauses, &ipa))
    }

    /// The cleaned IPA of each clause, without punctuation; espeak-ng runs overlap a little.
    fn clauses_ipa(&self, clauses: &[Clause]) -> Result<Vec<String>, SpeechError> {
        let mut out = vec![String::new(); clauses.len()];
        let mut running: VecDeque<(usize, Running)> = VecDeque::new();
        for (i, clause) in clauses.iter().enumerate() {
            if !has_speakable_chars(&clause.text) {
                continue;
            }
            if running.len() >= PARALLEL_RUNS {
                if let Some((j, run)) = running.pop_front() {
                    out[j] = self.collect(run)?;
                }
            }
            running.push_back((i, self.start(&clause.text)?));
        }
        while let Some((j, run)) = running.pop_front() {
            out[j] = self.collect(run)?;
        }
        Ok(out)
    }

    /// Starts espeak-ng on one clause. The text goes in on stdin, so text that starts with `-`
    /// is never read as an option; `--stdin` reads it whole instead of line by line.
    fn start(&self, text: &str) -> Result<Running, SpeechError> {
        let args = ["-q", "--ipa", "-v", self.voice.as_str(), "--stdin"];
        let running = process::spawn(
            ESPEAK,
            &args,
            Some(text.as_bytes().to_vec()),
            self.timeout,
            STDOUT_CAP,
        )?;
        Ok(running)
    }

    fn collect(&self, run: Running) -> Result<String, SpeechError> {
        let out = run.finish()?;
        if !out.status.success() {
            return Err(SpeechError::ToolFailed {
                tool: ESPEAK,
                message: format!("{} ({})", out.stderr_summary(), out.status),
            });
        }
        if out.stdout_overflowed {
            return Err(SpeechError::ToolFailed {
                tool: ESPEAK,
                message: format!("wrote more than {STDOUT_CAP} bytes of phonemes for one clause"),
            });
        }
        Ok(clean_ipa(&String::from_utf8_lossy(&out.stdout)))
    }
}

/// Refuses text over [`MAX_TEXT_CHARS`] characters.
pub fn check_length(text: &str) -> Result<(), SpeechError> {
    // A cheap bound first: a string of at most MAX_TEXT_CHARS bytes cannot be too long.
    if text.len() > MAX_TEXT_CHARS {
        let chars = text.chars().count();
        if chars > MAX_TEXT_CHARS {
            return Err(SpeechError::TextTooLong {
                chars,
                limit: MAX_TEXT_CHARS,
            });
        }
    }
    Ok(())
}

/// Cuts text into clauses at `. ? ! , : ; …` followed by whitespace or the end (closing quotes
/// and brackets may sit in between), and at blank lines. Control characters become spaces and
/// whitespace is collapsed; blank clauses are dropped.
pub fn split_clauses(text: &str) -> Vec<Clause> {
    let chars: Vec<char> = text.chars().collect();
    let n = chars.len();
    let mut clauses = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < n {
        let c = chars[i];
        if c == '\n' {
            let mut j = i + 1;
            while j < n && chars[j].is_whitespace() && chars[j] != '\n' {
                j += 1;
            }
            if j < n && chars[j] == '\n' {
                push_clause(&mut clauses, &chars[start..i], ClauseEnd::Break);
                while j < n && chars[j].is_whitespace() {
                    j += 1;
                }
                start = j;
                i = j;
                continue;
            }
        }
        if terminator(c).is_some() {
            let mut j = i;
            while j < n && terminator(chars[j]).is_some() {
                j += 1;
            }
            let mut k = j;
            while k < n && is_closer(chars[k]) {
                k += 1;
            }
            let wide = chars[i..j].iter().any(|&c| is_fullwidth(c));
            if k == n || chars[k].is_whitespace() || wide {
                push_clause(&mut clauses, &chars[start..k], classify(&chars[i..j]));
                start = k;
            }
            i = k.max(i + 1);
            continue;
        }
        i += 1;
    }
    push_clause(&mut clauses, &chars[start..n], ClauseEnd::Break);
    clauses
}

fn push_clause(clauses: &mut Vec<Clause>, chars: &[char], end: ClauseEnd) {
    let mut text = String::with_capacity(chars.len());
    for &c in chars {
        if c.is_whitespace() || c.is_control() {
            if !text.is_empty() && !text.ends_with(' ') {
                text.push(' ');
            }
        } else {
            text.push(c);
        }
    }
    let text = text.trim_end().to_owned();
    if !text.is_empty() {
        clauses.push(Clause { text, end });
    }
}

/// The clause end a punctuation mark stands for, if it ends clauses.
fn terminator(c: char) -> Option<ClauseEnd> {
    Some(match c {
        '.' | '。' | '．' => ClauseEnd::Period,
        '?' | '？' => ClauseEnd::Question,
        '!' | '！' => ClauseEnd::Exclamation,
        ',' | '，' | '、' | '…' => ClauseEnd::Comma,
        ':' | '：' => ClauseEnd::Colon,
        ';' | '；' => ClauseEnd::Semicolon,
        _ => return None,
    })
}

/// Full-width marks end a clause even with no space after them (CJK text has none).
fn is_fullwidth(c: char) -> bool {
    matches!(c, '。' | '．' | '？' | '！' | '，' | '、' | '：' | '；')
}

fn is_closer(c: char) -> bool {
    matches!(
        c,
        '"' | '\'' | ')' | ']' | '}' | '”' | '’' | '»' | '›' | '」' | '』'
    )
}

/// A run of marks such as `?!` or `...`: a question or exclamation wins, otherwise the last mark.
fn classify(run: &[char]) -> ClauseEnd {
    let ends: Vec<ClauseEnd> = run.iter().filter_map(|&c| terminator(c)).collect();
    if ends.contains(&ClauseEnd::Question) {
        ClauseEnd::Question
    } else if ends.contains(&ClauseEnd::Exclamation) {
        ClauseEnd::Exclamation
    } else {
        ends.last().copied().unwrap_or(ClauseEnd::Break)
    }
}

/// False for clauses of nothing but punctuation, which espeak-ng would say nothing for.
fn has_speakable_chars(text: &str) -> bool {
    text.chars()
        .any(|c| !c.is_whitespace() && terminator(c).is_none() && !is_closer(c))
}

/// espeak-ng's output for one clause made ready for the voice: lines joined by spaces, NFD,
/// "(lang)" switch marks dropped, and `_`, the tie U+0361 and ZWJ U+200D (which the voice has no
/// ids for) removed.
pub fn clean_ipa(raw: &str) -> String {
    let joined = raw
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    let mut out = String::with_capacity(joined.len());
    let mut in_lang = false;
    for c in joined.nfd() {
        if in_lang {
            in_lang = c != ')';
            continue;
        }
        match c {
            '(' => in_lang = true,
            '_' | '\u{361}' | '\u{200D}' => {}
            c if c.is_whitespace() || c.is_control() => {
                if !out.is_empty() && !out.ends_with(' ') {
                    out.push(' ');
                }
            }
            c => out.push(c),
        }
    }
    out.trim_end().to_owned()
}

/// Joins clauses into sentences, putting each clause's punctuation after its phonemes. Clauses
/// with no phonemes are left out, punctuation included.
fn assemble(clauses: &[Clause], ipa: &[String]) -> Vec<Sentence> {
    let mut sentences = Vec::new();
    let mut text = String::new();
    let mut phonemes = String::new();
    for (clause, ipa) in clauses.iter().zip(ipa) {
        if !text.is_empty() {
            text.push(' ');
        }
        text.push_str(&clause.text);
        if !ipa.is_empty() {
            phonemes.push_str(ipa);
            phonemes.push_str(clause.end.suffix());
        }
        if clause.end.ends_sentence() {
            flush(&mut sentences, &mut text, &mut phonemes);
        }
    }
    flush(&mut sentences, &mut text, &mut phonemes);
    sentences
}

fn flush(sentences: &mut Vec<Sentence>, text: &mut String, phonemes: &mut String) {
    if !phonemes.trim().is_empty() {
        sentences.push(Sentence {
            text: std::mem::take(text),
            phonemes: std::mem::take(phonemes),
        });
    }
    text.clear();
    phonemes.clear();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ends(text: &str) -> Vec<(String, ClauseEnd)> {
        split_clauses(text)
            .into_iter()
            .map(|c| (c.text, c.end))
            .collect()
    }

    #[test]
    fn clauses_split_at_punctuation_followed_by_space() {
        assert_eq!(
            ends("Hello world, this is pi: 3.14. Is it?! \"Yes.\" Done"),
            vec![
                ("Hello world,".to_owned(), ClauseEnd::Comma),
                ("this is pi:".to_owned(), ClauseEnd::Colon),
                ("3.14.".to_owned(), ClauseEnd::Period),
                ("Is it?!".to_owned(), ClauseEnd::Question),
                ("\"Yes.\"".to_owned(), ClauseEnd::Period),
                ("Done".to_owned(), ClauseEnd::Break),
            ]
        );
    }

    #[test]
    fn blank_lines_end_sentences_and_whitespace_collapses() {
        assert_eq!(
            ends("  one\ntwo \n \n\tthree\u{1}four  "),
            vec![
                ("one two".to_owned(), ClauseEnd::Break),
                ("three four".to_owned(), ClauseEnd::Break),
            ]
        );
        assert!(ends(" \n\t ").is_empty());
    }

    #[test]
    fn cleaning_drops_language_marks_and_unmapped_joiners() {
        assert_eq!(
            clean_ipa("(fr)bɔ̃ʒuʁ(en) t\u{361}ʃ_a\u{200D}b\n  second  line \n"),
            "bɔ̃ʒuʁ tʃab second line"
        );
        // NFD: a precomposed letter becomes its base and a combining mark.
        assert_eq!(clean_ipa("ç"), "c\u{327}");
    }

    #[test]
    fn sentences_get_their_clauses_punctuation() {
        let clauses = split_clauses("Hi there, you. Fine? x");
        let ipa = vec![
            "a".to_owned(),
            "b".to_owned(),
            "c".to_owned(),
            String::new(),
        ];
        let s = assemble(&clauses, &ipa);
        assert_eq!(
            s.iter().map(|s| s.phonemes.as_str()).collect::<Vec<_>>(),
            ["a, b.", "c?"]
        );
        assert_eq!(s[0].text, "Hi there, you.");
    }

    #[test]
    fn voice_names_that_could_be_options_are_refused() {
        for bad in ["", "-x", "--help", "/etc/passwd", "en us", "en;rm", "../x"] {
            assert!(Phonemizer::new(bad).is_err(), "{bad:?} accepted");
        }
        assert!(Phonemizer::new("en-us").is_ok());
    }
}
