//! The eval's measures: character accuracy, line recall, word error rate, key-term coverage and
//! loops, each on normalised text so that every system is scored alike.

use std::collections::{HashMap, HashSet};

/// Lower case, words of letters and digits only, digits 0–12 written out (one recogniser writes
/// "9", another "nine").
pub fn norm_words(text: &str) -> Vec<String> {
    const NUMBERS: [&str; 13] = [
        "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
        "eleven", "twelve",
    ];
    text.to_lowercase()
        .split(|c: char| !c.is_alphanumeric() && c != '\'')
        .map(|w| w.trim_matches('\''))
        .filter(|w| !w.is_empty())
        .map(|w| match w.parse::<usize>() {
            Ok(n) if n < NUMBERS.len() => NUMBERS[n].to_owned(),
            _ => w.to_owned(),
        })
        .collect()
}

/// 1 − character error rate of `read` against `truth` (whitespace runs count as one space),
/// floored at 0.
pub fn char_accuracy(truth: &str, read: &str) -> f64 {
    let t = squeeze(truth);
    let r = squeeze(read);
    if t.is_empty() {
        return if r.is_empty() { 1.0 } else { 0.0 };
    }
    let distance = strsim::levenshtein(&t, &r) as f64;
    (1.0 - distance / t.chars().count() as f64).max(0.0)
}

fn squeeze(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The share of the true lines read with at least 90% character accuracy by some read line.
pub fn line_recall(truth: &[&str], read: &[String]) -> f64 {
    if truth.is_empty() {
        return 1.0;
    }
    let found = truth
        .iter()
        .filter(|t| read.iter().any(|r| char_accuracy(t, r) >= 0.9))
        .count();
    found as f64 / truth.len() as f64
}

/// Whether the words of every true line keep their spaces: no two neighbouring true words are
/// read run together.
pub fn spaces_kept(truth: &[&str], read: &str) -> bool {
    let read = read.to_lowercase();
    truth.iter().all(|line| {
        let words: Vec<String> = line.split_whitespace().map(str::to_lowercase).collect();
        words
            .windows(2)
            .all(|w| !read.contains(&format!("{}{}", w[0], w[1])))
    })
}

/// Word error rate of `heard` against `truth`, on normalised words.
pub fn wer(truth: &str, heard: &str) -> f64 {
    let t = norm_words(truth);
    let h = norm_words(heard);
    if t.is_empty() {
        return if h.is_empty() { 0.0 } else { 1.0 };
    }
    strsim::generic_levenshtein(&t, &h) as f64 / t.len() as f64
}

/// The source's key terms: its most frequent words of five letters or more that are not
/// function words, at most `n`.
pub fn key_terms(source: &str, n: usize) -> Vec<String> {
    const COMMON: &[&str] = &[
        "about", "after", "again", "their", "there", "these", "those", "which", "while", "would",
        "could", "should", "every", "other", "where", "being", "because", "through", "before",
    ];
    let mut counts: HashMap<String, usize> = HashMap::new();
    for w in norm_words(source) {
        if w.len() >= 5 && !COMMON.contains(&w.as_str()) {
            *counts.entry(stem(&w)).or_default() += 1;
        }
    }
    let mut terms: Vec<(String, usize)> = counts.into_iter().filter(|(_, c)| *c >= 2).collect();
    terms.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    terms.into_iter().take(n).map(|(w, _)| w).collect()
}

/// The share of `terms` the summary mentions.
pub fn coverage(terms: &[String], summary: &str) -> f64 {
    if terms.is_empty() {
        return 1.0;
    }
    let said: HashSet<String> = norm_words(summary).iter().map(|w| stem(w)).collect();
    terms.iter().filter(|t| said.contains(*t)).count() as f64 / terms.len() as f64
}

fn stem(word: &str) -> String {
    for suffix in ["ing", "es", "ed", "s"] {
        if let Some(base) = word.strip_suffix(suffix) {
            if base.len() >= 4 {
                return base.to_owned();
            }
        }
    }
    word.to_owned()
}

/// Whether a text repeats itself: a sentence said twice, or a run of six words said three
/// times.
pub fn loops(text: &str) -> bool {
    let sentences: Vec<String> = text
        .split(['.', '!', '?', '\n'])
        .map(|s| norm_words(s).join(" "))
        .filter(|s| s.split(' ').count() >= 4)
        .collect();
    let unique: HashSet<&String> = sentences.iter().collect();
    if unique.len() < sentences.len() {
        return true;
    }
    let words = norm_words(text);
    let mut runs: HashMap<&[String], usize> = HashMap::new();
    for w in words.windows(6) {
        let n = runs.entry(w).or_default();
        *n += 1;
        if *n >= 3 {
            return true;
        }
    }
    false
}

/// Whether a text ends at a sentence's end.
pub fn ends_a_sentence(text: &str) -> bool {
    text.trim_end().ends_with(['.', '!', '?', '…', '"', '”'])
}
