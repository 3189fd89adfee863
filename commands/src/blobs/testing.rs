//! Helpers the stores' tests share.

use bytes::Bytes;
use futures::StreamExt;

use crate::ports::{BlobStore, ByteStream};

/// A body of these chunks.
pub fn body(chunks: Vec<std::io::Result<Bytes>>) -> ByteStream {
    Box::pin(futures::stream::iter(chunks))
}

/// Everything a stream yields (it must not fail).
pub async fn collect(mut s: ByteStream) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(c) = s.next().await {
        out.extend_from_slice(&c.unwrap());
    }
    out
}

/// Stores one byte under `key`.
pub async fn put_x(store: &dyn BlobStore, key: &str) {
    store
        .put(key, body(vec![Ok(Bytes::from_static(b"x"))]))
        .await
        .unwrap();
}

/// `keys`, sorted (listing order is the store's).
pub fn sorted(mut keys: Vec<String>) -> Vec<String> {
    keys.sort();
    keys
}

/// Byte `i` of the partial-blob scenario's upload.
fn partial_byte(i: usize) -> u8 {
    (i.wrapping_mul(2_654_435_761) >> 13) as u8
}

/// `data[range]` in chunks of `chunk` bytes.
fn chunks_of(data: &[u8], chunk: usize) -> Vec<std::io::Result<Bytes>> {
    data.chunks(chunk)
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect()
}

/// What every partial-blob store must do (ADR 0025), on one store: appends continue from the
/// committed state, a failing body keeps the bytes before its failure, an append that is not
/// committed leaves no trace in what follows, finishing makes the blob visible whole, and a
/// discarded partial blob leaves nothing.
pub async fn partial_blob_scenario<S>(store: &S)
where
    S: BlobStore + crate::ports::PartialBlobs,
{
    const MIB: usize = 1024 * 1024;
    let data: Vec<u8> = (0..12 * MIB + 1).map(partial_byte).collect();
    let key = "clips/partial1";
    let state = store.begin("up1", key).await.unwrap();

    // 3 MiB in odd chunks: less than one S3 part, so kept as a tail there.
    let first = store
        .append(
            "up1",
            key,
            &state,
            0,
            body(chunks_of(&data[..3 * MIB], 777_777)),
            false,
        )
        .await
        .unwrap();
    assert_eq!(first.bytes, 3 * MIB as u64);
    assert!(!first.finished && first.failure.is_none());
    store.settle("up1", &state, &first.state).await.unwrap();
    assert!(
        !store.exists(key).await.unwrap(),
        "a partial blob is not visible"
    );

    // 4 MiB, then the body fails (the client went away): the 4 MiB are kept.
    let mut failing = chunks_of(&data[3 * MIB..7 * MIB], 1_000_003);
    failing.push(Err(std::io::Error::other("connection reset")));
    let second = store
        .append(
            "up1",
            key,
            &first.state,
            3 * MIB as u64,
            body(failing),
            true,
        )
        .await
        .unwrap();
    assert_eq!(second.bytes, 4 * MIB as u64);
    assert!(second.failure.is_some());
    assert!(!second.finished, "a failed body never finishes the blob");
    store
        .settle("up1", &first.state, &second.state)
        .await
        .unwrap();

    // An append whose result is never committed (a checksum failed): wrong bytes, forgotten.
    let junk = vec![0xEE; 2 * MIB];
    let uncommitted = store
        .append(
            "up1",
            key,
            &second.state,
            7 * MIB as u64,
            body(chunks_of(&junk, MIB)),
            false,
        )
        .await
        .unwrap();
    assert_eq!(uncommitted.bytes, 2 * MIB as u64);
    store
        .settle("up1", &uncommitted.state, &second.state)
        .await
        .unwrap();

    // The rest, from the committed state, finishing.
    let last = store
        .append(
            "up1",
            key,
            &second.state,
            7 * MIB as u64,
            body(chunks_of(&data[7 * MIB..], 65_536)),
            true,
        )
        .await
        .unwrap();
    assert_eq!(last.bytes, (5 * MIB + 1) as u64);
    assert!(last.finished && last.failure.is_none());
    store
        .settle("up1", &second.state, &last.state)
        .await
        .unwrap();
    let stored = collect(store.get(key, None).await.unwrap()).await;
    assert_eq!(stored.len(), data.len());
    assert!(
        stored == data,
        "the finished blob holds exactly the committed bytes"
    );

    // Finishing with an empty append (the last bytes came earlier).
    let key2 = "clips/partial2";
    let state = store.begin("up2", key2).await.unwrap();
    let some = store
        .append(
            "up2",
            key2,
            &state,
            0,
            body(chunks_of(&data[..6 * MIB], MIB)),
            false,
        )
        .await
        .unwrap();
    let done = store
        .append("up2", key2, &some.state, 6 * MIB as u64, body(vec![]), true)
        .await
        .unwrap();
    assert!(done.finished);
    store.settle("up2", &some.state, &done.state).await.unwrap();
    assert_eq!(
        collect(store.get(key2, None).await.unwrap()).await,
        &data[..6 * MIB]
    );

    // A discarded partial blob leaves nothing, and nothing becomes visible.
    let key3 = "clips/partial3";
    let state = store.begin("up3", key3).await.unwrap();
    let some = store
        .append(
            "up3",
            key3,
            &state,
            0,
            body(chunks_of(&data[..6 * MIB], MIB)),
            false,
        )
        .await
        .unwrap();
    store.discard("up3", key3, &some.state).await.unwrap();
    assert!(!store.exists(key3).await.unwrap());
    // Appending to it again fails rather than resurrecting it.
    assert!(store
        .append("up3", key3, &some.state, 6 * MIB as u64, body(vec![]), true)
        .await
        .is_err());
    assert!(!store.exists(key3).await.unwrap());
}

/// A download (paced) serves exactly what a read in the process does, whole and by range,
/// including ranges past the end; a missing blob is `NotFound` to both.
pub async fn download_scenario(store: &dyn BlobStore) {
    let len = 1024 * 1024 + 123;
    let data: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
    let chunks = chunks_of(&data, 100_000);
    store.put("clips/dl", body(chunks)).await.unwrap();
    let len = len as u64;
    for range in [
        None,
        Some(0..1),
        Some(5..70_000),
        Some(1_000_000..len),
        Some(0..len),
        Some(len - 1..len + 10),
    ] {
        let downloaded = collect(store.download("clips/dl", range.clone()).await.unwrap()).await;
        let read = collect(store.get("clips/dl", range.clone()).await.unwrap()).await;
        let expected = match &range {
            None => &data[..],
            Some(r) => &data[r.start as usize..(r.end.min(len)) as usize],
        };
        assert_eq!(downloaded.len(), expected.len(), "{range:?}");
        assert!(downloaded == expected, "{range:?}: other bytes");
        assert!(read == expected, "{range:?}: get served other bytes");
    }
    for missing in [
        store.download("clips/none", None).await,
        store.get("clips/none", None).await,
    ] {
        assert!(matches!(missing, Err(crate::ports::BlobError::NotFound)));
    }
}
