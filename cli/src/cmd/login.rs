//! `vb login` and `vb logout`: the stored server URL and API key.

use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;

use reqwest::Method;
use serde_json::json;

use crate::client::Client;
use crate::config::{self, Layer, Settings, Stored};
use crate::error::Failure;
use crate::output;

/// Checks the URL and token with `GET /api/v1/account`, then stores them. Missing ones come
/// from the environment, then (for the URL) the file, then a prompt on a terminal.
pub async fn login(path: &Path, flags: Layer, json: bool) -> Result<(), Failure> {
    let env = config::from_env();
    let stored = config::load(path)?;
    // The stored token is what is being replaced, so it is never reused here.
    let known = config::resolve(
        flags,
        env,
        Layer {
            url: stored.url,
            token: None,
        },
    );
    let url = match known.url {
        Some(url) => url,
        None => prompt_line("Server URL: ")?,
    };
    let token = match known.token {
        Some(token) => token,
        None => prompt_token()?,
    };
    let settings = config::resolve(
        Layer {
            url: Some(url),
            token: Some(token),
        },
        Layer::default(),
        Layer::default(),
    );
    let client = Client::new(&settings)?;
    let account = client
        .json(client.authed(Method::GET, "/api/v1/account")?)
        .await?;
    let Settings { url, token } = settings;
    config::save(path, &Stored { url, token })?;
    let name = output::text(&account, "account");
    if json {
        output::print_json(&json!({
            "url": client.base(),
            "account": account["account"],
            "config": path.display().to_string(),
        }));
    } else {
        crate::outln!(
            "Signed in to {} as {name} (saved in {})",
            client.base(),
            path.display()
        );
    }
    Ok(())
}

/// Removes the stored settings.
pub fn logout(path: &Path, json: bool) -> Result<(), Failure> {
    let removed = config::remove(path)?;
    if json {
        output::print_json(&json!({
            "signed_out": removed,
            "config": path.display().to_string(),
        }));
    } else if removed {
        crate::outln!("Signed out (removed {})", path.display());
    } else {
        crate::outln!("Not signed in (no {})", path.display());
    }
    Ok(())
}

fn prompt_line(prompt: &str) -> Result<String, Failure> {
    if !std::io::stdin().is_terminal() {
        return Err(Failure::Usage(
            "no server URL: pass --url or set VOICEBIN_URL".into(),
        ));
    }
    eprint!("{prompt}");
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| anyhow::Error::new(e).context("cannot read the answer"))?;
    let line = line.trim().to_owned();
    if line.is_empty() {
        return Err(Failure::Usage("no server URL given".into()));
    }
    Ok(line)
}

fn prompt_token() -> Result<String, Failure> {
    if !std::io::stdin().is_terminal() {
        return Err(Failure::Usage(
            "no API key: pass --token (`--token -` reads it from stdin) or set VOICEBIN_TOKEN"
                .into(),
        ));
    }
    let token = rpassword::prompt_password("API key (not shown): ")
        .map_err(|e| anyhow::Error::new(e).context("cannot read the API key"))?;
    let token = token.trim().to_owned();
    if token.is_empty() {
        return Err(Failure::Usage("no API key given".into()));
    }
    Ok(token)
}
