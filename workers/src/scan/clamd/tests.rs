//! The clamd client and scanner against the test clamd (scripts/services/clamd.sh) and against
//! fake daemons on local ports.

use std::io::Write;
use std::path::PathBuf;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use super::*;

/// The EICAR anti-virus test string as hex, decoded at run time so neither this source nor
/// the compiled test binary holds it (a virus scanner on a checkout or a target dir would
/// flag it). scripts/services/clamd.sh gives clamd a signature for it.
const EICAR_HEX: &str = concat!(
    "58354f2150254041505b345c505a58353428505e2937434329377d24",
    "45494341522d5354414e444152442d414e544956495255532d544553542d46494c452124",
    "482b482a",
);

/// The signature scripts/services/clamd.sh installs (clamd appends `.UNOFFICIAL`).
const EICAR_SIGNATURE: &str = "Voicebin.Test.EICAR";

fn eicar() -> Vec<u8> {
    let bytes: Vec<u8> = (0..EICAR_HEX.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&EICAR_HEX[i..i + 2], 16).unwrap())
        .collect();
    assert_eq!(bytes.len(), 68);
    bytes
}

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/fixtures/audio/"
    ))
    .join(name)
}

fn temp_file(parts: &[&[u8]]) -> tempfile::NamedTempFile {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    for part in parts {
        file.write_all(part).unwrap();
    }
    file.flush().unwrap();
    file
}

fn hello_wav() -> Vec<u8> {
    std::fs::read(fixture("hello.wav")).unwrap()
}

/// The test clamd, which must answer: these tests never skip.
async fn live_clamd() -> ClamdClient {
    let addr =
        std::env::var("VOICEBIN_TEST_CLAMD_ADDR").unwrap_or_else(|_| "127.0.0.1:3311".to_owned());
    let client = ClamdClient::new(addr.clone());
    if let Err(e) = client.ping().await {
        panic!(
            "clamd is not reachable at {addr} ({e}). Run the tests with scripts/test, which \
             starts a test clamd (scripts/services/clamd.sh), or set VOICEBIN_TEST_CLAMD_ADDR."
        );
    }
    client
}

/// An address where nothing listens.
async fn closed_port() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    drop(listener);
    addr
}

fn scanner(clamd: ClamdClient) -> ClamdScanner {
    ClamdScanner::new(AudioProbeScanner::in_process(), clamd)
}

#[tokio::test]
async fn clamd_answers_ping() {
    live_clamd().await.ping().await.unwrap();
}

#[tokio::test]
async fn clamd_finds_a_clean_fixture_clean() {
    let client = live_clamd().await;
    let verdict = client.scan_file(&fixture("hello.wav")).await.unwrap();
    assert_eq!(verdict, ClamdVerdict::Clean);

    let outcome = scanner(client).scan(&fixture("hello.wav")).await.unwrap();
    assert_eq!(outcome.verdict, ScanVerdict::Clean);
    assert_eq!(outcome.scanner, AUDIO_PROBE_CLAMD);
    assert_eq!(outcome.detail, None);
    assert_eq!(outcome.audio.unwrap().container, "wav");
}

#[tokio::test]
async fn clamd_finds_eicar_appended_to_audio() {
    let client = live_clamd().await;
    let file = temp_file(&[&hello_wav(), &eicar()]);

    let verdict = client.scan_file(file.path()).await.unwrap();
    let ClamdVerdict::Found(signature) = verdict else {
        panic!("expected a detection, got {verdict:?}");
    };
    assert!(signature.starts_with(EICAR_SIGNATURE), "{signature}");

    let outcome = scanner(client).scan(file.path()).await.unwrap();
    assert_eq!(outcome.verdict, ScanVerdict::Infected);
    assert_eq!(outcome.scanner, AUDIO_PROBE_CLAMD);
    let detail = outcome.detail.unwrap();
    assert!(
        detail.starts_with(&format!("malware: {EICAR_SIGNATURE}")),
        "{detail}"
    );
    // The bytes were still valid audio; the facts are kept for the owner.
    assert_eq!(outcome.audio.unwrap().container, "wav");
}

#[tokio::test]
async fn clamd_finds_eicar_split_across_chunks() {
    // 7-byte chunks put the signature across ten chunk boundaries: clamd must reassemble.
    let client = live_clamd().await.with_chunk_size(7);
    let file = temp_file(&[b"RIFF....", &eicar(), b"trailing bytes"]);
    let verdict = client.scan_file(file.path()).await.unwrap();
    assert!(
        matches!(&verdict, ClamdVerdict::Found(s) if s.starts_with(EICAR_SIGNATURE)),
        "{verdict:?}"
    );
}

#[tokio::test]
async fn non_audio_eicar_is_rejected_by_the_probe_before_clamd() {
    let file = temp_file(&[&eicar()]);
    // clamd itself would flag it...
    let verdict = live_clamd().await.scan_file(file.path()).await.unwrap();
    assert!(matches!(verdict, ClamdVerdict::Found(_)), "{verdict:?}");
    // ...but the probe rejects it first: with clamd unreachable, reaching it would be an
    // error, not this verdict.
    let outcome = scanner(ClamdClient::new(closed_port().await))
        .scan(file.path())
        .await
        .unwrap();
    assert_eq!(outcome.verdict, ScanVerdict::Rejected);
    assert_eq!(outcome.scanner, crate::scan::scanner::AUDIO_PROBE);
    assert_eq!(outcome.audio, None);
}

#[tokio::test]
async fn unreachable_clamd_is_an_error_never_clean() {
    let client = ClamdClient::new(closed_port().await);
    let err = client.ping().await.unwrap_err();
    assert!(matches!(err, ClamdError::Connect { .. }), "{err:?}");
    let err = client.scan_file(&fixture("hello.wav")).await.unwrap_err();
    assert!(matches!(err, ClamdError::Connect { .. }), "{err:?}");

    let err = scanner(client)
        .scan(&fixture("hello.wav"))
        .await
        .unwrap_err();
    assert!(
        matches!(clamd_error(&err), Some(ClamdError::Connect { .. })),
        "{err}"
    );
}

#[tokio::test]
async fn a_file_over_the_stream_limit_is_failed_and_never_sent() {
    // A closed port: the size check must come before connecting.
    let client = ClamdClient::new(closed_port().await).with_max_stream_bytes(1000);
    let err = client.scan_file(&fixture("hello.wav")).await.unwrap_err();
    assert!(
        matches!(err, ClamdError::TooLarge { limit: 1000, size } if size > 1000),
        "{err:?}"
    );

    let outcome = scanner(client).scan(&fixture("hello.wav")).await.unwrap();
    assert_eq!(outcome.verdict, ScanVerdict::Failed);
    assert_eq!(
        outcome.detail.as_deref(),
        Some("too large for the malware scanner (limit 1000 bytes)")
    );
    assert_eq!(outcome.scanner, AUDIO_PROBE_CLAMD);
}

#[tokio::test]
async fn a_file_exactly_at_the_limit_is_scanned() {
    let size = std::fs::metadata(fixture("hello.wav")).unwrap().len();
    let client = live_clamd().await.with_max_stream_bytes(size);
    let verdict = client.scan_file(&fixture("hello.wav")).await.unwrap();
    assert_eq!(verdict, ClamdVerdict::Clean);
}

#[tokio::test]
async fn clamds_own_stream_limit_is_an_error_never_clean() {
    // A client configured above clamd's StreamMaxLength (100M in the test config): clamd
    // cuts the stream off with "size limit exceeded. ERROR". A sparse file costs no disk.
    let file = tempfile::NamedTempFile::new().unwrap();
    file.as_file()
        .set_len(DEFAULT_MAX_STREAM_BYTES + 1)
        .unwrap();
    let client = live_clamd()
        .await
        .with_max_stream_bytes(DEFAULT_MAX_STREAM_BYTES * 2)
        .with_chunk_size(1024 * 1024);
    let err = client.scan_file(file.path()).await.unwrap_err();
    assert!(
        matches!(
            &err,
            ClamdError::Server { message, .. } if message.contains("size limit exceeded")
        ) || matches!(err, ClamdError::Io { .. }),
        "{err:?}"
    );
}

/// What a fake clamd does after reading the request.
#[derive(Clone, Copy)]
enum Fake {
    /// Writes these bytes, then closes.
    Reply(&'static [u8]),
    /// Closes without replying.
    Close,
    /// Closes as soon as the connection is accepted, without reading.
    CloseAtOnce,
    /// Keeps the connection open and never replies.
    Silent,
}

/// What the fake received: the command and the INSTREAM chunks.
#[derive(Debug, Default)]
struct Received {
    command: Vec<u8>,
    chunks: Vec<Vec<u8>>,
}

/// A one-connection fake clamd on a free port.
async fn fake_clamd(fake: Fake) -> (String, JoinHandle<Received>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let task = tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut received = Received::default();
        if matches!(fake, Fake::CloseAtOnce) {
            return received;
        }
        loop {
            let byte = socket.read_u8().await.unwrap();
            received.command.push(byte);
            if byte == 0 {
                break;
            }
        }
        if received.command == b"zINSTREAM\0" {
            loop {
                let len = socket.read_u32().await.unwrap() as usize;
                if len == 0 {
                    break;
                }
                let mut chunk = vec![0; len];
                socket.read_exact(&mut chunk).await.unwrap();
                received.chunks.push(chunk);
            }
        }
        match fake {
            Fake::Reply(reply) => {
                // The client may hang up first (e.g. on an over-long reply).
                let _ = socket.write_all(reply).await;
            }
            Fake::Silent => tokio::time::sleep(Duration::from_secs(30)).await,
            Fake::Close | Fake::CloseAtOnce => {}
        }
        received
    });
    (addr, task)
}

async fn scan_with_fake(fake: Fake) -> Result<ClamdVerdict, ClamdError> {
    let (addr, _task) = fake_clamd(fake).await;
    ClamdClient::new(addr)
        .with_timeout(Duration::from_millis(300))
        .scan_file(&fixture("hello.wav"))
        .await
}

/// The clamd error behind a scanner's error, if that is what it is.
fn clamd_error(err: &ScanError) -> Option<&ClamdError> {
    match err {
        ScanError::MalwareScanner(source) => source.downcast_ref(),
        _ => None,
    }
}

async fn scanner_with_fake(fake: Fake) -> Result<ScanOutcome, ScanError> {
    let (addr, _task) = fake_clamd(fake).await;
    scanner(ClamdClient::new(addr).with_timeout(Duration::from_millis(300)))
        .scan(&fixture("hello.wav"))
        .await
}

#[tokio::test]
async fn the_file_is_streamed_in_length_prefixed_chunks() {
    let (addr, task) = fake_clamd(Fake::Reply(b"stream: OK\0")).await;
    let client = ClamdClient::new(addr).with_chunk_size(1000);
    let verdict = client.scan_file(&fixture("hello.wav")).await.unwrap();
    assert_eq!(verdict, ClamdVerdict::Clean);

    let received = task.await.unwrap();
    assert_eq!(received.command, b"zINSTREAM\0");
    assert!(received.chunks.iter().all(|c| c.len() <= 1000));
    assert!(received.chunks.len() >= 158);
    assert_eq!(received.chunks.concat(), hello_wav());
}

#[tokio::test]
async fn fake_replies_are_parsed() {
    assert_eq!(
        scan_with_fake(Fake::Reply(b"stream: OK\0")).await.unwrap(),
        ClamdVerdict::Clean
    );
    assert_eq!(
        scan_with_fake(Fake::Reply(b"stream: Some.Sig-1 FOUND\0"))
            .await
            .unwrap(),
        ClamdVerdict::Found("Some.Sig-1".to_owned())
    );
    let outcome = scanner_with_fake(Fake::Reply(b"stream: Some.Sig-1 FOUND\0"))
        .await
        .unwrap();
    assert_eq!(outcome.verdict, ScanVerdict::Infected);
    assert_eq!(outcome.detail.as_deref(), Some("malware: Some.Sig-1"));
}

#[tokio::test]
async fn an_error_reply_is_an_error() {
    let err = scan_with_fake(Fake::Reply(b"INSTREAM size limit exceeded. ERROR\0"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ClamdError::Server { message, .. } if message == "INSTREAM size limit exceeded."),
        "{err:?}"
    );
    let err = scan_with_fake(Fake::Reply(b"stream: Can't allocate memory ERROR\0"))
        .await
        .unwrap_err();
    assert!(matches!(err, ClamdError::Server { .. }), "{err:?}");
    let err = scanner_with_fake(Fake::Reply(b"INSTREAM size limit exceeded. ERROR\0"))
        .await
        .unwrap_err();
    assert!(
        matches!(
            clamd_error(&err),
            Some(ClamdError::Server { message, .. }) if message.contains("size limit exceeded")
        ),
        "{err}"
    );
}

#[tokio::test]
async fn garbage_replies_are_errors() {
    for reply in [
        &b"HTTP/1.1 400 Bad Request\r\n\r\n\0"[..],
        b"OK\0",
        b"stream: \0",
        b"stream:  FOUND\0",
        b"stream: OKAY\0",
        b"\0",
        b"PONG\0",
    ] {
        let err = scan_with_fake(Fake::Reply(reply)).await.unwrap_err();
        assert!(
            matches!(err, ClamdError::UnexpectedReply { .. }),
            "{reply:?}: {err:?}"
        );
    }
    // Endless bytes without a terminator are not read forever.
    let long: &'static [u8] = Vec::leak(vec![b'x'; 10_000]);
    let err = scan_with_fake(Fake::Reply(long)).await.unwrap_err();
    assert!(matches!(err, ClamdError::UnexpectedReply { .. }), "{err:?}");

    let err = scanner_with_fake(Fake::Reply(b"garbage\0"))
        .await
        .unwrap_err();
    assert!(
        matches!(clamd_error(&err), Some(ClamdError::UnexpectedReply { .. })),
        "{err}"
    );
}

#[tokio::test]
async fn a_connection_closed_early_is_an_error_never_clean() {
    let err = scan_with_fake(Fake::Close).await.unwrap_err();
    assert!(matches!(err, ClamdError::ClosedEarly { .. }), "{err:?}");
    // "stream: OK" without its terminator may be the start of "stream: OK... ERROR".
    let err = scan_with_fake(Fake::Reply(b"stream: OK"))
        .await
        .unwrap_err();
    assert!(matches!(err, ClamdError::ClosedEarly { .. }), "{err:?}");
    // Closed before the file was sent: a write or read failure, whichever comes first.
    let err = scan_with_fake(Fake::CloseAtOnce).await.unwrap_err();
    assert!(
        matches!(err, ClamdError::ClosedEarly { .. } | ClamdError::Io { .. }),
        "{err:?}"
    );
    assert!(scanner_with_fake(Fake::Close).await.is_err());
    assert!(scanner_with_fake(Fake::CloseAtOnce).await.is_err());
}

#[tokio::test]
async fn a_silent_clamd_times_out() {
    let started = std::time::Instant::now();
    let err = scan_with_fake(Fake::Silent).await.unwrap_err();
    assert!(
        matches!(
            err,
            ClamdError::Timeout {
                step: "waiting for the reply",
                ..
            }
        ),
        "{err:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    let err = scanner_with_fake(Fake::Silent).await.unwrap_err();
    assert!(
        matches!(clamd_error(&err), Some(ClamdError::Timeout { .. })),
        "{err}"
    );

    let (addr, _task) = fake_clamd(Fake::Silent).await;
    let err = ClamdClient::new(addr)
        .with_timeout(Duration::from_millis(300))
        .ping()
        .await
        .unwrap_err();
    assert!(matches!(err, ClamdError::Timeout { .. }), "{err:?}");
}

#[tokio::test]
async fn ping_wants_pong() {
    let (addr, task) = fake_clamd(Fake::Reply(b"PONG\0")).await;
    ClamdClient::new(addr).ping().await.unwrap();
    assert_eq!(task.await.unwrap().command, b"zPING\0");

    let (addr, _task) = fake_clamd(Fake::Reply(b"stream: OK\0")).await;
    let err = ClamdClient::new(addr).ping().await.unwrap_err();
    assert!(matches!(err, ClamdError::UnexpectedReply { .. }), "{err:?}");
}

#[tokio::test]
async fn a_missing_file_is_a_file_error() {
    let client = ClamdClient::new(closed_port().await);
    let err = client
        .scan_file(Path::new("/nonexistent/voicebin/clip"))
        .await
        .unwrap_err();
    assert!(matches!(err, ClamdError::File(_)), "{err:?}");
}

#[test]
fn describe_names_the_daemon() {
    let s = scanner(ClamdClient::new("10.0.0.5:3310"));
    assert_eq!(s.describe(), "audio validation + ClamAV at 10.0.0.5:3310");
}

#[test]
fn builder_clamps_the_chunk_size() {
    let c = ClamdClient::new("x:1").with_chunk_size(0);
    assert_eq!(c.chunk_size(), 1);
    assert_eq!(ClamdClient::new("x:1").chunk_size(), DEFAULT_CHUNK_SIZE);
    assert_eq!(
        ClamdClient::new("x:1").max_stream_bytes(),
        100 * 1024 * 1024
    );
}
