//! What the OpenAPI document says that poem-openapi cannot declare: the links from an upload to
//! the operations on the new clip, and the exact rules of the values the handlers read raw and
//! validate themselves (metadata headers and form fields, `q`, `cursor`, the patch body).
//!
//! The patterns mirror `voicebin_domain`'s parsers: control characters (and U+2028/U+2029 and the
//! invisible format characters: bidi controls, zero-width spaces, tags) are refused anywhere,
//! and length limits apply after surrounding whitespace is trimmed (with a looser limit before). The contract test (`tests/api/contract.rs`, schemathesis) checks that the server
//! accepts what these schemas allow and refuses what they do not.

use serde_json::{json, Map, Value};

use voicebin_domain::values::REFUSED_FORMAT_CHARS;
use voicebin_domain::{Description, Filename, Title};

use super::openapi31::{add_links, refine_parameter};

/// Characters refused in titles and filenames (`voicebin_domain::values::is_refused_char`:
/// `char::is_control`, line/paragraph separators, and the format characters of
/// `REFUSED_FORMAT_CHARS`), as the inside of a character class.
fn control() -> String {
    format!(r"\x00-\x1F\x7F-\x9F\u2028\u2029{}", format_chars())
}

/// The same for descriptions, which may hold tabs and newlines.
fn control_but_tab_lf() -> String {
    format!(r"\x00-\x08\x0B-\x1F\x7F-\x9F\u2028\u2029{}", format_chars())
}

/// The refused format characters as class ranges: `\uXXXX` escapes in the Basic Multilingual
/// Plane, the characters themselves beyond it (which ECMA-262 without the `u` flag, Python
/// and the `regex` crate read alike).
fn format_chars() -> String {
    let one = |c: char| {
        if u32::from(c) <= 0xFFFF {
            format!(r"\u{:04X}", u32::from(c))
        } else {
            c.to_string()
        }
    };
    REFUSED_FORMAT_CHARS
        .iter()
        .map(|&(first, last)| {
            if first == last {
                one(first)
            } else {
                format!("{}-{}", one(first), one(last))
            }
        })
        .collect()
}
/// Unicode whitespace (what `str::trim` removes) that is not a refused character.
const SPACE: &str = r" \xA0\u1680\u2000-\u200A\u202F\u205F\u3000";
/// All Unicode whitespace (`char::is_whitespace`).
const ANY_SPACE: &str = r"\t-\r \x85\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000";

/// At most `max` characters of `allowed`, once surrounding whitespace (`space`) is trimmed.
fn trimmed_text(space: &str, allowed: &str, max: usize) -> Value {
    json!({ "pattern": format!("^[{space}]*{allowed}{{0,{max}}}[{space}]*$") })
}

/// What `Title::parse` accepts: at most 200 characters once trimmed, 400 before.
fn title() -> Value {
    let mut keywords = trimmed_text(SPACE, &format!("[^{}]", control()), Title::MAX_LEN);
    keywords["maxLength"] = json!(Title::MAX_RAW_LEN);
    keywords
}

/// What `Description::parse` accepts: at most 5000 characters once trimmed, 10000 before.
fn description() -> Value {
    let mut keywords = trimmed_text(
        &format!(r"\t\n{SPACE}"),
        &format!("[^{}]", control_but_tab_lf()),
        Description::MAX_LEN,
    );
    keywords["maxLength"] = json!(Description::MAX_RAW_LEN);
    keywords
}

/// A report's note: what `ReportNote::parse` accepts (as a description, at most 1000).
fn note() -> Value {
    trimmed_text(
        &format!(r"\t\n{SPACE}"),
        &format!("[^{}]", control_but_tab_lf()),
        1000,
    )
}

/// A moderator's reason: as a note, at most 500 characters, and not blank.
fn moderation_reason() -> Value {
    let Value::String(text) = &trimmed_text(
        &format!(r"\t\n{SPACE}"),
        &format!("[^{}]", control_but_tab_lf()),
        500,
    )["pattern"] else {
        return json!({});
    };
    let not_blank = format!(r"^(?=[\s\S]*[^\t\n{SPACE}])");
    json!({ "pattern": format!("{not_blank}{}", &text[1..]) })
}

/// An optional directory part, dropped by the server (`/` or `\` separated).
fn filename_dirs() -> String {
    format!(r"(?:[^{}]*[/\\])?", control())
}

/// Last path components that do not name a file: empty, `.` or `..` once trimmed.
fn filename_refused_base() -> String {
    format!(r"[{SPACE}]*\.{{0,2}}[{SPACE}]*")
}

/// A last path component of at most 255 characters once trimmed.
fn filename_base() -> String {
    format!(r"[{SPACE}]*[^{}/\\]{{0,255}}[{SPACE}]*", control())
}

/// A name whose last path component (after `/` or `\`, trimmed) is a file name: not empty, `.`
/// or `..`, at most 255 characters; the whole value at most 1020 characters.
fn filename() -> Value {
    json!({
        "maxLength": Filename::MAX_RAW_LEN,
        "pattern": format!(
            "^{}(?!{}$){}$",
            filename_dirs(),
            filename_refused_base(),
            filename_base()
        ),
    })
}

/// A download limit sent as text (header or form field): a whole number from 1 to 1000000000,
/// as `u64::from_str` reads it once trimmed (an optional `+`, leading zeros).
fn download_limit_text() -> Value {
    json!({
        "type": "string",
        "maxLength": crate::usecases::clips::MAX_LIMIT_TEXT,
        "pattern": format!(
            "^[{ANY_SPACE}]*\\+?0*(?:[1-9][0-9]{{0,8}}|1000000000)[{ANY_SPACE}]*$"
        ),
    })
}

/// A lifetime sent as `x-expires-in`: the forms a pattern can promise are accepted when the
/// operator sets no maximum (`voicebin_domain::Lifetime::parse` takes more: any mix of weeks,
/// days, hours, minutes and seconds under 100 years). Whole seconds up to 999999999, or one
/// of `P<n>W`, `P<n>D`, `PT<n>H|M|S` and `P<n>DT<n>H` with `n` not zero.
fn lifetime_text() -> Value {
    let n = "0*[1-9][0-9]";
    json!({
        "type": "string",
        "maxLength": 64,
        "pattern": format!(
            "^[{ANY_SPACE}]*(?:{n}{{0,8}}|P{n}{{0,2}}W|P{n}{{0,3}}D|PT{n}{{0,3}}[HMS]\
             |P{n}{{0,3}}DT{n}{{0,3}}H)[{ANY_SPACE}]*$"
        ),
    })
}

/// Fields that `Item` always carries, `null` until known (`expires_at`: null for never).
const ITEM_NULLABLE: [&str; 8] = [
    "title",
    "description",
    "duration_ms",
    "container",
    "codec",
    "sample_rate",
    "channels",
    "expires_at",
];

fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// Marks `fields` of component `schema` as required and nullable: sent always, `null` when
/// there is no value.
fn always_sent_nullable(doc: &mut Value, schema: &str, fields: &[&str]) {
    let schema = format!("/components/schemas/{schema}");
    for field in fields {
        if let Some(Value::Object(property)) =
            doc.pointer_mut(&format!("{schema}/properties/{field}"))
        {
            if let Some(ty) = property.get("type").cloned() {
                property.insert("type".into(), json!([ty, "null"]));
            }
        }
        if let Some(Value::Object(component)) = doc.pointer_mut(&schema) {
            if let Value::Array(required) = component
                .entry("required")
                .or_insert_with(|| Value::Array(Vec::new()))
            {
                required.push(json!(field));
            }
        }
    }
}

/// Merges `keywords` into the schema at `pointer`, if there is one.
fn refine_schema(doc: &mut Value, pointer: &str, keywords: Value) {
    if let Some(Value::Object(schema)) = doc.pointer_mut(pointer) {
        schema.extend(object(keywords));
    }
}

/// Documents `RateLimit-Policy` and `RateLimit` on every response of the rate-limited
/// operations (uploads and every read; `throttle.rs` writes them, and `api_class` says which
/// requests are limited): defined once under `components/headers`, referenced from each
/// response. They are not required: an operator may turn a limit off.
fn rate_limit_headers(doc: &mut Value) {
    let headers = json!({
        "RateLimit-Policy": {
            "description": "The rate-limit policy that counted this request \
                (draft-ietf-httpapi-ratelimit-headers): a structured-field list of one item, \
                the policy's name (`<class>-account` for a signed-in caller, \
                `<class>-address` otherwise; the class is `uploads` or `reads` here) with its \
                quota `q` (requests) and window `w` (seconds), as in \
                `\"reads-account\";q=600;w=60`. The quota is a token bucket: `q` at once, \
                refilled evenly over `w`.",
            "schema": { "type": "string" }
        },
        "RateLimit": {
            "description": "Where the caller stands with that policy: `r`, the requests \
                allowed now, and `t`, the seconds until one more is, as in \
                `\"reads-account\";r=599;t=1`. A refused request (429) has `r=0` and `t` \
                equal to `Retry-After`.",
            "schema": { "type": "string" }
        }
    });
    if let Some(Value::Object(components)) = doc.pointer_mut("/components") {
        let all = components.entry("headers").or_insert_with(|| json!({}));
        if let Value::Object(all) = all {
            for (name, header) in object(headers) {
                all.insert(name, header);
            }
        }
    }
    let Some(Value::Object(paths)) = doc.get_mut("paths") else {
        return;
    };
    for (path, item) in paths.iter_mut() {
        let Value::Object(item) = item else { continue };
        for (method, operation) in item.iter_mut() {
            let limited = method == "get" || (method == "post" && path == "/api/v1/audio");
            if !limited {
                continue;
            }
            let Some(Value::Object(responses)) = operation.get_mut("responses") else {
                continue;
            };
            for response in responses.values_mut() {
                let Value::Object(response) = response else {
                    continue;
                };
                let headers = response.entry("headers").or_insert_with(|| json!({}));
                if let Value::Object(headers) = headers {
                    for name in ["RateLimit-Policy", "RateLimit"] {
                        headers.insert(
                            name.into(),
                            json!({ "$ref": format!("#/components/headers/{name}") }),
                        );
                    }
                }
            }
        }
    }
}

/// Adds links, the rate-limit headers and the handlers' own validation rules to the (3.1)
/// document.
pub fn refine(doc: &mut Value) {
    rate_limit_headers(doc);
    let id = json!({ "id": "$response.body#/id" });
    let link = |operation: &str, description: &str| json!({ "operationId": operation, "parameters": id, "description": description });
    let links = object(json!({
        "GetItem": link("getItem", "Read the uploaded clip."),
        "UpdateItem": link("updateItem", "Edit the uploaded clip."),
        "DeleteItem": link("deleteItem", "Delete the uploaded clip."),
        "GetItemPeaks": link("getItemPeaks", "The uploaded clip's waveform, once scanned."),
    }));
    add_links(doc, "uploadAudio", "201", links);

    for (name, keywords) in [
        ("x-filename", filename()),
        ("x-title", title()),
        ("x-description", description()),
        ("x-download-limit", download_limit_text()),
        ("x-expires-in", lifetime_text()),
    ] {
        refine_parameter(doc, "uploadAudio", "header", name, &object(keywords));
    }
    let form =
        "/paths/~1api~1v1~1audio/post/requestBody/content/multipart~1form-data/schema/properties";
    refine_schema(doc, &format!("{form}/filename"), filename());
    refine_schema(doc, &format!("{form}/title"), title());
    refine_schema(doc, &format!("{form}/description"), description());
    refine_schema(
        doc,
        &format!("{form}/download_limit"),
        download_limit_text(),
    );
    refine_schema(doc, &format!("{form}/expires_in"), lifetime_text());
    // The form has these parts and no others (`rest/form.rs`), each at most once.
    let closed = json!({ "additionalProperties": false });
    refine_schema(doc, form.trim_end_matches("/properties"), closed);

    // poem-openapi documents `Option` fields as optional; `Item` always sends them (null
    // until known), and `QuotaLimits` always sends both limits (null for none).
    always_sent_nullable(doc, "Item", &ITEM_NULLABLE);
    always_sent_nullable(doc, "QuotaLimits", &["bytes", "clips"]);

    let q = trimmed_text(ANY_SPACE, r"[^\x00-\x1F\x7F-\x9F]", 200);
    refine_parameter(doc, "listItems", "query", "q", &object(q));
    let cursor = json!({ "maxLength": 128, "pattern": "^[A-Za-z0-9_-]*$" });
    refine_parameter(doc, "listItems", "query", "cursor", &object(cursor.clone()));

    refine_parameter(doc, "listReports", "query", "cursor", &object(cursor));
    let report = "/components/schemas/NewReport";
    refine_schema(doc, report, json!({ "additionalProperties": false }));
    refine_schema(doc, &format!("{report}/properties/note"), note());
    let decision = "/components/schemas/DecisionBody";
    refine_schema(doc, decision, json!({ "additionalProperties": false }));
    refine_schema(
        doc,
        &format!("{decision}/properties/reason"),
        moderation_reason(),
    );

    // A transcript is these fields and no others (`TranscriptInput`, `SegmentInput`).
    for schema in ["TranscriptInput", "SegmentInput"] {
        refine_schema(
            doc,
            &format!("/components/schemas/{schema}"),
            json!({ "additionalProperties": false }),
        );
    }
    // An unknown language may be sent as `null` too.
    refine_schema(
        doc,
        "/components/schemas/TranscriptInput/properties/language",
        json!({ "type": ["string", "null"] }),
    );

    let patch = "/components/schemas/ItemPatch";
    refine_schema(doc, patch, json!({ "additionalProperties": false }));
    // `null` clears a field (poem-openapi does not mark `MaybeUndefined` fields nullable).
    let nullable = |mut keywords: Value| {
        keywords["type"] = json!(["string", "null"]);
        keywords
    };
    refine_schema(doc, &format!("{patch}/properties/title"), nullable(title()));
    refine_schema(
        doc,
        &format!("{patch}/properties/description"),
        nullable(description()),
    );
    refine_schema(
        doc,
        &format!("{patch}/properties/download_limit"),
        json!({
            "type": ["integer", "null"],
            "format": "int64",
            "minimum": 1,
            "maximum": 1_000_000_000
        }),
    );
    refine_schema(
        doc,
        &format!("{patch}/properties/expires_at"),
        json!({ "type": ["string", "null"], "format": "date-time" }),
    );
    refine_schema(
        doc,
        "/components/schemas/Item/properties/expires_at",
        json!({ "format": "date-time" }),
    );
}

/// The methods the document allows on the API path `path` (for `Allow` on a 405), `None` if no
/// documented path matches.
pub fn allowed_methods(doc: &Value, path: &str) -> Option<String> {
    let segments: Vec<&str> = path.split('/').collect();
    let paths = doc.get("paths")?.as_object()?;
    let (_, item) = paths.iter().find(|(template, _)| {
        let parts: Vec<&str> = template.split('/').collect();
        parts.len() == segments.len()
            && parts
                .iter()
                .zip(&segments)
                .all(|(t, s)| (t.starts_with('{') && !s.is_empty()) || t == s)
    })?;
    let mut methods: Vec<String> = item
        .as_object()?
        .keys()
        .filter(|m| {
            ["get", "put", "post", "delete", "patch", "options", "trace"].contains(&m.as_str())
        })
        .map(|m| m.to_ascii_uppercase())
        .collect();
    if methods.iter().any(|m| m == "GET") {
        methods.push("HEAD".into());
    }
    Some(methods.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use voicebin_domain::Lifetime;

    /// A schema's `pattern` (compiled once by the `regex` crate, allowed the size that counted
    /// repetitions of large classes take) and `maxLength`.
    struct Text {
        pattern: regex::Regex,
        max: Option<u64>,
    }

    fn compile(pattern: &str) -> regex::Regex {
        regex::RegexBuilder::new(pattern)
            .size_limit(1 << 30)
            .build()
            .unwrap()
    }

    impl Text {
        fn of(schema: &Value) -> Self {
            Text {
                pattern: compile(schema["pattern"].as_str().unwrap()),
                max: schema["maxLength"].as_u64(),
            }
        }

        fn matches(&self, text: &str) -> bool {
            self.pattern.is_match(text)
                && self
                    .max
                    .is_none_or(|max| text.chars().count() as u64 <= max)
        }
    }

    fn matches(schema: &Value, text: &str) -> bool {
        Text::of(schema).matches(text)
    }

    /// The filename pattern, checked with the `regex` crate (which has no look-ahead).
    struct FilenameText {
        whole: regex::Regex,
        refused: regex::Regex,
    }

    impl FilenameText {
        fn new() -> Self {
            FilenameText {
                whole: compile(&format!("^{}{}$", filename_dirs(), filename_base())),
                refused: compile(&format!("^{}$", filename_refused_base())),
            }
        }

        fn matches(&self, text: &str) -> bool {
            let base = text.rsplit(['/', '\\']).next().unwrap();
            self.whole.is_match(text)
                && !self.refused.is_match(base)
                && text.chars().count() <= Filename::MAX_RAW_LEN
        }
    }

    #[test]
    fn patterns_agree_with_the_domain_parsers() {
        let samples = [
            "",
            " ",
            "a",
            " a ",
            "\u{a0}x\u{a0}",
            "a\tb",
            "a\nb",
            "a\u{7}b",
            "a\u{2028}",
            ".",
            "..",
            " .. ",
            "...",
            ". .",
            "a/",
            "a/.",
            "dir/x.wav",
            "dir\\x.wav",
            "\u{202e}x",
            "a\u{2066}b\u{2069}",
            "a\u{200e}",
            "\u{61c}a",
            "a\u{200b}b",
            "a\u{feff}",
            "a\u{e0041}",
            "a\u{ad}b",
            "a\u{200d}b",
            "a\u{200c}b",
            "é",
        ];
        let long = [
            "x".repeat(200),
            "x".repeat(201),
            format!(" {} ", "x".repeat(200)),
            format!("{}x", " ".repeat(399)),
            format!("{}x", " ".repeat(400)),
            format!("{}x", "\n".repeat(9999)),
            format!("{}x", "\n".repeat(10_000)),
        ];
        let (title, description) = (Text::of(&title()), Text::of(&description()));
        let filename = FilenameText::new();
        for text in samples
            .iter()
            .copied()
            .chain(long.iter().map(String::as_str))
        {
            assert_eq!(
                title.matches(text),
                Title::parse(text).is_ok(),
                "title {text:?}"
            );
            assert_eq!(
                description.matches(text),
                Description::parse(text).is_ok(),
                "description {text:?}"
            );
            assert_eq!(
                filename.matches(text),
                Filename::parse(text).is_ok(),
                "filename {text:?}"
            );
        }
        let lifetime = Text::of(&lifetime_text());
        for text in [
            "1",
            "3600",
            " 0042 ",
            "999999999",
            "P1W",
            "P99W",
            "P7D",
            "P9999D",
            "PT1H",
            "PT90M",
            "PT5S",
            "P1DT12H",
            "P0001D",
        ] {
            assert!(lifetime.matches(text), "{text:?}");
            assert!(Lifetime::parse(text).is_ok(), "{text:?}");
        }
        // What the pattern refuses may still be accepted; what it takes never fails.
        for text in [
            "0", "PT0S", "P0D", "P1M", "P1Y", "", "P", "PT", "-1", "1.5", "P1000W",
        ] {
            assert!(!lifetime.matches(text), "{text:?}");
        }
        let name = "y".repeat(256);
        assert!(!filename.matches(&name));
        assert!(filename.matches(&format!("d/{}", &name[1..])));
        assert!(!filename.matches(&format!("d/{}", "z".repeat(1019))));
    }

    #[test]
    fn the_limit_pattern_agrees_with_the_upload_parser() {
        let limit = download_limit_text();
        for text in [
            "1",
            "+7",
            " 42 ",
            "0005",
            "1000000000",
            "999999999",
            "0",
            "-1",
            "1000000001",
            "1.0",
            "",
            "ten",
            "99999999999999999999",
            &format!("{}1", "0".repeat(63)),
            &format!("{}1", "0".repeat(64)),
        ] {
            let parsed = text.chars().count() <= crate::usecases::clips::MAX_LIMIT_TEXT
                && text
                    .trim()
                    .parse::<u64>()
                    .is_ok_and(|n| (1..=1_000_000_000).contains(&n));
            assert_eq!(matches(&limit, text), parsed, "{text:?}");
        }
    }

    #[test]
    fn allow_lists_the_documented_methods() {
        let doc = json!({ "paths": {
            "/api/v1/items/{id}": { "get": {}, "patch": {}, "delete": {}, "parameters": [] },
            "/api/v1/audio": { "post": {} }
        }});
        assert_eq!(
            allowed_methods(&doc, "/api/v1/items/abc").as_deref(),
            Some("DELETE, GET, PATCH, HEAD")
        );
        assert_eq!(
            allowed_methods(&doc, "/api/v1/audio").as_deref(),
            Some("POST")
        );
        assert_eq!(allowed_methods(&doc, "/api/v1/items/"), None);
        assert_eq!(allowed_methods(&doc, "/api/v1/nope"), None);
    }
}
