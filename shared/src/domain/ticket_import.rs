//! Ticket import: the columns a ticket CSV may have, how its rows read, and the keys that make
//! importing the same file again change nothing.
//!
//! A row whose `text` cell is filled is one more message of the ticket its `external_id` names;
//! any other row is the ticket itself (subject, customer, status, dates, tags, and its first
//! message, the `description`). Tickets and messages are found again by keys derived from the
//! external id and the message's content, claimed in the store like Message-IDs.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

use crate::domain::email::Email;
use crate::domain::import_mapping::squash;
pub use crate::domain::ticket::ImportedTicket;
use crate::domain::ticket::TicketStatus;
use crate::domain::timestamp::Timestamp;

/// The longest external id taken.
pub const MAX_EXTERNAL_ID: usize = 200;
/// The longest subject taken (RFC 5322's line length).
pub const MAX_SUBJECT: usize = 998;
/// Tags a ticket may carry, and their length.
pub const MAX_TICKET_TAGS: usize = 50;
pub const MAX_TAG: usize = 100;
/// The domain of the keys imported messages are claimed under (never a real one).
const KEY_DOMAIN: &str = "import.helpdesk.invalid";

/// Every ticket column with a ticket and two more messages, for the customer of the customer
/// template (`GET /imports/template.csv?kind=tickets`).
pub const TICKET_TEMPLATE_CSV: &str = "\
external_id,customer_email,subject,status,created_at,updated_at,solved_at,tags,description,author_email,text,internal
OD-1041,ann.lee@acme.com,Printer on fire,solved,2024-03-01,2024-03-02,2024-03-02T10:00:00Z,hardware;urgent,\"It smokes, really\",,,
OD-1041,,,,2024-03-01T12:00:00+02:00,,,,,agent@acme.com,Unplug it and wait for the technician.,false
OD-1041,,,,2024-03-01T14:00:00Z,,,,,agent@acme.com,Replaced under warranty.,true
";

/// A column of a ticket file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TicketColumn {
    ExternalId,
    CustomerEmail,
    Subject,
    Status,
    CreatedAt,
    UpdatedAt,
    SolvedAt,
    Tags,
    Description,
    AuthorEmail,
    Text,
    Internal,
}

/// Each column's name (as `mapping` names it) and its header synonyms, squashed.
const COLUMNS: &[(TicketColumn, &str, &[&str])] = &[
    (
        TicketColumn::ExternalId,
        "external_id",
        &[
            "externalid",
            "ticketid",
            "ticketnumber",
            "ticket",
            "id",
            "number",
            "key",
        ],
    ),
    (
        TicketColumn::CustomerEmail,
        "customer_email",
        &[
            "customeremail",
            "email",
            "requesteremail",
            "requester",
            "contactemail",
            "customer",
        ],
    ),
    (
        TicketColumn::Subject,
        "subject",
        &["subject", "title", "summary"],
    ),
    (TicketColumn::Status, "status", &["status", "state"]),
    (
        TicketColumn::CreatedAt,
        "created_at",
        &[
            "createdat",
            "created",
            "createddate",
            "datecreated",
            "date",
            "opened",
            "openedat",
        ],
    ),
    (
        TicketColumn::UpdatedAt,
        "updated_at",
        &[
            "updatedat",
            "updated",
            "lastupdated",
            "modified",
            "modifiedat",
        ],
    ),
    (
        TicketColumn::SolvedAt,
        "solved_at",
        &[
            "solvedat",
            "solved",
            "resolvedat",
            "resolved",
            "closedat",
            "closed",
        ],
    ),
    (TicketColumn::Tags, "tags", &["tags", "labels", "tag"]),
    (
        TicketColumn::Description,
        "description",
        &["description", "body", "details", "content", "firstmessage"],
    ),
    (
        TicketColumn::AuthorEmail,
        "author_email",
        &["authoremail", "author", "from", "fromemail", "sender"],
    ),
    (
        TicketColumn::Text,
        "text",
        &["text", "message", "comment", "reply", "messagetext"],
    ),
    (
        TicketColumn::Internal,
        "internal",
        &["internal", "private", "isinternal", "note"],
    ),
];

impl TicketColumn {
    pub fn name(self) -> &'static str {
        COLUMNS
            .iter()
            .find(|(c, _, _)| *c == self)
            .map(|(_, name, _)| *name)
            .unwrap_or("")
    }

    /// A mapping's property name: a column, `ignore` (`None`), or an error.
    pub fn parse(property: &str) -> Result<Option<TicketColumn>, String> {
        if property == "ignore" {
            return Ok(None);
        }
        COLUMNS
            .iter()
            .find(|(_, name, _)| *name == property)
            .map(|(column, _, _)| Some(*column))
            .ok_or_else(|| {
                let names: Vec<&str> = COLUMNS.iter().map(|(_, name, _)| *name).collect();
                format!(
                    "is not a ticket column (one of {}, or ignore)",
                    names.join(", ")
                )
            })
    }

    fn by_header(header: &str) -> Option<TicketColumn> {
        let squashed = squash(header);
        COLUMNS
            .iter()
            .find(|(_, name, synonyms)| squash(name) == squashed || synonyms.contains(&&*squashed))
            .map(|(column, _, _)| *column)
    }
}

/// Which column of the file is which: the mapping first, then names and synonyms; the first
/// column to claim a property has it.
#[derive(Debug, Clone, PartialEq)]
pub struct TicketPlan {
    pub headers: Vec<String>,
    columns: Vec<Option<TicketColumn>>,
    pub ignored_columns: Vec<String>,
}

impl TicketPlan {
    pub fn resolve(
        headers: &[String],
        mapping: &BTreeMap<String, Option<TicketColumn>>,
    ) -> Result<TicketPlan, String> {
        let mut taken = Vec::new();
        let columns: Vec<Option<TicketColumn>> = headers
            .iter()
            .map(|header| {
                let column = match mapping.get(header) {
                    Some(mapped) => *mapped,
                    None => TicketColumn::by_header(header),
                };
                column.filter(|c| {
                    let first = !taken.contains(c);
                    taken.push(*c);
                    first
                })
            })
            .collect();
        for needed in [TicketColumn::ExternalId, TicketColumn::CustomerEmail] {
            if !columns.contains(&Some(needed)) {
                return Err(format!(
                    "the file has no {} column (name one in mapping)",
                    needed.name()
                ));
            }
        }
        let ignored_columns = headers
            .iter()
            .zip(&columns)
            .filter(|(_, column)| column.is_none())
            .map(|(header, _)| header.clone())
            .collect();
        Ok(TicketPlan {
            headers: headers.to_vec(),
            columns,
            ignored_columns,
        })
    }

    /// The row's cells by column (empty cells left out).
    pub fn cells<'a>(&self, fields: &'a [String]) -> BTreeMap<TicketColumn, &'a str> {
        self.columns
            .iter()
            .zip(fields)
            .filter_map(|(column, value)| {
                let value = value.trim();
                Some((*column)?)
                    .filter(|_| !value.is_empty())
                    .map(|c| (c, value))
            })
            .collect()
    }
}

/// A ticket as a row gives it.
#[derive(Debug, Clone, PartialEq)]
pub struct TicketRow {
    pub external_id: String,
    pub customer_email: Email,
    pub subject: String,
    pub status: TicketStatus,
    pub created_at: Timestamp,
    pub updated_at: Option<Timestamp>,
    pub solved_at: Option<Timestamp>,
    pub tags: Vec<String>,
    pub description: Option<String>,
}

/// One more message of a ticket.
#[derive(Debug, Clone, PartialEq)]
pub struct MessageRow {
    pub external_id: String,
    pub author_email: Option<Email>,
    pub created_at: Timestamp,
    pub text: String,
    pub internal: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ImportRow {
    Ticket(TicketRow),
    Message(MessageRow),
}

impl ImportRow {
    pub fn external_id(&self) -> &str {
        match self {
            ImportRow::Ticket(t) => &t.external_id,
            ImportRow::Message(m) => &m.external_id,
        }
    }
}

/// Reads a row; every problem is named by its column (`"created_at: …; status: …"`).
pub fn read_row(cells: &BTreeMap<TicketColumn, &str>) -> Result<ImportRow, String> {
    let mut problems = Vec::new();
    let mut problem = |column: TicketColumn, message: String| {
        problems.push(format!("{}: {message}", column.name()))
    };
    let external_id = cells.get(&TicketColumn::ExternalId).copied().unwrap_or("");
    if external_id.is_empty() {
        problem(TicketColumn::ExternalId, "is required".into());
    } else if external_id.chars().count() > MAX_EXTERNAL_ID || external_id.contains('\n') {
        problem(
            TicketColumn::ExternalId,
            format!("must be one line of at most {MAX_EXTERNAL_ID} characters"),
        );
    }
    let created_at = match cells.get(&TicketColumn::CreatedAt) {
        Some(text) => Timestamp::parse_external(text)
            .map_err(|e| problem(TicketColumn::CreatedAt, e))
            .ok(),
        None => {
            problem(
                TicketColumn::CreatedAt,
                "is required (yyyy-mm-dd or RFC 3339)".into(),
            );
            None
        }
    };
    let row = match cells.get(&TicketColumn::Text) {
        Some(text) => read_message(cells, text, &mut problem).map(ImportRow::Message),
        None => read_ticket(cells, &mut problem).map(ImportRow::Ticket),
    };
    match (row, created_at) {
        (Some(mut row), Some(at)) if problems.is_empty() => {
            let external = external_id.to_string();
            match &mut row {
                ImportRow::Ticket(t) => (t.external_id, t.created_at) = (external, at),
                ImportRow::Message(m) => (m.external_id, m.created_at) = (external, at),
            }
            Ok(row)
        }
        _ => Err(problems.join("; ")),
    }
}

fn read_ticket(
    cells: &BTreeMap<TicketColumn, &str>,
    problem: &mut impl FnMut(TicketColumn, String),
) -> Option<TicketRow> {
    let email = match cells.get(&TicketColumn::CustomerEmail) {
        Some(text) => Email::parse(text)
            .map_err(|e| problem(TicketColumn::CustomerEmail, e))
            .ok(),
        None => {
            problem(TicketColumn::CustomerEmail, "is required".into());
            None
        }
    };
    let subject = cells
        .get(&TicketColumn::Subject)
        .map(|s| s.replace(['\r', '\n'], " "))
        .unwrap_or_else(|| "(no subject)".into());
    if subject.chars().count() > MAX_SUBJECT {
        problem(
            TicketColumn::Subject,
            format!("is over {MAX_SUBJECT} characters"),
        );
    }
    let mut when = |column: TicketColumn| {
        cells.get(&column).and_then(|text| {
            Timestamp::parse_external(text)
                .map_err(|e| problem(column, e))
                .ok()
        })
    };
    let (updated_at, solved_at) = (when(TicketColumn::UpdatedAt), when(TicketColumn::SolvedAt));
    let status = match cells.get(&TicketColumn::Status) {
        Some(text) => read_status(text)
            .map_err(|e| problem(TicketColumn::Status, e))
            .ok(),
        None if solved_at.is_some() => Some(TicketStatus::Solved),
        None => Some(TicketStatus::Open),
    };
    let tags = read_tags(cells.get(&TicketColumn::Tags).copied().unwrap_or(""))
        .map_err(|e| problem(TicketColumn::Tags, e))
        .ok();
    Some(TicketRow {
        external_id: String::new(),
        customer_email: email?,
        subject,
        status: status?,
        created_at: Timestamp::default(),
        updated_at,
        solved_at,
        tags: tags?,
        description: cells.get(&TicketColumn::Description).map(|d| d.to_string()),
    })
}

fn read_message(
    cells: &BTreeMap<TicketColumn, &str>,
    text: &str,
    problem: &mut impl FnMut(TicketColumn, String),
) -> Option<MessageRow> {
    let author_email = cells.get(&TicketColumn::AuthorEmail).and_then(|a| {
        Email::parse(a)
            .map_err(|e| problem(TicketColumn::AuthorEmail, e))
            .ok()
    });
    let internal = match cells.get(&TicketColumn::Internal) {
        None => Some(false),
        Some(value) => match value.to_ascii_lowercase().as_str() {
            "true" | "yes" | "y" | "1" | "internal" | "private" => Some(true),
            "false" | "no" | "n" | "0" | "public" => Some(false),
            _ => {
                problem(TicketColumn::Internal, "must be true or false".into());
                None
            }
        },
    };
    Some(MessageRow {
        external_id: String::new(),
        author_email,
        created_at: Timestamp::default(),
        text: text.to_string(),
        internal: internal?,
    })
}

fn read_status(text: &str) -> Result<TicketStatus, String> {
    match squash(text).as_str() {
        "open" | "new" | "todo" | "inprogress" => Ok(TicketStatus::Open),
        "pending" | "waiting" | "onhold" | "waitingoncustomer" => Ok(TicketStatus::Pending),
        "solved" | "resolved" | "done" => Ok(TicketStatus::Solved),
        "closed" | "archived" => Ok(TicketStatus::Closed),
        _ => Err(format!("'{text}' is not open, pending, solved or closed")),
    }
}

/// Tags split on `;` or `,`, trimmed, lower-cased, each once.
pub fn read_tags(text: &str) -> Result<Vec<String>, String> {
    let mut tags: Vec<String> = Vec::new();
    for tag in text.split([';', ',']).map(|t| t.trim().to_lowercase()) {
        if tag.is_empty() || tags.contains(&tag) {
            continue;
        }
        if tag.chars().count() > MAX_TAG {
            return Err(format!("a tag is over {MAX_TAG} characters"));
        }
        tags.push(tag);
    }
    if tags.len() > MAX_TICKET_TAGS {
        return Err(format!("at most {MAX_TICKET_TAGS} tags"));
    }
    Ok(tags)
}

fn key_of(kind: &str, parts: &[&str]) -> String {
    let mut hash = Sha256::new();
    for part in parts {
        hash.update(part.as_bytes());
        hash.update([0]);
    }
    let digest = hex::encode(&hash.finalize()[..16]);
    format!("{kind}-{digest}@{KEY_DOMAIN}")
}

/// The key an imported ticket is found by: its first message's Message-ID.
pub fn ticket_key(external_id: &str) -> String {
    key_of("ticket", &[external_id])
}

/// The key of an imported message: the same row imported again finds it.
pub fn message_key(row: &MessageRow) -> String {
    let author = row.author_email.as_ref().map(|e| e.as_str()).unwrap_or("");
    let internal = if row.internal { "internal" } else { "public" };
    key_of(
        "message",
        &[
            &row.external_id,
            row.created_at.as_str(),
            author,
            internal,
            &row.text,
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template_rows() -> (TicketPlan, Vec<Vec<String>>) {
        let mut reader = csv::Reader::from_reader(TICKET_TEMPLATE_CSV.as_bytes());
        let headers: Vec<String> = reader
            .headers()
            .unwrap()
            .iter()
            .map(str::to_string)
            .collect();
        let plan = TicketPlan::resolve(&headers, &BTreeMap::new()).unwrap();
        let rows = reader
            .records()
            .map(|r| r.unwrap().iter().map(str::to_string).collect())
            .collect();
        (plan, rows)
    }

    #[test]
    fn the_template_names_every_column_and_reads() {
        let (plan, rows) = template_rows();
        assert!(plan.ignored_columns.is_empty());
        for (column, name, _) in COLUMNS {
            assert!(plan.headers.iter().any(|h| h == name), "{name}");
            assert_eq!(TicketColumn::parse(name), Ok(Some(*column)));
        }
        let read: Vec<ImportRow> = rows
            .iter()
            .map(|fields| read_row(&plan.cells(fields)).unwrap())
            .collect();
        assert!(matches!(&read[0], ImportRow::Ticket(t) if t.status == TicketStatus::Solved));
        assert!(matches!(&read[2], ImportRow::Message(m) if m.internal));
        // A message's key is its content: the same row gives the same key, another another.
        let (ImportRow::Message(a), ImportRow::Message(b)) = (&read[1], &read[2]) else {
            panic!("two messages");
        };
        assert_eq!(message_key(a), message_key(&a.clone()));
        assert_ne!(message_key(a), message_key(b));
        assert_ne!(ticket_key("OD-1"), ticket_key("OD-2"));
    }

    #[test]
    fn headers_from_other_helpdesks_map_by_synonym() {
        let headers: Vec<String> = [
            "Ticket ID",
            "Requester",
            "Title",
            "Created",
            "Resolved At",
            "Labels",
            "Body",
        ]
        .map(String::from)
        .to_vec();
        let plan = TicketPlan::resolve(&headers, &BTreeMap::new()).unwrap();
        assert!(
            plan.ignored_columns.is_empty(),
            "{:?}",
            plan.ignored_columns
        );
        let missing = TicketPlan::resolve(&["Subject".to_string()], &BTreeMap::new());
        assert!(missing.unwrap_err().contains("external_id"));
    }
}
