//! What this deployment says about itself on every surface (the agent card, `/llms.txt`,
//! `/docs`, `/privacy`, `/abuse`, the MCP endpoint): who issues its tokens, who runs it, and
//! the facts of its MCP endpoint.

/// The largest clip `upload_audio` accepts over MCP (decoded bytes; base64 in JSON is bigger).
pub const MCP_UPLOAD_MAX_BYTES: u64 = 10 * 1024 * 1024;
/// The MCP protocol revision served at `/mcp`.
pub const MCP_PROTOCOL_VERSION: &str = "2025-11-25";

/// The largest clip `upload_audio` accepts here: [`MCP_UPLOAD_MAX_BYTES`], or the upload limit
/// if that is lower.
pub fn mcp_upload_cap(max_upload_bytes: u64) -> u64 {
    MCP_UPLOAD_MAX_BYTES.min(max_upload_bytes)
}

/// A size for people: whole MiB or KiB when exact, else bytes.
pub fn human_bytes(bytes: u64) -> String {
    const KIB: u64 = 1024;
    const MIB: u64 = 1024 * KIB;
    if bytes >= MIB && bytes.is_multiple_of(MIB) {
        format!("{} MiB", bytes / MIB)
    } else if bytes >= KIB && bytes.is_multiple_of(KIB) {
        format!("{} KiB", bytes / KIB)
    } else {
        format!("{bytes} bytes")
    }
}

/// What the deployment says about its issuer and its operator.
#[derive(Debug, Clone, Default)]
pub struct Discovery {
    /// The authorization server (token issuer, `iss`).
    pub issuer: String,
    /// The issuer's OAuth authorization endpoint, when it offers the authorization-code flow.
    pub authorization_endpoint: Option<String>,
    /// The issuer's OAuth token endpoint.
    pub token_endpoint: Option<String>,
    /// The web app as the issuer's OAuth client, when people sign in with the issuer.
    pub browser_client: Option<crate::auth::BrowserClient>,
    /// Where to report abuse besides the `/abuse` page (an e-mail address or URL).
    pub abuse_contact: Option<String>,
    /// Who runs this deployment (shown as the agent card's provider).
    pub operator: Option<String>,
}

impl Discovery {
    /// Both OAuth endpoints, when configured.
    pub fn oauth_endpoints(&self) -> Option<(&str, &str)> {
        Some((
            self.authorization_endpoint.as_deref()?,
            self.token_endpoint.as_deref()?,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mcp_cap_follows_a_lower_upload_limit_and_sizes_read_as_people_say_them() {
        assert_eq!(mcp_upload_cap(100 * 1024 * 1024), MCP_UPLOAD_MAX_BYTES);
        assert_eq!(mcp_upload_cap(30_000), 30_000);
        assert_eq!(human_bytes(100 * 1024 * 1024), "100 MiB");
        assert_eq!(human_bytes(64 * 1024), "64 KiB");
        assert_eq!(human_bytes(30_000), "30000 bytes");
    }
}
