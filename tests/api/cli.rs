//! `vb`, the command-line client (`cli/`, ADR 0024), against the real server: it signs in
//! and keeps its config private, uploads past a refused file, resumes uploads (tus) after a
//! cut connection or Ctrl-C (through the proxy in `cli/proxy.rs`), lists, reads, edits,
//! downloads (resuming a `.part` with `Range` and `If-Range`) and deletes, and ends with the
//! documented exit codes.
//!
//! The client is its own package, so Cargo gives these tests no `CARGO_BIN_EXE_vb`: the
//! first test to need it builds it into the target directory these tests were built in.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::OnceLock;

use serde_json::Value;

use crate::helpers::{fixture, spawn_app, spawn_app_with, Backend, Options, TestApp};
use crate::on_both_backends;

mod proxy;

use proxy::{Proxy, Seen};

/// The `vb` binary, built once per test run.
fn vb_binary() -> &'static Path {
    static VB: OnceLock<PathBuf> = OnceLock::new();
    VB.get_or_init(|| {
        // This test executable is `<target>/<profile>/deps/api-<hash>`.
        let exe = std::env::current_exe().expect("the test executable's path");
        let target = exe
            .ancestors()
            .nth(3)
            .map(Path::to_owned)
            .or_else(|| std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from))
            .expect("a target directory");
        let status = std::process::Command::new(env!("CARGO"))
            .args(["build", "--quiet", "-p", "voicebin-cli", "--bin", "vb"])
            .arg("--target-dir")
            .arg(&target)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .expect("run cargo build");
        assert!(status.success(), "cargo build -p voicebin-cli failed");
        let vb = target
            .join("debug")
            .join(format!("vb{}", std::env::consts::EXE_SUFFIX));
        assert!(vb.exists(), "{} was not built", vb.display());
        vb
    })
}

/// A user of `vb`: their own home, config directory and working directory.
struct User {
    home: tempfile::TempDir,
}

impl User {
    fn new() -> User {
        let home = tempfile::tempdir().unwrap();
        std::fs::create_dir(home.path().join("work")).unwrap();
        User { home }
    }

    /// Where they run `vb` from.
    fn cwd(&self) -> PathBuf {
        self.home.path().join("work")
    }

    fn config_file(&self) -> PathBuf {
        self.home.path().join("config/voicebin/config.toml")
    }

    async fn vb(&self, args: &[&str]) -> Output {
        self.vb_with_stdin(args, "").await
    }

    async fn vb_with_stdin(&self, args: &[&str], stdin: &str) -> Output {
        self.vb_with(args, stdin, &[]).await
    }

    async fn vb_with(&self, args: &[&str], stdin: &str, env: &[(&str, &str)]) -> Output {
        use tokio::io::AsyncWriteExt;
        let mut child = self.spawn(args, env);
        let mut input = child.stdin.take().unwrap();
        input.write_all(stdin.as_bytes()).await.unwrap();
        drop(input);
        child.wait_with_output().await.unwrap()
    }

    /// Starts `vb` without waiting for it.
    fn spawn(&self, args: &[&str], env: &[(&str, &str)]) -> tokio::process::Child {
        tokio::process::Command::new(vb_binary())
            .args(args)
            .current_dir(self.cwd())
            .env("HOME", self.home.path())
            .env("XDG_CONFIG_HOME", self.home.path().join("config"))
            .env("XDG_STATE_HOME", self.home.path().join("state"))
            .env("XDG_CACHE_HOME", self.home.path().join("cache"))
            .env_remove("VOICEBIN_URL")
            .env_remove("VOICEBIN_TOKEN")
            .env_remove("VOICEBIN_CONFIG")
            .envs(env.iter().copied())
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("run vb")
    }

    /// Where `vb upload` keeps what it needs to resume.
    fn upload_state_dir(&self) -> PathBuf {
        self.home.path().join("state/voicebin/uploads")
    }

    /// The upload URLs in the upload state.
    fn stored_uploads(&self) -> Vec<String> {
        let Ok(dir) = std::fs::read_dir(self.upload_state_dir()) else {
            return Vec::new();
        };
        dir.flatten()
            .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
            .map(|e| {
                let entry: Value =
                    serde_json::from_slice(&std::fs::read(e.path()).unwrap()).unwrap();
                entry["upload"].as_str().unwrap().to_owned()
            })
            .collect()
    }
}

fn code(out: &Output) -> i32 {
    out.status.code().expect("vb exited, not killed")
}

fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8(out.stderr.clone()).unwrap()
}

/// Asserts a zero exit and returns stdout.
fn ok(out: &Output) -> String {
    assert_eq!(
        code(out),
        0,
        "stdout: {}\nstderr: {}",
        stdout(out),
        stderr(out)
    );
    stdout(out)
}

fn json_of(out: &Output) -> Value {
    serde_json::from_str(&ok(out)).unwrap_or_else(|e| panic!("{e}: {}", stdout(out)))
}

/// Signs `user` in as alice with `vb login --token -`; returns the key.
async fn login(app: &TestApp, user: &User) -> String {
    let key = app.alice();
    let out = user
        .vb_with_stdin(&["login", "--url", &app.base, "--token", "-"], &key)
        .await;
    assert!(ok(&out).contains("as alice"), "{}", stdout(&out));
    key
}

/// Uploads hello.ogg with `vb upload --json` and returns its id, once scanned.
async fn upload_hello(app: &TestApp, user: &User) -> String {
    std::fs::write(user.cwd().join("upload.ogg"), fixture("hello.ogg")).unwrap();
    let out = user.vb(&["upload", "--json", "upload.ogg"]).await;
    let id = json_of(&out)[0]["item"]["id"].as_str().unwrap().to_owned();
    app.wait_scanned(&id, &app.alice()).await;
    id
}

async fn signed_in_the_cli_uploads_lists_edits_and_deletes(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = User::new();
    let key = login(&app, &user).await;

    // The config holds the server and the key, readable by the user only.
    let config = std::fs::read_to_string(user.config_file()).unwrap();
    assert!(
        config.contains(&app.base) && config.contains(&key),
        "{config}"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&user.config_file()), 0o600);
        assert_eq!(mode(user.config_file().parent().unwrap()), 0o700);
    }
    let account = json_of(&user.vb(&["account", "--json"]).await);
    assert_eq!(account["account"], "alice", "{account}");
    assert_eq!(account["usage"]["clips"], 0, "{account}");

    // A file that is not audio is refused (exit 5) and the next one is still uploaded.
    let files = user.cwd();
    std::fs::write(files.join("notes.mp3"), fixture("not-audio.mp3")).unwrap();
    std::fs::write(files.join("hello.ogg"), fixture("hello.ogg")).unwrap();
    let out = user
        .vb(&[
            "upload",
            "--json",
            "--title",
            "Morning standup",
            "--limit",
            "5",
            "notes.mp3",
            "hello.ogg",
        ])
        .await;
    assert_eq!(code(&out), 5, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("error: notes.mp3: Not a supported audio file: the body is not"),
        "{}",
        stderr(&out)
    );
    assert!(
        stderr(&out).contains("1 of 2 uploads failed"),
        "{}",
        stderr(&out)
    );
    let results: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(results[0]["exit_code"], 5, "{results}");
    assert_eq!(
        results[0]["problem"]["type"],
        "urn:voicebin:problem:not-audio"
    );
    let item = &results[1]["item"];
    assert_eq!(item["title"], "Morning standup", "{results}");
    assert_eq!(item["filename"], "hello.ogg");
    assert_eq!(item["download_limit"], 5);
    let id = item["id"].as_str().unwrap().to_owned();
    assert_eq!(item["urls"]["view"], app.url(&format!("/{id}")));
    app.wait_scanned(&id, &app.alice()).await;

    // Listed, as JSON and as a table; found by a search.
    let page = json_of(&user.vb(&["list", "--json"]).await);
    let ids: Vec<&str> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [id.as_str()], "{page}");
    let table = ok(&user.vb(&["list", "-q", "standup", "--all"]).await);
    assert!(table.starts_with("ID "), "{table}");
    assert!(
        table.contains(&id) && table.contains("Morning standup"),
        "{table}"
    );

    // Read, then edited.
    let details = ok(&user.vb(&["get", &id]).await);
    assert!(details.contains("Morning standup"), "{details}");
    assert!(details.contains("0 of 5"), "{details}");
    let edited = json_of(
        &user
            .vb(&["edit", &id, "--json", "--title", "Evening", "--no-limit"])
            .await,
    );
    assert_eq!(edited["title"], "Evening", "{edited}");
    assert!(edited["download_limit"].is_null(), "{edited}");
    let (status, body) = crate::helpers::json(app.get_item(&id, Some(&app.alice())).await).await;
    assert_eq!(status, 200);
    assert_eq!(body["title"], "Evening", "{body}");
    let refused = user.vb(&["edit", &id, "--expires-at", "yesterday"]).await;
    assert_eq!(code(&refused), 5, "{}", stderr(&refused));
    assert!(
        stderr(&refused).contains("expires_at"),
        "{}",
        stderr(&refused)
    );

    // Deleted: from then on it is gone (exit 4), to `get` and to `delete` alike.
    let out = user.vb(&["delete", &id]).await;
    assert!(ok(&out).contains(&id));
    assert_eq!(app.get_item(&id, None).await.status(), 410);
    let gone = user.vb(&["get", &id]).await;
    assert_eq!(code(&gone), 4, "{}", stderr(&gone));
    assert!(stderr(&gone).starts_with("error: "), "{}", stderr(&gone));
    assert_eq!(code(&user.vb(&["get", "nosuchclip"]).await), 4);

    // Signed out, commands say so (exit 3); the file is gone.
    ok(&user.vb(&["logout"]).await);
    assert!(!user.config_file().exists());
    let out = user.vb(&["account"]).await;
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    assert!(stderr(&out).contains("not signed in"), "{}", stderr(&out));
}
on_both_backends!(signed_in_the_cli_uploads_lists_edits_and_deletes);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn downloads_are_byte_identical_and_resume_a_part_file() {
    let app = spawn_app(Backend::Sqlite).await;
    let user = User::new();
    login(&app, &user).await;
    let id = upload_hello(&app, &user).await;
    let original = fixture("hello.ogg");
    let cwd = user.cwd();

    // To a chosen file, and to the name the server gives it.
    ok(&user.vb(&["download", &id, "-o", "chosen.ogg"]).await);
    assert_eq!(std::fs::read(cwd.join("chosen.ogg")).unwrap(), original);
    std::fs::remove_file(cwd.join("upload.ogg")).unwrap();
    let out = user.vb(&["download", &id]).await;
    assert!(ok(&out).contains("upload.ogg"), "{}", stdout(&out));
    assert_eq!(std::fs::read(cwd.join("upload.ogg")).unwrap(), original);
    // It does not overwrite a file it named itself.
    assert_eq!(code(&user.vb(&["download", &id]).await), 2);

    // A download interrupted halfway left its `.part` and the ETag it began with: the rest
    // is fetched with a range, and the file is whole.
    let etag = app
        .client
        .head(app.url(&format!("/{id}/download")))
        .send()
        .await
        .unwrap()
        .headers()["etag"]
        .to_str()
        .unwrap()
        .to_owned();
    let half = original.len() / 2;
    std::fs::write(cwd.join("resumed.ogg.part"), &original[..half]).unwrap();
    std::fs::write(cwd.join("resumed.ogg.part.etag"), &etag).unwrap();
    let summary = json_of(
        &user
            .vb(&["download", &id, "-o", "resumed.ogg", "--json"])
            .await,
    );
    assert_eq!(summary["resumed_from"], half as u64, "{summary}");
    assert_eq!(summary["bytes"], original.len() as u64, "{summary}");
    assert_eq!(
        summary["received"],
        (original.len() - half) as u64,
        "{summary}"
    );
    assert_eq!(summary["etag"], etag.as_str());
    assert_eq!(std::fs::read(cwd.join("resumed.ogg")).unwrap(), original);
    assert!(!cwd.join("resumed.ogg.part").exists());
    assert!(!cwd.join("resumed.ogg.part.etag").exists());

    // A `.part` of other bytes (its ETag does not match): If-Range gets the whole clip.
    std::fs::write(cwd.join("stale.ogg.part"), vec![0u8; half]).unwrap();
    std::fs::write(cwd.join("stale.ogg.part.etag"), "\"other-bytes\"").unwrap();
    let summary = json_of(
        &user
            .vb(&["download", &id, "-o", "stale.ogg", "--json"])
            .await,
    );
    assert_eq!(summary["resumed_from"], 0, "{summary}");
    assert_eq!(summary["received"], original.len() as u64, "{summary}");
    assert_eq!(std::fs::read(cwd.join("stale.ogg")).unwrap(), original);

    // A `.part` that already holds every byte is simply completed.
    std::fs::write(cwd.join("full.ogg.part"), &original).unwrap();
    std::fs::write(cwd.join("full.ogg.part.etag"), &etag).unwrap();
    let summary = json_of(
        &user
            .vb(&["download", &id, "-o", "full.ogg", "--json"])
            .await,
    );
    assert_eq!(summary["received"], 0, "{summary}");
    assert_eq!(std::fs::read(cwd.join("full.ogg")).unwrap(), original);

    // The owner's downloads never count.
    let (_, item) = crate::helpers::json(app.get_item(&id, Some(&app.alice())).await).await;
    assert_eq!(item["download_count"], 0, "{item}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_environment_overrides_the_file_and_flags_override_both() {
    let app = spawn_app(Backend::Sqlite).await;
    let user = User::new();
    let key = login(&app, &user).await;

    let bad_env = [("VOICEBIN_TOKEN", "not-a-token")];
    let out = user.vb_with(&["account"], "", &bad_env).await;
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    let out = user
        .vb_with(&["account", "--json", "--token", &key], "", &bad_env)
        .await;
    assert_eq!(json_of(&out)["account"], "alice");
    // An empty variable does not hide the file.
    ok(&user
        .vb_with(&["account"], "", &[("VOICEBIN_TOKEN", "")])
        .await);
    // No file at all: the environment is enough.
    ok(&user.vb(&["logout"]).await);
    let env = [
        ("VOICEBIN_URL", app.base.as_str()),
        ("VOICEBIN_TOKEN", &key),
    ];
    ok(&user.vb_with(&["account"], "", &env).await);

    // A description with line breaks cannot be a header: it follows the upload in a PATCH.
    std::fs::write(user.cwd().join("hello.wav"), fixture("hello.wav")).unwrap();
    let out = user
        .vb_with(
            &[
                "upload",
                "--json",
                "--description",
                "line one\nline two",
                "hello.wav",
            ],
            "",
            &env,
        )
        .await;
    let item = &json_of(&out)[0]["item"];
    assert_eq!(item["description"], "line one\nline two", "{item}");

    // `--all` follows `next_cursor` to the last page.
    for _ in 0..2 {
        app.upload_ok(&key, fixture("hello.wav"), &[]).await;
    }
    let page = json_of(
        &user
            .vb_with(&["list", "--json", "--limit", "1"], "", &env)
            .await,
    );
    assert_eq!(page["items"].as_array().unwrap().len(), 1, "{page}");
    assert!(page["next_cursor"].is_string(), "{page}");
    let all = json_of(
        &user
            .vb_with(&["list", "--json", "--limit", "1", "--all"], "", &env)
            .await,
    );
    assert_eq!(all["items"].as_array().unwrap().len(), 3, "{all}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_past_the_quota_exits_6_with_the_servers_words() {
    let app = spawn_app_with(
        Backend::Sqlite,
        Options {
            quotas: voicebin_domain::Limits {
                bytes: Some(100_000),
                clips: None,
            },
            ..Options::default()
        },
    )
    .await;
    let user = User::new();
    login(&app, &user).await;
    // Refused from its Content-Length, before the server reads the 4 MB body: whether the
    // answer arrives or the connection breaks first, `vb` says it is the quota.
    let big = crate::helpers::pcm_wav(8000, &vec![0i16; 2_000_000]);
    std::fs::write(user.cwd().join("big.wav"), big).unwrap();
    let out = user.vb(&["upload", "big.wav"]).await;
    assert_eq!(code(&out), 6, "{}", stderr(&out));
    assert!(
        stderr(&out).starts_with("error: big.wav: Quota exceeded: "),
        "{}",
        stderr(&out)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_token_and_an_unreachable_server_have_their_exit_codes() {
    let app = spawn_app(Backend::Sqlite).await;
    let user = User::new();

    // A bad token: 401, exit 3, the problem's words.
    let out = user
        .vb(&["--url", &app.base, "--token", "not-a-token", "account"])
        .await;
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    assert!(
        stderr(&out).starts_with("error: Authentication required: "),
        "{}",
        stderr(&out)
    );
    // `vb login` with it stores nothing.
    let out = user
        .vb(&["login", "--url", &app.base, "--token", "not-a-token"])
        .await;
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    assert!(!user.config_file().exists());

    // A key without the scope: 403, exit 3, naming the scope.
    let reader = app.key("alice", &["voice:read"]);
    let out = user
        .vb(&["--url", &app.base, "--token", &reader, "delete", "someclip"])
        .await;
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    assert!(stderr(&out).contains("voice:delete"), "{}", stderr(&out));

    // Nothing listening: exit 7, said plainly.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let out = user
        .vb(&[
            "--url",
            &format!("http://127.0.0.1:{port}"),
            "--token",
            "x",
            "account",
        ])
        .await;
    assert_eq!(code(&out), 7, "{}", stderr(&out));
    assert!(stderr(&out).contains("cannot connect"), "{}", stderr(&out));

    // Usage errors are clap's 2.
    assert_eq!(code(&user.vb(&["upload"]).await), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn completions_are_printed_for_each_shell() {
    let user = User::new();
    let bash = ok(&user.vb(&["completions", "bash"]).await);
    assert!(
        bash.contains("_vb()") && bash.contains("complete -F _vb"),
        "{bash}"
    );
    for shell in ["zsh", "fish", "powershell", "elvish"] {
        let script = ok(&user.vb(&["completions", shell]).await);
        assert!(script.contains("upload"), "{shell}: {script}");
    }
}

/// What a careless command line must not do: replace a device or socket, leave files behind
/// after a refusal, hand the stored key to another server, remove a file that is not the
/// config, or answer `--json` with anything but JSON.
#[tokio::test]
async fn the_client_replaces_no_special_file_leaks_no_key_and_removes_no_other_file() {
    let app = spawn_app(Backend::Sqlite).await;
    let user = User::new();
    login(&app, &user).await;
    let id = upload_hello(&app, &user).await;
    let original = fixture("hello.ogg");
    let cwd = user.cwd();

    // A socket (as /dev/null is a device) is not replaced; a directory gets the clip's name.
    let socket = cwd.join("a.sock");
    let _listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
    let out = user.vb(&["download", &id, "-o", "a.sock"]).await;
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("not a regular file"),
        "{}",
        stderr(&out)
    );
    use std::os::unix::fs::FileTypeExt;
    assert!(std::fs::metadata(&socket).unwrap().file_type().is_socket());
    assert!(!cwd.join("a.sock.part").exists());
    std::fs::create_dir(cwd.join("into")).unwrap();
    ok(&user.vb(&["download", &id, "-o", "into"]).await);
    assert_eq!(
        std::fs::read(cwd.join("into/upload.ogg")).unwrap(),
        original
    );
    // `-o -` is standard output.
    let out = user.vb(&["download", &id, "-o", "-"]).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(out.stdout, original);
    assert!(!cwd.join("-").exists());
    // A refused download leaves no `.part` behind.
    let out = user
        .vb(&["download", "AAAAAAAAAAAAAAAA", "-o", "missing.ogg"])
        .await;
    assert_eq!(code(&out), 4, "{}", stderr(&out));
    assert!(!cwd.join("missing.ogg.part").exists());

    // The stored key goes to the stored server only: another URL from the environment or a
    // flag gets no token (and so asks to sign in) rather than alice's key.
    for env in [&[("VOICEBIN_URL", "http://127.0.0.1:9")][..], &[][..]] {
        let args: &[&str] = if env.is_empty() {
            &["account", "--url", "http://127.0.0.1:9"]
        } else {
            &["account"]
        };
        let out = user.vb_with(args, "", env).await;
        assert_eq!(code(&out), 3, "{}", stderr(&out));
        assert!(stderr(&out).contains("not signed in"), "{}", stderr(&out));
    }

    // With --json, a failure is JSON too.
    let out = user.vb(&["get", "AAAAAAAAAAAAAAAA", "--json"]).await;
    assert_eq!(code(&out), 4);
    let error: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(error["error"]["exit"], 4, "{error}");
    assert_eq!(error["error"]["status"], 404, "{error}");
    assert_eq!(
        error["error"]["problem"]["type"], "urn:voicebin:problem:not-found",
        "{error}"
    );

    // `logout --config` removes a vb config only.
    let notes = cwd.join("notes.txt");
    std::fs::write(&notes, "milk\n").unwrap();
    let out = user
        .vb(&["logout", "--config", notes.to_str().unwrap()])
        .await;
    assert_ne!(code(&out), 0, "{}", stdout(&out));
    assert_eq!(std::fs::read_to_string(&notes).unwrap(), "milk\n");
    ok(&user.vb(&["logout"]).await);
    assert!(!user.config_file().exists());
}

/// A 17 MB WAV file (more than two of `vb`'s 8 MiB chunks); `seed` varies its samples.
fn long_wav(seed: i16) -> Vec<u8> {
    let samples: Vec<i16> = (0..8_500_000)
        .map(|i| ((i % 997) as i16).wrapping_mul(seed))
        .collect();
    crate::helpers::pcm_wav(8000, &samples)
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// `vb`'s chunk: what one `PATCH` carries.
const CHUNK: u64 = 8 * 1024 * 1024;

/// The path of an upload URL (the state holds the proxy's URLs).
fn path_of(url: &str) -> String {
    reqwest::Url::parse(url).unwrap().path().to_owned()
}

/// How many bytes the server holds of the upload at `url` (asked of the server itself, not
/// through the proxy); none when it has no such upload.
async fn server_offset(app: &TestApp, key: &str, url: &str) -> Option<u64> {
    let response = app
        .client
        .head(app.url(&path_of(url)))
        .header("tus-resumable", "1.0.0")
        .bearer_auth(key)
        .send()
        .await
        .unwrap();
    // Gone, or the test's own polling used up alice's reads for a moment (HEADs count).
    if response.status() == 404 || response.status() == 429 {
        return None;
    }
    assert_eq!(response.status(), 204, "{response:?}");
    Some(
        response.headers()["upload-offset"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap(),
    )
}

/// How often the tests look at the server: at most five HEADs a second, well within an
/// account's reads (vb's own HEADs and appends count against them too).
const POLL: std::time::Duration = std::time::Duration::from_millis(200);

/// How many looks before giving up: three minutes, for a machine loaded by the whole suite.
const POLLS: usize = 900;

/// Polls `probe` every [`POLL`] for up to three minutes until it gives a value.
async fn eventually<T, F, Fut>(what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    for _ in 0..POLLS {
        if let Some(value) = probe().await {
            return value;
        }
        tokio::time::sleep(POLL).await;
    }
    panic!("{what} did not happen within three minutes");
}

/// [`eventually`], while `vb` runs: if it ends first, the test fails with what it said.
async fn while_running<T, F, Fut>(child: &mut tokio::process::Child, what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    for _ in 0..POLLS {
        if let Some(value) = probe().await {
            return value;
        }
        if let Some(status) = child.try_wait().unwrap() {
            use tokio::io::AsyncReadExt;
            let mut said = String::new();
            let mut stderr = child.stderr.take().unwrap();
            stderr.read_to_string(&mut said).await.unwrap();
            panic!("vb ended ({status}) before {what}: {said}");
        }
        tokio::time::sleep(POLL).await;
    }
    panic!("{what} did not happen within three minutes");
}

/// The bytes the server stores for the clip `id`, as its owner downloads them.
async fn stored_bytes(app: &TestApp, key: &str, id: &str) -> Vec<u8> {
    let response = app
        .client
        .get(app.url(&format!("/{id}/download")))
        .bearer_auth(key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{response:?}");
    response.bytes().await.unwrap().to_vec()
}

async fn clip_count(app: &TestApp, key: &str) -> u64 {
    let (status, account) = crate::helpers::json(
        app.client
            .get(app.url("/api/v1/account"))
            .bearer_auth(key)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200, "{account}");
    account["usage"]["clips"].as_u64().unwrap()
}

/// Starts `vb upload file` through `proxy`, which stalls the upload after 10 MB; once the
/// server holds the first chunk and the second is stalled, stops `vb` with SIGINT (Ctrl-C). Returns the upload's URL
/// from the upload state and what the server kept: more than the first chunk, since the bytes
/// of the stalled chunk that arrived are kept when the connection goes.
async fn interrupted_upload(
    app: &TestApp,
    user: &User,
    proxy: &Proxy,
    key: &str,
    file: &str,
) -> (String, u64) {
    proxy.stall_after(10_000_000);
    let env = [
        ("VOICEBIN_URL", proxy.url.as_str()),
        ("VOICEBIN_TOKEN", key),
    ];
    let mut child = user.spawn(&["upload", "--json", file], &env);
    let upload = while_running(&mut child, "an upload in the state", || async {
        user.stored_uploads().into_iter().next()
    })
    .await;
    let held = while_running(&mut child, "the first chunk on the server", || async {
        server_offset(app, key, &upload).await.filter(|n| *n > 0)
    })
    .await;
    assert_eq!(held, CHUNK);
    // The second chunk is on its way (and stalled), not about to start.
    while_running(&mut child, "the second chunk stalled", || async {
        (proxy.stalls() > 0).then_some(())
    })
    .await;
    let interrupted = std::process::Command::new("kill")
        .args(["-INT", &child.id().unwrap().to_string()])
        .status()
        .unwrap();
    assert!(interrupted.success());
    let out = child.wait_with_output().await.unwrap();
    // vb answers Ctrl-C itself (even when started where SIGINT is ignored, as in a
    // background job): exit 130, saying how to go on.
    assert_eq!(out.status.code(), Some(130), "{}", stderr(&out));
    assert!(stderr(&out).contains("interrupted"), "{}", stderr(&out));
    let kept = eventually("the stalled chunk's bytes kept", || async {
        server_offset(app, key, &upload).await.filter(|n| *n > held)
    })
    .await;
    // The state outlives the interruption.
    assert_eq!(user.stored_uploads(), std::slice::from_ref(&upload));
    (upload, kept)
}

/// A connection cut in the middle of a chunk: `vb` waits, asks the server where the upload
/// stands (`HEAD`) and goes on from there in the same run, never from the start.
async fn a_cut_connection_is_resumed_from_where_the_server_stands(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = User::new();
    let key = app.alice();
    let proxy = Proxy::start(&app.base).await;
    let audio = long_wav(1);
    let len = audio.len() as u64;
    std::fs::write(user.cwd().join("long.wav"), &audio).unwrap();

    proxy.cut_after(5_000_000);
    let env = [
        ("VOICEBIN_URL", proxy.url.as_str()),
        ("VOICEBIN_TOKEN", key.as_str()),
    ];
    let mut child = user.spawn(&["upload", "--json", "long.wav"], &env);
    while_running(&mut child, "the cut", || async {
        (proxy.cuts() > 0).then_some(())
    })
    .await;
    let upload = user
        .stored_uploads()
        .pop()
        .expect("the upload in the state");
    // The server keeps the bytes that came before the cut, once it notices the cut; `vb`'s
    // next request is held until then.
    let kept = eventually("the bytes before the cut kept", || async {
        server_offset(&app, &key, &upload).await.filter(|n| *n > 0)
    })
    .await;
    assert!(kept <= 5_000_000, "{kept}");
    proxy.release();
    let out = child.wait_with_output().await.unwrap();
    let item = json_of(&out)[0]["item"].clone();
    assert_eq!(proxy.cuts(), 1);
    assert!(
        stderr(&out).contains("trying again in 1s"),
        "{}",
        stderr(&out)
    );

    let seen = proxy.take_seen();
    let creations: Vec<&Seen> = seen.iter().filter(|r| r.method == "POST").collect();
    assert_eq!(creations.len(), 1, "{seen:?}");
    let patches: Vec<&Seen> = seen.iter().filter(|r| r.method == "PATCH").collect();
    // The cut chunk, then a HEAD, then the rest from where the server stood, each byte once.
    assert_eq!(patches[0].upload_offset, Some(0), "{seen:?}");
    assert_eq!(patches[0].body, 5_000_000, "{seen:?}");
    let cut_at = seen.iter().position(|r| r == patches[0]).unwrap();
    assert_eq!(seen[cut_at + 1].method, "HEAD", "{seen:?}");
    assert_eq!(patches[1].upload_offset, Some(kept), "{seen:?}");
    let sent: u64 = patches.iter().map(|r| r.body).sum();
    assert_eq!(sent, 5_000_000 + (len - kept), "{seen:?}");

    // One clip, byte for byte the file; nothing left to resume.
    let id = item["id"].as_str().unwrap();
    assert_eq!(item["sha256"], sha256_hex(&audio), "{item}");
    assert_eq!(item["size_bytes"], len);
    assert_eq!(
        sha256_hex(&stored_bytes(&app, &key, id).await),
        sha256_hex(&audio)
    );
    assert_eq!(clip_count(&app, &key).await, 1);
    assert!(user.stored_uploads().is_empty());
}
on_both_backends!(a_cut_connection_is_resumed_from_where_the_server_stands);

/// Ctrl-C in the middle of an upload leaves it on the server and in the state; the next
/// `vb upload` of the same file asks where it stands and sends only the rest.
async fn an_interrupted_upload_resumes_on_the_next_run(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = User::new();
    let key = app.alice();
    let proxy = Proxy::start(&app.base).await;
    let audio = long_wav(1);
    let len = audio.len() as u64;
    std::fs::write(user.cwd().join("long.wav"), &audio).unwrap();
    let (upload, kept) = interrupted_upload(&app, &user, &proxy, &key, "long.wav").await;
    assert_eq!(clip_count(&app, &key).await, 0);

    proxy.pass();
    proxy.take_seen();
    let env = [
        ("VOICEBIN_URL", proxy.url.as_str()),
        ("VOICEBIN_TOKEN", key.as_str()),
    ];
    let out = user
        .vb_with(&["upload", "--json", "long.wav"], "", &env)
        .await;
    let item = json_of(&out)[0]["item"].clone();
    assert!(stderr(&out).contains("resuming at"), "{}", stderr(&out));

    let seen = proxy.take_seen();
    assert!(!seen.iter().any(|r| r.method == "POST"), "{seen:?}");
    assert!(
        seen.iter()
            .any(|r| r.method == "HEAD" && r.path == path_of(&upload)),
        "{seen:?}"
    );
    let patches: Vec<&Seen> = seen.iter().filter(|r| r.method == "PATCH").collect();
    assert!(
        patches.iter().all(|r| r.path == path_of(&upload)),
        "{seen:?}"
    );
    assert_eq!(patches[0].upload_offset, Some(kept), "{seen:?}");
    let sent: u64 = patches.iter().map(|r| r.body).sum();
    assert_eq!(sent, len - kept, "{seen:?}");

    let id = item["id"].as_str().unwrap();
    assert_eq!(item["sha256"], sha256_hex(&audio), "{item}");
    assert_eq!(
        sha256_hex(&stored_bytes(&app, &key, id).await),
        sha256_hex(&audio)
    );
    assert_eq!(clip_count(&app, &key).await, 1);
    assert!(user.stored_uploads().is_empty());
}
on_both_backends!(an_interrupted_upload_resumes_on_the_next_run);

/// A file that changed after its upload was interrupted is not spliced onto the old bytes:
/// the old upload is cancelled and the file is sent whole in a new one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_file_starts_a_new_upload() {
    let app = spawn_app(Backend::Sqlite).await;
    let user = User::new();
    let key = app.alice();
    let proxy = Proxy::start(&app.base).await;
    let before = long_wav(1);
    std::fs::write(user.cwd().join("long.wav"), &before).unwrap();
    let (old_upload, _) = interrupted_upload(&app, &user, &proxy, &key, "long.wav").await;

    // The same length, other bytes.
    let after = long_wav(3);
    assert_eq!(after.len(), before.len());
    assert_ne!(sha256_hex(&after), sha256_hex(&before));
    std::fs::write(user.cwd().join("long.wav"), &after).unwrap();

    proxy.pass();
    proxy.take_seen();
    let env = [
        ("VOICEBIN_URL", proxy.url.as_str()),
        ("VOICEBIN_TOKEN", key.as_str()),
    ];
    let out = user
        .vb_with(&["upload", "--json", "long.wav"], "", &env)
        .await;
    let item = json_of(&out)[0]["item"].clone();
    assert!(
        stderr(&out).contains("the file changed since its upload began; starting over"),
        "{}",
        stderr(&out)
    );

    let seen = proxy.take_seen();
    assert!(
        seen.iter()
            .any(|r| r.method == "DELETE" && r.path == path_of(&old_upload)),
        "{seen:?}"
    );
    assert_eq!(server_offset(&app, &key, &old_upload).await, None);
    let creations = seen.iter().filter(|r| r.method == "POST").count();
    assert_eq!(creations, 1, "{seen:?}");
    let patches: Vec<&Seen> = seen.iter().filter(|r| r.method == "PATCH").collect();
    assert_eq!(patches[0].upload_offset, Some(0), "{seen:?}");
    assert_eq!(
        patches.iter().map(|r| r.body).sum::<u64>(),
        after.len() as u64
    );

    let id = item["id"].as_str().unwrap();
    assert_eq!(item["sha256"], sha256_hex(&after), "{item}");
    assert_eq!(
        sha256_hex(&stored_bytes(&app, &key, id).await),
        sha256_hex(&after)
    );
    assert_eq!(clip_count(&app, &key).await, 1);
    assert!(user.stored_uploads().is_empty());
}

/// A server without resumable uploads (`OPTIONS /api/v1/uploads` not 2xx) gets the file in
/// one `POST /api/v1/audio`, and a description with line breaks in a `PATCH` after it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_without_resumable_uploads_gets_the_file_in_one_request() {
    let app = spawn_app(Backend::Sqlite).await;
    let user = User::new();
    let key = app.alice();
    let proxy = Proxy::start(&app.base).await;
    proxy.hide_resumable_uploads();
    let audio = fixture("hello.wav");
    std::fs::write(user.cwd().join("hello.wav"), &audio).unwrap();
    let env = [
        ("VOICEBIN_URL", proxy.url.as_str()),
        ("VOICEBIN_TOKEN", key.as_str()),
    ];
    let out = user
        .vb_with(
            &[
                "upload",
                "--json",
                "--title",
                "Hello",
                "--description",
                "line one\nline two",
                "hello.wav",
            ],
            "",
            &env,
        )
        .await;
    let item = json_of(&out)[0]["item"].clone();
    let id = item["id"].as_str().unwrap();
    assert_eq!(item["title"], "Hello", "{item}");
    assert_eq!(item["description"], "line one\nline two", "{item}");

    let seen: Vec<(String, String, u64)> = proxy
        .take_seen()
        .into_iter()
        .map(|r| (r.method, r.path, r.body))
        .collect();
    let patch_path = format!("/api/v1/items/{id}");
    let description_len = seen.last().map(|r| r.2).unwrap_or_default();
    assert_eq!(
        seen,
        [
            ("OPTIONS".to_owned(), "/api/v1/uploads".to_owned(), 0),
            (
                "POST".to_owned(),
                "/api/v1/audio".to_owned(),
                audio.len() as u64
            ),
            ("PATCH".to_owned(), patch_path, description_len),
        ]
    );
    assert!(user.stored_uploads().is_empty());
}

/// The earlier review's leftovers: a broken config file does not matter when the URL and the
/// token come from the environment; a config file open to others is used with a warning; a
/// token with a line break is a usage error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_or_open_config_and_a_token_with_a_line_break_are_handled() {
    let app = spawn_app(Backend::Sqlite).await;
    let user = User::new();
    let key = login(&app, &user).await;

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(user.config_file(), std::fs::Permissions::from_mode(0o644))
            .unwrap();
        let out = user.vb(&["account"]).await;
        assert!(ok(&out).contains("alice"));
        assert!(
            stderr(&out).contains("open to other users (mode 644)")
                && stderr(&out).contains("chmod 600"),
            "{}",
            stderr(&out)
        );
    }

    std::fs::write(user.config_file(), "this is { not toml").unwrap();
    let out = user.vb(&["account"]).await;
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("is not a valid configuration file"),
        "{}",
        stderr(&out)
    );
    let env = [
        ("VOICEBIN_URL", app.base.as_str()),
        ("VOICEBIN_TOKEN", key.as_str()),
    ];
    let out = user.vb_with(&["account", "--json"], "", &env).await;
    assert_eq!(json_of(&out)["account"], "alice");

    let out = user
        .vb(&[
            "account",
            "--url",
            &app.base,
            "--token",
            &format!("{key}\r\nX-Injected: 1"),
        ])
        .await;
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(stderr(&out).contains("line break"), "{}", stderr(&out));
}

/// Details the server refuses when the upload is created (an `--expires` it cannot read) stop
/// the other files, as they would be refused too, and leave nothing to resume.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_details_stop_the_other_files_and_leave_no_upload_to_resume() {
    let app = spawn_app(Backend::Sqlite).await;
    let user = User::new();
    login(&app, &user).await;
    for name in ["a.wav", "b.wav"] {
        std::fs::write(user.cwd().join(name), fixture("hello.wav")).unwrap();
    }
    let out = user
        .vb(&["upload", "--expires", "soon", "a.wav", "b.wav"])
        .await;
    assert_eq!(code(&out), 5, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("error: a.wav: ") && stderr(&out).contains("field `expires_in`"),
        "{}",
        stderr(&out)
    );
    assert!(
        stderr(&out).contains("the 1 other file(s) were not sent"),
        "{}",
        stderr(&out)
    );
    assert!(user.stored_uploads().is_empty());
    assert_eq!(clip_count(&app, &app.alice()).await, 0);
}

/// Appends (and the clip's GET) count as API requests: when the account's budget runs out
/// mid-upload, `vb` waits as long as the server's `Retry-After` says (when that is short) and
/// goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_limited_upload_is_waited_out() {
    let mut quotas = voicebin::RateLimitSettings::off();
    // One request per five seconds after a burst of two: the appends come well within that
    // however loaded the machine (at 2/2s a loaded run spread them out and was never refused).
    quotas.reads.per_account = voicebin::Quota::parse("2/10s").unwrap();
    let app = spawn_app_with(
        Backend::Sqlite,
        Options {
            rate_limits: voicebin::RateLimiting {
                quotas,
                ..voicebin::RateLimiting::default()
            },
            ..Options::default()
        },
    )
    .await;
    let user = User::new();
    let key = app.alice();
    let audio = long_wav(1);
    std::fs::write(user.cwd().join("long.wav"), &audio).unwrap();
    // Three appends and the clip's GET, against two requests per ten seconds.
    let out = user
        .vb(&[
            "upload", "--json", "--url", &app.base, "--token", &key, "long.wav",
        ])
        .await;
    let item = json_of(&out)[0]["item"].clone();
    assert!(
        stderr(&out).contains("long.wav: Rate limit exceeded: ")
            && stderr(&out).contains("; waiting "),
        "{}",
        stderr(&out)
    );
    assert_eq!(item["sha256"], sha256_hex(&audio), "{item}");
    let id = item["id"].as_str().unwrap();
    assert_eq!(
        sha256_hex(&stored_bytes(&app, &key, id).await),
        sha256_hex(&audio)
    );
    assert!(user.stored_uploads().is_empty());
}
