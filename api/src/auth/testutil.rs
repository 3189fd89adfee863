//! Test-only helpers: ad-hoc signing keys, JWS assembly and a tiny JWKS HTTP server.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

use aws_lc_rs::rand::{SecureRandom as _, SystemRandom};
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{
    self as sig, EcdsaKeyPair, Ed25519KeyPair, KeyPair as _, RsaKeyPair, RsaPublicKeyComponents,
};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

pub(crate) fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

pub(crate) fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Assembles a compact JWS, signing `header.payload` with `sign`.
pub(crate) fn sign_jws(
    header: &Value,
    claims: &Value,
    sign: impl FnOnce(&[u8]) -> Vec<u8>,
) -> String {
    let input = format!("{}.{}", b64(header.to_string()), b64(claims.to_string()));
    let signature = sign(input.as_bytes());
    format!("{input}.{}", b64(signature))
}

/// Signs an already-encoded `header.payload` (for payloads `serde_json` would not produce).
pub(crate) fn sign_jws_raw(input: &str, sign: impl FnOnce(&[u8]) -> Vec<u8>) -> String {
    format!("{input}.{}", b64(sign(input.as_bytes())))
}

/// A temporary directory removed on drop (avoids a `tempfile` dev-dependency).
pub(crate) struct TempDir(PathBuf);

impl TempDir {
    pub(crate) fn new() -> Self {
        let mut r = [0u8; 8];
        SystemRandom::new().fill(&mut r).unwrap();
        let path = std::env::temp_dir().join(format!("voicebin-auth-{}", hex::encode(r)));
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }

    pub(crate) fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub(crate) struct Ed25519TestKey(Ed25519KeyPair);

impl Ed25519TestKey {
    pub(crate) fn generate() -> Self {
        Ed25519TestKey(Ed25519KeyPair::generate().unwrap())
    }

    pub(crate) fn jwk(&self, kid: &str) -> Value {
        json!({"kty": "OKP", "crv": "Ed25519", "x": b64(self.0.public_key()), "kid": kid})
    }

    pub(crate) fn sign(&self, message: &[u8]) -> Vec<u8> {
        self.0.sign(message).as_ref().to_vec()
    }

    pub(crate) fn token(&self, header: &Value, claims: &Value) -> String {
        sign_jws(header, claims, |m| self.0.sign(m).as_ref().to_vec())
    }
}

pub(crate) struct EcTestKey(EcdsaKeyPair);

impl EcTestKey {
    pub(crate) fn p256() -> Self {
        EcTestKey(EcdsaKeyPair::generate(&sig::ECDSA_P256_SHA256_FIXED_SIGNING).unwrap())
    }

    pub(crate) fn jwk(&self, kid: &str) -> Value {
        let point = self.0.public_key().as_ref();
        assert_eq!(point.len(), 65);
        json!({"kty": "EC", "crv": "P-256", "x": b64(&point[1..33]), "y": b64(&point[33..]), "kid": kid})
    }

    pub(crate) fn token(&self, header: &Value, claims: &Value) -> String {
        sign_jws(header, claims, |m| {
            self.0
                .sign(&SystemRandom::new(), m)
                .unwrap()
                .as_ref()
                .to_vec()
        })
    }
}

pub(crate) struct RsaTestKey(RsaKeyPair);

impl RsaTestKey {
    /// One shared 2048-bit key: generation is slow in unoptimised builds.
    pub(crate) fn shared() -> &'static Self {
        static KEY: OnceLock<RsaTestKey> = OnceLock::new();
        KEY.get_or_init(|| RsaTestKey(RsaKeyPair::generate(KeySize::Rsa2048).unwrap()))
    }

    pub(crate) fn jwk(&self, kid: &str) -> Value {
        let c = RsaPublicKeyComponents::<Vec<u8>>::from(self.0.public_key());
        json!({"kty": "RSA", "n": b64(&c.n), "e": b64(&c.e), "kid": kid})
    }

    pub(crate) fn token(
        &self,
        encoding: &'static dyn sig::RsaEncoding,
        header: &Value,
        claims: &Value,
    ) -> String {
        sign_jws(header, claims, |m| {
            let mut out = vec![0; self.0.public_modulus_len()];
            self.0
                .sign(encoding, &SystemRandom::new(), m, &mut out)
                .unwrap();
            out
        })
    }
}

/// Serves a mutable JWKS body on 127.0.0.1 and counts requests.
pub(crate) struct JwksServer {
    pub(crate) url: String,
    hits: Arc<AtomicUsize>,
    body: Arc<Mutex<String>>,
    task: tokio::task::JoinHandle<()>,
}

impl JwksServer {
    pub(crate) async fn start(body: Value) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/jwks.json", listener.local_addr().unwrap());
        let hits = Arc::new(AtomicUsize::new(0));
        let body = Arc::new(Mutex::new(body.to_string()));
        let (task_hits, task_body) = (hits.clone(), body.clone());
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut stream, _)) = listener.accept().await else {
                    return;
                };
                let (hits, body) = (task_hits.clone(), task_body.clone());
                tokio::spawn(async move {
                    let mut request = Vec::new();
                    let mut buf = [0u8; 1024];
                    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                        match stream.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => request.extend_from_slice(&buf[..n]),
                        }
                    }
                    hits.fetch_add(1, Ordering::SeqCst);
                    let body = body.lock().unwrap().clone();
                    let response = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = stream.write_all(response.as_bytes()).await;
                    let _ = stream.shutdown().await;
                });
            }
        });
        JwksServer {
            url,
            hits,
            body,
            task,
        }
    }

    pub(crate) fn set_body(&self, body: Value) {
        *self.body.lock().unwrap() = body.to_string();
    }

    pub(crate) fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

impl Drop for JwksServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}
