//! What can go wrong, how it is shown, and the exit code it ends with.
//!
//! The server answers errors as RFC 9457 problem documents; they are shown as
//! `error: <title>: <detail>`. Every failure maps to one documented exit code ([`Exit`]), so
//! scripts can tell "sign in again" from "that clip is gone" from "try later".

use std::fmt;

use reqwest::StatusCode;
use serde::Deserialize;
use serde_json::Value;

use crate::output::clean;

/// The exit codes `vb` documents (`vb --help`, `cli/README.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Everything worked.
    Ok = 0,
    /// Anything not listed below (a local file that cannot be read, a surprising answer).
    Other = 1,
    /// The command line was wrong (clap uses 2 as well).
    Usage = 2,
    /// Not signed in, or the server refused the token (401, 403).
    Auth = 3,
    /// The clip does not exist, is gone or was removed (404, 410, 451).
    NotFound = 4,
    /// The server refused what was sent (400, 409, 412, 413, 415, 416, 422).
    Refused = 5,
    /// Too many requests, or the account's quota is full (429, 403 `quota-exceeded`).
    Limited = 6,
    /// The server or the network is unavailable (5xx, connection errors, timeouts).
    Unavailable = 7,
}

/// The exit codes as `vb --help` lists them.
pub const EXIT_CODES_HELP: &str = "\
Exit codes:
  0  success
  1  other error (e.g. a local file that cannot be read)
  2  usage error (wrong arguments)
  3  not signed in, or the token was refused (401, 403)
  4  not found or gone (404, 410, 451)
  5  the server refused the input (400, 409, 412, 413, 415, 416, 422)
  6  rate limited or quota exceeded (429, 403 quota-exceeded)
  7  server or network unavailable (5xx, connection errors, timeouts)
130  interrupted (Ctrl-C); run the same command again to go on";

/// The problem type of a full quota, which is a 403 that signing in again does not fix.
const QUOTA_EXCEEDED: &str = "urn:voicebin:problem:quota-exceeded";

impl Exit {
    /// The exit code for an HTTP error status and, when the server sent one, its problem type.
    pub fn for_status(status: StatusCode, problem_type: Option<&str>) -> Exit {
        match status.as_u16() {
            403 if problem_type == Some(QUOTA_EXCEEDED) => Exit::Limited,
            401 | 403 => Exit::Auth,
            404 | 410 | 451 => Exit::NotFound,
            400 | 409 | 412 | 413 | 415 | 416 | 422 => Exit::Refused,
            429 => Exit::Limited,
            500..=599 => Exit::Unavailable,
            _ => Exit::Other,
        }
    }
}

/// An RFC 9457 problem document, with the members voicebin adds.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Problem {
    /// `urn:voicebin:problem:<code>`.
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    /// The kind of problem, for people.
    #[serde(default)]
    pub title: Option<String>,
    /// This occurrence.
    #[serde(default)]
    pub detail: Option<String>,
    /// The field a validation error is about.
    #[serde(default)]
    pub field: Option<String>,
    /// The scope a 403 `insufficient_scope` needed.
    #[serde(default)]
    pub required_scope: Option<String>,
}

/// A failed command.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// The command line cannot be acted on (a missing value, contradictory options).
    #[error("{0}")]
    Usage(String),
    /// No token: `vb login` first.
    #[error("not signed in: run `vb login` (or pass --url and --token, or set VOICEBIN_URL and VOICEBIN_TOKEN)")]
    NotSignedIn,
    /// The server answered with an error status.
    #[error("{}", api_message(*.status, .problem.as_deref()))]
    Api {
        /// The status.
        status: StatusCode,
        /// Its problem document, when the body was one.
        problem: Option<Box<Problem>>,
        /// The raw JSON body, for `--json`.
        body: Option<Value>,
    },
    /// The server could not be reached, or the connection broke.
    #[error("{0}")]
    Network(String),
    /// The server answered something a voicebin server does not (HTML, another status).
    #[error("{0}")]
    Unexpected(String),
    /// The account's quota has no room for an upload (found out after the server cut it off).
    #[error("Quota exceeded: {0}")]
    QuotaFull(String),
    /// Some of several operations failed; each was reported as it failed.
    #[error("{failed} of {total} uploads failed")]
    Partial {
        /// How many failed.
        failed: usize,
        /// How many were tried.
        total: usize,
        /// The first failure's exit code.
        exit: Exit,
    },
    /// Anything else, with its context.
    #[error("{0:#}")]
    Other(#[from] anyhow::Error),
}

impl Failure {
    /// The failure for `--json`: `{"error": {"message", "exit", "status"?, "problem"?}}`, the
    /// problem being the server's document as it sent it.
    pub fn to_json(&self) -> Value {
        let mut error = serde_json::json!({
            "message": self.to_string(),
            "exit": self.exit() as u8,
        });
        if let Failure::Api { status, body, .. } = self {
            error["status"] = status.as_u16().into();
            if let Some(body) = body {
                error["problem"] = body.clone();
            }
        }
        serde_json::json!({ "error": error })
    }

    /// The exit code this failure ends `vb` with.
    pub fn exit(&self) -> Exit {
        match self {
            Failure::Usage(_) => Exit::Usage,
            Failure::NotSignedIn => Exit::Auth,
            Failure::Api {
                status, problem, ..
            } => Exit::for_status(*status, problem.as_ref().and_then(|p| p.kind.as_deref())),
            Failure::Network(_) => Exit::Unavailable,
            Failure::Partial { exit, .. } => *exit,
            Failure::QuotaFull(_) => Exit::Limited,
            Failure::Unexpected(_) | Failure::Other(_) => Exit::Other,
        }
    }

    /// The innermost cause of an error, e.g. "Connection refused".
    pub fn cause(error: &reqwest::Error) -> String {
        root_cause(error)
    }

    /// A network error, worded for people: what could not be reached, and why.
    pub fn network(url: &str, error: &reqwest::Error) -> Failure {
        let cause = root_cause(error);
        let what = if error.is_timeout() {
            "the server did not answer in time"
        } else if error.is_connect() {
            "cannot connect"
        } else if error.is_body() || error.is_decode() {
            "the connection broke while reading the answer"
        } else if error.is_request() {
            "the request could not be sent"
        } else {
            "network error"
        };
        Failure::Network(format!("{what} ({url}): {cause}"))
    }
}

/// The innermost cause of an error (reqwest's own message is often only "error sending
/// request"; what people need is "Connection refused").
fn root_cause(error: &(dyn std::error::Error + 'static)) -> String {
    let mut current = error;
    while let Some(next) = current.source() {
        current = next;
    }
    current.to_string()
}

/// `<title>: <detail> (field `f`)`, or the status's reason when there is no problem document.
pub fn api_message(status: StatusCode, problem: Option<&Problem>) -> String {
    let reason = status.canonical_reason().unwrap_or("error");
    let Some(problem) = problem else {
        // A HEAD's answer has no body: say what the status means for a token.
        let hint = match status {
            StatusCode::UNAUTHORIZED => ": the token was refused (run `vb login` again)",
            StatusCode::FORBIDDEN => {
                ": the token lacks a scope this needs (`voice:create` to upload)"
            }
            _ => "",
        };
        return format!("the server answered {} {reason}{hint}", status.as_u16());
    };
    // The server's words, never its escape sequences.
    let mut message = problem
        .title
        .as_deref()
        .map(clean)
        .unwrap_or_else(|| reason.to_owned());
    if let Some(detail) = problem.detail.as_deref().filter(|d| !d.is_empty()) {
        message.push_str(": ");
        message.push_str(&clean(detail));
    }
    let mut notes = Vec::new();
    if let Some(field) = &problem.field {
        notes.push(format!("field `{}`", clean(field)));
    }
    if let Some(scope) = &problem.required_scope {
        let note = format!("`{}`", clean(scope));
        // voicebin's details name the scope already.
        if !message.contains(&note) {
            notes.push(format!("needs scope {note}"));
        }
    }
    if !notes.is_empty() {
        message.push_str(&format!(" ({})", notes.join(", ")));
    }
    message
}

impl fmt::Display for Exit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", *self as u8)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_to_the_documented_exit_codes() {
        let cases = [
            (401, None, Exit::Auth),
            (
                403,
                Some("urn:voicebin:problem:insufficient-scope"),
                Exit::Auth,
            ),
            (403, Some(QUOTA_EXCEEDED), Exit::Limited),
            (404, None, Exit::NotFound),
            (410, None, Exit::NotFound),
            (451, None, Exit::NotFound),
            (400, None, Exit::Refused),
            (413, None, Exit::Refused),
            (415, None, Exit::Refused),
            (422, None, Exit::Refused),
            (429, None, Exit::Limited),
            (500, None, Exit::Unavailable),
            (503, None, Exit::Unavailable),
            (418, None, Exit::Other),
        ];
        for (status, kind, exit) in cases {
            let status = StatusCode::from_u16(status).unwrap();
            assert_eq!(Exit::for_status(status, kind), exit, "{status} {kind:?}");
        }
    }

    #[test]
    fn failures_other_than_answers_have_their_codes() {
        assert_eq!(Failure::NotSignedIn.exit() as u8, 3);
        assert_eq!(Failure::Usage("x".into()).exit() as u8, 2);
        assert_eq!(Failure::Network("x".into()).exit() as u8, 7);
        assert_eq!(Failure::QuotaFull("x".into()).exit() as u8, 6);
        assert_eq!(Failure::Other(anyhow::anyhow!("x")).exit() as u8, 1);
    }

    #[test]
    fn a_problem_reads_as_title_detail_and_field() {
        let problem: Problem = serde_json::from_value(serde_json::json!({
            "type": "urn:voicebin:problem:invalid-field",
            "title": "Invalid field",
            "status": 400,
            "detail": "titles are at most 200 characters",
            "field": "title",
        }))
        .unwrap();
        assert_eq!(
            api_message(StatusCode::BAD_REQUEST, Some(&problem)),
            "Invalid field: titles are at most 200 characters (field `title`)"
        );
    }

    #[test]
    fn a_problem_without_detail_is_its_title_and_a_scope_is_named() {
        let problem = Problem {
            title: Some("Insufficient scope".into()),
            required_scope: Some("voice:delete".into()),
            ..Problem::default()
        };
        assert_eq!(
            api_message(StatusCode::FORBIDDEN, Some(&problem)),
            "Insufficient scope (needs scope `voice:delete`)"
        );
        // A detail that names the scope already is not repeated.
        let problem = Problem {
            title: Some("Insufficient scope".into()),
            detail: Some("this operation needs the `voice:create` scope".into()),
            required_scope: Some("voice:create".into()),
            ..Problem::default()
        };
        assert_eq!(
            api_message(StatusCode::FORBIDDEN, Some(&problem)),
            "Insufficient scope: this operation needs the `voice:create` scope"
        );
    }

    #[test]
    fn a_refused_token_without_a_problem_says_what_the_status_means() {
        let unauthorized = api_message(StatusCode::UNAUTHORIZED, None);
        assert!(unauthorized.contains("token was refused"), "{unauthorized}");
        let forbidden = api_message(StatusCode::FORBIDDEN, None);
        assert!(forbidden.contains("voice:create"), "{forbidden}");
    }

    #[test]
    fn a_problems_escape_sequences_are_not_printed() {
        let problem = Problem {
            title: Some("\u{1b}[2JNot found".into()),
            detail: Some("no\u{1b}]0;pwned\u{7} clip\r\nhere".into()),
            ..Problem::default()
        };
        assert_eq!(
            api_message(StatusCode::NOT_FOUND, Some(&problem)),
            "Not found: no clip  here"
        );
    }

    #[test]
    fn an_answer_without_a_problem_names_its_status() {
        assert_eq!(
            api_message(StatusCode::BAD_GATEWAY, None),
            "the server answered 502 Bad Gateway"
        );
    }
}
