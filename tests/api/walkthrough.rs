//! Runs the README's curl walkthrough, verbatim, against the real binary.

use std::process::{Command, Stdio};
use std::time::Duration;

fn readme_walkthrough() -> String {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let start = readme
        .find("<!-- walkthrough:start -->")
        .expect("walkthrough start marker");
    let end = readme
        .find("<!-- walkthrough:end -->")
        .expect("walkthrough end marker");
    let block = &readme[start..end];
    let code_start = block.find("```sh\n").expect("sh code block") + 6;
    let code_end = block[code_start..].find("```").unwrap() + code_start;
    block[code_start..code_end].to_owned()
}

#[tokio::test]
async fn the_readme_walkthrough_works_against_the_real_binary() {
    let bin = env!("CARGO_BIN_EXE_voicebin");
    let data = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let mut server = Command::new(bin)
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .env("VOICEBIN_DATA_DIR", data.path())
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

    let bin_dir = std::path::Path::new(bin).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let script = format!("set -euo pipefail\n{}", readme_walkthrough());
    let output = Command::new("bash")
        .arg("-c")
        .arg(&script)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("PATH", path)
        .env("VOICEBIN_DATA_DIR", data.path())
        .env("VOICEBIN_PUBLIC_URL", &url)
        .env("VOICEBIN", &url)
        .output()
        .unwrap();
    let _ = server.kill();
    let _ = server.wait();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "walkthrough failed:\n{stdout}\n{stderr}"
    );
    // The walkthrough ends by fetching the deleted clip, which must be gone.
    assert!(stdout.contains("\"scan_state\":\"clean\""), "{stdout}");
    assert!(stdout.trim_end().ends_with("410"), "{stdout}");

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
        report.contains(
            "rebuilt the read models (views, reports, blocklist) of 1 clip from 3 events"
        ),
        "{report}"
    );
}
