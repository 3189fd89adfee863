//! The MCP endpoint at `/mcp`: Streamable HTTP, protocol revision 2025-11-25 (rmcp), answering
//! each POST with one JSON response and keeping no session, so any replica can answer any
//! request.
//!
//! Every request must carry a bearer token, verified by the same path as the REST API before
//! rmcp sees the request; the verified [`Principal`] travels to the handlers in the request's
//! extensions. Tools and resources run the REST use cases of [`crate::usecases::clips`], with the same
//! scopes and ownership rules. `Host` and `Origin` must match the configured public URL
//! (DNS-rebinding protection).

mod jsonrpc;
mod resources;
mod schema;
mod tools;

use std::borrow::Cow;
use std::sync::Arc;

use poem::endpoint::{BoxEndpoint, TowerCompatExt};
use poem::http::header;
use poem::{Endpoint, EndpointExt, IntoResponse, Request, Response};
use rmcp::model::{
    CallToolRequestMethod, CallToolRequestParams, CallToolResponse, ConstString, CustomRequest,
    CustomResult, ErrorCode, Implementation, InitializeResult, InitializeResultMethod,
    ListResourceTemplatesRequestMethod, ListResourceTemplatesResult, ListResourcesRequestMethod,
    ListResourcesResult, ListToolsRequestMethod, ListToolsResult, PaginatedRequestParams,
    PingRequestMethod, ProtocolVersion, ReadResourceRequestMethod, ReadResourceRequestParams,
    ReadResourceResponse, ServerCapabilities, Tool,
};
use rmcp::service::RequestContext;
use rmcp::transport::streamable_http_server::session::never::NeverSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ErrorData, RoleServer, ServerHandler};

pub use resources::MAX_BLOB_BYTES;
pub use tools::MAX_INLINE_UPLOAD_BYTES;

use crate::access;
use crate::auth::Principal;
use crate::error::{self, quoted, ApiError, Code};
use crate::state::AppState;

/// The protocol revision this endpoint implements (older revisions are negotiated down to).
pub const PROTOCOL_VERSION: ProtocolVersion = ProtocolVersion::V_2025_11_25;

/// The scopes the tools use, announced in the 401 challenge.
pub const SCOPES: [&str; 3] = [access::READ, access::CREATE, access::DELETE];

/// The MCP server: tools and resources over the clip use cases. Cheap to clone; one is made
/// per request.
#[derive(Clone)]
pub struct McpServer {
    state: AppState,
    catalog: Arc<tools::Catalog>,
}

impl McpServer {
    /// Describes the tools once; output schemas come from the REST API's OpenAPI document
    /// `doc`.
    pub fn new(state: AppState, doc: &serde_json::Value) -> Self {
        let catalog = Arc::new(tools::Catalog::new(&state, doc));
        McpServer { state, catalog }
    }
}

/// The caller the HTTP layer authenticated for this request.
fn caller(context: &RequestContext<RoleServer>) -> Result<tools::Caller, ErrorData> {
    let parts = context
        .extensions
        .get::<poem::http::request::Parts>()
        .ok_or_else(|| ErrorData::internal_error("request without HTTP parts", None))?;
    let principal = parts
        .extensions
        .get::<Principal>()
        .cloned()
        .ok_or_else(|| ErrorData::internal_error("request without a verified caller", None))?;
    Ok(tools::Caller {
        principal,
        request_id: crate::http::request_id_header(&parts.headers),
    })
}

impl ServerHandler for McpServer {
    fn get_info(&self) -> InitializeResult {
        InitializeResult::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_resources()
                .build(),
        )
        .with_protocol_version(PROTOCOL_VERSION)
        .with_server_info(Implementation::new("voicebin", env!("CARGO_PKG_VERSION")))
        .with_instructions(format!(
            "voicebin stores audio clips. upload_audio takes the file's bytes in base64 (at \
             most {} bytes decoded; URLs are not fetched) and returns the clip with its view \
             and download URLs. A clip is `pending` until scanned, then served to others only \
             if `clean`. get_audio, list_audio, update_audio and delete_audio manage clips; a \
             clip is also the resource {}/{{id}}. get_account says what your clips take of \
             your quota.",
            self.catalog.upload_cap,
            self.state.urls.base()
        ))
    }

    fn supported_protocol_versions(&self) -> Cow<'static, [ProtocolVersion]> {
        Cow::Borrowed(ProtocolVersion::known_up_to(&PROTOCOL_VERSION))
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(self.catalog.tools.clone()))
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        self.catalog.tools.iter().find(|t| t.name == name).cloned()
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let caller = caller(&context)?;
        let arguments = request.arguments.unwrap_or_default();
        tools::call(
            &self.state,
            &self.catalog,
            &caller,
            &request.name,
            arguments,
        )
        .await
        .map(Into::into)
    }

    /// rmcp reads a request whose params do not fit its method as a custom request. For a
    /// method this server answers, that is `-32602` (invalid params), not "method not found".
    async fn on_custom_request(
        &self,
        request: CustomRequest,
        _context: RequestContext<RoleServer>,
    ) -> Result<CustomResult, ErrorData> {
        const ANSWERED: [&str; 7] = [
            InitializeResultMethod::VALUE,
            PingRequestMethod::VALUE,
            ListToolsRequestMethod::VALUE,
            CallToolRequestMethod::VALUE,
            ListResourcesRequestMethod::VALUE,
            ListResourceTemplatesRequestMethod::VALUE,
            ReadResourceRequestMethod::VALUE,
        ];
        let method = request.method.as_str();
        if !ANSWERED.contains(&method) {
            return Err(ErrorData::new(
                ErrorCode::METHOD_NOT_FOUND,
                format!("no method `{method}`"),
                None,
            ));
        }
        let why = match method {
            CallToolRequestMethod::VALUE => request.params_as::<CallToolRequestParams>().err(),
            ReadResourceRequestMethod::VALUE => {
                request.params_as::<ReadResourceRequestParams>().err()
            }
            _ => None,
        };
        let message = match why {
            Some(e) => format!("the params of `{method}` are invalid: {e}"),
            None => format!("the params of `{method}` are invalid"),
        };
        Err(ErrorData::invalid_params(message, None))
    }

    async fn list_resource_templates(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, ErrorData> {
        Ok(resources::templates(&self.state))
    }

    async fn list_resources(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        let caller = caller(&context)?;
        let cursor = request.and_then(|r| r.cursor);
        resources::list(&self.state, &caller.principal, cursor).await
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        let caller = caller(&context)?;
        resources::read(&self.state, &caller.principal, &request.uri)
            .await
            .map(Into::into)
    }
}

/// `Host` and `Origin` values the endpoint accepts: those of the public URL.
fn allowed_host_and_origin(public_url: &str) -> Option<(String, String)> {
    let uri: poem::http::Uri = public_url.parse().ok()?;
    let scheme = uri.scheme_str()?.to_ascii_lowercase();
    let authority = uri.authority()?;
    let default_port = match scheme.as_str() {
        "https" => 443,
        _ => 80,
    };
    let port = authority.port_u16().unwrap_or(default_port);
    let host = authority.host();
    // A default port may be left out of `Host`; an entry without a port accepts both forms.
    let allowed_host = if port == default_port {
        host.to_owned()
    } else {
        format!("{host}:{port}")
    };
    Some((allowed_host, format!("{scheme}://{host}:{port}")))
}

/// The `/mcp` endpoint.
pub struct McpEndpoint {
    inner: BoxEndpoint<'static, Response>,
    resource_metadata: String,
    /// The largest body accepted, in bytes.
    max_body: usize,
}

/// Builds the `/mcp` endpoint for `state`; `doc` is the REST API's OpenAPI document, whose
/// schemas the tools' output schemas are.
pub fn endpoint(state: &AppState, doc: &serde_json::Value) -> McpEndpoint {
    let server = McpServer::new(state.clone(), doc);
    // Room for the largest inline upload in base64 plus the JSON-RPC envelope and metadata.
    // Fixed, not the (possibly lower) configured upload limit, so that a clip over that limit
    // is refused by the tool with a readable "too large" result rather than by the transport.
    let max_body =
        usize::try_from(MAX_INLINE_UPLOAD_BYTES.div_ceil(3) * 4 + 64 * 1024).unwrap_or(usize::MAX);
    let mut config = StreamableHttpServerConfig::default()
        .with_legacy_session_mode(false)
        .with_json_response(true)
        .with_sse_keep_alive(None)
        .with_sse_retry(None)
        .with_max_request_body_bytes(max_body)
        .enforce_origin_validation();
    match allowed_host_and_origin(state.urls.base()) {
        Some((host, origin)) => {
            config = config
                .with_allowed_hosts([host])
                .with_allowed_origins([origin]);
        }
        None => tracing::warn!(
            public_url = %state.urls.base(),
            "public URL has no scheme and host; /mcp accepts loopback hosts and no Origin"
        ),
    }
    let service = StreamableHttpService::new(
        move || Ok(server.clone()),
        Arc::new(NeverSessionManager::default()),
        config,
    );
    McpEndpoint {
        inner: service.compat().boxed(),
        resource_metadata: state.urls.mcp_metadata(),
        max_body,
    }
}

impl McpEndpoint {
    /// 401 with the RFC 9728 challenge that points clients at the discovery document.
    fn challenge(&self, error: Option<ApiError>) -> Response {
        let mut value = format!(
            r#"Bearer resource_metadata="{}", scope="{}""#,
            self.resource_metadata,
            SCOPES.join(" ")
        );
        let error = match error {
            Some(e) => {
                value.push_str(&format!(
                    r#", error="invalid_token", error_description="{}""#,
                    quoted(e.detail())
                ));
                e
            }
            None => ApiError::new(
                Code::Unauthorized,
                "the MCP endpoint needs `Authorization: Bearer <token>`",
            ),
        };
        error.with_header(value).into_response()
    }
}

/// Whether `e` challenges in the DPoP scheme.
fn is_dpop_challenge(e: &ApiError) -> bool {
    e.extra_header()
        .is_some_and(|(_, value)| value.starts_with("DPoP "))
}

/// rmcp answers transport errors (bad `Origin`, wrong `Accept`, oversized body) in plain text;
/// they leave as problem documents like every other error.
async fn plain_error_as_problem(response: Response) -> Response {
    let status = response.status();
    let is_json = response
        .content_type()
        .is_some_and(|ct| ct.starts_with("application/json"));
    if !status.is_client_error() || is_json {
        return response;
    }
    let (parts, body) = response.into_parts();
    let detail = body.into_string().await.unwrap_or_default();
    let mut problem = error::from_status(status, detail).into_response();
    for (name, value) in &parts.headers {
        if name != header::CONTENT_LENGTH && name != header::CONTENT_TYPE {
            problem.headers_mut().append(name, value.clone());
        }
    }
    problem
}

/// Whether the request says its body is JSON (`Content-Type: application/json`, any
/// parameters), as rmcp requires before it reads the body.
fn says_json(req: &Request) -> bool {
    req.content_type()
        .and_then(|ct| ct.split(';').next())
        .is_some_and(|essence| essence.trim().eq_ignore_ascii_case("application/json"))
}

/// Reads a body of at most `max` bytes (`expected`, its declared length, only sizes the
/// buffer); a longer one is a 413, an unreadable one a 400.
async fn read_body(
    body: poem::Body,
    expected: usize,
    max: usize,
) -> Result<bytes::Bytes, ApiError> {
    use futures::StreamExt;
    let too_large = || {
        ApiError::new(
            Code::TooLarge,
            format!("the request body exceeds {max} bytes"),
        )
    };
    let mut stream = body.into_bytes_stream();
    let mut collected = bytes::BytesMut::with_capacity(expected.min(max));
    while let Some(chunk) = stream.next().await {
        let chunk =
            chunk.map_err(|e| ApiError::new(Code::BadRequest, format!("unreadable body: {e}")))?;
        if chunk.len() > max.saturating_sub(collected.len()) {
            return Err(too_large());
        }
        collected.extend_from_slice(&chunk);
    }
    Ok(collected.freeze())
}

impl Endpoint for McpEndpoint {
    type Output = Response;

    async fn call(&self, mut req: Request) -> poem::Result<Response> {
        let state = req.data::<AppState>().cloned();
        let caller = match &state {
            Some(state) => state.caller(&req).await,
            None => Err(ApiError::internal(
                &"the MCP endpoint has no application state",
            )),
        };
        match caller {
            Ok(Some(principal)) => {
                req.extensions_mut().insert(principal);
            }
            Ok(None) => return Ok(self.challenge(None)),
            // A DPoP request keeps its DPoP challenge (`invalid_dpop_proof`, `use_dpop_nonce`):
            // RFC 9449 clients act on it. Bearer failures point at the discovery document.
            Err(e) if e.code() == Code::Unauthorized && !is_dpop_challenge(&e) => {
                return Ok(self.challenge(Some(e)))
            }
            Err(e) => return Ok(poem::IntoResponse::into_response(e)),
        }
        // A JSON body rmcp cannot read as a JSON-RPC message gets its plain 415; the body is
        // kept (a cheap handle) to say in JSON-RPC terms what is wrong with it.
        let body = if says_json(&req) {
            let expected = req
                .header(header::CONTENT_LENGTH)
                .and_then(|n| n.parse().ok())
                .unwrap_or(0);
            match read_body(req.take_body(), expected, self.max_body).await {
                Ok(bytes) => {
                    req.set_body(bytes.clone());
                    Some(bytes)
                }
                Err(e) => return Ok(e.into_response()),
            }
        } else {
            None
        };
        let response = self.inner.call(req).await?;
        match body {
            // With a JSON `Content-Type`, rmcp's only 415 is a body it could not deserialize.
            Some(body) if response.status() == poem::http::StatusCode::UNSUPPORTED_MEDIA_TYPE => {
                Ok(jsonrpc::refusal(&body))
            }
            _ => Ok(plain_error_as_problem(response).await),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_and_origin_come_from_the_public_url() {
        assert_eq!(
            allowed_host_and_origin("http://127.0.0.1:8080"),
            Some(("127.0.0.1:8080".into(), "http://127.0.0.1:8080".into()))
        );
        assert_eq!(
            allowed_host_and_origin("https://voicebin.example"),
            Some((
                "voicebin.example".into(),
                "https://voicebin.example:443".into()
            ))
        );
        assert_eq!(
            allowed_host_and_origin("https://voicebin.example/bin"),
            Some((
                "voicebin.example".into(),
                "https://voicebin.example:443".into()
            ))
        );
        assert_eq!(allowed_host_and_origin("not a url"), None);
    }
}
