//! JSON and NDJSON files, read one record at a time.
//!
//! A `.json` file holds one invoice (`{"invoice": {...}}` or the bare object),
//! an array of them, or `{"invoices": [...]}`; several top-level values one
//! after the other are read in turn. The top level is walked by a small
//! scanner that finds where each record ends, so only one record is ever held
//! in memory however long the array; each record is then parsed on its own, and
//! a record that is not valid JSON is a [`RecordError`] with its line while the
//! rest of the array still comes through. A `.jsonl` / `.ndjson` file holds one
//! record per line.

use std::io::Read;

use memchr::{memchr, memchr2, memchr_iter};
use serde_json::Value;
use workflow::raw::{unwrap_invoice, RawInvoice};

use crate::window::Window;
use crate::{FileError, Limits, ReadError, Record, RecordError};

/// Where the top-level walk stands.
#[derive(Debug, Clone, Copy, PartialEq)]
enum State {
    /// Before a top-level value (or at the end).
    TopLevel,
    /// Inside an array of records; `in_wrapper` when it is `{"invoices": [...]}`.
    Array { first: bool, in_wrapper: bool },
    /// After the `invoices` array, inside the wrapper object: skip its other keys.
    WrapperRest,
}

/// A record found in the window: its first line and byte range.
type Found = (u64, (usize, usize));

/// Result of looking for the end of a value.
enum Scan {
    End(usize),
    NeedMore,
    Bad(String, usize),
}

/// Streaming reader for `.json` and `.jsonl`/`.ndjson` files.
pub struct JsonReader<R> {
    win: Window<R>,
    pos: usize,
    line: u64,
    lines_mode: bool,
    state: State,
    value: Value,
    record: u64,
    started: bool,
    done: bool,
}

impl<R: Read> JsonReader<R> {
    /// A reader of `.json` documents.
    pub fn json(reader: R, limits: Limits) -> Self {
        Self::new(reader, limits, false)
    }

    /// A reader of newline-delimited JSON (`.jsonl`, `.ndjson`).
    pub fn ndjson(reader: R, limits: Limits) -> Self {
        Self::new(reader, limits, true)
    }

    fn new(reader: R, limits: Limits, lines_mode: bool) -> Self {
        JsonReader {
            win: Window::new(reader, limits),
            pos: 0,
            line: 1,
            lines_mode,
            state: State::TopLevel,
            value: Value::Null,
            record: 0,
            started: false,
            done: false,
        }
    }

    /// The next invoice, a record that cannot be read, or a file-level error
    /// (after which there is nothing more); `None` at the end.
    pub fn next_record(&mut self) -> Option<Result<Record<'_>, ReadError>> {
        if self.done {
            return None;
        }
        let step = if self.lines_mode { self.next_line() } else { self.next_value() };
        let (start_line, bytes) = match step {
            Ok(Some(found)) => found,
            Ok(None) => {
                self.done = true;
                return None;
            }
            Err(e) => {
                self.done = true;
                return Some(Err(ReadError::File(e)));
            }
        };
        if bytes.1 - bytes.0 > self.win.limits().max_record_bytes {
            self.done = true;
            return Some(Err(ReadError::File(crate::window::too_long(start_line, self.win.limits()))));
        }
        self.record += 1;
        let record = self.record;
        let parsed = serde_json::from_slice::<Value>(&self.win.buf[bytes.0..bytes.1]);
        let fail = |reason: String, line: u64| Some(Err(ReadError::Record(RecordError { record, line, reason })));
        match parsed {
            Ok(value) => self.value = value,
            Err(e) => {
                let line = start_line + e.line().saturating_sub(1) as u64;
                return fail(format!("invalid JSON: {}", strip_position(&e)), line);
            }
        }
        let invoice = unwrap_invoice(&self.value);
        match RawInvoice::from_json(invoice) {
            Ok(invoice) => Some(Ok(Record { record, line: start_line, invoice })),
            Err(kind) => {
                let what = if std::ptr::eq(invoice, &self.value) { "the record" } else { "\"invoice\"" };
                let article = if kind.starts_with(['a', 'o']) { "an" } else { "a" };
                fail(format!("{what} is {article} {kind}, not an invoice object"), start_line)
            }
        }
    }

    /// NDJSON: the next non-blank line, as (line number, byte range).
    fn next_line(&mut self) -> Result<Option<Found>, FileError> {
        loop {
            if !self.started {
                self.started = true;
                self.prepare()?;
            }
            let data = &self.win.buf[self.pos..self.win.end];
            let (content_end, next) = match memchr(b'\n', data) {
                Some(i) => (self.pos + i, self.pos + i + 1),
                None if self.win.eof => {
                    if data.is_empty() {
                        return Ok(None);
                    }
                    (self.win.end, self.win.end)
                }
                None => {
                    self.refill()?;
                    continue;
                }
            };
            let line = self.line;
            let start = self.pos;
            self.pos = next;
            self.line += 1;
            let trimmed = trim_range(&self.win.buf, start, content_end);
            if trimmed.0 < trimmed.1 {
                return Ok(Some((line, trimmed)));
            }
        }
    }

    /// JSON: walks the top level to the next record, as (line, byte range).
    fn next_value(&mut self) -> Result<Option<Found>, FileError> {
        if !self.started {
            self.started = true;
            self.prepare()?;
        }
        loop {
            self.skip_ws()?;
            let at_end = self.pos >= self.win.end;
            match self.state {
                State::TopLevel => {
                    if at_end {
                        return Ok(None);
                    }
                    match self.win.buf[self.pos] {
                        b'[' => {
                            self.pos += 1;
                            self.state = State::Array { first: true, in_wrapper: false };
                        }
                        b'{' => {
                            if let Some(found) = self.object_at_top()? {
                                return Ok(Some(found));
                            }
                        }
                        b => return Err(self.unexpected(b, "a JSON array or object")),
                    }
                }
                State::Array { first, in_wrapper } => {
                    if at_end {
                        return Err(FileError::new(
                            Some(self.line),
                            "the file ends inside an array (missing ']')".into(),
                        ));
                    }
                    let b = self.win.buf[self.pos];
                    if b == b']' {
                        self.pos += 1;
                        self.state = if in_wrapper { State::WrapperRest } else { State::TopLevel };
                        continue;
                    }
                    if !first {
                        if b != b',' {
                            return Err(self.unexpected(b, "',' or ']' between records"));
                        }
                        self.pos += 1;
                        self.skip_ws()?;
                        match self.win.buf[..self.win.end].get(self.pos) {
                            None => continue,
                            Some(b']') => {
                                return Err(FileError::new(Some(self.line), "a ',' is followed by ']'".into()))
                            }
                            Some(_) => {}
                        }
                    }
                    self.state = State::Array { first: false, in_wrapper };
                    let line = self.line;
                    let range = self.take_value()?;
                    return Ok(Some((line, range)));
                }
                State::WrapperRest => {
                    if at_end {
                        return Err(FileError::new(
                            Some(self.line),
                            "the file ends inside an object (missing '}')".into(),
                        ));
                    }
                    match self.win.buf[self.pos] {
                        b'}' => {
                            self.pos += 1;
                            self.state = State::TopLevel;
                        }
                        b',' => {
                            self.pos += 1;
                            self.skip_ws()?;
                            self.take_value()?; // a key
                            self.expect_colon()?;
                            self.take_value()?; // its value, ignored
                        }
                        b => return Err(self.unexpected(b, "',' or '}'")),
                    }
                }
            }
        }
    }

    /// At a top-level `{`: either the `{"invoices": [...]}` wrapper (then the
    /// array is streamed) or a single invoice (returned whole). Nothing is
    /// consumed until that is decided, so `pos` stays at the `{`.
    fn object_at_top(&mut self) -> Result<Option<Found>, FileError> {
        let line = self.line;
        let mut p = self.pos + 1;
        loop {
            p = self.ws_from(p)?;
            let Some(&b) = self.win.buf[..self.win.end].get(p) else {
                return Err(self.eof_in_record(line));
            };
            if b == b'}' {
                break;
            }
            if b == b',' {
                p = self.ws_from(p + 1)?;
            }
            let (key_start, key_end) = self.value_range_from(p, line)?;
            let is_invoices = &self.win.buf[key_start..key_end] == b"\"invoices\"";
            p = self.ws_from(key_end)?;
            if p >= self.win.end || self.win.buf[p] != b':' {
                // Malformed: the record parser will say what is wrong.
                break;
            }
            p = self.ws_from(p + 1)?;
            if is_invoices && p < self.win.end && self.win.buf[p] == b'[' {
                // The wrapper: skip what precedes the array, stream it.
                self.advance_to(p + 1);
                self.state = State::Array { first: true, in_wrapper: true };
                return Ok(None);
            }
            p = self.value_range_from(p, line)?.1;
        }
        // A single invoice: the whole object.
        let range = self.take_value()?;
        Ok(Some((line, range)))
    }

    /// Moves `pos` forward to `to`, counting lines.
    fn advance_to(&mut self, to: usize) {
        self.line += memchr_iter(b'\n', &self.win.buf[self.pos..to]).count() as u64;
        self.pos = to;
    }

    /// Skips whitespace from `p`, reading more as needed; returns the new position.
    fn ws_from(&mut self, mut p: usize) -> Result<usize, FileError> {
        loop {
            while p < self.win.end && self.win.buf[p].is_ascii_whitespace() {
                p += 1;
            }
            if p < self.win.end || self.win.eof {
                return Ok(p);
            }
            p -= self.refill()?;
        }
    }

    /// The byte range of the value starting at `p`, reading more as needed
    /// (positions are as they stand after any reading).
    fn value_range_from(&mut self, mut p: usize, line: u64) -> Result<(usize, usize), FileError> {
        loop {
            match scan_value(&self.win.buf[..self.win.end], p, self.win.eof) {
                Scan::End(end) => return Ok((p, end)),
                Scan::Bad(reason, at) => {
                    let line = self.line + memchr_iter(b'\n', &self.win.buf[self.pos..at]).count() as u64;
                    return Err(FileError::new(Some(line), reason));
                }
                Scan::NeedMore if self.win.eof => return Err(self.eof_in_record(line)),
                Scan::NeedMore => p -= self.refill()?,
            }
        }
    }

    /// Consumes the value at `pos`; returns its byte range.
    fn take_value(&mut self) -> Result<(usize, usize), FileError> {
        let range = self.value_range_from(self.pos, self.line)?;
        self.advance_to(range.1);
        Ok(range)
    }

    fn expect_colon(&mut self) -> Result<(), FileError> {
        self.skip_ws()?;
        match self.win.buf[..self.win.end].get(self.pos) {
            Some(b':') => {
                self.pos += 1;
                self.skip_ws()
            }
            Some(&b) => Err(self.unexpected(b, "':'")),
            None => Err(self.eof_in_record(self.line)),
        }
    }

    fn skip_ws(&mut self) -> Result<(), FileError> {
        let p = self.ws_from(self.pos)?;
        self.advance_to(p);
        Ok(())
    }

    /// Reads more, keeping the bytes from `pos` on; returns how far they moved.
    fn refill(&mut self) -> Result<usize, FileError> {
        let shift = self.win.fill(self.pos, self.line)?;
        self.pos -= shift;
        Ok(shift)
    }

    /// First read: refuses an empty or binary file, skips a BOM.
    fn prepare(&mut self) -> Result<(), FileError> {
        self.pos = self.win.start_text()?;
        Ok(())
    }

    fn unexpected(&self, b: u8, expected: &str) -> FileError {
        let what = if b.is_ascii_graphic() { format!("'{}'", b as char) } else { format!("byte 0x{b:02x}") };
        FileError::new(Some(self.line), format!("expected {expected}, found {what}"))
    }

    fn eof_in_record(&self, line: u64) -> FileError {
        FileError::new(Some(line), format!("the file ends inside the record starting on line {line}"))
    }
}

/// Finds where the JSON value at `p` ends (exclusive), tracking strings and
/// nesting only; full syntax is checked when the record is parsed.
fn scan_value(buf: &[u8], p: usize, eof: bool) -> Scan {
    let Some(&first) = buf.get(p) else { return Scan::NeedMore };
    match first {
        b'"' => match string_end(buf, p + 1) {
            Some(end) => Scan::End(end),
            None => Scan::NeedMore,
        },
        b'{' | b'[' => {
            let mut stack: Vec<u8> = Vec::with_capacity(8);
            let mut q = p;
            while q < buf.len() {
                match buf[q] {
                    b'"' => match string_end(buf, q + 1) {
                        Some(end) => {
                            q = end;
                            continue;
                        }
                        None => return Scan::NeedMore,
                    },
                    b'{' => stack.push(b'}'),
                    b'[' => stack.push(b']'),
                    b @ (b'}' | b']') => {
                        if stack.pop() != Some(b) {
                            return Scan::Bad(format!("mismatched '{}'", b as char), q);
                        }
                        if stack.is_empty() {
                            return Scan::End(q + 1);
                        }
                    }
                    _ => {}
                }
                q += 1;
            }
            Scan::NeedMore
        }
        _ => {
            // A scalar: up to the next delimiter.
            let end = buf[p..].iter().position(|b| matches!(b, b',' | b']' | b'}') || b.is_ascii_whitespace());
            match end {
                Some(i) => Scan::End(p + i),
                None if eof => Scan::End(buf.len()),
                None => Scan::NeedMore,
            }
        }
    }
}

/// The position after the closing quote of a string whose content starts at `q`.
fn string_end(buf: &[u8], mut q: usize) -> Option<usize> {
    loop {
        let i = memchr2(b'"', b'\\', &buf[q..])?;
        if buf[q + i] == b'"' {
            return Some(q + i + 1);
        }
        q += i + 2; // skip the escaped character
        if q > buf.len() {
            return None;
        }
    }
}

fn trim_range(buf: &[u8], mut start: usize, mut end: usize) -> (usize, usize) {
    while start < end && buf[start].is_ascii_whitespace() {
        start += 1;
    }
    while end > start && buf[end - 1].is_ascii_whitespace() {
        end -= 1;
    }
    (start, end)
}

/// serde_json's message without its " at line L column C" (the caller reports the line).
fn strip_position(e: &serde_json::Error) -> String {
    let text = e.to_string();
    match text.rfind(" at line ") {
        Some(i) => format!("{} (column {})", &text[..i], e.column()),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_end_where_they_should() {
        let end = |s: &str| match scan_value(s.as_bytes(), 0, true) {
            Scan::End(e) => Some(e),
            _ => None,
        };
        assert_eq!(end(r#"{"a": "}", "b": [1, {"c": "\""}]} tail"#), Some(33));
        assert_eq!(end(r#""x\"y" ,"#), Some(6));
        assert_eq!(end("123, 4"), Some(3));
        assert_eq!(end("{\"a\": 1"), None);
        assert!(matches!(scan_value(b"{]", 0, true), Scan::Bad(_, 1)));
    }
}
