//! Text output for people: sizes, durations, and the clip table. `--json` bypasses all of it.
//! Everything for standard output goes through [`out!`]/[`outln!`], which end the program
//! quietly when the reader has gone (`vb list | head -1`) instead of panicking as `println!`
//! does.

use std::io::Write;

use serde_json::Value;

/// Writes `text` to standard output. When the reader has gone, there is nobody left to tell:
/// the program ends with success (as `cat` does when `head` stops reading); any other failure
/// to write ends it with exit 1.
pub fn write_stdout(text: &str) {
    let mut stdout = std::io::stdout().lock();
    let written = stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush());
    match written {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => std::process::exit(0),
        Err(e) => {
            eprintln!("error: cannot write to standard output: {e}");
            std::process::exit(1);
        }
    }
}

/// `print!` to standard output, through [`write_stdout`].
#[macro_export]
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::output::write_stdout(&format!($($arg)*))
    };
}

/// `println!` to standard output, through [`write_stdout`].
#[macro_export]
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::output::write_stdout(&format!("{}\n", format!($($arg)*)))
    };
}

/// `12.3 MB` (decimal units, as the server's own messages write them).
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit < UNITS.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// `1:05` or `1:02:05`.
pub fn duration_ms(ms: u64) -> String {
    let secs = ms / 1000;
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    if h > 0 {
        format!("{h}:{m:02}:{s:02}")
    } else {
        format!("{m}:{s:02}")
    }
}

/// A string member, or `-`, safe for a terminal ([`clean`]).
pub fn text(value: &Value, key: &str) -> String {
    match &value[key] {
        Value::String(s) => clean(s),
        Value::Null => "-".into(),
        other => other.to_string(),
    }
}

/// Text from the server made safe to print on a terminal: escape sequences (`ESC [ ... m`,
/// `ESC ] ... BEL`, their one-byte C1 forms) are dropped, and other control characters and
/// the bidirectional overrides that could make a line read as another become spaces, so a
/// title cannot recolour, retitle or rewrite what the user sees. Line breaks go too: each
/// value prints on one line.
pub fn clean(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            // CSI: parameters and intermediates up to a final byte in @..~.
            '\u{1b}' if chars.peek() == Some(&'[') => {
                chars.next();
                skip_csi(&mut chars);
            }
            '\u{9b}' => skip_csi(&mut chars),
            // OSC, DCS, SOS, PM, APC: a string up to BEL or ST (ESC \).
            '\u{1b}' if matches!(chars.peek(), Some(']' | 'P' | 'X' | '^' | '_')) => {
                chars.next();
                skip_string(&mut chars);
            }
            '\u{9d}' | '\u{90}' | '\u{98}' | '\u{9e}' | '\u{9f}' => skip_string(&mut chars),
            // Any other escape: ESC and the character after it.
            '\u{1b}' => {
                chars.next();
            }
            c if c.is_control() || is_bidi_control(c) => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

fn skip_csi(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
    for c in chars.by_ref() {
        if ('\u{40}'..='\u{7e}').contains(&c) {
            break;
        }
    }
}

fn skip_string(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
    while let Some(c) = chars.next() {
        match c {
            '\u{7}' | '\u{9c}' => break,
            '\u{1b}' if chars.peek() == Some(&'\\') => {
                chars.next();
                break;
            }
            _ => {}
        }
    }
}

/// The Unicode controls that reorder text (U+202A-U+202E, U+2066-U+2069, U+200E, U+200F).
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}')
}

/// The clips as a table: id, date, size, length, state, title (or filename).
pub fn table(items: &[Value]) -> String {
    let rows: Vec<[String; 6]> = items
        .iter()
        .map(|item| {
            let title = match item["title"].as_str() {
                Some(t) if !t.is_empty() => t.to_owned(),
                _ => text(item, "filename"),
            };
            [
                text(item, "id"),
                item["created_at"]
                    .as_str()
                    .map(|t| clean(&t.chars().take(10).collect::<String>()))
                    .unwrap_or_else(|| "-".into()),
                item["size_bytes"]
                    .as_u64()
                    .map(bytes)
                    .unwrap_or_else(|| "-".into()),
                item["duration_ms"]
                    .as_u64()
                    .map(duration_ms)
                    .unwrap_or_else(|| "-".into()),
                text(item, "scan_state"),
                one_line(&title),
            ]
        })
        .collect();
    let header = ["ID", "CREATED", "SIZE", "LENGTH", "STATE", "TITLE"];
    let mut widths = header.map(|h| h.chars().count());
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: &[String]| {
        let mut out = String::new();
        for (i, (cell, width)) in cells.iter().zip(widths).enumerate() {
            if i + 1 == cells.len() {
                out.push_str(cell);
            } else {
                out.push_str(&format!("{cell:<width$}  "));
            }
        }
        out.trim_end().to_owned()
    };
    let mut out = line(&header.map(String::from));
    for row in &rows {
        out.push('\n');
        out.push_str(&line(row));
    }
    out
}

/// A clip's metadata as `name  value` lines (only what the answer holds).
pub fn details(item: &Value) -> String {
    let mut lines: Vec<(&str, String)> = vec![
        ("id", text(item, "id")),
        ("title", text(item, "title")),
        ("filename", text(item, "filename")),
    ];
    if let Some(description) = item["description"].as_str() {
        lines.push(("description", one_line(description)));
    }
    lines.push(("type", text(item, "content_type")));
    if let Some(size) = item["size_bytes"].as_u64() {
        lines.push(("size", bytes(size)));
    }
    if let Some(ms) = item["duration_ms"].as_u64() {
        lines.push(("length", duration_ms(ms)));
    }
    if item.get("scan_state").is_some() {
        let mut state = text(item, "scan_state");
        if let Some(detail) = item["scan_detail"].as_str() {
            state.push_str(&format!(" ({})", clean(detail)));
        }
        lines.push(("state", state));
    }
    if let Some(moderation) = item["moderation"]["state"].as_str() {
        if moderation != "visible" {
            lines.push(("moderation", clean(moderation)));
        }
    }
    lines.push(("created", text(item, "created_at")));
    let expires = match item["expires_at"].as_str() {
        Some(at) => clean(at),
        None => "never".into(),
    };
    lines.push(("expires", expires));
    if item.get("download_count").is_some() {
        let count = text(item, "download_count");
        let downloads = match item["download_limit"].as_u64() {
            Some(limit) => format!("{count} of {limit}"),
            None => format!("{count} (no limit)"),
        };
        lines.push(("downloads", downloads));
    }
    lines.push(("view", text(&item["urls"], "view")));
    lines.push(("download", text(&item["urls"], "download")));
    let width = lines.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    lines
        .iter()
        .map(|(k, v)| format!("{k:<width$}  {v}\n"))
        .collect()
}

/// A value on one line, safe for a terminal ([`clean`]).
fn one_line(s: &str) -> String {
    clean(s)
}

/// Prints JSON, pretty, to stdout.
pub fn print_json(value: &Value) {
    crate::outln!(
        "{}",
        serde_json::to_string_pretty(value).expect("JSON values always serialize")
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sizes_and_lengths_read_like_the_server_writes_them() {
        assert_eq!(bytes(999), "999 B");
        assert_eq!(bytes(34_200_000), "34.2 MB");
        assert_eq!(duration_ms(65_400), "1:05");
        assert_eq!(duration_ms(3_725_000), "1:02:05");
    }

    #[test]
    fn escape_sequences_and_controls_from_the_server_are_not_printed() {
        assert_eq!(clean("plain title"), "plain title");
        assert_eq!(clean("\u{1b}[31mred\u{1b}[0m"), "red");
        assert_eq!(clean("a\u{1b}]0;new window title\u{7}b"), "ab");
        assert_eq!(
            clean("a\u{1b}]8;;https://evil\u{1b}\\link\u{1b}]8;;\u{1b}\\b"),
            "alinkb"
        );
        assert_eq!(clean("a\u{9b}2Jb"), "ab");
        assert_eq!(clean("over\rwrite\nline\u{7}"), "over write line ");
        assert_eq!(clean("abc\u{202e}fed"), "abc fed");
        assert_eq!(clean("été ☕"), "été ☕");
        let item = json!({"id": "\u{1b}[2Jabc"});
        assert_eq!(text(&item, "id"), "abc");
    }

    #[test]
    fn the_table_aligns_columns_and_falls_back_to_the_filename() {
        let items = [
            json!({"id": "abc", "created_at": "2026-12-05T10:00:00Z", "size_bytes": 1500,
                   "duration_ms": 2000, "scan_state": "clean", "title": "Standup\nnotes",
                   "filename": "a.wav"}),
            json!({"id": "defghi", "created_at": "2026-12-04T10:00:00Z", "size_bytes": 12,
                   "duration_ms": null, "scan_state": "pending", "title": null,
                   "filename": "b.ogg"}),
        ];
        assert_eq!(
            table(&items),
            "ID      CREATED     SIZE    LENGTH  STATE    TITLE\n\
             abc     2026-12-05  1.5 kB  0:02    clean    Standup notes\n\
             defghi  2026-12-04  12 B    -       pending  b.ogg"
        );
    }
}
