//! The `Clip` aggregate: its state (rebuilt from events) and its business rules.

use chrono::{DateTime, Utc};
use cqrs_es::event_sink::EventSink;
use cqrs_es::Aggregate;
use serde::{Deserialize, Serialize};

use std::collections::BTreeSet;

use super::{
    ClipCommand, ClipError, ClipEvent, Moderation, ScanState, ScanVerdict, TranscriptStatus,
};
use crate::values::{
    AccountId, Description, DownloadLimit, ReportReason, Reporter, Sha256Digest, Title,
};

/// Where a clip is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
enum Lifecycle {
    /// No `Uploaded` yet.
    #[default]
    New,
    /// Uploaded and not deleted.
    Live,
    /// Deleted; accepts nothing more.
    Deleted,
    /// Expired; accepts nothing more (batched download counts aside).
    Expired,
}

/// Where a clip's playback rendition stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
enum Rendition {
    /// None recorded (none needed, or not made yet).
    #[default]
    None,
    /// A rendition is recorded.
    Ready,
    /// Making one failed; the original is served.
    Failed,
}

/// The state of one clip, as far as the business rules need it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Clip {
    lifecycle: Lifecycle,
    owner: Option<AccountId>,
    title: Option<Title>,
    description: Option<Description>,
    scan_state: ScanState,
    download_limit: Option<DownloadLimit>,
    download_count: u64,
    // Fields added after snapshots were first written default when an old snapshot is read.
    #[serde(default)]
    sha256: Option<Sha256Digest>,
    #[serde(default)]
    moderation: Moderation,
    /// Reporters (and their reasons) since the last moderator decision.
    #[serde(default)]
    open_reports: BTreeSet<(Reporter, ReportReason)>,
    #[serde(default)]
    rendition: Rendition,
    #[serde(default)]
    transcript: TranscriptStatus,
    #[serde(default)]
    expires_at: Option<DateTime<Utc>>,
}

impl Clip {
    fn live(&self) -> Result<(), ClipError> {
        match self.lifecycle {
            Lifecycle::New => Err(ClipError::NotFound),
            Lifecycle::Deleted => Err(ClipError::Deleted),
            Lifecycle::Expired => Err(ClipError::Expired),
            Lifecycle::Live => Ok(()),
        }
    }

    /// Records `count` downloads, one `Downloaded` each: all of them or, when the limit leaves
    /// fewer, none.
    async fn record_downloads(
        &mut self,
        count: u32,
        at: DateTime<Utc>,
        sink: &EventSink<Self>,
    ) -> Result<(), ClipError> {
        self.live()?;
        if self.scan_state != ScanState::Clean || self.moderation != Moderation::Visible {
            return Err(ClipError::NotAvailable);
        }
        if let Some(limit) = self.download_limit {
            if self.download_count.saturating_add(u64::from(count)) > limit.get() {
                return Err(ClipError::LimitReached);
            }
        }
        for _ in 0..count {
            sink.write(ClipEvent::Downloaded { at }, self).await;
        }
        Ok(())
    }

    fn owned_by(&self, actor: &AccountId) -> Result<(), ClipError> {
        self.live()?;
        if self.owner.as_ref() != Some(actor) {
            return Err(ClipError::NotOwner);
        }
        Ok(())
    }

    /// The clip's scan state.
    pub fn scan_state(&self) -> ScanState {
        self.scan_state
    }

    /// Downloads counted so far.
    pub fn download_count(&self) -> u64 {
        self.download_count
    }

    /// Where moderation has left the clip.
    pub fn moderation(&self) -> Moderation {
        self.moderation
    }

    /// Whether the clip has a transcript, and whose.
    pub fn transcript_status(&self) -> TranscriptStatus {
        self.transcript
    }

    /// When the clip expires; `None` is never.
    pub fn expires_at(&self) -> Option<DateTime<Utc>> {
        self.expires_at
    }

    fn not_removed(&self) -> Result<(), ClipError> {
        self.live()?;
        if self.moderation == Moderation::Removed {
            return Err(ClipError::Removed);
        }
        Ok(())
    }

    fn open_reporters(&self) -> BTreeSet<&Reporter> {
        self.open_reports.iter().map(|(r, _)| r).collect()
    }
}

impl Aggregate for Clip {
    const TYPE: &'static str = "Clip";
    type Command = ClipCommand;
    type Event = ClipEvent;
    type Error = ClipError;
    type Services = ();

    async fn handle(
        &mut self,
        command: Self::Command,
        _services: &Self::Services,
        sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        match command {
            ClipCommand::UploadClip {
                owner,
                title,
                description,
                filename,
                content_type,
                size_bytes,
                sha256,
                blob_key,
                download_limit,
                expires_at,
                at,
            } => {
                if self.lifecycle != Lifecycle::New {
                    return Err(ClipError::AlreadyExists);
                }
                if expires_at.is_some_and(|e| e <= at) {
                    return Err(ClipError::ExpiryNotInFuture);
                }
                let event = ClipEvent::Uploaded {
                    owner,
                    title,
                    description,
                    filename,
                    content_type,
                    size_bytes,
                    sha256,
                    blob_key,
                    download_limit,
                    expires_at,
                    at,
                };
                sink.write(event, self).await;
            }
            ClipCommand::CompleteScan { outcome, retry, at } => {
                self.live()?;
                // At-least-once delivery means a verdict can arrive twice; the first one stands.
                // `Failed` is not a verdict on the content (the scanner gave up), so a retry an
                // operator asked for (a re-queued dead letter) may still record a real one; a
                // duplicate job may not, and nothing records `failed` twice.
                // See docs/adr/0010-sandboxed-scans-and-bounded-attempts.md.
                let open = match self.scan_state {
                    ScanState::Pending => true,
                    ScanState::Failed => retry && outcome.verdict != ScanVerdict::Failed,
                    _ => false,
                };
                if !open {
                    return Ok(());
                }
                sink.write(ClipEvent::ScanCompleted { outcome, at }, self)
                    .await;
            }
            ClipCommand::RecordDownload { at } => {
                self.record_downloads(1, at, sink).await?;
            }
            ClipCommand::RecordDownloads { count, at } => {
                self.record_downloads(count.max(1), at, sink).await?;
            }
            ClipCommand::CountDownloads { count, at } => {
                // Counts of downloads already served are facts even if the clip was deleted or
                // limited since; only a never-uploaded clip has none.
                if self.lifecycle == Lifecycle::New {
                    return Err(ClipError::NotFound);
                }
                // A limit set while this batch was in flight caps it: downloads served before
                // the limit existed never push the count past it.
                let count = match self.download_limit {
                    Some(limit) => count.min(limit.get().saturating_sub(self.download_count)),
                    None => count,
                };
                if count > 0 {
                    sink.write(ClipEvent::DownloadsCounted { count, at }, self)
                        .await;
                }
            }
            ClipCommand::EditClip {
                actor,
                title,
                description,
                download_limit,
                expires_at,
                at,
            } => {
                self.owned_by(&actor)?;
                self.not_removed()?;
                let title = title.filter(|t| *t != self.title);
                let description = description.filter(|d| *d != self.description);
                let download_limit = download_limit.filter(|l| *l != self.download_limit);
                let expires_at = expires_at.filter(|e| *e != self.expires_at);
                if let Some(Some(expiry)) = expires_at {
                    if expiry <= at {
                        return Err(ClipError::ExpiryNotInFuture);
                    }
                }
                if let Some(Some(limit)) = download_limit {
                    if limit.get() < self.download_count {
                        return Err(ClipError::LimitBelowCount {
                            limit: limit.get(),
                            count: self.download_count,
                        });
                    }
                }
                if title.is_some() || description.is_some() {
                    let event = ClipEvent::MetadataEdited {
                        by: actor.clone(),
                        title,
                        description,
                        at,
                    };
                    sink.write(event, self).await;
                }
                if let Some(limit) = download_limit {
                    let event = ClipEvent::DownloadLimitChanged {
                        by: actor.clone(),
                        limit,
                        at,
                    };
                    sink.write(event, self).await;
                }
                if let Some(expires_at) = expires_at {
                    let event = ClipEvent::ExpiryChanged {
                        by: actor,
                        expires_at,
                        at,
                    };
                    sink.write(event, self).await;
                }
            }
            ClipCommand::ExpireClip { at } => {
                // Sweepers on every replica may ask at once: the first `Expired` wins the
                // optimistic-concurrency race, the others retry, see it and record nothing.
                if self.lifecycle == Lifecycle::Expired {
                    return Ok(());
                }
                self.live()?;
                // A removal is final and says why the clip is gone (451); its bytes are gone.
                if self.moderation == Moderation::Removed {
                    return Ok(());
                }
                // The sweeper found the clip through the read model, which may predate the
                // owner moving or clearing the expiry: the clip's own state decides.
                match self.expires_at {
                    Some(expires_at) if expires_at <= at => {
                        sink.write(ClipEvent::Expired { expires_at, at }, self)
                            .await;
                    }
                    _ => {}
                }
            }
            ClipCommand::DeleteClip { actor, at } => {
                self.owned_by(&actor)?;
                // A removal is final: a deletion would turn "removed by a moderator" (451)
                // into "deleted" (410) for everyone.
                self.not_removed()?;
                sink.write(ClipEvent::Deleted { by: actor, at }, self).await;
            }
            ClipCommand::ReportClip {
                reporter,
                reason,
                note,
                at,
            } => {
                self.not_removed()?;
                if self.owner.as_ref().map(Reporter::account).as_ref() == Some(&reporter) {
                    return Err(ClipError::OwnClip);
                }
                // One reporter counts once per round of reports (until a moderator decides),
                // whatever reasons they give; a repeat is accepted and not recorded again.
                if self.open_reporters().contains(&reporter) {
                    return Ok(());
                }
                let event = ClipEvent::Reported {
                    reporter,
                    reason,
                    note,
                    at,
                };
                sink.write(event, self).await;
            }
            ClipCommand::ApplyReportThreshold { threshold, at } => {
                self.not_removed()?;
                let reporters = self.open_reporters().len();
                if threshold > 0
                    && self.moderation == Moderation::Visible
                    && reporters >= threshold as usize
                {
                    let reasons: BTreeSet<ReportReason> =
                        self.open_reports.iter().map(|(_, r)| *r).collect();
                    let event = ClipEvent::AutoHidden {
                        reporters: u32::try_from(reporters).unwrap_or(u32::MAX),
                        reasons: reasons.into_iter().collect(),
                        at,
                    };
                    sink.write(event, self).await;
                }
            }
            ClipCommand::BlockClip {
                moderator,
                reason,
                at,
            } => {
                self.not_removed()?;
                if self.moderation == Moderation::Blocked {
                    return Err(ClipError::AlreadyBlocked);
                }
                let event = ClipEvent::Blocked {
                    by: moderator,
                    reason,
                    at,
                };
                sink.write(event, self).await;
            }
            ClipCommand::RestoreClip {
                moderator,
                reason,
                at,
            } => {
                self.not_removed()?;
                if self.moderation == Moderation::Visible && self.open_reports.is_empty() {
                    return Err(ClipError::NothingToRestore);
                }
                let event = ClipEvent::Restored {
                    by: moderator,
                    reason,
                    at,
                };
                sink.write(event, self).await;
            }
            ClipCommand::CompleteTranscript {
                transcript,
                engine,
                at,
            } => {
                self.not_removed()?;
                if self.scan_state != ScanState::Clean {
                    return Err(ClipError::NotAvailable);
                }
                // At-least-once delivery: the first transcript stands, and the owner's own is
                // never overwritten. A transcription that failed may be tried again.
                if matches!(
                    self.transcript,
                    TranscriptStatus::None | TranscriptStatus::Failed
                ) {
                    let event = ClipEvent::TranscriptCompleted {
                        transcript,
                        engine,
                        at,
                    };
                    sink.write(event, self).await;
                }
            }
            ClipCommand::FailTranscript { reason, engine, at } => {
                self.not_removed()?;
                if self.transcript == TranscriptStatus::None {
                    let event = ClipEvent::TranscriptFailed { reason, engine, at };
                    sink.write(event, self).await;
                }
            }
            ClipCommand::CorrectTranscript {
                actor,
                transcript,
                at,
            } => {
                self.owned_by(&actor)?;
                self.not_removed()?;
                let event = ClipEvent::TranscriptCorrected {
                    by: actor,
                    transcript,
                    at,
                };
                sink.write(event, self).await;
            }
            ClipCommand::RemoveClip {
                moderator,
                reason,
                sha256,
                at,
            } => {
                self.not_removed()?;
                // Snapshots written before the digest was kept in the state lack it; the
                // caller's copy (from the read model) stands in for those.
                let sha256 = self.sha256.clone().unwrap_or(sha256);
                let event = ClipEvent::Removed {
                    by: moderator,
                    reason,
                    sha256,
                    at,
                };
                sink.write(event, self).await;
            }
            ClipCommand::CompleteRendition {
                blob_key,
                content_type,
                size_bytes,
                sha256,
                at,
            } => {
                self.not_removed()?;
                if self.scan_state != ScanState::Clean {
                    return Err(ClipError::NotAvailable);
                }
                // A duplicate job makes the same bytes under the same key: the first record
                // stands. After a failure, an operator's retry may still record one.
                if self.rendition == Rendition::Ready {
                    return Ok(());
                }
                let event = ClipEvent::RenditionCompleted {
                    blob_key,
                    content_type,
                    size_bytes,
                    sha256,
                    at,
                };
                sink.write(event, self).await;
            }
            ClipCommand::FailRendition { reason, at } => {
                self.not_removed()?;
                if self.rendition != Rendition::None {
                    return Ok(());
                }
                sink.write(ClipEvent::RenditionFailed { reason, at }, self)
                    .await;
            }
        }
        Ok(())
    }

    fn apply(&mut self, event: Self::Event) {
        match event {
            ClipEvent::Uploaded {
                owner,
                title,
                description,
                download_limit,
                sha256,
                expires_at,
                ..
            } => {
                self.lifecycle = Lifecycle::Live;
                self.expires_at = expires_at;
                self.sha256 = Some(sha256);
                self.owner = Some(owner);
                self.title = title;
                self.description = description;
                self.download_limit = download_limit;
            }
            ClipEvent::ScanCompleted { outcome, .. } => {
                self.scan_state = outcome.verdict.into();
            }
            ClipEvent::Downloaded { .. } => self.download_count += 1,
            ClipEvent::DownloadsCounted { count, .. } => self.download_count += count,
            ClipEvent::MetadataEdited {
                title, description, ..
            } => {
                if let Some(title) = title {
                    self.title = title;
                }
                if let Some(description) = description {
                    self.description = description;
                }
            }
            ClipEvent::DownloadLimitChanged { limit, .. } => self.download_limit = limit,
            ClipEvent::ExpiryChanged { expires_at, .. } => self.expires_at = expires_at,
            ClipEvent::Expired { .. } => self.lifecycle = Lifecycle::Expired,
            ClipEvent::Deleted { .. } => self.lifecycle = Lifecycle::Deleted,
            ClipEvent::Reported {
                reporter, reason, ..
            } => {
                self.open_reports.insert((reporter, reason));
            }
            ClipEvent::AutoHidden { .. } => self.moderation = Moderation::Hidden,
            ClipEvent::Blocked { .. } => {
                self.moderation = Moderation::Blocked;
                self.open_reports.clear();
            }
            ClipEvent::Restored { .. } => {
                self.moderation = Moderation::Visible;
                self.open_reports.clear();
            }
            ClipEvent::Removed { .. } => {
                self.moderation = Moderation::Removed;
                self.open_reports.clear();
            }
            ClipEvent::RenditionCompleted { .. } => self.rendition = Rendition::Ready,
            ClipEvent::RenditionFailed { .. } => self.rendition = Rendition::Failed,
            ClipEvent::TranscriptCompleted { .. } => {
                self.transcript = TranscriptStatus::Transcribed
            }
            ClipEvent::TranscriptFailed { .. } => self.transcript = TranscriptStatus::Failed,
            ClipEvent::TranscriptCorrected { .. } => self.transcript = TranscriptStatus::Corrected,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clip::{AudioFacts, ScanOutcome, ScanVerdict};
    use crate::values::{ContentType, Filename};
    use chrono::{DateTime, TimeZone, Utc};
    use cqrs_es::test::TestFramework;

    type ClipTest = TestFramework<Clip>;

    fn at() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 26, 12, 0, 0).unwrap()
    }

    fn alice() -> AccountId {
        AccountId::parse("alice").unwrap()
    }

    fn bob() -> AccountId {
        AccountId::parse("bob").unwrap()
    }

    fn uploaded(limit: Option<u64>) -> ClipEvent {
        ClipEvent::Uploaded {
            owner: alice(),
            title: Title::parse("Hello").unwrap(),
            description: None,
            filename: Filename::parse("hello.wav").unwrap(),
            content_type: ContentType::from_sniffed("audio/wav"),
            size_bytes: 1000,
            sha256: Sha256Digest::from_bytes([7; 32]),
            blob_key: "clips/abc".into(),
            download_limit: limit.map(|l| DownloadLimit::new(l).unwrap()),
            expires_at: None,
            at: at(),
        }
    }

    fn upload_command() -> ClipCommand {
        match uploaded(None) {
            ClipEvent::Uploaded {
                owner,
                title,
                description,
                filename,
                content_type,
                size_bytes,
                sha256,
                blob_key,
                download_limit,
                expires_at,
                at,
            } => ClipCommand::UploadClip {
                owner,
                title,
                description,
                filename,
                content_type,
                size_bytes,
                sha256,
                blob_key,
                download_limit,
                expires_at,
                at,
            },
            _ => unreachable!(),
        }
    }

    fn outcome(verdict: ScanVerdict) -> ScanOutcome {
        ScanOutcome {
            verdict,
            audio: (verdict == ScanVerdict::Clean).then(|| AudioFacts {
                container: "wav".into(),
                codec: "pcm_s16le".into(),
                duration_ms: 4323,
                sample_rate: 22050,
                channels: 1,
                peaks: Some(vec![0, 128, 255]),
            }),
            detail: None,
            scanner: "audio-probe".into(),
        }
    }

    fn scanned(verdict: ScanVerdict) -> ClipEvent {
        ClipEvent::ScanCompleted {
            outcome: outcome(verdict),
            at: at(),
        }
    }

    fn deleted() -> ClipEvent {
        ClipEvent::Deleted {
            by: alice(),
            at: at(),
        }
    }

    #[test]
    fn an_upload_creates_the_clip() {
        ClipTest::with(())
            .given_no_previous_events()
            .when(upload_command())
            .then_expect_events(vec![uploaded(None)]);
    }

    #[test]
    fn an_upload_for_an_existing_id_is_refused() {
        ClipTest::with(())
            .given(vec![uploaded(None)])
            .when(upload_command())
            .then_expect_error(ClipError::AlreadyExists);
    }

    #[test]
    fn commands_for_a_clip_never_uploaded_are_not_found() {
        ClipTest::with(())
            .given_no_previous_events()
            .when(ClipCommand::DeleteClip {
                actor: alice(),
                at: at(),
            })
            .then_expect_error(ClipError::NotFound);
    }

    #[test]
    fn the_first_scan_verdict_is_recorded() {
        ClipTest::with(())
            .given(vec![uploaded(None)])
            .when(ClipCommand::CompleteScan {
                outcome: outcome(ScanVerdict::Clean),
                retry: false,
                at: at(),
            })
            .then_expect_events(vec![scanned(ScanVerdict::Clean)]);
    }

    #[test]
    fn a_second_scan_verdict_is_ignored_not_an_error() {
        ClipTest::with(())
            .given(vec![uploaded(None), scanned(ScanVerdict::Clean)])
            .when(ClipCommand::CompleteScan {
                outcome: outcome(ScanVerdict::Infected),
                retry: false,
                at: at(),
            })
            .then_expect_events(vec![]);
    }

    #[test]
    fn a_retry_of_a_failed_scan_can_record_a_real_verdict() {
        ClipTest::with(())
            .given(vec![uploaded(None), scanned(ScanVerdict::Failed)])
            .when(ClipCommand::CompleteScan {
                outcome: outcome(ScanVerdict::Clean),
                retry: true,
                at: at(),
            })
            .then_expect_events(vec![scanned(ScanVerdict::Clean)]);
    }

    #[test]
    fn a_duplicate_job_records_nothing_after_failed() {
        ClipTest::with(())
            .given(vec![uploaded(None), scanned(ScanVerdict::Failed)])
            .when(ClipCommand::CompleteScan {
                outcome: outcome(ScanVerdict::Clean),
                retry: false,
                at: at(),
            })
            .then_expect_events(vec![]);
    }

    #[test]
    fn failed_is_never_recorded_twice_not_even_by_a_retry() {
        for retry in [false, true] {
            ClipTest::with(())
                .given(vec![uploaded(None), scanned(ScanVerdict::Failed)])
                .when(ClipCommand::CompleteScan {
                    outcome: outcome(ScanVerdict::Failed),
                    retry,
                    at: at(),
                })
                .then_expect_events(vec![]);
        }
    }

    #[test]
    fn a_retry_cannot_overturn_a_real_verdict() {
        for verdict in [
            ScanVerdict::Clean,
            ScanVerdict::Rejected,
            ScanVerdict::Infected,
        ] {
            ClipTest::with(())
                .given(vec![uploaded(None), scanned(verdict)])
                .when(ClipCommand::CompleteScan {
                    outcome: outcome(ScanVerdict::Failed),
                    retry: true,
                    at: at(),
                })
                .then_expect_events(vec![]);
        }
    }

    #[test]
    fn a_deleted_clip_accepts_no_further_commands() {
        let given = || vec![uploaded(None), scanned(ScanVerdict::Clean), deleted()];
        let commands = vec![
            ClipCommand::CompleteScan {
                outcome: outcome(ScanVerdict::Clean),
                retry: false,
                at: at(),
            },
            ClipCommand::RecordDownload { at: at() },
            ClipCommand::EditClip {
                actor: alice(),
                title: Some(None),
                description: None,
                download_limit: None,
                expires_at: None,
                at: at(),
            },
            ClipCommand::DeleteClip {
                actor: alice(),
                at: at(),
            },
        ];
        for command in commands {
            ClipTest::with(())
                .given(given())
                .when(command)
                .then_expect_error(ClipError::Deleted);
        }
        ClipTest::with(())
            .given(given())
            .when(upload_command())
            .then_expect_error(ClipError::AlreadyExists);
    }

    #[test]
    fn only_the_owner_may_edit() {
        ClipTest::with(())
            .given(vec![uploaded(None)])
            .when(ClipCommand::EditClip {
                actor: bob(),
                title: Some(None),
                description: None,
                download_limit: None,
                expires_at: None,
                at: at(),
            })
            .then_expect_error(ClipError::NotOwner);
    }

    #[test]
    fn only_the_owner_may_delete() {
        ClipTest::with(())
            .given(vec![uploaded(None)])
            .when(ClipCommand::DeleteClip {
                actor: bob(),
                at: at(),
            })
            .then_expect_error(ClipError::NotOwner);
    }

    #[test]
    fn the_owner_deletes_their_clip() {
        ClipTest::with(())
            .given(vec![uploaded(None)])
            .when(ClipCommand::DeleteClip {
                actor: alice(),
                at: at(),
            })
            .then_expect_events(vec![deleted()]);
    }

    #[test]
    fn an_edit_records_only_the_fields_that_changed() {
        let new_description = Description::parse("new").unwrap();
        ClipTest::with(())
            .given(vec![uploaded(None)])
            .when(ClipCommand::EditClip {
                actor: alice(),
                title: Some(Title::parse("Hello").unwrap()),
                description: Some(new_description.clone()),
                download_limit: Some(Some(DownloadLimit::new(5).unwrap())),
                expires_at: None,
                at: at(),
            })
            .then_expect_events(vec![
                ClipEvent::MetadataEdited {
                    by: alice(),
                    title: None,
                    description: Some(new_description),
                    at: at(),
                },
                ClipEvent::DownloadLimitChanged {
                    by: alice(),
                    limit: Some(DownloadLimit::new(5).unwrap()),
                    at: at(),
                },
            ]);
    }

    #[test]
    fn an_edit_that_changes_nothing_records_nothing() {
        ClipTest::with(())
            .given(vec![uploaded(None)])
            .when(ClipCommand::EditClip {
                actor: alice(),
                title: Some(Title::parse("Hello").unwrap()),
                description: Some(None),
                download_limit: Some(None),
                expires_at: None,
                at: at(),
            })
            .then_expect_events(vec![]);
    }

    #[test]
    fn downloads_are_counted_until_the_limit() {
        let download = ClipEvent::Downloaded { at: at() };
        ClipTest::with(())
            .given(vec![uploaded(Some(2)), scanned(ScanVerdict::Clean)])
            .when(ClipCommand::RecordDownload { at: at() })
            .then_expect_events(vec![download.clone()]);
        ClipTest::with(())
            .given(vec![
                uploaded(Some(2)),
                scanned(ScanVerdict::Clean),
                download.clone(),
                download,
            ])
            .when(ClipCommand::RecordDownload { at: at() })
            .then_expect_error(ClipError::LimitReached);
    }

    #[test]
    fn downloads_recorded_together_are_all_counted_or_none_when_too_few_remain() {
        let download = ClipEvent::Downloaded { at: at() };
        ClipTest::with(())
            .given(vec![
                uploaded(Some(5)),
                scanned(ScanVerdict::Clean),
                download.clone(),
            ])
            .when(ClipCommand::RecordDownloads { count: 4, at: at() })
            .then_expect_events(vec![download.clone(); 4]);
        ClipTest::with(())
            .given(vec![
                uploaded(Some(5)),
                scanned(ScanVerdict::Clean),
                download.clone(),
            ])
            .when(ClipCommand::RecordDownloads { count: 5, at: at() })
            .then_expect_error(ClipError::LimitReached);
        ClipTest::with(())
            .given(vec![uploaded(None)])
            .when(ClipCommand::RecordDownloads { count: 2, at: at() })
            .then_expect_error(ClipError::NotAvailable);
    }

    #[test]
    fn batched_counts_are_recorded_even_after_deletion_and_add_up() {
        ClipTest::with(())
            .given(vec![uploaded(None), scanned(ScanVerdict::Clean), deleted()])
            .when(ClipCommand::CountDownloads { count: 7, at: at() })
            .then_expect_events(vec![ClipEvent::DownloadsCounted { count: 7, at: at() }]);
        ClipTest::with(())
            .given(vec![
                uploaded(Some(8)),
                scanned(ScanVerdict::Clean),
                ClipEvent::DownloadsCounted { count: 7, at: at() },
                ClipEvent::Downloaded { at: at() },
            ])
            .when(ClipCommand::RecordDownload { at: at() })
            .then_expect_error(ClipError::LimitReached);
    }

    #[test]
    fn a_batch_counted_after_a_limit_was_set_never_pushes_the_count_past_it() {
        let limit = |n| ClipEvent::DownloadLimitChanged {
            by: alice(),
            limit: Some(DownloadLimit::new(n).unwrap()),
            at: at(),
        };
        // Unlimited with 2 counted, limited to 3, then a batch of 5 served before the limit.
        ClipTest::with(())
            .given(vec![
                uploaded(None),
                scanned(ScanVerdict::Clean),
                ClipEvent::DownloadsCounted { count: 2, at: at() },
                limit(3),
            ])
            .when(ClipCommand::CountDownloads { count: 5, at: at() })
            .then_expect_events(vec![ClipEvent::DownloadsCounted { count: 1, at: at() }]);
        // Already at the limit: the batch records nothing.
        ClipTest::with(())
            .given(vec![
                uploaded(None),
                scanned(ScanVerdict::Clean),
                ClipEvent::DownloadsCounted { count: 2, at: at() },
                limit(2),
            ])
            .when(ClipCommand::CountDownloads { count: 4, at: at() })
            .then_expect_events(vec![]);
    }

    #[test]
    fn a_clip_that_is_not_clean_cannot_be_downloaded() {
        for given in [
            vec![uploaded(None)],
            vec![uploaded(None), scanned(ScanVerdict::Infected)],
            vec![uploaded(None), scanned(ScanVerdict::Rejected)],
        ] {
            ClipTest::with(())
                .given(given)
                .when(ClipCommand::RecordDownload { at: at() })
                .then_expect_error(ClipError::NotAvailable);
        }
    }

    #[test]
    fn a_limit_cannot_drop_below_downloads_already_counted() {
        let download = ClipEvent::Downloaded { at: at() };
        ClipTest::with(())
            .given(vec![
                uploaded(None),
                scanned(ScanVerdict::Clean),
                download.clone(),
                download,
            ])
            .when(ClipCommand::EditClip {
                actor: alice(),
                title: None,
                description: None,
                download_limit: Some(Some(DownloadLimit::new(1).unwrap())),
                expires_at: None,
                at: at(),
            })
            .then_expect_error(ClipError::LimitBelowCount { limit: 1, count: 2 });
    }

    fn reporter(name: &str) -> Reporter {
        Reporter::anonymous(name)
    }

    fn report(name: &str, reason: ReportReason) -> ClipCommand {
        ClipCommand::ReportClip {
            reporter: reporter(name),
            reason,
            note: None,
            at: at(),
        }
    }

    fn threshold(threshold: u32) -> ClipCommand {
        ClipCommand::ApplyReportThreshold {
            threshold,
            at: at(),
        }
    }

    fn reported(name: &str, reason: ReportReason) -> ClipEvent {
        ClipEvent::Reported {
            reporter: reporter(name),
            reason,
            note: None,
            at: at(),
        }
    }

    fn because(text: &str) -> crate::values::ModerationReason {
        crate::values::ModerationReason::parse(text).unwrap()
    }

    fn moderator() -> AccountId {
        AccountId::parse("mod").unwrap()
    }

    #[test]
    fn reports_from_distinct_reporters_hide_the_clip_at_the_threshold() {
        let clean = || vec![uploaded(None), scanned(ScanVerdict::Clean)];
        ClipTest::with(())
            .given(clean())
            .when(report("a", ReportReason::Spam))
            .then_expect_events(vec![reported("a", ReportReason::Spam)]);
        let mut given = clean();
        given.push(reported("a", ReportReason::Spam));
        ClipTest::with(())
            .given(given.clone())
            .when(threshold(2))
            .then_expect_events(vec![]);
        given.push(reported("b", ReportReason::Malware));
        ClipTest::with(())
            .given(given.clone())
            .when(threshold(2))
            .then_expect_events(vec![ClipEvent::AutoHidden {
                reporters: 2,
                reasons: vec![ReportReason::Malware, ReportReason::Spam],
                at: at(),
            }]);
        // The same reporter again counts once: nothing is recorded.
        ClipTest::with(())
            .given(given.clone())
            .when(report("a", ReportReason::Other))
            .then_expect_events(vec![]);
        // Threshold 0 never hides; an already hidden clip is not hidden twice.
        ClipTest::with(())
            .given(given.clone())
            .when(threshold(0))
            .then_expect_events(vec![]);
        given.push(ClipEvent::AutoHidden {
            reporters: 2,
            reasons: vec![ReportReason::Malware, ReportReason::Spam],
            at: at(),
        });
        ClipTest::with(())
            .given(given)
            .when(threshold(1))
            .then_expect_events(vec![]);
    }

    #[test]
    fn a_moderator_decision_starts_a_new_round_of_reports() {
        let restored = ClipEvent::Restored {
            by: moderator(),
            reason: because("fine"),
            at: at(),
        };
        ClipTest::with(())
            .given(vec![
                uploaded(None),
                scanned(ScanVerdict::Clean),
                reported("a", ReportReason::Spam),
                restored,
            ])
            .when(report("a", ReportReason::Spam))
            .then_expect_events(vec![reported("a", ReportReason::Spam)]);
    }

    #[test]
    fn owners_cannot_report_their_own_clip() {
        ClipTest::with(())
            .given(vec![uploaded(None)])
            .when(ClipCommand::ReportClip {
                reporter: Reporter::account(&alice()),
                reason: ReportReason::Spam,
                note: None,
                at: at(),
            })
            .then_expect_error(ClipError::OwnClip);
    }

    #[test]
    fn restore_needs_something_to_restore_and_block_is_not_repeated() {
        let restore = ClipCommand::RestoreClip {
            moderator: moderator(),
            reason: because("ok"),
            at: at(),
        };
        ClipTest::with(())
            .given(vec![uploaded(None), scanned(ScanVerdict::Clean)])
            .when(restore)
            .then_expect_error(ClipError::NothingToRestore);
        let blocked = ClipEvent::Blocked {
            by: moderator(),
            reason: because("bad"),
            at: at(),
        };
        ClipTest::with(())
            .given(vec![uploaded(None), blocked])
            .when(ClipCommand::BlockClip {
                moderator: moderator(),
                reason: because("again"),
                at: at(),
            })
            .then_expect_error(ClipError::AlreadyBlocked);
    }

    #[test]
    fn a_removed_clip_records_its_digest_and_takes_no_more_moderation() {
        let removed = ClipEvent::Removed {
            by: moderator(),
            reason: because("takedown"),
            sha256: Sha256Digest::from_bytes([7; 32]),
            at: at(),
        };
        ClipTest::with(())
            .given(vec![uploaded(None), scanned(ScanVerdict::Clean)])
            .when(ClipCommand::RemoveClip {
                moderator: moderator(),
                reason: because("takedown"),
                sha256: Sha256Digest::from_bytes([0; 32]),
                at: at(),
            })
            .then_expect_events(vec![removed.clone()]);
        for command in [
            report("a", ReportReason::Spam),
            ClipCommand::RecordDownload { at: at() },
            ClipCommand::RestoreClip {
                moderator: moderator(),
                reason: because("x"),
                at: at(),
            },
        ] {
            let expected = if matches!(command, ClipCommand::RecordDownload { .. }) {
                ClipError::NotAvailable
            } else {
                ClipError::Removed
            };
            ClipTest::with(())
                .given(vec![
                    uploaded(None),
                    scanned(ScanVerdict::Clean),
                    removed.clone(),
                ])
                .when(command)
                .then_expect_error(expected);
        }
    }

    #[test]
    fn a_removed_clip_cannot_be_edited_or_deleted_by_its_owner() {
        let removed = ClipEvent::Removed {
            by: moderator(),
            reason: because("takedown"),
            sha256: Sha256Digest::from_bytes([7; 32]),
            at: at(),
        };
        for command in [
            ClipCommand::EditClip {
                actor: alice(),
                title: Some(Title::parse("innocent").unwrap()),
                description: None,
                download_limit: None,
                expires_at: None,
                at: at(),
            },
            ClipCommand::EditClip {
                actor: alice(),
                title: None,
                description: None,
                download_limit: Some(None),
                expires_at: None,
                at: at(),
            },
            ClipCommand::DeleteClip {
                actor: alice(),
                at: at(),
            },
        ] {
            ClipTest::with(())
                .given(vec![
                    uploaded(None),
                    scanned(ScanVerdict::Clean),
                    removed.clone(),
                ])
                .when(command)
                .then_expect_error(ClipError::Removed);
        }
    }

    #[test]
    fn hidden_and_blocked_clips_are_not_counted_as_downloads() {
        let hidden = ClipEvent::AutoHidden {
            reporters: 1,
            reasons: vec![ReportReason::Spam],
            at: at(),
        };
        ClipTest::with(())
            .given(vec![uploaded(None), scanned(ScanVerdict::Clean), hidden])
            .when(ClipCommand::RecordDownload { at: at() })
            .then_expect_error(ClipError::NotAvailable);
    }

    #[test]
    fn events_serialize_with_their_stored_names() {
        let json = serde_json::to_value(uploaded(None)).unwrap();
        assert!(json.get("Uploaded").is_some());
        assert_eq!(json["Uploaded"]["owner"], "alice");
        let back: ClipEvent = serde_json::from_value(json).unwrap();
        assert_eq!(back, uploaded(None));
        use cqrs_es::DomainEvent;
        assert_eq!(scanned(ScanVerdict::Clean).event_type(), "ScanCompleted");
        assert_eq!(deleted().event_version(), "1.0");
    }

    fn rendition_command() -> ClipCommand {
        ClipCommand::CompleteRendition {
            blob_key: "renditions/abc".into(),
            content_type: ContentType::from_sniffed("audio/flac"),
            size_bytes: 900,
            sha256: Sha256Digest::from_bytes([9; 32]),
            at: at(),
        }
    }

    fn rendition_completed() -> ClipEvent {
        ClipEvent::RenditionCompleted {
            blob_key: "renditions/abc".into(),
            content_type: ContentType::from_sniffed("audio/flac"),
            size_bytes: 900,
            sha256: Sha256Digest::from_bytes([9; 32]),
            at: at(),
        }
    }

    fn rendition_failed() -> ClipEvent {
        ClipEvent::RenditionFailed {
            reason: "no".into(),
            at: at(),
        }
    }

    #[test]
    fn a_rendition_of_a_clean_clip_is_recorded_once() {
        ClipTest::with(())
            .given(vec![uploaded(None), scanned(ScanVerdict::Clean)])
            .when(rendition_command())
            .then_expect_events(vec![rendition_completed()]);
        ClipTest::with(())
            .given(vec![
                uploaded(None),
                scanned(ScanVerdict::Clean),
                rendition_completed(),
            ])
            .when(rendition_command())
            .then_expect_events(vec![]);
    }

    #[test]
    fn a_rendition_needs_a_clean_live_clip() {
        ClipTest::with(())
            .given(vec![uploaded(None)])
            .when(rendition_command())
            .then_expect_error(ClipError::NotAvailable);
        ClipTest::with(())
            .given(vec![uploaded(None), scanned(ScanVerdict::Clean), deleted()])
            .when(rendition_command())
            .then_expect_error(ClipError::Deleted);
        let removed = ClipEvent::Removed {
            by: bob(),
            reason: because("takedown"),
            sha256: Sha256Digest::from_bytes([7; 32]),
            at: at(),
        };
        ClipTest::with(())
            .given(vec![uploaded(None), scanned(ScanVerdict::Clean), removed])
            .when(rendition_command())
            .then_expect_error(ClipError::Removed);
    }

    #[test]
    fn a_rendition_failure_is_recorded_once_and_a_later_rendition_still_counts() {
        let fail = || ClipCommand::FailRendition {
            reason: "no".into(),
            at: at(),
        };
        ClipTest::with(())
            .given(vec![uploaded(None), scanned(ScanVerdict::Clean)])
            .when(fail())
            .then_expect_events(vec![rendition_failed()]);
        ClipTest::with(())
            .given(vec![
                uploaded(None),
                scanned(ScanVerdict::Clean),
                rendition_failed(),
            ])
            .when(fail())
            .then_expect_events(vec![]);
        ClipTest::with(())
            .given(vec![
                uploaded(None),
                scanned(ScanVerdict::Clean),
                rendition_completed(),
            ])
            .when(fail())
            .then_expect_events(vec![]);
        ClipTest::with(())
            .given(vec![
                uploaded(None),
                scanned(ScanVerdict::Clean),
                rendition_failed(),
            ])
            .when(rendition_command())
            .then_expect_events(vec![rendition_completed()]);
    }

    fn transcript(text: &str) -> crate::Transcript {
        crate::Transcript::new(
            None,
            vec![crate::Segment {
                start_ms: 0,
                end_ms: 900,
                text: text.to_owned(),
            }],
        )
        .unwrap()
    }

    fn transcribed(text: &str) -> ClipEvent {
        ClipEvent::TranscriptCompleted {
            transcript: transcript(text),
            engine: "test".into(),
            at: at(),
        }
    }

    fn complete_transcript(text: &str) -> ClipCommand {
        ClipCommand::CompleteTranscript {
            transcript: transcript(text),
            engine: "test".into(),
            at: at(),
        }
    }

    #[test]
    fn a_clean_clip_records_its_first_transcript_only() {
        ClipTest::with(())
            .given(vec![uploaded(None), scanned(ScanVerdict::Clean)])
            .when(complete_transcript("hello"))
            .then_expect_events(vec![transcribed("hello")]);
        ClipTest::with(())
            .given(vec![
                uploaded(None),
                scanned(ScanVerdict::Clean),
                transcribed("hello"),
            ])
            .when(complete_transcript("again"))
            .then_expect_events(vec![]);
    }

    #[test]
    fn only_a_clean_live_clip_is_transcribed() {
        for given in [
            vec![uploaded(None)],
            vec![uploaded(None), scanned(ScanVerdict::Infected)],
        ] {
            ClipTest::with(())
                .given(given)
                .when(complete_transcript("x"))
                .then_expect_error(ClipError::NotAvailable);
        }
        ClipTest::with(())
            .given(vec![uploaded(None), scanned(ScanVerdict::Clean), deleted()])
            .when(complete_transcript("x"))
            .then_expect_error(ClipError::Deleted);
    }

    #[test]
    fn a_failure_is_recorded_once_and_a_later_transcript_may_follow_it() {
        let failed = ClipEvent::TranscriptFailed {
            reason: "engine crashed".into(),
            engine: "test".into(),
            at: at(),
        };
        let fail = ClipCommand::FailTranscript {
            reason: "engine crashed".into(),
            engine: "test".into(),
            at: at(),
        };
        ClipTest::with(())
            .given(vec![uploaded(None), scanned(ScanVerdict::Clean)])
            .when(fail.clone())
            .then_expect_events(vec![failed.clone()]);
        ClipTest::with(())
            .given(vec![
                uploaded(None),
                scanned(ScanVerdict::Clean),
                failed.clone(),
            ])
            .when(fail)
            .then_expect_events(vec![]);
        ClipTest::with(())
            .given(vec![uploaded(None), scanned(ScanVerdict::Clean), failed])
            .when(complete_transcript("later"))
            .then_expect_events(vec![transcribed("later")]);
    }

    #[test]
    fn the_owners_correction_stands_and_no_one_else_may_make_one() {
        let corrected = ClipEvent::TranscriptCorrected {
            by: alice(),
            transcript: transcript("what I said"),
            at: at(),
        };
        ClipTest::with(())
            .given(vec![
                uploaded(None),
                scanned(ScanVerdict::Clean),
                transcribed("what I sad"),
            ])
            .when(ClipCommand::CorrectTranscript {
                actor: alice(),
                transcript: transcript("what I said"),
                at: at(),
            })
            .then_expect_events(vec![corrected.clone()]);
        ClipTest::with(())
            .given(vec![uploaded(None), scanned(ScanVerdict::Clean)])
            .when(ClipCommand::CorrectTranscript {
                actor: bob(),
                transcript: transcript("mine now"),
                at: at(),
            })
            .then_expect_error(ClipError::NotOwner);
        // A transcription arriving after the owner's own records nothing.
        ClipTest::with(())
            .given(vec![uploaded(None), scanned(ScanVerdict::Clean), corrected])
            .when(complete_transcript("machine words"))
            .then_expect_events(vec![]);
    }

    fn later(secs: i64) -> DateTime<Utc> {
        at() + chrono::Duration::seconds(secs)
    }

    fn uploaded_expiring(secs: i64) -> ClipEvent {
        match uploaded(None) {
            ClipEvent::Uploaded {
                owner,
                title,
                description,
                filename,
                content_type,
                size_bytes,
                sha256,
                blob_key,
                download_limit,
                at,
                ..
            } => ClipEvent::Uploaded {
                owner,
                title,
                description,
                filename,
                content_type,
                size_bytes,
                sha256,
                blob_key,
                download_limit,
                expires_at: Some(later(secs)),
                at,
            },
            _ => unreachable!(),
        }
    }

    fn upload_expiring(secs: i64) -> ClipCommand {
        match upload_command() {
            ClipCommand::UploadClip {
                owner,
                title,
                description,
                filename,
                content_type,
                size_bytes,
                sha256,
                blob_key,
                download_limit,
                at,
                ..
            } => ClipCommand::UploadClip {
                owner,
                title,
                description,
                filename,
                content_type,
                size_bytes,
                sha256,
                blob_key,
                download_limit,
                expires_at: Some(later(secs)),
                at,
            },
            _ => unreachable!(),
        }
    }

    fn set_expiry(actor: AccountId, expires_at: Option<Option<DateTime<Utc>>>) -> ClipCommand {
        ClipCommand::EditClip {
            actor,
            title: None,
            description: None,
            download_limit: None,
            expires_at,
            at: at(),
        }
    }

    fn expired(secs: i64) -> ClipEvent {
        ClipEvent::Expired {
            expires_at: later(secs),
            at: later(secs),
        }
    }

    #[test]
    fn an_upload_records_its_expiry_which_must_be_ahead() {
        ClipTest::with(())
            .given_no_previous_events()
            .when(upload_expiring(3600))
            .then_expect_events(vec![uploaded_expiring(3600)]);
        for secs in [0, -1] {
            ClipTest::with(())
                .given_no_previous_events()
                .when(upload_expiring(secs))
                .then_expect_error(ClipError::ExpiryNotInFuture);
        }
    }

    #[test]
    fn the_owner_sets_moves_and_clears_the_expiry_and_an_unchanged_one_records_nothing() {
        ClipTest::with(())
            .given(vec![uploaded(None)])
            .when(set_expiry(alice(), Some(Some(later(60)))))
            .then_expect_events(vec![ClipEvent::ExpiryChanged {
                by: alice(),
                expires_at: Some(later(60)),
                at: at(),
            }]);
        ClipTest::with(())
            .given(vec![uploaded_expiring(60)])
            .when(set_expiry(alice(), Some(None)))
            .then_expect_events(vec![ClipEvent::ExpiryChanged {
                by: alice(),
                expires_at: None,
                at: at(),
            }]);
        ClipTest::with(())
            .given(vec![uploaded_expiring(60)])
            .when(set_expiry(alice(), Some(Some(later(60)))))
            .then_expect_events(vec![]);
        ClipTest::with(())
            .given(vec![uploaded_expiring(60)])
            .when(set_expiry(alice(), None))
            .then_expect_events(vec![]);
        ClipTest::with(())
            .given(vec![uploaded(None)])
            .when(set_expiry(alice(), Some(Some(at()))))
            .then_expect_error(ClipError::ExpiryNotInFuture);
        ClipTest::with(())
            .given(vec![uploaded(None)])
            .when(set_expiry(bob(), Some(Some(later(60)))))
            .then_expect_error(ClipError::NotOwner);
    }

    #[test]
    fn a_due_clip_expires_once_and_a_second_sweep_records_nothing() {
        ClipTest::with(())
            .given(vec![uploaded_expiring(60), scanned(ScanVerdict::Clean)])
            .when(ClipCommand::ExpireClip { at: later(60) })
            .then_expect_events(vec![expired(60)]);
        ClipTest::with(())
            .given(vec![uploaded_expiring(60), expired(60)])
            .when(ClipCommand::ExpireClip { at: later(120) })
            .then_expect_events(vec![]);
    }

    #[test]
    fn a_clip_not_due_by_its_own_history_does_not_expire() {
        // Not yet due; the owner moved the expiry after the sweeper read the view; cleared.
        ClipTest::with(())
            .given(vec![uploaded_expiring(60)])
            .when(ClipCommand::ExpireClip { at: later(59) })
            .then_expect_events(vec![]);
        ClipTest::with(())
            .given(vec![
                uploaded_expiring(60),
                ClipEvent::ExpiryChanged {
                    by: alice(),
                    expires_at: Some(later(600)),
                    at: at(),
                },
            ])
            .when(ClipCommand::ExpireClip { at: later(60) })
            .then_expect_events(vec![]);
        ClipTest::with(())
            .given(vec![uploaded(None)])
            .when(ClipCommand::ExpireClip { at: later(60) })
            .then_expect_events(vec![]);
    }

    #[test]
    fn deleted_and_removed_clips_do_not_expire() {
        ClipTest::with(())
            .given(vec![uploaded_expiring(60), deleted()])
            .when(ClipCommand::ExpireClip { at: later(60) })
            .then_expect_error(ClipError::Deleted);
        ClipTest::with(())
            .given(vec![
                uploaded_expiring(60),
                ClipEvent::Removed {
                    by: moderator(),
                    reason: because("malware"),
                    sha256: Sha256Digest::from_bytes([7; 32]),
                    at: at(),
                },
            ])
            .when(ClipCommand::ExpireClip { at: later(60) })
            .then_expect_events(vec![]);
    }

    #[test]
    fn an_expired_clip_accepts_no_further_commands_but_batched_counts() {
        let given = || {
            vec![
                uploaded_expiring(60),
                scanned(ScanVerdict::Clean),
                expired(60),
            ]
        };
        let commands = vec![
            ClipCommand::RecordDownload { at: at() },
            set_expiry(alice(), Some(None)),
            ClipCommand::EditClip {
                actor: alice(),
                title: Some(None),
                description: None,
                download_limit: None,
                expires_at: None,
                at: at(),
            },
            ClipCommand::DeleteClip {
                actor: alice(),
                at: at(),
            },
            report("b", ReportReason::Spam),
            ClipCommand::BlockClip {
                moderator: moderator(),
                reason: because("spam"),
                at: at(),
            },
            ClipCommand::CorrectTranscript {
                actor: alice(),
                transcript: transcript("hello"),
                at: at(),
            },
            rendition_command(),
        ];
        for command in commands {
            ClipTest::with(())
                .given(given())
                .when(command)
                .then_expect_error(ClipError::Expired);
        }
        ClipTest::with(())
            .given(given())
            .when(ClipCommand::CountDownloads { count: 2, at: at() })
            .then_expect_events(vec![ClipEvent::DownloadsCounted { count: 2, at: at() }]);
    }

    #[test]
    fn expiry_events_keep_their_stored_shape_and_old_uploads_still_load() {
        let json = serde_json::to_value(uploaded(None)).unwrap();
        assert!(json["Uploaded"].get("expires_at").is_none());
        let json = serde_json::to_value(uploaded_expiring(60)).unwrap();
        assert_eq!(json["Uploaded"]["expires_at"], "2026-11-26T12:01:00Z");
        use cqrs_es::DomainEvent;
        assert_eq!(expired(60).event_type(), "Expired");
        let changed = ClipEvent::ExpiryChanged {
            by: alice(),
            expires_at: None,
            at: at(),
        };
        assert_eq!(changed.event_type(), "ExpiryChanged");
        assert_eq!(
            serde_json::to_value(&changed).unwrap()["ExpiryChanged"]["expires_at"],
            serde_json::Value::Null
        );
    }
}
