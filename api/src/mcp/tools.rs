//! The MCP tools: `upload_audio`, `get_audio`, `get_transcript`, `list_audio`, `update_audio`,
//! `delete_audio`, `get_account`.
//!
//! Each tool is the REST operation of the same meaning, run through [`crate::usecases::clips`] with the
//! same scope and ownership checks, and answers with the REST JSON shape as
//! `structuredContent`. Arguments are checked as strictly as the REST API checks the same
//! fields: what REST would refuse with 400 (a missing, unknown or mistyped argument, a value
//! out of range, an invalid field) is the protocol error `-32602` (invalid params) with the
//! problem document as `data`, as is an unknown tool name. Business errors (not found, not
//! owner, missing scope, not audio, too large, gone, removed) are tool results with
//! `isError: true` carrying the problem document's title and detail.

use std::sync::Arc;

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine;
use bytes::Bytes;
use poem_openapi::types::{MaybeUndefined, ToJSON};
use rmcp::handler::server::common::schema_for_type;
use rmcp::model::{CallToolResult, ContentBlock, JsonObject, Tool, ToolAnnotations};
use rmcp::schemars::JsonSchema;
use rmcp::ErrorData;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use serde_json::{json, Value};
use voicebin_commands::ByteStream;
use voicebin_domain::ValueError;

use super::schema;
use crate::access;
use crate::auth::Principal;
use crate::error::{ApiError, Code};
use crate::model::{ItemPatch, JsonString};
use crate::state::AppState;
use crate::usecases::clips::{self, RawMeta};
use crate::usecases::limits::{Class, Standing, Subject};

/// Largest clip `upload_audio` accepts, decoded (the server's upload limit applies if lower).
/// Base64 in a JSON-RPC body costs a third more, and the whole request sits in memory.
pub const MAX_INLINE_UPLOAD_BYTES: u64 = crate::site::MCP_UPLOAD_MAX_BYTES;

/// The tools, described once at start-up.
pub struct Catalog {
    /// The tool list as `tools/list` shows it.
    pub tools: Vec<Tool>,
    /// Largest decoded `data` of `upload_audio`.
    pub upload_cap: u64,
}

fn input<T: JsonSchema + 'static>() -> Arc<JsonObject> {
    Arc::new(schema::portable(&schema_for_type::<T>()))
}

fn annotations(
    title: &str,
    read_only: bool,
    destructive: bool,
    idempotent: bool,
) -> ToolAnnotations {
    ToolAnnotations::with_title(title)
        .read_only(read_only)
        .destructive(destructive)
        .idempotent(idempotent)
        .open_world(false)
}

impl Catalog {
    /// Describes the tools; output schemas come from the REST API's OpenAPI document `doc`.
    pub fn new(state: &AppState, doc: &Value) -> Self {
        let upload_cap = crate::site::mcp_upload_cap(state.service.max_upload_bytes());
        let item = Arc::new(schema::component(doc, "Item"));
        let page = Arc::new(schema::component(doc, "ItemPage"));
        let transcript = Arc::new(schema::component(doc, "TranscriptDoc"));
        let account = Arc::new(schema::component(doc, "Account"));
        let deleted: JsonObject = serde_json::from_value(json!({
            "type": "object",
            "description": "The clip was deleted: from now on it answers 410 and its bytes are purged.",
            "properties": {
                "id": {"type": "string", "description": "The deleted clip."},
                "deleted": {"type": "boolean", "const": true}
            },
            "required": ["id", "deleted"]
        }))
        .unwrap_or_default();
        let tools = vec![
            Tool::new(
                "upload_audio",
                format!(
                    "Upload an audio clip (scope voice:create). Send the file's bytes in `data`, \
                     base64-encoded, at most {upload_cap} bytes once decoded. Remote URLs are \
                     never fetched: only the bytes you send are stored. The media type is \
                     decided from the bytes (WAV, MP3, Ogg, Opus, FLAC, MP4/M4A, WebM, AIFF, \
                     CAF); anything else is refused. The clip is `pending` until it has been \
                     validated and scanned, and only then served to others. Returns the owner \
                     view of the new clip, with its view and download URLs."
                ),
                input::<UploadArgs>(),
            )
            .with_title("Upload audio")
            .with_raw_output_schema(item.clone())
            .with_annotations(annotations("Upload audio", false, false, false)),
            Tool::new(
                "get_audio",
                "Read a clip's metadata. Anyone may read a clip that passed its scan; its owner \
                 (with scope voice:read) also sees pending or rejected clips and the owner-only \
                 fields (scan state, download limit and count).",
                input::<IdArgs>(),
            )
            .with_title("Get audio")
            .with_raw_output_schema(item.clone())
            .with_annotations(annotations("Get audio", true, false, true)),
            Tool::new(
                "get_transcript",
                "Read what was said in a clip: its transcript as timed segments (start and end \
                 in milliseconds, text), with the same visibility as `get_audio`. `state` is \
                 `pending` until the speech-to-text engine has run, `failed` (with `detail`) \
                 when it could not, `off` when this deployment does not transcribe; `source` \
                 says whether the engine or the clip's owner wrote it.",
                input::<IdArgs>(),
            )
            .with_title("Get transcript")
            .with_raw_output_schema(transcript)
            .with_annotations(annotations("Get transcript", true, false, true)),
            Tool::new(
                "list_audio",
                "List your clips, newest first, or search them (scope voice:read). `q` is a \
                 full-text search of title, filename, description and what was said in the \
                 clip (its transcript): every word must occur, each as the start of a word; \
                 \"quoted words\" must occur together; -word leaves clips out. Results come \
                 best match first, each with `match`: the field (title, filename, \
                 description, transcript), a snippet whose `hit` pieces are the matches, and \
                 for a transcript `at_ms`, when it was said. Pass `next_cursor` of one page as \
                 `cursor`, with the same `q`, to get the next.",
                input::<ListArgs>(),
            )
            .with_title("List audio")
            .with_raw_output_schema(page)
            .with_annotations(annotations("List audio", true, false, true)),
            Tool::new(
                "update_audio",
                "Edit the title, description or download limit of a clip you own (scope \
                 voice:create). Absent fields are left alone; null clears a field (a null \
                 download limit means unlimited). Returns the clip after the change.",
                input::<UpdateArgs>(),
            )
            .with_title("Update audio")
            .with_raw_output_schema(item)
            .with_annotations(annotations("Update audio", false, false, true)),
            Tool::new(
                "delete_audio",
                "Delete a clip you own (scope voice:delete). It stops being served at once and \
                 its bytes are purged; this cannot be undone.",
                input::<IdArgs>(),
            )
            .with_title("Delete audio")
            .with_raw_output_schema(Arc::new(deleted))
            .with_annotations(annotations("Delete audio", false, true, true)),
            Tool::new(
                "get_account",
                "Your account and its quota (scope voice:read or voice:create): `usage` is \
                 what your live clips take (bytes of the originals, number of clips), \
                 `limits` how much they may take (null: no limit). An upload that would pass \
                 a limit is refused with quota-exceeded; deleting clips makes room.",
                input::<NoArgs>(),
            )
            .with_title("Get account")
            .with_raw_output_schema(account)
            .with_annotations(annotations("Get account", true, false, true)),
        ];
        Catalog { tools, upload_cap }
    }
}

/// `upload_audio` arguments.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(crate = "rmcp::schemars")]
struct UploadArgs {
    /// The audio file's bytes, base64-encoded (standard alphabet, padding optional). At most
    /// 10 MiB once decoded. URLs are not accepted.
    data: String,
    /// Display filename, e.g. `standup.ogg` (default: `<id>.<ext>`).
    #[serde(default)]
    filename: Option<String>,
    /// Title (at most 200 characters).
    #[serde(default)]
    title: Option<String>,
    /// Description (at most 5000 characters).
    #[serde(default)]
    description: Option<String>,
    /// Downloads allowed to others than you (1 to 1000000000); absent means unlimited.
    #[serde(default)]
    download_limit: Option<i64>,
    /// How long the clip lives: whole seconds (`3600`) or an ISO 8601 duration (`PT1H`, `P7D`,
    /// `P1DT12H`); absent means the server's default (often never). After that it answers 410
    /// and its bytes are purged.
    #[serde(default)]
    expires_in: Option<String>,
}

/// No arguments.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(crate = "rmcp::schemars")]
struct NoArgs {}

/// Arguments naming one clip.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(crate = "rmcp::schemars")]
struct IdArgs {
    /// The clip's id (as returned by `upload_audio` or `list_audio`).
    id: String,
}

/// `list_audio` arguments.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(crate = "rmcp::schemars")]
struct ListArgs {
    /// Full-text search of title, filename, description and transcript: words (each a word
    /// prefix), "quoted phrases", -excluded words (at most 200 characters).
    #[serde(default)]
    q: Option<String>,
    /// `next_cursor` from the previous page.
    #[serde(default)]
    cursor: Option<String>,
    /// Page size, 1 to 100 (default 20).
    #[serde(default)]
    #[schemars(range(min = 1, max = 100))]
    limit: Option<u32>,
}

/// Deserializes a present field, `null` included, as `Some`; an absent one stays `None`.
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

/// `update_audio` arguments.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(crate = "rmcp::schemars")]
struct UpdateArgs {
    /// The clip's id.
    id: String,
    /// New title (at most 200 characters), or null to clear.
    #[serde(default, deserialize_with = "present")]
    title: Option<Option<String>>,
    /// New description (at most 5000 characters), or null to clear.
    #[serde(default, deserialize_with = "present")]
    description: Option<Option<String>>,
    /// New download limit (1 to 1000000000), or null for unlimited.
    #[serde(default, deserialize_with = "present")]
    download_limit: Option<Option<i64>>,
    /// When the clip expires (RFC 3339, in the future, within the server's maximum lifetime),
    /// or null for never.
    #[serde(default, deserialize_with = "present")]
    expires_at: Option<Option<String>>,
}

fn maybe<T>(value: Option<Option<T>>) -> MaybeUndefined<T> {
    match value {
        None => MaybeUndefined::Undefined,
        Some(None) => MaybeUndefined::Null,
        Some(Some(v)) => MaybeUndefined::Value(v),
    }
}

/// The caller of one tool call, as the HTTP layer authenticated it.
pub struct Caller {
    /// The verified token's principal.
    pub principal: Principal,
    /// `X-Request-Id`, recorded with the events.
    pub request_id: Option<String>,
}

/// A tool's outcome before it becomes a `CallToolResult`.
type Outcome = Result<Value, ApiError>;

fn require(caller: &Caller, scope: &'static str) -> Result<(), ApiError> {
    access::require(&caller.principal, scope)?;
    Ok(())
}

fn args<T: DeserializeOwned>(arguments: JsonObject) -> Result<T, ApiError> {
    serde_json::from_value(Value::Object(arguments))
        .map_err(|e| ApiError::new(Code::BadRequest, format!("invalid arguments: {e}")))
}

/// The protocol error for arguments REST would refuse with 400: `-32602`, with the problem
/// document (its `field`, if it names one) as `data`.
pub fn invalid_params(e: &ApiError) -> ErrorData {
    let p = e.problem();
    let message = p.detail.clone().unwrap_or_else(|| p.title.clone());
    ErrorData::invalid_params(message, Some(json_of(&p)))
}

fn json_of<T: ToJSON>(value: &T) -> Value {
    value.to_json().unwrap_or(Value::Null)
}

/// Runs tool `name`; `Err` (a protocol error) for an unknown tool or invalid arguments.
pub async fn call(
    state: &AppState,
    catalog: &Catalog,
    caller: &Caller,
    name: &str,
    arguments: JsonObject,
) -> Result<CallToolResult, ErrorData> {
    let outcome = match name {
        "upload_audio" => upload(state, catalog, caller, arguments).await,
        "get_audio" => get(state, caller, arguments).await,
        "get_transcript" => get_transcript(state, caller, arguments).await,
        "list_audio" => list(state, caller, arguments).await,
        "update_audio" => update(state, caller, arguments).await,
        "delete_audio" => delete(state, caller, arguments).await,
        "get_account" => get_account(state, caller, arguments).await,
        _ => {
            return Err(ErrorData::invalid_params(
                format!("no tool named `{name}`"),
                None,
            ))
        }
    };
    match outcome {
        Ok(value) => Ok(CallToolResult::structured(value)),
        Err(e) if e.status() == poem::http::StatusCode::BAD_REQUEST => Err(invalid_params(&e)),
        Err(e) => Ok(error_result(&e)),
    }
}

/// A business error as a tool result the model can read: the problem's title and detail, and
/// its stable type. No `structuredContent`, which would have to match the output schema.
pub fn error_result(e: &ApiError) -> CallToolResult {
    let p = e.problem();
    let mut text = p.title.clone();
    if let Some(detail) = &p.detail {
        text = format!("{text}: {detail}");
    }
    text = format!("{text} [{} {}]", p.status, p.ty);
    CallToolResult::error(vec![ContentBlock::text(text)])
}

fn base64_engine() -> GeneralPurpose {
    GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
    )
}

/// Decodes `data`, refusing anything whose decoded size would exceed `cap` before decoding.
fn decode_data(data: &str, cap: u64) -> Result<Vec<u8>, ApiError> {
    let compact: String = data.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    let too_large = || {
        ApiError::new(
            Code::TooLarge,
            format!("`data` is limited to {cap} bytes once decoded"),
        )
    };
    if (compact.len() as u64) / 4 * 3 > cap + 3 {
        return Err(too_large());
    }
    let bytes = base64_engine().decode(compact.as_bytes()).map_err(|_| {
        ApiError::invalid_field(&ValueError::Invalid {
            field: "data",
            reason: "must be the file's bytes in base64 (standard alphabet)",
        })
    })?;
    if bytes.len() as u64 > cap {
        return Err(too_large());
    }
    Ok(bytes)
}

async fn upload(state: &AppState, catalog: &Catalog, caller: &Caller, a: JsonObject) -> Outcome {
    require(caller, access::CREATE)?;
    let owner = clips::account(&caller.principal)?;
    // An upload over MCP takes from the account's uploads allowance, as `POST /api/v1/audio`
    // does (the MCP request itself was counted in its own class).
    let subject = Subject::Account(owner.as_str().to_owned());
    match state.limits.count(Class::Uploads, &subject).await {
        Ok(standing) => {
            if let Some(refusal) = standing.as_ref().and_then(Standing::refusal) {
                state
                    .metrics
                    .rate_limit_refused(Class::Uploads.name(), "account");
                return Err(refusal);
            }
        }
        // As for every request: a store that cannot answer limits nothing (ADR 0021).
        Err(e) => {
            tracing::warn!(error = %e, "the rate-limit store cannot answer: upload not limited")
        }
    }
    let a: UploadArgs = args(a)?;
    let bytes = decode_data(&a.data, catalog.upload_cap)?;
    let meta = RawMeta {
        filename: a.filename,
        title: a.title,
        description: a.description,
        download_limit: a.download_limit.map(|n| n.to_string()),
        expires_in: a.expires_in,
    };
    let declared = Some(bytes.len() as u64);
    let body: ByteStream = Box::pin(futures::stream::once(async move {
        Ok::<_, std::io::Error>(Bytes::from(bytes))
    }));
    let item = clips::upload(
        state,
        owner,
        meta,
        body,
        declared,
        caller.request_id.clone(),
    )
    .await?;
    Ok(json_of(&item))
}

async fn get(state: &AppState, caller: &Caller, a: JsonObject) -> Outcome {
    let a: IdArgs = args(a)?;
    let item = clips::get(state, &a.id, Some(&caller.principal)).await?;
    Ok(json_of(&item))
}

async fn get_transcript(state: &AppState, caller: &Caller, a: JsonObject) -> Outcome {
    let a: IdArgs = args(a)?;
    let doc = crate::usecases::transcripts::get(state, &a.id, Some(&caller.principal)).await?;
    Ok(json_of(&doc))
}

async fn list(state: &AppState, caller: &Caller, a: JsonObject) -> Outcome {
    require(caller, access::READ)?;
    let a: ListArgs = args(a)?;
    let page = clips::list(state, &caller.principal, a.q, a.cursor, a.limit).await?;
    Ok(json_of(&page))
}

async fn update(state: &AppState, caller: &Caller, a: JsonObject) -> Outcome {
    require(caller, access::CREATE)?;
    let a: UpdateArgs = args(a)?;
    let patch = ItemPatch {
        title: maybe(a.title.map(|t| t.map(JsonString))),
        description: maybe(a.description.map(|d| d.map(JsonString))),
        download_limit: maybe(a.download_limit.map(|l| l.map(|l| l as f64))),
        expires_at: maybe(a.expires_at.map(|e| e.map(JsonString))),
    };
    let item = clips::edit(
        state,
        &caller.principal,
        &a.id,
        patch,
        caller.request_id.clone(),
    )
    .await?;
    Ok(json_of(&item))
}

async fn delete(state: &AppState, caller: &Caller, a: JsonObject) -> Outcome {
    require(caller, access::DELETE)?;
    let a: IdArgs = args(a)?;
    clips::delete(state, &caller.principal, &a.id, caller.request_id.clone()).await?;
    Ok(json!({"id": a.id, "deleted": true}))
}

async fn get_account(state: &AppState, caller: &Caller, a: JsonObject) -> Outcome {
    // As over REST: an uploading key may see its room; otherwise reading is the scope.
    if !caller.principal.has_scope(access::CREATE) {
        require(caller, access::READ)?;
    }
    let NoArgs {} = args(a)?;
    let account = crate::usecases::quotas::account(state, &caller.principal).await?;
    Ok(json_of(&account))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_is_decoded_with_or_without_padding_and_line_breaks() {
        assert_eq!(decode_data("aGk=", 10).unwrap(), b"hi");
        assert_eq!(decode_data("aGk", 10).unwrap(), b"hi");
        assert_eq!(decode_data("aGVs\nbG8=", 10).unwrap(), b"hello");
    }

    #[test]
    fn oversized_or_malformed_data_is_refused() {
        let big = base64_engine().encode(vec![0u8; 100]);
        let e = decode_data(&big, 99).unwrap_err();
        assert_eq!(e.problem().ty, "urn:voicebin:problem:too-large");
        assert!(decode_data(&big, 100).is_ok());
        let e = decode_data("https://example.com/a.mp3", 100).unwrap_err();
        assert_eq!(e.problem().ty, "urn:voicebin:problem:invalid-field");
        assert_eq!(e.problem().field.as_deref(), Some("data"));
    }
}
