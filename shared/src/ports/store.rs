//! The storage port: what the services need from a store, and nothing about how it is kept.
//!
//! Two adapters implement it with the same semantics, checked by one conformance suite:
//! [`dynamodb::DynamoStore`] in the cloud and [`sqlite::SqliteStore`] locally.

use async_trait::async_trait;

use crate::domain::address::AddressMarks;
use crate::domain::erasure::Erasure;
use crate::domain::error::StoreError;

use crate::domain::company::Company;
use crate::domain::customer::Customer;
use crate::domain::customer::Note;
use crate::domain::email::Email;
use crate::domain::field::FieldDefinition;
use crate::domain::history::HistoryEntry;
use crate::domain::import_job::ImportJob;
use crate::domain::inbound::InboundRecord;
use crate::domain::inbound::InboundStatus;
use crate::domain::merge::Merge;
use crate::domain::migration::{Migration, MigrationStep};
use crate::domain::ticket::Ticket;
use crate::domain::ticket::TicketMessage;
use crate::domain::versioned::Job;

/// One write of a batch: a new customer, or a customer replaced at its version.
#[derive(Debug, Clone)]
#[expect(
    clippy::large_enum_variant,
    reason = "built per batch and consumed at once; boxing buys nothing"
)]
pub enum CustomerWrite {
    Insert(Customer),
    Replace { previous: Customer, next: Customer },
}

/// The ticket side of storing a message: a new ticket, or the ticket at its version.
#[derive(Debug, Clone)]
#[expect(
    clippy::large_enum_variant,
    reason = "one per stored message, consumed at once; boxing buys nothing"
)]
pub enum TicketWrite {
    Insert(Ticket),
    Replace { previous: Ticket, next: Ticket },
}

impl TicketWrite {
    /// The ticket as it is once the write is done.
    pub fn ticket(&self) -> &Ticket {
        match self {
            TicketWrite::Insert(ticket) | TicketWrite::Replace { next: ticket, .. } => ticket,
        }
    }
}

/// Everything one message writes, all or nothing: its ticket, the message, the claim on its
/// Message-ID (mail only: an internal note has none) and, for received mail, the inbound
/// record that says what happened.
#[derive(Debug, Clone)]
pub struct MessageWrite {
    pub ticket: TicketWrite,
    pub message: TicketMessage,
    pub inbound: Option<InboundRecord>,
}

pub use super::page::Page;

/// How to list customers. Results are ordered by [`list_key`], positions are exclusive.
#[derive(Debug, Clone, Default)]
pub struct CustomerQuery {
    pub company_id: Option<String>,
    /// Lower-cased prefix of the email, first name or last name.
    pub prefix: Option<String>,
    /// Only blocked customers (in email order).
    pub blocked: bool,
    pub after: Option<String>,
    pub limit: usize,
}

/// Separates a name from the email in list keys; sorts before every printable character.
pub const KEY_SEPARATOR: char = '\u{1}';
/// Sorts after every character, so `prefix..prefix+PREFIX_END` covers all strings starting with prefix.
pub const PREFIX_END: char = '\u{10FFFF}';

/// The position of a customer in a listing, or `None` when the query does not match it.
///
/// Without a prefix, customers sort by email. With one, a customer appears once, under the first
/// of email, first name, last name that starts with the prefix; name keys carry the email so that
/// they are unique. Both adapters and the DynamoDB indexes use exactly these keys.
pub fn list_key(customer: &Customer, query: &CustomerQuery) -> Option<String> {
    if query.blocked && customer.blocked.is_none() {
        return None;
    }
    if let Some(company) = &query.company_id
        && customer.company_id.as_ref() != Some(company)
    {
        return None;
    }
    let Some(prefix) = query.prefix.as_deref() else {
        return Some(customer.email.to_string());
    };
    if query.company_id.is_some() {
        // Within one company the listing stays in email order and the prefix filters.
        return matches_prefix(customer, prefix).then(|| customer.email.to_string());
    }
    if customer.email.starts_with(prefix) {
        return Some(customer.email.to_string());
    }
    [customer.first_name_key(), customer.last_name_key()]
        .into_iter()
        .flatten()
        .find(|name| name.starts_with(prefix))
        .map(|name| name_key(&name, &customer.email))
}

pub fn matches_prefix(customer: &Customer, prefix: &str) -> bool {
    customer.email.starts_with(prefix)
        || customer
            .first_name_key()
            .is_some_and(|n| n.starts_with(prefix))
        || customer
            .last_name_key()
            .is_some_and(|n| n.starts_with(prefix))
}

pub fn name_key(lowercase_name: &str, email: &str) -> String {
    format!("{lowercase_name}{KEY_SEPARATOR}{email}")
}

/// Customers, their email claims and their internal notes.
#[async_trait]
pub trait CustomerStore: Send + Sync {
    /// Stores a new customer; fails with `EmailTaken` if its email or any alternate email is
    /// already anyone's primary or alternate email.
    async fn insert_customer(&self, customer: &Customer) -> Result<(), StoreError>;
    /// Finds a customer by primary or alternate email (normalised).
    async fn find_customer(&self, email: &Email) -> Result<Option<Customer>, StoreError>;
    /// Replaces `previous` by `next` if the stored customer is still at `previous.version`;
    /// `next.version` must be `previous.version + 1`. Handles a change of primary email and of
    /// alternate emails atomically; notes stay attached (they hang off the immutable id). The
    /// history entry of the change ([`entry_between`](crate::domain::history::entry_between))
    /// is written in the same transaction.
    async fn replace_customer(
        &self,
        previous: &Customer,
        next: &Customer,
    ) -> Result<(), StoreError>;
    /// Deletes the customer (if still at `customer.version`), its email claims, notes and
    /// history.
    async fn delete_customer(&self, customer: &Customer) -> Result<(), StoreError>;
    async fn list_customers(&self, query: &CustomerQuery) -> Result<Page<Customer>, StoreError>;
    /// Every customer once, in no particular order, a page at a time from `cursor` (opaque;
    /// `None` to start): for walks that need no order (an export), cheaper than the sorted
    /// listing, which merges its shards page by page.
    async fn walk_customers(
        &self,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<Page<Customer>, StoreError>;
    /// Customers with no company whose primary email is at `domain`, in email order.
    async fn list_unassigned_by_domain(
        &self,
        domain: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Page<Customer>, StoreError>;

    /// Finds many customers at once (by primary or alternate email), answer `i` for `emails[i]`.
    async fn find_customers(&self, emails: &[Email]) -> Result<Vec<Option<Customer>>, StoreError> {
        let mut found = Vec::with_capacity(emails.len());
        for email in emails {
            found.push(self.find_customer(email).await?);
        }
        Ok(found)
    }
    /// Applies many independent writes; answer `i` is the outcome of `writes[i]`, each atomic on
    /// its own (a failed write leaves nothing behind and does not stop the others).
    async fn write_customers(
        &self,
        writes: &[CustomerWrite],
    ) -> Result<Vec<Result<(), StoreError>>, StoreError> {
        let mut outcomes = Vec::with_capacity(writes.len());
        for write in writes {
            let outcome = match write {
                CustomerWrite::Insert(customer) => self.insert_customer(customer).await,
                CustomerWrite::Replace { previous, next } => {
                    self.replace_customer(previous, next).await
                }
            };
            match outcome {
                Err(StoreError::Unavailable(message)) => {
                    return Err(StoreError::Unavailable(message));
                }
                other => outcomes.push(other),
            }
        }
        Ok(outcomes)
    }

    /// How many batches of a bulk load (an import) to keep in flight: each holds memory, and
    /// more only help a store that writes several at once. DynamoDB overlaps their round
    /// trips (and its puts within each batch): 4 kept a 1M-row import under 100 MiB
    /// (benches/import.rs).
    fn bulk_batches_in_flight(&self) -> usize {
        4
    }

    /// A bulk load (an import run) has written its last batch. A store that defers index
    /// work in `write_customers` completes it here; listings are correct either way, and a
    /// store that defers nothing does nothing.
    async fn finish_bulk_writes(&self) -> Result<(), StoreError> {
        Ok(())
    }

    // Internal notes, which hang off the customer id.

    /// Adds a note to `customer` if it is still at its version (`VersionMismatch` otherwise)
    /// and not under erasure (`UnderErasure`); adding the same note again changes nothing.
    async fn add_note(&self, customer: &Customer, note: &Note) -> Result<(), StoreError>;
    /// Deletes a note; deleting one that is gone succeeds.
    async fn delete_note(&self, customer_id: &str, note: &Note) -> Result<(), StoreError>;

    /// Newest first.
    async fn list_notes(
        &self,
        customer_id: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Page<Note>, StoreError>;
}

/// The change history of customers and companies. Entries are written by the stores with each
/// change (`replace_customer`, `replace_company`) and deleted with the record.
#[async_trait]
pub trait HistoryStore: Send + Sync {
    /// The changes of a record (customer or company id), newest first; positions are
    /// [`key`](crate::domain::history::HistoryEntry::key)s (by time), exclusive. The
    /// entries of a merged customer include those of the customers merged into it.
    async fn list_history(
        &self,
        record_id: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Page<HistoryEntry>, StoreError>;
    /// The entry of `record_id` at `key` ([`HistoryEntry::key`]), filed under the record itself
    /// (a merge may have moved it since).
    async fn get_history(
        &self,
        record_id: &str,
        key: &str,
    ) -> Result<Option<HistoryEntry>, StoreError>;
    /// Files `entry` in the history of `owner_id` (a merge moves entries between histories);
    /// filing it again changes nothing.
    async fn put_history(&self, owner_id: &str, entry: &HistoryEntry) -> Result<(), StoreError>;
    /// Files `entry` over the entry at its key in the history of `owner_id` (a stored creation
    /// corrected); an entry gone meanwhile stays gone.
    async fn rewrite_history(&self, owner_id: &str, entry: &HistoryEntry)
    -> Result<(), StoreError>;
    /// Takes `entry` out of the history of `owner_id`; taking out what is gone succeeds.
    async fn delete_history(&self, owner_id: &str, entry: &HistoryEntry) -> Result<(), StoreError>;
}

/// The records of jobs of one kind (imports, erasures, merges, migrations), by id.
#[async_trait]
pub trait JobStore<J: Job>: Send + Sync {
    /// Stores a new job; `Exists` if its id is taken.
    async fn insert_job(&self, job: &J) -> Result<(), StoreError>;
    async fn get_job(&self, id: &str) -> Result<Option<J>, StoreError>;
    /// Replaces `previous` by `next` if the stored job is still at `previous`'s version.
    async fn replace_job(&self, previous: &J, next: &J) -> Result<(), StoreError>;
}

/// Import jobs: their state, leases and checkpoints.
pub trait ImportJobStore: JobStore<ImportJob> {}

impl<T: JobStore<ImportJob>> ImportJobStore for T {}

/// Customer exports requested through the API.
pub trait ExportJobStore: JobStore<crate::domain::export_job::ExportJob> {}

impl<T: JobStore<crate::domain::export_job::ExportJob>> ExportJobStore for T {}

/// Merges, kept while they can be undone.
#[async_trait]
pub trait MergeStore: JobStore<Merge> {
    /// The ids of the merges that hold a copy of the customer with this id (as target or as
    /// a source), in no particular order; expired ones may still be among them.
    async fn merges_of(&self, customer_id: &str) -> Result<Vec<String>, StoreError>;
    /// Deletes a merge record and what finds it; deleting one that is gone succeeds.
    async fn delete_merge(&self, merge: &Merge) -> Result<(), StoreError>;
    /// Deletes up to `limit` merges whose undo window has passed (`Merge::is_expired`);
    /// answers how many. A store whose items expire by themselves (DynamoDB's TTL) answers 0.
    async fn forget_expired_merges(
        &self,
        now: &crate::domain::timestamp::Timestamp,
        limit: usize,
    ) -> Result<usize, StoreError>;
    /// A merge's (or its undo's) change of records, all or nothing: the customers `previous`
    /// (each at its version) become `next`, and the merge record is written with them.
    /// Customers only in `previous` are deleted (not their notes or history), customers only
    /// in `next` are inserted, the others replaced with their history entries. Emails may pass
    /// between these customers; any other owner of an email makes it `EmailTaken`.
    async fn write_merge(
        &self,
        previous: &[Customer],
        next: &[Customer],
        merge: &MergeWrite,
    ) -> Result<(), StoreError>;
}

/// The merge record written with a merge's change of records: new (a merge), or replaced at
/// its version (an undo).
#[derive(Debug, Clone)]
#[expect(
    clippy::large_enum_variant,
    reason = "one per merge or undo, consumed at once; boxing buys nothing"
)]
pub enum MergeWrite {
    Insert(Merge),
    Replace { previous: Merge, next: Merge },
}

/// Companies with their name and domain claims.
#[async_trait]
pub trait CompanyStore: Send + Sync {
    /// Stores a new company; fails on a taken name (case-insensitive) or domain.
    async fn insert_company(&self, company: &Company) -> Result<(), StoreError>;
    async fn get_company(&self, id: &str) -> Result<Option<Company>, StoreError>;
    /// Replaces `previous` by `next` at `previous.version`, moving name and domain claims, with
    /// the change's history entry in the same transaction.
    async fn replace_company(&self, previous: &Company, next: &Company) -> Result<(), StoreError>;
    /// Deletes the company (at its version), its claims and its history.
    async fn delete_company(&self, company: &Company) -> Result<(), StoreError>;
    /// Ordered by lower-cased name.
    async fn list_companies(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Page<Company>, StoreError>;
    /// The company with this name, compared case-insensitively.
    async fn find_company_by_name(&self, name: &str) -> Result<Option<Company>, StoreError>;
    /// The company owning each of `domains` (answer `i` for `domains[i]`); imports resolve a
    /// batch's domains in one call.
    async fn companies_for_domains(
        &self,
        domains: &[String],
    ) -> Result<Vec<Option<String>>, StoreError> {
        let mut found = Vec::with_capacity(domains.len());
        for domain in domains {
            found.push(self.company_for_domain(domain).await?);
        }
        Ok(found)
    }
    /// The company that owns `domain`, if any.
    async fn company_for_domain(&self, domain: &str) -> Result<Option<String>, StoreError>;
}

/// Custom field definitions.
#[async_trait]
pub trait FieldStore: Send + Sync {
    async fn insert_field(&self, field: &FieldDefinition) -> Result<(), StoreError>;
    async fn replace_field(
        &self,
        previous: &FieldDefinition,
        next: &FieldDefinition,
    ) -> Result<(), StoreError>;
    /// All definitions, ordered by key (an admin-sized list: dozens, not millions).
    async fn list_fields(&self) -> Result<Vec<FieldDefinition>, StoreError>;
}

/// Tickets, their messages and the Message-IDs they claim.
#[async_trait]
pub trait TicketStore: Send + Sync {
    /// Stores a message with its ticket (and the history entry of a change of status),
    /// Message-ID claim and inbound record in one atomic write. Fails with `Exists` when the ticket id (insert) or inbound record already exists,
    /// `VersionMismatch` when the ticket changed, `MessageIdTaken` when the Message-ID is stored.
    async fn store_message(&self, write: &MessageWrite) -> Result<(), StoreError>;
    async fn get_ticket(&self, id: &str) -> Result<Option<Ticket>, StoreError>;
    /// Replaces `previous` by `next` at `previous.version` (status changes), with the history
    /// entry of a change of status in the same write.
    async fn replace_ticket(&self, previous: &Ticket, next: &Ticket) -> Result<(), StoreError>;
    /// A customer's tickets, newest first ([`Ticket::list_key`] descending).
    async fn list_tickets(
        &self,
        customer_id: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Page<Ticket>, StoreError>;
    /// A ticket's messages in arrival order ([`TicketMessage::list_key`] ascending).
    async fn list_messages(
        &self,
        ticket_id: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Page<TicketMessage>, StoreError>;
    /// A ticket's newest `limit` messages, newest first: a thread's end read in one request,
    /// however long the thread.
    async fn newest_messages(
        &self,
        ticket_id: &str,
        limit: usize,
    ) -> Result<Vec<TicketMessage>, StoreError>;
    /// One message by its position in the ticket ([`TicketMessage::list_key`]).
    async fn get_message(
        &self,
        ticket_id: &str,
        key: &str,
    ) -> Result<Option<TicketMessage>, StoreError>;
    /// Replaces a reply's stored record by `next` if its delivery state is still at the
    /// revision `previous` shows (`VersionMismatch` otherwise).
    async fn replace_delivery(
        &self,
        previous: &TicketMessage,
        next: &TicketMessage,
    ) -> Result<(), StoreError>;
    /// Claims a further Message-ID for a ticket (the one the mail provider gave a sent
    /// reply); claiming it again for the same ticket succeeds, `MessageIdTaken` otherwise.
    async fn claim_message_id(&self, message_id: &str, ticket_id: &str) -> Result<(), StoreError>;
    /// The ticket holding the message with this Message-ID.
    async fn ticket_for_message_id(&self, message_id: &str) -> Result<Option<String>, StoreError>;
    /// [`ticket_for_message_id`](Self::ticket_for_message_id) for several at once, in order, in
    /// one request (up to 100 ids): threading costs the same whatever a message references.
    async fn tickets_for_message_ids(
        &self,
        message_ids: &[String],
    ) -> Result<Vec<Option<String>>, StoreError>;
    /// Tickets by id, in order, in one request (up to 100 ids).
    async fn get_tickets(&self, ids: &[String]) -> Result<Vec<Option<Ticket>>, StoreError>;
    /// Deletes a ticket with its messages and their Message-ID claims; deleting what is gone
    /// succeeds (erasure steps are repeated after a crash).
    async fn delete_ticket(&self, ticket: &Ticket) -> Result<(), StoreError>;
    /// Overwrites a stored message (erasure anonymises messages in place).
    async fn rewrite_message(&self, message: &TicketMessage) -> Result<(), StoreError>;
    /// Deletes the Message-ID claims of `message_ids` (anonymised messages thread no more).
    async fn release_message_ids(&self, message_ids: &[String]) -> Result<(), StoreError>;
}

/// What happened to each received message.
#[async_trait]
pub trait InboundStore: Send + Sync {
    /// Records an ignored or failed message; `Exists` if its id is already recorded.
    async fn insert_inbound(&self, record: &InboundRecord) -> Result<(), StoreError>;
    async fn get_inbound(&self, id: &str) -> Result<Option<InboundRecord>, StoreError>;
    /// Newest first ([`InboundRecord::list_key`] descending), optionally of one status.
    async fn list_inbound(
        &self,
        status: Option<InboundStatus>,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Page<InboundRecord>, StoreError>;
    /// The records of mail from `sender` (compared lower-cased), newest first.
    async fn list_inbound_from(
        &self,
        sender: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Page<InboundRecord>, StoreError>;
    /// Records by id, in order (up to 100 ids).
    async fn get_inbounds(&self, ids: &[String]) -> Result<Vec<Option<InboundRecord>>, StoreError> {
        let mut found = Vec::with_capacity(ids.len());
        for id in ids {
            found.push(self.get_inbound(id).await?);
        }
        Ok(found)
    }
    /// Deletes records; deleting one that is gone succeeds.
    async fn delete_inbounds(&self, ids: &[String]) -> Result<(), StoreError>;
}

/// Erasures (jobs, then tombstones) and the addresses they suppress.
#[async_trait]
pub trait ErasureStore: JobStore<Erasure> {
    /// The salt of address hashes: made on first use, then the same forever.
    async fn erasure_salt(&self) -> Result<String, StoreError>;
}

/// Counters behind rate limits: how often something happened in a window of time.
#[async_trait]
pub trait RateLimitStore: Send + Sync {
    /// Counts one more event for `key` in the window that starts at `window_start` (seconds
    /// since the epoch) and lasts `window_seconds`, unless `limit` are counted there already;
    /// answers whether this one was counted (allowed). A retried call may count twice: limits
    /// err on the side of fewer.
    async fn count_event(
        &self,
        key: &str,
        window_start: i64,
        window_seconds: i64,
        limit: u32,
    ) -> Result<bool, StoreError>;
}

/// The marks on addresses (`domain::address`), by salted address hash.
#[async_trait]
pub trait AddressStore: Send + Sync {
    /// The marks of each address, answer `i` for `hashes[i]` (empty, at version 0, for an
    /// address never marked); up to 100 at once, in one request.
    async fn address_marks(&self, hashes: &[String]) -> Result<Vec<AddressMarks>, StoreError>;
    /// Writes `next` if the address's marks are still at `previous.version` (0: none written
    /// yet); `VersionMismatch` otherwise.
    async fn write_address_marks(
        &self,
        hash: &str,
        previous: &AddressMarks,
        next: &AddressMarks,
    ) -> Result<(), StoreError>;
}

/// Migrations of the stored layout: their records (by name), and the steps that rewrite old
/// items.
#[async_trait]
pub trait MigrationStore: JobStore<Migration> {
    /// Rewrites the next items (about `limit` read) that migration `name` changes, from
    /// `cursor` (`None`: the start). Idempotent: an item already in the new layout, or changed
    /// since it was read, is left alone. `name` is one of `domain::migration::MIGRATIONS`.
    async fn migrate(
        &self,
        name: &str,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<MigrationStep, StoreError>;
}

/// Every port of the store at once, for wiring: an adapter that implements them all is a
/// `Store`. Services and handlers name the narrower traits they use.
pub trait Store:
    CustomerStore
    + AddressStore
    + RateLimitStore
    + CompanyStore
    + HistoryStore
    + ErasureStore
    + MergeStore
    + MigrationStore
    + FieldStore
    + ImportJobStore
    + ExportJobStore
    + TicketStore
    + InboundStore
    + crate::ports::portal::PortalStore
    + crate::ports::changes::ChangeLog
{
}

impl<T> Store for T where
    T: CustomerStore
        + AddressStore
        + RateLimitStore
        + CompanyStore
        + HistoryStore
        + ErasureStore
        + MergeStore
        + MigrationStore
        + FieldStore
        + ImportJobStore
        + ExportJobStore
        + TicketStore
        + InboundStore
        + crate::ports::portal::PortalStore
        + crate::ports::changes::ChangeLog
{
}

/// Notes sort by creation time; the id breaks ties and makes the key unique.
pub fn note_key(note: &Note) -> String {
    format!("{}#{}", note.created_at, note.id)
}
