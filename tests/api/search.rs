//! Speech search: `q` of the owner listing over title, filename, description and transcript
//! (docs/adr/0017-speech-search.md).
//!
//! No event records a transcript yet (the transcription stage is being built), so these tests
//! write segments through the store's own method, `ReadStore::replace_transcript`, which the
//! projector will call; everything else goes through the HTTP API.

use std::collections::HashSet;

use reqwest::StatusCode;
use serde_json::Value;
use voicebin_projections::TranscriptSegment;

use crate::helpers::{fixture, json, spawn_app, Backend, TestApp, ALL_SCOPES};
use crate::on_both_backends;

fn ids(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap_or_else(|| panic!("no items in {page}"))
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_owned())
        .collect()
}

/// The snippet with hits in brackets.
fn marked(item: &Value) -> String {
    item["match"]["snippet"]
        .as_array()
        .unwrap_or_else(|| panic!("no snippet in {item}"))
        .iter()
        .map(|p| {
            let text = p["text"].as_str().unwrap();
            if p["hit"] == true {
                format!("[{text}]")
            } else {
                text.to_owned()
            }
        })
        .collect()
}

fn segment(start_ms: u64, text: &str) -> TranscriptSegment {
    TranscriptSegment {
        start_ms,
        end_ms: start_ms + 4_000,
        text: text.into(),
    }
}

async fn search(app: &TestApp, key: &str, q: &str) -> Value {
    let (status, page) = json(app.list(key, &[("q", q)]).await).await;
    assert_eq!(status, StatusCode::OK, "q={q:?}: {page}");
    page
}

async fn upload(app: &TestApp, key: &str, headers: &[(&str, &str)]) -> String {
    app.upload_ok(key, fixture("hello.ogg"), headers).await
}

async fn a_word_only_spoken_in_a_clip_finds_it_at_the_moment_it_was_said(backend: Backend) {
    let app = spawn_app(backend).await;
    let alice = app.alice();
    let (views, _) = app.database.projections();
    let spoken = upload(&app, &alice, &[("x-title", "Weekly sync")]).await;
    let other = upload(&app, &alice, &[("x-title", "Groceries")]).await;
    views
        .replace_transcript(
            &spoken,
            &[
                segment(0, "Good morning, everyone."),
                segment(4_000, "Quick update on the budget."),
                segment(
                    12_500,
                    "The offsite in Zürich is approved; the offsite budget too.",
                ),
                segment(21_000, "That's all."),
            ],
        )
        .await
        .unwrap();
    views
        .replace_transcript(&other, &[segment(0, "milk eggs bread")])
        .await
        .unwrap();

    let page = search(&app, &alice, "offsite").await;
    assert_eq!(ids(&page), [spoken.as_str()]);
    let hit = &page["items"][0]["match"];
    assert_eq!(hit["field"], "transcript", "{page}");
    assert_eq!(hit["at_ms"], 12_500);
    assert_eq!(
        marked(&page["items"][0]),
        "The [offsite] in Zürich is approved; the [offsite] budget too."
    );
    // Words spread over segments and fields still find the clip; the segment holding most
    // of them is the one named.
    let page = search(&app, &alice, "zurich").await;
    assert!(ids(&page).is_empty(), "accents are kept: {page}");
    let page = search(&app, &alice, "ZÜRICH budg").await;
    assert_eq!(ids(&page), [spoken.as_str()]);
    assert_eq!(page["items"][0]["match"]["at_ms"], 12_500);
    let page = search(&app, &alice, "weekly morning").await;
    assert_eq!(ids(&page), [spoken.as_str()]);
    assert_eq!(page["items"][0]["match"]["field"], "title");
    assert!(page["items"][0]["match"].get("at_ms").is_none());
    // A phrase must be said as one.
    assert!(ids(&search(&app, &alice, "\"offsite approved\"").await).is_empty());
    let page = search(&app, &alice, "\"offsite in zü\"").await;
    assert_eq!(ids(&page), [spoken.as_str()]);
    // Exclusions leave clips out.
    let page = search(&app, &alice, "offsite -milk").await;
    assert_eq!(ids(&page), [spoken.as_str()]);
    assert!(ids(&search(&app, &alice, "offsite -budget").await).is_empty());

    // A correction replaces what was said; clearing forgets it.
    views
        .replace_transcript(&spoken, &[segment(1_000, "The retreat is approved.")])
        .await
        .unwrap();
    assert_eq!(
        views.transcript(&spoken).await.unwrap(),
        [segment(1_000, "The retreat is approved.")]
    );
    assert!(ids(&search(&app, &alice, "offsite").await).is_empty());
    let page = search(&app, &alice, "retreat").await;
    assert_eq!(page["items"][0]["match"]["at_ms"], 1_000);
    views.clear_transcript(&spoken).await.unwrap();
    assert!(views.transcript(&spoken).await.unwrap().is_empty());
    assert!(ids(&search(&app, &alice, "retreat").await).is_empty());
    // The metadata is still indexed.
    assert_eq!(ids(&search(&app, &alice, "sync").await), [spoken.as_str()]);
}
on_both_backends!(a_word_only_spoken_in_a_clip_finds_it_at_the_moment_it_was_said);

async fn hits_rank_title_then_filename_then_description_then_transcript(backend: Backend) {
    let app = spawn_app(backend).await;
    let alice = app.alice();
    let (views, _) = app.database.projections();
    // Uploaded oldest first, in the reverse of the expected order, so the rank, not the
    // upload time, decides.
    let in_transcript = upload(&app, &alice, &[("x-title", "Call")]).await;
    views
        .replace_transcript(&in_transcript, &[segment(3_000, "the memo says so")])
        .await
        .unwrap();
    let in_description = upload(
        &app,
        &alice,
        &[("x-description", "Read the memo before Friday")],
    )
    .await;
    let in_filename = upload(&app, &alice, &[("x-filename", "memo_2024.wav")]).await;
    let in_title = upload(&app, &alice, &[("x-title", "Memo to self")]).await;
    let unrelated = upload(&app, &alice, &[("x-title", "Memorial day")]).await;

    let page = search(&app, &alice, "memo").await;
    // `memo` is a prefix of `memorial` too: every word matches the start of a word.
    assert_eq!(
        ids(&page),
        [
            unrelated.clone(),
            in_title.clone(),
            in_filename.clone(),
            in_description.clone(),
            in_transcript.clone()
        ]
    );
    let fields: Vec<&str> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["match"]["field"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        ["title", "title", "filename", "description", "transcript"]
    );
    assert_eq!(marked(&page["items"][2]), "[memo]_2024.ogg");
    assert_eq!(marked(&page["items"][3]), "Read the [memo] before Friday");
    // Part of a filename, as people searched it before: a word or the start of one.
    assert_eq!(
        ids(&search(&app, &alice, "2024").await),
        [in_filename.as_str()]
    );
    assert_eq!(
        ids(&search(&app, &alice, "memo_20").await),
        [in_filename.as_str()]
    );
    assert_eq!(
        ids(&search(&app, &alice, "MEMO_2024.OGG").await),
        [in_filename.as_str()]
    );
    // Not the middle of a word.
    assert!(ids(&search(&app, &alice, "emo").await).is_empty());
    // Without q, newest first and no match.
    let (_, page) = json(app.list(&alice, &[]).await).await;
    assert_eq!(ids(&page)[0], unrelated);
    assert!(page["items"][0].get("match").is_none());
}
on_both_backends!(hits_rank_title_then_filename_then_description_then_transcript);

async fn search_only_ever_shows_the_callers_live_clips(backend: Backend) {
    let app = spawn_app(backend).await;
    let alice = app.alice();
    let bob = app.key("bob", ALL_SCOPES);
    let (views, _) = app.database.projections();
    let mine = upload(&app, &alice, &[("x-title", "Standup notes")]).await;
    let gone = upload(&app, &alice, &[("x-title", "Standup old")]).await;
    let bobs = upload(&app, &bob, &[("x-title", "Standup notes")]).await;
    views
        .replace_transcript(&bobs, &[segment(0, "secret standup words")])
        .await
        .unwrap();
    assert_eq!(
        app.delete_item(&gone, &alice).await.status(),
        StatusCode::NO_CONTENT
    );

    assert_eq!(ids(&search(&app, &alice, "standup").await), [mine.as_str()]);
    assert!(ids(&search(&app, &alice, "secret").await).is_empty());
    assert_eq!(ids(&search(&app, &bob, "secret").await), [bobs.as_str()]);
    assert!(ids(&search(&app, &alice, "old").await).is_empty());
    // An edit is searchable at once, and what it replaced is not.
    let res = app
        .patch_item(&mine, &alice, serde_json::json!({"title": "Retro notes"}))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(ids(&search(&app, &alice, "standup").await).is_empty());
    assert_eq!(ids(&search(&app, &alice, "retro").await), [mine.as_str()]);
}
on_both_backends!(search_only_ever_shows_the_callers_live_clips);

async fn hostile_search_terms_are_searched_or_refused_never_a_500(backend: Backend) {
    let app = spawn_app(backend).await;
    let alice = app.alice();
    let id = upload(
        &app,
        &alice,
        &[
            ("x-title", "NEAR the AND gate: OR else"),
            ("x-description", "50%_off deals"),
        ],
    )
    .await;
    let searched = [
        "\"",
        "\"\"\"",
        "a\"b",
        "*",
        "a*",
        "**a",
        "-",
        "--a",
        "-a -b",
        "^a",
        "a:b",
        "title:near",
        "{title}:near",
        "(",
        ")",
        "((a)",
        "a)",
        "NEAR",
        "NEAR(a b)",
        "NEAR/2",
        "a NEAR b",
        "AND",
        "OR",
        "NOT",
        "a AND",
        "OR b",
        "NOT near",
        "a & b",
        "a | b",
        "!a",
        "a <-> b",
        "'",
        "''",
        "'a':*",
        "\\",
        "a\\",
        "%",
        "_",
        "50%_OFF",
        "😀 near",
        "near 😀",
        "ü",
        "東京",
        "a b c d e f g h i j k l m n o p q r s t u v w x y z 1 2 3 4 5 6 7 8 9 0",
    ];
    for q in searched {
        let (status, body) = json(app.list(&alice, &[("q", q)]).await).await;
        assert!(
            status == StatusCode::OK || (status == StatusCode::BAD_REQUEST && body["field"] == "q"),
            "q={q:?}: {status} {body}"
        );
    }
    // Operators of either backend are words here.
    assert_eq!(ids(&search(&app, &alice, "NEAR").await), [id.as_str()]);
    assert_eq!(ids(&search(&app, &alice, "and OR").await), [id.as_str()]);
    assert_eq!(
        ids(&search(&app, &alice, "title:near").await),
        Vec::<String>::new()
    );
    assert_eq!(ids(&search(&app, &alice, "50%_OFF").await), [id.as_str()]);
    assert_eq!(ids(&search(&app, &alice, "😀 near").await), [id.as_str()]);

    let long = "word ".repeat(2_048);
    for (q, why) in [
        ("%", "nothing to search for"),
        ("😀😀", "nothing to search for"),
        ("-near", "only excludes"),
        ("\"\"", "nothing to search for"),
        (long.as_str(), "at most 200"),
        ("near\u{0}", "printable"),
    ] {
        let (status, body) = json(app.list(&alice, &[("q", q)]).await).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(body["field"], "q");
        assert!(body["detail"].as_str().unwrap().contains(why), "{body}");
    }
}
on_both_backends!(hostile_search_terms_are_searched_or_refused_never_a_500);

async fn ranked_pages_return_every_hit_exactly_once_while_clips_are_added(backend: Backend) {
    let app = spawn_app(backend).await;
    let alice = app.alice();
    let (views, _) = app.database.projections();
    let mut expected: Vec<(i32, String)> = Vec::new();
    for i in 0..9 {
        let (rank, headers): (i32, Vec<(&str, String)>) = match i % 4 {
            0 => (3, vec![("x-title", format!("budget {i}"))]),
            1 => (2, vec![("x-filename", format!("budget-{i}.ogg"))]),
            2 => (1, vec![("x-description", format!("the budget, part {i}"))]),
            _ => (0, vec![("x-title", format!("call {i}"))]),
        };
        let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let id = upload(&app, &alice, &headers).await;
        if rank == 0 {
            views
                .replace_transcript(&id, &[segment(500, "about the budget")])
                .await
                .unwrap();
        }
        expected.push((rank, id));
    }
    upload(&app, &alice, &[("x-title", "unrelated")]).await;
    let newest_first: Vec<String> = {
        let (_, page) = json(app.list(&alice, &[("q", "budget"), ("limit", "100")]).await).await;
        ids(&page)
    };
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut query = vec![("q", "budget".to_owned()), ("limit", "2".to_owned())];
        if let Some(c) = &cursor {
            query.push(("cursor", c.clone()));
        }
        let query: Vec<(&str, &str)> = query.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let (status, page) = json(app.list(&alice, &query).await).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        seen.extend(ids(&page));
        pages += 1;
        // New matching clips arrive between pages: of the best rank and newer than every
        // clip, they sort before every cursor, so they never shift later pages.
        let added = upload(&app, &alice, &[("x-title", "budget late")]).await;
        views
            .replace_transcript(&added, &[segment(0, "budget")])
            .await
            .unwrap();
        // A plain-listing cursor does not continue a search, nor the other way round.
        if let Some(c) = page["next_cursor"].as_str() {
            let (status, body) = json(app.list(&alice, &[("cursor", c)]).await).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
            assert_eq!(body["field"], "cursor");
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(pages, 5);
    let unique: HashSet<&String> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len(), "duplicates in {seen:?}");
    assert_eq!(seen, newest_first);
    // Best rank first.
    let ranks: Vec<i32> = seen
        .iter()
        .map(|id| expected.iter().find(|(_, e)| e == id).unwrap().0)
        .collect();
    let mut sorted = ranks.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(ranks, sorted);
    let (_, page) = json(app.list(&alice, &[("limit", "2")]).await).await;
    let plain_cursor = page["next_cursor"].as_str().unwrap();
    let (status, body) = json(
        app.list(&alice, &[("q", "budget"), ("cursor", plain_cursor)])
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["field"], "cursor");
}
on_both_backends!(ranked_pages_return_every_hit_exactly_once_while_clips_are_added);
