//! Tickets, messages, Message-ID claims and inbound records.

use super::*;

/// Agents' messages: a reply (no inbound record) claims its Message-ID, a note claims none; a
/// reply's delivery state changes only at the revision it was read; a further Message-ID
/// (the provider's) is claimed for the same ticket only; a change of status writes the
/// ticket's history with it.
async fn agent_messages_delivery_and_ticket_history(store: Arc<dyn Store>) {
    use helpdesk_shared::domain::delivery::{Delivery, DeliveryStatus};
    use helpdesk_shared::domain::history::Actor;
    use helpdesk_shared::domain::ticket::MessageKind;

    let t1 = ticket("T1", "c1", "2026-01-01T00:00:00.000Z");
    let m1 = message("ses-1", "T1", "one@mail", "2026-01-01T00:00:00.000Z");
    store
        .store_message(&write(TicketWrite::Insert(t1.clone()), m1))
        .await
        .unwrap();
    let mut reply = message("r1", "T1", "r1@support", "2026-01-01T00:01:00.000Z");
    reply.kind = MessageKind::Reply;
    reply.delivery = Some(Delivery::queued(stamp("2026-01-01T00:01:00.000Z")));
    let mut pending = t1.clone();
    pending.version = 2;
    pending.status = TicketStatus::Pending;
    pending.changed_by = Some(Actor::caller("agent-1"));
    let agent_write = |previous: &Ticket, next: &Ticket, message: &TicketMessage| MessageWrite {
        ticket: TicketWrite::Replace {
            previous: previous.clone(),
            next: next.clone(),
        },
        message: message.clone(),
        inbound: None,
    };
    store
        .store_message(&agent_write(&t1, &pending, &reply))
        .await
        .expect("a reply needs no inbound record");
    assert_eq!(
        store.ticket_for_message_id("r1@support").await.unwrap(),
        Some("T1".into())
    );
    let history = store.list_history("T1", None, 10).await.unwrap().items;
    assert_eq!(history.len(), 1, "{history:?}");
    assert_eq!(history[0].by, Some(Actor::caller("agent-1")));
    assert_eq!(history[0].changes[0].field, "status");

    let mut note = message("n1", "T1", "n1@note.invalid", "2026-01-01T00:02:00.000Z");
    note.kind = MessageKind::Note;
    let mut noted = pending.clone();
    noted.version = 3;
    store
        .store_message(&agent_write(&pending, &noted, &note))
        .await
        .unwrap();
    assert_eq!(
        store
            .ticket_for_message_id("n1@note.invalid")
            .await
            .unwrap(),
        None,
        "a note claims no Message-ID"
    );
    assert_eq!(
        store
            .list_history("T1", None, 10)
            .await
            .unwrap()
            .items
            .len(),
        1,
        "no change of status, no entry"
    );

    let key = reply.list_key();
    let stored = store.get_message("T1", &key).await.unwrap();
    assert_eq!(stored.as_ref(), Some(&reply));
    assert_eq!(store.get_message("T1", "nope").await.unwrap(), None);
    let mut claimed = reply.clone();
    let mut state = reply.delivery.clone().unwrap().next();
    state.sending_since = Some(stamp("2026-01-01T00:01:01.000Z"));
    claimed.delivery = Some(state);
    store.replace_delivery(&reply, &claimed).await.unwrap();
    assert_eq!(
        store.replace_delivery(&reply, &claimed).await,
        Err(StoreError::VersionMismatch),
        "a second claim from the same revision loses"
    );
    let mut sent = claimed.clone();
    let mut state = claimed.delivery.clone().unwrap().next();
    state.status = DeliveryStatus::Sent;
    state.sending_since = None;
    state.delivered_as = Some("ses-id@amazonses".into());
    sent.delivery = Some(state);
    store.replace_delivery(&claimed, &sent).await.unwrap();
    assert_eq!(store.get_message("T1", &key).await.unwrap(), Some(sent));

    store
        .claim_message_id("ses-id@amazonses", "T1")
        .await
        .unwrap();
    store
        .claim_message_id("ses-id@amazonses", "T1")
        .await
        .expect("claiming again for the same ticket succeeds");
    assert_eq!(
        store.claim_message_id("ses-id@amazonses", "T2").await,
        Err(StoreError::MessageIdTaken("ses-id@amazonses".into()))
    );
    assert_eq!(
        store
            .ticket_for_message_id("ses-id@amazonses")
            .await
            .unwrap(),
        Some("T1".into())
    );

    // A plain status change writes its entry too, and deleting the ticket takes its history.
    let mut solved = noted.clone();
    solved.version = 4;
    solved.status = TicketStatus::Solved;
    store.replace_ticket(&noted, &solved).await.unwrap();
    assert_eq!(
        store
            .list_history("T1", None, 10)
            .await
            .unwrap()
            .items
            .len(),
        2
    );
    store.delete_ticket(&solved).await.unwrap();
    assert!(
        store
            .list_history("T1", None, 10)
            .await
            .unwrap()
            .items
            .is_empty()
    );
    for id in ["one@mail", "r1@support", "ses-id@amazonses"] {
        assert_eq!(store.ticket_for_message_id(id).await.unwrap(), None, "{id}");
    }
}

async fn messages_store_atomically_with_ticket_claim_and_record(store: Arc<dyn Store>) {
    let t1 = ticket("T1", "c1", "2026-01-01T00:00:00.000Z");
    let m1 = message("ses-1", "T1", "one@mail", "2026-01-01T00:00:00.000Z");
    store
        .store_message(&write(TicketWrite::Insert(t1.clone()), m1.clone()))
        .await
        .expect("first message");
    assert_eq!(store.get_ticket("T1").await.unwrap(), Some(t1.clone()));
    assert_eq!(
        store.ticket_for_message_id("one@mail").await.unwrap(),
        Some("T1".to_string())
    );
    assert_eq!(
        store.get_inbound("ses-1").await.unwrap().map(|r| r.status),
        Some(InboundStatus::Ingested)
    );

    let mut t1b = t1.clone();
    t1b.message_count = 2;
    t1b.version = 2;
    let replace = |previous: &Ticket, next: &Ticket| TicketWrite::Replace {
        previous: previous.clone(),
        next: next.clone(),
    };
    // The same delivery again: refused whole, nothing of it written.
    let again = message("ses-1", "T1", "other@mail", "2026-01-01T00:00:01.000Z");
    assert!(matches!(
        store.store_message(&write(replace(&t1, &t1b), again)).await,
        Err(StoreError::Exists(_))
    ));
    assert_eq!(
        store.ticket_for_message_id("other@mail").await.unwrap(),
        None
    );
    assert_eq!(store.get_ticket("T1").await.unwrap(), Some(t1.clone()));
    // A Message-ID already stored: refused whole.
    let copy = message("ses-2", "T1", "one@mail", "2026-01-01T00:00:02.000Z");
    assert_eq!(
        store.store_message(&write(replace(&t1, &t1b), copy)).await,
        Err(StoreError::MessageIdTaken("one@mail".into()))
    );
    assert_eq!(store.get_inbound("ses-2").await.unwrap(), None);
    // A ticket id already taken: refused whole.
    let clash = message("ses-3", "T1", "three@mail", "2026-01-01T00:00:03.000Z");
    assert!(matches!(
        store
            .store_message(&write(TicketWrite::Insert(t1.clone()), clash))
            .await,
        Err(StoreError::Exists(_))
    ));
    assert_eq!(store.get_inbound("ses-3").await.unwrap(), None);
    // The ticket at a stale version: refused whole.
    let m2 = message("ses-4", "T1", "two@mail", "2026-01-01T00:00:04.000Z");
    let mut stale = t1.clone();
    stale.version = 7;
    assert_eq!(
        store
            .store_message(&write(replace(&stale, &t1b), m2.clone()))
            .await,
        Err(StoreError::VersionMismatch)
    );
    store
        .store_message(&write(replace(&t1, &t1b), m2.clone()))
        .await
        .expect("a reply at the current version");
    let page = store.list_messages("T1", None, 10).await.unwrap();
    assert_eq!(page.items, vec![m1.clone(), m2.clone()]);
    assert_eq!(page.next, None);
    let first = store.list_messages("T1", None, 1).await.unwrap();
    assert_eq!(first.items, vec![m1]);
    let rest = store
        .list_messages("T1", first.next.as_deref(), 1)
        .await
        .unwrap();
    assert_eq!(rest.items, vec![m2]);
    assert_eq!(rest.next, None);

    // Status changes are versioned too.
    let mut solved = t1b.clone();
    solved.status = TicketStatus::Solved;
    solved.version = 3;
    assert_eq!(
        store.replace_ticket(&t1, &solved).await,
        Err(StoreError::VersionMismatch)
    );
    store.replace_ticket(&t1b, &solved).await.unwrap();
    assert_eq!(store.get_ticket("T1").await.unwrap(), Some(solved));
}

async fn tickets_list_newest_first_per_customer(store: Arc<dyn Store>) {
    for (i, customer) in ["c1", "c2", "c1", "c1", "c2", "c1"].iter().enumerate() {
        let at = format!("2026-01-0{}T00:00:00.000Z", i + 1);
        let id = format!("T{i}");
        let m = message(&format!("ses-{i}"), &id, &format!("{i}@mail"), &at);
        store
            .store_message(&write(TicketWrite::Insert(ticket(&id, customer, &at)), m))
            .await
            .unwrap();
    }
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    for _ in 0..10 {
        let page = store.list_tickets("c1", after.as_deref(), 3).await.unwrap();
        assert!(page.items.len() <= 3);
        seen.extend(page.items.into_iter().map(|t| t.id));
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    assert_eq!(seen, ["T5", "T3", "T2", "T0"]);
    assert!(
        store
            .list_tickets("c3", None, 3)
            .await
            .unwrap()
            .items
            .is_empty()
    );
}

async fn inbound_records_list_newest_first_by_status(store: Arc<dyn Store>) {
    let statuses = [
        InboundStatus::Ignored,
        InboundStatus::Failed,
        InboundStatus::Ignored,
        InboundStatus::Ignored,
        InboundStatus::Failed,
    ];
    for (i, status) in statuses.iter().enumerate() {
        let at = format!("2026-02-0{}T00:00:00.000Z", i + 1);
        store
            .insert_inbound(&record(&format!("r{i}"), *status, &at))
            .await
            .unwrap();
    }
    assert!(matches!(
        store
            .insert_inbound(&record(
                "r0",
                InboundStatus::Failed,
                "2026-03-01T00:00:00.000Z"
            ))
            .await,
        Err(StoreError::Exists(_))
    ));
    assert_eq!(
        store.get_inbound("r0").await.unwrap().map(|r| r.status),
        Some(InboundStatus::Ignored),
        "the first record stays"
    );
    let list = |status: Option<InboundStatus>| {
        let store = Arc::clone(&store);
        async move {
            let mut seen = Vec::new();
            let mut after: Option<String> = None;
            for _ in 0..10 {
                let page = store
                    .list_inbound(status, after.as_deref(), 2)
                    .await
                    .unwrap();
                seen.extend(page.items.into_iter().map(|r| r.id));
                match page.next {
                    Some(next) => after = Some(next),
                    None => break,
                }
            }
            seen
        }
    };
    assert_eq!(list(None).await, ["r4", "r3", "r2", "r1", "r0"]);
    assert_eq!(list(Some(InboundStatus::Ignored)).await, ["r3", "r2", "r0"]);
    assert_eq!(list(Some(InboundStatus::Failed)).await, ["r4", "r1"]);
    assert!(list(Some(InboundStatus::Ingested)).await.is_empty());
}

/// Many messages stored at once, some refused after part of their write (the ticket already
/// exists, checked after the Message-ID is claimed): each succeeds or fails alone, and a
/// refused one leaves no claim behind. (SQLite commits writes that queue up together, each in
/// a savepoint of its own.)
async fn concurrent_messages_succeed_or_fail_each_alone(store: Arc<dyn Store>) {
    let first = MessageWrite {
        ticket: TicketWrite::Insert(ticket("T0", "c1", "2026-01-01T00:00:00.000Z")),
        message: message("m0", "T0", "m0@x", "2026-01-01T00:00:00.000Z"),
        inbound: None,
    };
    store.store_message(&first).await.unwrap();
    let writes: Vec<MessageWrite> = (1..=16)
        .map(|i| {
            // Every fourth names the existing ticket as new: refused as `Exists`.
            let id = if i % 4 == 0 {
                "T0".to_string()
            } else {
                format!("T{i}")
            };
            MessageWrite {
                ticket: TicketWrite::Insert(ticket(&id, "c1", "2026-01-02T00:00:00.000Z")),
                message: message(
                    &format!("m{i}"),
                    &id,
                    &format!("m{i}@x"),
                    "2026-01-02T00:00:00.000Z",
                ),
                inbound: None,
            }
        })
        .collect();
    let results = futures::future::join_all(writes.iter().map(|w| store.store_message(w))).await;
    for (n, result) in results.iter().enumerate() {
        let i = n + 1;
        let claimed = store
            .ticket_for_message_id(&format!("m{i}@x"))
            .await
            .unwrap();
        if i % 4 == 0 {
            assert_eq!(result, &Err(StoreError::Exists("ticket T0".into())));
            assert_eq!(claimed, None, "a refused write kept its claim m{i}");
        } else {
            assert_eq!(result, &Ok(()), "write {i}");
            assert_eq!(claimed, Some(format!("T{i}")));
        }
    }
}

conformance!(
    concurrent_messages_succeed_or_fail_each_alone,
    messages_store_atomically_with_ticket_claim_and_record,
    tickets_list_newest_first_per_customer,
    inbound_records_list_newest_first_by_status,
    agent_messages_delivery_and_ticket_history,
);
