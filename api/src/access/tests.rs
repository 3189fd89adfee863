use chrono::Utc;
use voicebin_domain::{
    AccountId, ClipEvent, ContentType, DownloadLimit, Filename, ModerationReason, ScanOutcome,
    ScanVerdict, Sha256Digest,
};

use super::*;

const OWNER: &str = "alice";

fn principal(account: &str, scopes: &[&str]) -> Principal {
    Principal {
        account: account.into(),
        scopes: scopes.iter().map(|s| s.to_string()).collect(),
        token_id: None,
        client_id: None,
        confirmation: None,
    }
}

fn owner() -> Principal {
    principal(OWNER, &[READ, CREATE, DELETE])
}

fn moderator() -> Principal {
    principal("mod", &[MODERATE])
}

fn stranger() -> Principal {
    principal("mallory", &[READ, CREATE, DELETE])
}

/// A clip uploaded by `OWNER` (limit 1), then the events of `then`.
fn clip(then: &[ClipEvent]) -> ClipView {
    let uploaded = ClipEvent::Uploaded {
        owner: AccountId::parse(OWNER).unwrap(),
        title: None,
        description: None,
        filename: Filename::parse("a.wav").unwrap(),
        content_type: ContentType::from_sniffed("audio/wav"),
        size_bytes: 10,
        sha256: Sha256Digest::from_hex(&"0".repeat(64)).unwrap(),
        blob_key: "clips/x".into(),
        download_limit: Some(DownloadLimit::new(1).unwrap()),
        expires_at: None,
        at: Utc::now(),
    };
    let mut view = ClipView::apply(None, "AAAAAAAAAAAAAAAA", 1, &uploaded);
    for (i, event) in then.iter().enumerate() {
        view = ClipView::apply(view, "AAAAAAAAAAAAAAAA", i as i64 + 2, event);
    }
    view.unwrap()
}

fn scanned(verdict: ScanVerdict) -> ClipEvent {
    ClipEvent::ScanCompleted {
        outcome: ScanOutcome {
            verdict,
            audio: None,
            detail: None,
            scanner: "test".into(),
        },
        at: Utc::now(),
    }
}

fn by_moderator() -> AccountId {
    AccountId::parse("mod").unwrap()
}

fn reason() -> ModerationReason {
    ModerationReason::parse("because").unwrap()
}

fn blocked() -> ClipEvent {
    ClipEvent::Blocked {
        by: by_moderator(),
        reason: reason(),
        at: Utc::now(),
    }
}

fn removed() -> ClipEvent {
    ClipEvent::Removed {
        by: by_moderator(),
        reason: reason(),
        sha256: Sha256Digest::from_hex(&"0".repeat(64)).unwrap(),
        at: Utc::now(),
    }
}

fn deleted() -> ClipEvent {
    ClipEvent::Deleted {
        by: AccountId::parse(OWNER).unwrap(),
        at: Utc::now(),
    }
}

fn downloaded() -> ClipEvent {
    ClipEvent::Downloaded { at: Utc::now() }
}

#[test]
fn the_public_reads_only_clean_visible_clips() {
    let pending = clip(&[]);
    let clean = clip(&[scanned(ScanVerdict::Clean)]);
    let rejected = clip(&[scanned(ScanVerdict::Rejected)]);
    let hidden = clip(&[scanned(ScanVerdict::Clean), blocked()]);
    for want in [Want::Metadata, Want::Audio] {
        assert_eq!(check(&clean, None, want), Ok(Reader::Public));
        assert_eq!(check(&clean, Some(&stranger()), want), Ok(Reader::Public));
        for view in [&pending, &rejected, &hidden] {
            assert_eq!(check(view, None, want), Err(Refusal::NotFound), "{want:?}");
        }
    }
}

#[test]
fn owners_with_read_and_moderators_read_every_state() {
    let pending = clip(&[]);
    let blocked = clip(&[scanned(ScanVerdict::Clean), blocked()]);
    for view in [&pending, &blocked] {
        for want in [Want::Metadata, Want::Audio] {
            assert_eq!(check(view, Some(&owner()), want), Ok(Reader::Owner));
            assert_eq!(check(view, Some(&moderator()), want), Ok(Reader::Moderator));
        }
    }
    // Without `voice:read` the owner reads as the public does.
    let no_read = principal(OWNER, &[CREATE]);
    assert_eq!(
        check(&pending, Some(&no_read), Want::Metadata),
        Err(Refusal::NotFound)
    );
}

#[test]
fn removed_clips_are_451_to_the_public_and_have_no_audio_for_anyone() {
    let view = clip(&[scanned(ScanVerdict::Clean), removed()]);
    assert_eq!(check(&view, None, Want::Metadata), Err(Refusal::Removed));
    assert_eq!(
        check(&view, Some(&owner()), Want::Metadata),
        Ok(Reader::Owner)
    );
    for caller in [None, Some(owner()), Some(moderator())] {
        assert_eq!(
            check(&view, caller.as_ref(), Want::Audio),
            Err(Refusal::Removed)
        );
    }
}

#[test]
fn an_exhausted_clip_is_only_its_owners_and_moderators_but_can_be_reported() {
    let view = clip(&[scanned(ScanVerdict::Clean), downloaded()]);
    assert_eq!(check(&view, None, Want::Audio), Err(Refusal::Exhausted));
    assert_eq!(check(&view, None, Want::Metadata), Err(Refusal::Exhausted));
    assert_eq!(check(&view, None, Want::Report), Ok(Reader::Public));
    assert_eq!(check(&view, Some(&owner()), Want::Audio), Ok(Reader::Owner));
    assert_eq!(
        check(&view, Some(&owner()), Want::Metadata),
        Ok(Reader::Owner)
    );
    assert_eq!(
        check(&view, Some(&moderator()), Want::Audio),
        Ok(Reader::Moderator)
    );
}

#[test]
fn deleted_clips_are_gone_except_their_history_for_moderators() {
    let view = clip(&[scanned(ScanVerdict::Clean), deleted()]);
    for want in [Want::Metadata, Want::Audio, Want::Change] {
        assert_eq!(check(&view, Some(&owner()), want), Err(Refusal::Gone));
    }
    assert_eq!(
        check(&view, Some(&owner()), Want::History),
        Err(Refusal::Gone)
    );
    assert_eq!(
        check(&view, Some(&moderator()), Want::History),
        Ok(Reader::Moderator)
    );
    assert_eq!(
        check(&view, Some(&stranger()), Want::History),
        Err(Refusal::NotFound)
    );
}

#[test]
fn only_the_owner_changes_a_clip_and_needs_read_for_its_history() {
    let view = clip(&[scanned(ScanVerdict::Clean)]);
    assert_eq!(
        check(&view, Some(&owner()), Want::Change),
        Ok(Reader::Owner)
    );
    let create_only = principal(OWNER, &[CREATE]);
    assert_eq!(
        check(&view, Some(&create_only), Want::Change),
        Ok(Reader::Owner)
    );
    assert_eq!(
        check(&view, Some(&create_only), Want::History),
        Err(Refusal::MissingScope {
            scope: READ,
            dpop: false
        })
    );
    for caller in [None, Some(stranger()), Some(moderator())] {
        assert_eq!(
            check(&view, caller.as_ref(), Want::Change),
            Err(Refusal::NotFound)
        );
    }
    assert_eq!(check(&view, None, Want::History), Err(Refusal::NotFound));
}

#[test]
fn an_owners_default_scopes_are_read_create_and_delete() {
    assert_eq!(OWNER_SCOPES, [READ, CREATE, DELETE].join(","));
}

#[test]
fn reading_as_a_reader_follows_the_same_rule_as_checking_a_caller() {
    let pending = clip(&[]);
    let blocked = clip(&[scanned(ScanVerdict::Clean), blocked()]);
    let exhausted = clip(&[scanned(ScanVerdict::Clean), downloaded()]);
    let removed = clip(&[scanned(ScanVerdict::Clean), removed()]);
    let gone = clip(&[scanned(ScanVerdict::Clean), deleted()]);
    let callers = [
        (Reader::Owner, Some(owner())),
        (Reader::Moderator, Some(moderator())),
        (Reader::Public, None),
    ];
    for view in [&pending, &blocked, &exhausted, &removed, &gone] {
        for (reader, caller) in &callers {
            for want in [Want::Metadata, Want::Report, Want::Audio] {
                assert_eq!(
                    read_as(view, *reader, want),
                    check(view, caller.as_ref(), want),
                    "{reader:?} {want:?}"
                );
            }
        }
    }
    assert_eq!(
        read_as(&blocked, Reader::Moderator, Want::Audio),
        Ok(Reader::Moderator)
    );
    assert_eq!(
        read_as(&removed, Reader::Moderator, Want::Audio),
        Err(Refusal::Removed)
    );
    assert_eq!(
        read_as(&gone, Reader::Owner, Want::Audio),
        Err(Refusal::Gone)
    );
}

#[test]
fn a_clip_past_its_expiry_is_gone_for_everyone_before_and_after_the_sweeper_records_it() {
    let past = Utc::now() - chrono::Duration::seconds(1);
    let owner_key = owner();
    let changed = ClipEvent::ExpiryChanged {
        by: AccountId::parse(OWNER).unwrap(),
        expires_at: Some(past),
        at: past - chrono::Duration::seconds(1),
    };
    let due = clip(&[scanned(ScanVerdict::Clean), changed.clone()]);
    let recorded = clip(&[
        scanned(ScanVerdict::Clean),
        changed,
        ClipEvent::Expired {
            expires_at: past,
            at: past,
        },
    ]);
    for view in [&due, &recorded] {
        for want in [Want::Metadata, Want::Report, Want::Audio] {
            for caller in [None, Some(&owner_key), Some(&moderator())] {
                assert_eq!(
                    check(view, caller, want),
                    Err(Refusal::Expired),
                    "{want:?} {caller:?}"
                );
            }
        }
        assert_eq!(
            check(view, Some(&owner_key), Want::Change),
            Err(Refusal::Expired)
        );
        assert_eq!(
            check(view, Some(&owner_key), Want::History),
            Err(Refusal::Expired)
        );
        // The audit record stays with moderators.
        assert_eq!(
            check(view, Some(&moderator()), Want::History),
            Ok(Reader::Moderator)
        );
    }
    // Not yet: an expiry ahead changes nothing.
    let ahead = clip(&[
        scanned(ScanVerdict::Clean),
        ClipEvent::ExpiryChanged {
            by: AccountId::parse(OWNER).unwrap(),
            expires_at: Some(Utc::now() + chrono::Duration::hours(1)),
            at: Utc::now(),
        },
    ]);
    assert_eq!(check(&ahead, None, Want::Audio), Ok(Reader::Public));
}
