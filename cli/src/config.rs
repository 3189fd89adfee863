//! Where the server and token come from: `--url`/`--token` beat `VOICEBIN_URL`/`VOICEBIN_TOKEN`,
//! which beat the file `vb login` writes (`<config dir>/voicebin/config.toml`, mode 0600).

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::{Deserialize, Serialize};

use crate::error::Failure;

/// The file's name inside `<config dir>/voicebin/`.
const FILE_NAME: &str = "config.toml";

/// What `vb login` stores.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stored {
    /// The server's base URL.
    pub url: Option<String>,
    /// An API key (a bearer token).
    pub token: Option<String>,
}

/// One source of settings: the command line, the environment or the file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Layer {
    /// The server's base URL.
    pub url: Option<String>,
    /// The token.
    pub token: Option<String>,
}

impl From<Stored> for Layer {
    fn from(stored: Stored) -> Self {
        Layer {
            url: stored.url,
            token: stored.token,
        }
    }
}

/// The settings a command runs with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// The server's base URL, without a trailing slash.
    pub url: Option<String>,
    /// The token, when there is one.
    pub token: Option<String>,
}

/// Each setting from the first layer that has it: flags, then environment, then file. Empty
/// values count as unset, so `VOICEBIN_TOKEN=` does not hide the file's token.
pub fn resolve(flags: Layer, env: Layer, file: Layer) -> Settings {
    let pick = |a: Option<String>, b: Option<String>, c: Option<String>| {
        [a, b, c]
            .into_iter()
            .flatten()
            .map(|v| v.trim().to_owned())
            .find(|v| !v.is_empty())
    };
    Settings {
        url: pick(flags.url, env.url, file.url).map(|u| u.trim_end_matches('/').to_owned()),
        token: pick(flags.token, env.token, file.token),
    }
}

/// The environment's layer (`VOICEBIN_URL`, `VOICEBIN_TOKEN`).
pub fn from_env() -> Layer {
    Layer {
        url: std::env::var("VOICEBIN_URL").ok(),
        token: std::env::var("VOICEBIN_TOKEN").ok(),
    }
}

/// The config file: `explicit` (`--config` / `VOICEBIN_CONFIG`), else
/// `<config dir>/voicebin/config.toml` (`$XDG_CONFIG_HOME` or `~/.config` on Linux).
pub fn path(explicit: Option<&Path>) -> Result<PathBuf, Failure> {
    if let Some(path) = explicit {
        return Ok(path.to_owned());
    }
    dirs::config_dir()
        .map(|dir| dir.join("voicebin").join(FILE_NAME))
        .ok_or_else(|| {
            Failure::Usage(
                "cannot find a configuration directory (is HOME set?); pass --config".into(),
            )
        })
}

/// The stored settings; none when the file does not exist.
pub fn load(path: &Path) -> Result<Stored, Failure> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(toml::from_str(&text)
            .with_context(|| format!("{} is not a valid configuration file", path.display()))?),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Stored::default()),
        Err(e) => Err(anyhow::Error::new(e)
            .context(format!("cannot read {}", path.display()))
            .into()),
    }
}

/// Writes the settings, readable by the user only: the directory 0700, the file 0600 (written
/// aside and renamed, so a crash never leaves half a file, and never a moment it is readable
/// by others).
pub fn save(path: &Path, stored: &Stored) -> Result<(), Failure> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    create_private_dir(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let text = toml::to_string(stored).context("cannot encode the configuration")?;
    let tmp = dir.join(format!(".{FILE_NAME}.{}.tmp", std::process::id()));
    let written = (|| {
        let mut file = private_file(&tmp)?;
        file.write_all(b"# Written by `vb login`; holds an API key: keep it private.\n")?;
        file.write_all(text.as_bytes())?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written.with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

/// Removes the file; whether there was one.
pub fn remove(path: &Path) -> Result<bool, Failure> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(anyhow::Error::new(e)
            .context(format!("cannot remove {}", path.display()))
            .into()),
    }
}

#[cfg(unix)]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
}

#[cfg(not(unix))]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)
}

#[cfg(unix)]
fn private_file(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
}

#[cfg(not(unix))]
fn private_file(path: &Path) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer(url: Option<&str>, token: Option<&str>) -> Layer {
        Layer {
            url: url.map(Into::into),
            token: token.map(Into::into),
        }
    }

    #[test]
    fn flags_beat_the_environment_which_beats_the_file() {
        let settings = resolve(
            layer(Some("https://flag"), None),
            layer(Some("https://env"), Some("env-token")),
            layer(Some("https://file"), Some("file-token")),
        );
        assert_eq!(settings.url.as_deref(), Some("https://flag"));
        assert_eq!(settings.token.as_deref(), Some("env-token"));

        let settings = resolve(
            Layer::default(),
            Layer::default(),
            layer(Some("https://file/"), Some("file-token")),
        );
        assert_eq!(settings.url.as_deref(), Some("https://file"));
        assert_eq!(settings.token.as_deref(), Some("file-token"));
    }

    #[test]
    fn an_empty_value_does_not_hide_the_next_layer() {
        let settings = resolve(
            Layer::default(),
            layer(Some(""), Some("  ")),
            layer(Some("https://file"), Some("file-token")),
        );
        assert_eq!(settings.url.as_deref(), Some("https://file"));
        assert_eq!(settings.token.as_deref(), Some("file-token"));
        assert_eq!(
            resolve(Layer::default(), Layer::default(), Layer::default()),
            Settings {
                url: None,
                token: None
            }
        );
    }

    #[test]
    fn the_file_round_trips_and_is_private() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("voicebin").join(FILE_NAME);
        assert_eq!(load(&path).unwrap(), Stored::default());
        let stored = Stored {
            url: Some("https://voicebin.example".into()),
            token: Some("secret".into()),
        };
        save(&path, &stored).unwrap();
        assert_eq!(load(&path).unwrap(), stored);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(&path), 0o600);
            assert_eq!(mode(path.parent().unwrap()), 0o700);
        }
        // Saving again replaces it.
        save(&path, &Stored::default()).unwrap();
        assert_eq!(load(&path).unwrap(), Stored::default());
        assert!(remove(&path).unwrap());
        assert!(!remove(&path).unwrap());
    }
}
