use super::*;

fn q(text: &str) -> SearchQuery {
    SearchQuery::parse(text).unwrap()
}

fn marked(parts: &[SnippetPart]) -> String {
    parts
        .iter()
        .map(|p| {
            if p.hit {
                format!("[{}]", p.text)
            } else {
                p.text.clone()
            }
        })
        .collect()
}

pub(crate) fn view(title: Option<&str>, filename: &str, description: Option<&str>) -> ClipView {
    ClipView {
        id: "AAAAAAAAAAAAAAAA".into(),
        owner: "alice".into(),
        title: title.map(str::to_owned),
        description: description.map(str::to_owned),
        filename: filename.into(),
        content_type: "audio/wav".into(),
        size_bytes: 1,
        sha256: String::new(),
        blob_key: String::new(),
        scan_state: voicebin_domain::ScanState::Clean,
        scan_detail: None,
        scanner: None,
        container: None,
        codec: None,
        duration_ms: None,
        sample_rate: None,
        channels: None,
        peaks: None,
        download_limit: None,
        download_count: 0,
        created_at: 0,
        updated_at: 0,
        scanned_at: None,
        deleted_at: None,
        version: 1,
        moderation_state: voicebin_domain::Moderation::Visible,
        moderation_reason: None,
        moderated_at: None,
        rendition_state: None,
        rendition: None,
        transcript_state: None,
        transcript_source: None,
        transcript_detail: None,
        transcript_language: None,
        transcribed_at: None,
        expires_at: None,
        expired_at: None,
    }
}

fn segment(start_ms: u64, text: &str) -> TranscriptSegment {
    TranscriptSegment {
        start_ms,
        end_ms: start_ms + 1000,
        text: text.into(),
    }
}

#[test]
fn words_are_runs_of_letters_and_digits_lowercased() {
    assert_eq!(normalize("memo_2024.wav"), "memo 2024 wav");
    assert_eq!(
        normalize("  Café, ÉCOLE — 東京都!! 50%off "),
        "café école 東京都 50 off"
    );
    assert_eq!(normalize("🎉 *** \0 \"\""), "");
}

#[test]
fn operators_of_either_backend_are_words_or_nothing() {
    for hostile in [
        "\"",
        "\"\"",
        "*",
        "-",
        "--",
        "^",
        ":",
        "()",
        "(((",
        ")",
        "NEAR",
        "NEAR(a b, 2)",
        "a OR b",
        "AND",
        "NOT x",
        "col:word",
        "{title}:x",
        "'",
        "\\",
        "a & b | !c <-> d",
        "'x':*A",
        "\u{0}",
        "🎉🎉",
    ] {
        match SearchQuery::parse(hostile) {
            Ok(query) => {
                // Every phrase is quoted for FTS5 and is plain lexemes for tsquery.
                let fts = query.fts5();
                assert!(fts.starts_with("(\""), "{hostile}: {fts}");
                assert!(!query.tsquery().contains("\\"), "{hostile}");
            }
            Err(e) => assert!(
                matches!(e, QueryError::NoWords | QueryError::OnlyExclusions),
                "{hostile}: {e}"
            ),
        }
    }
    assert_eq!(
        q("NEAR(a b, 2)").fts5(),
        "(\"near a\"* AND \"b\"* AND \"2\"*)"
    );
    assert_eq!(q("a OR b").tsquery(), "('a':* & 'or':* & 'b':*)");
}

#[test]
fn nothing_to_search_for_is_an_error_saying_why() {
    assert_eq!(SearchQuery::parse(""), Err(QueryError::NoWords));
    assert_eq!(SearchQuery::parse("%_ !! 🎉"), Err(QueryError::NoWords));
    assert_eq!(
        SearchQuery::parse("-draft"),
        Err(QueryError::OnlyExclusions)
    );
    assert_eq!(SearchQuery::parse("- draft").unwrap(), q("draft"));
}

#[test]
fn phrases_exclusions_and_prefixes_render_for_both_backends() {
    let query = q("Budget \"next  steps\" -draft -\"old plan\" memo_2024 budget");
    assert_eq!(
        query.fts5(),
        "(\"budget\"* AND \"next steps\"* AND \"memo 2024\"*) NOT (\"draft\"* OR \"old plan\"*)"
    );
    assert_eq!(
        query.tsquery(),
        "('budget':* & ('next' <-> 'steps':*) & ('memo' <-> '2024':*)) \
         & !('draft':* | ('old' <-> 'plan':*))"
    );
    assert_eq!(
        query.tsquery_any("A"),
        "'budget':*A | ('next':A <-> 'steps':*A) | ('memo':A <-> '2024':*A)"
    );
    assert_eq!(q("memo").tsquery_any("AB"), "'memo':*AB");
    assert_eq!(
        q("memo -x").fts5_rank(2),
        "(((\"memo\"*) NOT (\"x\"*)) AND ({filename} : (\"memo\"*))) \
         NOT ({title} : (\"memo\"*))"
    );
    assert!(query.has_phrase() && !q("one two").has_phrase());
    assert_eq!(
        query.tsquery_words(),
        "'budget':* & 'next':* & 'steps':* & 'memo':* & '2024':*"
    );
    // An unbalanced quote runs to the end.
    assert_eq!(
        q("say \"hello there").fts5(),
        "(\"say\"* AND \"hello there\"*)"
    );
}

#[test]
fn a_hit_is_the_best_field_with_its_snippet() {
    let v = view(
        Some("Weekly standup"),
        "memo_2024.wav",
        Some("we discussed the budget"),
    );
    let hit = q("memo").hit(&v, &[]).unwrap();
    assert_eq!(hit.field, MatchField::Filename);
    assert_eq!(marked(&hit.snippet), "[memo]_2024.wav");
    let hit = q("BUDG stand").hit(&v, &[]).unwrap();
    assert_eq!(hit.field, MatchField::Title);
    assert_eq!(marked(&hit.snippet), "Weekly [standup]");
    assert_eq!(hit.at_ms, None);
    let hit = q("discussed").hit(&v, &[]).unwrap();
    assert_eq!(hit.field, MatchField::Description);
    assert_eq!(marked(&hit.snippet), "we [discussed] the budget");
    assert!(q("zebra").hit(&v, &[]).is_none());
}

#[test]
fn a_transcript_hit_names_the_segment_holding_most_of_the_query() {
    let v = view(None, "clip.wav", None);
    let transcript = [
        segment(0, "Good morning everyone."),
        segment(4_000, "The budget is tight."),
        segment(
            9_500,
            "So the budget for the offsite, the budget, is approved.",
        ),
        segment(15_000, "Offsite budget approved, next steps."),
    ];
    let hit = q("budget").hit(&v, &transcript).unwrap();
    assert_eq!(hit.field, MatchField::Transcript);
    // Most hits of the one phrase.
    assert_eq!(hit.at_ms, Some(9_500));
    assert_eq!(
        marked(&hit.snippet),
        "So the [budget] for the offsite, the [budget], is approved."
    );
    // Most different phrases first.
    let hit = q("budget \"next step\"").hit(&v, &transcript).unwrap();
    assert_eq!(hit.at_ms, Some(15_000));
    assert_eq!(
        marked(&hit.snippet),
        "Offsite [budget] approved, [next steps]."
    );
    // Ties: the earliest.
    let hit = q("morn").hit(&v, &transcript).unwrap();
    assert_eq!(hit.at_ms, Some(0));
}

#[test]
fn long_text_is_cut_around_the_first_hit_at_word_boundaries() {
    let before = "lorem ipsum dolor sit amet ".repeat(10);
    let after = " consectetur adipiscing elit".repeat(20);
    let text = format!("{before}the Zürich office{after}");
    let v = view(None, "x.wav", Some(&text));
    let hit = q("zürich").hit(&v, &[]).unwrap();
    let parts = &hit.snippet;
    assert_eq!(parts.first().unwrap().text, "…");
    assert_eq!(parts.last().unwrap().text, "…");
    let inner = marked(&parts[1..parts.len() - 1]);
    assert!(inner.contains("the [Zürich] office"), "{inner}");
    // Whole words at both ends, and at most 200 characters.
    let plain: String = parts[1..parts.len() - 1]
        .iter()
        .map(|p| p.text.as_str())
        .collect();
    assert!(plain.chars().count() <= 200, "{plain}");
    for word in plain
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
    {
        assert!(
            text.contains(&format!(" {word} ")) || text.starts_with(word),
            "{word}"
        );
    }
    assert!(plain.starts_with(char::is_alphanumeric) && plain.ends_with(char::is_alphanumeric));
}

#[test]
fn a_deleted_clip_has_no_document_and_a_long_transcript_is_bounded() {
    let mut v = view(Some("Title"), "a.wav", None);
    let long = "word ".repeat(100_000);
    let doc = SearchDoc::of(&v, [long.as_str(), "tail"]).unwrap();
    assert!(doc.transcript.len() <= MAX_INDEXED_TRANSCRIPT_CHARS);
    assert!(doc.transcript.ends_with("word"));
    assert_eq!(doc.title, "title");
    assert_eq!(doc.filename, "a wav");
    v.deleted_at = Some(1);
    assert_eq!(SearchDoc::of(&v, []), None);
}
