//! What a later `vb upload` needs to resume an interrupted one: for each server and file, the
//! upload's URL and what the file and its details were when it began.
//!
//! One small JSON file per upload in `<state dir>/voicebin/uploads/` (`$XDG_STATE_HOME`, or
//! `~/.local/state` on Linux; the cache directory where a platform has no state directory),
//! named by a hash of the server's URL and the file's canonical path, written 0600 in a 0700
//! directory. An entry is used only while the file's size and modification time and the
//! upload's details are what they were; it is removed when the upload completes or cannot be
//! resumed, and pruned once the server's `Upload-Expires` has passed.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::private;

/// The layout of an entry; another version is ignored (and replaced).
const VERSION: u32 = 1;

/// A file as it is now, as far as resuming cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileStamp {
    /// The canonical path.
    pub path: PathBuf,
    /// Its length in bytes.
    pub size: u64,
    /// Its modification time, nanoseconds since the epoch (0 where the platform has none).
    pub modified_ns: u64,
}

impl FileStamp {
    /// The stamp of `path`, whose metadata is `meta`.
    pub fn of(path: &Path, meta: &std::fs::Metadata) -> std::io::Result<FileStamp> {
        Ok(FileStamp {
            path: std::fs::canonicalize(path)?,
            size: meta.len(),
            modified_ns: meta
                .modified()
                .ok()
                .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
                .unwrap_or(0),
        })
    }
}

/// One interrupted (or running) upload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// [`VERSION`].
    pub version: u32,
    /// The server's base URL.
    pub server: String,
    /// The file's canonical path.
    pub file: PathBuf,
    /// Its length when the upload began.
    pub size: u64,
    /// Its modification time then.
    pub modified_ns: u64,
    /// The `Upload-Metadata` the upload was created with (title, limit, ...).
    pub metadata: String,
    /// The upload's URL.
    pub upload: String,
    /// When the server removes the upload (seconds since the epoch), when it said.
    pub expires: Option<u64>,
}

/// Why a stored entry cannot be resumed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stale {
    /// The file is not what it was (another size or modification time).
    FileChanged,
    /// The title, description, limit or expiry asked for are not the upload's.
    DetailsChanged,
    /// The server has removed it by now.
    Expired,
}

impl Entry {
    /// Why this entry cannot be resumed for `stamp` with `metadata`, if it cannot.
    pub fn stale(&self, stamp: &FileStamp, metadata: &str, now: u64) -> Option<Stale> {
        if self.size != stamp.size || self.modified_ns != stamp.modified_ns {
            Some(Stale::FileChanged)
        } else if self.metadata != metadata {
            Some(Stale::DetailsChanged)
        } else if self.expires.is_some_and(|at| at <= now) {
            Some(Stale::Expired)
        } else {
            None
        }
    }
}

/// The entries of one server.
pub struct Store {
    dir: PathBuf,
    server: String,
}

/// Seconds since the epoch.
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl Store {
    /// The store for `server` in the user's state directory; none when there is no such
    /// directory (uploads then still resume within one run, not across runs).
    pub fn for_server(server: &str) -> Option<Store> {
        let base = dirs::state_dir().or_else(dirs::cache_dir)?;
        Some(Store::at(base.join("voicebin").join("uploads"), server))
    }

    /// The store for `server` in `dir`.
    pub fn at(dir: PathBuf, server: &str) -> Store {
        Store {
            dir,
            server: server.to_owned(),
        }
    }

    fn path(&self, file: &Path) -> PathBuf {
        let mut hash = Sha256::new();
        hash.update(self.server.as_bytes());
        hash.update([0]);
        hash.update(file.as_os_str().as_encoded_bytes());
        let name: String = hash.finalize()[..16]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        self.dir.join(format!("{name}.json"))
    }

    /// The entry for `file` (a canonical path), if there is a readable one of this server's.
    pub fn load(&self, file: &Path) -> Option<Entry> {
        let text = std::fs::read(self.path(file)).ok()?;
        let entry: Entry = serde_json::from_slice(&text).ok()?;
        (entry.version == VERSION && entry.server == self.server && entry.file == file)
            .then_some(entry)
    }

    /// Stores `entry`, replacing the file's earlier one.
    pub fn save(&self, entry: &Entry) -> std::io::Result<()> {
        let json = serde_json::to_vec_pretty(entry).map_err(std::io::Error::other)?;
        private::write(&self.path(&entry.file), &json)
    }

    /// Forgets the entry for `file`.
    pub fn remove(&self, file: &Path) {
        let _ = std::fs::remove_file(self.path(file));
    }

    /// Removes every entry (of any server) whose upload the server has removed by now, and
    /// any that cannot be read.
    pub fn prune(&self, now: u64) {
        let Ok(dir) = std::fs::read_dir(&self.dir) else {
            return;
        };
        for path in dir.flatten().map(|e| e.path()) {
            if path.extension().is_none_or(|ext| ext != "json") {
                continue;
            }
            let entry = std::fs::read(&path)
                .ok()
                .and_then(|t| serde_json::from_slice::<Entry>(&t).ok());
            let expired = match entry {
                Some(entry) => entry.expires.is_some_and(|at| at <= now),
                None => true,
            };
            if expired {
                let _ = std::fs::remove_file(&path);
            }
        }
    }
}

/// A new entry for `stamp`'s file, uploaded to `upload` on `server`.
pub fn entry(
    server: &str,
    stamp: &FileStamp,
    metadata: &str,
    upload: &str,
    expires: Option<u64>,
) -> Entry {
    Entry {
        version: VERSION,
        server: server.to_owned(),
        file: stamp.path.clone(),
        size: stamp.size,
        modified_ns: stamp.modified_ns,
        metadata: metadata.to_owned(),
        upload: upload.to_owned(),
        expires,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stamp(path: &str, size: u64, modified_ns: u64) -> FileStamp {
        FileStamp {
            path: PathBuf::from(path),
            size,
            modified_ns,
        }
    }

    #[test]
    fn an_entry_round_trips_per_server_and_file_and_is_private() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("uploads");
        let store = Store::at(root.clone(), "https://a.example");
        let file = stamp("/home/u/talk.ogg", 10, 7);
        assert_eq!(store.load(&file.path), None);
        let saved = entry(
            "https://a.example",
            &file,
            "filename dGFsay5vZ2c=",
            "https://a.example/api/v1/uploads/x",
            Some(100),
        );
        store.save(&saved).unwrap();
        assert_eq!(store.load(&file.path), Some(saved.clone()));
        // Another server, or another file, has no entry.
        assert_eq!(
            Store::at(root.clone(), "https://b.example").load(&file.path),
            None
        );
        assert_eq!(store.load(Path::new("/home/u/other.ogg")), None);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(&store.path(&file.path)), 0o600);
            assert_eq!(mode(&root), 0o700);
        }
        store.remove(&file.path);
        assert_eq!(store.load(&file.path), None);
    }

    #[test]
    fn a_changed_file_changed_details_or_a_passed_expiry_make_an_entry_stale() {
        let file = stamp("/f", 10, 7);
        let saved = entry("s", &file, "title YQ==", "u", Some(100));
        assert_eq!(saved.stale(&file, "title YQ==", 50), None);
        assert_eq!(
            saved.stale(&stamp("/f", 11, 7), "title YQ==", 50),
            Some(Stale::FileChanged)
        );
        assert_eq!(
            saved.stale(&stamp("/f", 10, 8), "title YQ==", 50),
            Some(Stale::FileChanged)
        );
        assert_eq!(
            saved.stale(&file, "title Yg==", 50),
            Some(Stale::DetailsChanged)
        );
        assert_eq!(saved.stale(&file, "title YQ==", 100), Some(Stale::Expired));
    }

    #[test]
    fn pruning_removes_expired_and_unreadable_entries_only() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::at(dir.path().to_owned(), "s");
        let live = entry("s", &stamp("/live", 1, 1), "", "u1", Some(200));
        let dead = entry("s", &stamp("/dead", 1, 1), "", "u2", Some(100));
        let open = entry("s", &stamp("/open", 1, 1), "", "u3", None);
        for e in [&live, &dead, &open] {
            store.save(e).unwrap();
        }
        std::fs::write(dir.path().join("junk.json"), "not json").unwrap();
        std::fs::write(dir.path().join("notes.txt"), "kept").unwrap();
        store.prune(150);
        assert_eq!(store.load(Path::new("/live")), Some(live));
        assert_eq!(store.load(Path::new("/dead")), None);
        assert_eq!(store.load(Path::new("/open")), Some(open));
        assert!(!dir.path().join("junk.json").exists());
        assert!(dir.path().join("notes.txt").exists());
    }
}
