//! Output shared by every command: aligned tables, ages, timestamps,
//! abbreviated ids, JSON documents, and text cut for display (keeping the
//! end, where conclusions are, on a character boundary).

use anyhow::Result;

/// Version of every `--json` document the suite prints.
pub const JSON_VERSION: u32 = 1;

/// Rows as aligned text: every column padded to its widest cell (counted
/// in characters), two spaces between columns, no trailing blanks.
pub fn format_table<const N: usize>(rows: &[[String; N]]) -> String {
    let widths: Vec<usize> = (0..N)
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in rows {
        let line: Vec<String> = row
            .iter()
            .enumerate()
            .map(|(i, cell)| format!("{cell:<w$}", w = widths[i]))
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    out
}

/// "3m", "2h", "4d": how long ago `then` was.
pub fn age(then: i64, now: i64) -> String {
    let secs = (now - then).max(0);
    match secs {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m", s / 60),
        s if s < 86_400 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86_400),
    }
}

/// The first 7 hex digits of an object id, as git abbreviates.
pub fn short(oid: &str) -> &str {
    oid.get(..7).unwrap_or(oid)
}

/// Print a JSON document on stdout.
pub fn print_json(value: &serde_json::Value) -> Result<()> {
    use std::io::Write as _;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    serde_json::to_writer_pretty(&mut out, value)?;
    writeln!(out)?;
    out.flush()?;
    Ok(())
}

/// `2026-11-21 09:18:12Z` from unix seconds (UTC, no dependency needed).
pub fn timestamp(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// `text` made harmless for a terminal: control characters other than
/// newline and tab (escape sequences that move the cursor, erase lines,
/// set the clipboard or the window title) shown as `^[`-style caret
/// notation or `\u{..}`. For text a worker wrote (notices, summaries,
/// notes, verification output) shown to the coordinator.
pub fn printable(text: &str) -> std::borrow::Cow<'_, str> {
    let harmful = |c: char| c.is_control() && c != '\n' && c != '\t';
    if !text.chars().any(harmful) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            c if !harmful(c) => out.push(c),
            c if (c as u32) < 0x20 => {
                out.push('^');
                out.push(char::from(b'@' + c as u8));
            }
            '\u{7f}' => out.push_str("^?"),
            c => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
        }
    }
    std::borrow::Cow::Owned(out)
}

/// [`printable`] for raw output bytes (invalid UTF-8 replaced).
pub fn printable_bytes(bytes: &[u8]) -> Vec<u8> {
    printable(&String::from_utf8_lossy(bytes))
        .into_owned()
        .into_bytes()
}

/// `text` if it has at most `max` characters, else a marker line followed by
/// its last `max` characters.
pub fn keep_end(text: &str, max: usize) -> String {
    let total = text.chars().count();
    if total <= max {
        return text.to_string();
    }
    let cut = total - max;
    let start = text
        .char_indices()
        .nth(cut)
        .map_or(text.len(), |(index, _)| index);
    format!(
        "[... {cut} of {total} characters cut; the end follows ...]\n{}",
        &text[start..]
    )
}

/// One line for a table: whitespace collapsed, the last `max` characters.
pub fn tail_line(text: &str, max: usize) -> String {
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let total = flat.chars().count();
    if total <= max {
        return flat;
    }
    let keep = max.saturating_sub(1);
    let start = flat
        .char_indices()
        .nth(total - keep)
        .map_or(flat.len(), |(index, _)| index);
    format!("…{}", &flat[start..])
}

#[cfg(test)]
mod tests {
    #[test]
    fn printable_text_has_no_escape_sequences_left() {
        assert_eq!(super::printable("plain\n\ttext"), "plain\n\ttext");
        assert_eq!(
            super::printable("ok\x1b[1A\x1b[2K\rDONE\x07\u{9b}\x7f"),
            "ok^[[1A^[[2K^MDONE^G\\u{9b}^?"
        );
        assert_eq!(
            super::printable_bytes(b"a\x1b]52;c;eA==\x07"),
            b"a^[]52;c;eA==^G"
        );
    }

    use super::*;

    #[test]
    fn ages_are_compact() {
        assert_eq!(age(100, 100), "0s");
        assert_eq!(age(0, 59), "59s");
        assert_eq!(age(0, 60), "1m");
        assert_eq!(age(0, 7200), "2h");
        assert_eq!(age(0, 86_400 * 3), "3d");
        assert_eq!(age(10, 0), "0s");
    }

    #[test]
    fn timestamps_are_utc_calendar_dates() {
        assert_eq!(timestamp(0), "1970-01-01 00:00:00Z");
        assert_eq!(timestamp(981_173_106), "2001-02-03 04:05:06Z");
        assert_eq!(timestamp(1_795_000_000), "2026-11-18 11:06:40Z");
        assert_eq!(timestamp(951_782_400), "2000-02-29 00:00:00Z");
    }

    #[test]
    fn short_text_is_kept_whole() {
        assert_eq!(keep_end("done", 10), "done");
        assert_eq!(tail_line("a\n  b", 10), "a b");
    }

    #[test]
    fn long_text_keeps_its_end_on_a_character_boundary() {
        let text = "début — naïve façade → conclusion: ✓";
        let cut = keep_end(text, 12);
        assert!(cut.ends_with("conclusion: ✓"[1..].trim_start()), "{cut}");
        assert!(
            cut.starts_with(&format!(
                "[... {} of {} characters cut",
                text.chars().count() - 12,
                text.chars().count()
            )),
            "{cut}"
        );
        assert_eq!(cut.lines().nth(1).unwrap().chars().count(), 12);
        for max in 0..text.chars().count() {
            keep_end(text, max); // never panics on a multi-byte boundary
            tail_line(text, max);
        }
        assert_eq!(tail_line("one two three", 6), "…three");
    }
}
