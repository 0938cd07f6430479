//! Cutting text for display: keep the end (the conclusion), cut on a
//! character boundary, and say how much was left out.

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
    use super::*;

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
