//! [`Methods`]: a route's endpoints by method, which knows those methods, so that a request
//! with another method answers 405 with `Allow` naming them (RFC 9110 §15.5.6). Every route
//! outside the REST API is built with it in `lib.rs`; the REST API's 405s take `Allow` from
//! the OpenAPI document instead.

use poem::error::MethodNotAllowedError;
use poem::http::Method;
use poem::{Endpoint, IntoEndpoint, Request, Response, RouteMethod};

use crate::error::ApiError;

/// A route's endpoints by method. `HEAD` is answered by the `GET` endpoint (without a body)
/// unless the route has its own.
#[derive(Default)]
pub struct Methods {
    route: RouteMethod,
    methods: Vec<Method>,
}

/// A route answering `GET` (and `HEAD`) with `ep`.
pub fn get<E>(ep: E) -> Methods
where
    E: IntoEndpoint,
    E::Endpoint: 'static,
{
    Methods::default().get(ep)
}

/// A route answering `POST` with `ep`.
pub fn post<E>(ep: E) -> Methods
where
    E: IntoEndpoint,
    E::Endpoint: 'static,
{
    Methods::default().post(ep)
}

impl Methods {
    fn method<E>(mut self, method: Method, ep: E) -> Self
    where
        E: IntoEndpoint,
        E::Endpoint: 'static,
    {
        self.route = self.route.method(method.clone(), ep);
        self.methods.push(method);
        self
    }

    /// Also answers `GET` (and `HEAD`) with `ep`.
    #[must_use]
    pub fn get<E>(self, ep: E) -> Self
    where
        E: IntoEndpoint,
        E::Endpoint: 'static,
    {
        self.method(Method::GET, ep)
    }

    /// Also answers `HEAD` with `ep`.
    #[must_use]
    pub fn head<E>(self, ep: E) -> Self
    where
        E: IntoEndpoint,
        E::Endpoint: 'static,
    {
        self.method(Method::HEAD, ep)
    }

    /// Also answers `POST` with `ep`.
    #[must_use]
    pub fn post<E>(self, ep: E) -> Self
    where
        E: IntoEndpoint,
        E::Endpoint: 'static,
    {
        self.method(Method::POST, ep)
    }

    /// Also answers `PATCH` with `ep`.
    #[must_use]
    pub fn patch<E>(self, ep: E) -> Self
    where
        E: IntoEndpoint,
        E::Endpoint: 'static,
    {
        self.method(Method::PATCH, ep)
    }

    /// Also answers `DELETE` with `ep`.
    #[must_use]
    pub fn delete<E>(self, ep: E) -> Self
    where
        E: IntoEndpoint,
        E::Endpoint: 'static,
    {
        self.method(Method::DELETE, ep)
    }

    /// Also answers `OPTIONS` with `ep`.
    #[must_use]
    pub fn options<E>(self, ep: E) -> Self
    where
        E: IntoEndpoint,
        E::Endpoint: 'static,
    {
        self.method(Method::OPTIONS, ep)
    }

    /// The value of `Allow`: the route's methods, with `HEAD` where `GET` answers it.
    pub fn allow(&self) -> String {
        let mut methods: Vec<&str> = self.methods.iter().map(Method::as_str).collect();
        if methods.contains(&"GET") && !methods.contains(&"HEAD") {
            methods.push("HEAD");
        }
        methods.join(", ")
    }
}

impl Endpoint for Methods {
    type Output = Response;

    async fn call(&self, req: Request) -> poem::Result<Response> {
        match self.route.call(req).await {
            Err(e) if e.is::<MethodNotAllowedError>() => {
                Err(ApiError::method_not_allowed(self.allow()).into())
            }
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use poem::handler;
    use poem::http::StatusCode;

    use super::*;

    #[handler]
    fn ok() -> &'static str {
        "ok"
    }

    fn request(method: Method) -> Request {
        Request::builder().method(method).finish()
    }

    #[test]
    fn allow_names_the_methods_and_head_with_get() {
        assert_eq!(get(ok).allow(), "GET, HEAD");
        assert_eq!(get(ok).post(ok).allow(), "GET, POST, HEAD");
        assert_eq!(get(ok).head(ok).allow(), "GET, HEAD");
        assert_eq!(post(ok).allow(), "POST");
    }

    #[tokio::test]
    async fn another_method_is_a_405_problem_with_allow() {
        let route = get(ok).post(ok);
        let res = route
            .call(request(Method::PUT))
            .await
            .unwrap_err()
            .into_response();
        assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(res.headers()["allow"], "GET, POST, HEAD");
        assert_eq!(res.content_type(), Some("application/problem+json"));
        let res = route.call(request(Method::HEAD)).await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
    }
}
