//! Lower-case hex digits of bytes, written without formatting machinery
//! (execution names, content hashes and message ids are made per invoice).

const DIGITS: &[u8; 16] = b"0123456789abcdef";

/// The two hex digits of `byte`, high nibble first.
pub fn digits(byte: u8) -> [u8; 2] {
    [DIGITS[usize::from(byte >> 4)], DIGITS[usize::from(byte & 0xf)]]
}

/// Appends the hex digits of `bytes` to `out`. They are made in a buffer and
/// appended at once: pushing them one `char` at a time costs a capacity check
/// and a UTF-8 encoding per digit.
pub fn push(out: &mut String, bytes: &[u8]) {
    let mut buf = [0u8; 64];
    for chunk in bytes.chunks(buf.len() / 2) {
        for (pair, &byte) in buf.chunks_exact_mut(2).zip(chunk) {
            pair.copy_from_slice(&digits(byte));
        }
        out.push_str(std::str::from_utf8(&buf[..chunk.len() * 2]).expect("hex digits are ASCII"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_become_lower_case_hex() {
        let mut out = String::new();
        push(&mut out, &[0x00, 0x0f, 0xa5, 0xff]);
        assert_eq!(out, "000fa5ff");
        let long: Vec<u8> = (0..=255).collect();
        let mut all = String::from(">");
        push(&mut all, &long);
        assert_eq!(all.len(), 1 + 512);
        assert!(all.as_bytes()[1..].chunks(2).zip(0..=255u8).all(|(pair, byte)| *pair == digits(byte)));
        assert_eq!(digits(0x3c), *b"3c");
    }
}
