//! A scan job on the wire: `{"clip_id": "<id>"}`, `application/json`, persistent, with the
//! clip id as `message_id`. A dead letter an operator re-queued also carries the header
//! `x-voicebin-retry: true`: only such a job scans a clip that is already `failed`.

use lapin::types::{AMQPValue, FieldTable};
use lapin::BasicProperties;
use serde::{Deserialize, Serialize};
use voicebin_domain::ClipId;

/// `delivery_mode` for messages that survive a broker restart.
const PERSISTENT: u8 = 2;
/// The content type of scan jobs.
const JSON: &str = "application/json";
/// The header that marks an operator's retry.
const RETRY_HEADER: &str = "x-voicebin-retry";

/// A scan job's body, as published.
#[derive(Serialize)]
pub(super) struct JobBody<'a> {
    pub(super) clip_id: &'a str,
}

/// A scan job's body, as received (owned, to be validated).
#[derive(Deserialize)]
struct ParsedJob {
    clip_id: String,
}

/// The body of the scan job for `clip`.
pub(super) fn job_body(clip: &ClipId) -> Vec<u8> {
    let body = JobBody {
        clip_id: clip.as_str(),
    };
    // A struct of one string field always serialises.
    serde_json::to_vec(&body).expect("a scan job serialises")
}

/// The properties of a job published now: JSON, persistent, `message_id` when given, and the
/// retry header for an operator's retry.
pub(super) fn job_properties(
    message_id: Option<lapin::types::ShortString>,
    retry: bool,
) -> BasicProperties {
    let mut properties = BasicProperties::default()
        .with_content_type(JSON.into())
        .with_delivery_mode(PERSISTENT);
    if retry {
        let mut headers = FieldTable::default();
        headers.insert(RETRY_HEADER.into(), AMQPValue::Boolean(true));
        properties = properties.with_headers(headers);
    }
    match message_id {
        Some(id) => properties.with_message_id(id),
        None => properties,
    }
}

/// Whether a job is an operator's retry.
pub(super) fn is_retry(properties: &BasicProperties) -> bool {
    properties
        .headers()
        .as_ref()
        .and_then(|headers| headers.inner().get(RETRY_HEADER))
        .is_some_and(|value| matches!(value, AMQPValue::Boolean(true)))
}

/// The clip a job body names; why not, for a body that is not a scan job.
pub(super) fn parse_job(body: &[u8]) -> Result<ClipId, &'static str> {
    let job: ParsedJob = serde_json::from_slice(body).map_err(|_| "not a JSON scan job")?;
    ClipId::parse(&job.clip_id).map_err(|_| "not a clip id")
}
