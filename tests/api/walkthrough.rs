//! Runs the README's curl walkthrough, verbatim, against the real binary.

use std::process::{Command, Stdio};
use std::time::Duration;

fn readme_walkthrough() -> String {
    readme_block("walkthrough")
}

/// The `sh` block between `<!-- {name}:start -->` and `<!-- {name}:end -->` in the README.
fn readme_block(name: &str) -> String {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let start = readme
        .find(&format!("<!-- {name}:start -->"))
        .expect("start marker");
    let end = readme
        .find(&format!("<!-- {name}:end -->"))
        .expect("end marker");
    let block = &readme[start..end];
    let code_start = block.find("```sh\n").expect("sh code block") + 6;
    let code_end = block[code_start..].find("```").unwrap() + code_start;
    block[code_start..code_end].to_owned()
}

/// `voicebin serve` in embedded mode over `data`, once ready; its base URL.
async fn serve(data: &std::path::Path) -> (std::process::Child, String) {
    let bin = env!("CARGO_BIN_EXE_voicebin");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let server = Command::new(bin)
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .env("VOICEBIN_DATA_DIR", data)
        .env_remove("DATABASE_URL")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let client = reqwest::Client::new();
    let mut ready = false;
    for _ in 0..100 {
        if client
            .get(format!("{url}/readyz"))
            .send()
            .await
            .is_ok_and(|r| r.status() == 200)
        {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(ready, "server did not become ready");
    (server, url)
}

/// Runs a README block with bash (`voicebin` on the `PATH`) against the server at `url` over
/// `data`; its standard output, once it succeeded.
fn run_block(block: String, data: &std::path::Path, url: &str) -> String {
    let bin = env!("CARGO_BIN_EXE_voicebin");
    let bin_dir = std::path::Path::new(bin).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let script = format!("set -euo pipefail\n{block}");
    let output = Command::new("bash")
        .arg("-c")
        .arg(&script)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("PATH", &path)
        .env("VOICEBIN_DATA_DIR", data)
        .env("VOICEBIN_PUBLIC_URL", url)
        .env("VOICEBIN", url)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "block failed:\n{stdout}\n{stderr}");
    stdout
}

#[tokio::test]
async fn the_readme_resumable_upload_example_works_against_the_real_binary() {
    let data = tempfile::tempdir().unwrap();
    let (mut server, url) = serve(data.path()).await;
    let stdout = run_block(readme_block("resumable"), data.path(), &url);
    let _ = server.kill();
    let _ = server.wait();
    // The tus upload's last append names its clip; the draft's answers with it.
    let location = stdout
        .lines()
        .find_map(|l| l.strip_prefix("content-location: "))
        .unwrap_or_else(|| panic!("no Content-Location:\n{stdout}"));
    assert!(
        location.starts_with(&format!("{url}/api/v1/items/")),
        "{stdout}"
    );
    assert!(stdout.contains("\"title\":\"Drafted\""), "{stdout}");
    assert!(stdout.contains("\"size_bytes\":"), "{stdout}");
}

#[tokio::test]
async fn the_readme_walkthrough_works_against_the_real_binary() {
    let bin = env!("CARGO_BIN_EXE_voicebin");
    let data = tempfile::tempdir().unwrap();
    let (mut server, url) = serve(data.path()).await;
    let run = |block: String| run_block(block, data.path(), &url);
    let stdout = run(readme_walkthrough());
    // The walkthrough ends by fetching the deleted clip, which must be gone.
    assert!(stdout.contains("\"scan_state\":\"clean\""), "{stdout}");
    assert!(stdout.trim_end().ends_with("410"), "{stdout}");

    // The moderation example: report, queue, takedown, the same bytes refused, the owner's
    // view and the operator's history.
    let stdout = run(readme_block("moderation"));
    assert!(stdout.contains("\"reason\":\"spam\""), "{stdout}");
    assert!(stdout.contains("\"report_count\":1"), "{stdout}");
    assert!(stdout.lines().any(|l| l.trim() == "451"), "{stdout}");
    assert!(stdout.contains("\"state\":\"removed\""), "{stdout}");
    for event in ["Uploaded", "ScanCompleted", "Reported", "Removed"] {
        assert!(stdout.contains(event), "{event} missing:\n{stdout}");
    }
    let _ = server.kill();
    let _ = server.wait();

    // The operator command replays the history into fresh read models.
    let rebuild = Command::new(bin)
        .args(["projections", "rebuild"])
        .env("VOICEBIN_DATA_DIR", data.path())
        .env_remove("DATABASE_URL")
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&rebuild.stderr);
    assert!(rebuild.status.success(), "{report}");
    assert!(
        // 7 events, or 8 once the walkthrough's download was flushed as `DownloadsCounted`.
        report.contains("rebuilt the read models (views, reports, blocklist) of 2 clips from 7 ")
            || report
                .contains("rebuilt the read models (views, reports, blocklist) of 2 clips from 8 "),
        "{report}"
    );
}
