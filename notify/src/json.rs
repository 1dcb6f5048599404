//! A small JSON writer for what is written once per notification (the outbox
//! line, the event document): the bytes serde_json's compact serializer
//! writes, without its per-field and per-byte overhead.
//!
//! Strings are escaped exactly as serde_json escapes them: `"` and `\`, the
//! short escapes `\b \f \n \r \t`, any other control character below U+0020
//! as `\u00xx` (lowercase hex); everything else, non-ASCII included, as is.
//! The tests check the output against serde_json.

use rust_decimal::Decimal;
use serde::Serialize;

use crate::text::{number_text, NUMBER_TEXT};

/// Writes `text` as a JSON string.
pub fn write_str(out: &mut Vec<u8>, text: &str) {
    let bytes = text.as_bytes();
    out.reserve(bytes.len() + 2);
    out.push(b'"');
    // Bytes are copied in runs, up to each byte to escape: the run not yet
    // copied starts at `copied`. Most blocks need no escape: they are tested
    // whole, and only a block that does is looked at closer.
    let mut copied = 0;
    let (blocks, tail) = bytes.as_chunks::<BLOCK>();
    for (n, block) in blocks.iter().enumerate() {
        if needs_escape(block) {
            escape_block(out, bytes, &mut copied, block, n * BLOCK);
        }
    }
    if !tail.is_empty() {
        // The tail is tested as a block too: the text's last block (its
        // bytes before the tail are done already), or the tail padded. Both
        // are borrowed, as the blocks are: a block copied by value tends to be
        // tested byte by byte instead.
        let mut padded = [b' '; BLOCK];
        let (last, start) = match bytes.last_chunk::<BLOCK>() {
            Some(last) => (last, bytes.len() - BLOCK),
            None => {
                padded[..tail.len()].copy_from_slice(tail);
                (&padded, 0)
            }
        };
        if needs_escape(last) {
            escape_block(out, bytes, &mut copied, last, start);
        }
    }
    out.extend_from_slice(&bytes[copied..]);
    out.push(b'"');
}

/// Bytes tested at once for escapes.
const BLOCK: usize = 16;

/// Whether a JSON string must escape this byte.
fn must_escape(byte: u8) -> bool {
    byte < 0x20 || byte == b'"' || byte == b'\\'
}

/// Whether any byte of the block [`must_escape`]: without an early exit, so
/// that the compiler tests the whole block with a few vector instructions.
#[inline]
fn needs_escape(block: &[u8; BLOCK]) -> bool {
    block.iter().fold(false, |any, &byte| any | must_escape(byte))
}

/// Escapes the bytes of `block` (the text's bytes from `start`) that must
/// be, after copying the run before each; the bytes before `copied` are done.
fn escape_block(out: &mut Vec<u8>, bytes: &[u8], copied: &mut usize, block: &[u8; BLOCK], start: usize) {
    let (words, _) = block.as_chunks::<8>();
    for (n, word) in words.iter().enumerate() {
        let mut flags = escape_flags(u64::from_le_bytes(*word));
        while flags != 0 {
            let at = start + n * 8 + flags.trailing_zeros() as usize / 8;
            flags &= flags - 1;
            if at >= *copied {
                out.extend_from_slice(&bytes[*copied..at]);
                write_escape(out, bytes[at]);
                *copied = at + 1;
            }
        }
    }
}

/// Flags (the high bit of each byte, the first byte in the low bits) the
/// bytes of `word` that [`must_escape`], exactly: a byte is below 0x20 when
/// its top three bits are zero, and `"` or `\` when it XORs to zero with one.
fn escape_flags(word: u64) -> u64 {
    const ONES: u64 = u64::from_le_bytes([1; 8]);
    const LOW7: u64 = ONES * 0x7f;
    // The high bit of each zero byte: adding 0x7f to the low 7 bits of a
    // byte never carries into the next one.
    let zero = |x: u64| !(((x & LOW7) + LOW7) | x | LOW7);
    zero(word & (ONES * 0xe0)) | zero(word ^ (ONES * u64::from(b'"'))) | zero(word ^ (ONES * u64::from(b'\\')))
}

fn write_escape(out: &mut Vec<u8>, byte: u8) {
    let short = match byte {
        b'"' => b'"',
        b'\\' => b'\\',
        0x08 => b'b',
        0x0c => b'f',
        b'\n' => b'n',
        b'\r' => b'r',
        b'\t' => b't',
        _ => {
            let [high, low] = workflow::hex::digits(byte);
            out.extend_from_slice(&[b'\\', b'u', b'0', b'0', high, low]);
            return;
        }
    };
    out.extend_from_slice(&[b'\\', short]);
}

/// A JSON object being written: its members in the order they are given.
pub struct Object<'a> {
    out: &'a mut Vec<u8>,
    empty: bool,
}

impl<'a> Object<'a> {
    /// Opens an object.
    pub fn new(out: &'a mut Vec<u8>) -> Object<'a> {
        out.push(b'{');
        Object { out, empty: true }
    }

    /// Starts a member: `"name":` (names are plain ASCII: written as they are).
    #[inline]
    fn key(&mut self, name: &str) -> &mut Vec<u8> {
        debug_assert!(!name.bytes().any(must_escape), "{name}");
        if !self.empty {
            self.out.push(b',');
        }
        self.empty = false;
        self.out.push(b'"');
        self.out.extend_from_slice(name.as_bytes());
        self.out.extend_from_slice(b"\":");
        self.out
    }

    /// A string member.
    #[inline]
    pub fn str(&mut self, name: &str, value: &str) {
        write_str(self.key(name), value);
    }

    /// A string member, left out when `None`.
    #[inline]
    pub fn opt_str(&mut self, name: &str, value: Option<&str>) {
        if let Some(value) = value {
            self.str(name, value);
        }
    }

    /// An integer member.
    #[inline]
    pub fn integer(&mut self, name: &str, value: u64) {
        let out = self.key(name);
        serde_json::to_writer(out, &value).expect("an integer always serializes");
    }

    /// A number member, with the decimal's exact digits. A decimal's text
    /// is a JSON number: an optional sign, digits, an optional point and
    /// digits (never an exponent).
    pub fn number(&mut self, name: &str, value: Decimal) {
        let out = self.key(name);
        out.extend_from_slice(number_text(value, &mut [0; NUMBER_TEXT]));
    }

    /// A member written by `write` (a nested object).
    #[inline]
    pub fn with(&mut self, name: &str, write: impl FnOnce(&mut Vec<u8>)) {
        write(self.key(name));
    }

    /// A member serialized by serde_json (for the parts that are rarely there).
    pub fn serde(&mut self, name: &str, value: &impl Serialize) {
        let out = self.key(name);
        serde_json::to_writer(out, value).expect("a message's parts always serialize to JSON");
    }

    /// Closes the object.
    pub fn end(self) {
        self.out.push(b'}');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json_str(text: &str) -> String {
        let mut out = Vec::new();
        write_str(&mut out, text);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn strings_are_escaped_as_serde_json_escapes_them() {
        let mut texts: Vec<String> = (0u8..=0x7f).map(|b| char::from(b).to_string()).collect();
        texts.extend(
            [
                "",
                "plain",
                "a \"quoted\" \\path\\ and\na line\r\n\ttab",
                "\u{85}\u{2028}\u{2029}é日本👍\u{7f}",
                "\u{80}\u{a2}\u{dc}\u{5c22}\u{2222}\u{1f20}\"\u{0}\u{1}x\u{0}\u{20}\u{21}\u{5b}\u{5d}",
                "exactly sixteen!",
                "fifteen bytes!!",
                "seventeen bytes!!",
            ]
            .map(String::from),
        );
        // Every character up to U+0800 and a few beyond, in one text.
        texts.push((0..0x800).chain([0x2028, 0x2222, 0x5c5c, 0xffff, 0x1_f4a9]).filter_map(char::from_u32).collect());
        // Escapes at every position of a block and across block edges.
        for len in 0..40 {
            for (i, special) in ["\"", "\\", "\n", "\u{1}", "\u{1f}", "é"].iter().enumerate() {
                texts.push(format!("{}{special}{}", "x".repeat(len), "y".repeat(i * 7)));
            }
        }
        for text in &texts {
            assert_eq!(json_str(text), serde_json::to_string(text).unwrap(), "{text:?}");
        }
    }

    #[test]
    fn objects_have_their_members_in_order() {
        let mut out = Vec::new();
        let mut object = Object::new(&mut out);
        object.str("a", "x\"y");
        object.opt_str("skipped", None);
        object.opt_str("b", Some(""));
        object.number("n", Decimal::new(-15005, 1));
        object.integer("i", u64::MAX);
        object.with("nested", |out| Object::new(out).end());
        object.serde("list", &vec!["p", "q"]);
        object.end();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"a":"x\"y","b":"","n":-1500.5,"i":18446744073709551615,"nested":{},"list":["p","q"]}"#
        );
        let mut out = Vec::new();
        Object::new(&mut out).end();
        assert_eq!(out, b"{}");
    }
}
