//! Why a JSON body that rmcp could not read as a JSON-RPC message was refused, as the JSON-RPC
//! error the transport answers with (HTTP 400, `application/json`): `-32700` for a body that
//! is not JSON, `-32600` for JSON that is not a JSON-RPC 2.0 request, notification or
//! response. rmcp itself answers both with a plain-text 415. (A sound message whose params do
//! not fit its method reaches the server, which answers `-32602`: see `on_custom_request`.)

use poem::http::StatusCode;
use poem::Response;
use rmcp::model::{JsonRpcError, RequestId};
use rmcp::ErrorData;
use serde_json::{Map, Value};

/// The JSON-RPC error for `body`, which rmcp refused to deserialize.
pub fn refusal(body: &[u8]) -> Response {
    let (id, error) = classify(body);
    let body = serde_json::to_vec(&JsonRpcError::new(id, error)).unwrap_or_default();
    Response::builder()
        .status(StatusCode::BAD_REQUEST)
        .content_type("application/json")
        .body(body)
}

/// The id to answer with (when the message has a usable one) and the error.
fn classify(body: &[u8]) -> (Option<RequestId>, ErrorData) {
    let message: Value = match serde_json::from_slice(body) {
        Ok(message) => message,
        Err(e) => {
            return (
                None,
                ErrorData::parse_error(format!("the body is not JSON: {e}"), None),
            )
        }
    };
    let Value::Object(message) = message else {
        return (
            None,
            invalid_request("a JSON-RPC message is one object (batches are not supported)"),
        );
    };
    let id = message.get("id").and_then(request_id);
    // rmcp reads any sound envelope (an unknown method, or params that do not fit a known
    // one, as a custom request), so the reason is in the envelope.
    let reason = envelope(&message).err().unwrap_or("it cannot be read");
    (id, invalid_request(reason))
}

fn invalid_request(reason: &str) -> ErrorData {
    ErrorData::invalid_request(format!("not a JSON-RPC 2.0 message: {reason}"), None)
}

/// An id JSON-RPC allows (MCP: a string or an integer, never null).
fn request_id(id: &Value) -> Option<RequestId> {
    match id {
        Value::String(s) => Some(RequestId::String(s.as_str().into())),
        Value::Number(n) => n.as_i64().map(RequestId::Number),
        _ => None,
    }
}

/// Checks the JSON-RPC 2.0 envelope: why the object is not a JSON-RPC message, if it is not.
fn envelope(message: &Map<String, Value>) -> Result<(), &'static str> {
    if message.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return Err("`jsonrpc` must be \"2.0\"");
    }
    if let Some(id) = message.get("id") {
        if request_id(id).is_none() {
            return Err("`id` must be a string or an integer");
        }
    }
    let has = |key| message.contains_key(key);
    match (has("method"), has("result"), has("error")) {
        (true, false, false) => {
            message
                .get("method")
                .and_then(Value::as_str)
                .ok_or("`method` must be a string")?;
            match message.get("params") {
                None | Some(Value::Object(_)) => Ok(()),
                Some(_) => Err("`params` must be an object"),
            }
        }
        (false, true, false) | (false, false, true) => Err("the response is malformed"),
        _ => Err("it needs a `method`, or one of `result` and `error`"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(body: &str) -> (Option<RequestId>, i32) {
        let (id, error) = classify(body.as_bytes());
        (id, error.code.0)
    }

    #[test]
    fn each_kind_of_bad_body_has_its_code() {
        assert_eq!(code("{not json"), (None, -32700));
        assert_eq!(code(""), (None, -32700));
        assert_eq!(code("[]"), (None, -32600));
        assert_eq!(code("42"), (None, -32600));
        assert_eq!(code(r#"{"id":1,"method":"ping"}"#).1, -32600);
        assert_eq!(
            code(r#"{"jsonrpc":"1.0","id":1,"method":"ping"}"#).1,
            -32600
        );
        assert_eq!(
            code(r#"{"jsonrpc":"2.0","id":null,"method":"ping"}"#),
            (None, -32600)
        );
        assert_eq!(
            code(r#"{"jsonrpc":"2.0","id":1.5,"method":"ping"}"#),
            (None, -32600)
        );
        assert_eq!(
            code(r#"{"jsonrpc":"2.0","id":7,"method":3}"#),
            (Some(RequestId::Number(7)), -32600)
        );
        assert_eq!(
            code(r#"{"jsonrpc":"2.0","id":"a","method":"x","params":[1]}"#).1,
            -32600
        );
        assert_eq!(
            code(r#"{"jsonrpc":"2.0","id":1,"result":{},"error":{}}"#).1,
            -32600
        );
        assert_eq!(code(r#"{"jsonrpc":"2.0"}"#).1, -32600);
    }
}
