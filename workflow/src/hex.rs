//! Lower-case hex digits of bytes, written without formatting machinery
//! (execution names, content hashes and message ids are made per invoice).

const DIGITS: &[u8; 16] = b"0123456789abcdef";

/// The two hex digits of `byte`, high nibble first.
pub fn digits(byte: u8) -> [u8; 2] {
    [DIGITS[usize::from(byte >> 4)], DIGITS[usize::from(byte & 0xf)]]
}

/// Appends the hex digits of `bytes` to `out`.
pub fn push(out: &mut String, bytes: &[u8]) {
    for &byte in bytes {
        out.extend(digits(byte).map(char::from));
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
        assert_eq!(digits(0x3c), *b"3c");
    }
}
