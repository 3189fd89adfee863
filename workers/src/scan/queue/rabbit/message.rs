//! A scan job on the wire: `{"clip_id": "<id>"}`, `application/json`, persistent, with the
//! clip id as `message_id`.

use lapin::BasicProperties;
use serde::{Deserialize, Serialize};
use voicebin_domain::ClipId;

/// `delivery_mode` for messages that survive a broker restart.
const PERSISTENT: u8 = 2;
/// The content type of scan jobs.
const JSON: &str = "application/json";

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

/// The properties of a job published now: JSON, persistent, and `message_id` when given.
pub(super) fn job_properties(message_id: Option<lapin::types::ShortString>) -> BasicProperties {
    let properties = BasicProperties::default()
        .with_content_type(JSON.into())
        .with_delivery_mode(PERSISTENT);
    match message_id {
        Some(id) => properties.with_message_id(id),
        None => properties,
    }
}

/// The clip a job body names; why not, for a body that is not a scan job.
pub(super) fn parse_job(body: &[u8]) -> Result<ClipId, &'static str> {
    let job: ParsedJob = serde_json::from_slice(body).map_err(|_| "not a JSON scan job")?;
    ClipId::parse(&job.clip_id).map_err(|_| "not a clip id")
}
