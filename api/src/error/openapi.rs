//! Each REST operation declares the errors it can return, and its OpenAPI responses list
//! exactly those, from the error table.
//!
//! An operation returns `Result<Its200Response, Errors<ItsErrors>>`, where `ItsErrors` is
//! declared with `errors!` (`crate::error::errors`): a list of [`Code`]s. Handlers use `?` on anything
//! that converts into an [`ApiError`]. An error outside the list still reaches the client as it
//! is (the answer stays truthful) and is logged as a bug in the list; schemathesis's
//! status-code conformance check, run over the whole API in the test suite, finds such gaps.

use std::marker::PhantomData;

use poem_openapi::registry::{MetaHeader, MetaMediaType, MetaResponse, MetaResponses, Registry};
use poem_openapi::types::Type;
use poem_openapi::ApiResponse;

use super::{ApiError, Code, ExtraHeader, Problem};

/// The errors one operation can return.
pub trait ErrorList: Send + Sync + 'static {
    /// The operation's name, for logs.
    const OPERATION: &'static str;
    /// Its error codes; their statuses are its documented error responses.
    const CODES: &'static [Code];
}

/// Declares an [`ErrorList`]: `errors!(GetItemErrors = "getItem": [Unauthorized, NotFound]);`.
macro_rules! errors {
    ($(#[$meta:meta])* $name:ident = $operation:literal : [$($code:ident),* $(,)?]) => {
        $(#[$meta])*
        pub enum $name {}

        impl $crate::error::ErrorList for $name {
            const OPERATION: &'static str = $operation;
            const CODES: &'static [$crate::error::Code] = &[$($crate::error::Code::$code),*];
        }
    };
}
pub(crate) use errors;

/// An error of an operation whose possible errors are `L`.
pub struct Errors<L: ErrorList> {
    error: ApiError,
    list: PhantomData<fn() -> L>,
}

impl<L: ErrorList> std::fmt::Debug for Errors<L> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Errors").field(&self.error).finish()
    }
}

impl<L: ErrorList, E: Into<ApiError>> From<E> for Errors<L> {
    fn from(error: E) -> Self {
        let error = error.into();
        if !L::CODES.contains(&error.code()) {
            tracing::error!(
                operation = L::OPERATION,
                code = ?error.code(),
                status = error.status().as_u16(),
                "an operation answered with an error it does not declare; add it to its list"
            );
        }
        Errors {
            error,
            list: PhantomData,
        }
    }
}

impl<L: ErrorList> From<Errors<L>> for poem::Error {
    fn from(e: Errors<L>) -> Self {
        poem::Error::from(e.error)
    }
}

fn header_meta(header: ExtraHeader) -> MetaHeader {
    let schema = match header {
        ExtraHeader::RetryAfter => <u32 as Type>::schema_ref(),
        ExtraHeader::WwwAuthenticate | ExtraHeader::ContentRange | ExtraHeader::Allow => {
            <String as Type>::schema_ref()
        }
    };
    MetaHeader {
        name: header.name().as_str().to_ascii_uppercase(),
        description: None,
        required: true,
        deprecated: false,
        schema,
    }
}

/// The description of a status several codes answer with: each code's problem type and
/// description, as a list. Interned: poem-openapi takes `&'static str`, and there are only as
/// many such lists as operations.
fn described_together(codes: &[Code]) -> &'static str {
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock};
    static LISTS: OnceLock<Mutex<HashMap<String, &'static str>>> = OnceLock::new();
    let text = codes
        .iter()
        .map(|code| {
            let row = code.row();
            format!("- `{}`: {}", row.slug, row.description)
        })
        .collect::<Vec<_>>()
        .join("\n");
    let mut lists = LISTS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    let interned: &'static str = lists
        .entry(text.clone())
        .or_insert_with(|| Box::leak(text.into_boxed_str()));
    interned
}

/// The documented responses of the codes `codes`: one per status, described by its code, or
/// by the list of its codes when several share it (403 `insufficient-scope`,
/// `quota-exceeded`, …). A header is required only if every code with that status sends it
/// (403 is `insufficient-scope` with `WWW-Authenticate`, or a plain `forbidden`).
pub fn responses(codes: &[Code]) -> MetaResponses {
    let mut responses: Vec<MetaResponse> = Vec::new();
    for code in codes {
        let row = code.row();
        let status = row.status.as_u16();
        if let Some(seen) = responses.iter_mut().find(|r| r.status == Some(status)) {
            let name = row.header.map(|h| h.name().as_str().to_ascii_uppercase());
            for header in &mut seen.headers {
                if name.as_deref() != Some(header.name.as_str()) {
                    header.required = false;
                }
            }
            let sharing: Vec<Code> = codes
                .iter()
                .copied()
                .filter(|c| c.row().status.as_u16() == status)
                .collect();
            seen.description = described_together(&sharing);
            continue;
        }
        responses.push(MetaResponse {
            description: row.description,
            status: Some(status),
            status_range: None,
            content: vec![MetaMediaType {
                content_type: "application/problem+json",
                schema: <Problem as Type>::schema_ref(),
            }],
            headers: row.header.map(header_meta).into_iter().collect(),
        });
    }
    MetaResponses { responses }
}

impl<L: ErrorList> ApiResponse for Errors<L> {
    fn meta() -> MetaResponses {
        responses(L::CODES)
    }

    fn register(registry: &mut Registry) {
        <Problem as Type>::register(registry);
    }
}
