//! OAuth access tokens (RFC 9068), DPoP-bound tokens and proofs (RFC 9449), audience binding and
//! RFC 7662 introspection, over HTTP against the live app.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair as _};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use reqwest::StatusCode;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::helpers::{
    fixture, spawn_app, spawn_app_with, spawn_replica, Backend, Options, TestApp,
};

fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// A client's DPoP key (Ed25519).
struct ProofKey(Ed25519KeyPair);

impl ProofKey {
    fn new() -> Self {
        ProofKey(Ed25519KeyPair::generate().unwrap())
    }

    fn jwk(&self) -> Value {
        json!({"kty": "OKP", "crv": "Ed25519", "x": b64(self.0.public_key().as_ref())})
    }

    fn jkt(&self) -> String {
        let canonical = format!(
            r#"{{"crv":"Ed25519","kty":"OKP","x":"{}"}}"#,
            b64(self.0.public_key().as_ref())
        );
        b64(Sha256::digest(canonical.as_bytes()))
    }

    fn sign_raw(&self, header: &Value, claims: &Value) -> String {
        let input = format!("{}.{}", b64(header.to_string()), b64(claims.to_string()));
        let signature = self.0.sign(input.as_bytes());
        format!("{input}.{}", b64(signature.as_ref()))
    }

    fn header(&self) -> Value {
        json!({"typ": "dpop+jwt", "alg": "EdDSA", "jwk": self.jwk()})
    }

    fn claims(&self, method: &str, url: &str, token: &str) -> Value {
        json!({
            "jti": format!("{:032x}", rand::random::<u128>()),
            "htm": method,
            "htu": url,
            "iat": now(),
            "ath": b64(Sha256::digest(token.as_bytes())),
        })
    }

    fn proof(&self, method: &str, url: &str, token: &str) -> String {
        self.sign_raw(&self.header(), &self.claims(method, url, token))
    }
}

/// An RFC 9068 access token from the app's issuer, bound to `key` when given.
fn access_token(app: &TestApp, audience: &str, scope: &str, key: Option<&ProofKey>) -> String {
    let mut claims = json!({
        "iss": app.base, "sub": "alice", "aud": audience, "scope": scope,
        "client_id": "test-client", "jti": format!("{:x}", rand::random::<u64>()),
        "iat": now(), "exp": now() + 600,
    });
    if let Some(key) = key {
        claims["cnf"] = json!({"jkt": key.jkt()});
    }
    app.issuer.mint_access_token(&claims)
}

const ALL: &str = "voice:read voice:create voice:delete";

async fn get_item_dpop(
    app: &TestApp,
    base: &str,
    id: &str,
    token: &str,
    proof: &str,
) -> reqwest::Response {
    app.client
        .get(format!("{base}/api/v1/items/{id}"))
        .header("authorization", format!("DPoP {token}"))
        .header("dpop", proof)
        .send()
        .await
        .unwrap()
}

fn challenge(res: &reqwest::Response) -> String {
    res.headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

crate::on_both_backends!(a_dpop_bound_token_with_a_fresh_proof_uploads_and_reads);
async fn a_dpop_bound_token_with_a_fresh_proof_uploads_and_reads(backend: Backend) {
    let app = spawn_app(backend).await;
    let key = ProofKey::new();
    let token = access_token(&app, &app.base, ALL, Some(&key));
    let upload_url = app.url("/api/v1/audio");
    let res = app
        .client
        .post(&upload_url)
        .header("authorization", format!("DPoP {token}"))
        .header("dpop", key.proof("POST", &upload_url, &token))
        .body(fixture("hello.ogg"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let id = res.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let item_url = app.url(&format!("/api/v1/items/{id}"));
    let res = get_item_dpop(
        &app,
        &app.base,
        &id,
        &token,
        &key.proof("GET", &item_url, &token),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK);
    // The owner view: the DPoP caller is the owner.
    assert!(res.json::<Value>().await.unwrap()["scan_state"].is_string());

    // Sent as Bearer, the same bound token is refused (RFC 9449 §7.2).
    let res = app.get_item(&id, Some(&token)).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert!(
        challenge(&res).contains("invalid_token"),
        "{}",
        challenge(&res)
    );
    // And an unbound token cannot be sent with the DPoP scheme.
    let unbound = access_token(&app, &app.base, ALL, None);
    let res = get_item_dpop(
        &app,
        &app.base,
        &id,
        &unbound,
        &key.proof("GET", &item_url, &unbound),
    )
    .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert!(challenge(&res).starts_with("DPoP"), "{}", challenge(&res));
    // Unbound, as Bearer, it is fine.
    assert_eq!(
        app.get_item(&id, Some(&unbound)).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn each_forged_proof_is_rejected_and_changes_nothing() {
    let app = spawn_app(Backend::Sqlite).await;
    let key = ProofKey::new();
    let token = access_token(&app, &app.base, ALL, Some(&key));
    let url = app.url("/api/v1/audio");
    let good = || key.claims("POST", &url, &token);
    let other = ProofKey::new();
    let mut cases: Vec<(&str, Vec<String>)> = Vec::new();

    cases.push(("no proof", vec![]));
    cases.push((
        "two proofs",
        vec![
            key.proof("POST", &url, &token),
            key.proof("POST", &url, &token),
        ],
    ));
    cases.push(("not a JWS", vec!["not.a-jws".into()]));
    let mut h = key.header();
    h["typ"] = json!("JWT");
    cases.push(("typ", vec![key.sign_raw(&h, &good())]));
    let mut h = key.header();
    h["alg"] = json!("HS256");
    cases.push(("symmetric alg", vec![key.sign_raw(&h, &good())]));
    let mut h = key.header();
    h["alg"] = json!("none");
    let unsigned = format!("{}.{}.", b64(h.to_string()), b64(good().to_string()));
    cases.push(("alg none", vec![unsigned]));
    let mut h = key.header();
    h["jwk"]["d"] = json!(b64([1u8; 32]));
    cases.push(("private key in jwk", vec![key.sign_raw(&h, &good())]));
    // Signed by another key than the one in the header.
    cases.push(("signature", vec![other.sign_raw(&key.header(), &good())]));
    let mut c = good();
    c["htm"] = json!("GET");
    cases.push(("htm", vec![key.sign_raw(&key.header(), &c)]));
    let mut c = good();
    c["htu"] = json!("https://elsewhere.example/api/v1/audio");
    cases.push(("htu host", vec![key.sign_raw(&key.header(), &c)]));
    let mut c = good();
    c["htu"] = json!(app.url("/api/v1/account/items"));
    cases.push(("htu path", vec![key.sign_raw(&key.header(), &c)]));
    let mut c = good();
    c["iat"] = json!(now() - 3600);
    cases.push(("iat too old", vec![key.sign_raw(&key.header(), &c)]));
    let mut c = good();
    c["iat"] = json!(now() + 3600);
    cases.push(("iat in the future", vec![key.sign_raw(&key.header(), &c)]));
    let mut c = good();
    c["ath"] = json!(b64(Sha256::digest(b"another token")));
    cases.push(("ath", vec![key.sign_raw(&key.header(), &c)]));
    let mut c = good();
    c.as_object_mut().unwrap().remove("jti");
    cases.push(("no jti", vec![key.sign_raw(&key.header(), &c)]));
    // A valid proof by a key the token is not bound to.
    cases.push(("cnf.jkt", vec![other.proof("POST", &url, &token)]));

    for (rule, proofs) in cases {
        let mut req = app
            .client
            .post(&url)
            .header("authorization", format!("DPoP {token}"))
            .body(fixture("hello.ogg"));
        for p in &proofs {
            req = req.header("dpop", p);
        }
        let res = req.send().await.unwrap();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{rule}");
        let c = challenge(&res);
        assert!(
            c.starts_with("DPoP") && c.contains(r#"error="invalid_dpop_proof""#),
            "{rule}: {c}"
        );
        assert_eq!(
            res.headers()["content-type"],
            "application/problem+json",
            "{rule}"
        );
    }
    assert_eq!(
        app.total_events().await,
        0,
        "a rejected request recorded something"
    );

    // The untouched proof is accepted, once.
    let proof = key.proof("POST", &url, &token);
    let send = |proof: String| {
        app.client
            .post(&url)
            .header("authorization", format!("DPoP {token}"))
            .header("dpop", proof)
            .body(fixture("hello.ogg"))
            .send()
    };
    assert_eq!(
        send(proof.clone()).await.unwrap().status(),
        StatusCode::CREATED
    );
    let res = send(proof).await.unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert!(challenge(&res).contains("invalid_dpop_proof"));
}

#[tokio::test]
async fn a_proof_replayed_against_a_second_replica_is_rejected() {
    let app = spawn_app(Backend::Postgres).await;
    let (replica, _bg) = spawn_replica(&app).await;
    let key = ProofKey::new();
    let token = access_token(&app, &app.base, ALL, Some(&key));
    let id = app.upload_ok(&app.alice(), fixture("hello.ogg"), &[]).await;
    // Both replicas share the public URL, so one proof is valid for either of them.
    let proof = key.proof("GET", &app.url(&format!("/api/v1/items/{id}")), &token);

    let first = get_item_dpop(&app, &app.base, &id, &token, &proof).await;
    assert_eq!(first.status(), StatusCode::OK);
    let replayed = get_item_dpop(&app, &replica, &id, &token, &proof).await;
    assert_eq!(replayed.status(), StatusCode::UNAUTHORIZED);
    assert!(challenge(&replayed).contains("invalid_dpop_proof"));
    let (_, body) = crate::helpers::json(replayed).await;
    assert!(
        body["detail"].as_str().unwrap().contains("replay"),
        "{body}"
    );

    // A fresh proof works on the replica.
    let fresh = key.proof("GET", &app.url(&format!("/api/v1/items/{id}")), &token);
    assert_eq!(
        get_item_dpop(&app, &replica, &id, &token, &fresh)
            .await
            .status(),
        StatusCode::OK
    );
}

crate::on_both_backends!(required_nonces_are_handed_out_and_accepted_by_every_replica);
async fn required_nonces_are_handed_out_and_accepted_by_every_replica(backend: Backend) {
    let mut options = Options::default();
    options.issuer.dpop_nonce = voicebin::NoncePolicy::Required;
    let app = spawn_app_with(backend, options).await;
    let (replica, _bg) = spawn_replica(&app).await;
    let key = ProofKey::new();
    let token = access_token(&app, &app.base, ALL, Some(&key));
    let id = app.upload_ok(&app.alice(), fixture("hello.ogg"), &[]).await;
    let url = app.url(&format!("/api/v1/items/{id}"));

    let res = get_item_dpop(
        &app,
        &app.base,
        &id,
        &token,
        &key.proof("GET", &url, &token),
    )
    .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert!(
        challenge(&res).contains(r#"error="use_dpop_nonce""#),
        "{}",
        challenge(&res)
    );
    let nonce = res.headers()["dpop-nonce"].to_str().unwrap().to_owned();

    let mut forged = key.claims("GET", &url, &token);
    forged["nonce"] = json!("made-up");
    let res = get_item_dpop(
        &app,
        &app.base,
        &id,
        &token,
        &key.sign_raw(&key.header(), &forged),
    )
    .await;
    assert!(challenge(&res).contains("use_dpop_nonce"));

    let mut claims = key.claims("GET", &url, &token);
    claims["nonce"] = json!(nonce);
    let res = get_item_dpop(
        &app,
        &replica,
        &id,
        &token,
        &key.sign_raw(&key.header(), &claims),
    )
    .await;
    assert_eq!(
        res.status(),
        StatusCode::OK,
        "a nonce from one replica works on another"
    );
    assert!(res.headers().contains_key("dpop-nonce"));
}

#[tokio::test]
async fn access_tokens_are_bound_to_the_site_or_its_mcp_resource() {
    let app = spawn_app(Backend::Sqlite).await;
    let id = app.upload_ok(&app.alice(), fixture("hello.ogg"), &[]).await;
    for (audience, expected) in [
        (app.base.clone(), StatusCode::OK),
        (format!("{}/mcp", app.base), StatusCode::OK),
        (
            "https://elsewhere.example".to_owned(),
            StatusCode::UNAUTHORIZED,
        ),
        (format!("{}/other", app.base), StatusCode::UNAUTHORIZED),
    ] {
        let token = access_token(&app, &audience, ALL, None);
        let res = app.get_item(&id, Some(&token)).await;
        assert_eq!(res.status(), expected, "aud {audience}");
    }
    // RFC 9068 access tokens must name their client and id.
    for missing in ["client_id", "jti", "exp"] {
        let mut claims = json!({
            "iss": app.base, "sub": "alice", "aud": app.base, "scope": ALL,
            "client_id": "c", "jti": "j", "iat": now(), "exp": now() + 600,
        });
        claims.as_object_mut().unwrap().remove(missing);
        let token = app.issuer.mint_access_token(&claims);
        let res = app.get_item(&id, Some(&token)).await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "without {missing}");
    }
}

#[tokio::test]
async fn insufficient_scope_is_403_in_the_scheme_the_client_used() {
    let app = spawn_app(Backend::Sqlite).await;
    let key = ProofKey::new();
    let token = access_token(&app, &app.base, "voice:read", Some(&key));
    let url = app.url("/api/v1/audio");
    let res = app
        .client
        .post(&url)
        .header("authorization", format!("DPoP {token}"))
        .header("dpop", key.proof("POST", &url, &token))
        .body(fixture("hello.ogg"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let c = challenge(&res);
    assert!(
        c.starts_with("DPoP") && c.contains(r#"scope="voice:create""#),
        "{c}"
    );
    assert_eq!(app.total_events().await, 0);

    let bearer = access_token(&app, &app.base, "voice:read", None);
    let res = app.upload(&bearer, fixture("hello.ogg"), &[]).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert!(challenge(&res).starts_with("Bearer"));
}

#[tokio::test]
async fn a_request_without_credentials_is_offered_both_schemes() {
    let app = spawn_app(Backend::Sqlite).await;
    let res = app
        .client
        .get(app.url("/api/v1/account/items"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let c = challenge(&res);
    assert!(
        c.starts_with("Bearer realm=") && c.contains("DPoP") && c.contains("algs="),
        "{c}"
    );
}

/// A tiny RFC 7662 endpoint: every token is active unless revoked; it records what it was sent.
struct Introspector {
    url: String,
    revoked: Arc<Mutex<HashSet<String>>>,
    calls: Arc<Mutex<Vec<(String, String)>>>,
}

async fn introspector() -> Introspector {
    use poem::web::{Data, Form};
    use poem::{handler, EndpointExt, Route};

    #[derive(serde::Deserialize)]
    struct Params {
        token: String,
        token_type_hint: Option<String>,
    }
    type Revoked = Arc<Mutex<HashSet<String>>>;
    type Calls = Arc<Mutex<Vec<(String, String)>>>;

    #[handler]
    fn introspect(
        req: &poem::Request,
        Form(params): Form<Params>,
        Data(revoked): Data<&Revoked>,
        Data(calls): Data<&Calls>,
    ) -> poem::web::Json<Value> {
        let auth = req.header("authorization").unwrap_or_default().to_owned();
        calls
            .lock()
            .unwrap()
            .push((auth, params.token_type_hint.unwrap_or_default()));
        let active = !revoked.lock().unwrap().contains(&params.token);
        poem::web::Json(json!({"active": active}))
    }

    let revoked: Revoked = Arc::default();
    let calls: Calls = Arc::default();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    listener.set_nonblocking(true).unwrap();
    let acceptor = poem::listener::TcpAcceptor::from_std(listener).unwrap();
    let endpoint = Route::new()
        .at("/introspect", poem::post(introspect))
        .data(revoked.clone())
        .data(calls.clone());
    tokio::spawn(async move {
        let _ = poem::Server::new_with_acceptor(acceptor)
            .run(endpoint)
            .await;
    });
    Introspector {
        url: format!("http://127.0.0.1:{port}/introspect"),
        revoked,
        calls,
    }
}

fn introspection_options(endpoint: &str, ttl: Duration) -> Options {
    let mut options = Options::default();
    options.issuer.introspection = Some(voicebin::IntrospectionSettings {
        endpoint: endpoint.to_owned(),
        client_id: "voicebin".into(),
        client_secret: "s3cret".to_owned().into(),
        cache_ttl: ttl,
    });
    options
}

#[tokio::test]
async fn a_revoked_key_stops_working_once_the_introspection_cache_expires() {
    let issuer = introspector().await;
    let ttl = Duration::from_secs(1);
    let app = spawn_app_with(Backend::Sqlite, introspection_options(&issuer.url, ttl)).await;
    let key = app.alice();
    let id = app.upload_ok(&key, fixture("hello.ogg"), &[]).await;
    assert_eq!(app.get_item(&id, Some(&key)).await.status(), StatusCode::OK);

    // The resource server authenticated itself and said what it was asking about.
    let (auth, hint) = issuer.calls.lock().unwrap()[0].clone();
    assert_eq!(
        auth,
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode("voicebin:s3cret")
        )
    );
    assert_eq!(hint, "access_token");
    // Answers are cached: repeated requests within the TTL do not ask again.
    let asked = issuer.calls.lock().unwrap().len();
    assert_eq!(app.get_item(&id, Some(&key)).await.status(), StatusCode::OK);
    assert!(issuer.calls.lock().unwrap().len() <= asked + 1);

    issuer.revoked.lock().unwrap().insert(key.clone());
    tokio::time::sleep(ttl + Duration::from_millis(200)).await;
    let res = app.get_item(&id, Some(&key)).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let (_, body) = crate::helpers::json(res).await;
    assert!(
        body["detail"].as_str().unwrap().contains("revoked"),
        "{body}"
    );
    // Other keys are unaffected.
    assert_eq!(
        app.get_item(&id, Some(&app.key("bob", &["voice:read"])))
            .await
            .status(),
        StatusCode::OK
    );
    // Forged tokens never reach the issuer.
    let before = issuer.calls.lock().unwrap().len();
    let _ = app.get_item(&id, Some("pbca_live_a.b.c")).await;
    assert_eq!(issuer.calls.lock().unwrap().len(), before);
}

#[tokio::test]
async fn an_unreachable_introspection_endpoint_fails_closed_with_503() {
    // Nothing listens on port 9 here.
    let app = spawn_app_with(
        Backend::Sqlite,
        introspection_options("http://127.0.0.1:9/introspect", Duration::from_secs(30)),
    )
    .await;
    let res = app.upload(&app.alice(), fixture("hello.ogg"), &[]).await;
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(res.headers().contains_key("retry-after"));
    assert_eq!(app.total_events().await, 0);
}

/// `/mcp` answers a DPoP request's failures in the DPoP scheme, as the REST API does: a client
/// following RFC 9449 must see `invalid_dpop_proof`, not a Bearer `invalid_token`.
#[tokio::test]
async fn the_mcp_endpoint_challenges_dpop_requests_in_the_dpop_scheme() {
    let app = spawn_app(Backend::Sqlite).await;
    let key = ProofKey::new();
    let url = format!("{}/mcp", app.base);
    let token = access_token(&app, &url, ALL, Some(&key));
    let initialize = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {},
        "clientInfo": {"name": "test", "version": "1"}}});
    let res = app
        .client
        .post(&url)
        .header("authorization", format!("DPoP {token}"))
        .header("accept", "application/json, text/event-stream")
        .json(&initialize)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let c = challenge(&res);
    assert!(
        c.starts_with("DPoP") && c.contains(r#"error="invalid_dpop_proof""#),
        "{c}"
    );
    // With its proof the same request is served.
    let res = app
        .client
        .post(&url)
        .header("authorization", format!("DPoP {token}"))
        .header("dpop", key.proof("POST", &url, &token))
        .header("accept", "application/json, text/event-stream")
        .json(&initialize)
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.status(),
        StatusCode::OK,
        "{}",
        res.text().await.unwrap()
    );
}
