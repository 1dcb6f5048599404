//! Integration tests of the file formats, one module per topic.

mod formats;
mod malformed;
mod roundtrip;

use std::io::Read;

use ingest::{Format, InvoiceReader, Limits, ReadError};

/// Reads everything and renders each outcome on one line:
/// `ok R@L ID` for a record, `record R@L: reason` for a record error,
/// `file: message` for a file error. The same data read in short chunks
/// must give the same records (see [`assert_same_in_short_reads`]).
pub fn outcomes(data: &[u8], format: Format) -> Vec<String> {
    outcomes_with(data, format, Limits::default())
}

pub fn outcomes_with(data: &[u8], format: Format, limits: Limits) -> Vec<String> {
    assert_same_in_short_reads(data, format, limits);
    let mut reader = InvoiceReader::new(data, format, limits);
    let mut out = Vec::new();
    while let Some(next) = reader.next_record() {
        out.push(match next {
            Ok(r) => format!("ok {}@{} {}", r.record, r.line, r.invoice.invoice_id_text().unwrap_or("-")),
            Err(ReadError::Record(e)) => format!("record {}@{}: {}", e.record, e.line, e.reason),
            Err(ReadError::File(e)) => format!("file: {e}"),
        });
    }
    out
}

/// Read sizes [`ShortReads`] cycles through: odd sizes, so that BOMs, quotes,
/// CRLFs, escapes and numbers get cut everywhere; the large ones keep big
/// files quick.
const SIZES: [usize; 9] = [1, 2, 3, 7, 16, 61, 509, 4093, 65537];

/// A reader that returns fewer bytes than asked, as pipes and network streams
/// (S3 bodies) do: `sizes[phase]`, then the next size, and so on, cycling.
pub struct ShortReads<'a> {
    data: &'a [u8],
    sizes: &'a [usize],
    phase: usize,
}

impl<'a> ShortReads<'a> {
    pub fn new(data: &'a [u8], sizes: &'a [usize], phase: usize) -> Self {
        ShortReads { data, sizes, phase }
    }
}

impl Read for ShortReads<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.sizes[self.phase % self.sizes.len()].min(buf.len()).min(self.data.len());
        self.phase += 1;
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

/// Everything a reader yields, each item in full (`Debug`): every field of
/// every record, every error.
pub fn everything<R: Read>(reader: R, format: Format, limits: Limits) -> Vec<String> {
    let mut reader = InvoiceReader::new(reader, format, limits);
    let mut out = Vec::new();
    while let Some(next) = reader.next_record() {
        out.push(format!("{next:?}"));
    }
    out
}

/// Reading `data` in short chunks gives exactly what one whole read gives,
/// whichever read size comes first (every phase of [`SIZES`] for files up to
/// 64 KiB, the first for larger ones).
///
/// The readers look at the first 8 KiB of a file before parsing it (a BOM, NUL
/// bytes), so a small file is parsed in one piece however it is read. To cut
/// its records at every place too, a small file is also read with 9000 blank
/// lines more, which moves its records past the first 8 KiB: in a CSV file
/// after the header (blank rows are skipped), in JSON and NDJSON before the
/// first value (white space, blank lines), after a BOM.
pub fn assert_same_in_short_reads(data: &[u8], format: Format, limits: Limits) {
    assert_same_for(data, format, limits);
    if data.len() > 64 * 1024 {
        return;
    }
    let at = match format {
        Format::Csv => data.iter().position(|&b| b == b'\n').map(|i| i + 1),
        Format::Json | Format::Ndjson => Some(if data.starts_with(b"\xEF\xBB\xBF") { 3 } else { 0 }),
    };
    if let Some(at) = at {
        let mut padded = data[..at].to_vec();
        padded.resize(at + 9000, b'\n');
        padded.extend_from_slice(&data[at..]);
        assert_same_for(&padded, format, limits);
    }
}

fn assert_same_for(data: &[u8], format: Format, limits: Limits) {
    let whole = everything(data, format, limits);
    // Files up to 64 KiB: every phase of SIZES; up to 24 KiB, also one byte
    // at a time (the window then ends once at every byte of every record; a
    // record is scanned again from its start after each read, so this is
    // quadratic in the record's length).
    let mut runs: Vec<(&[usize], usize)> = vec![(&SIZES[..], 0)];
    if data.len() <= 64 * 1024 {
        runs.extend((1..SIZES.len()).map(|phase| (&SIZES[..], phase)));
    }
    if data.len() <= 24 * 1024 {
        runs.push((&[1][..], 0));
    }
    for (sizes, phase) in runs {
        let short = everything(ShortReads::new(data, sizes, phase), format, limits);
        if short != whole {
            let at = short.iter().zip(&whole).take_while(|(a, b)| a == b).count();
            let first: Vec<usize> = sizes.iter().cycle().skip(phase).take(sizes.len()).copied().collect();
            panic!(
                "{format:?} read in chunks of {first:?}… differs from one whole read at item {at}:\n  short reads: {:?}\n  whole read:  {:?}",
                short.get(at),
                whole.get(at)
            );
        }
    }
}
