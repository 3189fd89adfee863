//! What this deployment says about itself on every surface (the agent card, `/llms.txt`,
//! `/docs`, `/privacy`, `/abuse`, the MCP endpoint): who issues its tokens, who runs it, and
//! the facts of its MCP endpoint.

/// The largest clip `upload_audio` accepts over MCP (decoded bytes; base64 in JSON is bigger).
pub const MCP_UPLOAD_MAX_BYTES: u64 = 10 * 1024 * 1024;
/// The MCP protocol revision served at `/mcp`.
pub const MCP_PROTOCOL_VERSION: &str = "2025-11-25";

/// What the deployment says about its issuer and its operator.
#[derive(Debug, Clone, Default)]
pub struct Discovery {
    /// The authorization server (token issuer, `iss`).
    pub issuer: String,
    /// The issuer's OAuth authorization endpoint, when it offers the authorization-code flow.
    pub authorization_endpoint: Option<String>,
    /// The issuer's OAuth token endpoint.
    pub token_endpoint: Option<String>,
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
