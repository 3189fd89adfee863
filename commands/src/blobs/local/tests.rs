//! The local store against a temporary directory.

use super::*;
use crate::blobs::testing::{body, collect, put_x, sorted};
use crate::ports::PartialBlobs;
use bytes::Bytes;

#[tokio::test]
async fn a_stored_blob_reads_back_whole_and_by_range() {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalBlobStore::open(dir.path()).await.unwrap();
    let n = store
        .put(
            "clips/abc",
            body(vec![
                Ok(Bytes::from_static(b"hello ")),
                Ok(Bytes::from_static(b"world")),
            ]),
        )
        .await
        .unwrap();
    assert_eq!(n, 11);
    assert_eq!(
        collect(store.get("clips/abc", None).await.unwrap()).await,
        b"hello world"
    );
    assert_eq!(
        collect(store.get("clips/abc", Some(6..11)).await.unwrap()).await,
        b"world"
    );
    store.delete("clips/abc").await.unwrap();
    assert!(!store.exists("clips/abc").await.unwrap());
    store.delete("clips/abc").await.unwrap();
}

#[tokio::test]
async fn a_blob_larger_than_a_read_chunk_reads_back_whole_and_by_range() {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalBlobStore::open(dir.path()).await.unwrap();
    let data: Vec<u8> = (0..READ_CHUNK * 2 + 1000)
        .map(|i| (i % 251) as u8)
        .collect();
    store
        .put("clips/big", body(vec![Ok(Bytes::from(data.clone()))]))
        .await
        .unwrap();
    assert_eq!(
        collect(store.get("clips/big", None).await.unwrap()).await,
        data
    );
    let (a, b) = (READ_CHUNK as u64 - 10, 2 * READ_CHUNK as u64 + 10);
    assert_eq!(
        collect(store.get("clips/big", Some(a..b)).await.unwrap()).await,
        &data[a as usize..b as usize]
    );
    assert!(matches!(
        store.get("clips/missing", None).await,
        Err(BlobError::NotFound)
    ));
}

#[tokio::test]
async fn a_body_synced_early_while_it_arrives_is_stored_whole() {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalBlobStore::open(dir.path()).await.unwrap();
    // Past the early-sync mark three times, in pieces, the last one short.
    let piece = 1024 * 1024;
    let pieces = (3 * EARLY_SYNC as usize) / piece + 1;
    let data: Vec<u8> = (0..pieces * piece - 77).map(|i| (i % 253) as u8).collect();
    let chunks = data
        .chunks(piece)
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    let n = store.put("clips/long", body(chunks)).await.unwrap();
    assert_eq!(n, data.len() as u64);
    assert!(collect(store.get("clips/long", None).await.unwrap()).await == data);
}

#[tokio::test]
async fn a_failed_body_leaves_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalBlobStore::open(dir.path()).await.unwrap();
    let err = store
        .put(
            "clips/abc",
            body(vec![
                Ok(Bytes::from_static(b"partial")),
                Err(std::io::Error::other("client went away")),
            ]),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, BlobError::Source(_)));
    assert!(!store.exists("clips/abc").await.unwrap());
    assert_eq!(
        std::fs::read_dir(dir.path().join(".tmp")).unwrap().count(),
        0
    );
}

/// Sets the blob's modification time `ago` in the past.
fn age(dir: &Path, key: &str, ago: Duration) {
    let file = std::fs::File::options()
        .write(true)
        .open(dir.join(key))
        .unwrap();
    file.set_modified(SystemTime::now() - ago).unwrap();
}

#[tokio::test]
async fn only_blobs_older_than_min_age_under_the_prefix_are_listed() {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalBlobStore::open(dir.path()).await.unwrap();
    let hour = Duration::from_secs(3600);
    for key in [
        "clips/old1",
        "clips/old2",
        "clips/old3",
        "clips/new1",
        "clipsy/old",
        "other/old",
    ] {
        put_x(&store, key).await;
    }
    for key in [
        "clips/old1",
        "clips/old2",
        "clips/old3",
        "clipsy/old",
        "other/old",
    ] {
        age(dir.path(), key, 2 * hour);
    }
    // An old temporary file (an upload in flight, or a crash's leftover) is never a key.
    std::fs::write(dir.path().join(".tmp/abandoned"), b"partial").unwrap();
    age(dir.path(), ".tmp/abandoned", 2 * hour);

    let old = ["clips/old1", "clips/old2", "clips/old3"];
    assert_eq!(
        sorted(store.list_older_than("clips/", hour, 100).await.unwrap()),
        old
    );
    assert_eq!(
        sorted(
            store
                .list_older_than("clips/", Duration::ZERO, 100)
                .await
                .unwrap()
        ),
        ["clips/new1", "clips/old1", "clips/old2", "clips/old3"]
    );
    assert!(store
        .list_older_than("clips/", 3 * hour, 100)
        .await
        .unwrap()
        .is_empty());
    // A prefix is a string prefix, as in S3: `clips` also matches `clipsy/`; `clips/ol` only
    // part of `clips/`.
    assert_eq!(
        sorted(store.list_older_than("clips", hour, 100).await.unwrap()),
        ["clips/old1", "clips/old2", "clips/old3", "clipsy/old"]
    );
    assert_eq!(
        sorted(
            store
                .list_older_than("clips/ol", Duration::ZERO, 100)
                .await
                .unwrap()
        ),
        old
    );
    assert_eq!(
        store.list_older_than("other/", hour, 100).await.unwrap(),
        ["other/old"]
    );
    assert!(store
        .list_older_than("nothing/", Duration::ZERO, 100)
        .await
        .unwrap()
        .is_empty());
    // Even walking the whole root, `.tmp` stays out.
    for prefix in ["c", "o", "clips", "other"] {
        let keys = store
            .list_older_than(prefix, Duration::ZERO, 100)
            .await
            .unwrap();
        assert!(keys.iter().all(|k| !k.contains("tmp")), "{keys:?}");
    }
}

#[tokio::test]
async fn listing_stops_at_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalBlobStore::open(dir.path()).await.unwrap();
    let all: Vec<String> = (0..5).map(|i| format!("clips/c{i}")).collect();
    for key in &all {
        put_x(&store, key).await;
        age(dir.path(), key, Duration::from_secs(60));
    }
    for limit in [1, 2, 4] {
        let keys = store
            .list_older_than("clips/", Duration::from_secs(30), limit)
            .await
            .unwrap();
        assert_eq!(keys.len(), limit);
        assert!(keys.iter().all(|k| all.contains(k)), "{keys:?}");
    }
    assert_eq!(
        sorted(
            store
                .list_older_than("clips/", Duration::from_secs(30), 5)
                .await
                .unwrap()
        ),
        all
    );
    assert!(store
        .list_older_than("clips/", Duration::ZERO, 0)
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn listing_prefixes_that_could_escape_the_root_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalBlobStore::open(dir.path()).await.unwrap();
    for prefix in [
        "",
        "/",
        "../",
        "..",
        "clips/../",
        ".tmp/",
        ".tmp",
        "clips//",
        "/etc/",
        "a\nb/",
    ] {
        assert!(
            matches!(
                store.list_older_than(prefix, Duration::ZERO, 10).await,
                Err(BlobError::InvalidKey)
            ),
            "{prefix:?}"
        );
    }
}

#[tokio::test]
async fn keys_that_could_escape_the_root_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalBlobStore::open(dir.path()).await.unwrap();
    for key in [
        "../x",
        "clips/../../x",
        "/etc/passwd",
        "clips/.tmp",
        "",
        "a//b",
        "a\nb",
    ] {
        assert!(
            matches!(store.exists(key).await, Err(BlobError::InvalidKey)),
            "{key}"
        );
    }
}

#[tokio::test]
async fn partial_blobs_append_keep_what_arrived_finish_and_discard() {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalBlobStore::open(dir.path()).await.unwrap();
    crate::blobs::testing::partial_blob_scenario(&store).await;
    // Nothing is left in the partial area, and nothing it held is listed as a blob.
    let left: Vec<_> = std::fs::read_dir(dir.path().join(".partial"))
        .unwrap()
        .collect();
    assert!(left.is_empty(), "{left:?}");
    let listed = store
        .list_older_than("clips/", Duration::ZERO, 10)
        .await
        .unwrap();
    assert_eq!(sorted(listed), ["clips/partial1", "clips/partial2"]);
}

#[tokio::test]
async fn partial_files_no_upload_touched_for_long_are_swept() {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalBlobStore::open(dir.path()).await.unwrap();
    store.begin("old", "clips/old").await.unwrap();
    store.begin("young", "clips/young").await.unwrap();
    let hour = Duration::from_secs(3600);
    let old = dir.path().join(".partial/old");
    let file = std::fs::File::options().write(true).open(&old).unwrap();
    file.set_modified(SystemTime::now() - 49 * hour).unwrap();
    assert_eq!(store.sweep_orphans(48 * hour).await.unwrap(), 1);
    assert!(!old.exists());
    assert!(dir.path().join(".partial/young").exists());
}

#[tokio::test]
async fn a_download_serves_what_a_read_does() {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalBlobStore::open(dir.path()).await.unwrap();
    crate::blobs::testing::download_scenario(&store).await;
}
