//! Anonymous uploads (ADR 0023), solved by the real reference client: altcha-lib (installed by
//! scripts/services/altcha.sh; tests/altcha/solve.mjs). Off by default; when on, a solved
//! challenge from `GET /api/v1/challenge` in `x-altcha` uploads without a token, once per
//! challenge, within a lower size limit, a forced lifetime and an hourly allowance per address;
//! the answer's management token reads and deletes that clip and no other.

use std::process::Stdio;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use reqwest::{Response, StatusCode};
use serde_json::Value;
use tokio::io::AsyncWriteExt;
use voicebin::{AnonymousSettings, Work};
use voicebin_api::auth::MintRequest;

use crate::helpers::{fixture, json, pcm_wav, spawn_app_with, unpooled, Backend, Options, TestApp};
use crate::on_both_backends;

/// Anonymous uploads on, with challenges cheap enough for tests.
fn on() -> AnonymousSettings {
    AnonymousSettings {
        enabled: true,
        work: Work { cost: 1, digits: 1 },
        ..AnonymousSettings::default()
    }
}

async fn spawn_anonymous(backend: Backend, anonymous: AnonymousSettings) -> TestApp {
    spawn_app_with(
        backend,
        Options {
            anonymous,
            ..Options::default()
        },
    )
    .await
}

fn instant(value: &Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(value.as_str().unwrap_or_else(|| panic!("{value}")))
        .unwrap()
        .with_timezone(&Utc)
}

/// Asserts a problem+json answer of `status` and type `urn:voicebin:problem:<kind>`.
async fn problem(res: Response, status: StatusCode, kind: &str) -> Value {
    let content_type = res.headers().get("content-type").cloned();
    let (got, body) = json(res).await;
    assert_eq!(got, status, "{body}");
    assert_eq!(
        content_type.as_ref().and_then(|v| v.to_str().ok()),
        Some("application/problem+json"),
        "{body}"
    );
    assert_eq!(
        body["type"],
        format!("urn:voicebin:problem:{kind}"),
        "{body}"
    );
    assert_eq!(body["status"], status.as_u16(), "{body}");
    body
}

/// `GET /api/v1/challenge`.
async fn get_challenge(app: &TestApp) -> Response {
    app.client
        .get(app.url("/api/v1/challenge"))
        .send()
        .await
        .unwrap()
}

/// A fresh challenge, asserting the answer.
async fn challenge(app: &TestApp) -> Value {
    let res = get_challenge(app).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["cache-control"], "no-store");
    res.json().await.unwrap()
}

/// Solves `challenge` with altcha-lib, as the widget would: the `x-altcha` value.
async fn solve(challenge: &Value) -> String {
    let solver = std::env::var_os("VOICEBIN_ALTCHA_SOLVER").expect(
        "VOICEBIN_ALTCHA_SOLVER is not set: run the suite with scripts/test, which installs \
         altcha-lib (or `source scripts/services/altcha.sh && ensure_altcha`)",
    );
    let mut child = tokio::process::Command::new("node")
        .arg(&solver)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("running node {solver:?}: {e}"));
    let mut stdin = child.stdin.take().unwrap();
    stdin
        .write_all(challenge.to_string().as_bytes())
        .await
        .unwrap();
    drop(stdin);
    let out = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("altcha-lib took over a minute")
        .unwrap();
    assert!(
        out.status.success(),
        "the solver failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// A challenge from the app, solved.
async fn solved(app: &TestApp) -> String {
    solve(&challenge(app).await).await
}

/// A silent WAV small enough to be sent whole before a refusal comes back.
fn small_wav() -> Vec<u8> {
    pcm_wav(8000, &[0i16; 500])
}

/// `POST /api/v1/audio` with no `Authorization`, `x-altcha` = `altcha` and `headers`.
async fn upload_anonymous(
    app: &TestApp,
    altcha: &str,
    body: Vec<u8>,
    headers: &[(&str, &str)],
) -> Response {
    let mut req = unpooled()
        .post(app.url("/api/v1/audio"))
        .header("x-altcha", altcha)
        .body(body);
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    req.send().await.unwrap()
}

/// An anonymous upload that must succeed; the answer (owner view with `management`).
async fn upload_anonymous_ok(app: &TestApp, body: Vec<u8>, headers: &[(&str, &str)]) -> Value {
    let altcha = solved(app).await;
    let (status, item) = json(upload_anonymous(app, &altcha, body, headers).await).await;
    assert_eq!(status, StatusCode::CREATED, "{item}");
    item
}

fn token_of(item: &Value) -> String {
    item["management"]["token"]
        .as_str()
        .unwrap_or_else(|| panic!("no management token: {item}"))
        .to_owned()
}

/// `GET /api/v1/items/{id}` with `x-management-token`.
async fn get_managed(app: &TestApp, id: &str, token: &str) -> Response {
    app.client
        .get(app.url(&format!("/api/v1/items/{id}")))
        .header("x-management-token", token)
        .send()
        .await
        .unwrap()
}

/// `DELETE /api/v1/items/{id}` with `x-management-token`.
async fn delete_managed(app: &TestApp, id: &str, token: &str) -> Response {
    app.client
        .delete(app.url(&format!("/api/v1/items/{id}")))
        .header("x-management-token", token)
        .send()
        .await
        .unwrap()
}

/// Polls the owner view through the management token until the scan has finished.
async fn wait_scanned_managed(app: &TestApp, id: &str, token: &str) -> Value {
    for _ in 0..200 {
        let (status, view) = json(get_managed(app, id, token).await).await;
        assert_eq!(status, StatusCode::OK, "{view}");
        if view["scan_state"] != "pending" {
            return view;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("clip {id} still pending after 10 s");
}

/// The `x-altcha` payload with its JSON changed by `edit`, base64 again.
fn tampered(altcha: &str, edit: impl FnOnce(&mut Value)) -> String {
    let mut payload: Value = serde_json::from_slice(&STANDARD.decode(altcha).unwrap()).unwrap();
    edit(&mut payload);
    STANDARD.encode(payload.to_string())
}

async fn anonymous_uploads_are_off_by_default(backend: Backend) {
    let app = spawn_app_with(backend, Options::default()).await;
    let body = problem(
        get_challenge(&app).await,
        StatusCode::NOT_FOUND,
        "not-found",
    )
    .await;
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("anonymous uploads are off"),
        "{body}"
    );

    // A payload that would otherwise be well-formed: refused for the missing token all the same.
    let altcha = STANDARD.encode(r#"{"challenge":{},"solution":{}}"#);
    for headers in [&[("x-altcha", altcha.as_str())][..], &[]] {
        let mut req = unpooled().post(app.url("/api/v1/audio")).body(small_wav());
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        let body = problem(
            req.send().await.unwrap(),
            StatusCode::UNAUTHORIZED,
            "unauthorized",
        )
        .await;
        let detail = body["detail"].as_str().unwrap();
        assert!(detail.contains("anonymous uploads are off"), "{body}");
    }
    assert_eq!(app.total_events().await, 0);
    assert_eq!(app.blob_files(), (0, 0));
}
on_both_backends!(anonymous_uploads_are_off_by_default);

async fn an_anonymous_upload_is_managed_by_its_token_only(backend: Backend) {
    let app = spawn_anonymous(backend, on()).await;

    // The challenge: never cached, v2 parameters at the configured work.
    let challenge = challenge(&app).await;
    let p = &challenge["parameters"];
    assert_eq!(p["algorithm"], "PBKDF2/SHA-256", "{challenge}");
    assert_eq!(p["cost"], 1, "{challenge}");
    assert_eq!(p["keyLength"], 32, "{challenge}");
    assert_eq!(p["keyPrefix"], "0", "{challenge}");
    for field in ["nonce", "salt"] {
        let hex = p[field].as_str().unwrap();
        assert_eq!(hex.len(), 32, "{challenge}");
        assert!(hex.bytes().all(|b| b.is_ascii_hexdigit()), "{challenge}");
    }
    let expires_at = p["expiresAt"].as_i64().unwrap();
    let now = Utc::now().timestamp();
    assert!((now + 590..=now + 610).contains(&expires_at), "{challenge}");
    assert_eq!(challenge["signature"].as_str().unwrap().len(), 64);
    assert_eq!(
        challenge
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect::<Vec<_>>(),
        ["parameters", "signature"]
    );

    // Solved by altcha-lib and uploaded without a token.
    let altcha = solve(&challenge).await;
    let res = upload_anonymous(&app, &altcha, fixture("hello.wav"), &[]).await;
    let location = res.headers().get("location").cloned();
    let (status, item) = json(res).await;
    assert_eq!(status, StatusCode::CREATED, "{item}");
    let id = item["id"].as_str().unwrap().to_owned();
    assert_eq!(
        location.unwrap().to_str().unwrap(),
        app.url(&format!("/api/v1/items/{id}"))
    );
    let lifetime = (instant(&item["expires_at"]) - Utc::now()).num_seconds();
    assert!((86_300..=86_400).contains(&lifetime), "{item}");
    let token = token_of(&item);
    assert_eq!(
        item["management"]["url"],
        format!("{}/{id}/manage#{token}", app.base),
        "{item}"
    );
    assert_eq!(item["scan_state"], "pending", "{item}");

    // The token reads the owner view (the management link is never shown again); once clean,
    // anyone reads the clip.
    let view = wait_scanned_managed(&app, &id, &token).await;
    assert_eq!(view["scan_state"], "clean", "{view}");
    assert!(view.get("management").is_none(), "{view}");
    assert_eq!(view["expires_at"], item["expires_at"], "{view}");
    let (status, public) = json(app.get_item(&id, None).await).await;
    assert_eq!(status, StatusCode::OK, "{public}");
    assert_eq!(public["id"], id.as_str());
    assert!(public.get("scan_state").is_none(), "{public}");
    assert!(public.get("management").is_none(), "{public}");
    let res = app
        .client
        .get(public["urls"]["download"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.bytes().await.unwrap(), fixture("hello.wav"));

    // A wrong token reads nothing.
    // The same length and alphabet, its first character changed.
    let first = if token.starts_with('A') { "B" } else { "A" };
    let wrong = format!("{first}{}", &token[1..]);
    for bad in [wrong.as_str(), "not-a-token"] {
        let body = problem(
            get_managed(&app, &id, bad).await,
            StatusCode::UNAUTHORIZED,
            "unauthorized",
        )
        .await;
        assert!(
            body["detail"]
                .as_str()
                .unwrap()
                .contains("management token"),
            "{body}"
        );
    }
    // A bearer token decides when one is sent: the management token beside it is not looked
    // at, so alice reads the public view and cannot delete the clip with it.
    let alice = app.alice();
    let (status, read) = json(
        app.client
            .get(app.url(&format!("/api/v1/items/{id}")))
            .bearer_auth(&alice)
            .header("x-management-token", &token)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{read}");
    assert!(read.get("scan_state").is_none(), "{read}");
    let both = app
        .client
        .delete(app.url(&format!("/api/v1/items/{id}")))
        .bearer_auth(&alice)
        .header("x-management-token", &token)
        .send()
        .await
        .unwrap();
    problem(both, StatusCode::NOT_FOUND, "not-found").await;
    // Nor does a signed-in account that is not the uploader delete it.
    problem(
        app.delete_item(&id, &alice).await,
        StatusCode::NOT_FOUND,
        "not-found",
    )
    .await;
    assert_eq!(app.get_item(&id, None).await.status(), StatusCode::OK);
    // Nor is there a token of the anonymous uploads' owner: the issuer mints none (and the
    // verifier takes none, api/src/auth/verifier.rs).
    let impostor = app.issuer.mint(&MintRequest {
        account: "voicebin:anonymous".to_owned(),
        scopes: vec!["voice:read".to_owned(), "voice:delete".to_owned()],
        audience: app.settings.public_url.clone(),
        ttl: None,
    });
    assert!(impostor.is_err(), "{impostor:?}");

    // Another anonymous clip, and alice's: the first clip's token deletes neither.
    let other = upload_anonymous_ok(&app, fixture("hello.wav"), &[]).await;
    let other_id = other["id"].as_str().unwrap();
    let other_token = token_of(&other);
    assert_ne!(other_token, token);
    let alices = app.upload_ok(&alice, fixture("hello.wav"), &[]).await;
    for victim in [other_id, alices.as_str()] {
        let body = problem(
            delete_managed(&app, victim, &token).await,
            StatusCode::UNAUTHORIZED,
            "unauthorized",
        )
        .await;
        assert!(
            body["detail"]
                .as_str()
                .unwrap()
                .contains("management token"),
            "{body}"
        );
        problem(
            get_managed(&app, victim, &token).await,
            StatusCode::UNAUTHORIZED,
            "unauthorized",
        )
        .await;
    }
    let (status, view) = json(get_managed(&app, other_id, &other_token).await).await;
    assert_eq!(status, StatusCode::OK, "{view}");
    let (status, view) = json(app.get_item(&alices, Some(&alice)).await).await;
    assert_eq!(status, StatusCode::OK, "{view}");

    // The token deletes its own clip, which then answers 410 to everyone.
    let res = delete_managed(&app, &id, &token).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    problem(app.get_item(&id, None).await, StatusCode::GONE, "gone").await;
    problem(
        get_managed(&app, &id, &token).await,
        StatusCode::GONE,
        "gone",
    )
    .await;
    // The other clips are still there.
    assert_eq!(
        get_managed(&app, other_id, &other_token).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        app.get_item(&alices, Some(&alice)).await.status(),
        StatusCode::OK
    );
}
on_both_backends!(an_anonymous_upload_is_managed_by_its_token_only);

async fn a_challenge_is_taken_once_and_only_as_issued(backend: Backend) {
    let app = spawn_anonymous(backend, on()).await;
    let altcha = solved(&app).await;
    let item = upload_anonymous_ok_with(&app, &altcha).await;
    wait_scanned_managed(&app, item["id"].as_str().unwrap(), &token_of(&item)).await;
    let events = app.total_events().await;
    let blobs = app.blob_files();

    // The same solution again.
    let body = problem(
        upload_anonymous(&app, &altcha, small_wav(), &[]).await,
        StatusCode::FORBIDDEN,
        "challenge-failed",
    )
    .await;
    assert!(
        body["detail"].as_str().unwrap().contains("already used"),
        "{body}"
    );

    // Malformed: not base64, base64 of something else, and a challenge without a solution.
    let fresh = solved(&app).await;
    let malformed = [
        "%%% not base64 %%%".to_owned(),
        STANDARD.encode("{\"hello\": \"world\"}"),
        STANDARD.encode("garbage, not JSON"),
        tampered(&fresh, |p| {
            p.as_object_mut().unwrap().remove("solution");
        }),
    ];
    for altcha in &malformed {
        let body = problem(
            upload_anonymous(&app, altcha, small_wav(), &[]).await,
            StatusCode::BAD_REQUEST,
            "invalid-field",
        )
        .await;
        assert_eq!(body["field"], "altcha", "{altcha}: {body}");
    }

    // Tampered: cheaper work than was signed, another counter, a forged signature.
    let tampered_ones = [
        tampered(&fresh, |p| p["challenge"]["parameters"]["cost"] = 2.into()),
        tampered(&fresh, |p| {
            p["challenge"]["parameters"]["keyPrefix"] = "".into()
        }),
        tampered(&fresh, |p| {
            let counter = p["solution"]["counter"].as_u64().unwrap();
            p["solution"]["counter"] = (counter + 1).into();
        }),
        tampered(&fresh, |p| {
            p["challenge"]["signature"] = "00".repeat(32).into()
        }),
    ];
    for altcha in &tampered_ones {
        problem(
            upload_anonymous(&app, altcha, small_wav(), &[]).await,
            StatusCode::FORBIDDEN,
            "challenge-failed",
        )
        .await;
    }
    assert_eq!(app.total_events().await, events);
    assert_eq!(app.blob_files(), blobs);

    // None of that spent the fresh challenge: it still goes through, once.
    upload_anonymous_ok_with(&app, &fresh).await;
    problem(
        upload_anonymous(&app, &fresh, small_wav(), &[]).await,
        StatusCode::FORBIDDEN,
        "challenge-failed",
    )
    .await;
}
on_both_backends!(a_challenge_is_taken_once_and_only_as_issued);

/// An anonymous upload of hello.wav with `altcha` that must succeed.
async fn upload_anonymous_ok_with(app: &TestApp, altcha: &str) -> Value {
    let (status, item) = json(upload_anonymous(app, altcha, fixture("hello.wav"), &[]).await).await;
    assert_eq!(status, StatusCode::CREATED, "{item}");
    item
}

async fn anonymous_uploads_have_a_lower_size_limit(backend: Backend) {
    let app = spawn_anonymous(
        backend,
        AnonymousSettings {
            max_bytes: 2_000,
            ..on()
        },
    )
    .await;
    let big = pcm_wav(8000, &[0i16; 2_500]);
    assert_eq!(big.len(), 5_044);

    // Declared too long: refused before the body is read.
    let altcha = solved(&app).await;
    let body = problem(
        upload_anonymous(&app, &altcha, big.clone(), &[]).await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "too-large",
    )
    .await;
    assert!(
        body["detail"].as_str().unwrap().contains("2000 bytes"),
        "{body}"
    );
    // No length declared: refused while streaming.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        big.chunks(1000).map(|c| Ok(c.to_vec())).collect();
    let res = unpooled()
        .post(app.url("/api/v1/audio"))
        .header("x-altcha", solved(&app).await)
        .body(reqwest::Body::wrap_stream(futures::stream::iter(chunks)))
        .send()
        .await
        .unwrap();
    problem(res, StatusCode::PAYLOAD_TOO_LARGE, "too-large").await;
    assert_eq!(app.total_events().await, 0);
    assert_eq!(app.blob_files(), (0, 0));

    // Signed-in uploads keep the general limit.
    let alice = app.alice();
    app.upload_ok(&alice, big, &[]).await;
    // And a small anonymous one goes in.
    let small = small_wav();
    assert!(small.len() <= 2_000);
    upload_anonymous_ok(&app, small, &[]).await;
    assert_eq!(app.blob_files(), (2, 0));
}
on_both_backends!(anonymous_uploads_have_a_lower_size_limit);

async fn anonymous_clips_always_expire(backend: Backend) {
    let app = spawn_anonymous(backend, on()).await;

    // Past the anonymous lifetime: refused, nothing stored.
    for too_long in ["P2D", "PT24H1S", "90000"] {
        let altcha = solved(&app).await;
        let body = problem(
            upload_anonymous(&app, &altcha, small_wav(), &[("x-expires-in", too_long)]).await,
            StatusCode::BAD_REQUEST,
            "invalid-field",
        )
        .await;
        assert_eq!(body["field"], "expires_in", "{too_long}: {body}");
    }
    assert_eq!(app.total_events().await, 0);
    assert_eq!(app.blob_files(), (0, 0));

    // Shorter is kept; the whole lifetime is allowed.
    let item = upload_anonymous_ok(&app, fixture("hello.wav"), &[("x-expires-in", "PT1H")]).await;
    let lifetime = (instant(&item["expires_at"]) - instant(&item["created_at"])).num_seconds();
    assert_eq!(lifetime, 3_600, "{item}");
    let item = upload_anonymous_ok(&app, fixture("hello.wav"), &[("x-expires-in", "P1D")]).await;
    let lifetime = (instant(&item["expires_at"]) - instant(&item["created_at"])).num_seconds();
    assert_eq!(lifetime, 86_400, "{item}");
    // Signed-in uploads still live as long as they like.
    let alice = app.alice();
    let (status, item) = json(
        app.upload(&alice, fixture("hello.wav"), &[("x-expires-in", "P2D")])
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{item}");
    let (status, item) = json(app.upload(&alice, fixture("hello.wav"), &[]).await).await;
    assert_eq!(status, StatusCode::CREATED, "{item}");
    assert!(item["expires_at"].is_null(), "{item}");
}
on_both_backends!(anonymous_clips_always_expire);

async fn each_address_has_an_hourly_allowance(backend: Backend) {
    let app = spawn_anonymous(
        backend,
        AnonymousSettings {
            per_hour_per_address: 2,
            ..on()
        },
    )
    .await;
    for _ in 0..2 {
        let item = upload_anonymous_ok(&app, small_wav(), &[]).await;
        // Its scan records an event too: let it finish before counting.
        wait_scanned_managed(&app, item["id"].as_str().unwrap(), &token_of(&item)).await;
    }
    let events = app.total_events().await;
    let blobs = app.blob_files();
    let altcha = solved(&app).await;
    let res = upload_anonymous(&app, &altcha, small_wav(), &[]).await;
    let retry_after = res
        .headers()
        .get("retry-after")
        .unwrap_or_else(|| panic!("no Retry-After: {:?}", res.headers()))
        .to_str()
        .unwrap()
        .parse::<u64>()
        .unwrap();
    assert!((1..=3_600).contains(&retry_after), "{retry_after}");
    let body = problem(res, StatusCode::TOO_MANY_REQUESTS, "too-many-requests").await;
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("at most 2 anonymous uploads per hour"),
        "{body}"
    );
    assert_eq!(app.total_events().await, events);
    assert_eq!(app.blob_files(), blobs);
    // Signed-in uploads are not counted against it.
    app.upload_ok(&app.alice(), fixture("hello.wav"), &[]).await;
}
on_both_backends!(each_address_has_an_hourly_allowance);

async fn a_signed_in_upload_with_a_challenge_is_the_accounts(backend: Backend) {
    let app = spawn_anonymous(backend, on()).await;
    let alice = app.alice();
    let altcha = solved(&app).await;
    let res = app
        .upload(&alice, fixture("hello.wav"), &[("x-altcha", &altcha)])
        .await;
    let (status, item) = json(res).await;
    assert_eq!(status, StatusCode::CREATED, "{item}");
    assert!(item.get("management").is_none(), "{item}");
    assert!(item["expires_at"].is_null(), "{item}");
    let id = item["id"].as_str().unwrap();

    // Alice owns it: she reads the owner view, lists it and deletes it.
    let view = app.wait_scanned(id, &alice).await;
    assert_eq!(view["scan_state"], "clean", "{view}");
    let (status, list) = json(app.list(&alice, &[]).await).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let ids: Vec<&str> = list["items"]
        .as_array()
        .unwrap_or_else(|| panic!("{list}"))
        .iter()
        .map(|i| i["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [id], "{list}");
    assert_eq!(
        app.delete_item(id, &alice).await.status(),
        StatusCode::NO_CONTENT
    );
}
on_both_backends!(a_signed_in_upload_with_a_challenge_is_the_accounts);

async fn a_full_anonymous_quota_refuses_without_telling_the_totals(backend: Backend) {
    // The operator's default quota applies to the anonymous uploads' one account as to any.
    let app = spawn_app_with(
        backend,
        Options {
            anonymous: on(),
            quotas: voicebin_domain::Limits {
                bytes: None,
                clips: Some(1),
            },
            ..Options::default()
        },
    )
    .await;
    upload_anonymous_ok(&app, small_wav(), &[]).await;
    let blobs = app.blob_files();
    let altcha = solved(&app).await;
    let body = problem(
        upload_anonymous(&app, &altcha, small_wav(), &[]).await,
        StatusCode::FORBIDDEN,
        "quota-exceeded",
    )
    .await;
    assert!(body.get("usage").is_none(), "{body}");
    assert!(body.get("limits").is_none(), "{body}");
    let detail = body["detail"].as_str().unwrap();
    assert!(detail.contains("sign in"), "{body}");
    assert!(!detail.contains("delete clips"), "{body}");
    assert_eq!(app.blob_files(), blobs);
    // A signed-in account has its own room.
    app.upload_ok(&app.alice(), fixture("hello.wav"), &[]).await;
}
on_both_backends!(a_full_anonymous_quota_refuses_without_telling_the_totals);
