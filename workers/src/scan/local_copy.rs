//! A clip's bytes as a local file, for the tools that need a path: the blob store's own file
//! when it has one (the local store), otherwise a temporary copy (S3), removed when dropped.

use std::path::{Path, PathBuf};

use futures::StreamExt;
use tokio::io::AsyncWriteExt;
use voicebin_commands::ClipService;

/// A local copy of a blob, removed when dropped (unless the store's own file is used).
pub(crate) enum LocalCopy {
    Store(PathBuf),
    Temp(tempfile::TempPath),
}

impl LocalCopy {
    pub(crate) fn path(&self) -> &Path {
        match self {
            LocalCopy::Store(p) => p,
            LocalCopy::Temp(p) => p,
        }
    }
}

/// The blob `key` of `service`'s store as a local file.
pub(crate) async fn local_copy(service: &ClipService, key: &str) -> Result<LocalCopy, String> {
    let blobs = service.blobs();
    if let Some(path) = blobs.local_path(key) {
        return Ok(LocalCopy::Store(path));
    }
    let temp = tempfile::NamedTempFile::new()
        .map_err(|e| format!("temp file: {e}"))?
        .into_temp_path();
    let mut stream = blobs.get(key, None).await.map_err(|e| e.to_string())?;
    let mut file = tokio::fs::File::create(&temp)
        .await
        .map_err(|e| format!("temp file: {e}"))?;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| format!("reading the blob: {e}"))?;
        file.write_all(&chunk)
            .await
            .map_err(|e| format!("temp file: {e}"))?;
    }
    file.flush().await.map_err(|e| format!("temp file: {e}"))?;
    Ok(LocalCopy::Temp(temp))
}
