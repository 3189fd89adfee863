//! Value objects: every piece of user input is parsed once into one of these newtypes, so the
//! rest of the code never re-validates it.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Why a raw value was refused. Each variant names the field so the edge can say which.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValueError {
    /// The value is longer than the field allows.
    #[error("{field} is too long (at most {max} characters)")]
    TooLong {
        /// Field name as clients know it.
        field: &'static str,
        /// The maximum length in characters.
        max: usize,
    },
    /// The value is empty where something is required.
    #[error("{field} must not be empty")]
    Empty {
        /// Field name as clients know it.
        field: &'static str,
    },
    /// The value contains control characters (CR, LF, NUL, ...) or invisible formatting
    /// characters (bidi controls, zero-width spaces, tags: [`is_refused_char`]).
    #[error("{field} must not contain control or invisible formatting characters")]
    ControlCharacters {
        /// Field name as clients know it.
        field: &'static str,
    },
    /// The value is malformed in a field-specific way.
    #[error("{field} is invalid: {reason}")]
    Invalid {
        /// Field name as clients know it.
        field: &'static str,
        /// A human-readable reason.
        reason: &'static str,
    },
    /// A number is outside the accepted range.
    #[error("{field} must be between {min} and {max}")]
    OutOfRange {
        /// Field name as clients know it.
        field: &'static str,
        /// Smallest accepted value.
        min: u64,
        /// Largest accepted value.
        max: u64,
    },
}

impl ValueError {
    /// The client-facing name of the field the error is about.
    pub fn field(&self) -> &'static str {
        match self {
            ValueError::TooLong { field, .. }
            | ValueError::Empty { field }
            | ValueError::ControlCharacters { field }
            | ValueError::Invalid { field, .. }
            | ValueError::OutOfRange { field, .. } => field,
        }
    }
}

/// A name that is not one of a fixed set's stable names (`pending`, `spam`, ...): in a stored
/// row, a sign of corruption or of data written by a newer version.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{name:?} is not a known {kind}")]
pub struct UnknownName {
    /// What the name should have named (`scan state`, `report reason`, ...).
    pub kind: &'static str,
    /// The name as found.
    pub name: String,
}

impl UnknownName {
    /// `name` names no `kind`.
    pub fn new(kind: &'static str, name: &str) -> Self {
        UnknownName {
            kind,
            name: name.to_owned(),
        }
    }
}

macro_rules! string_newtype {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// The validated value.
            pub fn as_str(&self) -> &str {
                &self.0
            }
            /// Consumes the wrapper.
            pub fn into_inner(self) -> String {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

string_newtype!(
    /// A clip's public identifier: 16 characters of URL-safe base64 (96 random bits).
    /// See `docs/adr/0002-clip-ids.md`.
    ClipId
);
string_newtype!(
    /// The account that owns or acts on a clip, as named by the issuer's `sub` claim.
    AccountId
);
string_newtype!(
    /// A clip title: at most 200 characters, no control characters, trimmed.
    Title
);
string_newtype!(
    /// A clip description: at most 5000 characters; tabs and newlines allowed, other control
    /// characters not.
    Description
);
string_newtype!(
    /// The display filename of a clip: the last path component of what the client sent,
    /// at most 255 characters, no control characters. Never used as a file-system path.
    Filename
);
string_newtype!(
    /// A media type decided from the clip's bytes (never from what the client claimed).
    ContentType
);
string_newtype!(
    /// A lowercase hex SHA-256 digest of a clip's bytes.
    Sha256Digest
);
string_newtype!(
    /// What a reporter adds to an abuse report: at most 1000 characters; tabs and newlines
    /// allowed, other control characters not.
    ReportNote
);
string_newtype!(
    /// Why a moderator decided what they did: 1 to 500 characters, no control characters but
    /// tabs and newlines. Shown to the clip's owner.
    ModerationReason
);
string_newtype!(
    /// Who filed an abuse report: `account:<id>` for a signed-in reporter, `anonymous:<tag>`
    /// (a keyed hash of the network address, never the address itself) otherwise.
    Reporter
);

/// Why someone reports a clip. A fixed list, so the queue can be filtered by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReportReason {
    /// The file is or carries malware.
    Malware,
    /// It infringes someone's copyright.
    Copyright,
    /// It harasses or threatens someone.
    Harassment,
    /// Its content is illegal.
    IllegalContent,
    /// It is spam.
    Spam,
    /// Anything else (the note says what).
    Other,
}

impl ReportReason {
    /// Every reason, in the order forms list them.
    pub const ALL: [ReportReason; 6] = [
        ReportReason::Malware,
        ReportReason::Copyright,
        ReportReason::Harassment,
        ReportReason::IllegalContent,
        ReportReason::Spam,
        ReportReason::Other,
    ];

    /// The stable wire name (`malware`, `illegal_content`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            ReportReason::Malware => "malware",
            ReportReason::Copyright => "copyright",
            ReportReason::Harassment => "harassment",
            ReportReason::IllegalContent => "illegal_content",
            ReportReason::Spam => "spam",
            ReportReason::Other => "other",
        }
    }

    /// Parses the wire name a client sent.
    pub fn parse(raw: &str) -> Result<Self, ValueError> {
        raw.parse().map_err(|_| ValueError::Invalid {
            field: "reason",
            reason: "must be one of malware, copyright, harassment, illegal_content, spam, other",
        })
    }
}

parse_by_name!(ReportReason, "report reason");

impl fmt::Display for ReportReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

const CLIP_ID_LEN: usize = 16;
const URL_SAFE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

impl ClipId {
    /// Builds an id from 12 random bytes (the caller owns the randomness source).
    pub fn from_random_bytes(bytes: [u8; 12]) -> Self {
        let mut out = String::with_capacity(CLIP_ID_LEN);
        for chunk in bytes.chunks(3) {
            let n = (u32::from(chunk[0]) << 16) | (u32::from(chunk[1]) << 8) | u32::from(chunk[2]);
            for shift in [18, 12, 6, 0] {
                out.push(URL_SAFE[((n >> shift) & 63) as usize] as char);
            }
        }
        ClipId(out)
    }

    /// Parses an id from a URL path segment.
    pub fn parse(raw: &str) -> Result<Self, ValueError> {
        if raw.len() != CLIP_ID_LEN || !raw.bytes().all(|b| URL_SAFE.contains(&b)) {
            return Err(ValueError::Invalid {
                field: "id",
                reason: "not a clip id",
            });
        }
        Ok(ClipId(raw.to_owned()))
    }
}

/// The Unicode format characters (general category `Cf`, Unicode 16.0) that text a person
/// types never needs: bidi embeddings, overrides, isolates and marks (which reorder what is
/// shown, so `evil\u{202E}gpj.exe` reads as `evilexe.jpg`), zero-width spaces, word joiners,
/// invisible operators, the byte-order mark, interlinear annotation controls, and the tag
/// characters (which smuggle invisible text to whatever reads it next, a language model
/// included). The zero-width non-joiner and joiner (U+200C, U+200D) are the two format
/// characters writing needs (Persian and Indic scripts, emoji sequences such as woman, U+200D, laptop); they
/// reorder nothing and are allowed. The domain tests check this table against the Unicode
/// database.
pub const REFUSED_FORMAT_CHARS: &[(char, char)] = &[
    ('\u{00AD}', '\u{00AD}'),
    ('\u{0600}', '\u{0605}'),
    ('\u{061C}', '\u{061C}'),
    ('\u{06DD}', '\u{06DD}'),
    ('\u{070F}', '\u{070F}'),
    ('\u{0890}', '\u{0891}'),
    ('\u{08E2}', '\u{08E2}'),
    ('\u{180E}', '\u{180E}'),
    ('\u{200B}', '\u{200B}'),
    ('\u{200E}', '\u{200F}'),
    ('\u{202A}', '\u{202E}'),
    ('\u{2060}', '\u{2064}'),
    ('\u{2066}', '\u{206F}'),
    ('\u{FEFF}', '\u{FEFF}'),
    ('\u{FFF9}', '\u{FFFB}'),
    ('\u{110BD}', '\u{110BD}'),
    ('\u{110CD}', '\u{110CD}'),
    ('\u{13430}', '\u{1343F}'),
    ('\u{1BCA0}', '\u{1BCA3}'),
    ('\u{1D173}', '\u{1D17A}'),
    ('\u{E0001}', '\u{E0001}'),
    ('\u{E0020}', '\u{E007F}'),
];

/// Whether `c` may not appear in user text: a control character (`\n` and `\t` excepted when
/// `allow_newlines`), a line or paragraph separator (as good as a newline for header and log
/// injection), or one of [`REFUSED_FORMAT_CHARS`].
pub fn is_refused_char(c: char, allow_newlines: bool) -> bool {
    if allow_newlines && (c == '\n' || c == '\t') {
        return false;
    }
    c.is_control()
        || matches!(c, '\u{2028}' | '\u{2029}')
        || REFUSED_FORMAT_CHARS
            .iter()
            .any(|&(first, last)| (first..=last).contains(&c))
}

fn has_control(s: &str, allow_newlines: bool) -> bool {
    s.chars().any(|c| is_refused_char(c, allow_newlines))
}

fn check_len(field: &'static str, s: &str, max: usize) -> Result<(), ValueError> {
    if s.chars().count() > max {
        return Err(ValueError::TooLong { field, max });
    }
    Ok(())
}

impl AccountId {
    /// Longest accepted account id, in characters.
    pub const MAX_LEN: usize = 128;
    /// Account ids voicebin keeps for itself: no token with such a subject is accepted.
    pub const RESERVED_PREFIX: &'static str = "voicebin:";
    /// The owner of every anonymous upload (one account, so that a quota set on it caps them
    /// all together).
    pub const ANONYMOUS: &'static str = "voicebin:anonymous";

    /// The owner of anonymous uploads.
    pub fn anonymous() -> Self {
        AccountId(Self::ANONYMOUS.to_owned())
    }

    /// Whether this is the owner of anonymous uploads.
    pub fn is_anonymous(&self) -> bool {
        self.0 == Self::ANONYMOUS
    }

    /// Parses an account id (the token's `sub`).
    pub fn parse(raw: &str) -> Result<Self, ValueError> {
        let field = "sub";
        if raw.is_empty() {
            return Err(ValueError::Empty { field });
        }
        check_len(field, raw, Self::MAX_LEN)?;
        if has_control(raw, false) {
            return Err(ValueError::ControlCharacters { field });
        }
        Ok(AccountId(raw.to_owned()))
    }
}

impl Title {
    /// Longest accepted title, in characters.
    pub const MAX_LEN: usize = 200;
    /// Longest accepted value before surrounding whitespace is trimmed, in characters.
    pub const MAX_RAW_LEN: usize = 2 * Self::MAX_LEN;

    /// Parses a title; an all-whitespace title means "no title" (`None`).
    pub fn parse(raw: &str) -> Result<Option<Self>, ValueError> {
        let field = "title";
        if has_control(raw, false) {
            return Err(ValueError::ControlCharacters { field });
        }
        // Checked before trimming so a megabyte of padding is refused, not trimmed.
        check_len(field, raw, Self::MAX_RAW_LEN)?;
        let trimmed = raw.trim();
        check_len(field, trimmed, Self::MAX_LEN)?;
        Ok((!trimmed.is_empty()).then(|| Title(trimmed.to_owned())))
    }
}

impl Description {
    /// Longest accepted description, in characters.
    pub const MAX_LEN: usize = 5000;
    /// Longest accepted value before surrounding whitespace is trimmed, in characters.
    pub const MAX_RAW_LEN: usize = 2 * Self::MAX_LEN;

    /// Parses a description; an all-whitespace description means "none".
    pub fn parse(raw: &str) -> Result<Option<Self>, ValueError> {
        let field = "description";
        if has_control(raw, true) {
            return Err(ValueError::ControlCharacters { field });
        }
        // Checked before trimming so a megabyte of padding is refused, not trimmed.
        check_len(field, raw, Self::MAX_RAW_LEN)?;
        let trimmed = raw.trim();
        check_len(field, trimmed, Self::MAX_LEN)?;
        Ok((!trimmed.is_empty()).then(|| Description(trimmed.to_owned())))
    }
}

impl Filename {
    /// Longest accepted filename, in characters.
    pub const MAX_LEN: usize = 255;
    /// Longest accepted value before the directories are dropped and whitespace is trimmed.
    pub const MAX_RAW_LEN: usize = 4 * Self::MAX_LEN;

    /// Parses a client-supplied filename, keeping only its last path component
    /// (`../../etc/passwd` becomes `passwd`), the way browsers submit file inputs.
    pub fn parse(raw: &str) -> Result<Self, ValueError> {
        let field = "filename";
        if has_control(raw, false) {
            return Err(ValueError::ControlCharacters { field });
        }
        // Checked before trimming so a 10 KB name is refused, not truncated.
        check_len(field, raw, Self::MAX_RAW_LEN)?;
        let base = raw.rsplit(['/', '\\']).next().unwrap_or_default().trim();
        if base.is_empty() || base == "." || base == ".." {
            return Err(ValueError::Invalid {
                field,
                reason: "must name a file",
            });
        }
        check_len(field, base, Self::MAX_LEN)?;
        Ok(Filename(base.to_owned()))
    }

    /// The filename a clip gets when the client sent none: `<id>.<ext>`.
    pub fn fallback(id: &ClipId, content_type: &ContentType) -> Self {
        Filename(format!("{id}.{}", content_type.extension()))
    }

    /// This name with an extension that tells the truth about `content_type` (see
    /// [`truthful_filename`]): `message.hta` holding WAV becomes `message.wav`.
    pub fn matching(&self, content_type: &ContentType) -> Self {
        Filename(truthful_filename(&self.0, content_type.as_str()))
    }
}

/// The name to store and hand out for a clip called `name` whose bytes are `media_type`: the
/// name without refused characters ([`is_refused_char`]; names stored before a character was
/// refused may hold one) and with an extension of the type the bytes are, so a download can
/// never be opened by whatever the client's extension names (`.hta`, `.html`, `.svg`, `.exe`).
///
/// An extension that already names the type is kept as sent (`Talk.OGG`, `talk.opus`); a
/// different one is replaced (`message.hta` becomes `message.wav`, as the user expects, not
/// `message.hta.wav`); a name without one gets one (`message` becomes `message.wav`,
/// `notes 1.2` becomes `notes 1.2.wav`). An extension is what follows the last dot: 1 to 10
/// ASCII letters and digits, at least one a letter, after a non-empty stem. The result is at
/// most [`Filename::MAX_LEN`] characters (the stem is shortened if need be).
pub fn truthful_filename(name: &str, media_type: &str) -> String {
    let clean: String = name
        .chars()
        .filter(|&c| !is_refused_char(c, false))
        .collect();
    let clean = clean.trim();
    let extensions = extensions_of(media_type);
    let stem = match clean.rsplit_once('.') {
        Some((stem, ext))
            if !stem.trim().is_empty()
                && (1..=10).contains(&ext.len())
                && ext.bytes().all(|b| b.is_ascii_alphanumeric())
                && ext.bytes().any(|b| b.is_ascii_alphabetic()) =>
        {
            if extensions
                .iter()
                .any(|known| ext.eq_ignore_ascii_case(known))
            {
                return clean.to_owned();
            }
            stem
        }
        _ => clean,
    };
    let ext = extensions[0];
    let room = Filename::MAX_LEN - ext.len() - 1;
    let stem: String = stem.chars().take(room).collect();
    let stem = stem.trim_end();
    if stem.is_empty() {
        format!("audio.{ext}")
    } else {
        format!("{stem}.{ext}")
    }
}

/// The extensions that name `media_type`, the conventional one first.
fn extensions_of(media_type: &str) -> &'static [&'static str] {
    match media_type {
        "audio/wav" => &["wav", "wave"],
        "audio/mpeg" => &["mp3", "mpga"],
        "audio/ogg" => &["ogg", "oga", "opus", "spx"],
        "audio/flac" => &["flac"],
        "audio/mp4" => &["m4a", "mp4", "m4b"],
        "audio/webm" => &["webm", "weba"],
        "audio/aiff" => &["aiff", "aif", "aifc"],
        "audio/x-caf" => &["caf"],
        _ => &["bin"],
    }
}

impl ReportNote {
    /// Longest accepted note, in characters.
    pub const MAX_LEN: usize = 1000;

    /// Parses a note; an all-whitespace note means "none".
    pub fn parse(raw: &str) -> Result<Option<Self>, ValueError> {
        let field = "note";
        if has_control(raw, true) {
            return Err(ValueError::ControlCharacters { field });
        }
        let trimmed = raw.trim();
        check_len(field, trimmed, Self::MAX_LEN)?;
        Ok((!trimmed.is_empty()).then(|| ReportNote(trimmed.to_owned())))
    }
}

impl ModerationReason {
    /// Longest accepted reason, in characters.
    pub const MAX_LEN: usize = 500;

    /// Parses a moderator's reason, which must not be blank.
    pub fn parse(raw: &str) -> Result<Self, ValueError> {
        let field = "reason";
        if has_control(raw, true) {
            return Err(ValueError::ControlCharacters { field });
        }
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err(ValueError::Empty { field });
        }
        check_len(field, trimmed, Self::MAX_LEN)?;
        Ok(ModerationReason(trimmed.to_owned()))
    }
}

impl Reporter {
    /// A signed-in reporter.
    pub fn account(account: &AccountId) -> Self {
        Reporter(format!("account:{account}"))
    }

    /// An anonymous reporter, known only by a keyed hash of where they came from.
    pub fn anonymous(tag: &str) -> Self {
        Reporter(format!("anonymous:{tag}"))
    }
}

impl ContentType {
    /// Wraps a media type the server itself decided from the bytes.
    pub fn from_sniffed(media_type: &'static str) -> Self {
        ContentType(media_type.to_owned())
    }

    /// A conventional file extension for the media type.
    pub fn extension(&self) -> &'static str {
        extensions_of(&self.0)[0]
    }
}

impl Sha256Digest {
    /// Wraps a digest computed by the server, given as 32 raw bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut s = String::with_capacity(64);
        for b in bytes {
            s.push(HEX[(b >> 4) as usize] as char);
            s.push(HEX[(b & 15) as usize] as char);
        }
        Sha256Digest(s)
    }

    /// Parses a lowercase hex digest (as stored in the read models).
    pub fn from_hex(raw: &str) -> Option<Self> {
        (raw.len() == 64 && raw.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
            .then(|| Sha256Digest(raw.to_owned()))
    }
}

/// How many times a clip may be downloaded by others than its owner.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct DownloadLimit(u64);

impl DownloadLimit {
    /// Largest accepted limit.
    pub const MAX: u64 = 1_000_000_000;

    /// Parses a limit, which must be between 1 and [`DownloadLimit::MAX`].
    pub fn new(value: u64) -> Result<Self, ValueError> {
        if !(1..=Self::MAX).contains(&value) {
            return Err(ValueError::OutOfRange {
                field: "download_limit",
                min: 1,
                max: Self::MAX,
            });
        }
        Ok(DownloadLimit(value))
    }

    /// The limit as a number.
    pub fn get(self) -> u64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clip_ids_are_sixteen_url_safe_characters_and_parse_back() {
        let id = ClipId::from_random_bytes([0xff; 12]);
        assert_eq!(id.as_str(), "________________");
        let id = ClipId::from_random_bytes([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
        assert_eq!(ClipId::parse(id.as_str()), Ok(id));
        assert!(ClipId::parse("short").is_err());
        assert!(ClipId::parse("../../etc/passwd").is_err());
        assert!(ClipId::parse("abcdefghijklmno=").is_err());
    }

    #[test]
    fn hostile_filenames_keep_only_their_last_component() {
        assert_eq!(Filename::parse("../../x.mp3").unwrap().as_str(), "x.mp3");
        assert_eq!(Filename::parse("C:\\a\\b.wav").unwrap().as_str(), "b.wav");
        assert_eq!(
            Filename::parse("say \"hi\".mp3").unwrap().as_str(),
            "say \"hi\".mp3"
        );
        assert!(matches!(
            Filename::parse("a\r\nSet-Cookie: x.mp3"),
            Err(ValueError::ControlCharacters { .. })
        ));
        assert!(matches!(
            Filename::parse(&"a".repeat(10_000)),
            Err(ValueError::TooLong { .. })
        ));
        assert!(Filename::parse("../..").is_err());
        assert!(Filename::parse("").is_err());
    }

    #[test]
    fn the_refused_format_characters_are_every_format_character_but_the_joiners() {
        use unicode_general_category::{get_general_category, GeneralCategory};
        let joiners = ['\u{200C}', '\u{200D}'];
        for c in (0..=0x10FFFF).filter_map(char::from_u32) {
            let format = get_general_category(c) == GeneralCategory::Format;
            let listed = REFUSED_FORMAT_CHARS
                .iter()
                .any(|&(first, last)| (first..=last).contains(&c));
            assert_eq!(
                listed,
                format && !joiners.contains(&c),
                "U+{:04X}",
                c as u32
            );
        }
    }

    #[test]
    fn format_characters_are_refused_in_filenames_titles_and_descriptions() {
        for c in [
            '\u{202E}',
            '\u{2066}',
            '\u{2067}',
            '\u{2068}',
            '\u{2069}',
            '\u{200E}',
            '\u{200F}',
            '\u{061C}',
            '\u{200B}',
            '\u{2060}',
            '\u{FEFF}',
            '\u{E0001}',
            '\u{E0041}',
            '\u{00AD}',
        ] {
            let text = format!("evil{c}gpj.wav");
            let refused = |r: Result<_, ValueError>, field| {
                assert_eq!(
                    r.err(),
                    Some(ValueError::ControlCharacters { field }),
                    "U+{:04X}",
                    c as u32
                )
            };
            refused(Filename::parse(&text).map(drop), "filename");
            refused(Title::parse(&text).map(drop), "title");
            refused(Description::parse(&text).map(drop), "description");
            refused(ReportNote::parse(&text).map(drop), "note");
        }
        // The joiners that scripts and emoji need are not format tricks.
        assert!(Title::parse("\u{645}\u{6CC}\u{200C}\u{62E}\u{648}\u{627}\u{647}\u{645}").is_ok());
        assert!(Description::parse("\u{1F469}\u{200D}\u{1F4BB} standup").is_ok());
    }

    #[test]
    fn padding_beyond_twice_the_limit_is_refused_before_trimming() {
        let padded = format!("{}x", " ".repeat(Title::MAX_RAW_LEN));
        assert!(matches!(
            Title::parse(&padded),
            Err(ValueError::TooLong { .. })
        ));
        assert!(Title::parse(&padded[1..]).unwrap().is_some());
        let padded = format!("{}x", "\n".repeat(Description::MAX_RAW_LEN));
        assert!(matches!(
            Description::parse(&padded),
            Err(ValueError::TooLong { .. })
        ));
    }

    #[test]
    fn a_filename_always_ends_with_an_extension_of_the_sniffed_type() {
        let wav = ContentType::from_sniffed("audio/wav");
        for (sent, served) in [
            ("message.hta", "message.wav"),
            ("message.html", "message.wav"),
            ("message.svg", "message.wav"),
            ("message.js", "message.wav"),
            ("setup.EXE", "setup.wav"),
            ("message", "message.wav"),
            ("message.wav", "message.wav"),
            ("Message.WAVE", "Message.WAVE"),
            ("message.wav.hta", "message.wav.wav"),
            ("notes 1.2", "notes 1.2.wav"),
            ("Dr. Who", "Dr. Who.wav"),
            (".hta", ".hta.wav"),
            ("x\"; a=.ogg", "x\"; a=.wav"),
        ] {
            let name = Filename::parse(sent).unwrap().matching(&wav);
            assert_eq!(name.as_str(), served, "{sent}");
        }
        let ogg = ContentType::from_sniffed("audio/ogg");
        assert_eq!(
            Filename::parse("talk.opus")
                .unwrap()
                .matching(&ogg)
                .as_str(),
            "talk.opus"
        );
        assert_eq!(
            Filename::parse("talk.mp3").unwrap().matching(&ogg).as_str(),
            "talk.ogg"
        );
        // Long names stay within the limit.
        let long = format!("{}.hta", "n".repeat(251));
        let name = Filename::parse(&long).unwrap().matching(&wav);
        assert_eq!(name.as_str().chars().count(), Filename::MAX_LEN);
        assert!(name.as_str().ends_with("n.wav"));
        // Names stored before a character was refused lose it when served.
        assert_eq!(
            truthful_filename("evil\u{2067}lmth.hta", "audio/wav"),
            "evillmth.wav"
        );
        assert_eq!(truthful_filename("\u{202E}", "audio/mpeg"), "audio.mp3");
    }

    #[test]
    fn titles_are_trimmed_and_blank_means_none() {
        assert_eq!(Title::parse("  hi  ").unwrap().unwrap().as_str(), "hi");
        assert_eq!(Title::parse("   ").unwrap(), None);
        assert!(Title::parse("a\u{0}b").is_err());
        assert!(Title::parse(&"é".repeat(201)).is_err());
        assert!(Title::parse(&"é".repeat(200)).is_ok());
    }

    #[test]
    fn descriptions_allow_newlines_but_not_other_controls() {
        assert!(Description::parse("line one\nline two\tend").is_ok());
        assert!(Description::parse("bell\u{7}").is_err());
        assert!(Description::parse(&"x".repeat(5001)).is_err());
    }

    #[test]
    fn download_limits_are_positive_and_bounded() {
        assert!(DownloadLimit::new(0).is_err());
        assert_eq!(DownloadLimit::new(3).unwrap().get(), 3);
        assert!(DownloadLimit::new(DownloadLimit::MAX + 1).is_err());
    }

    #[test]
    fn account_ids_refuse_control_characters_and_long_values() {
        assert!(AccountId::parse("alice").is_ok());
        assert!(AccountId::parse("").is_err());
        assert!(AccountId::parse("a\nb").is_err());
        assert!(AccountId::parse(&"a".repeat(129)).is_err());
    }

    #[test]
    fn every_report_reason_parses_back_from_its_name_and_unknown_names_are_errors() {
        for reason in ReportReason::ALL {
            assert_eq!(reason.as_str().parse(), Ok(reason));
            assert_eq!(ReportReason::parse(reason.as_str()), Ok(reason));
            assert_eq!(serde_json::to_value(reason).unwrap(), reason.as_str());
        }
        assert_eq!(
            "illegal-content".parse::<ReportReason>(),
            Err(UnknownName::new("report reason", "illegal-content"))
        );
        assert!(matches!(
            ReportReason::parse("SPAM"),
            Err(ValueError::Invalid {
                field: "reason",
                ..
            })
        ));
    }

    #[test]
    fn digests_render_as_lowercase_hex() {
        let d = Sha256Digest::from_bytes([0xab; 32]);
        assert_eq!(d.as_str().len(), 64);
        assert!(d.as_str().starts_with("abab"));
    }
}
