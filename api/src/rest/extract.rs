//! Request extractors that poem-openapi documents: bearer authentication (required or
//! optional, through [`crate::auth::authenticate`]) and the streaming upload body.

use poem::{Request, RequestBody};
use poem_openapi::registry::{
    MetaMediaType, MetaRequest, MetaSchema, MetaSchemaRef, MetaSecurityScheme, Registry,
};
use poem_openapi::{ApiExtractor, ApiExtractorType, ExtractParamOptions};

use crate::auth::Principal;
use crate::error::ApiError;
use crate::state::AppState;

/// The name of the security scheme in the OpenAPI document.
pub const SECURITY_SCHEME: &str = "bearerAuth";

fn register_scheme(registry: &mut Registry) {
    registry.create_security_scheme(
        SECURITY_SCHEME,
        MetaSecurityScheme {
            ty: "http",
            description: Some(
                "An API key (`pbca_live_…`) or an OAuth access token (JWT, RFC 9068) signed by \
                 the configured issuer, audience-bound to this site. Tokens bound to a key \
                 (`cnf.jkt`) are sent as `Authorization: DPoP <token>` with a `DPoP` proof \
                 (RFC 9449) instead.",
            ),
            name: None,
            key_in: None,
            scheme: Some("bearer"),
            bearer_format: Some("JWT"),
            flows: None,
            openid_connect_url: None,
        },
    );
}

fn state(req: &Request) -> poem::Result<&AppState> {
    req.data::<AppState>().ok_or_else(|| {
        poem::Error::from_string(
            "state missing",
            poem::http::StatusCode::INTERNAL_SERVER_ERROR,
        )
    })
}

fn reject(e: ApiError) -> poem::Error {
    poem::Error::from(e)
}

/// The verified caller, if it sent a token (a refused token is an [`ApiError`] carried by
/// `poem::Error`).
async fn authenticate(req: &Request) -> poem::Result<Option<Principal>> {
    state(req)?.caller(req).await.map_err(reject)
}

/// A verified caller. Operations taking it require `Authorization: Bearer <token>`.
pub struct Auth(pub Principal);

impl Auth {
    /// The caller, if it holds `scope`; otherwise a 403 naming the scope.
    pub fn require(&self, scope: &'static str) -> Result<&Principal, ApiError> {
        Ok(crate::access::require(&self.0, scope)?)
    }
}

impl<'a> ApiExtractor<'a> for Auth {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::SecurityScheme];
    type ParamType = ();
    type ParamRawType = ();

    fn register(registry: &mut Registry) {
        register_scheme(registry);
    }

    fn security_schemes() -> Vec<&'static str> {
        vec![SECURITY_SCHEME]
    }

    async fn from_request(
        req: &'a Request,
        _body: &mut RequestBody,
        _opts: ExtractParamOptions<Self::ParamType>,
    ) -> poem::Result<Self> {
        match authenticate(req).await? {
            Some(p) => Ok(Auth(p)),
            None => Err(reject(ApiError::new(
                crate::error::Code::Unauthorized,
                "this operation needs `Authorization: Bearer <token>`",
            ))),
        }
    }
}

/// An optional caller: anonymous requests pass, but a token that is sent must be valid.
pub struct MaybeAuth(pub Option<Principal>);

impl<'a> ApiExtractor<'a> for MaybeAuth {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::SecurityScheme];
    type ParamType = ();
    type ParamRawType = ();

    fn register(registry: &mut Registry) {
        register_scheme(registry);
    }

    fn security_schemes() -> Vec<&'static str> {
        vec![SECURITY_SCHEME]
    }

    fn has_security_fallback() -> bool {
        true
    }

    async fn from_request(
        req: &'a Request,
        _body: &mut RequestBody,
        _opts: ExtractParamOptions<Self::ParamType>,
    ) -> poem::Result<Self> {
        Ok(MaybeAuth(authenticate(req).await?))
    }
}

/// The raw upload body, streamed, with its `Content-Type`. Documented as raw audio
/// (`application/octet-stream`, `audio/*`) or `multipart/form-data` with a `file` part.
pub struct UploadBody {
    /// The request's `Content-Type`, if any.
    pub content_type: Option<String>,
    /// The declared `Content-Length`, if any.
    pub content_length: Option<u64>,
    /// The body, not yet read.
    pub body: poem::Body,
}

fn binary_schema() -> MetaSchemaRef {
    MetaSchemaRef::Inline(Box::new(MetaSchema::new_with_format("string", "binary")))
}

fn form_schema() -> MetaSchemaRef {
    let mut schema = MetaSchema::new("object");
    schema.required = vec!["file"];
    let text = |description: &'static str| {
        let mut s = MetaSchema::new("string");
        s.description = Some(description);
        MetaSchemaRef::Inline(Box::new(s))
    };
    // A form field is text: the server parses it as a whole number (see `contract.rs`).
    let mut limit = MetaSchema::new("string");
    limit.description =
        Some("Downloads allowed to others (1 to 1000000000); absent means unlimited.");
    schema.properties = vec![
        ("title", text("Title (at most 200 characters).")),
        (
            "description",
            text("Description (at most 5000 characters)."),
        ),
        (
            "filename",
            text("Filename; defaults to the file part's filename."),
        ),
        ("download_limit", MetaSchemaRef::Inline(Box::new(limit))),
        (
            "expires_in",
            text(
                "How long the clip lives: whole seconds or an ISO 8601 duration (`P7D`); \
                 absent means the server's default lifetime.",
            ),
        ),
        ("file", binary_schema()),
    ];
    schema.description = Some(
        "Metadata fields come before the `file` part, each at most once; no other parts. \
         The fields take at most 65536 bytes together.",
    );
    MetaSchemaRef::Inline(Box::new(schema))
}

impl<'a> ApiExtractor<'a> for UploadBody {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::RequestObject];
    type ParamType = ();
    type ParamRawType = ();

    fn request_meta() -> Option<MetaRequest> {
        Some(MetaRequest {
            description: Some(
                "The audio file: raw bytes (any audio type; the server decides the type from \
                 the bytes) or a multipart form with a `file` part.",
            ),
            content: vec![
                MetaMediaType {
                    content_type: "application/octet-stream",
                    schema: binary_schema(),
                },
                MetaMediaType {
                    content_type: "audio/*",
                    schema: binary_schema(),
                },
                MetaMediaType {
                    content_type: "multipart/form-data",
                    schema: form_schema(),
                },
            ],
            required: true,
        })
    }

    async fn from_request(
        req: &'a Request,
        body: &mut RequestBody,
        _opts: ExtractParamOptions<Self::ParamType>,
    ) -> poem::Result<Self> {
        let header = |name: poem::http::HeaderName| {
            req.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        Ok(UploadBody {
            content_type: header(poem::http::header::CONTENT_TYPE),
            content_length: header(poem::http::header::CONTENT_LENGTH).and_then(|v| v.parse().ok()),
            body: body.take()?,
        })
    }
}
