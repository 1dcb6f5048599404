//! A sliding byte window over any reader: the buffer both file formats parse in place.
//!
//! Memory stays bounded whatever the file size: the window holds what is not yet
//! consumed, grows only to hold one record of at most `max_record_bytes`, and
//! counts the bytes read against `max_file_bytes`.

use std::io::{ErrorKind, Read};

use crate::{FileError, Limits};

/// Bytes read per call to the underlying reader.
const CHUNK: usize = 256 * 1024;

/// Bytes looked at for a BOM and for NUL bytes (a binary file) before parsing.
const SNIFF: usize = 8 * 1024;

pub(crate) struct Window<R> {
    reader: R,
    /// Holds `buf[..end]`; bytes before the caller's `keep` position may be discarded.
    pub(crate) buf: Vec<u8>,
    pub(crate) end: usize,
    pub(crate) eof: bool,
    /// Bytes read from the reader so far.
    pub(crate) total: u64,
    /// Bytes discarded from the front of the window so far (file offset of `buf[0]`).
    pub(crate) discarded: u64,
    limits: Limits,
}

impl<R: Read> Window<R> {
    pub(crate) fn new(reader: R, limits: Limits) -> Self {
        Window { reader, buf: vec![0; CHUNK], end: 0, eof: false, total: 0, discarded: 0, limits }
    }

    /// The first read of a text file: refuses an empty or binary file (a NUL
    /// byte in its first 8 KiB) and returns the length of a UTF-8 BOM to skip.
    ///
    /// A reader may return fewer bytes than asked (a pipe, a network stream),
    /// so this reads until it holds the first [`SNIFF`] bytes or the whole file.
    pub(crate) fn start_text(&mut self) -> Result<usize, FileError> {
        while self.end < SNIFF && !self.eof {
            self.fill(0, 1)?;
        }
        let head = &self.buf[..self.end];
        if head.is_empty() {
            return Err(FileError::new(None, "file is empty".into()));
        }
        if let Some(at) = memchr::memchr(0, &head[..head.len().min(SNIFF)]) {
            return Err(FileError::new(None, format!("not a text file (NUL byte at offset {at})")));
        }
        Ok(if head.starts_with(b"\xEF\xBB\xBF") { 3 } else { 0 })
    }

    pub(crate) fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Reads more data. Bytes before `keep` are dropped first; returns how far
    /// the remaining bytes moved towards the front (subtract it from every
    /// position held). At end of file, `eof` is set and nothing is read.
    ///
    /// `line` is where the record being read starts, for the size-limit error.
    pub(crate) fn fill(&mut self, keep: usize, line: u64) -> Result<usize, FileError> {
        let shift = keep;
        if shift > 0 {
            self.buf.copy_within(keep..self.end, 0);
            self.end -= shift;
            self.discarded += shift as u64;
        }
        if self.end == self.buf.len() {
            // The record being read fills the whole window.
            if self.end >= self.limits.max_record_bytes {
                return Err(too_long(line, &self.limits));
            }
            let grown = (self.buf.len() * 2).min(self.limits.max_record_bytes + CHUNK);
            self.buf.resize(grown, 0);
        }
        loop {
            match self.reader.read(&mut self.buf[self.end..]) {
                Ok(0) => {
                    self.eof = true;
                    return Ok(shift);
                }
                Ok(n) => {
                    self.end += n;
                    self.total += n as u64;
                    if self.total > self.limits.max_file_bytes {
                        return Err(FileError::new(
                            None,
                            format!("file is larger than the {} limit", human_bytes(self.limits.max_file_bytes)),
                        ));
                    }
                    return Ok(shift);
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(FileError::new(None, format!("read failed: {e}"))),
            }
        }
    }
}

/// The error for a record over [`Limits::max_record_bytes`].
pub(crate) fn too_long(line: u64, limits: &Limits) -> FileError {
    FileError::new(
        Some(line),
        format!(
            "record starting on line {line} is longer than the {} limit",
            human_bytes(limits.max_record_bytes as u64)
        ),
    )
}

/// `1 MiB`, `512 KiB`, `100 B`.
pub(crate) fn human_bytes(n: u64) -> String {
    const UNITS: [(&str, u64); 3] = [("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)];
    for (unit, size) in UNITS {
        if n >= size && n.is_multiple_of(size) {
            return format!("{} {unit}", n / size);
        }
    }
    for (unit, size) in UNITS {
        if n >= size {
            return format!("{:.1} {unit}", n as f64 / size as f64);
        }
    }
    format!("{n} B")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_well() {
        assert_eq!(human_bytes(1 << 20), "1 MiB");
        assert_eq!(human_bytes(3 << 30), "3 GiB");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(100), "100 B");
    }
}
