//! Every key of the table, defined once: partition key prefixes, the single-item sort key,
//! listing shards and index names. Nothing else in the adapter spells a prefix.

/// Partitions of the customer listing indexes. Listing reads all of them in parallel and merges.
pub const LIST_SHARDS: u32 = 64;

pub const INDEX_LISTING: &str = "listing";
pub const INDEX_FIRST: &str = "by_first";
pub const INDEX_LAST: &str = "by_last";
pub const INDEX_GROUP: &str = "by_group";

/// The sort key of every item that is alone in its partition.
pub(super) const SINGLE: &str = "#";

const EMAIL: &str = "EMAIL#";

/// A customer item (primary email) or an alias item (alternate email).
pub(super) fn email_pk(email: &str) -> String {
    format!("{EMAIL}{email}")
}

/// The email of an `EMAIL#` key, for readers of the table's stream.
pub fn email_of_pk(pk: &str) -> Option<&str> {
    pk.strip_prefix(EMAIL)
}

/// The listing shard of a customer. FNV-1a's low bits depend only on the low bits of each
/// byte, so patterned addresses (`person1…personN@…`) crowded some shards when they were taken
/// as they are (9.5 % of 3,200 such customers in one of 64 shards); MurmurHash3's finaliser
/// spreads every input bit over the result first. Reads cover every shard, so customers written
/// under the old placement are still listed and move when next written.
pub(super) fn shard_of(email: &str) -> u32 {
    (mixed(crate::domain::clock::stable_hash(email)) % u64::from(LIST_SHARDS)) as u32
}

/// MurmurHash3's 64-bit finaliser (fmix64).
fn mixed(hash: u64) -> u64 {
    let mut h = hash ^ (hash >> 33);
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

/// One shard of the customer listing (`list_pk` of the listing and name indexes).
pub(super) fn customers_list_pk(shard: u32) -> String {
    format!("CUSTOMERS#{shard}")
}

/// The `list_pk` of every company (listing by name).
pub(super) const COMPANIES_LIST: &str = "COMPANIES";

/// The members of a company (`group_pk` of the group index).
pub(super) fn members_pk(company_id: &str) -> String {
    format!("MEMBERS#{company_id}")
}

/// The group entry that customers without a company had until layout-2026-12 (the customers
/// of their email domain, for domain back-fill); the migration drops it.
pub(super) fn unassigned_pk(domain: &str) -> String {
    format!("UNASSIGNED#{domain}")
}

/// The partition of the blocked customers' markers (sort key: the primary email). Blocking is
/// an admin's decision, a few a day at most: one partition holds them all.
pub(super) const BLOCKED_PK: &str = "BLOCKED";

/// Names a blocked marker among a transaction's items (whose keys are otherwise their `pk`).
pub(super) fn blocked_marker_key(email: &str) -> String {
    format!("{BLOCKED_PK}#{email}")
}

pub(super) fn notes_pk(customer_id: &str) -> String {
    format!("NOTES#{customer_id}")
}

/// A record's change history (sort key: `HistoryEntry::key`, by time).
pub(super) fn history_pk(record_id: &str) -> String {
    format!("HISTORY#{record_id}")
}

const MERGE: &str = "MERGE#";

/// A merge, kept while it can be undone.
pub(super) fn merge_pk(id: &str) -> String {
    format!("{MERGE}{id}")
}

#[cfg(any(feature = "notifier", feature = "jobs"))]
/// The merge id of a `MERGE#` key, for readers of the table's stream.
pub fn merge_of_pk(pk: &str) -> Option<&str> {
    pk.strip_prefix(MERGE)
}

const MIGRATION: &str = "MIGRATION#";

/// A migration of the table's layout.
pub(super) fn migration_pk(name: &str) -> String {
    format!("{MIGRATION}{name}")
}

#[cfg(any(feature = "notifier", feature = "jobs"))]
/// The migration name of a `MIGRATION#` key, for readers of the table's stream.
pub fn migration_of_pk(pk: &str) -> Option<&str> {
    pk.strip_prefix(MIGRATION)
}

const EXPORT: &str = "EXPORT#";

/// A customer export job.
pub(super) fn export_pk(id: &str) -> String {
    format!("{EXPORT}{id}")
}

#[cfg(any(feature = "notifier", feature = "jobs"))]
/// The export id of an `EXPORT#` key, for readers of the table's stream.
pub fn export_of_pk(pk: &str) -> Option<&str> {
    pk.strip_prefix(EXPORT)
}

const ERASURE: &str = "ERASURE#";

/// An erasure job and, once done, its tombstone.
pub(super) fn erasure_pk(id: &str) -> String {
    format!("{ERASURE}{id}")
}

#[cfg(any(feature = "notifier", feature = "jobs"))]
/// The erasure id of an `ERASURE#` key, for readers of the table's stream.
pub fn erasure_of_pk(pk: &str) -> Option<&str> {
    pk.strip_prefix(ERASURE)
}

/// The marks of an address, by its salted hash. The prefix is the one suppressions (the first
/// mark) were kept under, so their items are read as marks without a migration.
pub(super) fn address_pk(email_hash: &str) -> String {
    format!("SUPPRESSED#{email_hash}")
}

/// The merges that hold a copy of a customer (`sk`: the merge id), by customer id.
pub(super) fn merges_of_pk(customer_id: &str) -> String {
    format!("MERGES#{customer_id}")
}

/// Settings the table keeps for itself (`sk`: the setting's name).
pub(super) const CONFIG_PK: &str = "CONFIG";

pub(super) fn company_pk(id: &str) -> String {
    format!("COMPANY#{id}")
}

/// The claim that makes a company name unique (case-insensitively: `name_key`).
pub(super) fn company_name_pk(name_key: &str) -> String {
    format!("COMPANYNAME#{name_key}")
}

/// The claim that makes a domain belong to one company.
pub(super) fn domain_pk(domain: &str) -> String {
    format!("DOMAIN#{domain}")
}

/// The partition of every custom field definition (sort key: the field key).
pub(super) const FIELDS_PK: &str = "FIELD";

pub(super) fn import_pk(id: &str) -> String {
    format!("IMPORT#{id}")
}

pub(super) fn ticket_pk(id: &str) -> String {
    format!("TICKET#{id}")
}

#[cfg(any(feature = "notifier", feature = "jobs"))]
/// The ticket id of a `TICKET#` key, for readers of the table's stream.
pub fn ticket_of_pk(pk: &str) -> Option<&str> {
    pk.strip_prefix("TICKET#")
}

#[cfg(any(feature = "notifier", feature = "jobs"))]
/// A message's position in its ticket from its sort key, for readers of the table's stream.
pub fn message_of_sk(sk: &str) -> Option<&str> {
    sk.strip_prefix(MESSAGE_SK)
}

/// A customer's tickets (`group_pk`).
pub(super) fn tickets_of_pk(customer_id: &str) -> String {
    format!("TICKETS#{customer_id}")
}

/// Messages sort after the ticket item (`#`) in the ticket's partition.
pub(super) const MESSAGE_SK: &str = "MSG#";

/// Message-IDs may be up to 998 characters; long ones are keyed by a digest (keys stop at 2 KB).
pub(super) fn message_id_pk(message_id: &str) -> String {
    if message_id.len() <= 512 {
        format!("MSGID#{message_id}")
    } else {
        let digest = uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, message_id.as_bytes());
        format!("MSGID#~{}", digest.simple())
    }
}

/// The `list_pk` of every inbound record (listing, newest first).
pub(super) const INBOUND_LIST: &str = "INBOUND";

/// An inbound record's position among its sender's (`first_sk` in the `INBOUND` partition of
/// `by_first`); with an empty `list_key`, the prefix of them all.
pub(super) fn inbound_sender_key(sender: &str, list_key: &str) -> String {
    format!(
        "{}{}{list_key}",
        sender.trim().to_ascii_lowercase(),
        crate::ports::store::KEY_SEPARATOR
    )
}

pub(super) fn inbound_pk(id: &str) -> String {
    format!("INBOUND#{id}")
}

/// Inbound records of one status (`group_pk`).
pub(super) fn inbound_status_pk(status: &str) -> String {
    format!("INBOUND#{status}")
}
