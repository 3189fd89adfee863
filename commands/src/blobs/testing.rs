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
