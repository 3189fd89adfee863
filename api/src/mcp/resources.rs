//! Clips as MCP resources. A clip's URI is its view URL, `{public_url}/{id}` (the URI template
//! `resources/templates/list` announces), so the URI an agent holds is the link people share.
//!
//! `resources/read` follows the visibility of `get_audio`. Its owner (scope `voice:read`) gets
//! the audio itself as a base64 blob when it is at most [`MAX_BLOB_BYTES`]; everyone else, and
//! the owner of a larger clip, gets a `text/uri-list` with the download URL. Bytes for others
//! go through that URL so that download limits and counts hold.

use futures::StreamExt;
use rmcp::model::{
    ListResourceTemplatesResult, ListResourcesResult, ReadResourceResult, Resource,
    ResourceContents, ResourceTemplate,
};
use rmcp::ErrorData;
use serde_json::json;

use base64::Engine;

use crate::access::{self, Refusal, Want};
use crate::auth::Principal;
use crate::error::{ApiError, Code};
use crate::state::AppState;
use crate::usecases::clips;

/// Largest clip `resources/read` embeds as a blob (base64 makes it a third larger on the wire).
pub const MAX_BLOB_BYTES: i64 = 1024 * 1024;

/// Media type of the link answer.
pub const URI_LIST: &str = "text/uri-list";

/// Media type of a transcript.
pub const WEBVTT: &str = "text/vtt";

/// The templates: a clip by id, and its transcript.
pub fn templates(state: &AppState) -> ListResourceTemplatesResult {
    let template = ResourceTemplate::new(format!("{}/{{id}}", state.urls.base()), "clip")
        .with_title("Audio clip")
        .with_description(format!(
            "An audio clip by id. Reading it returns the audio (base64, with its media type) \
             to its owner when it is at most {MAX_BLOB_BYTES} bytes, otherwise a text/uri-list \
             with the download URL."
        ));
    let transcript = ResourceTemplate::new(
        format!("{}/{{id}}/transcript.vtt", state.urls.base()),
        "transcript",
    )
    .with_title("Transcript")
    .with_description(
        "What was said in a clip, as WebVTT captions (text/vtt): one cue per timed segment. \
         Not found while the clip has no transcript; get_transcript says why.",
    )
    .with_mime_type(WEBVTT);
    ListResourceTemplatesResult::with_all_items(vec![template, transcript])
}

fn protocol_error(uri: &str, e: &ApiError) -> ErrorData {
    let p = e.problem();
    let message = p.detail.clone().unwrap_or_else(|| p.title.clone());
    // Absent, deleted and removed clips are all resources that cannot be read.
    if matches!(p.status, 404 | 410 | 451) {
        ErrorData::resource_not_found(message, Some(json!({"uri": uri, "type": p.ty})))
    } else {
        ErrorData::internal_error(message, Some(json!({"uri": uri, "type": p.ty})))
    }
}

/// `resources/read`.
pub async fn read(
    state: &AppState,
    principal: &Principal,
    uri: &str,
) -> Result<ReadResourceResult, ErrorData> {
    if let Some(id) = state.urls.transcript_of(uri) {
        let vtt = crate::usecases::transcripts::webvtt(state, id, Some(principal))
            .await
            .map_err(|e| protocol_error(uri, &e))?;
        return Ok(ReadResourceResult::new(vec![ResourceContents::text(
            vtt, uri,
        )
        .with_mime_type(WEBVTT)]));
    }
    let id = state.urls.clip_of(uri).ok_or_else(|| {
        ErrorData::resource_not_found(
            format!(
                "not a clip of this site; clips are {}/{{id}}",
                state.urls.base()
            ),
            Some(json!({"uri": uri})),
        )
    })?;
    let found = clips::find(state, id, Some(principal), Want::Metadata)
        .await
        .map_err(|e| protocol_error(uri, &e.into()))?;
    let (view, owner) = (found.view, found.reader.is_privileged());
    // The audio itself follows the audio rule: nobody has the audio of a removed clip, and
    // others fetch it through the download URL, where downloads count.
    match access::check(&view, Some(principal), Want::Audio) {
        Ok(reader) if reader.is_privileged() && view.size_bytes <= MAX_BLOB_BYTES => {
            let bytes = read_blob(state, &view.blob_key)
                .await
                .map_err(|e| protocol_error(uri, &e))?;
            let blob = base64::engine::general_purpose::STANDARD.encode(bytes);
            return Ok(ReadResourceResult::new(vec![ResourceContents::blob(
                blob, uri,
            )
            .with_mime_type(view.content_type.clone())]));
        }
        Err(Refusal::Removed) => {
            let text =
                "# This clip was removed by a moderator; its audio is no longer available.\r\n";
            return Ok(ReadResourceResult::new(vec![ResourceContents::text(
                text, uri,
            )
            .with_mime_type("text/plain")]));
        }
        _ => {}
    }
    let why = if owner {
        format!("# The clip is larger than {MAX_BLOB_BYTES} bytes; fetch it from:")
    } else {
        "# Fetch the audio from its download URL (downloads count towards its limit):".to_owned()
    };
    let text = format!("{why}\r\n{}\r\n", state.urls.download(&view.id));
    Ok(ReadResourceResult::new(vec![ResourceContents::text(
        text, uri,
    )
    .with_mime_type(URI_LIST)]))
}

async fn read_blob(state: &AppState, key: &str) -> Result<Vec<u8>, ApiError> {
    let mut stream = match state.service.blobs().get(key, None).await {
        Ok(stream) => stream,
        Err(voicebin_commands::BlobError::NotFound) => return Err(ApiError::gone()),
        Err(e) => return Err(ApiError::unavailable(&e)),
    };
    let mut bytes = Vec::new();
    while let Some(chunk) = stream.next().await {
        bytes.extend_from_slice(&chunk.map_err(|e| ApiError::unavailable(&e))?);
        if bytes.len() as i64 > MAX_BLOB_BYTES {
            return Err(ApiError::new(
                Code::Internal,
                "the stored clip is larger than recorded",
            ));
        }
    }
    Ok(bytes)
}

/// `resources/list`: the caller's clips (scope `voice:read`), a page at a time; empty without
/// the scope, since others' clips are never listed.
pub async fn list(
    state: &AppState,
    principal: &Principal,
    cursor: Option<String>,
) -> Result<ListResourcesResult, ErrorData> {
    if !principal.has_scope(access::READ) {
        return Ok(ListResourcesResult::with_all_items(Vec::new()));
    }
    let page = clips::list(state, principal, None, cursor, None)
        .await
        .map_err(|e| {
            let p = e.problem();
            if p.status == 400 {
                ErrorData::invalid_params(p.detail.clone().unwrap_or_default(), None)
            } else {
                ErrorData::internal_error(p.title.clone(), None)
            }
        })?;
    let resources = page
        .items
        .into_iter()
        .map(|item| {
            let resource = Resource::new(item.urls.view, item.filename)
                .with_mime_type(item.content_type)
                .with_size(u64::try_from(item.size_bytes).unwrap_or_default());
            match item.title {
                Some(title) => resource.with_title(title),
                None => resource,
            }
        })
        .collect();
    Ok(ListResourcesResult {
        next_cursor: page.next_cursor,
        ..ListResourcesResult::with_all_items(resources)
    })
}
