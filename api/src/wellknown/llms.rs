//! `/llms.txt`: what the site is, for language models, with this deployment's URLs.

use poem::web::Data;
use poem::{handler, Request, Response};

use super::cacheable;
use crate::site::{human_bytes, mcp_upload_cap, MCP_PROTOCOL_VERSION};
use crate::state::AppState;

/// `GET /llms.txt`: what the site is, for language models, with this deployment's URLs.
#[handler]
pub async fn llms_txt(Data(state): Data<&AppState>, req: &Request) -> Response {
    cacheable(req, llms(state), "text/plain; charset=utf-8")
}

fn llms(state: &AppState) -> String {
    let url = state.urls.base();
    let issuer = &state.discovery.issuer;
    let max = state.service.max_upload_bytes();
    let (max_size, mcp_size) = (human_bytes(max), human_bytes(mcp_upload_cap(max)));
    let anonymous = if state.anonymous.settings.enabled {
        format!(
            "a proof-of-work challenge (ALTCHA) for an anonymous upload: POST /api/v1/audio with \
             no token and the solution in x-altcha; such clips expire within {} and are deleted \
             with the management token in the answer (x-management-token).",
            crate::usecases::anonymous::lifetime(state)
        )
    } else {
        "404 here: this deployment takes no anonymous uploads.".to_owned()
    };
    format!(
        "# voicebin\n\n\
> An audio clip bin for uploading, sharing, and managing voice/audio files.\n\
> Uploads receive stable view and direct download URLs, with owner controls for\n\
> listing, metadata, deletion, and download limits. Audio is scan-gated before\n\
> broad availability. Accounts, OAuth, and API keys are federated from {issuer}.\n\n\
## How it works\n\n\
- Upload an audio clip as raw bytes or multipart/form-data; metadata can include filename, title, and description. Uploads are limited to {max_size} ({mcp_size} through MCP).\n\
- Public clips expose share/view and direct download URLs. Owners can list, inspect, edit, and delete their clips, including scan state and download-limit metadata.\n\
- Malware and abuse scanning gates availability; clients should treat scan_state as authoritative for owner workflows.\n\n\
## Developer docs\n\n\
- [Developer guide]({url}/docs): REST API, MCP, OAuth, and discovery.\n\
- [OpenAPI 3.1 spec]({url}/api/v1/openapi.json): the full REST contract.\n\
- [MCP server]({url}/mcp): Model Context Protocol endpoint for AI agents (streamable HTTP, protocol {MCP_PROTOCOL_VERSION}).\n\
- [Agent card]({url}/.well-known/agent.json): machine-readable capabilities.\n\
- [MCP discovery]({url}/.well-known/oauth-protected-resource/mcp): protected-resource metadata.\n\n\
## API summary\n\n\
- POST {url}/api/v1/audio — upload an audio clip (scope voice:create). Raw body or multipart file; optional x-filename, x-title, x-description, x-download-limit headers, and x-expires-in (seconds or an ISO 8601 duration such as P7D; the clip answers 410 once expired).\n\
- POST {url}/api/v1/uploads — a resumable upload (scope voice:create): tus 1.0 (Tus-Resumable: 1.0.0, Upload-Length, Upload-Metadata with base64 filename/title/description/download_limit/expires_in) or the IETF resumable-upload draft (Upload-Complete, interop version 8); then HEAD {url}/api/v1/uploads/{{id}} for Upload-Offset, PATCH from it, DELETE to cancel. Bytes received before a broken connection are kept; the clip exists once the last byte is in (the last append names it in Content-Location).\n\
- GET {url}/api/v1/items/{{id}} — read audio metadata; owners see scan and limit fields (scope voice:read for owner API-key reads).\n\
- GET {url}/api/v1/account — your quota: what your clips take and may take (scope voice:read or voice:create); an upload past it is refused with 403 quota-exceeded.\n\
- PATCH {url}/api/v1/items/{{id}} — edit title, description, download limit, expires_at (RFC 3339, null for never) (owner).\n\
- GET {url}/api/v1/account/items — list your audio clips (scope voice:read); filters include q.\n\
- DELETE {url}/api/v1/items/{{id}} — delete one of your audio clips (scope voice:delete).\n\
- GET {url}/api/v1/challenge — {anonymous}\n\n\
## Authentication\n\n\
- Account API keys are minted by {issuer} and audience-bound to {url}.\n\
- Send them as: Authorization: Bearer pbca_live_…\n\
- OAuth 2.1 access tokens (RFC 9068) from {issuer} are accepted too, with audience {url} or {url}/mcp; DPoP-bound tokens are sent as Authorization: DPoP with a DPoP proof (RFC 9449).\n\n\
## Policy\n\n\
- Uploaded audio may be scan-gated, blocked, removed, or rate limited for abuse.\n\
- Owner-only fields expose scan state and download limits so clients can avoid assuming immediate public availability.\n\
- Privacy: {url}/privacy\n\
- Report abuse at {url}/abuse.\n"
    )
}
