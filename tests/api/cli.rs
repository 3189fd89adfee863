//! `vb`, the command-line client (`cli/`, ADR 0024), against the real server: it signs in
//! and keeps its config private, uploads past a refused file, lists, reads, edits, downloads
//! (resuming a `.part` with `Range` and `If-Range`) and deletes, and ends with the documented
//! exit codes.
//!
//! The client is its own package, so Cargo gives these tests no `CARGO_BIN_EXE_vb`: the
//! first test to need it builds it into the target directory these tests were built in.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::OnceLock;

use serde_json::Value;

use crate::helpers::{fixture, spawn_app, spawn_app_with, Backend, Options, TestApp};
use crate::on_both_backends;

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
        let mut child = tokio::process::Command::new(vb_binary())
            .args(args)
            .current_dir(self.cwd())
            .env("HOME", self.home.path())
            .env("XDG_CONFIG_HOME", self.home.path().join("config"))
            .env_remove("VOICEBIN_URL")
            .env_remove("VOICEBIN_TOKEN")
            .env_remove("VOICEBIN_CONFIG")
            .envs(env.iter().copied())
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("run vb");
        let mut input = child.stdin.take().unwrap();
        input.write_all(stdin.as_bytes()).await.unwrap();
        drop(input);
        child.wait_with_output().await.unwrap()
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
