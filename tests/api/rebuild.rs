use crate::helpers::{fixture, spawn_app, Backend, ALL_SCOPES};
use crate::on_both_backends;
use voicebin::Database;
use voicebin_domain::{Moderation, ReportReason};
use voicebin_projections::{Resolution, StoreError};

/// Runs `sql` (one or more statements) against the app's database.
async fn execute(database: &Database, sql: &str) {
    match database {
        Database::Sqlite(pool) => {
            sqlx::raw_sql(sql).execute(pool).await.unwrap();
        }
        Database::Postgres(pool) => {
            sqlx::raw_sql(sql).execute(pool).await.unwrap();
        }
    }
}

async fn a_rebuild_from_events_equals_the_live_read_models(backend: Backend) {
    let app = spawn_app(backend).await;
    let alice = app.alice();
    let bob = app.key("bob", ALL_SCOPES);
    let mut ids = Vec::new();
    for (i, name) in ["hello.ogg", "hello.wav", "hello.mp3", "hello.flac"]
        .iter()
        .enumerate()
    {
        let key = if i % 2 == 0 { &alice } else { &bob };
        let id = app
            .upload_ok(key, fixture(name), &[("x-title", &format!("clip {i}"))])
            .await;
        app.wait_scanned(&id, key).await;
        ids.push((id, key.clone()));
    }
    app.patch_item(
        &ids[0].0,
        &alice,
        serde_json::json!({"title": "edited", "download_limit": 4}),
    )
    .await;
    app.delete_item(&ids[1].0, &bob).await;
    let mut damaged = fixture("hello.wav");
    damaged.truncate(44);
    let rejected = app.upload_ok(&alice, damaged, &[]).await;
    app.wait_scanned(&rejected, &alice).await;

    let (views, log) = app.database.projections();
    let live = views.all().await.unwrap();
    assert_eq!(live.len(), 5);
    let live_index = views.all_search_entries().await.unwrap();
    // Four live clips are indexed (the deleted one is not), each under every word it holds.
    assert_eq!(live_index.len(), 4, "{live_index:#?}");
    assert!(
        live_index.iter().any(|e| e.contains("edited")),
        "{live_index:#?}"
    );
    // No event records a transcript yet: one written straight to the store is not rebuilt.
    views
        .replace_transcript(
            &ids[0].0,
            &[voicebin_projections::TranscriptSegment {
                start_ms: 0,
                end_ms: 900,
                text: "spoken words".into(),
            }],
        )
        .await
        .unwrap();
    assert_ne!(views.all_search_entries().await.unwrap(), live_index);

    // Wreck the read model, then rebuild it from the event store.
    execute(
        &app.database,
        "UPDATE clip_views SET title = 'wrong', version = 0; DELETE FROM clip_search",
    )
    .await;
    assert_ne!(views.all().await.unwrap(), live);
    let stats = voicebin_projections::rebuild(log.as_ref(), views.as_ref())
        .await
        .unwrap();
    assert_eq!(stats.views, 5);
    assert_eq!(stats.events as i64, app.total_events().await);
    assert_eq!(
        views.all().await.unwrap(),
        live,
        "rebuilt rows differ from live rows"
    );
    assert_eq!(views.all_search_entries().await.unwrap(), live_index);
    assert!(views.all_transcripts().await.unwrap().is_empty());
}
on_both_backends!(a_rebuild_from_events_equals_the_live_read_models);

/// Asserts that reading fails as corrupt data naming `column` and the bad `name`.
fn assert_corrupt<T: std::fmt::Debug>(read: Result<T, StoreError>, column: &str, name: &str) {
    match read {
        Err(StoreError::Corrupt(cause)) => {
            assert!(cause.contains(column) && cause.contains(name), "{cause}")
        }
        other => panic!("{column} = {name:?} read as {other:?}"),
    }
}

async fn a_row_with_an_unknown_state_name_is_corrupt_data_not_a_default(backend: Backend) {
    let app = spawn_app(backend).await;
    let alice = app.alice();
    let id = app.upload_ok(&alice, fixture("hello.wav"), &[]).await;
    app.wait_scanned(&id, &alice).await;
    let (views, _) = app.database.projections();

    execute(
        &app.database,
        "UPDATE clip_views SET scan_state = 'scanning'",
    )
    .await;
    assert_corrupt(views.get(&id).await, "scan_state", "scanning");
    // The API does not guess either: the owner gets an opaque 500, not a pending clip.
    assert_eq!(
        app.get_item(&id, Some(&alice)).await.status(),
        reqwest::StatusCode::INTERNAL_SERVER_ERROR
    );
    execute(
        &app.database,
        "UPDATE clip_views SET scan_state = 'clean', moderation_state = 'shadowed'",
    )
    .await;
    assert_corrupt(views.all().await, "moderation_state", "shadowed");

    execute(
        &app.database,
        &format!(
            "UPDATE clip_views SET moderation_state = 'visible'; \
             INSERT INTO clip_reports (clip_id, sequence, reporter, reason, note, reported_at) \
             VALUES ('{id}', 99, 'anonymous:x', 'rude', NULL, 1)"
        ),
    )
    .await;
    assert_corrupt(views.all_reports().await, "reason", "rude");
    execute(
        &app.database,
        "UPDATE clip_reports SET reason = 'spam', resolved_at = 2, resolution = 'closed'",
    )
    .await;
    assert_corrupt(views.all_reports().await, "resolution", "closed");

    execute(
        &app.database,
        "UPDATE clip_reports SET resolution = 'restored'",
    )
    .await;
    let reports = views.all_reports().await.unwrap();
    assert_eq!(reports[0].reason, ReportReason::Spam);
    assert_eq!(reports[0].resolution, Some(Resolution::Restored));
    assert_eq!(
        views.get(&id).await.unwrap().unwrap().moderation_state,
        Moderation::Visible
    );
}
on_both_backends!(a_row_with_an_unknown_state_name_is_corrupt_data_not_a_default);

/// A distinct little WAV per `n` (8 kHz mono, 0.1 s), so no two clips share a digest.
fn tiny_wav(n: u32) -> Vec<u8> {
    let mut samples: Vec<i16> = (0..800u32)
        .map(|i| (((i * 37 + n * 101) % 2000) as i16 - 1000) * 8)
        .collect();
    // The first two samples spell `n`, so every clip's bytes differ.
    samples[0] = (n & 0x7fff) as i16;
    samples[1] = (n >> 15) as i16;
    crate::helpers::pcm_wav(8000, &samples)
}

/// Every read model, as rows.
async fn snapshot(
    views: &dyn voicebin_projections::ReadStore,
) -> (
    Vec<voicebin_projections::ClipView>,
    Vec<voicebin_projections::ReportRow>,
    Vec<voicebin_projections::BlockedDigest>,
    Vec<String>,
) {
    (
        views.all().await.unwrap(),
        views.all_reports().await.unwrap(),
        views.all_blocked().await.unwrap(),
        views.all_search_entries().await.unwrap(),
    )
}

/// Waits until no clip is pending a scan. Every scan starts the sandboxed analyser, a process
/// of its own (ADR 0010), and counts its attempt in the database first: ~10 ms a clip more than
/// analysing in process, 10,000 times over the embedded worker's two slots, on a machine that
/// is running the rest of the suite too. How long that takes depends on the machine's load, so
/// this waits as long as scans keep finishing, and fails only when none finished for a minute.
async fn settle(views: &dyn voicebin_projections::ReadStore) {
    let mut pending = usize::MAX;
    let mut idle = 0;
    while idle < 600 {
        let now = views.pending_ids().await.unwrap().len();
        if now == 0 {
            return;
        }
        if now < pending {
            pending = now;
            idle = 0;
        } else {
            idle += 1;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("scans stopped finishing with {pending} clips still pending");
}

async fn ten_thousand_clips_rebuild_row_for_row_while_the_api_serves(backend: Backend) {
    use futures::StreamExt;
    use reqwest::StatusCode;
    use serde_json::json;

    const CLIPS: u32 = 10_000;
    let app = crate::helpers::spawn_app_with(
        backend,
        crate::helpers::Options {
            moderation: voicebin::ModerationSettings {
                hide_threshold: 2,
                reports_per_hour_per_ip: 0,
                reports_per_hour_per_account: 0,
                trust_forwarded_for: false,
            },
            // Ten thousand uploads from five accounts, and the reads that check them: far past
            // any rate a person or script would be allowed.
            rate_limits: voicebin::RateLimiting {
                quotas: voicebin::RateLimitSettings::off(),
                ..Default::default()
            },
            ..Default::default()
        },
    )
    .await;
    let owners: Vec<String> = (0..5)
        .map(|i| app.key(&format!("owner{i}"), ALL_SCOPES))
        .collect();
    let reporters: Vec<String> = (0..2)
        .map(|i| app.key(&format!("reporter{i}"), &["voice:read"]))
        .collect();
    let moderator = app.key("mod", &["voice:moderate"]);
    let app = &app;

    // Uploads, some with limits and titles.
    let ids: Vec<String> = futures::stream::iter(0..CLIPS)
        .map(|n| {
            let owner = owners[(n % 5) as usize].clone();
            async move {
                let limit = (n % 3 == 0).then(|| (n % 4 + 2).to_string());
                let title = format!("clip {n}");
                let mut headers = vec![("x-title", title.as_str())];
                if let Some(limit) = &limit {
                    headers.push(("x-download-limit", limit.as_str()));
                }
                app.upload_ok(&owner, tiny_wav(n), &headers).await
            }
        })
        .buffered(8)
        .collect()
        .await;
    let (views, log) = app.database.projections();
    settle(views.as_ref()).await;

    // Mixed histories: edits, downloads, reports (some past the threshold), moderator
    // decisions and deletions.
    futures::stream::iter(ids.iter().enumerate())
        .for_each_concurrent(8, |(n, id)| {
            let owner = owners[n % 5].clone();
            let reporters = reporters.clone();
            let moderator = moderator.clone();
            async move {
                if n % 7 == 0 {
                    let res = app
                        .patch_item(id, &owner, json!({"description": format!("edit {n}")}))
                        .await;
                    assert_eq!(res.status(), StatusCode::OK);
                }
                if n % 3 == 0 && n % 2 == 0 {
                    let res = app.client.get(app.url(&format!("/{id}/download"))).send().await.unwrap();
                    assert_eq!(res.status(), StatusCode::OK);
                }
                if n % 13 == 0 {
                    for reporter in &reporters[..1 + (n % 2)] {
                        let res = app
                            .client
                            .post(app.url(&format!("/api/v1/items/{id}/reports")))
                            .bearer_auth(reporter)
                            .json(&json!({"reason": if n % 4 == 0 { "spam" } else { "copyright" }, "note": format!("n{n}")}))
                            .send()
                            .await
                            .unwrap();
                        assert_eq!(res.status(), StatusCode::ACCEPTED);
                    }
                }
                let decision = match n % 91 {
                    0 => Some("remove"),
                    13 => Some("restore"),
                    26 => Some("block"),
                    _ => None,
                };
                if let Some(decision) = decision {
                    let res = app
                        .client
                        .post(app.url(&format!("/api/v1/moderation/items/{id}/{decision}")))
                        .bearer_auth(&moderator)
                        .json(&json!({"reason": format!("{decision} {n}")}))
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(res.status(), StatusCode::OK, "{decision} {n}");
                }
                if n % 11 == 0 && n % 91 != 0 {
                    let res = app.delete_item(id, &owner).await;
                    assert_eq!(res.status(), StatusCode::NO_CONTENT);
                }
            }
        })
        .await;

    let live = snapshot(views.as_ref()).await;
    assert_eq!(live.0.len(), CLIPS as usize);
    assert!(live.1.len() > 1000, "reports: {}", live.1.len());
    assert!(!live.2.is_empty());
    let states: Vec<Moderation> = live.0.iter().map(|v| v.moderation_state).collect();
    assert!(states.contains(&Moderation::Hidden));
    assert!(states.contains(&Moderation::Blocked));

    assert!(live.3.len() > 9000, "indexed: {}", live.3.len());

    // Wreck the read models, then rebuild them from the event store.
    let wreck = "UPDATE clip_views SET title = 'wrong', moderation_state = 'visible'; \
                 DELETE FROM clip_reports; DELETE FROM blocked_digests; DELETE FROM clip_search";
    execute(&app.database, wreck).await;
    let stats = voicebin_projections::rebuild(log.as_ref(), views.as_ref())
        .await
        .unwrap();
    assert_eq!(stats.views, u64::from(CLIPS));
    assert_eq!(stats.events as i64, app.total_events().await);
    let rebuilt = snapshot(views.as_ref()).await;
    assert!(
        rebuilt.0 == live.0,
        "rebuilt clip views differ from the live ones"
    );
    assert_eq!(rebuilt.1, live.1, "rebuilt reports differ");
    assert_eq!(rebuilt.2, live.2, "rebuilt blocklist differs");
    assert!(rebuilt.3 == live.3, "rebuilt search index differs");

    // Rebuild again while the API takes uploads, reports and decisions: afterwards the live
    // tables hold every change, exactly as a quiet rebuild makes them.
    let traffic = async {
        for n in 0..40u32 {
            let owner = &owners[(n % 5) as usize];
            let id = app
                .upload_ok(owner, tiny_wav(CLIPS + n), &[("x-title", "during")])
                .await;
            let res = app
                .client
                .post(app.url(&format!("/api/v1/items/{}/reports", ids[(n * 3) as usize])))
                .bearer_auth(&reporters[(n % 2) as usize])
                .json(&json!({"reason": "other"}))
                .send()
                .await
                .unwrap();
            assert!(
                [
                    StatusCode::ACCEPTED,
                    StatusCode::NOT_FOUND,
                    StatusCode::GONE,
                    StatusCode::UNAVAILABLE_FOR_LEGAL_REASONS
                ]
                .contains(&res.status()),
                "{}",
                res.status()
            );
            let _ = id;
        }
    };
    let (during, ()) = tokio::join!(
        voicebin_projections::rebuild(log.as_ref(), views.as_ref()),
        traffic
    );
    during.unwrap();
    settle(views.as_ref()).await;
    let after_traffic = snapshot(views.as_ref()).await;
    assert_eq!(after_traffic.0.len(), CLIPS as usize + 40);
    voicebin_projections::rebuild(log.as_ref(), views.as_ref())
        .await
        .unwrap();
    let quiet = snapshot(views.as_ref()).await;
    assert!(
        quiet.0 == after_traffic.0,
        "views after a rebuild under traffic differ"
    );
    assert_eq!(quiet.1, after_traffic.1);
    assert_eq!(quiet.2, after_traffic.2);
    assert!(
        quiet.3 == after_traffic.3,
        "search index after a rebuild under traffic differs"
    );
}
on_both_backends!(ten_thousand_clips_rebuild_row_for_row_while_the_api_serves);

/// Takes `id` down as moderator `key`, asserting 200.
async fn remove(app: &crate::helpers::TestApp, key: &str, id: &str) {
    let res = app
        .client
        .post(app.url(&format!("/api/v1/moderation/items/{id}/remove")))
        .bearer_auth(key)
        .json(&serde_json::json!({"reason": format!("takedown of {id}")}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), reqwest::StatusCode::OK, "{id}");
}

async fn several_removed_clips_holding_the_same_bytes_rebuild_like_the_live_blocklist(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    let alice = app.alice();
    let bob = app.key("bob", ALL_SCOPES);
    let moderator = app.key("mod", &["voice:moderate"]);
    // Three clips of the same bytes, uploaded before any removal, then all removed.
    let mut ids = Vec::new();
    for key in [&alice, &bob, &alice] {
        let id = app.upload_ok(key, tiny_wav(7), &[]).await;
        app.wait_scanned(&id, key).await;
        ids.push(id);
    }
    for id in &ids {
        remove(&app, &moderator, id).await;
    }
    let (views, log) = app.database.projections();
    let live = snapshot(views.as_ref()).await;
    assert_eq!(live.2.len(), 1, "one blocklist row per digest");
    assert_eq!(live.2[0].clip_id, ids[0], "the first removal is kept");

    for _ in 0..2 {
        voicebin_projections::rebuild(log.as_ref(), views.as_ref())
            .await
            .expect("the rebuild succeeds");
        assert_eq!(snapshot(views.as_ref()).await, live);
    }
    // The bytes stay refused.
    let res = app.upload(&alice, tiny_wav(7), &[]).await;
    assert_eq!(
        res.status(),
        reqwest::StatusCode::UNAVAILABLE_FOR_LEGAL_REASONS
    );
}
on_both_backends!(several_removed_clips_holding_the_same_bytes_rebuild_like_the_live_blocklist);

mod gated {
    //! A read store that stops at chosen points, to run a rebuild's swap exactly between a
    //! live projection's read of a view and its write.

    use std::sync::Arc;

    use async_trait::async_trait;
    use tokio::sync::{mpsc, watch, Notify};
    use voicebin_projections::{
        BlockedDigest, ClipView, ListQuery, ModerationChange, Page, QueuePage, QueueQuery,
        ReadStore, RebuildBatch, ReportRow, StoreError, TranscriptSegment,
    };

    /// The rendezvous: the rebuild waits before its swap until released; live projections
    /// report each view they read, then wait until the swap is done; the rebuild goes on (to
    /// re-fold the clips it finds stale) once they are projected.
    pub struct Gate {
        pub at_swap: Notify,
        pub release_swap: Notify,
        pub swapped: watch::Sender<bool>,
        pub read: mpsc::UnboundedSender<String>,
        pub projected: Notify,
    }

    /// Where a [`Gated`] store stops.
    #[derive(Clone, Copy, PartialEq, Eq)]
    pub enum Stop {
        /// Before swapping a rebuild in (the rebuild's store).
        Swap,
        /// After reading a view, until the swap is done (a live projector's store).
        Read,
    }

    pub struct Gated {
        pub inner: Arc<dyn ReadStore>,
        pub gate: Arc<Gate>,
        pub stop: Stop,
    }

    #[async_trait]
    impl ReadStore for Gated {
        async fn get(&self, id: &str) -> Result<Option<ClipView>, StoreError> {
            let view = self.inner.get(id).await;
            if self.stop == Stop::Read {
                let mut swapped = self.gate.swapped.subscribe();
                self.gate.read.send(id.to_owned()).unwrap();
                swapped.wait_for(|done| *done).await.unwrap();
            }
            view
        }
        async fn list(&self, query: &ListQuery) -> Result<Page, StoreError> {
            self.inner.list(query).await
        }
        async fn pending_ids(&self) -> Result<Vec<String>, StoreError> {
            self.inner.pending_ids().await
        }
        async fn write_projection(
            &self,
            id: &str,
            after: Option<i64>,
            view: Option<&ClipView>,
            changes: &[ModerationChange],
            transcript: Option<&[TranscriptSegment]>,
        ) -> Result<bool, StoreError> {
            self.inner
                .write_projection(id, after, view, changes, transcript)
                .await
        }
        async fn report_queue(&self, query: &QueueQuery) -> Result<QueuePage, StoreError> {
            self.inner.report_queue(query).await
        }
        async fn blocked(&self, sha256: &str) -> Result<Option<BlockedDigest>, StoreError> {
            self.inner.blocked(sha256).await
        }
        async fn rebuild_begin(&self) -> Result<(), StoreError> {
            self.inner.rebuild_begin().await
        }
        async fn rebuild_write(&self, batch: &RebuildBatch) -> Result<(), StoreError> {
            self.inner.rebuild_write(batch).await
        }
        async fn rebuild_swap(&self) -> Result<(), StoreError> {
            if self.stop == Stop::Swap {
                self.gate.at_swap.notify_one();
                self.gate.release_swap.notified().await;
            }
            let swapped = self.inner.rebuild_swap().await;
            self.gate.swapped.send_replace(true);
            if self.stop == Stop::Swap {
                self.gate.projected.notified().await;
            }
            swapped
        }
        async fn all(&self) -> Result<Vec<ClipView>, StoreError> {
            self.inner.all().await
        }
        async fn all_reports(&self) -> Result<Vec<ReportRow>, StoreError> {
            self.inner.all_reports().await
        }
        async fn all_blocked(&self) -> Result<Vec<BlockedDigest>, StoreError> {
            self.inner.all_blocked().await
        }
        async fn replace_transcript(
            &self,
            id: &str,
            segments: &[TranscriptSegment],
        ) -> Result<(), StoreError> {
            self.inner.replace_transcript(id, segments).await
        }
        async fn transcript(&self, id: &str) -> Result<Vec<TranscriptSegment>, StoreError> {
            self.inner.transcript(id).await
        }
        async fn all_transcripts(&self) -> Result<Vec<(String, TranscriptSegment)>, StoreError> {
            self.inner.all_transcripts().await
        }
        async fn all_search_entries(&self) -> Result<Vec<String>, StoreError> {
            self.inner.all_search_entries().await
        }
        async fn ping(&self) -> Result<(), StoreError> {
            self.inner.ping().await
        }
        async fn shared_secret(&self, name: &str, candidate: &str) -> Result<String, StoreError> {
            self.inner.shared_secret(name, candidate).await
        }
    }
}

async fn a_rebuild_racing_live_projection_loses_no_report_or_blocklist_row(backend: Backend) {
    use chrono::Utc;
    use gated::{Gate, Gated, Stop};
    use std::sync::Arc;
    use voicebin_commands::CommandMeta;
    use voicebin_domain::{ClipCommand, ClipId, Reporter};

    let app = spawn_app(backend).await;
    let alice = app.alice();
    let reporter = app.key("reporter", &["voice:read"]);
    let moderator = app.key("mod", &["voice:moderate"]);
    let reported = app.upload_ok(&alice, tiny_wav(1), &[]).await;
    let removed = app.upload_ok(&alice, tiny_wav(2), &[]).await;
    for id in [&reported, &removed] {
        app.wait_scanned(id, &alice).await;
    }
    let (views, log) = app.database.projections();

    let (swapped, _) = tokio::sync::watch::channel(false);
    let (read, mut reads) = tokio::sync::mpsc::unbounded_channel();
    let gate = Arc::new(Gate {
        at_swap: tokio::sync::Notify::new(),
        release_swap: tokio::sync::Notify::new(),
        swapped,
        read,
        projected: tokio::sync::Notify::new(),
    });
    let rebuild_store = Arc::new(Gated {
        inner: views.clone(),
        gate: gate.clone(),
        stop: Stop::Swap,
    });
    let rebuilding = {
        let log = log.clone();
        tokio::spawn(async move {
            voicebin_projections::rebuild(log.as_ref(), rebuild_store.as_ref()).await
        })
    };
    // The rebuild has read every event and built its tables aside.
    gate.at_swap.notified().await;

    // Live traffic the rebuild did not read: a report, and a takedown, each projected at once.
    let res = app
        .client
        .post(app.url(&format!("/api/v1/items/{reported}/reports")))
        .bearer_auth(&reporter)
        .json(&serde_json::json!({"reason": "spam"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), reqwest::StatusCode::ACCEPTED);
    remove(&app, &moderator, &removed).await;

    // The next event of each clip is projected by a projector that reads the view before the
    // swap and writes after it.
    let live_store = Arc::new(Gated {
        inner: views.clone(),
        gate: gate.clone(),
        stop: Stop::Read,
    });
    let commands = app
        .database
        .command_store(voicebin_projections::ClipProjector::new(
            live_store,
            log.clone(),
        ));
    let next_events = [
        (
            reported.clone(),
            ClipCommand::ReportClip {
                reporter: Reporter::anonymous("second"),
                reason: voicebin_domain::ReportReason::Other,
                note: None,
                at: Utc::now(),
            },
        ),
        (
            removed.clone(),
            ClipCommand::CountDownloads {
                count: 1,
                at: Utc::now(),
            },
        ),
    ];
    let mut projecting = Vec::new();
    for (id, command) in next_events {
        let commands = commands.clone();
        projecting.push(tokio::spawn(async move {
            let id = ClipId::parse(&id).unwrap();
            commands
                .execute(&id, command, CommandMeta::system("test"))
                .await
                .unwrap();
        }));
    }
    for _ in 0..2 {
        reads.recv().await.unwrap();
    }
    gate.release_swap.notify_one();
    for task in projecting {
        task.await.unwrap();
    }
    gate.projected.notify_one();
    rebuilding.await.unwrap().unwrap();

    let (_, reports, blocked, _) = snapshot(views.as_ref()).await;
    let sequences: Vec<i64> = reports
        .iter()
        .filter(|r| r.clip_id == reported)
        .map(|r| r.sequence)
        .collect();
    assert_eq!(sequences, [3, 4], "both reports survive the rebuild");
    assert_eq!(
        blocked
            .iter()
            .map(|b| b.clip_id.as_str())
            .collect::<Vec<_>>(),
        [removed.as_str()],
        "the takedown's digest stays blocked"
    );
    let res = app.upload(&alice, tiny_wav(2), &[]).await;
    assert_eq!(
        res.status(),
        reqwest::StatusCode::UNAVAILABLE_FOR_LEGAL_REASONS
    );
    // And the live tables are what a quiet rebuild makes.
    let after = snapshot(views.as_ref()).await;
    voicebin_projections::rebuild(log.as_ref(), views.as_ref())
        .await
        .unwrap();
    assert_eq!(snapshot(views.as_ref()).await, after);
}
on_both_backends!(a_rebuild_racing_live_projection_loses_no_report_or_blocklist_row);
