//! JSON bodies of the REST API (snake_case, as the contract fixes).

use chrono::{DateTime, SecondsFormat, Utc};
use std::borrow::Cow;

use poem_openapi::registry::MetaSchemaRef;
use poem_openapi::types::{MaybeUndefined, ParseError, ParseFromJSON, ParseResult, ToJSON, Type};
use poem_openapi::{Enum, Object};
use serde_json::Value;
use voicebin_domain::ScanState;
use voicebin_projections::{ClipView, MatchField, SearchHit};

use crate::urls::Urls;

/// Where a clip can be seen and fetched.
#[derive(Debug, Clone, Object)]
pub struct ItemUrls {
    /// The view page (player, details, download button).
    pub view: String,
    /// The direct download URL (attachment).
    pub download: String,
}

/// The rendition a clip's players are served.
#[derive(Debug, Clone, Object)]
pub struct ItemPlayback {
    /// Its media type (`audio/flac`).
    pub content_type: String,
    /// Its size in bytes.
    pub size_bytes: i64,
}

/// Scan state of a clip. Only `clean` clips are served to anyone but their owner.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum ScanStateDto {
    /// Not scanned yet.
    Pending,
    /// Valid audio, no malware found.
    Clean,
    /// Malware found.
    Infected,
    /// Not valid audio.
    Rejected,
    /// Scanning failed after retries.
    Failed,
}

/// Whether moderation lets the public see a clip.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum ModerationStateDto {
    /// Nothing stands in the way.
    Visible,
    /// Hidden automatically after reports from several people, until a moderator decides.
    Hidden,
    /// Blocked by a moderator: only the owner and moderators see it.
    Blocked,
    /// Taken down by a moderator: the audio is gone and cannot be uploaded again.
    Removed,
}

/// What moderation decided about a clip, and why.
#[derive(Debug, Clone, Object)]
pub struct ItemModeration {
    /// Where moderation has left the clip.
    pub state: ModerationStateDto,
    /// Why (the moderator's words, or why reports hid it); absent if moderation never acted.
    #[oai(skip_serializing_if_is_none)]
    pub reason: Option<String>,
    /// When moderation last acted (RFC 3339).
    #[oai(skip_serializing_if_is_none)]
    pub at: Option<String>,
}

impl ItemModeration {
    /// The moderation part of a view.
    pub fn of(view: &ClipView) -> Self {
        use voicebin_domain::Moderation;
        ItemModeration {
            state: match view.moderation() {
                Moderation::Visible => ModerationStateDto::Visible,
                Moderation::Hidden => ModerationStateDto::Hidden,
                Moderation::Blocked => ModerationStateDto::Blocked,
                Moderation::Removed => ModerationStateDto::Removed,
            },
            reason: view.moderation_reason.clone(),
            at: view.moderated_at.map(rfc3339),
        }
    }
}

/// An [`Item`] already written as JSON: the bytes `Json<Item>` would send, under the same
/// schema. The REST API answers a clip's metadata with it, so that a document written once can
/// be sent many times ([`crate::usecases::rendered`]).
#[derive(Debug, Clone)]
pub struct ItemJson(pub bytes::Bytes);

impl ItemJson {
    /// `item` written as `Json<Item>` writes it.
    pub fn of(item: &Item) -> Self {
        // Writing a JSON tree to memory cannot fail.
        ItemJson(
            serde_json::to_vec(&item.to_json())
                .unwrap_or_default()
                .into(),
        )
    }
}

impl poem_openapi::payload::Payload for ItemJson {
    const CONTENT_TYPE: &'static str =
        <poem_openapi::payload::Json<Item> as poem_openapi::payload::Payload>::CONTENT_TYPE;

    fn schema_ref() -> MetaSchemaRef {
        Item::schema_ref()
    }

    fn register(registry: &mut poem_openapi::registry::Registry) {
        Item::register(registry);
    }
}

impl poem::IntoResponse for ItemJson {
    fn into_response(self) -> poem::Response {
        poem::Response::builder()
            .header(
                poem::http::header::CONTENT_TYPE,
                <Self as poem_openapi::payload::Payload>::CONTENT_TYPE,
            )
            .body(self.0)
    }
}

/// A clip. Fields marked "owner only" are present only when the owner (or a moderator) reads it
/// with a token.
#[derive(Debug, Clone, Object)]
pub struct Item {
    /// Short, random, URL-safe id.
    pub id: String,
    /// Title.
    pub title: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// Display filename.
    pub filename: String,
    /// Media type, decided from the bytes.
    pub content_type: String,
    /// Size in bytes.
    pub size_bytes: i64,
    /// Duration in milliseconds, once scanned.
    pub duration_ms: Option<i64>,
    /// Container format (`wav`, `mp3`, `ogg`, `flac`, `mp4`, `webm`, `aiff`, `caf`), once scanned.
    pub container: Option<String>,
    /// Codec (`pcm_s16le`, `mp3`, `vorbis`, `opus`, `flac`, `aac`, `alac`, ...), once scanned.
    pub codec: Option<String>,
    /// Sample rate in Hz, once scanned.
    pub sample_rate: Option<i64>,
    /// Channel count, once scanned.
    pub channels: Option<i64>,
    /// Upload time (RFC 3339).
    pub created_at: String,
    /// When the clip expires (RFC 3339); null when it never does. From then on it answers 410
    /// everywhere and its bytes are purged.
    pub expires_at: Option<String>,
    /// Links.
    pub urls: ItemUrls,
    /// Present when browsers cannot play the original (AIFF, ALAC, CAF, …) and a rendition
    /// was made: players (the view and embed pages, `/{id}/audio`) are served it; the download
    /// URL still serves the original bytes.
    #[oai(skip_serializing_if_is_none)]
    pub playback: Option<ItemPlayback>,
    /// Owner only: scan state.
    #[oai(skip_serializing_if_is_none)]
    pub scan_state: Option<ScanStateDto>,
    /// Owner only: why the scan ended as it did.
    #[oai(skip_serializing_if_is_none)]
    pub scan_detail: Option<String>,
    /// Owner only: SHA-256 of the bytes.
    #[oai(skip_serializing_if_is_none)]
    pub sha256: Option<String>,
    /// Owner only: downloads allowed to others; absent or null means unlimited.
    #[oai(skip_serializing_if_is_none)]
    pub download_limit: Option<i64>,
    /// Owner only: downloads counted so far.
    #[oai(skip_serializing_if_is_none)]
    pub download_count: Option<i64>,
    /// Owner only: downloads left before the limit; absent when unlimited.
    #[oai(skip_serializing_if_is_none)]
    pub downloads_remaining: Option<i64>,
    /// Owner only: last change (RFC 3339).
    #[oai(skip_serializing_if_is_none)]
    pub updated_at: Option<String>,
    /// Owner only: whether moderation hid, blocked or removed the clip, and why.
    #[oai(skip_serializing_if_is_none)]
    pub moderation: Option<ItemModeration>,
    /// In a search (`q`) only: where the clip matched.
    #[oai(rename = "match", skip_serializing_if_is_none)]
    pub search_match: Option<ItemMatch>,
    /// In the answer to an anonymous upload only: what manages (reads as its owner, and
    /// deletes) the clip. Shown this once and never again: keep it.
    #[oai(skip_serializing_if_is_none)]
    pub management: Option<ItemManagement>,
}

/// What manages an anonymous upload.
#[derive(Debug, Clone, Object)]
pub struct ItemManagement {
    /// The clip's management page, with the token in its fragment (never sent to the server by
    /// a browser): it shows the clip's state and can delete it.
    pub url: String,
    /// The management token: send it as `x-management-token` to `GET` or `DELETE
    /// /api/v1/items/{id}` instead of a bearer token.
    pub token: String,
}

/// Which field of a clip a search matched in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum MatchFieldDto {
    /// The title.
    Title,
    /// The filename.
    Filename,
    /// The description.
    Description,
    /// What was said in the clip (its transcript); `at_ms` says when.
    Transcript,
}

/// A piece of a snippet. Plain text: show it as text (never as HTML), marking the hits.
#[derive(Debug, Clone, Object)]
pub struct SnippetPart {
    /// The text of this piece.
    pub text: String,
    /// Whether this piece is what was searched for.
    pub hit: bool,
}

/// Where a clip matched a search: the best field holding a searched-for word (title, then
/// filename, then description, then transcript), a snippet of it, and for a transcript the
/// moment it was said.
#[derive(Debug, Clone, Object)]
pub struct ItemMatch {
    /// The field.
    pub field: MatchFieldDto,
    /// Up to about 200 characters of the field around the first hit, in pieces; a cut is
    /// shown as a piece `…`. Join the `text`s to get the snippet as plain text.
    pub snippet: Vec<SnippetPart>,
    /// For a transcript match: where the best-matching segment starts, in milliseconds (the
    /// view page seeks there when opened as `{view URL}#t=<seconds>`).
    #[oai(skip_serializing_if_is_none)]
    pub at_ms: Option<i64>,
}

impl ItemMatch {
    /// The REST form of a search hit.
    pub fn of(hit: &SearchHit) -> Self {
        ItemMatch {
            field: match hit.field {
                MatchField::Title => MatchFieldDto::Title,
                MatchField::Filename => MatchFieldDto::Filename,
                MatchField::Description => MatchFieldDto::Description,
                MatchField::Transcript => MatchFieldDto::Transcript,
            },
            snippet: hit
                .snippet
                .iter()
                .map(|p| SnippetPart {
                    text: p.text.clone(),
                    hit: p.hit,
                })
                .collect(),
            at_ms: hit.at_ms.map(|ms| i64::try_from(ms).unwrap_or(i64::MAX)),
        }
    }
}

/// A time in µs since the epoch as RFC 3339 (milliseconds, `Z`).
pub fn rfc3339(micros: i64) -> String {
    DateTime::<Utc>::from_timestamp_micros(micros)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn scan_state(s: ScanState) -> ScanStateDto {
    match s {
        ScanState::Pending => ScanStateDto::Pending,
        ScanState::Clean => ScanStateDto::Clean,
        ScanState::Infected => ScanStateDto::Infected,
        ScanState::Rejected => ScanStateDto::Rejected,
        ScanState::Failed => ScanStateDto::Failed,
    }
}

impl Item {
    /// What anyone may see of a clip.
    pub fn public(view: &ClipView, urls: &Urls) -> Self {
        Item {
            id: view.id.clone(),
            title: view.title.clone(),
            description: view.description.clone(),
            filename: view.served_filename(),
            content_type: view.content_type.clone(),
            size_bytes: view.size_bytes,
            duration_ms: view.duration_ms,
            container: view.container.clone(),
            codec: view.codec.clone(),
            sample_rate: view.sample_rate,
            channels: view.channels,
            created_at: rfc3339(view.created_at),
            expires_at: view.expires_at.map(rfc3339),
            urls: ItemUrls {
                view: urls.view(&view.id),
                download: urls.download(&view.id),
            },
            playback: view.playback().map(|r| ItemPlayback {
                content_type: r.content_type,
                size_bytes: r.size_bytes,
            }),
            scan_state: None,
            scan_detail: None,
            sha256: None,
            download_limit: None,
            download_count: None,
            downloads_remaining: None,
            updated_at: None,
            moderation: None,
            search_match: None,
            management: None,
        }
    }

    /// What the owner sees.
    pub fn owner(view: &ClipView, urls: &Urls) -> Self {
        Item {
            scan_state: Some(scan_state(view.scan_state)),
            scan_detail: view.scan_detail.clone(),
            sha256: Some(view.sha256.clone()),
            download_limit: view.download_limit,
            download_count: Some(view.download_count),
            downloads_remaining: view.downloads_remaining(),
            updated_at: Some(rfc3339(view.updated_at)),
            moderation: Some(ItemModeration::of(view)),
            ..Item::public(view, urls)
        }
    }
}

/// A URL that plays a clip in this browser as its owner or a moderator would fetch it.
#[derive(Debug, Clone, Object)]
pub struct PlaybackUrl {
    /// The clip's audio (`/{id}/audio?playback=…`), for an `<audio>` element: it plays for the
    /// client that asked for it (the same address and user agent), is not counted as a
    /// download, and works until `expires_at`. Keep it to yourself: it is a capability.
    pub url: String,
    /// When the URL stops working (RFC 3339).
    pub expires_at: String,
}

/// A page of the caller's clips.
#[derive(Debug, Clone, Object)]
pub struct ItemPage {
    /// Newest first; in a search (`q`), best match first (title, then filename, then
    /// description, then transcript), then newest, each with its `match`.
    pub items: Vec<Item>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    #[oai(skip_serializing_if_is_none)]
    pub next_cursor: Option<String>,
}

/// Changes to a clip. Absent fields are left alone; `null` clears a field.
#[derive(Debug, Clone, Object)]
#[oai(deny_unknown_fields)]
pub struct ItemPatch {
    /// New title (at most 200 characters), or null to clear.
    pub title: MaybeUndefined<JsonString>,
    /// New description (at most 5000 characters), or null to clear.
    pub description: MaybeUndefined<JsonString>,
    // Read as a JSON number so that integers written with a zero fraction (`5.0`, an integer
    // in JSON Schema) are accepted; the document declares it an integer (`contract.rs`).
    /// New download limit (1 to 1000000000), or null for unlimited.
    pub download_limit: MaybeUndefined<f64>,
    /// When the clip expires (RFC 3339, in the future: 422 otherwise; within the server's
    /// maximum lifetime from now: 400 otherwise), or null for never.
    pub expires_at: MaybeUndefined<JsonString>,
}

/// A JSON string and nothing else: poem-openapi's `String` also takes numbers and booleans
/// (`{"title": 42}` would become the title "42"), which the document does not allow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonString(pub String);

impl Type for JsonString {
    const IS_REQUIRED: bool = true;
    type RawValueType = String;
    type RawElementValueType = String;

    fn name() -> Cow<'static, str> {
        String::name()
    }

    fn schema_ref() -> MetaSchemaRef {
        String::schema_ref()
    }

    fn as_raw_value(&self) -> Option<&String> {
        Some(&self.0)
    }

    fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a String> + 'a> {
        Box::new(self.as_raw_value().into_iter())
    }
}

impl ParseFromJSON for JsonString {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        match value.unwrap_or_default() {
            Value::String(s) => Ok(JsonString(s)),
            other => Err(ParseError::expected_type(other)),
        }
    }
}

impl ToJSON for JsonString {
    fn to_json(&self) -> Option<Value> {
        Some(Value::String(self.0.clone()))
    }
}

/// Where a clip's transcript stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum TranscriptStateDto {
    /// Transcription has not finished yet (or the clip is not scanned clean yet).
    Pending,
    /// There is a transcript: `segments` hold it.
    Completed,
    /// Transcription gave up; `detail` says why. The clip plays as before, and its owner may
    /// still write a transcript.
    Failed,
    /// This deployment does not transcribe clips; only a transcript the owner wrote shows.
    Off,
}

/// Who wrote a transcript.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum TranscriptSourceDto {
    /// The speech-to-text engine.
    Engine,
    /// The clip's owner (a correction, or written by hand).
    Owner,
}

/// One stretch of speech.
#[derive(Debug, Clone, Object)]
pub struct TranscriptSegmentDto {
    /// Start, in milliseconds from the start of the clip.
    pub start_ms: u64,
    /// End, in milliseconds from the start of the clip.
    pub end_ms: u64,
    /// What was said.
    pub text: String,
}

/// What was said in a clip.
#[derive(Debug, Clone, Object)]
pub struct TranscriptDoc {
    /// The clip.
    pub id: String,
    /// Where the transcript stands.
    pub state: TranscriptStateDto,
    /// Who wrote it, once there is one.
    #[oai(skip_serializing_if_is_none)]
    pub source: Option<TranscriptSourceDto>,
    /// The spoken language (ISO 639 code), when known.
    #[oai(skip_serializing_if_is_none)]
    pub language: Option<String>,
    /// Why transcription failed.
    #[oai(skip_serializing_if_is_none)]
    pub detail: Option<String>,
    /// The segments, in time order (empty unless `completed`).
    pub segments: Vec<TranscriptSegmentDto>,
    /// The transcript as WebVTT captions, once there is one.
    #[oai(skip_serializing_if_is_none)]
    pub vtt_url: Option<String>,
    /// When the transcript last changed (RFC 3339).
    #[oai(skip_serializing_if_is_none)]
    pub updated_at: Option<String>,
}

/// A transcript as the owner sets it: replaces the whole transcript.
#[derive(Debug, Clone, Object)]
#[oai(deny_unknown_fields)]
pub struct TranscriptInput {
    /// The spoken language (ISO 639 code such as `en`); absent or `null` when unknown.
    pub language: Option<JsonString>,
    /// The segments, in time order (at most 10,000; each text one line of at most 2,000
    /// characters, 250,000 in all).
    #[oai(validator(max_items = 10000))]
    pub segments: Vec<SegmentInput>,
}

/// One stretch of speech as the owner writes it.
#[derive(Debug, Clone, Object)]
#[oai(deny_unknown_fields)]
pub struct SegmentInput {
    /// Start, in milliseconds from the start of the clip.
    pub start_ms: Millis,
    /// End, in milliseconds from the start of the clip; not before `start_ms`.
    pub end_ms: Millis,
    /// What was said: one line.
    pub text: JsonString,
}

/// A time in a clip in milliseconds: a whole number from 0 to 86,400,000 (24 hours). Any JSON
/// number without a fraction is one (`5.0` is an integer in JSON Schema).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Millis(pub u64);

impl Millis {
    /// The latest time a transcript may name: 24 hours.
    pub const MAX: u64 = 86_400_000;
}

impl Type for Millis {
    const IS_REQUIRED: bool = true;
    type RawValueType = u64;
    type RawElementValueType = u64;

    fn name() -> Cow<'static, str> {
        "integer(millis)".into()
    }

    fn schema_ref() -> MetaSchemaRef {
        let mut schema = poem_openapi::registry::MetaSchema::new_with_format("integer", "int64");
        schema.minimum = Some(0.0);
        schema.maximum = Some(Self::MAX as f64);
        MetaSchemaRef::Inline(Box::new(schema))
    }

    fn as_raw_value(&self) -> Option<&u64> {
        Some(&self.0)
    }

    fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a u64> + 'a> {
        Box::new(self.as_raw_value().into_iter())
    }
}

impl ParseFromJSON for Millis {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        let value = value.unwrap_or_default();
        match value.as_f64() {
            Some(n) if n.fract() == 0.0 && (0.0..=Self::MAX as f64).contains(&n) => {
                Ok(Millis(n as u64))
            }
            Some(_) => Err(ParseError::custom(format!(
                "must be a whole number of milliseconds from 0 to {}",
                Self::MAX
            ))),
            None => Err(ParseError::expected_type(value)),
        }
    }
}

impl ToJSON for Millis {
    fn to_json(&self) -> Option<Value> {
        Some(Value::from(self.0))
    }
}

/// What an account's live clips take: their originals' bytes and their number (deleted,
/// removed and expired clips do not count; playback renditions never do).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Object)]
pub struct QuotaUsage {
    /// Bytes of the originals.
    pub bytes: u64,
    /// Number of clips.
    pub clips: u64,
}

impl From<voicebin_domain::Usage> for QuotaUsage {
    fn from(u: voicebin_domain::Usage) -> Self {
        QuotaUsage {
            bytes: u.bytes,
            clips: u.clips,
        }
    }
}

/// How much an account's live clips may take; `null` is no limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Object)]
pub struct QuotaLimits {
    /// Bytes of originals, or `null`.
    pub bytes: Option<u64>,
    /// Number of clips, or `null`.
    pub clips: Option<u64>,
}

impl From<voicebin_domain::Limits> for QuotaLimits {
    fn from(l: voicebin_domain::Limits) -> Self {
        QuotaLimits {
            bytes: l.bytes,
            clips: l.clips,
        }
    }
}

/// The caller's account: who it is, what its clips take and what they may take.
#[derive(Debug, Clone, Object)]
pub struct Account {
    /// The account id (the token's subject).
    pub account: String,
    /// What its live clips take.
    pub usage: QuotaUsage,
    /// Its limits (the operator's defaults, or this account's overrides).
    pub limits: QuotaLimits,
}
