//! How the parent reads the child's end. (The child itself runs as the `voicebin` binary: its
//! tests, with real crafted files, are in the root package's `tests/api/sandbox.rs`.)

use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;

use voicebin_commands::ScanError;
use voicebin_domain::{ScanOutcome, ScanVerdict};

use super::*;

fn settings() -> SandboxSettings {
    SandboxSettings {
        max_memory_bytes: 256 * 1024 * 1024,
        max_cpu_secs: 7,
        ..SandboxSettings::new("voicebin".into())
    }
}

fn killed_by(signal: i32) -> ExitStatus {
    ExitStatus::from_raw(signal)
}

fn exited(code: i32) -> ExitStatus {
    ExitStatus::from_raw(code << 8)
}

fn rejected_detail(answer: Result<ScanOutcome, ScanError>) -> String {
    let outcome = answer.expect("an outcome");
    assert_eq!(outcome.verdict, ScanVerdict::Rejected);
    assert_eq!(outcome.scanner, AUDIO_PROBE);
    assert!(outcome.audio.is_none());
    outcome.detail.expect("a reason")
}

#[test]
fn a_report_is_the_answer() {
    let outcome = ScanOutcome {
        verdict: ScanVerdict::Rejected,
        audio: None,
        detail: Some("no audio track".into()),
        scanner: AUDIO_PROBE.into(),
    };
    let stdout = serde_json::to_vec(&Report::Outcome(outcome.clone())).unwrap();
    let answer = classify(exited(0), &stdout, b"", &settings()).unwrap();
    assert_eq!(answer, outcome);

    let stdout = serde_json::to_vec(&Report::Unreadable("gone".into())).unwrap();
    let answer = classify(exited(0), &stdout, b"", &settings());
    assert!(
        matches!(answer, Err(ScanError::Unreadable(_))),
        "{answer:?}"
    );
}

#[test]
fn the_cpu_limit_rejects_the_file_and_says_so() {
    let detail = rejected_detail(classify(killed_by(libc::SIGXCPU), b"", b"", &settings()));
    assert!(detail.contains("7 s of CPU time"), "{detail}");
}

#[test]
fn an_allocation_past_the_memory_limit_rejects_the_file_and_says_so() {
    let stderr = b"memory allocation of 1073741824 bytes failed\n";
    let detail = rejected_detail(classify(killed_by(libc::SIGABRT), b"", stderr, &settings()));
    assert!(detail.contains("256 MiB of memory"), "{detail}");
}

#[test]
fn a_stack_overflow_or_another_crash_rejects_the_file() {
    let stderr = b"\nthread 'main' has overflowed its stack\nfatal runtime error: stack overflow\n";
    let detail = rejected_detail(classify(killed_by(libc::SIGABRT), b"", stderr, &settings()));
    assert!(detail.contains("overflow its stack"), "{detail}");
    for signal in [libc::SIGSEGV, libc::SIGBUS, libc::SIGILL, libc::SIGABRT] {
        let detail = rejected_detail(classify(killed_by(signal), b"", b"", &settings()));
        assert!(detail.contains(&format!("signal {signal}")), "{detail}");
    }
}

#[test]
fn being_killed_from_outside_exiting_with_an_error_or_answering_nonsense_is_transient() {
    for (status, stdout) in [
        (killed_by(libc::SIGKILL), &b""[..]),
        (killed_by(libc::SIGTERM), b""),
        (exited(i32::from(EXIT_SETUP)), b""),
        // An uncaught panic, or clap refusing an unknown subcommand (an older binary).
        (exited(101), b""),
        (exited(2), b""),
        (exited(0), b"not json"),
        (exited(0), b""),
    ] {
        let answer = classify(status, stdout, b"some error", &settings());
        assert!(
            matches!(answer, Err(ScanError::Analyser(_))),
            "{status:?}: {answer:?}"
        );
    }
}

#[tokio::test]
async fn a_program_that_cannot_start_is_a_transient_failure() {
    let sandbox = Sandbox::new(SandboxSettings::new(
        "/nonexistent/voicebin-analyser".into(),
    ));
    let answer = sandbox.analyse(std::path::Path::new("/dev/null")).await;
    match answer {
        Err(ScanError::Analyser(why)) => assert!(why.contains("could not start"), "{why}"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_child_that_outlives_the_timeout_is_killed_and_the_failure_is_transient() {
    // A script that ignores its arguments and sleeps stands in for an analyser that hangs.
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("hang");
    std::fs::write(&script, "#!/bin/sh\nexec sleep 30\n").unwrap();
    let mut permissions = std::fs::metadata(&script).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut permissions, 0o755);
    std::fs::set_permissions(&script, permissions).unwrap();
    let sandbox = Sandbox::new(SandboxSettings {
        timeout: std::time::Duration::from_millis(300),
        ..SandboxSettings::new(script)
    });
    let started = std::time::Instant::now();
    let answer = sandbox.analyse(std::path::Path::new("/dev/null")).await;
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
    match answer {
        Err(ScanError::Analyser(why)) => assert!(why.contains("killed"), "{why}"),
        other => panic!("{other:?}"),
    }
}
