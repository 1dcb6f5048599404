//! Deterministic execution names: one per (upload, record).
//!
//! A name is a readable prefix from the invoiceId, then a hash of the bucket,
//! key, object version (or ETag) and record number. The same upload's record
//! always gets the same name, so a re-delivered S3 event (or a resumed local
//! run) starts nothing new; a new upload of the same file gets new names.
//! Step Functions allows at most 80 characters of `A-Za-z0-9-_`.

use sha2::{Digest, Sha256};

/// Longest readable prefix taken from the invoiceId.
const PREFIX_LEN: usize = 40;
/// Hex digits of the hash kept (128 bits).
const HASH_LEN: usize = 32;

/// The execution name of record `record` (from 1) of one upload of `bucket/key`.
/// `version` is the object's version id or ETag (locally: the run's upload id).
pub fn execution_name(invoice_id: Option<&str>, bucket: &str, key: &str, version: &str, record: u64) -> String {
    UploadNames::new(bucket, key, version).name(invoice_id, record)
}

/// The execution names of one upload: the upload's part of the hash is
/// computed once, so naming each of its records hashes only the record number.
/// `UploadNames::new(b, k, v).name(id, r)` equals `execution_name(id, b, k, v, r)`.
#[derive(Clone)]
pub struct UploadNames {
    /// SHA-256 over the length-prefixed bucket, key and version.
    upload: Sha256,
}

impl UploadNames {
    pub fn new(bucket: &str, key: &str, version: &str) -> UploadNames {
        let mut upload = Sha256::new();
        for part in [bucket.as_bytes(), key.as_bytes(), version.as_bytes()] {
            upload.update((part.len() as u64).to_be_bytes());
            upload.update(part);
        }
        UploadNames { upload }
    }

    /// The name of record `record` (from 1), whose invoiceId is `invoice_id`.
    pub fn name(&self, invoice_id: Option<&str>, record: u64) -> String {
        let mut name = String::with_capacity(PREFIX_LEN + 1 + HASH_LEN);
        name.push_str(prefix(invoice_id.unwrap_or(""), &mut [0; PREFIX_LEN]));
        let mut hasher = self.upload.clone();
        hasher.update(record.to_be_bytes());
        let digest = hasher.finalize();
        name.push('-');
        crate::hex::push(&mut name, &digest[..HASH_LEN / 2]);
        name
    }
}

/// The readable part of a name, written in `buf`: the invoiceId without
/// whitespace, every character but `A-Za-z0-9-_` replaced by `_`, at most
/// [`PREFIX_LEN`] of them; `record` when that leaves nothing. Made in a
/// buffer (it is all ASCII) and appended at once: pushing `char`s one by one
/// costs a capacity check and a UTF-8 encoding each, for every invoice.
fn prefix<'b>(invoice_id: &str, buf: &'b mut [u8; PREFIX_LEN]) -> &'b str {
    let mut len = 0;
    for c in invoice_id.chars().filter(|c| !c.is_whitespace()).take(PREFIX_LEN) {
        buf[len] = if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c as u8 } else { b'_' };
        len += 1;
    }
    match std::str::from_utf8(&buf[..len]).expect("the prefix is ASCII") {
        "" => "record",
        prefix => prefix,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid(name: &str) -> bool {
        name.len() <= 80 && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    }

    #[test]
    fn names_are_deterministic_per_upload_and_record() {
        let a = execution_name(Some("INV-001"), "bucket", "incoming/a.csv", "etag1", 1);
        assert_eq!(a, execution_name(Some("INV-001"), "bucket", "incoming/a.csv", "etag1", 1));
        assert!(a.starts_with("INV-001-"));
        assert_ne!(a, execution_name(Some("INV-001"), "bucket", "incoming/a.csv", "etag2", 1));
        assert_ne!(a, execution_name(Some("INV-001"), "bucket", "incoming/a.csv", "etag1", 2));
        assert_ne!(a, execution_name(Some("INV-001"), "bucket", "incoming/b.csv", "etag1", 1));
        // Field boundaries count: ("ab","c") and ("a","bc") differ.
        assert_ne!(execution_name(None, "ab", "c", "", 1), execution_name(None, "a", "bc", "", 1));
        assert!(valid(&a));
    }

    #[test]
    fn odd_ids_still_give_valid_names() {
        for id in [None, Some(""), Some("a b/c:d#é"), Some(&"X".repeat(200) as &str)] {
            let name = execution_name(id, "local", "/tmp/x.csv", "u1", 7);
            assert!(valid(&name), "{name}");
        }
        assert!(execution_name(None, "b", "k", "v", 1).starts_with("record-"));
        assert!(execution_name(Some(" \t "), "b", "k", "v", 1).starts_with("record-"));
        let odd = execution_name(Some(" a b/c:d#é\u{3000}x "), "b", "k", "v", 1);
        assert!(odd.starts_with("ab_c_d__x-"), "{odd}");
        let long = execution_name(Some(&"é".repeat(50)), "b", "k", "v", 1);
        assert!(long.starts_with(&format!("{}-", "_".repeat(PREFIX_LEN))), "{long}");
    }

    #[test]
    fn names_keep_their_value() {
        // The scheme is a contract: a resumed upload must find the names it
        // gave before, whatever version of this code gave them.
        assert_eq!(
            execution_name(Some("INV-001"), "bucket", "incoming/a.csv", "etag1", 1),
            "INV-001-32e06e0dcfa1776ea18b4bd5f599ec85"
        );
        let names = UploadNames::new("bucket", "incoming/a.csv", "etag1");
        assert_eq!(
            names.name(Some("INV-001"), 1),
            execution_name(Some("INV-001"), "bucket", "incoming/a.csv", "etag1", 1)
        );
        assert_ne!(names.name(Some("INV-001"), 1), names.name(Some("INV-001"), 2));
    }
}
