//! Full-text search over a clip's title, filename, description and transcript: the one word
//! rule both backends index by, the query language of the owner listing's `q`, and the
//! snippets that show where a clip matched (docs/adr/0017-speech-search.md).
//!
//! The word rule is applied here, in Rust, to documents and queries alike: a word is a maximal
//! run of letters and digits (Unicode), lowercased. The databases only see words joined by
//! spaces (PostgreSQL's `simple` configuration, SQLite's FTS5 `unicode61` tokenizer without
//! diacritic folding), so `memo_2024.wav` is `memo 2024 wav` on both, and nothing a person
//! types can be read as an operator by either.

use std::collections::HashMap;
use std::fmt::Write as _;

use crate::view::ClipView;

/// One timed piece of a clip's transcript.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TranscriptSegment {
    /// Where it starts, in milliseconds from the start of the clip.
    pub start_ms: u64,
    /// Where it ends, in milliseconds from the start of the clip.
    pub end_ms: u64,
    /// What was said.
    pub text: String,
}

/// How much of a transcript is indexed, in characters of its words (about four hours of
/// speech): PostgreSQL refuses a `tsvector` over 1 MB, and a bounded document keeps
/// re-indexing a clip cheap. Words past it are still shown and highlighted, not found.
pub const MAX_INDEXED_TRANSCRIPT_CHARS: usize = 200_000;

/// Byte ranges of the words of `text`.
pub fn word_ranges(text: &str) -> impl Iterator<Item = (usize, usize)> + '_ {
    let mut chars = text.char_indices().peekable();
    std::iter::from_fn(move || {
        let (start, _) = chars.by_ref().find(|(_, c)| c.is_alphanumeric())?;
        let mut end = text.len();
        while let Some(&(i, c)) = chars.peek() {
            if !c.is_alphanumeric() {
                end = i;
                break;
            }
            chars.next();
        }
        Some((start, end))
    })
}

/// The words of `text`, lowercased.
pub fn words(text: &str) -> impl Iterator<Item = String> + '_ {
    word_ranges(text).map(|(s, e)| text[s..e].to_lowercase())
}

/// `text` as the indexes see it: its words, lowercased, joined by single spaces.
pub fn normalize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for word in words(text) {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(&word);
    }
    out
}

/// What one clip contributes to the index, each field already [`normalize`]d.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchDoc {
    /// Title words.
    pub title: String,
    /// Filename words (`memo_2024.wav` is `memo 2024 wav`).
    pub filename: String,
    /// Description words.
    pub description: String,
    /// Transcript words, in segment order, up to [`MAX_INDEXED_TRANSCRIPT_CHARS`].
    pub transcript: String,
    /// When the clip was uploaded (µs since the epoch): SQLite numbers documents by it.
    pub created_at: i64,
}

impl SearchDoc {
    /// The document of a live clip with `transcript`; `None` for a deleted or expired clip, which the
    /// listing never shows.
    pub fn of<'a>(
        view: &ClipView,
        transcript: impl IntoIterator<Item = &'a str>,
    ) -> Option<SearchDoc> {
        if view.is_gone() {
            return None;
        }
        let mut words_of_transcript = String::new();
        for text in transcript {
            for word in words(text) {
                if words_of_transcript.len() + word.len() + 1 > MAX_INDEXED_TRANSCRIPT_CHARS {
                    break;
                }
                if !words_of_transcript.is_empty() {
                    words_of_transcript.push(' ');
                }
                words_of_transcript.push_str(&word);
            }
        }
        Some(SearchDoc {
            title: normalize(view.title.as_deref().unwrap_or("")),
            filename: normalize(&view.served_filename()),
            description: normalize(view.description.as_deref().unwrap_or("")),
            transcript: words_of_transcript,
            created_at: view.created_at,
        })
    }
}

/// Why a search term cannot be searched for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    /// No letter or digit in it (empty, punctuation, emoji).
    #[error("q has nothing to search for: it needs at least one word (letters or digits)")]
    NoWords,
    /// Only words to leave out (`-word`), none to find.
    #[error("q only excludes words (-word): add a word to search for")]
    OnlyExclusions,
}

/// A parsed search term: every `include` phrase must occur in the clip (title, filename,
/// description or transcript, in any of them), no `exclude` phrase may.
///
/// The language, for people and agents alike:
/// - `budget meeting`: both words, anywhere in the clip;
/// - every word matches the start of a word: `mem` finds `memo` and `memories`;
/// - `"next steps"`: those words next to each other, in that order (the last one as a prefix);
///   a run of words joined by punctuation (`memo_2024`, `50%off`) is such a phrase too;
/// - `-draft` (or `-"first draft"`): clips containing it are left out.
///
/// Anything else (`*`, `:`, `(`, `NEAR`, `OR`, …) is either a word or nothing: no input is
/// a syntax error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchQuery {
    include: Vec<Vec<String>>,
    exclude: Vec<Vec<String>>,
}

impl SearchQuery {
    /// Parses what a person typed.
    pub fn parse(input: &str) -> Result<SearchQuery, QueryError> {
        let mut include = Vec::new();
        let mut exclude = Vec::new();
        let mut rest = input;
        loop {
            rest = rest.trim_start();
            if rest.is_empty() {
                break;
            }
            let negated = rest.len() > 1 && rest.starts_with('-');
            if negated {
                rest = &rest[1..];
            }
            let piece;
            if let Some(quoted) = rest.strip_prefix('"') {
                // A phrase runs to the closing quote, or to the end when there is none.
                let end = quoted.find('"').unwrap_or(quoted.len());
                piece = &quoted[..end];
                rest = quoted.get(end + 1..).unwrap_or("");
            } else {
                let end = rest
                    .find(|c: char| c.is_whitespace() || c == '"')
                    .unwrap_or(rest.len());
                piece = &rest[..end];
                rest = &rest[end..];
            }
            let phrase: Vec<String> = words(piece).collect();
            if phrase.is_empty() {
                continue;
            }
            let list = if negated { &mut exclude } else { &mut include };
            if !list.contains(&phrase) {
                list.push(phrase);
            }
        }
        if include.is_empty() {
            return Err(if exclude.is_empty() {
                QueryError::NoWords
            } else {
                QueryError::OnlyExclusions
            });
        }
        Ok(SearchQuery { include, exclude })
    }

    /// The FTS5 query: every phrase quoted (so no word is an operator), the last word of each
    /// a prefix.
    pub fn fts5(&self) -> String {
        let quote = |phrase: &Vec<String>| {
            let mut out = String::from("\"");
            out.push_str(&phrase.join(" ").replace('"', "\"\""));
            out.push_str("\"*");
            out
        };
        let include: Vec<String> = self.include.iter().map(quote).collect();
        let mut out = format!("({})", include.join(" AND "));
        if !self.exclude.is_empty() {
            let exclude: Vec<String> = self.exclude.iter().map(quote).collect();
            let _ = write!(out, " NOT ({})", exclude.join(" OR "));
        }
        out
    }

    /// The FTS5 query of one rank of the listing (see `MatchField::rank`): the whole query,
    /// and a phrase to find in the rank's field but in none of the better ones, through
    /// FTS5's column filters (columns: title, filename, description, transcript).
    pub fn fts5_rank(&self, rank: i64) -> String {
        let any: Vec<String> = self
            .include
            .iter()
            .map(|p| format!("\"{}\"*", p.join(" ").replace('"', "\"\"")))
            .collect();
        let any = any.join(" OR ");
        let whole = self.fts5();
        match rank {
            3 => format!("({whole}) AND ({{title}} : ({any}))"),
            2 => format!("(({whole}) AND ({{filename}} : ({any}))) NOT ({{title}} : ({any}))"),
            1 => format!(
                "(({whole}) AND ({{description}} : ({any}))) NOT ({{title filename}} : ({any}))"
            ),
            _ => format!("({whole}) NOT ({{title filename description}} : ({any}))"),
        }
    }

    /// The `to_tsquery('simple', …)` text of every word to find, each a prefix, phrases
    /// ignored: a superset of the query's matches that a GIN index answers without reading
    /// documents (for estimates).
    pub fn tsquery_words(&self) -> String {
        let words: Vec<String> = self
            .include
            .iter()
            .flatten()
            .map(|w| ts_phrase(std::slice::from_ref(w), ""))
            .collect();
        words.join(" & ")
    }

    /// Whether a phrase to find has more than one word (`"a b"`, `memo_2024`).
    pub fn has_phrase(&self) -> bool {
        self.include.iter().any(|p| p.len() > 1)
    }

    /// The `to_tsquery('simple', …)` text of the whole query.
    pub fn tsquery(&self) -> String {
        let include: Vec<String> = self.include.iter().map(|p| ts_phrase(p, "")).collect();
        let mut out = format!("({})", include.join(" & "));
        if !self.exclude.is_empty() {
            let exclude: Vec<String> = self.exclude.iter().map(|p| ts_phrase(p, "")).collect();
            let _ = write!(out, " & !({})", exclude.join(" | "));
        }
        out
    }

    /// The `to_tsquery('simple', …)` text matching a document whose lexemes of the weights
    /// `weights` (`A` title, `B` filename, `C` description: `"AB"` is either) hold any phrase
    /// to find.
    pub fn tsquery_any(&self, weights: &str) -> String {
        let any: Vec<String> = self.include.iter().map(|p| ts_phrase(p, weights)).collect();
        any.join(" | ")
    }

    /// Where the phrases to find occur in `text`: byte ranges, in order, and how many
    /// different phrases occur.
    fn find(&self, text: &str) -> (Vec<(usize, usize)>, usize) {
        let tokens: Vec<(usize, usize, String)> = word_ranges(text)
            .map(|(s, e)| (s, e, text[s..e].to_lowercase()))
            .collect();
        let mut ranges = Vec::new();
        let mut distinct = 0;
        for phrase in &self.include {
            let n = phrase.len();
            let mut found = false;
            for i in 0..tokens.len().saturating_sub(n - 1) {
                let fits = phrase.iter().enumerate().all(|(k, word)| {
                    let token = &tokens[i + k].2;
                    if k + 1 == n {
                        token.starts_with(word.as_str())
                    } else {
                        token == word
                    }
                });
                if fits {
                    ranges.push((tokens[i].0, tokens[i + n - 1].1));
                    found = true;
                }
            }
            distinct += usize::from(found);
        }
        ranges.sort_unstable();
        // Overlapping occurrences (`a` and `ab` in `abc`) mark one stretch.
        let mut merged: Vec<(usize, usize)> = Vec::with_capacity(ranges.len());
        for (s, e) in ranges {
            match merged.last_mut() {
                Some(last) if s <= last.1 => last.1 = last.1.max(e),
                _ => merged.push((s, e)),
            }
        }
        (merged, distinct)
    }
}

/// One phrase as tsquery text: words joined by `<->`, the last one a prefix, each restricted
/// to `weight` (empty: any).
fn ts_phrase(phrase: &[String], weight: &str) -> String {
    let n = phrase.len();
    let parts: Vec<String> = phrase
        .iter()
        .enumerate()
        .map(|(k, word)| {
            // Words hold letters and digits only; quoting is still done by the book.
            let lexeme = word.replace('\\', "\\\\").replace('\'', "''");
            let prefix = if k + 1 == n { "*" } else { "" };
            let marks = if prefix.is_empty() && weight.is_empty() {
                String::new()
            } else {
                format!(":{prefix}{weight}")
            };
            format!("'{lexeme}'{marks}")
        })
        .collect();
    if n == 1 {
        parts.concat()
    } else {
        format!("({})", parts.join(" <-> "))
    }
}

/// Which of a clip's fields a hit was found in, best first: the listing ranks a clip by the
/// best field holding a word it looked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MatchField {
    /// The title.
    Title,
    /// The filename.
    Filename,
    /// The description.
    Description,
    /// What was said (a transcript segment).
    Transcript,
}

impl MatchField {
    /// The rank a hit in this field gives (ties broken newest first): higher ranks first.
    pub fn rank(self) -> i64 {
        match self {
            MatchField::Title => 3,
            MatchField::Filename => 2,
            MatchField::Description => 1,
            MatchField::Transcript => 0,
        }
    }
}

/// A piece of a snippet: text to show as it is, marked when it is what was searched for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnippetPart {
    /// The text (plain text, never markup).
    pub text: String,
    /// Whether this piece matched the search.
    pub hit: bool,
}

/// Where and how a listed clip matched a search.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchHit {
    /// The best field holding a searched-for word.
    pub field: MatchField,
    /// A short stretch of that field around the first hit, hits marked.
    pub snippet: Vec<SnippetPart>,
    /// For a transcript hit: where the best-matching segment starts.
    pub at_ms: Option<u64>,
}

/// Characters of context a snippet keeps before its first hit.
const SNIPPET_BEFORE: usize = 60;
/// Longest snippet, in characters (without the ellipses).
const SNIPPET_CHARS: usize = 200;

/// A snippet of `text` around the first of the `hits` (byte ranges at word boundaries).
fn snippet(text: &str, hits: &[(usize, usize)]) -> Vec<SnippetPart> {
    let first = hits.first().map_or(0, |h| h.0);
    let total = text.chars().count();
    let (mut start, mut end) = (0, text.len());
    if total > SNIPPET_CHARS {
        // Back up to SNIPPET_BEFORE characters, then forward to a word's start.
        let before: Vec<usize> = text[..first].char_indices().map(|(i, _)| i).collect();
        if before.len() > SNIPPET_BEFORE {
            let from = before[before.len() - SNIPPET_BEFORE];
            // A word cut in two by `from` is left out.
            let partial = text[..from]
                .chars()
                .next_back()
                .is_some_and(char::is_alphanumeric);
            start = word_ranges(&text[from..first])
                .nth(usize::from(partial))
                .map_or(first, |(s, _)| from + s);
        }
        end = text[start..]
            .char_indices()
            .nth(SNIPPET_CHARS)
            .map_or(text.len(), |(i, _)| start + i);
        if end < text.len() {
            // End after the last whole word (a hit is never cut).
            let whole = word_ranges(&text[start..end])
                .map(|(_, e)| start + e)
                .filter(|&e| e < end || !is_word_char(text, e))
                .last()
                .unwrap_or(end);
            end = hits
                .iter()
                .find(|h| h.0 < whole && h.1 > whole)
                .map_or(whole, |h| h.1);
        }
    }
    let mut parts = Vec::new();
    let mut push = |text: &str, hit: bool| {
        if !text.is_empty() {
            parts.push(SnippetPart {
                text: text.to_owned(),
                hit,
            });
        }
    };
    if start > 0 {
        push("…", false);
    }
    let mut at = start;
    for &(s, e) in hits {
        if e <= start || s >= end {
            continue;
        }
        let (s, e) = (s.max(start), e.min(end));
        push(&text[at..s], false);
        push(&text[s..e], true);
        at = e;
    }
    push(&text[at..end], false);
    if end < text.len() {
        push("…", false);
    }
    parts
}

fn is_word_char(text: &str, at: usize) -> bool {
    text[at..].chars().next().is_some_and(char::is_alphanumeric)
}

impl SearchQuery {
    /// Where `view` matched: the best field holding a searched-for word, with a snippet; for
    /// the transcript (looked at only when no other field holds one), the segment holding
    /// the most different searched-for phrases (then the most hits, then the earliest).
    /// `None` when no field shows a hit (the clip changed since the index answered).
    pub fn hit(&self, view: &ClipView, transcript: &[TranscriptSegment]) -> Option<SearchHit> {
        let filename = view.served_filename();
        let fields = [
            (MatchField::Title, view.title.as_deref().unwrap_or("")),
            (MatchField::Filename, filename.as_str()),
            (
                MatchField::Description,
                view.description.as_deref().unwrap_or(""),
            ),
        ];
        for (field, text) in fields {
            let (hits, _) = self.find(text);
            if !hits.is_empty() {
                return Some(SearchHit {
                    field,
                    snippet: snippet(text, &hits),
                    at_ms: None,
                });
            }
        }
        // (different phrases, hits) of the best segment so far, the segment, its hits.
        type Best<'a> = ((usize, usize), &'a TranscriptSegment, Vec<(usize, usize)>);
        let mut best: Option<Best<'_>> = None;
        for segment in transcript {
            let (hits, distinct) = self.find(&segment.text);
            if hits.is_empty() {
                continue;
            }
            let score = (distinct, hits.len());
            if best.as_ref().is_none_or(|b| score > b.0) {
                best = Some((score, segment, hits));
            }
        }
        best.map(|(_, segment, hits)| SearchHit {
            field: MatchField::Transcript,
            snippet: snippet(&segment.text, &hits),
            at_ms: Some(segment.start_ms),
        })
    }

    /// Whether `view`'s title, filename or description holds a searched-for word (else the
    /// transcript has to be read to say where it matched).
    pub fn hits_metadata(&self, view: &ClipView) -> bool {
        [
            view.title.as_deref().unwrap_or(""),
            &view.served_filename(),
            view.description.as_deref().unwrap_or(""),
        ]
        .iter()
        .any(|text| !self.find(text).0.is_empty())
    }
}

/// Segments of several clips, by clip.
pub(crate) fn by_clip(
    rows: Vec<(String, TranscriptSegment)>,
) -> HashMap<String, Vec<TranscriptSegment>> {
    let mut out: HashMap<String, Vec<TranscriptSegment>> = HashMap::new();
    for (clip, segment) in rows {
        out.entry(clip).or_default().push(segment);
    }
    out
}

#[cfg(test)]
pub(crate) mod tests;
