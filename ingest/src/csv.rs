//! CSV files: a header row, then one invoice per row, or per run of rows with
//! the same invoiceId when the file has line-item columns.
//!
//! The parser works in place in a [`Window`]: a field is a range of the buffer
//! (a quoted field with `""` escapes is unescaped where it lies), so reading a
//! record copies and allocates nothing. Header names are matched with
//! [`Field::from_name`] (case, `_`, `-` and spaces ignored); the delimiter is `,`,
//! `;` or tab, whichever the header uses most. UTF-8 with or without BOM, LF or
//! CRLF, RFC 4180 quoting (a quoted field may span lines).
//!
//! A row that cannot be read (wrong number of fields, a stray quote, invalid
//! UTF-8 in a used column, conflicting invoice fields in one group) is a
//! [`RecordError`] with its line, and reading goes on with the next row. An
//! unterminated quote is reported on the line that opened it and reading
//! resumes on the next line. A quote is taken as never closed when the file
//! ends (or the record limit is reached) before its closing quote, and when a
//! quoted field that spans lines is "closed" by a quote followed by anything
//! but a delimiter or a line end: that quote is really the opening quote of a
//! later field (`INV-X,"C-9,…` then `INV-C,…,"a, b"` a few lines on), so the
//! rows in between are read again as rows instead of being swallowed. A quoted
//! field on one line followed by a stray character stays "unexpected 'x' after
//! a closing quote".

use std::borrow::Cow;
use std::io::Read;
use std::ops::Range;

use memchr::{memchr, memchr2, memchr_iter};
use workflow::raw::{Field, RawInvoice, RawItem, RawItems, RawValue};

use crate::window::Window;
use crate::{FileError, Limits, ReadError, Record, RecordError};

/// Number of [`Field`] variants (the column index table's size).
const FIELDS: usize = 11;
const NONE: usize = usize::MAX;

/// A field's bytes in the window; `escaped` when it holds `""` still to be unescaped.
#[derive(Clone, Copy, Debug)]
struct Span {
    start: usize,
    end: usize,
    escaped: bool,
}

/// A parsed row held in the window: its fields are `spans[first..first + ncols]`.
#[derive(Clone, Copy, Debug)]
struct Row {
    line: u64,
    first: usize,
    /// Window position where the row starts.
    start: usize,
    /// The row is all ASCII (most are): its cells need no UTF-8 check.
    ascii: bool,
}

enum Scan {
    /// A complete row ending before `end`, spanning `lines` line breaks; spans pushed.
    Row { end: usize, lines: u64 },
    /// The window ends inside the row. `open_quote`: a quoted field is open and
    /// has crossed a line break (so it may be an unterminated quote).
    NeedMore { open_quote: Option<usize> },
    /// The row is malformed; reading resumes at `resume`, `lines` line breaks later.
    Bad { reason: String, resume: usize, lines: u64 },
}

/// Streaming CSV reader; see the module documentation.
pub struct CsvReader<R> {
    win: Window<R>,
    /// Next unparsed position in the window.
    pos: usize,
    /// Line number at `pos`, from 1.
    line: u64,
    delimiter: u8,
    ncols: usize,
    /// Column index of each [`Field`], or `NONE`.
    index: [usize; FIELDS],
    /// Header names, for messages.
    names: Vec<String>,
    /// Rows with line items are grouped by invoiceId.
    grouping: bool,
    spans: Vec<Span>,
    /// Held rows: the current group, then at most one look-ahead row.
    rows: Vec<Row>,
    /// Rows handed out by the last call, dropped at the next.
    emitted: usize,
    /// An error found while a group was pending, returned after the group.
    queued: Option<ReadError>,
    record: u64,
    started: bool,
    done: bool,
}

impl<R: Read> CsvReader<R> {
    pub fn new(reader: R, limits: Limits) -> Self {
        CsvReader {
            win: Window::new(reader, limits),
            pos: 0,
            line: 1,
            delimiter: b',',
            ncols: 0,
            index: [NONE; FIELDS],
            names: Vec::new(),
            grouping: false,
            spans: Vec::new(),
            rows: Vec::new(),
            emitted: 0,
            queued: None,
            record: 0,
            started: false,
            done: false,
        }
    }

    /// The delimiter in use (known once the header is read).
    pub fn delimiter(&self) -> u8 {
        self.delimiter
    }

    /// The next invoice, a record that cannot be read, or a file-level error
    /// (after which there is nothing more); `None` at the end.
    pub fn next_record(&mut self) -> Option<Result<Record<'_>, ReadError>> {
        if self.done {
            return None;
        }
        if !self.started {
            self.started = true;
            if let Err(e) = self.read_header() {
                self.done = true;
                return Some(Err(ReadError::File(e)));
            }
        }
        self.drop_emitted();
        if let Some(err) = self.queued.take() {
            if matches!(err, ReadError::File(_)) {
                self.done = true;
            }
            return Some(Err(err));
        }
        let group = match self.collect_group() {
            Ok(Some(group)) => group,
            Ok(None) => {
                self.done = true;
                return None;
            }
            Err(err) => {
                if matches!(err, ReadError::File(_)) {
                    self.done = true;
                }
                return Some(Err(err));
            }
        };
        self.record += 1;
        self.emitted = group.end;
        let (record, line) = (self.record, self.rows[group.start].line);
        Some(match self.build(group) {
            Ok(invoice) => Ok(Record { record, line, invoice }),
            Err(reason) => Err(ReadError::Record(RecordError { record, line, reason })),
        })
    }

    /// Gathers the rows of the next invoice into `rows[range]`. An error met
    /// while a group is pending is queued for the next call.
    fn collect_group(&mut self) -> Result<Option<Range<usize>>, ReadError> {
        loop {
            // A held look-ahead row starts the group.
            if !self.grouping && !self.rows.is_empty() {
                return Ok(Some(0..1));
            }
            let held = self.rows.len();
            match self.next_row() {
                Ok(Some(row)) => {
                    self.rows.push(row);
                    if !self.grouping {
                        return Ok(Some(0..1));
                    }
                    if held > 0 && !self.same_invoice(0, held) {
                        return Ok(Some(0..held));
                    }
                }
                Ok(None) => return Ok((held > 0).then_some(0..held)),
                Err(err) => {
                    if held == 0 {
                        if let ReadError::Record(_) = err {
                            self.record += 1;
                            return Err(self.numbered(err));
                        }
                        return Err(err);
                    }
                    self.queued = Some(err);
                    return Ok(Some(0..held));
                }
            }
        }
    }

    /// Gives a record error its record number.
    fn numbered(&self, err: ReadError) -> ReadError {
        match err {
            ReadError::Record(e) => ReadError::Record(RecordError { record: self.record, ..e }),
            other => other,
        }
    }

    fn drop_emitted(&mut self) {
        if self.emitted == 0 {
            return;
        }
        let first_span = self.rows.get(self.emitted).map(|r| r.first);
        self.rows.drain(..self.emitted);
        if let Some(first) = first_span {
            self.spans.drain(..first);
            for row in &mut self.rows {
                row.first -= first;
            }
        } else {
            self.spans.clear();
        }
        self.emitted = 0;
        // A queued record error comes after the group it interrupted: number it now.
        if let Some(ReadError::Record(_)) = &self.queued {
            self.record += 1;
            self.queued = self.queued.take().map(|e| self.numbered(e));
        }
    }

    fn same_invoice(&self, a: usize, b: usize) -> bool {
        let col = self.index[Field::InvoiceId as usize];
        let cell = |row: usize| {
            let span = self.spans[self.rows[row].first + col];
            self.win.buf[span.start..span.end].trim_ascii()
        };
        let first = cell(a);
        !first.is_empty() && first == cell(b)
    }

    /// Reads the next non-blank row with the header's number of fields.
    fn next_row(&mut self) -> Result<Option<Row>, ReadError> {
        loop {
            let first = self.spans.len();
            let row = match self.scan_complete(first)? {
                None => return Ok(None),
                Some(row) => row,
            };
            let count = self.spans.len() - first;
            let blank = self.spans[first..].iter().all(|s| self.win.buf[s.start..s.end].trim_ascii().is_empty());
            if blank {
                self.spans.truncate(first);
                continue;
            }
            if count != self.ncols {
                self.spans.truncate(first);
                return Err(ReadError::Record(RecordError {
                    record: 0,
                    line: row.line,
                    reason: format!("has {count} fields but the header has {}", self.ncols),
                }));
            }
            for span in &mut self.spans[first..] {
                if span.escaped {
                    span.end = unescape_in_place(&mut self.win.buf, span.start, span.end);
                    span.escaped = false;
                }
            }
            return Ok(Some(row));
        }
    }

    /// Scans one complete row into `spans[first..]`, reading more data as needed.
    fn scan_complete(&mut self, first: usize) -> Result<Option<Row>, ReadError> {
        loop {
            if self.pos >= self.win.end && self.win.eof {
                return Ok(None);
            }
            let start = self.pos;
            match self.scan(start) {
                Scan::Row { end, lines } => {
                    let held = self.rows.first().map_or(start, |r| r.start);
                    if end - held > self.win.limits().max_record_bytes {
                        let line = self.rows.first().map_or(self.line, |r| r.line);
                        return Err(ReadError::File(crate::window::too_long(line, self.win.limits())));
                    }
                    let ascii = self.win.buf[start..end].is_ascii();
                    let row = Row { line: self.line, first, start, ascii };
                    self.pos = end;
                    self.line += lines;
                    return Ok(Some(row));
                }
                Scan::Bad { reason, resume, lines } => {
                    self.spans.truncate(first);
                    let line = self.line;
                    self.pos = resume;
                    self.line += lines;
                    return Err(ReadError::Record(RecordError { record: 0, line, reason }));
                }
                Scan::NeedMore { open_quote } => {
                    self.spans.truncate(first);
                    let held = self.rows.first().map_or(start, |r| r.start);
                    if start - held + self.win.end - start >= self.win.limits().max_record_bytes {
                        if let Some(open) = open_quote {
                            // Most likely a quote never closed: report it and go on
                            // with the line after the one that opened it.
                            return Err(self.unterminated(start, open));
                        }
                    }
                    let shift = self.win.fill(held, self.line).map_err(ReadError::File)?;
                    self.shift(shift);
                }
            }
        }
    }

    fn unterminated(&mut self, start: usize, open: usize) -> ReadError {
        let line = self.line;
        let Scan::Bad { reason, resume, lines } = self.never_closed(start, open) else {
            unreachable!("never_closed is a bad row")
        };
        self.pos = resume;
        self.line += lines;
        ReadError::Record(RecordError { record: 0, line, reason })
    }

    /// The row starting at `start` (on line `self.line`) has a quote at `open`
    /// that is never closed: reading resumes on the line after the quote's.
    fn never_closed(&self, start: usize, open: usize) -> Scan {
        let buf = &self.win.buf[..self.win.end];
        let opened_on = self.line + memchr_iter(b'\n', &buf[start..open]).count() as u64;
        let resume = memchr(b'\n', &buf[open..]).map_or(buf.len(), |i| open + i + 1);
        let lines = memchr_iter(b'\n', &buf[start..resume]).count() as u64;
        Scan::Bad { reason: format!("quoted field opened on line {opened_on} is never closed"), resume, lines }
    }

    fn shift(&mut self, by: usize) {
        if by == 0 {
            return;
        }
        self.pos -= by;
        for row in &mut self.rows {
            row.start -= by;
        }
        for span in &mut self.spans {
            span.start -= by;
            span.end -= by;
        }
    }

    /// Scans the row at `p` in the current window without changing it.
    fn scan(&mut self, mut p: usize) -> Scan {
        let row_start = p;
        let buf = &self.win.buf[..self.win.end];
        let eof = self.win.eof;
        let delim = self.delimiter;
        let mut lines = 0u64;
        loop {
            if p < buf.len() && buf[p] == b'"' {
                let open = p;
                let mut q = p + 1;
                let mut escaped = false;
                let close = loop {
                    match memchr(b'"', &buf[q..]) {
                        None => return self.need_more_quoted(open, q),
                        Some(i) => {
                            let c = q + i;
                            if c + 1 == buf.len() && !eof {
                                return self.need_more_quoted(open, c);
                            }
                            if c + 1 < buf.len() && buf[c + 1] == b'"' {
                                escaped = true;
                                q = c + 2;
                                continue;
                            }
                            break c;
                        }
                    }
                };
                lines += memchr_iter(b'\n', &buf[open..close]).count() as u64;
                self.spans.push(Span { start: open + 1, end: close, escaped });
                p = close + 1;
                match buf.get(p) {
                    None => return Scan::Row { end: p, lines },
                    Some(&b) if b == delim => p += 1,
                    Some(b'\n') => return Scan::Row { end: p + 1, lines: lines + 1 },
                    Some(b'\r') if buf.get(p + 1) == Some(&b'\n') => return Scan::Row { end: p + 2, lines: lines + 1 },
                    Some(b'\r') if p + 1 == buf.len() && !eof => return Scan::NeedMore { open_quote: None },
                    Some(_) if memchr(b'\n', &buf[open..close]).is_some() => {
                        // A quoted field that spans lines and "closes" with a quote
                        // that is not followed by a delimiter or a line end: that
                        // quote opens a later field, and the first was never closed.
                        // Report the row and go on with the line after the quote's.
                        return self.never_closed(row_start, open);
                    }
                    Some(_) if !eof && memchr(b'\n', &buf[p..]).is_none() => {
                        // The row is bad; read on to its end, where reading resumes.
                        return Scan::NeedMore { open_quote: None };
                    }
                    Some(&b) => {
                        let resume = memchr(b'\n', &buf[p..]).map_or(buf.len(), |i| p + i + 1);
                        let lines = lines + u64::from(resume > 0 && buf[resume - 1] == b'\n');
                        return Scan::Bad {
                            reason: format!("unexpected {} after a closing quote", show_byte(b)),
                            resume,
                            lines,
                        };
                    }
                }
            } else {
                match memchr2(delim, b'\n', &buf[p..]) {
                    Some(i) if buf[p + i] == delim => {
                        self.spans.push(Span { start: p, end: p + i, escaped: false });
                        p += i + 1;
                    }
                    Some(i) => {
                        let e = p + i;
                        let fe = if e > p && buf[e - 1] == b'\r' { e - 1 } else { e };
                        self.spans.push(Span { start: p, end: fe, escaped: false });
                        return Scan::Row { end: e + 1, lines: lines + 1 };
                    }
                    None if !eof => return Scan::NeedMore { open_quote: None },
                    None => {
                        let e = buf.len();
                        let fe = if e > p && buf[e - 1] == b'\r' { e - 1 } else { e };
                        self.spans.push(Span { start: p, end: fe, escaped: false });
                        return Scan::Row { end: e, lines };
                    }
                }
            }
        }
    }

    fn need_more_quoted(&self, open: usize, upto: usize) -> Scan {
        let buf = &self.win.buf[..self.win.end];
        if self.win.eof {
            return self.never_closed(self.pos, open);
        }
        let crossed = memchr(b'\n', &buf[open..upto.max(open)]).is_some();
        Scan::NeedMore { open_quote: crossed.then_some(open) }
    }

    /// Reads the BOM, detects the delimiter and maps the header's columns.
    fn read_header(&mut self) -> Result<(), FileError> {
        self.pos = self.win.start_text()?;
        // The first line whole, to count its delimiters.
        while !self.win.eof && memchr(b'\n', &self.win.buf[..self.win.end]).is_none() {
            self.win.fill(0, 1)?;
        }
        self.delimiter = detect_delimiter(&self.win.buf[self.pos..self.win.end]);
        // The header: the first row that is not blank.
        let header = loop {
            let first = self.spans.len();
            match self.scan_complete(first) {
                Ok(Some(row)) => {
                    if self.spans[first..].iter().all(|s| self.win.buf[s.start..s.end].trim_ascii().is_empty()) {
                        self.spans.truncate(first);
                        continue;
                    }
                    break row;
                }
                Ok(None) => return Err(FileError::new(None, "file is empty".into())),
                Err(ReadError::File(e)) => return Err(e),
                Err(ReadError::Record(e)) => return Err(FileError::new(Some(e.line), format!("header: {}", e.reason))),
            }
        };
        for span in &mut self.spans {
            if span.escaped {
                span.end = unescape_in_place(&mut self.win.buf, span.start, span.end);
            }
        }
        let line = header.line;
        let spans = std::mem::take(&mut self.spans);
        self.ncols = spans.len();
        for (col, span) in spans.iter().enumerate() {
            let raw = &self.win.buf[span.start..span.end];
            let name = std::str::from_utf8(raw)
                .map_err(|_| FileError::new(Some(line), format!("header: column {} is not valid UTF-8", col + 1)))?;
            self.names.push(name.trim().to_string());
            if let Some(field) = Field::from_name(raw) {
                let slot = &mut self.index[field as usize];
                if *slot != NONE {
                    return Err(FileError::new(
                        Some(line),
                        format!(
                            "header: columns {} ({:?}) and {} ({:?}) both name {}",
                            *slot + 1,
                            self.names[*slot],
                            col + 1,
                            name.trim(),
                            field.name()
                        ),
                    ));
                }
                *slot = col;
            }
        }
        let missing: Vec<&str> = [Field::InvoiceId, Field::CustomerId, Field::Amount, Field::DueDate]
            .into_iter()
            .filter(|f| self.index[*f as usize] == NONE)
            .map(Field::name)
            .collect();
        if !missing.is_empty() {
            return Err(FileError::new(
                Some(line),
                format!(
                    "header: missing required column{} {} (columns found: {})",
                    if missing.len() > 1 { "s" } else { "" },
                    missing.join(", "),
                    self.names.join(", ")
                ),
            ));
        }
        let has = |f: Field| self.index[f as usize] != NONE;
        if has(Field::Items) {
            return Err(FileError::new(
                Some(line),
                "header: an `items` column cannot hold line items; use the columns itemDescription, quantity and rate"
                    .into(),
            ));
        }
        self.grouping = has(Field::Quantity) || has(Field::Rate) || has(Field::ItemDescription);
        if self.grouping && !(has(Field::Quantity) && has(Field::Rate)) {
            return Err(FileError::new(Some(line), "header: line items need both a quantity and a rate column".into()));
        }
        Ok(())
    }

    /// The text of column `col` of held row `row`, or the reason it is not text.
    fn cell(&self, row: usize, col: usize) -> Result<&str, String> {
        let span = self.spans[self.rows[row].first + col];
        let bytes = &self.win.buf[span.start..span.end];
        if self.rows[row].ascii {
            // SAFETY: the whole row was checked to be ASCII, which is UTF-8.
            return Ok(unsafe { std::str::from_utf8_unchecked(bytes) });
        }
        std::str::from_utf8(bytes).map_err(|_| format!("column {:?} is not valid UTF-8", self.names[col]))
    }

    fn value(&self, row: usize, field: Field) -> Result<RawValue<'_>, String> {
        let col = self.index[field as usize];
        if col == NONE {
            return Ok(RawValue::Missing);
        }
        Ok(RawValue::Text(Cow::Borrowed(self.cell(row, col)?)))
    }

    /// Turns held rows into one raw invoice: invoice fields from the first row
    /// that has them (later rows must agree or be blank), one item per row
    /// with any item cell filled.
    fn build(&self, rows: Range<usize>) -> Result<RawInvoice<'_>, String> {
        let mut raw = RawInvoice::default();
        for field in Field::INVOICE {
            let Some(slot) = raw.slot(field) else { continue };
            let first = rows.start;
            *slot = self.value(first, field)?;
            if rows.len() == 1 {
                continue;
            }
            for row in rows.clone().skip(1) {
                let later = self.value(row, field)?;
                let (RawValue::Text(a), RawValue::Text(b)) = (&*slot, &later) else { continue };
                let (a, b) = (a.trim(), b.trim());
                if b.is_empty() || a == b {
                    continue;
                }
                if a.is_empty() {
                    *slot = later;
                    continue;
                }
                return Err(format!(
                    "{} {:?} on line {} differs from {:?} on line {} for the same invoiceId",
                    field.name(),
                    b,
                    self.rows[row].line,
                    a,
                    self.rows[first].line
                ));
            }
        }
        if self.grouping {
            let mut items = Vec::with_capacity(rows.len());
            for row in rows {
                let item = RawItem {
                    description: self.value(row, Field::ItemDescription)?,
                    quantity: self.value(row, Field::Quantity)?,
                    rate: self.value(row, Field::Rate)?,
                    not_object: None,
                };
                if !(item.description.is_absent() && item.quantity.is_absent() && item.rate.is_absent()) {
                    items.push(item);
                }
            }
            if !items.is_empty() {
                raw.items = RawItems::List(items);
            }
        }
        Ok(raw)
    }
}

/// `,`, `;` or tab: whichever occurs most outside quotes on the first line (`,` on a tie).
fn detect_delimiter(data: &[u8]) -> u8 {
    let line = &data[..memchr(b'\n', data).unwrap_or(data.len())];
    let mut counts = [0usize; 3];
    let mut quoted = false;
    for &b in line {
        match b {
            b'"' => quoted = !quoted,
            b',' if !quoted => counts[0] += 1,
            b';' if !quoted => counts[1] += 1,
            b'\t' if !quoted => counts[2] += 1,
            _ => {}
        }
    }
    let best = (0..3).max_by_key(|&i| (counts[i], std::cmp::Reverse(i))).unwrap_or(0);
    [b',', b';', b'\t'][best]
}

/// Replaces each `""` in `buf[start..end]` by `"`, in place; returns the new end.
fn unescape_in_place(buf: &mut [u8], start: usize, end: usize) -> usize {
    let mut w = start;
    let mut r = start;
    while r < end {
        let b = buf[r];
        buf[w] = b;
        w += 1;
        r += if b == b'"' && r + 1 < end && buf[r + 1] == b'"' { 2 } else { 1 };
    }
    w
}

fn show_byte(b: u8) -> String {
    if b.is_ascii_graphic() {
        format!("'{}'", b as char)
    } else {
        format!("byte 0x{b:02x}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delimiter_is_the_most_common_outside_quotes() {
        assert_eq!(detect_delimiter(b"a,b,c\n1;2"), b',');
        assert_eq!(detect_delimiter(b"a;b;c"), b';');
        assert_eq!(detect_delimiter(b"\"a,b\";c\n"), b';');
        assert_eq!(detect_delimiter(b"a\tb\tc"), b'\t');
        assert_eq!(detect_delimiter(b"abc"), b',');
    }

    #[test]
    fn unescaping_collapses_doubled_quotes() {
        let mut buf = b"x\"\"y\"\"\"\"z".to_vec();
        let len = buf.len();
        let end = unescape_in_place(&mut buf, 0, len);
        assert_eq!(&buf[..end], b"x\"y\"\"z");
    }
}
