//! Transcripts: what was said in a clip, as timed segments.
//!
//! A transcript comes from the speech-to-text stage (`TranscriptCompleted`) or from the clip's
//! owner correcting it (`TranscriptCorrected`). Either way it is parsed once into a
//! [`Transcript`] here, so every reader (the API, WebVTT captions, search) can rely on its
//! shape: segments in time order, each with non-empty single-line text.

use serde::{Deserialize, Serialize};

use crate::values::{is_refused_char, ValueError};

/// One stretch of speech: when it starts and ends (milliseconds from the start of the clip)
/// and what was said.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Segment {
    /// Start, in milliseconds from the start of the clip.
    pub start_ms: u64,
    /// End, in milliseconds from the start of the clip; never before `start_ms`.
    pub end_ms: u64,
    /// What was said: trimmed, one line, never empty.
    pub text: String,
}

/// A language tag for a transcript: an ISO 639-1 or 639-3 code in lowercase (`en`, `de`, `fil`),
/// as speech-to-text engines name languages.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Language(String);

impl Language {
    /// Parses a language code: two or three ASCII letters, case-insensitive.
    pub fn parse(raw: &str) -> Result<Self, ValueError> {
        let code = raw.trim().to_ascii_lowercase();
        if !(2..=3).contains(&code.len()) || !code.bytes().all(|b| b.is_ascii_lowercase()) {
            return Err(ValueError::Invalid {
                field: "language",
                reason: "must be a two- or three-letter ISO 639 code such as `en`",
            });
        }
        Ok(Language(code))
    }

    /// The code.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What was said in a clip: its language when known, and its segments in time order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transcript {
    /// The spoken language, when the engine or the owner named it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    language: Option<Language>,
    /// The segments, ordered by start time.
    segments: Vec<Segment>,
}

impl Transcript {
    /// Most segments a transcript may have (a segment every two seconds for five hours).
    pub const MAX_SEGMENTS: usize = 10_000;
    /// Longest segment text, in characters.
    pub const MAX_SEGMENT_LEN: usize = 2_000;
    /// Most characters of text in all segments together.
    pub const MAX_TEXT_LEN: usize = 250_000;
    /// Latest time a segment may end: 24 hours.
    pub const MAX_MS: u64 = 24 * 60 * 60 * 1000;

    /// Checks and normalises segments: each text trimmed, single-line and non-empty; start no
    /// later than end; starts never going back in time; within the limits above.
    pub fn new(language: Option<Language>, segments: Vec<Segment>) -> Result<Self, ValueError> {
        let field = "segments";
        if segments.len() > Self::MAX_SEGMENTS {
            return Err(ValueError::OutOfRange {
                field,
                min: 0,
                max: Self::MAX_SEGMENTS as u64,
            });
        }
        let mut total = 0usize;
        let mut previous_start = 0u64;
        let mut checked = Vec::with_capacity(segments.len());
        for segment in segments {
            if segment.end_ms < segment.start_ms {
                return Err(ValueError::Invalid {
                    field,
                    reason: "a segment ends before it starts",
                });
            }
            if segment.end_ms > Self::MAX_MS {
                return Err(ValueError::Invalid {
                    field,
                    reason: "a segment ends after 24 hours",
                });
            }
            if segment.start_ms < previous_start {
                return Err(ValueError::Invalid {
                    field,
                    reason: "segments must be in order of their start time",
                });
            }
            previous_start = segment.start_ms;
            if segment.text.chars().any(|c| is_refused_char(c, false)) {
                return Err(ValueError::ControlCharacters { field });
            }
            let text = segment.text.trim();
            if text.is_empty() {
                return Err(ValueError::Empty {
                    field: "segments[].text",
                });
            }
            let len = text.chars().count();
            if len > Self::MAX_SEGMENT_LEN {
                return Err(ValueError::TooLong {
                    field: "segments[].text",
                    max: Self::MAX_SEGMENT_LEN,
                });
            }
            total += len;
            if total > Self::MAX_TEXT_LEN {
                return Err(ValueError::TooLong {
                    field,
                    max: Self::MAX_TEXT_LEN,
                });
            }
            checked.push(Segment {
                start_ms: segment.start_ms,
                end_ms: segment.end_ms,
                text: text.to_owned(),
            });
        }
        Ok(Transcript {
            language,
            segments: checked,
        })
    }

    /// The spoken language, if known.
    pub fn language(&self) -> Option<&Language> {
        self.language.as_ref()
    }

    /// The segments in time order.
    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }

    /// All the text, segments joined by spaces.
    pub fn text(&self) -> String {
        let mut text = String::new();
        for segment in &self.segments {
            if !text.is_empty() {
                text.push(' ');
            }
            text.push_str(&segment.text);
        }
        text
    }

    /// The transcript as a WebVTT file (captions for a `<track>`): one cue per segment, the
    /// text escaped so nothing in it can end a cue or open a tag.
    pub fn to_webvtt(&self) -> String {
        let mut out = String::from("WEBVTT\n");
        for (i, segment) in self.segments.iter().enumerate() {
            // A cue's end must be after its start for every player to show it.
            let end = segment.end_ms.max(segment.start_ms + 1);
            out.push_str(&format!(
                "\n{}\n{} --> {}\n{}\n",
                i + 1,
                vtt_time(segment.start_ms),
                vtt_time(end),
                vtt_escape(&segment.text)
            ));
        }
        out
    }
}

fn vtt_time(ms: u64) -> String {
    format!(
        "{:02}:{:02}:{:02}.{:03}",
        ms / 3_600_000,
        ms / 60_000 % 60,
        ms / 1000 % 60,
        ms % 1000
    )
}

/// Escapes cue text (WebVTT §4.2.2): `&`, `<` and `>` as character references, which also
/// keeps `-->` out of the text.
fn vtt_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(start_ms: u64, end_ms: u64, text: &str) -> Segment {
        Segment {
            start_ms,
            end_ms,
            text: text.to_owned(),
        }
    }

    #[test]
    fn segments_are_trimmed_and_kept_in_order() {
        let t = Transcript::new(
            Some(Language::parse("EN").unwrap()),
            vec![seg(0, 1500, "  hello there "), seg(1500, 3000, "general")],
        )
        .unwrap();
        assert_eq!(t.language().unwrap().as_str(), "en");
        assert_eq!(t.segments()[0].text, "hello there");
        assert_eq!(t.text(), "hello there general");
    }

    #[test]
    fn malformed_segments_are_refused() {
        let refused = [
            vec![seg(10, 5, "backwards")],
            vec![seg(10, 20, "b"), seg(5, 30, "a")],
            vec![seg(0, 10, "   ")],
            vec![seg(0, 10, "two\nlines")],
            vec![seg(0, 10, "bidi \u{202e} override")],
            vec![seg(0, Transcript::MAX_MS + 1, "too late")],
            vec![seg(0, 10, &"x".repeat(Transcript::MAX_SEGMENT_LEN + 1))],
        ];
        for segments in refused {
            assert!(
                Transcript::new(None, segments.clone()).is_err(),
                "{segments:?}"
            );
        }
        let many = vec![seg(0, 1, "a"); Transcript::MAX_SEGMENTS + 1];
        assert!(Transcript::new(None, many).is_err());
        let long = vec![seg(0, 1, &"y".repeat(2000)); 126];
        assert!(Transcript::new(None, long).is_err());
    }

    #[test]
    fn languages_are_iso_codes() {
        assert!(Language::parse("de").is_ok());
        assert!(Language::parse("fil").is_ok());
        for bad in ["", "e", "english", "e1", "é", "en-US"] {
            assert!(Language::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn webvtt_has_a_cue_per_segment_and_escapes_what_could_break_it() {
        let t = Transcript::new(
            None,
            vec![
                seg(0, 1250, "a <b>bold</b> claim & --> more"),
                seg(3_723_004, 3_723_004, "at one hour"),
            ],
        )
        .unwrap();
        assert_eq!(
            t.to_webvtt(),
            "WEBVTT\n\n1\n00:00:00.000 --> 00:00:01.250\na &lt;b&gt;bold&lt;/b&gt; claim &amp; --&gt; more\n\
             \n2\n01:02:03.004 --> 01:02:03.005\nat one hour\n"
        );
    }
}
