//! Text helpers for messages: one-line cleaning and cutting to a length in
//! characters, always on `char` boundaries, marking a cut with `…`.

use std::borrow::Cow;

/// The ellipsis that marks a cut text.
pub const ELLIPSIS: char = '…';

/// Replaces control characters (line breaks, tabs, NEL U+0085, …) and the
/// Unicode line and paragraph separators (U+2028, U+2029) with spaces, so a
/// value can go into a one-line text (a subject, an SMS, a console line).
pub fn one_line(text: &str) -> Cow<'_, str> {
    if !is_one_line(text) {
        Cow::Owned(text.chars().map(|c| if breaks_lines(c) { ' ' } else { c }).collect())
    } else {
        Cow::Borrowed(text)
    }
}

/// Whether no character of the text [`breaks_lines`].
pub fn is_one_line(text: &str) -> bool {
    // Printable ASCII (the usual case) is recognized without decoding, and
    // without an early exit, so that the compiler tests many bytes at once.
    text.bytes().fold(true, |printable, b| printable & matches!(b, b' '..=b'~')) || !text.chars().any(breaks_lines)
}

/// A character that has no place in a one-line text: a control character
/// (general category Cc, which holds U+0085) or a line or paragraph separator.
pub fn breaks_lines(c: char) -> bool {
    c.is_control() || c == '\u{2028}' || c == '\u{2029}'
}

/// At most `max` characters: a longer text keeps its first `max - 1`
/// characters (trailing spaces dropped) and ends with `…`.
pub fn cut(text: &str, max: usize) -> Cow<'_, str> {
    if text.len() <= max {
        // Never more characters than bytes.
        return Cow::Borrowed(text);
    }
    match text.char_indices().nth(max) {
        None => Cow::Borrowed(text),
        Some(_) if max == 0 => Cow::Borrowed(""),
        Some(_) => {
            let end = text.char_indices().nth(max - 1).map_or(text.len(), |(i, _)| i);
            let mut out = String::with_capacity(end + ELLIPSIS.len_utf8());
            out.push_str(text[..end].trim_end());
            out.push(ELLIPSIS);
            Cow::Owned(out)
        }
    }
}

/// [`one_line`], then [`cut`] to `max` characters: borrowed when the text
/// already is both.
pub fn short(text: &str, max: usize) -> Cow<'_, str> {
    match one_line(text) {
        Cow::Borrowed(line) => cut(line, max),
        Cow::Owned(line) => Cow::Owned(cut(&line, max).into_owned()),
    }
}

/// [`short`] of a text that may be borrowed or owned, keeping a borrowed one borrowed.
pub fn short_cow(text: Cow<'_, str>, max: usize) -> Cow<'_, str> {
    match text {
        Cow::Borrowed(text) => short(text, max),
        Cow::Owned(text) => Cow::Owned(short_string(text, max)),
    }
}

/// [`short`] of an owned text, reusing it when it is short and on one line already.
pub fn short_string(text: String, max: usize) -> String {
    let shortened = match short(&text, max) {
        Cow::Borrowed(_) => None,
        Cow::Owned(shortened) => Some(shortened),
    };
    shortened.unwrap_or(text)
}

/// Number of characters.
pub fn chars(text: &str) -> usize {
    text.chars().count()
}

/// The last part of a path or object key (`incoming/2026/a.csv` → `a.csv`).
pub fn file_name(key: &str) -> &str {
    let trimmed = key.trim_end_matches(['/', '\\']);
    trimmed.rsplit(['/', '\\']).next().filter(|s| !s.is_empty()).unwrap_or(key)
}

/// Replaces anything that looks like an e-mail address (`local@domain.tld`)
/// with `<email>`, for texts from outside (service error messages) that are
/// logged or returned.
pub fn redact_emails(text: &str) -> Cow<'_, str> {
    if !text.contains('@') {
        return Cow::Borrowed(text);
    }
    let is_word = |c: char| c.is_alphanumeric() || "._%+-'".contains(c);
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('@') {
        let before = &rest[..at];
        let start = before.char_indices().rev().take_while(|&(_, c)| is_word(c)).last().map_or(at, |(i, _)| i);
        let after = &rest[at + 1..];
        let end = after.find(|c: char| !(c.is_alphanumeric() || c == '.' || c == '-')).unwrap_or(after.len());
        let domain = after[..end].trim_end_matches('.');
        if start < at && domain.contains('.') {
            out.push_str(&before[..start]);
            out.push_str("<email>");
            rest = &after[domain.len()..];
        } else {
            out.push_str(&rest[..=at]);
            rest = after;
        }
    }
    out.push_str(rest);
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuts_on_char_boundaries() {
        assert_eq!(cut("abc", 3), "abc");
        assert_eq!(cut("abcd", 3), "ab…");
        assert_eq!(cut("ab d", 3), "ab…");
        assert_eq!(cut("éééé", 3), "éé…");
        assert_eq!(cut("日本語のテキスト", 4), "日本語…");
        assert_eq!(cut("👍👍👍", 2), "👍…");
        assert_eq!(cut("x", 0), "");
        for n in 0..12 {
            assert!(chars(&cut("Zürich-€-日本-👍-ok", n)) <= n);
        }
    }

    #[test]
    fn one_line_removes_breaks() {
        assert_eq!(one_line("a\nb\tc\r"), "a b c ");
        assert!(matches!(one_line("plain"), Cow::Borrowed(_)));
        assert_eq!(short("line one\nline two", 10), "line one…");
        assert_eq!(one_line("a\u{2028}b\u{2029}c\u{85}d\u{b}e\u{c}f"), "a b c d e f");
        assert!(matches!(one_line("Zürich 日本 👍"), Cow::Borrowed(_)));
        for text in ["", "plain ~ text", "Zürich 日本 👍", &"x".repeat(100)] {
            assert!(is_one_line(text), "{text:?}");
        }
        for text in ["tab\t", "del\u{7f}", "nel\u{85}", "\u{2028}", &format!("{}\n", "x".repeat(100))] {
            assert!(!is_one_line(text), "{text:?}");
        }
    }

    #[test]
    fn file_names() {
        assert_eq!(file_name("incoming/2026/a.csv"), "a.csv");
        assert_eq!(file_name("a.csv"), "a.csv");
        assert_eq!(file_name("C:\\data\\b.json"), "b.json");
        assert_eq!(file_name("dir/"), "dir");
        assert_eq!(file_name(""), "");
    }

    #[test]
    fn emails_are_redacted() {
        assert_eq!(redact_emails("no address here"), "no address here");
        assert_eq!(redact_emails("Invalid endpoint jane.doe+x@example.co.uk."), "Invalid endpoint <email>.");
        assert_eq!(redact_emails("a@b.com and c@d.org"), "<email> and <email>");
        assert_eq!(redact_emails("user@localhost stays, @ alone stays"), "user@localhost stays, @ alone stays");
        assert_eq!(redact_emails("é@é.fr"), "<email>");
    }
}
