use poem::http::StatusCode;
use poem::IntoResponse;
use voicebin_commands::CommandError;
use voicebin_domain::ClipError;

use super::*;

#[test]
fn exhausted_conflicts_are_503_with_retry_after_never_500() {
    let response = ApiError::from(CommandError::Conflict).into_response();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(response.headers()["retry-after"], "1");
    assert_eq!(response.content_type(), Some("application/problem+json"));
}

#[test]
fn rule_errors_map_to_their_statuses() {
    let status = |e: ClipError| ApiError::from(e).status();
    assert_eq!(status(ClipError::NotOwner), StatusCode::NOT_FOUND);
    assert_eq!(status(ClipError::Deleted), StatusCode::GONE);
    assert_eq!(
        status(ClipError::LimitBelowCount { limit: 1, count: 2 }),
        StatusCode::UNPROCESSABLE_ENTITY
    );
}

#[test]
fn challenges_cannot_be_broken_by_quotes_in_descriptions() {
    let c = bearer_challenge(Some(("invalid_token", "bad \"token\"")));
    assert_eq!(
        c,
        r#"Bearer realm="voicebin", error="invalid_token", error_description="bad 'token'""#
    );
}

#[test]
fn every_answer_carries_its_codes_status_type_and_header() {
    for code in Code::ALL {
        let row = code.row();
        let response = ApiError::new(code, "x").into_response();
        assert_eq!(response.status(), row.status, "{code:?}");
        assert_eq!(response.content_type(), Some("application/problem+json"));
        // `Allow` comes from the route; without it a 405 names no methods rather than wrong ones.
        if let Some(header) = row.header.filter(|h| *h != ExtraHeader::Allow) {
            assert!(response.headers().contains_key(header.name()), "{code:?}");
        }
    }
    let e = ApiError::method_not_allowed("GET, HEAD").into_response();
    assert_eq!(e.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(e.headers()["allow"], "GET, HEAD");
    let e = ApiError::range_not_satisfiable(10).into_response();
    assert_eq!(e.headers()["content-range"], "bytes */10");
    let e = ApiError::too_many("slow down", 42).into_response();
    assert_eq!(e.headers()["retry-after"], "42");
}

#[test]
fn the_body_is_the_problem_document_of_the_code() {
    let e = ApiError::insufficient_scope_for("voice:read", false);
    let problem = e.problem();
    assert_eq!(problem.ty, "urn:voicebin:problem:insufficient-scope");
    assert_eq!(problem.status, 403);
    assert_eq!(problem.required_scope.as_deref(), Some("voice:read"));
    assert!(e.extra_header().unwrap().1.contains("insufficient_scope"));
}

#[test]
fn problem_types_are_unique_per_code() {
    let mut slugs: Vec<&str> = Code::ALL.iter().map(|c| c.row().slug).collect();
    slugs.sort_unstable();
    slugs.dedup();
    assert_eq!(slugs.len(), Code::ALL.len());
}

#[test]
fn an_operation_documents_one_response_per_status_it_declares() {
    let meta = openapi::responses(&[Code::BadRequest, Code::InvalidField, Code::Unauthorized]);
    let statuses: Vec<_> = meta.responses.iter().map(|r| r.status).collect();
    assert_eq!(statuses, vec![Some(400), Some(401)]);
    assert_eq!(meta.responses[1].headers[0].name, "WWW-AUTHENTICATE");
}

#[test]
fn errors_poem_raises_keep_their_status_class() {
    assert_eq!(
        from_status(StatusCode::METHOD_NOT_ALLOWED, "m".into()).code(),
        Code::MethodNotAllowed
    );
    let e = from_status(StatusCode::INTERNAL_SERVER_ERROR, "secret".into());
    assert_eq!(e.detail(), "an unexpected error occurred");
    assert_eq!(
        from_status(StatusCode::UNSUPPORTED_MEDIA_TYPE, "x".into()).code(),
        Code::UnsupportedMediaType
    );
    // Every status of the table keeps its status; others fall back by class.
    for code in Code::ALL {
        assert_eq!(
            Code::for_status(code.status()).status(),
            code.status(),
            "{code:?}"
        );
    }
    assert_eq!(
        Code::for_status(StatusCode::LENGTH_REQUIRED),
        Code::BadRequest
    );
    assert_eq!(Code::for_status(StatusCode::BAD_GATEWAY), Code::Internal);
}
