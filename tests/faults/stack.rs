//! A production-mode voicebin made of real processes (`voicebin serve`, `voicebin worker`) over
//! real PostgreSQL, S3 (moto), RabbitMQ and clamd, which tests can kill and restart.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rand::Rng;
use serde_json::Value;
use sqlx::Connection;

pub fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

/// Only one fault test runs at a time: they stop shared services.
pub static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

pub struct Stack {
    pub data_dir: tempfile::TempDir,
    pub port: u16,
    pub base: String,
    pub database_url: String,
    pub bucket: String,
    pub queue: String,
    pub client: reqwest::Client,
    pub key: String,
    pub extra_env: Vec<(String, String)>,
    pub with_s3: bool,
    pub with_rabbit: bool,
    processes: Vec<Child>,
}

async fn fresh_database() -> String {
    let admin = env_or(
        "VOICEBIN_TEST_DATABASE_URL",
        "postgres://postgres:postgres@127.0.0.1:5432/postgres",
    );
    let mut conn = sqlx::PgConnection::connect(&admin)
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL at {admin} is needed (run scripts/test): {e}"));
    let name = format!("vbtest_{:016x}", rand::thread_rng().gen::<u64>());
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .unwrap();
    let (base, _) = admin.rsplit_once('/').unwrap();
    format!("{base}/{name}")
}

impl Stack {
    pub async fn new(with_s3: bool, with_rabbit: bool) -> Stack {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let suffix = format!(
            "{:012x}",
            rand::thread_rng().gen::<u64>() & 0xffff_ffff_ffff
        );
        let mut stack = Stack {
            data_dir: tempfile::tempdir().unwrap(),
            port,
            base: format!("http://127.0.0.1:{port}"),
            database_url: fresh_database().await,
            bucket: format!("vbtest-{suffix}"),
            queue: format!("vbtest.faults.{suffix}"),
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap(),
            key: String::new(),
            extra_env: Vec::new(),
            with_s3,
            with_rabbit,
            processes: Vec::new(),
        };
        let output = stack
            .command()
            .args(["keys", "mint", "--account", "alice"])
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        stack.key = String::from_utf8(output.stdout).unwrap().trim().to_owned();
        stack
    }

    fn command(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_voicebin"));
        cmd.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("RUST_LOG", "info")
            .env("VOICEBIN_DATA_DIR", self.data_dir.path())
            .env("VOICEBIN_PUBLIC_URL", &self.base)
            .env("DATABASE_URL", &self.database_url)
            .env(
                "VOICEBIN_CLAMD_ADDR",
                env_or("VOICEBIN_TEST_CLAMD_ADDR", "127.0.0.1:3311"),
            );
        if self.with_s3 {
            cmd.env(
                "VOICEBIN_S3_ENDPOINT",
                env_or("VOICEBIN_TEST_S3_ENDPOINT", "http://127.0.0.1:9090"),
            )
            .env("VOICEBIN_S3_BUCKET", &self.bucket)
            .env("VOICEBIN_S3_ACCESS_KEY", "test")
            .env("VOICEBIN_S3_SECRET_KEY", "test");
        }
        if self.with_rabbit {
            cmd.env(
                "VOICEBIN_AMQP_URL",
                env_or(
                    "VOICEBIN_TEST_AMQP_URL",
                    "amqp://guest:guest@127.0.0.1:5672/%2f",
                ),
            )
            .env("VOICEBIN_SCAN_QUEUE", &self.queue);
        }
        for (k, v) in &self.extra_env {
            cmd.env(k, v);
        }
        cmd
    }

    fn log_path(&self, name: &str) -> PathBuf {
        self.data_dir.path().join(format!("{name}.log"))
    }

    fn spawn(&mut self, name: &str, args: &[&str]) -> usize {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path(name))
            .unwrap();
        let child = self
            .command()
            .args(args)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.processes.push(child);
        self.processes.len() - 1
    }

    /// Starts `voicebin serve` and waits until it answers.
    pub async fn start_api(&mut self) -> usize {
        let listen = format!("127.0.0.1:{}", self.port);
        let i = self.spawn("api", &["serve", "--listen", &listen]);
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if self
                .client
                .get(format!("{}/healthz", self.base))
                .send()
                .await
                .is_ok_and(|r| r.status() == 200)
            {
                return i;
            }
            if let Ok(Some(status)) = self.processes[i].try_wait() {
                panic!("serve exited with {status}: {}", self.logs("api"));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("serve did not start: {}", self.logs("api"));
    }

    /// Starts `voicebin worker`.
    pub fn start_worker(&mut self) -> usize {
        self.spawn("worker", &["worker"])
    }

    /// SIGKILL, no chance to clean up.
    pub fn kill(&mut self, i: usize) {
        let _ = self.processes[i].kill();
        let _ = self.processes[i].wait();
    }

    /// Whether process `i` is still running.
    pub fn is_running(&mut self, i: usize) -> bool {
        matches!(self.processes[i].try_wait(), Ok(None))
    }

    /// The sandboxed analysers (`voicebin analyse-sandboxed`) process `i` is running: proof
    /// that it took a scan job and is scanning.
    pub fn analysers_of(&self, i: usize) -> Vec<u32> {
        let parent = self.processes[i].id();
        let Ok(entries) = std::fs::read_dir("/proc") else {
            return Vec::new();
        };
        entries
            .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
            .filter(|pid| {
                let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
                // `pid (comm) state ppid …`; comm may hold spaces, so read after the last ')'.
                let ppid = stat
                    .rsplit_once(')')
                    .and_then(|(_, rest)| rest.split_whitespace().nth(1))
                    .and_then(|ppid| ppid.parse::<u32>().ok());
                ppid == Some(parent) && is_analyser(*pid)
            })
            .collect()
    }

    /// Runs a one-shot `voicebin` command with the stack's configuration; returns stdout.
    pub fn run(&self, args: &[&str]) -> String {
        let output = self.command().args(args).output().unwrap();
        assert!(
            output.status.success(),
            "voicebin {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    }

    pub fn logs(&self, name: &str) -> String {
        std::fs::read_to_string(self.log_path(name)).unwrap_or_default()
    }

    pub async fn upload(&self, body: Vec<u8>) -> reqwest::Response {
        self.client
            .post(format!("{}/api/v1/audio", self.base))
            .bearer_auth(&self.key)
            .body(body)
            .send()
            .await
            .unwrap()
    }

    pub async fn owner_view(&self, id: &str) -> Option<Value> {
        let res = self
            .client
            .get(format!("{}/api/v1/items/{id}", self.base))
            .bearer_auth(&self.key)
            .send()
            .await
            .ok()?;
        if res.status() != 200 {
            return None;
        }
        res.json().await.ok()
    }

    /// Waits until the clip has a verdict; panics with the logs after `timeout`.
    pub async fn wait_verdict(&self, id: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Some(view) = self.owner_view(id).await {
                let state = view["scan_state"].as_str().unwrap_or_default().to_owned();
                if state != "pending" {
                    return state;
                }
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        panic!(
            "{id} still pending\napi:\n{}\nworker:\n{}",
            self.logs("api"),
            self.logs("worker")
        );
    }

    pub async fn event_count(&self) -> i64 {
        let mut conn = sqlx::PgConnection::connect(&self.database_url)
            .await
            .unwrap();
        sqlx::query_scalar("SELECT COUNT(*) FROM events")
            .fetch_one(&mut conn)
            .await
            .unwrap()
    }

    /// Blobs in the local blob directory.
    pub fn blob_count(&self) -> usize {
        std::fs::read_dir(self.data_dir.path().join("blobs/clips"))
            .map(|d| d.count())
            .unwrap_or(0)
    }

    pub async fn event_types(&self, id: &str) -> Vec<String> {
        let mut conn = sqlx::PgConnection::connect(&self.database_url)
            .await
            .unwrap();
        sqlx::query_scalar(
            "SELECT event_type FROM events WHERE aggregate_id = $1 ORDER BY sequence",
        )
        .bind(id)
        .fetch_all(&mut conn)
        .await
        .unwrap()
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        for child in &mut self.processes {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Whether `pid` is a live (not zombie) `voicebin analyse-sandboxed` process.
pub fn is_analyser(pid: u32) -> bool {
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    // A zombie's cmdline is empty.
    String::from_utf8_lossy(&cmdline).contains("analyse-sandboxed")
}

/// Runs a shell command for a service outage, panicking with its output on failure.
pub fn sh(script: &str) {
    let output = Command::new("bash").arg("-c").arg(script).output().unwrap();
    assert!(
        output.status.success(),
        "`{script}` failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Restarts a stopped service when dropped, even if the test panics.
pub struct Restore(pub &'static str);

impl Drop for Restore {
    fn drop(&mut self) {
        let _ = Command::new("bash").arg("-c").arg(self.0).status();
    }
}

pub fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/audio")
            .join(name),
    )
    .unwrap()
}
