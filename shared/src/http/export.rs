//! `GET /customers/{email}/export`: everything held about a person as one JSON document,
//! written piece by piece (each piece through its view) into a temporary file as the service
//! reads it. Memory holds one page of records however much there is; the document is the
//! response up to 5 MiB, and beyond that is kept in the mail bucket behind a link.

use std::io::{BufWriter, Write};
use std::path::PathBuf;

use super::*;
use crate::domain::customer::{Customer, Note};
use crate::domain::field::FieldSet;
use crate::domain::history::HistoryEntry;
use crate::domain::inbound::InboundRecord;
use crate::domain::merge::Merge;
use crate::domain::ticket::{Ticket, TicketMessage};
use crate::services::privacy::{ExportSink, PrivacyService};

/// Exports up to this size are the response; larger ones are kept in the mail bucket and
/// answered with a link (Lambda answers at most 6 MB).
const MAX_INLINE_EXPORT_BYTES: u64 = 5 * 1024 * 1024;

/// Everything held about a person.
// The document's shape: `ExportWriter` writes it piece by piece, through these same views.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = CustomerExport)]
#[allow(dead_code, reason = "the schema of what ExportWriter writes")]
pub struct ExportView<'a> {
    pub customer: CustomerView<'a>,
    pub notes: Vec<NoteView<'a>>,
    pub history: Vec<HistoryEntryView<'a>>,
    /// Newest first, each with its messages in arrival order.
    pub tickets: Vec<ExportTicketView<'a>>,
    /// The records of mail from each of the person's addresses in turn, newest first.
    pub inbound: Vec<InboundRecordView<'a>>,
    /// The merges kept for undo that hold a copy of the person, with those copies.
    pub merges: Vec<ExportMergeView<'a>>,
    pub exported_at: String,
}

/// A merge holding a copy of the person: the merge, and the customers as it keeps them.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = ExportedMerge)]
pub struct ExportMergeView<'a> {
    #[serde(flatten)]
    pub merge: MergeView<'a>,
    /// The target as it was before the merge.
    pub target_before: CustomerView<'a>,
    /// The customers merged in, as they were.
    pub merged_in: Vec<CustomerView<'a>>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = ExportedTicket)]
#[allow(dead_code, reason = "the schema of what ExportWriter writes")]
pub struct ExportTicketView<'a> {
    #[serde(flatten)]
    pub ticket: TicketSummaryView<'a>,
    pub messages: Vec<ExportMessageView<'a>>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = ExportedMessage)]
pub struct ExportMessageView<'a> {
    #[serde(flatten)]
    pub message: MessageView<'a>,
    /// API paths that answer each attachment's download link, in `attachments` order.
    pub attachment_links: Vec<String>,
}

/// The document's arrays, in order; the customer comes before them.
const SECTIONS: [&str; 5] = ["notes", "history", "tickets", "inbound", "merges"];

/// Writes an export as the service hands it over: each array opened when its first item
/// comes (or when a later one does), and closed when the next begins.
struct ExportWriter<'a, W: Write> {
    out: W,
    fields: &'a FieldSet,
    caller: &'a Caller,
    /// How many of [`SECTIONS`] have been opened (the last of them is open).
    opened: usize,
    /// The open array (a section's or a ticket's messages) has an item.
    has_item: bool,
    /// A ticket is open: its `messages` array is.
    in_ticket: bool,
}

fn write_failed(error: impl std::fmt::Display) -> HelpdeskError {
    HelpdeskError::Unavailable(format!("export: {error}"))
}

impl<'a, W: Write + Send> ExportWriter<'a, W> {
    fn new(out: W, fields: &'a FieldSet, caller: &'a Caller) -> Self {
        ExportWriter {
            out,
            fields,
            caller,
            opened: 0,
            has_item: false,
            in_ticket: false,
        }
    }

    fn raw(&mut self, text: &str) -> Result<(), HelpdeskError> {
        self.out.write_all(text.as_bytes()).map_err(write_failed)
    }

    fn value<T: Serialize>(&mut self, value: &T) -> Result<(), HelpdeskError> {
        serde_json::to_writer(&mut self.out, value).map_err(write_failed)
    }

    /// Closes the open ticket, if one is.
    fn close_ticket(&mut self) -> Result<(), HelpdeskError> {
        if self.in_ticket {
            self.in_ticket = false;
            self.has_item = true;
            self.raw("]}")?;
        }
        Ok(())
    }

    /// Opens section `name` (and every section before it still unopened, empty).
    fn enter(&mut self, name: &str) -> Result<(), HelpdeskError> {
        let target = SECTIONS
            .iter()
            .position(|s| *s == name)
            .map_or(SECTIONS.len(), |i| i + 1);
        while self.opened < target {
            self.close_ticket()?;
            if self.opened > 0 {
                self.raw("]")?;
            }
            let next = SECTIONS.get(self.opened).copied();
            self.opened += 1;
            self.has_item = false;
            if let Some(next) = next {
                self.raw(&format!(",\"{next}\":["))?;
            }
        }
        Ok(())
    }

    /// One item of the open array.
    fn item<T: Serialize>(&mut self, section: &str, value: &T) -> Result<(), HelpdeskError> {
        self.enter(section)?;
        if self.has_item {
            self.raw(",")?;
        }
        self.has_item = true;
        self.value(value)
    }

    /// Closes every array and the document; answers the writer.
    fn finish(mut self) -> Result<W, HelpdeskError> {
        self.close_ticket()?;
        while self.opened < SECTIONS.len() {
            self.enter(SECTIONS[self.opened])?;
        }
        self.raw("]")?;
        let exported_at = crate::domain::clock::now().to_string();
        self.raw(",\"exported_at\":")?;
        self.value(&exported_at)?;
        self.raw("}")?;
        self.out.flush().map_err(write_failed)?;
        Ok(self.out)
    }
}

impl<W: Write + Send> ExportSink for ExportWriter<'_, W> {
    fn customer(&mut self, customer: &Customer) -> Result<(), HelpdeskError> {
        self.raw("{\"customer\":")?;
        let view = CustomerView::new(customer, self.fields, self.caller);
        self.value(&view)
    }

    fn note(&mut self, note: &Note) -> Result<(), HelpdeskError> {
        self.item("notes", &NoteView::from(note))
    }

    fn history(&mut self, entry: &HistoryEntry) -> Result<(), HelpdeskError> {
        let view = HistoryEntryView::new(entry, self.fields, self.caller);
        self.item("history", &view)
    }

    fn ticket(&mut self, ticket: &Ticket) -> Result<(), HelpdeskError> {
        self.enter("tickets")?;
        self.close_ticket()?;
        if self.has_item {
            self.raw(",")?;
        }
        // The summary's fields, then the messages' array, left open for them.
        let summary =
            serde_json::to_value(TicketSummaryView::from(ticket)).map_err(write_failed)?;
        let mut text = serde_json::to_string(&summary).map_err(write_failed)?;
        text.pop();
        self.raw(&text)?;
        self.raw(",\"messages\":[")?;
        self.in_ticket = true;
        self.has_item = false;
        Ok(())
    }

    fn message(&mut self, message: &TicketMessage) -> Result<(), HelpdeskError> {
        if self.has_item {
            self.raw(",")?;
        }
        self.has_item = true;
        let view = ExportMessageView {
            message: MessageView::from(message),
            attachment_links: message
                .attachments
                .iter()
                .map(|a| format!("/tickets/{}/attachments/{}", message.ticket_id, a.id))
                .collect(),
        };
        self.value(&view)
    }

    fn inbound(&mut self, record: &InboundRecord) -> Result<(), HelpdeskError> {
        self.item("inbound", &InboundRecordView::from(record))
    }

    fn merge(&mut self, merge: &Merge) -> Result<(), HelpdeskError> {
        let view = ExportMergeView {
            merge: MergeView::from(merge),
            target_before: CustomerView::new(&merge.target_before, self.fields, self.caller),
            merged_in: merge
                .sources
                .iter()
                .map(|s| CustomerView::new(s, self.fields, self.caller))
                .collect(),
        };
        self.item("merges", &view)
    }
}

/// A file under the temporary directory, deleted when dropped.
struct TempFile(PathBuf);

impl TempFile {
    fn new() -> TempFile {
        let name = format!("helpdesk-export-{}.json", crate::domain::clock::new_id());
        TempFile(std::env::temp_dir().join(name))
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[utoipa::path(get, path = "/customers/{email}/export", tag = "privacy",
    summary = "Everything held about a customer, as one JSON document",
    params(("email" = String, Path, description = "A primary or alternate email, case-insensitive")),
    responses((status = 200, description = "The export", body = ExportView),
        (status = 303, description = "Over 5 MiB: a link to the export, valid 15 minutes", body = DownloadView)))]
pub(super) async fn export_customer(
    State(privacy): State<PrivacyService>,
    State(customers): State<CustomerService>,
    State(links): State<Links>,
    caller: Caller,
    Id(email): Id<Email>,
) -> ApiResult {
    let fields = customers.field_set().await?;
    let file = TempFile::new();
    let out = BufWriter::new(std::fs::File::create(&file.0).map_err(write_failed)?);
    let mut writer = ExportWriter::new(out, &fields, &caller);
    let customer = privacy.export(&caller, &email, &mut writer).await?;
    drop(writer.finish()?);
    let size = std::fs::metadata(&file.0).map_err(write_failed)?.len();
    if size > MAX_INLINE_EXPORT_BYTES {
        let download = privacy.keep_export(&customer.id, &file.0, size).await?;
        return Ok(super::tickets::see_other(download, &links));
    }
    let document = std::fs::read(&file.0).map_err(write_failed)?;
    let mut response = (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        document,
    )
        .into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The arrays come out closed and in order whichever pieces come: none, or an empty
    /// ticket straight before the last section.
    #[test]
    fn sections_open_and_close_in_order() {
        let fields = FieldSet::default();
        let caller = Caller::new("tests", [crate::domain::caller::Role::Admin], true);
        let mut writer = ExportWriter::new(Vec::new(), &fields, &caller);
        writer.raw("{\"customer\":null").unwrap();
        let document: Value = serde_json::from_slice(&writer.finish().unwrap()).unwrap();
        for section in SECTIONS {
            assert_eq!(document[section], json!([]), "{section}");
        }
        assert!(document["exported_at"].is_string());

        let mut writer = ExportWriter::new(Vec::new(), &fields, &caller);
        writer.raw("{\"customer\":null").unwrap();
        writer.enter("tickets").unwrap();
        writer.raw("{\"id\":\"T1\"").unwrap();
        writer.raw(",\"messages\":[").unwrap();
        writer.in_ticket = true;
        writer.enter("merges").unwrap();
        let document: Value = serde_json::from_slice(&writer.finish().unwrap()).unwrap();
        assert_eq!(document["tickets"], json!([{"id": "T1", "messages": []}]));
        assert_eq!(document["inbound"], json!([]));
    }
}
