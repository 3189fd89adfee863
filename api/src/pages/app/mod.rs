//! The web app: `/` (upload or record), `/clips` (my clips), `/moderation` and `/signin`.
//!
//! Each page is a server-rendered shell (the site's header and navigation, the page's own
//! markup) plus an ES module from `/static/app/`, which talks to the same REST API as every
//! other client, with the signed-in person's token from the tab's session storage. The server
//! never knows who is signed in to a page: there is no cookie to read and so no CSRF surface;
//! what depends on the person (their name, the moderation link, their clips) is filled in by
//! the page's script. See ADR 0013.

mod clips;
mod manage;
mod moderation;
mod signin;
mod upload;

pub use clips::clips_page;
pub use manage::manage_page;
pub use moderation::moderation_page;
pub use signin::signin_page;
pub use upload::upload_page;

use poem::http::{header, HeaderValue};
use poem::Response;

use super::{assets, html_escape};
use crate::state::AppState;

/// The policy of the app's pages: own scripts (modules included), styles, images and media;
/// `blob:` media for a recording played back before it is sent; API calls to this site and to
/// the OAuth issuer's endpoints (`extra_connect`); never framed.
fn csp(extra_connect: &[String]) -> String {
    let mut connect = String::from("'self'");
    for origin in extra_connect {
        connect.push(' ');
        connect.push_str(origin);
    }
    format!(
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
         media-src 'self' blob:; connect-src {connect}; base-uri 'none'; form-action 'none'; \
         frame-ancestors 'none'"
    )
}

/// The origin (`scheme://host[:port]`) of an absolute http(s) URL, for a CSP source list.
pub(crate) fn origin_of(url: &str) -> Option<String> {
    let url = url::Url::parse(url).ok()?;
    if !matches!(url.scheme(), "http" | "https") {
        return None;
    }
    match url.origin() {
        origin @ url::Origin::Tuple(..) => Some(origin.ascii_serialization()),
        url::Origin::Opaque(_) => None,
    }
}

/// One app page: what differs between them.
pub(crate) struct Page<'a> {
    /// The page's name: its module is `/static/app/<name>.js`, its own styles (if any)
    /// `/static/app/<name>.css`, and its navigation link is marked current.
    pub name: &'a str,
    /// The `<title>` (before " · voicebin") and nothing else.
    pub title: &'a str,
    /// The page's markup inside `<main>` (trusted HTML: user text already escaped).
    pub main: &'a str,
    /// `data-*` attributes for `<body>` (name without `data-`, value unescaped): what the
    /// page's script needs to know of the configuration.
    pub data: Vec<(&'a str, String)>,
    /// Origins besides this site that the page's script may call (the OAuth issuer's).
    pub connect: Vec<String>,
}

/// The navigation: (page name, path, label, scope needed to see the link).
const NAV: &[(&str, &str, &str, Option<&str>)] = &[
    ("upload", "/", "Upload", None),
    ("clips", "/clips", "My clips", None),
    (
        "moderation",
        "/moderation",
        "Moderation",
        Some("voice:moderate"),
    ),
];

/// Renders `page` in the app's layout.
pub(crate) fn render(state: &AppState, page: Page<'_>) -> Response {
    let e = html_escape;
    let path = |p: &str| e(&state.urls.path(p));
    let mut nav = String::new();
    for (name, href, label, scope) in NAV {
        let current = if *name == page.name {
            r#" aria-current="page""#
        } else {
            ""
        };
        let scope = scope.map_or(String::new(), |s| {
            format!(r#" data-needs-scope="{}" hidden"#, e(s))
        });
        nav.push_str(&format!(
            r#"<li{scope}><a href="{href}"{current}>{label}</a></li>"#,
            href = path(href),
        ));
    }
    let own_css = format!("app/{}.css", page.name);
    let own_css = if assets::exists(&own_css) {
        format!(
            r#"<link rel="stylesheet" href="{}">"#,
            path(&format!("/static/{own_css}"))
        )
    } else {
        String::new()
    };
    let mut data = format!(
        r#" data-page="{}" data-base="{}" data-site="{}""#,
        e(page.name),
        e(&state.urls.path("")),
        e(state.urls.base()),
    );
    for (name, value) in &page.data {
        data.push_str(&format!(r#" data-{}="{}""#, e(name), e(value)));
    }
    let body = format!(
        r##"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · voicebin</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="{app_css}">{own_css}
<script type="module" src="{script}"></script>
</head>
<body{data}>
<a class="skip" href="#main">Skip to content</a>
<header class="site">
<nav aria-label="Main">
<a class="brand" href="{home}">voicebin</a>
<ul class="pages">{nav}</ul>
<div class="account">
<span id="account-name" hidden></span>
<a id="sign-in" href="{signin}"{signin_current}>Sign in</a>
<button id="sign-out" type="button" hidden>Sign out</button>
</div>
</nav>
</header>
<main id="main" tabindex="-1">
{main}
</main>
<footer class="site"><a href="{docs}">API docs</a> · <a href="{privacy}">Privacy</a> · <a href="{abuse}">Report abuse</a></footer>
<div id="announcer" class="visually-hidden" role="status" aria-live="polite"></div>
</body>
</html>
"##,
        title = e(page.title),
        app_css = path("/static/app/app.css"),
        script = path(&format!("/static/app/{}.js", page.name)),
        home = path("/"),
        signin = path("/signin"),
        signin_current = if page.name == "signin" {
            r#" aria-current="page""#
        } else {
            ""
        },
        docs = path("/docs"),
        privacy = path("/privacy"),
        abuse = path("/abuse"),
        main = page.main,
    );
    let mut response = super::html(body, &csp(&page.connect));
    // The shells hold nothing personal, but they change with each release: revalidate.
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_scheme_host_and_port_only() {
        assert_eq!(
            origin_of("https://id.example/oauth/token?x=1").as_deref(),
            Some("https://id.example")
        );
        assert_eq!(
            origin_of("http://127.0.0.1:3000/token").as_deref(),
            Some("http://127.0.0.1:3000")
        );
        assert_eq!(origin_of("javascript:alert(1)"), None);
        assert_eq!(origin_of("not a url"), None);
    }

    #[test]
    fn the_policy_allows_no_inline_script_and_only_named_origins() {
        let policy = csp(&["https://id.example".into()]);
        assert!(policy.contains("script-src 'self';"), "{policy}");
        assert!(!policy.contains("unsafe"), "{policy}");
        assert!(
            policy.contains("connect-src 'self' https://id.example;"),
            "{policy}"
        );
        assert!(policy.contains("frame-ancestors 'none'"), "{policy}");
    }
}
