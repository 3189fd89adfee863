//! The site's public URLs, built from its canonical base (`https://voicebin.example`, or with a
//! path prefix, `https://example.org/voice`). Every link the service hands out comes from here.

use std::sync::Arc;

/// The canonical base URL and the URLs derived from it. Cheap to clone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Urls {
    base: Arc<str>,
}

impl Urls {
    /// URLs under `base`, an absolute URL without a trailing slash.
    pub fn new(base: impl Into<String>) -> Self {
        Urls {
            base: Arc::from(base.into()),
        }
    }

    /// The canonical base URL, without a trailing slash.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// Whether the site is served over HTTPS (cookies are then `Secure`).
    pub fn is_https(&self) -> bool {
        self.base.starts_with("https://")
    }

    /// The URL of `path` (which starts with `/`) on this site.
    pub fn at(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// `path` (which starts with `/`) as a browser on this site requests it: under the base
    /// URL's path prefix, if any (for cookie paths and links within a page).
    pub fn path(&self, path: &str) -> String {
        let authority_and_path = self
            .base
            .split_once("://")
            .map_or(&*self.base, |(_, rest)| rest);
        let prefix = authority_and_path
            .find('/')
            .map_or("", |i| &authority_and_path[i..]);
        format!("{prefix}{path}")
    }

    /// A clip's view page.
    pub fn view(&self, id: &str) -> String {
        format!("{}/{id}", self.base)
    }

    /// A clip's direct download (attachment).
    pub fn download(&self, id: &str) -> String {
        format!("{}/{id}/download", self.base)
    }

    /// A clip's audio for players (inline).
    pub fn audio(&self, id: &str) -> String {
        format!("{}/{id}/audio", self.base)
    }

    /// A clip's transcript as WebVTT captions.
    pub fn transcript_vtt(&self, id: &str) -> String {
        format!("{}/{id}/transcript.vtt", self.base)
    }

    /// A clip's embeddable player.
    pub fn embed(&self, id: &str) -> String {
        format!("{}/{id}/embed", self.base)
    }

    /// A clip's REST resource.
    pub fn item(&self, id: &str) -> String {
        format!("{}/api/v1/items/{id}", self.base)
    }

    /// An anonymous clip's management page (its token goes in the fragment).
    pub fn manage(&self, id: &str) -> String {
        format!("{}/{id}/manage", self.base)
    }

    /// The RFC 9728 metadata of the MCP endpoint (named in `/mcp`'s 401 challenge).
    pub fn mcp_metadata(&self) -> String {
        self.at("/.well-known/oauth-protected-resource/mcp")
    }

    /// The clip id a transcript URL of this site names (`{base}/{id}/transcript.vtt`), if it
    /// is one.
    pub fn transcript_of<'a>(&self, url: &'a str) -> Option<&'a str> {
        let rest = url.strip_prefix(&*self.base)?.strip_prefix('/')?;
        rest.strip_suffix("/transcript.vtt")
            .filter(|id| !id.is_empty() && !id.contains(['/', '?', '#']))
    }

    /// The clip id a view-page URL of this site names, if it is one (`{base}/{id}`, a trailing
    /// slash allowed; no further path, query or fragment).
    pub fn clip_of<'a>(&self, url: &'a str) -> Option<&'a str> {
        url.strip_prefix(&*self.base)?
            .strip_prefix('/')
            .map(|rest| rest.strip_suffix('/').unwrap_or(rest))
            .filter(|id| !id.is_empty() && !id.contains(['/', '?', '#']))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_keep_the_base_path() {
        let urls = Urls::new("https://example.org/voice");
        assert_eq!(urls.view("abc"), "https://example.org/voice/abc");
        assert_eq!(
            urls.download("abc"),
            "https://example.org/voice/abc/download"
        );
        assert_eq!(
            urls.item("abc"),
            "https://example.org/voice/api/v1/items/abc"
        );
        assert_eq!(urls.at("/docs"), "https://example.org/voice/docs");
        assert_eq!(urls.path("/abc"), "/voice/abc");
        assert_eq!(Urls::new("http://127.0.0.1:8080").path("/abc"), "/abc");
        assert!(urls.is_https());
        assert_eq!(urls.clip_of("https://example.org/voice/abc/"), Some("abc"));
        assert_eq!(urls.clip_of("https://other.example/abc"), None);
        for not_a_clip in ["", "/", "/abc/download", "/abc?x=1", "/abc#t=1"] {
            let url = format!("https://example.org/voice{not_a_clip}");
            assert_eq!(urls.clip_of(&url), None, "{url}");
        }
    }
}
