//! Reading the file: pass 1 (which row of each email is the last) and the rows of pass 2.

use super::*;
use crate::domain::email::Email;

// ---------------------------------------------------------------------------------------------
// The blocking side: CSV parsing.
/// Which row is the last for each email, kept small: 8 bytes per distinct email, and a row
/// number only for the emails that appear more than once.
#[derive(Default)]
pub(super) struct LastRows {
    pub(super) seen: HashSet<u64, MixedHash>,
    pub(super) repeated: HashMap<u64, u64, MixedHash>,
}

/// The keys of [`LastRows`] are already hashes of the emails: rehashing them with SipHash cost
/// a seventh of the first pass. FNV's low bits are weak, so they are mixed (SplitMix64's
/// finaliser) before the table uses them.
#[derive(Default, Clone, Copy)]
pub(super) struct MixedHash;

impl std::hash::BuildHasher for MixedHash {
    type Hasher = MixedHasher;

    fn build_hasher(&self) -> MixedHasher {
        MixedHasher(0)
    }
}

pub(super) struct MixedHasher(u64);

impl std::hash::Hasher for MixedHasher {
    // Only `u64` keys are hashed here; other input is folded in and mixed by `finish`.
    fn write(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*byte);
        }
    }

    fn write_u64(&mut self, value: u64) {
        self.0 = value;
    }

    fn finish(&self) -> u64 {
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

impl LastRows {
    pub(super) fn record(&mut self, email: &str, row: u64) {
        let hash = email_hash(email);
        if !self.seen.insert(hash) {
            self.repeated.insert(hash, row);
        }
    }

    /// True when a later row carries the same email (this one counts as a duplicate).
    pub(super) fn superseded(&self, email: &str, row: u64) -> bool {
        self.repeated
            .get(&email_hash(email))
            .is_some_and(|last| *last != row)
    }
}

pub(super) struct Scan {
    pub(super) plan: ColumnPlan,
    pub(super) last_row_of: LastRows,
    pub(super) data_rows: u64,
    pub(super) bom_len: u64,
}

pub(super) const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Skips a UTF-8 byte-order mark at the start of the stream.
pub(super) struct SkipBom<R> {
    pub(super) inner: R,
    pub(super) checked: bool,
    pub(super) pending: Vec<u8>,
    pub(super) skipped: bool,
}

impl<R: Read> SkipBom<R> {
    pub(super) fn new(inner: R) -> Self {
        Self {
            inner,
            checked: false,
            pending: Vec::new(),
            skipped: false,
        }
    }
}

impl<R: Read> Read for SkipBom<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if !self.checked {
            self.checked = true;
            let mut head = [0u8; 3];
            let mut filled = 0;
            while filled < 3 {
                let n = self.inner.read(&mut head[filled..])?;
                if n == 0 {
                    break;
                }
                filled += n;
            }
            if &head[..filled] == BOM {
                self.skipped = true;
            } else {
                self.pending = head[..filled].to_vec();
            }
        }
        if !self.pending.is_empty() {
            let n = self.pending.len().min(buf.len());
            buf[..n].copy_from_slice(&self.pending[..n]);
            self.pending.drain(..n);
            return Ok(n);
        }
        self.inner.read(buf)
    }
}

pub(super) fn csv_reader<R: Read>(reader: R) -> csv::Reader<R> {
    // Flexible: a row with the wrong number of fields fails alone, not the file.
    csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .buffer_capacity(256 * 1024)
        .from_reader(reader)
}

pub(super) fn read_error(error: &csv::Error) -> FileError {
    match error.kind() {
        csv::ErrorKind::Utf8 { pos, .. } => format!(
            "the file is not UTF-8 text (row {}); save it as CSV UTF-8 and upload it again",
            pos.as_ref().map(|p| p.record() + 1).unwrap_or(0)
        ),
        _ => format!("the file cannot be read as CSV: {error}"),
    }
}

pub(super) fn email_hash(email: &str) -> u64 {
    crate::domain::clock::stable_hash(email)
}

pub(super) fn scan(
    reader: Box<dyn Read + Send>,
    resolve: impl FnOnce(&[String]) -> Result<ColumnPlan, String>,
) -> Result<Scan, FileError> {
    let mut source = SkipBom::new(reader);
    let mut header = csv::StringRecord::new();
    let mut csv = csv_reader(BoundedFields::new(&mut source));
    let has_header = csv.read_record(&mut header).map_err(|e| read_error(&e))?;
    let headers: Vec<String> = header.iter().map(|h| h.trim().to_string()).collect();
    if !has_header || headers.iter().all(String::is_empty) {
        return Err("the file is empty".into());
    }
    let plan = resolve(&headers)?;
    let email_column = plan.email_column();
    let mut last_row_of = LastRows::default();
    let mut record = csv::StringRecord::new();
    let mut row = 1u64;
    while csv.read_record(&mut record).map_err(|e| read_error(&e))? {
        row += 1;
        if let Some(email) = record.get(email_column).and_then(|e| Email::parse(e).ok()) {
            last_row_of.record(&email, row);
        }
    }
    drop(csv);
    if row == 1 {
        return Err("the file has a header row but no data rows".into());
    }
    Ok(Scan {
        plan,
        last_row_of,
        data_rows: row - 1,
        bom_len: if source.skipped { BOM.len() as u64 } else { 0 },
    })
}

pub(super) struct RawRow {
    pub(super) row: u64,
    pub(super) fields: Vec<String>,
    /// The email column, normalised (or why it is not an email); `None` on a short row.
    pub(super) email: Option<Result<Email, String>>,
}

pub(super) struct Batch {
    pub(super) rows: Vec<RawRow>,
    /// Rows superseded by a later row with the same email.
    pub(super) duplicates: u64,
    /// Where the next batch starts.
    pub(super) end: Checkpoint,
}

/// Reads rows from `start` and sends them in batches until the end or until the receiver is
/// gone. With an `email_column` (customer imports), each row's email is read and rows a later
/// row supersedes are counted as duplicates.
pub(super) fn produce(
    reader: Box<dyn Read + Send>,
    start: Checkpoint,
    bom_len: u64,
    email_column: Option<usize>,
    last_row_of: &LastRows,
    sender: mpsc::Sender<Batch>,
) -> Result<(), FileError> {
    let fresh = start.offset == 0;
    let source = if fresh {
        Box::new(SkipBom::new(reader)) as Box<dyn Read + Send>
    } else {
        reader
    };
    let mut csv = csv_reader(BoundedFields::new(source));
    let base = if fresh { bom_len } else { start.offset };
    let mut record = csv::StringRecord::new();
    if fresh {
        csv.read_record(&mut record).map_err(|e| read_error(&e))?;
    }
    let mut row = start.row;
    let mut batch = Batch {
        rows: Vec::with_capacity(BATCH_ROWS),
        duplicates: 0,
        end: start,
    };
    let mut batch_bytes = 0usize;
    loop {
        let more = csv.read_record(&mut record).map_err(|e| read_error(&e))?;
        if more {
            // Normalised here once: the duplicate check and the row's worker both use it.
            let email = email_column.and_then(|c| record.get(c)).map(Email::parse);
            let superseded = email
                .as_ref()
                .and_then(|e| e.as_ref().ok())
                .is_some_and(|e| last_row_of.superseded(e, row));
            if superseded {
                batch.duplicates += 1;
            } else {
                batch_bytes += record.as_byte_record().as_slice().len();
                batch.rows.push(RawRow {
                    row,
                    fields: record.iter().map(str::to_string).collect(),
                    email,
                });
            }
            row += 1;
        }
        let full = batch.rows.len() + batch.duplicates as usize >= BATCH_ROWS
            || batch_bytes >= BATCH_BYTES;
        if full || !more {
            batch_bytes = 0;
            batch.end = Checkpoint {
                // The parser's position, in the file's terms (the limits drop bytes).
                offset: base + csv.get_ref().file_offset(csv.position().byte()),
                row,
                report_parts: 0,
            };
            let next = Batch {
                rows: Vec::with_capacity(BATCH_ROWS),
                duplicates: 0,
                end: batch.end,
            };
            if sender
                .blocking_send(std::mem::replace(&mut batch, next))
                .is_err()
            {
                return Ok(());
            }
        }
        if !more {
            return Ok(());
        }
    }
}
