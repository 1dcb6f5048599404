//! Text helpers for messages: one-line cleaning and cutting to a length in
//! characters, always on `char` boundaries, marking a cut with `…`; and the
//! text of numbers, written without the formatting machinery.

use std::borrow::Cow;

use rust_decimal::Decimal;

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

/// Room for the longest [`number_text`]: a sign, 29 digits and a point, or
/// `-0.` and 28 decimals.
pub const NUMBER_TEXT: usize = 32;

/// The text of a decimal, exactly as its `Display` writes it (`1500.00`,
/// `-5`, `0.05`: every digit of its scale), in `buf`: ASCII bytes. Numbers
/// are written for every notification: this costs a fraction of the `fmt`
/// machinery.
pub fn number_text(number: Decimal, buf: &mut [u8; NUMBER_TEXT]) -> &[u8] {
    let scale = number.scale() as usize;
    let mut at = buf.len();
    let mut rest = number.mantissa().unsigned_abs();
    // Digits from the last, at least one before the point (`0.05`, `0`).
    let mut digits = 0;
    while rest > 0 || digits <= scale {
        // 128-bit divisions are slow: only for the digits beyond 64 bits.
        let digit = match u64::try_from(rest) {
            Ok(low) => {
                rest = u128::from(low / 10);
                low % 10
            }
            Err(_) => {
                let digit = rest % 10;
                rest /= 10;
                digit as u64
            }
        };
        if digits == scale && scale > 0 {
            at -= 1;
            buf[at] = b'.';
        }
        at -= 1;
        buf[at] = b'0' + digit as u8;
        digits += 1;
    }
    if number.is_sign_negative() {
        at -= 1;
        buf[at] = b'-';
    }
    &buf[at..]
}

/// Appends the text of a number (see [`number_text`]).
pub fn push_number(out: &mut String, number: impl Into<Decimal>) {
    // ASCII: each byte is a char (cheaper than checking the bytes are UTF-8).
    out.extend(number_text(number.into(), &mut [0; NUMBER_TEXT]).iter().map(|&b| char::from(b)));
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
    fn numbers_are_written_as_display_writes_them() {
        let mut texts: Vec<String> = [
            "0",
            "-0",
            "0.00",
            "-0.00",
            "5",
            "-5",
            "0.05",
            "-0.05",
            "1500.00",
            "1500.10",
            "7237.74",
            "3760654",
            "0.0000000000000000000000000001",
            "-0.0000000000000000000000000001",
            "18446744073709551615",
            "18446744073709551616",
            "184467440737095516.16",
            "79228162514264337593543950335",
            "-79228162514264337593543950335",
            "7.9228162514264337593543950335",
            "-1.0000000000000000000000000000",
        ]
        .map(String::from)
        .to_vec();
        for scale in 0..=28 {
            for mantissa in [1i128, 9, 10, 99, 100, 12345, u64::MAX as i128, u64::MAX as i128 + 1, -123456789] {
                texts.push(Decimal::from_i128_with_scale(mantissa, scale).to_string());
            }
        }
        for text in &texts {
            let number: Decimal = text.parse().unwrap();
            assert_eq!(number_text(number, &mut [0; NUMBER_TEXT]), number.to_string().as_bytes(), "{text}");
            let mut out = String::from("x");
            push_number(&mut out, number);
            assert_eq!(out, format!("x{number}"));
        }
        for n in [0, 1, 9, 10, 4242, u64::MAX] {
            let mut out = String::new();
            push_number(&mut out, n);
            assert_eq!(out, n.to_string());
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
