//! The HTML pages: the web app (`app`: upload, my clips, moderation, sign in), a clip's view page and embeddable player (`view`), oEmbed discovery
//! (`oembed`), the developer guide (`docs`), `/privacy` and `/abuse` (`policy`), and the pages'
//! scripts and styles (`assets`). Server-rendered, every user-provided string escaped, under a
//! strict Content-Security-Policy: scripts and styles come from `/static/` only.

pub mod app;
pub mod assets;
pub mod docs;
pub mod oembed;
pub mod policy;
pub mod view;

use poem::http::header;
use poem::Response;

use crate::access::FindError;
use crate::error::{ApiError, Code};
use crate::urls::Urls;

/// The policy of a clip's pages: own scripts, styles and media only, never framed; API calls
/// to this site only (the view page's owner panel reads and edits the clip with the token of
/// the tab's session).
pub(crate) const PAGE_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
    media-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; \
    form-action 'none'; frame-ancestors 'none'";

/// Escapes text for HTML element content and quoted attribute values.
pub fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// The policy of the static text pages (`/docs`, `/privacy`, `/abuse`): no scripts, own styles,
/// the empty `data:` icon (which keeps browsers from asking for `/favicon.ico`), never framed
/// (another site must not dress them up, nor overlay the report form).
const TEXT_PAGE_CSP: &str =
    "default-src 'none'; style-src 'self'; img-src data:; base-uri 'none'; \
    form-action 'none'; frame-ancestors 'none'";

/// A static text page: `main` (trusted HTML, user text already escaped) in the site's layout,
/// its stylesheet under the public URL's path prefix.
pub fn text_page(urls: &Urls, title: &str, main: &str) -> Response {
    let css = html_escape(&urls.path("/static/view.css"));
    let html = format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · voicebin</title><link rel="icon" href="data:,"><link rel="stylesheet" href="{css}"></head>
<body><main>
{main}
</main></body></html>
"#
    );
    Response::builder()
        .content_type("text/html; charset=utf-8")
        .header(header::CONTENT_SECURITY_POLICY, TEXT_PAGE_CSP)
        .body(html)
}

pub(crate) fn html(body: String, csp: &str) -> Response {
    Response::builder()
        .content_type("text/html; charset=utf-8")
        .header(header::CONTENT_SECURITY_POLICY, csp)
        .header("Referrer-Policy", "strict-origin-when-cross-origin")
        .body(body)
}

/// The page answering a clip request that cannot be served: the access rule's refusal, or a
/// read model that could not be read. Its status is the problem's (the error table's); the
/// words are for people.
pub fn error_page(urls: &Urls, error: FindError) -> Response {
    error_page_with(urls, error, "")
}

/// [`error_page`] for a clip's view page: a clip that is not public is "not found" to everyone,
/// and `static/app/not-public.js` tells its owner (or a moderator), signed in in this tab, why
/// it is not public, and lets them play it.
pub fn view_error_page(urls: &Urls, error: FindError, id: &str) -> Response {
    let extra = format!(
        "<section id=\"not-public\" class=\"owner-panel\" aria-live=\"polite\" data-clip=\"{id}\" \
         data-base=\"{base}\" hidden></section><script type=\"module\" src=\"{script}\"></script>",
        id = html_escape(id),
        base = html_escape(&urls.path("")),
        script = html_escape(&urls.path("/static/app/not-public.js")),
    );
    error_page_with(urls, error, &extra)
}

/// The error page, with `extra` (trusted HTML) after its words.
fn error_page_with(urls: &Urls, error: FindError, extra: &str) -> Response {
    let error = ApiError::from(error);
    let (title, text) = match error.code() {
        Code::Gone => (
            "Gone",
            "This clip has been deleted or is no longer available.",
        ),
        Code::Removed => ("Removed", "This clip was taken down by a moderator."),
        Code::Unavailable | Code::Internal => ("Unavailable", "Please try again in a moment."),
        _ => ("Not found", "There is no clip here."),
    };
    let status = error.status();
    let css = html_escape(&urls.path("/static/view.css"));
    Response::builder()
        .status(status)
        .content_type("text/html; charset=utf-8")
        .header(header::CONTENT_SECURITY_POLICY, PAGE_CSP)
        .body(format!(
            "<!doctype html><html lang=en><head><meta charset=utf-8><title>{title} · voicebin</title>\
             <link rel=icon href=\"data:,\"><link rel=stylesheet href=\"{css}\"></head>\
             <body><h1>{title}</h1>\
             <p id=\"error-text\">{text}</p>{extra}</body></html>"
        ))
}
