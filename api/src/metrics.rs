//! `/metrics` (the Prometheus text format) and the middleware that counts every request into
//! the registry in `AppState::metrics`: by method, route *template* and status, its latency to
//! the response's headers, and its body bytes in and out as they stream.
//!
//! Labels stay bounded: a route is the pattern poem matched (`/{id}/audio`,
//! `/api/v1/items/{id}`), never the raw path; a path no route matched is `unmatched`.
//! Two layers cooperate because the route is only known inside the router and the final
//! status and body only outside the error rendering: [`record_route`] sits right around the
//! router and writes the matched pattern into a slot that [`count`], around everything, put
//! in the request.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use http_body::{Body as HttpBody, Frame, SizeHint};
use poem::web::Data;
use poem::PathPattern;
use poem::{handler, Body, Endpoint, IntoResponse, Request, Response, Route};
use voicebin_metrics::{ByteCounter, Metrics};

use crate::state::AppState;

/// The route label of a request no route matched.
const UNMATCHED: &str = "unmatched";

/// Where [`record_route`] leaves the matched route for [`count`].
#[derive(Clone, Default)]
struct RouteSlot(Arc<OnceLock<String>>);

/// `GET /metrics`: every metric family in the Prometheus text format.
#[handler]
pub async fn scrape(Data(state): Data<&AppState>) -> Response {
    render(&state.metrics).await
}

async fn render(metrics: &Metrics) -> Response {
    Response::builder()
        .content_type(voicebin_metrics::CONTENT_TYPE)
        .body(metrics.render().await)
}

/// The app of the separate metrics listener (`VOICEBIN_METRICS_LISTEN`): `/metrics` only.
pub fn listener_app(metrics: Arc<Metrics>) -> impl Endpoint<Output = Response> {
    Route::new().at(
        "/metrics",
        poem::get(poem::endpoint::make(move |_| {
            let metrics = metrics.clone();
            async move { render(&metrics).await }
        })),
    )
}

/// The REST API's path templates, from its OpenAPI document: poem-openapi registers its routes
/// with positional captures (`/api/v1/items/:param0`), which the label names as the document
/// does (`/api/v1/items/{id}`).
#[derive(Clone, Default)]
pub(crate) struct Templates(
    Arc<Vec<String>>,
    Arc<std::sync::RwLock<HashMap<String, String>>>,
);

impl Templates {
    /// The path templates of `document` (an OpenAPI document).
    pub(crate) fn of(document: &serde_json::Value) -> Self {
        let paths = document
            .get("paths")
            .and_then(serde_json::Value::as_object)
            .map(|paths| paths.keys().cloned().collect())
            .unwrap_or_default();
        Templates(Arc::new(paths), Arc::default())
    }

    /// The documented template a concrete request path falls under (`/api/v1/items/abc` is
    /// `/api/v1/items/{id}`), preferring literal segments over captures; `None` when none does.
    fn of_path(&self, path: &str) -> Option<String> {
        let segments: Vec<&str> = path.split('/').collect();
        self.0
            .iter()
            .filter_map(|documented| {
                let parts: Vec<&str> = documented.split('/').collect();
                if parts.len() != segments.len() {
                    return None;
                }
                let mut literal = 0;
                for (part, segment) in parts.iter().zip(&segments) {
                    if part.starts_with('{') {
                        if segment.is_empty() {
                            return None;
                        }
                    } else if part == segment {
                        literal += 1;
                    } else {
                        return None;
                    }
                }
                Some((literal, documented))
            })
            .max_by_key(|(literal, _)| *literal)
            .map(|(_, documented)| documented.clone())
    }

    /// The label of the poem pattern `pattern`, worked out once per pattern (the routes'
    /// patterns are a fixed, small set).
    fn label(&self, pattern: &str) -> String {
        let known = self.1.read().unwrap_or_else(|e| e.into_inner());
        if let Some(label) = known.get(pattern) {
            return label.clone();
        }
        drop(known);
        let label = self.work_out(pattern);
        self.1
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(pattern.to_owned(), label.clone());
        label
    }

    fn work_out(&self, pattern: &str) -> String {
        let label = template(pattern);
        let segments: Vec<&str> = label.split('/').collect();
        self.0
            .iter()
            .find(|documented| {
                let parts: Vec<&str> = documented.split('/').collect();
                parts.len() == segments.len()
                    && parts.iter().zip(&segments).all(|(documented, matched)| {
                        documented == matched
                            || (documented.starts_with('{') && matched.starts_with('{'))
                    })
            })
            .cloned()
            .unwrap_or(label)
    }
}

/// Innermost layer, around the router: copies the pattern it matched, as a label, into the
/// request's [`RouteSlot`].
pub(crate) async fn record_route<E: Endpoint<Output = Response>>(
    ep: Arc<E>,
    req: Request,
    templates: Templates,
) -> poem::Result<Response> {
    let slot = req.data::<RouteSlot>().cloned();
    let result = ep.call(req).await;
    if let Some(slot) = slot {
        let (pattern, refused) = match &result {
            Ok(response) => (
                response.data::<PathPattern>().cloned(),
                response.data::<RefusedPath>().cloned(),
            ),
            Err(error) => (error.data::<PathPattern>().cloned(), None),
        };
        if let Some(PathPattern(pattern)) = pattern {
            let mut label = templates.label(&pattern);
            // A REST request refused before the API's own router ran (a 429 of the rate
            // limiter, which wraps the whole `/api` mount) carries only the mount's pattern;
            // its path names the route.
            if label == UNMATCHED {
                if let Some(documented) = refused.and_then(|RefusedPath(p)| templates.of_path(&p)) {
                    label = documented;
                }
            }
            let _ = slot.0.set(label);
        }
    }
    result
}

/// The path of a request the rate limiter refused before any router below it ran, put on the
/// refusal (only then, so answered requests cost nothing) for [`record_route`] to label it.
#[derive(Clone)]
pub(crate) struct RefusedPath(pub(crate) String);

/// Outermost layer: times the request, counts it, and counts its body bytes as they stream.
pub(crate) async fn count<E: Endpoint>(ep: Arc<E>, mut req: Request) -> poem::Result<Response> {
    let Some(metrics) = req.data::<AppState>().map(|state| state.metrics.clone()) else {
        return ep.call(req).await.map(IntoResponse::into_response);
    };
    let started = Instant::now();
    let method = method_label(req.method());
    let slot = RouteSlot::default();
    req.set_data(slot.clone());
    let tally = Arc::new(Tally::default());
    let body = req.take_body();
    req.set_body(Counted::wrap(body, Sink::Tally(tally.clone())));
    let result = ep.call(req).await.map(IntoResponse::into_response);
    let route = slot.0.get().map_or(UNMATCHED, String::as_str);
    let status = match &result {
        Ok(response) => response.status(),
        Err(error) => error.status(),
    };
    metrics.request(method, route, status.as_u16(), started.elapsed());
    tally.count_into(metrics.bytes_in(method, route));
    result.map(|mut response| {
        let body = response.take_body();
        response.set_body(Counted::wrap(
            body,
            Sink::Counter(metrics.bytes_out(method, route)),
        ));
        response
    })
}

/// A method as a label: the standard ones by name, any other (clients may send any token)
/// as `other`, so the label stays bounded.
fn method_label(method: &poem::http::Method) -> &'static str {
    use poem::http::Method;
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        Method::TRACE => "TRACE",
        Method::CONNECT => "CONNECT",
        _ => "other",
    }
}

/// A route pattern as a label: poem's `:name` and `*name` captures written `{name}`, and the
/// REST API's mount point (what poem reports for a path under `/api` that no operation
/// matched) as `unmatched`.
fn template(pattern: &str) -> String {
    if pattern == "/api" || pattern.is_empty() {
        return UNMATCHED.to_owned();
    }
    pattern
        .split('/')
        .map(|segment| match segment.strip_prefix([':', '*']) {
            Some(name) => format!("{{{name}}}"),
            None => segment.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Request body bytes read before the route is known; counted into its counter once it is.
#[derive(Default)]
struct Tally(Mutex<TallyState>);

enum TallyState {
    Pending(u64),
    Counting(ByteCounter),
}

impl Default for TallyState {
    fn default() -> Self {
        TallyState::Pending(0)
    }
}

impl Tally {
    fn add(&self, bytes: u64) {
        match &mut *self.0.lock().unwrap_or_else(|e| e.into_inner()) {
            TallyState::Pending(pending) => *pending += bytes,
            TallyState::Counting(counter) => counter.inc_by(bytes),
        }
    }

    /// Counts what was read so far into `counter`, and what is read from now on.
    fn count_into(&self, counter: ByteCounter) {
        let mut state = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if let TallyState::Pending(pending) = *state {
            counter.inc_by(pending);
        }
        *state = TallyState::Counting(counter);
    }
}

/// Where a [`Counted`] body adds its bytes.
enum Sink {
    Tally(Arc<Tally>),
    Counter(ByteCounter),
}

/// A body that adds the length of each data frame to its sink as it passes, and otherwise
/// is the body it wraps (its size hint too, so a known length stays `Content-Length`).
struct Counted {
    inner: http_body_util::combinators::BoxBody<Bytes, std::io::Error>,
    sink: Sink,
}

impl Counted {
    fn wrap(body: Body, sink: Sink) -> Body {
        let inner = http_body_util::combinators::BoxBody::from(body);
        Body::from(http_body_util::combinators::BoxBody::new(Counted {
            inner,
            sink,
        }))
    }
}

impl HttpBody for Counted {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &polled {
            if let Some(data) = frame.data_ref() {
                let len = data.len() as u64;
                match &self.sink {
                    Sink::Tally(tally) => tally.add(len),
                    Sink::Counter(counter) => counter.inc_by(len),
                }
            }
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::{method_label, template, Templates};

    #[test]
    fn methods_outside_the_standard_ones_share_one_label() {
        let custom = poem::http::Method::from_bytes(b"FROBNICATE").unwrap();
        assert_eq!(method_label(&custom), "other");
        assert_eq!(method_label(&poem::http::Method::PATCH), "PATCH");
    }

    #[test]
    fn rest_routes_are_named_as_the_document_names_them() {
        let templates = Templates::of(&serde_json::json!({
            "paths": {"/api/v1/items/{id}": {}, "/api/v1/items/{id}/history": {}}
        }));
        assert_eq!(
            templates.label("/api/v1/items/:param0"),
            "/api/v1/items/{id}"
        );
        assert_eq!(
            templates.label("/api/v1/items/:param0/history"),
            "/api/v1/items/{id}/history"
        );
        assert_eq!(templates.label("/:id/audio"), "/{id}/audio");
    }

    #[test]
    fn a_request_path_is_named_by_the_template_it_falls_under() {
        let templates = Templates::of(&serde_json::json!({
            "paths": {
                "/api/v1/items/{id}": {},
                "/api/v1/items/{id}/peaks": {},
                "/api/v1/account/items": {},
                "/api/v1/challenge": {},
            }
        }));
        let of = |path: &str| templates.of_path(path);
        assert_eq!(
            of("/api/v1/items/abc").as_deref(),
            Some("/api/v1/items/{id}")
        );
        assert_eq!(
            of("/api/v1/items/abc/peaks").as_deref(),
            Some("/api/v1/items/{id}/peaks")
        );
        // Literal segments win over a capture of the same shape.
        assert_eq!(
            of("/api/v1/account/items").as_deref(),
            Some("/api/v1/account/items")
        );
        assert_eq!(
            of("/api/v1/challenge").as_deref(),
            Some("/api/v1/challenge")
        );
        for unknown in [
            "/api/v1/nope",
            "/api/v1/items/",
            "/api/v1/items/a/b",
            "/api",
        ] {
            assert_eq!(of(unknown), None, "{unknown}");
        }
    }

    #[test]
    fn route_labels_are_templates() {
        assert_eq!(template("/:id/audio"), "/{id}/audio");
        assert_eq!(template("/api/v1/items/:id"), "/api/v1/items/{id}");
        assert_eq!(template("/static/*name"), "/static/{name}");
        assert_eq!(template("/"), "/");
        assert_eq!(template("/api"), "unmatched");
    }
}
