//! Where the server and token come from: `--url`/`--token` beat `VOICEBIN_URL`/`VOICEBIN_TOKEN`,
//! which beat the file `vb login` writes (`<config dir>/voicebin/config.toml`, mode 0600).

use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::{Deserialize, Serialize};

use crate::error::Failure;
use crate::private;

/// The file's name inside `<config dir>/voicebin/`.
const FILE_NAME: &str = "config.toml";

/// What `vb login` stores.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
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
/// values count as unset, so `VOICEBIN_TOKEN=` does not hide the file's token. The file's token
/// goes only to the file's server: with another URL from a flag or the environment, a token
/// must come from a flag or the environment too (a stored key is never sent elsewhere).
pub fn resolve(flags: Layer, env: Layer, file: Layer) -> Settings {
    let clean = |v: Option<String>| v.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
    let normal = |u: String| u.trim_end_matches('/').to_owned();
    let file_url = clean(file.url).map(normal);
    let url = clean(flags.url)
        .or(clean(env.url))
        .map(normal)
        .or(file_url.clone());
    let file_token = clean(file.token).filter(|_| url == file_url);
    Settings {
        url,
        token: clean(flags.token).or(clean(env.token)).or(file_token),
    }
}

/// Whether the flags and the environment between them give both a URL and a token, so the
/// file would add nothing.
pub fn given(flags: &Layer, env: &Layer) -> bool {
    let set = |v: &Option<String>| v.as_deref().is_some_and(|v| !v.trim().is_empty());
    (set(&flags.url) || set(&env.url)) && (set(&flags.token) || set(&env.token))
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

/// The stored settings; none when the file does not exist. A file that other users can read
/// is still used, with a warning: it holds an API key.
pub fn load(path: &Path) -> Result<Stored, Failure> {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let stored: Stored = toml::from_str(&text)
                .with_context(|| format!("{} is not a valid configuration file", path.display()))?;
            if let Some(mode) = exposed_mode(path) {
                eprintln!(
                    "warning: {} holds an API key and is open to other users (mode {mode:03o}); \
                     run `chmod 600 {}`",
                    path.display(),
                    path.display()
                );
            }
            Ok(stored)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Stored::default()),
        Err(e) => Err(anyhow::Error::new(e)
            .context(format!("cannot read {}", path.display()))
            .into()),
    }
}

/// Writes the settings, readable by the user only (see [`crate::private`]).
pub fn save(path: &Path, stored: &Stored) -> Result<(), Failure> {
    let text = toml::to_string(stored).context("cannot encode the configuration")?;
    let text = format!("# Written by `vb login`; holds an API key: keep it private.\n{text}");
    private::write(path, text.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

/// Removes the file, if it is one `vb login` wrote; whether there was one.
pub fn remove(path: &Path) -> Result<bool, Failure> {
    if !path.exists() {
        return Ok(false);
    }
    // Never another file a mistyped `--config` names.
    let stored = load(path)?;
    if stored == Stored::default() {
        return Err(Failure::Usage(format!(
            "{} holds no server or key; it is not a vb configuration file, so it was not removed",
            path.display()
        )));
    }
    match std::fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(anyhow::Error::new(e)
            .context(format!("cannot remove {}", path.display()))
            .into()),
    }
}

/// The file's permission bits when group or others may read or write it.
#[cfg(unix)]
fn exposed_mode(path: &Path) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path).ok()?.permissions().mode() & 0o777;
    (mode & 0o066 != 0).then_some(mode)
}

#[cfg(not(unix))]
fn exposed_mode(_path: &Path) -> Option<u32> {
    None
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
        let other = Stored {
            url: Some("https://other.example".into()),
            token: None,
        };
        save(&path, &other).unwrap();
        assert_eq!(load(&path).unwrap(), other);
        assert!(remove(&path).unwrap());
        assert!(!remove(&path).unwrap());
    }

    #[test]
    fn the_files_key_never_goes_to_another_server() {
        let file = layer(Some("https://file"), Some("file-token"));
        for (flags, env) in [
            (layer(Some("https://elsewhere"), None), Layer::default()),
            (Layer::default(), layer(Some("https://elsewhere/"), None)),
        ] {
            let settings = resolve(flags, env, file.clone());
            assert_eq!(settings.url.as_deref(), Some("https://elsewhere"));
            assert_eq!(settings.token, None);
        }
        // The same server named again keeps it; a token given with the URL is used.
        let same = resolve(
            layer(Some("https://file/"), None),
            Layer::default(),
            file.clone(),
        );
        assert_eq!(same.token.as_deref(), Some("file-token"));
        let given = resolve(
            layer(Some("https://elsewhere"), None),
            layer(None, Some("env-token")),
            file,
        );
        assert_eq!(given.token.as_deref(), Some("env-token"));
    }

    #[test]
    fn the_file_is_not_needed_when_flags_and_environment_give_both() {
        let url = layer(Some("https://x"), None);
        let token = layer(None, Some("k"));
        assert!(given(&url, &token));
        assert!(given(
            &layer(Some("https://x"), Some("k")),
            &Layer::default()
        ));
        assert!(!given(&url, &Layer::default()));
        assert!(!given(&url, &layer(None, Some(" "))));
    }

    #[cfg(unix)]
    #[test]
    fn a_file_open_to_others_is_noticed() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE_NAME);
        save(
            &path,
            &Stored {
                url: Some("https://x".into()),
                token: Some("k".into()),
            },
        )
        .unwrap();
        assert_eq!(exposed_mode(&path), None);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(exposed_mode(&path), Some(0o644));
        // Still read: the warning does not stop the command.
        assert_eq!(load(&path).unwrap().token.as_deref(), Some("k"));
    }

    #[cfg(unix)]
    #[test]
    fn an_existing_directory_keeps_its_mode_and_other_files_are_not_removed() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let path = dir.path().join("vb.toml");
        save(
            &path,
            &Stored {
                url: Some("https://x".into()),
                token: Some("k".into()),
            },
        )
        .unwrap();
        let mode = std::fs::metadata(dir.path()).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o755);
        let notes = dir.path().join("notes.txt");
        std::fs::write(&notes, "shopping list\nmilk\n").unwrap();
        assert!(remove(&notes).is_err());
        assert!(notes.exists());
        let other_toml = dir.path().join("Cargo.toml");
        std::fs::write(&other_toml, "[package]\nname = \"x\"\n").unwrap();
        assert!(remove(&other_toml).is_err());
        assert!(other_toml.exists());
    }
}
