//! What erasures and merges ask of a store.

use super::*;
use helpdesk_shared::ports::store::JobStore;

/// What erasure asks of a store: whole tickets deleted, messages rewritten, claims released,
/// a sender's inbound records found and deleted, erasures versioned, one salt, suppression.
async fn erasure_operations(store: Arc<dyn Store>) {
    use helpdesk_shared::domain::erasure::*;
    let t1 = ticket("T1", "c1", "2026-01-01T00:00:00.000Z");
    let m1 = message("ses-1", "T1", "one@mail", "2026-01-01T00:00:00.000Z");
    let mut t1b = t1.clone();
    t1b.message_count = 2;
    t1b.version = 2;
    let m2 = message("ses-2", "T1", "two@mail", "2026-01-01T00:00:01.000Z");
    store
        .store_message(&write(TicketWrite::Insert(t1.clone()), m1.clone()))
        .await
        .unwrap();
    let replace = TicketWrite::Replace {
        previous: t1.clone(),
        next: t1b.clone(),
    };
    store
        .store_message(&write(replace, m2.clone()))
        .await
        .unwrap();
    let t2 = ticket("T2", "c1", "2026-01-02T00:00:00.000Z");
    let m3 = message("ses-3", "T2", "three@mail", "2026-01-02T00:00:00.000Z");
    store
        .store_message(&write(TicketWrite::Insert(t2.clone()), m3.clone()))
        .await
        .unwrap();

    // Rewriting a message in place; rewriting one that is gone writes nothing.
    let mut quiet = m1.clone();
    quiet.body.text = ERASED_TEXT.into();
    store.rewrite_message(&quiet).await.unwrap();
    let messages = store.list_messages("T1", None, 10).await.unwrap();
    assert_eq!(messages.items[0].body.text, ERASED_TEXT);
    assert_eq!(messages.items[1], m2);
    store
        .release_message_ids(&["two@mail".into()])
        .await
        .unwrap();
    assert_eq!(store.ticket_for_message_id("two@mail").await.unwrap(), None);
    assert_eq!(
        store.ticket_for_message_id("one@mail").await.unwrap(),
        Some("T1".into())
    );

    // A whole ticket: messages, claims and the ticket; twice is the same as once.
    store.delete_ticket(&t1b).await.unwrap();
    store.delete_ticket(&t1b).await.unwrap();
    assert_eq!(store.get_ticket("T1").await.unwrap(), None);
    assert!(
        store
            .list_messages("T1", None, 10)
            .await
            .unwrap()
            .items
            .is_empty()
    );
    assert_eq!(store.ticket_for_message_id("one@mail").await.unwrap(), None);
    let mut ghost = m2.clone();
    ghost.body.text = "back from the dead".into();
    store.rewrite_message(&ghost).await.unwrap();
    assert!(
        store
            .list_messages("T1", None, 10)
            .await
            .unwrap()
            .items
            .is_empty()
    );
    assert_eq!(store.get_ticket("T2").await.unwrap(), Some(t2));
    assert_eq!(
        store.ticket_for_message_id("three@mail").await.unwrap(),
        Some("T2".into())
    );

    // A sender's records, oldest first, whatever the case of the address.
    for (i, from) in [
        "Ann@Acme.com",
        "bob@acme.com",
        "ann@acme.com",
        "ann@acme.com",
    ]
    .iter()
    .enumerate()
    {
        let mut r = record(
            &format!("r{i}"),
            InboundStatus::Ignored,
            &format!("2026-02-0{}T00:00:00.000Z", i + 1),
        );
        r.from = Some(from.to_string());
        store.insert_inbound(&r).await.unwrap();
    }
    let first = store
        .list_inbound_from("ANN@acme.com", None, 2)
        .await
        .unwrap();
    let ids: Vec<&str> = first.items.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["r0", "r2"]);
    let rest = store
        .list_inbound_from("ann@acme.com", first.next.as_deref(), 2)
        .await
        .unwrap();
    assert_eq!(
        rest.items.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
        ["r3"]
    );
    assert_eq!(rest.next, None);
    store.delete_inbounds(&["r0".into()]).await.unwrap();
    store.delete_inbounds(&["r0".into()]).await.unwrap();
    assert_eq!(store.get_inbound("r0").await.unwrap(), None);
    assert_eq!(
        store.get_inbound("r1").await.unwrap().map(|r| r.id),
        Some("r1".into())
    );

    // Erasures are versioned records; the salt is made once; suppression is idempotent.
    let salt = store.erasure_salt().await.unwrap();
    assert_eq!(salt.len(), 64);
    assert_eq!(store.erasure_salt().await.unwrap(), salt);
    let now = helpdesk_shared::now();
    let erasure = Erasure {
        id: "e1".into(),
        status: ErasureStatus::Running,
        step: ErasureStep::Tickets,
        customer_id: "c1".into(),
        emails: vec!["ann@acme.com".into()],
        email_hashes: vec![email_hash(&salt, "ann@acme.com")],
        suppress: true,
        tickets: TicketErasure::Delete,
        cursor: None,
        email_index: 0,
        requested_by: "admin".into(),
        requested_at: now.clone(),
        finished_at: None,
        counts: ErasureCounts::default(),
        updated_at: now,
        version: 1,
    };
    store.insert_job(&erasure).await.unwrap();
    assert!(matches!(
        store.insert_job(&erasure).await,
        Err(StoreError::Exists(_))
    ));
    let mut done = erasure.clone();
    done.status = ErasureStatus::Succeeded;
    done.emails.clear();
    done.version = 2;
    store.replace_job(&erasure, &done).await.unwrap();
    assert_eq!(
        store.replace_job(&erasure, &done).await,
        Err(StoreError::VersionMismatch)
    );
    assert_eq!(store.get_job("e1").await.unwrap(), Some(done));
    let hash = email_hash(&salt, " ANN@acme.com ");
    assert_eq!(
        hash, erasure.email_hashes[0],
        "hashes are of the normalised address"
    );
    address_marks_are_versioned(store.as_ref(), &hash, &email_hash(&salt, "bob@acme.com")).await;
}

/// The address registry: unmarked addresses answer empty at version 0, marks are written at
/// the version read, a stale write is refused, and lifting every mark keeps the version.
async fn address_marks_are_versioned(store: &dyn Store, ann: &str, bob: &str) {
    use helpdesk_shared::domain::address::{AddressMark, AddressMarks, MarkKind};
    let none = store.address_marks(&[ann.to_string()]).await.unwrap();
    assert_eq!(none, vec![AddressMarks::default()]);
    let mark = AddressMark {
        at: None,
        by: "erasure e1".into(),
        reason: None,
    };
    let suppressed = none[0].with(MarkKind::Suppressed, Some(mark.clone()));
    store
        .write_address_marks(ann, &none[0], &suppressed)
        .await
        .unwrap();
    assert_eq!(
        store.write_address_marks(ann, &none[0], &suppressed).await,
        Err(StoreError::VersionMismatch),
        "a second writer from the same read loses"
    );
    let blocked = suppressed.with(MarkKind::Blocked, Some(mark));
    store
        .write_address_marks(ann, &suppressed, &blocked)
        .await
        .unwrap();
    let both = store
        .address_marks(&[bob.to_string(), ann.to_string()])
        .await
        .unwrap();
    assert_eq!(both, vec![AddressMarks::default(), blocked.clone()]);
    let lifted = blocked
        .with(MarkKind::Blocked, None)
        .with(MarkKind::Suppressed, None);
    store
        .write_address_marks(ann, &blocked, &lifted)
        .await
        .unwrap();
    let after = store.address_marks(&[ann.to_string()]).await.unwrap();
    assert!(after[0].is_empty());
    assert_eq!(
        after[0].version, 4,
        "lifting keeps counting, so stale writers lose"
    );
}

/// A merge's and an undo's change of records: emails pass between the customers written, the
/// merge record is written with them, and nothing is written when any part is refused.
async fn merge_writes_are_all_or_nothing(store: Arc<dyn Store>) {
    use helpdesk_shared::domain::merge::*;
    use helpdesk_shared::ports::store::MergeWrite;
    let ann = with_alternates("ann@acme.com", &["ann@home.org"]);
    let bob = with_alternates("bob@acme.com", &["bob@home.org"]);
    let dan = customer("dan@acme.com");
    for c in [&ann, &bob, &dan] {
        store.insert_customer(c).await.unwrap();
    }
    let merged = next(&ann, |c| {
        c.profile.alternate_emails = ["ann@home.org", "bob@acme.com", "bob@home.org"]
            .iter()
            .map(|e| email(e))
            .collect();
        c.profile.first_name = Some("Ann".into());
    });
    let now = helpdesk_shared::now();
    let record = |id: &str| Merge {
        id: id.into(),
        status: MergeStatus::Running,
        step: MoveStep::Tickets,
        target_before: ann.clone(),
        target_after: merged.clone(),
        sources: vec![bob.clone()],
        source_index: 0,
        cursor: None,
        counts: MergeCounts::default(),
        requested_by: "agent".into(),
        requested_at: now.clone(),
        finished_at: None,
        undone_at: None,
        updated_at: now.clone(),
        version: 1,
    };
    // An email of someone outside the merge: refused whole, no merge record.
    let grabbing = next(&ann, |c| {
        c.profile.alternate_emails.push(email("dan@acme.com"))
    });
    assert_eq!(
        store
            .write_merge(
                std::slice::from_ref(&ann),
                &[grabbing],
                &MergeWrite::Insert(record("m0"))
            )
            .await,
        Err(StoreError::EmailTaken("dan@acme.com".into()))
    );
    assert_eq!(
        JobStore::<Merge>::get_job(store.as_ref(), "m0")
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store.find_customer(&email("ann@acme.com")).await.unwrap(),
        Some(ann.clone())
    );

    let m1 = record("m1");
    store
        .write_merge(
            &[ann.clone(), bob.clone()],
            std::slice::from_ref(&merged),
            &MergeWrite::Insert(m1.clone()),
        )
        .await
        .unwrap();
    for address in ["bob@acme.com", "bob@home.org", "ann@home.org"] {
        assert_eq!(
            store.find_customer(&email(address)).await.unwrap(),
            Some(merged.clone()),
            "{address}"
        );
    }
    assert_eq!(store.get_job("m1").await.unwrap(), Some(m1.clone()));
    assert_eq!(
        store
            .list_history(&ann.id, None, 10)
            .await
            .unwrap()
            .items
            .len(),
        1
    );
    // The same merge again: its records moved on.
    assert_eq!(
        store
            .write_merge(
                &[ann.clone(), bob.clone()],
                std::slice::from_ref(&merged),
                &MergeWrite::Insert(record("m2"))
            )
            .await,
        Err(StoreError::VersionMismatch)
    );
    assert_eq!(
        JobStore::<Merge>::get_job(store.as_ref(), "m2")
            .await
            .unwrap(),
        None
    );

    // The undo gives Bob his emails back, exactly as he was.
    let restored = next(&merged, |c| c.profile = ann.profile.clone());
    let mut undoing = m1.clone();
    undoing.status = MergeStatus::Undoing;
    undoing.version = 2;
    let undo = MergeWrite::Replace {
        previous: m1.clone(),
        next: undoing.clone(),
    };
    store
        .write_merge(
            std::slice::from_ref(&merged),
            &[restored.clone(), bob.clone()],
            &undo,
        )
        .await
        .unwrap();
    assert_eq!(
        store.find_customer(&email("bob@home.org")).await.unwrap(),
        Some(bob.clone())
    );
    assert_eq!(
        store.find_customer(&email("ann@home.org")).await.unwrap(),
        Some(restored)
    );
    assert_eq!(store.get_job("m1").await.unwrap(), Some(undoing));
    assert_eq!(
        store
            .write_merge(
                std::slice::from_ref(&merged),
                std::slice::from_ref(&bob),
                &undo
            )
            .await,
        Err(StoreError::VersionMismatch)
    );

    // Moving notes and history entries between customers.
    let n = note("moved along", "2026-03-01T00:00:00.000Z");
    store.add_note(&bob, &n).await.unwrap();
    store.delete_note(&bob.id, &n).await.unwrap();
    store.delete_note(&bob.id, &n).await.unwrap();
    assert!(
        store
            .list_notes(&bob.id, None, 10)
            .await
            .unwrap()
            .items
            .is_empty()
    );
    let entry = store.list_history(&ann.id, None, 10).await.unwrap().items[0].clone();
    store.put_history(&bob.id, &entry).await.unwrap();
    store.put_history(&bob.id, &entry).await.unwrap();
    assert_eq!(
        store.list_history(&bob.id, None, 10).await.unwrap().items,
        vec![entry.clone()]
    );
    store.delete_history(&bob.id, &entry).await.unwrap();
    store.delete_history(&bob.id, &entry).await.unwrap();
    assert!(
        store
            .list_history(&bob.id, None, 10)
            .await
            .unwrap()
            .items
            .is_empty()
    );
}

conformance!(erasure_operations, merge_writes_are_all_or_nothing,);
