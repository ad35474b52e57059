//! Size limits on what the CSV parser sees, so memory stays bounded whatever a file holds.
//!
//! [`BoundedFields`] sits between the file and the parser and follows the CSV quoting itself
//! (a `"` toggles quoting, so `""` inside a quoted field toggles twice). A field that grows
//! past [`MAX_FIELD_BYTES`], or a row past [`MAX_ROW_BYTES`], is cut there: the rest of it is
//! not passed on (quote characters excepted, so the parser's quoting stays in step), and a
//! marker takes its place. The row then fails alone, with a reason, and every other row imports.
//! Because bytes are dropped, the parser's positions are translated back to the file's with
//! [`BoundedFields::file_offset`] before they are checkpointed.

use std::io::Read;

/// The largest field an import row may have.
pub const MAX_FIELD_BYTES: usize = 64 * 1024;
/// The largest row an import may have.
pub const MAX_ROW_BYTES: usize = 1024 * 1024;

/// Put in place of the cut part of a field; control characters keep it apart from any valid
/// cell (single-line fields refuse them).
pub(super) const FIELD_CUT: &str = "\u{1}helpdesk:field-over-limit\u{1}";
/// Put in place of the cut part of a row.
pub(super) const ROW_CUT: &str = "\u{1}helpdesk:row-over-limit\u{1}";

/// Why a row was cut, if it was: the reason its error-report line gives.
pub(super) fn cut_reason(fields: &[String]) -> Option<String> {
    // A field over its limit is named first: it is what the sender has to fix.
    if fields.iter().any(|f| f.contains(FIELD_CUT)) {
        Some(format!(
            "a field is larger than {} KiB; the row was not imported",
            MAX_FIELD_BYTES / 1024
        ))
    } else if fields.iter().any(|f| f.contains(ROW_CUT)) {
        Some(format!(
            "the row is larger than {} MiB; it was not imported",
            MAX_ROW_BYTES / (1024 * 1024)
        ))
    } else {
        None
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cut {
    None,
    Field,
    Row,
}

/// Where the file is in CSV terms, as the `csv` crate's parser sees it: a quote opens quoting
/// only at the start of a field; inside quotes, `""` is a literal quote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    StartField,
    Unquoted,
    Quoted,
    /// A quote inside a quoted field: an escaped quote if another follows, else the end.
    QuoteInQuoted,
}

pub(super) struct BoundedFields<R> {
    inner: R,
    input: Vec<u8>,
    at: usize,
    filled: usize,
    /// Marker bytes still to hand out.
    pending: Vec<u8>,
    state: State,
    field_bytes: usize,
    row_bytes: usize,
    cut: Cut,
    /// Bytes taken from the file and handed to the parser so far.
    read_in: u64,
    written_out: u64,
    /// (parser offset, file offset) at the end of each row after which they differ: few,
    /// one per cut row.
    marks: Vec<(u64, u64)>,
}

impl<R: Read> BoundedFields<R> {
    pub(super) fn new(inner: R) -> Self {
        Self {
            inner,
            input: vec![0; 64 * 1024],
            at: 0,
            filled: 0,
            pending: Vec::new(),
            state: State::StartField,
            field_bytes: 0,
            row_bytes: 0,
            cut: Cut::None,
            read_in: 0,
            written_out: 0,
            marks: Vec::new(),
        }
    }

    /// The file offset of a row boundary the parser reports at `parsed` bytes.
    pub(super) fn file_offset(&self, parsed: u64) -> u64 {
        let shift = self
            .marks
            .iter()
            .rev()
            .find(|(out, _)| *out <= parsed)
            .map_or(0, |(out, file)| file - out);
        parsed + shift
    }

    /// The fast path: how many of the next bytes (at most `room`) change nothing but the
    /// counts, inside a field that is neither being cut nor near a limit. Most of a file is such
    /// runs; they are found with memchr and copied whole. `None` when the next byte needs
    /// [`take`](Self::take).
    fn plain_run(&self, room: usize) -> Option<usize> {
        if self.cut != Cut::None || !self.pending.is_empty() {
            return None;
        }
        let ahead = &self.input[self.at..self.filled];
        let ahead = &ahead[..ahead.len().min(room)];
        let special = match self.state {
            // Unquoted, a quote is an ordinary character; only delimiters end the field.
            State::Unquoted => memchr::memchr3(b',', b'\n', b'\r', ahead),
            // Quoted, only a quote can change anything.
            State::Quoted => memchr::memchr(b'"', ahead),
            State::StartField | State::QuoteInQuoted => return None,
        };
        let run = special
            .unwrap_or(ahead.len())
            .min(MAX_FIELD_BYTES.saturating_sub(self.field_bytes))
            .min(MAX_ROW_BYTES.saturating_sub(self.row_bytes));
        (run > 0).then_some(run)
    }

    /// Decides what one file byte becomes: passed on, dropped, or (when a cut starts) the
    /// marker. Answers whether the byte itself goes to the parser. While a cut lasts nothing
    /// passes but the delimiter that ends it; a cut inside quotes first closes them, so the
    /// parser's view of the row stays in step with the file's.
    fn take(&mut self, byte: u8) -> bool {
        self.row_bytes += 1;
        let outside = self.state != State::Quoted;
        if outside && (byte == b'\n' || byte == b'\r') {
            let was_cut = self.cut != Cut::None;
            self.state = State::StartField;
            self.field_bytes = 0;
            self.row_bytes = 0;
            self.cut = Cut::None;
            if was_cut {
                // After this row ends, parser and file offsets differ by what was dropped.
                self.marks.push((self.written_out + 1, self.read_in + 1));
            }
            return true;
        }
        if outside && byte == b',' {
            self.state = State::StartField;
            self.field_bytes = 0;
            return match self.cut {
                Cut::Row => false,
                Cut::Field => {
                    self.cut = Cut::None;
                    true
                }
                Cut::None => true,
            };
        }
        self.state = match (self.state, byte) {
            (State::StartField, b'"') => State::Quoted,
            (State::StartField, _) => State::Unquoted,
            (State::Quoted, b'"') => State::QuoteInQuoted,
            (State::QuoteInQuoted, b'"') => State::Quoted,
            (State::QuoteInQuoted, _) => State::Unquoted,
            (state, _) => state,
        };
        self.field_bytes += 1;
        let over = if self.row_bytes > MAX_ROW_BYTES {
            Cut::Row
        } else if self.field_bytes > MAX_FIELD_BYTES {
            Cut::Field
        } else {
            Cut::None
        };
        match (self.cut, over) {
            (Cut::None, Cut::None) => true,
            (Cut::None, cut) | (Cut::Field, cut @ Cut::Row) => {
                let marker = if cut == Cut::Row { ROW_CUT } else { FIELD_CUT };
                self.pending.extend_from_slice(marker.as_bytes());
                // Inside quotes (this byte included): close them for the parser.
                if self.cut == Cut::None
                    && matches!(self.state, State::Quoted | State::QuoteInQuoted)
                {
                    self.pending.push(b'"');
                }
                self.cut = cut;
                false
            }
            _ => false,
        }
    }
}

impl<R: Read> Read for BoundedFields<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let mut written = 0;
        while written < buf.len() {
            if !self.pending.is_empty() {
                let n = self.pending.len().min(buf.len() - written);
                buf[written..written + n].copy_from_slice(&self.pending[..n]);
                self.pending.drain(..n);
                written += n;
                self.written_out += n as u64;
                continue;
            }
            if self.at == self.filled {
                if written > 0 {
                    break;
                }
                self.filled = self.inner.read(&mut self.input)?;
                self.at = 0;
                if self.filled == 0 {
                    break;
                }
            }
            if let Some(run) = self.plain_run(buf.len() - written) {
                buf[written..written + run].copy_from_slice(&self.input[self.at..self.at + run]);
                self.at += run;
                self.read_in += run as u64;
                self.written_out += run as u64;
                self.field_bytes += run;
                self.row_bytes += run;
                written += run;
                continue;
            }
            let byte = self.input[self.at];
            self.at += 1;
            let pass = self.take(byte);
            self.read_in += 1;
            if pass {
                buf[written] = byte;
                written += 1;
                self.written_out += 1;
            }
        }
        Ok(written)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bounded(text: &[u8]) -> (String, BoundedFields<&[u8]>) {
        let mut reader = BoundedFields::new(text);
        let mut out = Vec::new();
        let mut chunk = [0u8; 7];
        loop {
            let n = reader.read(&mut chunk).unwrap();
            if n == 0 {
                break;
            }
            out.extend_from_slice(&chunk[..n]);
        }
        (String::from_utf8(out).unwrap(), reader)
    }

    #[test]
    fn small_files_pass_unchanged() {
        let text = b"Email,Name\r\na@x.io,\"Lee, Ann\"\n\"q\"\"uote\",x\n";
        let (out, reader) = bounded(text);
        assert_eq!(out.as_bytes(), text);
        assert_eq!(reader.file_offset(10), 10);
    }

    #[test]
    fn a_long_field_is_cut_and_offsets_map_back() {
        let long = "y".repeat(MAX_FIELD_BYTES + 500);
        let text = format!("Email,Notes\na@x.io,\"{long}\"\nb@x.io,ok\n");
        let (out, reader) = bounded(text.as_bytes());
        let mut csv = csv::ReaderBuilder::new()
            .has_headers(false)
            .from_reader(out.as_bytes());
        let rows: Vec<Vec<String>> = csv
            .records()
            .map(|r| r.unwrap().iter().map(str::to_string).collect())
            .collect();
        assert_eq!(rows.len(), 3);
        assert!(rows[1][1].len() < MAX_FIELD_BYTES + 100);
        assert!(cut_reason(&rows[1]).unwrap().contains("64 KiB"));
        assert_eq!(rows[2], ["b@x.io", "ok"]);
        // The third row starts at the same place in the file and in the parser's view.
        let file_start = text.find("b@x.io").unwrap() as u64;
        let parsed_start = out.find("b@x.io").unwrap() as u64;
        assert_eq!(reader.file_offset(parsed_start), file_start);
    }

    #[test]
    fn a_long_row_is_cut_whole() {
        let field = "z".repeat(MAX_FIELD_BYTES - 10);
        let row = vec![field; 20].join(",");
        let text = format!("Email,Notes\n{row}\nb@x.io,ok\n");
        let (out, _) = bounded(text.as_bytes());
        assert!(out.len() < MAX_ROW_BYTES + 1000);
        let mut csv = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(out.as_bytes());
        let rows: Vec<Vec<String>> = csv
            .records()
            .map(|r| r.unwrap().iter().map(str::to_string).collect())
            .collect();
        assert!(cut_reason(&rows[1]).unwrap().contains("1 MiB"));
        assert_eq!(rows[2], ["b@x.io", "ok"]);
    }

    #[test]
    fn cuts_inside_quotes_keep_the_parser_in_step() {
        let inner = "a,b\n\"\"c".repeat(MAX_FIELD_BYTES / 4);
        let text = format!(
            "Email,Notes,Height\na@x.io,\"{inner}\",5'10\"\nb@x.io,\"x\"\"y\",6'\nc@x.io,ok,1\n"
        );
        let (out, _) = bounded(text.as_bytes());
        let mut csv = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(out.as_bytes());
        let rows: Vec<Vec<String>> = csv
            .records()
            .map(|r| r.unwrap().iter().map(str::to_string).collect())
            .collect();
        assert_eq!(rows.len(), 4, "{rows:?}");
        assert!(cut_reason(&rows[1]).is_some());
        assert_eq!(rows[1][2], "5'10\"");
        assert_eq!(rows[2], ["b@x.io", "x\"y", "6'"]);
        assert_eq!(rows[3], ["c@x.io", "ok", "1"]);
    }

    /// Reads `text` through the limits with reads of `chunk` bytes.
    fn through(text: &[u8], chunk: usize) -> Vec<u8> {
        let mut reader = BoundedFields::new(text);
        let mut out = Vec::new();
        let mut buf = vec![0u8; chunk];
        loop {
            let n = reader.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            out.extend_from_slice(&buf[..n]);
        }
        out
    }

    #[test]
    fn the_fast_path_changes_nothing_whatever_the_reads() {
        // Random CSV-ish text with quotes, delimiters and long runs; deterministic.
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut small = Vec::new();
        while small.len() < 200_000 {
            let pick = next() % 10;
            let byte =
                [b'a', b'b', b',', b'"', b'\n', b'\r', b'x', b'y', b' ', b'z'][pick as usize];
            let repeat = if pick >= 6 {
                (next() % 300) as usize
            } else {
                1
            };
            small.extend(std::iter::repeat_n(byte, repeat));
        }
        for chunk in [1, 7, 64, 4096, 100_000] {
            assert!(
                through(&small, chunk) == small,
                "changed with reads of {chunk}"
            );
        }
        // Over the limits, the cuts fall at the same places whatever the reads.
        let mut large = small.clone();
        large.extend(std::iter::repeat_n(b'q', MAX_ROW_BYTES + 10));
        large.extend_from_slice(b"\nlast,row\n");
        let reference = through(&large, 1);
        assert!(reference.len() < large.len());
        for chunk in [7, 4096, 100_000] {
            assert!(through(&large, chunk) == reference, "reads of {chunk}");
        }
    }
}
