//! Records to table items and back.

use super::*;

/// A record's JSON as a binary attribute. As a string attribute, the SDK escapes every quote
/// of the JSON again on the way out: an eighth of a bulk import's CPU (perf, 100k rows).
pub(super) fn to_doc<T: Serialize>(value: &T) -> Result<AttributeValue, StoreError> {
    serde_json::to_vec(value)
        .map(|json| AttributeValue::B(Blob::new(json)))
        .map_err(|e| StoreError::Unavailable(format!("encode: {e}")))
}

/// Reads the record's JSON, binary or (as written before) string.
pub(super) fn from_item<T: DeserializeOwned>(item: &Item) -> Result<T, StoreError> {
    let parsed = match item.get("doc") {
        Some(AttributeValue::B(json)) => serde_json::from_slice(json.as_ref()),
        Some(AttributeValue::S(json)) => serde_json::from_str(json),
        _ => return Err(StoreError::Unavailable("item without doc".into())),
    };
    parsed.map_err(|e| StoreError::Unavailable(format!("corrupt item: {e}")))
}

/// The attributes a customer item may or may not have, which a replacement by `UPDATE` removes
/// when the new item lacks them (`write_id`: items written before lost answers were recognised
/// by reading the item back).
pub(super) const OPTIONAL_ATTRIBUTES: [&str; 5] = [
    "first_sk",
    "last_sk",
    "group_pk",
    "welcome_status",
    "write_id",
];

pub(super) fn customer_item(customer: &Customer) -> Result<Item, StoreError> {
    let email = customer.email();
    let mut item = Item::from([
        ("pk".into(), s(email_pk(email))),
        ("sk".into(), s(SINGLE)),
        ("kind".into(), s("customer")),
        ("customer_id".into(), s(&customer.id)),
        ("version".into(), n(customer.version)),
        ("doc".into(), to_doc(customer)?),
        ("list_pk".into(), s(customers_list_pk(shard_of(email)))),
        ("list_sk".into(), s(email)),
    ]);
    if let Some(first) = customer.first_name_key() {
        item.insert("first_sk".into(), s(name_key(&first, email)));
    }
    if let Some(last) = customer.last_name_key() {
        item.insert("last_sk".into(), s(name_key(&last, email)));
    }
    // Only members of a company are in the group index. The customers of a domain without
    // a company are found by a filtered read of the listing when a company claims the domain
    // (rare), so that each of them costs one index write less (every import row).
    if let Some(company) = &customer.profile.company_id {
        item.insert("group_pk".into(), s(members_pk(company)));
    }
    // The notifier's stream subscription filters on this: only records with a welcome email
    // due invoke it.
    if customer.welcome.as_ref().is_some_and(|w| w.is_due()) {
        item.insert("welcome_status".into(), s("pending"));
    }
    Ok(item)
}

pub(super) fn alias_item(alias: &str, customer: &Customer) -> Item {
    Item::from([
        ("pk".into(), s(email_pk(alias))),
        ("sk".into(), s(SINGLE)),
        ("kind".into(), s("alias")),
        ("owner".into(), s(customer.email())),
        ("customer_id".into(), s(&customer.id)),
    ])
}

/// Items with the value of their sort attribute, which is their listing position.
pub(super) fn keyed_rows<T: DeserializeOwned>(
    items: &[Item],
    sort: &str,
) -> Result<Vec<(String, T)>, StoreError> {
    items
        .iter()
        .map(|item| {
            Ok((
                get_s(item, sort).unwrap_or_default().to_string(),
                from_item(item)?,
            ))
        })
        .collect()
}

pub(super) fn company_item(company: &Company) -> Result<Item, StoreError> {
    Ok(Item::from([
        ("pk".into(), s(company_pk(&company.id))),
        ("sk".into(), s(SINGLE)),
        ("version".into(), n(company.version)),
        ("doc".into(), to_doc(company)?),
        ("list_pk".into(), s(COMPANIES_LIST)),
        ("list_sk".into(), s(company.name_key())),
    ]))
}

pub(super) fn claim_item(pk: String, company_id: &str) -> Item {
    Item::from([
        ("pk".into(), s(pk)),
        ("sk".into(), s(SINGLE)),
        ("company_id".into(), s(company_id)),
    ])
}

pub(super) fn ticket_item(ticket: &Ticket) -> Result<Item, StoreError> {
    Ok(Item::from([
        ("pk".into(), s(ticket_pk(&ticket.id))),
        ("sk".into(), s(SINGLE)),
        ("version".into(), n(ticket.version)),
        ("doc".into(), to_doc(ticket)?),
        // A customer's tickets, newest first, through the `by_group` index.
        ("group_pk".into(), s(tickets_of_pk(&ticket.customer_id))),
        ("list_sk".into(), s(ticket.list_key())),
    ]))
}

pub(super) fn message_item(message: &TicketMessage) -> Result<Item, StoreError> {
    let mut item = Item::from([
        ("pk".into(), s(ticket_pk(&message.ticket_id))),
        (
            "sk".into(),
            s(format!("{MESSAGE_SK}{}", message.list_key())),
        ),
        ("doc".into(), to_doc(message)?),
    ]);
    if let Some(delivery) = &message.delivery {
        // A write of the delivery state names the revision it read.
        item.insert("delivery_rev".into(), n(delivery.revision));
        // The notifier's stream subscription filters on these: only replies due to be sent
        // invoke it.
        if delivery.is_due() {
            item.insert("kind".into(), s("message"));
            item.insert("delivery_status".into(), s("queued"));
        }
    }
    Ok(item)
}

pub(super) fn inbound_item(record: &InboundRecord) -> Result<Item, StoreError> {
    let mut item = Item::from([
        ("pk".into(), s(inbound_pk(&record.id))),
        ("sk".into(), s(SINGLE)),
        ("doc".into(), to_doc(record)?),
        // All records through `listing`, one status through `by_group`; newest first.
        ("list_pk".into(), s(INBOUND_LIST)),
        ("list_sk".into(), s(record.list_key())),
        (
            "group_pk".into(),
            s(inbound_status_pk(record.status.as_str())),
        ),
    ]);
    // The records of one sender (erasure and export find them), oldest first.
    if let Some(from) = &record.from {
        item.insert(
            "first_sk".into(),
            s(inbound_sender_key(from, &record.list_key())),
        );
    }
    Ok(item)
}

pub(super) fn field_item(field: &FieldDefinition) -> Result<Item, StoreError> {
    Ok(Item::from([
        ("pk".into(), s(FIELDS_PK)),
        ("sk".into(), s(&field.key)),
        ("version".into(), n(field.version)),
        ("doc".into(), to_doc(field)?),
    ]))
}
