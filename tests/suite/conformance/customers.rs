//! Customers: emails claimed across primary and alternate addresses, versions, history, notes, concurrent writers.

use super::*;

async fn finds_by_primary_and_alternate(store: Arc<dyn Store>) {
    let ann = with_alternates("ann@acme.com", &["ann@home.org"]);
    store.insert_customer(&ann).await.unwrap();
    assert_eq!(
        store.find_customer(&email("ann@acme.com")).await.unwrap(),
        Some(ann.clone())
    );
    assert_eq!(
        store.find_customer(&email("ann@home.org")).await.unwrap(),
        Some(ann)
    );
    assert_eq!(
        store
            .find_customer(&email("nobody@acme.com"))
            .await
            .unwrap(),
        None
    );
}

async fn emails_are_unique_across_primary_and_alternate(store: Arc<dyn Store>) {
    store
        .insert_customer(&with_alternates("ann@acme.com", &["ann@home.org"]))
        .await
        .unwrap();
    let clash_primary = store.insert_customer(&customer("ann@home.org")).await;
    assert_eq!(
        clash_primary,
        Err(StoreError::EmailTaken("ann@home.org".into()))
    );
    let clash_alternate = store
        .insert_customer(&with_alternates("bob@acme.com", &["ann@acme.com"]))
        .await;
    assert_eq!(
        clash_alternate,
        Err(StoreError::EmailTaken("ann@acme.com".into()))
    );
    // The refused customer left nothing behind: its own primary email is still free.
    assert_eq!(
        store.find_customer(&email("bob@acme.com")).await.unwrap(),
        None
    );
    store
        .insert_customer(&customer("bob@acme.com"))
        .await
        .unwrap();
}

async fn replace_needs_the_current_version(store: Arc<dyn Store>) {
    let ann = customer("ann@acme.com");
    store.insert_customer(&ann).await.unwrap();
    let v2 = next(&ann, |c| c.profile.first_name = Some("Ann".into()));
    store.replace_customer(&ann, &v2).await.unwrap();
    let stale = next(&ann, |c| c.profile.first_name = Some("Stale".into()));
    assert_eq!(
        store.replace_customer(&ann, &stale).await,
        Err(StoreError::VersionMismatch)
    );
    assert_eq!(
        store.find_customer(&email("ann@acme.com")).await.unwrap(),
        Some(v2)
    );
}

/// Versions of the history of `id`, newest first, read `limit` at a time.
async fn history_versions(store: &dyn Store, id: &str, limit: usize) -> Vec<u64> {
    let mut versions = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = store
            .list_history(id, after.as_deref(), limit)
            .await
            .unwrap();
        assert!(page.items.len() <= limit);
        versions.extend(page.items.iter().map(|e| e.version));
        match page.next {
            Some(next) => after = Some(next),
            None => return versions,
        }
    }
}

async fn history_is_written_with_each_change(store: Arc<dyn Store>) {
    let ann = with_alternates("ann@acme.com", &["ann@home.org"]);
    store.insert_customer(&ann).await.unwrap();
    let v2 = next(&ann, |c| c.profile.first_name = Some("Ann".into()));
    store.replace_customer(&ann, &v2).await.unwrap();
    // A refused change writes no entry.
    let stale = next(&ann, |c| c.profile.first_name = Some("Stale".into()));
    assert_eq!(
        store.replace_customer(&ann, &stale).await,
        Err(StoreError::VersionMismatch)
    );
    // A change of nothing the history follows (the welcome state) writes none either.
    let v3 = next(&v2, |c| {
        c.welcome = Some(helpdesk_shared::domain::customer::Welcome {
            status: helpdesk_shared::domain::customer::WelcomeStatus::Sent,
            at: helpdesk_shared::now(),
            sending_since: None,
            failed_attempts: 0,
            error: None,
        })
    });
    store.replace_customer(&v2, &v3).await.unwrap();
    // Bulk writes record theirs too, and a change of primary email keeps the history.
    let v4 = next(&v3, |c| c.profile.email = email("ann@new.org"));
    let bob = customer("bob@acme.com");
    store.insert_customer(&bob).await.unwrap();
    let bob2 = next(&bob, |c| c.profile.tags = vec!["vip".into()]);
    let outcomes = store
        .write_customers(&[
            CustomerWrite::Replace {
                previous: v3.clone(),
                next: v4.clone(),
            },
            CustomerWrite::Replace {
                previous: bob.clone(),
                next: bob2.clone(),
            },
        ])
        .await
        .unwrap();
    assert!(outcomes.iter().all(Result::is_ok), "{outcomes:?}");
    store.finish_bulk_writes().await.unwrap();

    assert_eq!(history_versions(store.as_ref(), &ann.id, 10).await, [4, 2]);
    assert_eq!(history_versions(store.as_ref(), &ann.id, 1).await, [4, 2]);
    assert_eq!(history_versions(store.as_ref(), &bob.id, 10).await, [2]);
    let page = store.list_history(&ann.id, None, 10).await.unwrap();
    let newest = &page.items[0];
    assert_eq!(newest.record_id, ann.id);
    assert_eq!(newest.changes.len(), 1);
    assert_eq!(newest.changes[0].field, "email");
    assert_eq!(newest.changes[0].from, "ann@acme.com");
    assert_eq!(newest.changes[0].to, "ann@new.org");
    assert_eq!(
        newest.by,
        Some(helpdesk_shared::domain::history::Actor::caller(
            "conformance"
        ))
    );
    assert_eq!(page.items[1].changes[0].field, "first_name");

    // A deleted customer's history goes with it.
    store.delete_customer(&v4).await.unwrap();
    assert!(
        history_versions(store.as_ref(), &ann.id, 10)
            .await
            .is_empty()
    );
    assert_eq!(history_versions(store.as_ref(), &bob.id, 10).await, [2]);
}

async fn primary_email_change_keeps_notes_and_frees_the_old_email(store: Arc<dyn Store>) {
    let ann = with_alternates("ann@acme.com", &["ann@home.org"]);
    store.insert_customer(&ann).await.unwrap();
    store
        .add_note(
            &ann,
            &note("called about invoice", "2026-01-01T10:00:00.000Z"),
        )
        .await
        .unwrap();
    let moved = next(&ann, |c| c.profile.email = email("ann.lee@acme.com"));
    store.replace_customer(&ann, &moved).await.unwrap();
    assert_eq!(
        store.find_customer(&email("ann@acme.com")).await.unwrap(),
        None
    );
    assert_eq!(
        store
            .find_customer(&email("ann.lee@acme.com"))
            .await
            .unwrap(),
        Some(moved.clone())
    );
    assert_eq!(
        store.find_customer(&email("ann@home.org")).await.unwrap(),
        Some(moved.clone())
    );
    let notes = store.list_notes(&moved.id, None, 10).await.unwrap();
    assert_eq!(notes.items.len(), 1);
    assert_eq!(notes.items[0].text, "called about invoice");
    store
        .insert_customer(&customer("ann@acme.com"))
        .await
        .unwrap();
}

async fn alternate_can_be_promoted_to_primary(store: Arc<dyn Store>) {
    let ann = with_alternates("ann@acme.com", &["ann@home.org"]);
    store.insert_customer(&ann).await.unwrap();
    let swapped = next(&ann, |c| {
        c.profile.email = email("ann@home.org");
        c.profile.alternate_emails = vec![email("ann@acme.com")];
    });
    store.replace_customer(&ann, &swapped).await.unwrap();
    assert_eq!(
        store.find_customer(&email("ann@home.org")).await.unwrap(),
        Some(swapped.clone())
    );
    assert_eq!(
        store.find_customer(&email("ann@acme.com")).await.unwrap(),
        Some(swapped)
    );
    assert!(
        store
            .insert_customer(&customer("ann@acme.com"))
            .await
            .is_err()
    );
}

async fn alternate_changes_claim_and_release(store: Arc<dyn Store>) {
    let ann = with_alternates("ann@acme.com", &["a1@x.org"]);
    store.insert_customer(&ann).await.unwrap();
    store
        .insert_customer(&customer("bob@acme.com"))
        .await
        .unwrap();
    let taken = next(&ann, |c| {
        c.profile.alternate_emails = vec![email("bob@acme.com")]
    });
    assert_eq!(
        store.replace_customer(&ann, &taken).await,
        Err(StoreError::EmailTaken("bob@acme.com".into()))
    );
    // Nothing of the refused change stuck.
    assert_eq!(
        store.find_customer(&email("a1@x.org")).await.unwrap(),
        Some(ann.clone())
    );
    let changed = next(&ann, |c| {
        c.profile.alternate_emails = vec![email("a2@x.org")]
    });
    store.replace_customer(&ann, &changed).await.unwrap();
    assert_eq!(store.find_customer(&email("a1@x.org")).await.unwrap(), None);
    assert_eq!(
        store.find_customer(&email("a2@x.org")).await.unwrap(),
        Some(changed)
    );
    store.insert_customer(&customer("a1@x.org")).await.unwrap();
}

async fn delete_releases_emails_and_notes(store: Arc<dyn Store>) {
    let ann = with_alternates("ann@acme.com", &["ann@home.org"]);
    store.insert_customer(&ann).await.unwrap();
    store
        .add_note(&ann, &note("n", "2026-01-01T10:00:00.000Z"))
        .await
        .unwrap();
    let stale = next(&ann, |_| {});
    assert_eq!(
        store.delete_customer(&stale).await,
        Err(StoreError::VersionMismatch)
    );
    store.delete_customer(&ann).await.unwrap();
    assert_eq!(
        store.find_customer(&email("ann@acme.com")).await.unwrap(),
        None
    );
    assert_eq!(
        store.find_customer(&email("ann@home.org")).await.unwrap(),
        None
    );
    assert!(
        store
            .list_notes(&ann.id, None, 10)
            .await
            .unwrap()
            .items
            .is_empty()
    );
    store
        .insert_customer(&customer("ann@home.org"))
        .await
        .unwrap();
}

async fn notes_are_newest_first_and_idempotent(store: Arc<dyn Store>) {
    let ann = customer("ann@acme.com");
    store.insert_customer(&ann).await.unwrap();
    let notes: Vec<Note> = (0..5)
        .map(|i| {
            note(
                &format!("note {i}"),
                &format!("2026-01-0{}T10:00:00.000Z", i + 1),
            )
        })
        .collect();
    for n in &notes {
        store.add_note(&ann, n).await.unwrap();
    }
    store.add_note(&ann, &notes[2]).await.unwrap();
    let first = store.list_notes(&ann.id, None, 3).await.unwrap();
    assert_eq!(
        first
            .items
            .iter()
            .map(|n| n.text.as_str())
            .collect::<Vec<_>>(),
        vec!["note 4", "note 3", "note 2"]
    );
    let rest = store
        .list_notes(&ann.id, first.next.as_deref(), 3)
        .await
        .unwrap();
    assert_eq!(
        rest.items
            .iter()
            .map(|n| n.text.as_str())
            .collect::<Vec<_>>(),
        vec!["note 1", "note 0"]
    );
    assert_eq!(rest.next, None);
}

async fn concurrent_creates_of_one_email_have_one_winner(store: Arc<dyn Store>) {
    for round in 0..5 {
        let email = format!("race{round}@acme.com");
        let (a, b) = (
            customer(&email),
            with_alternates(&format!("other{round}@acme.com"), &[&email]),
        );
        let (ra, rb) = tokio::join!(store.insert_customer(&a), store.insert_customer(&b));
        assert!(
            ra.is_ok() != rb.is_ok(),
            "exactly one create must win: {ra:?} {rb:?}"
        );
        let loser = if ra.is_ok() { rb } else { ra };
        assert_eq!(loser, Err(StoreError::EmailTaken(email.clone())));
        let owner = store
            .find_customer(&self::email(&email))
            .await
            .unwrap()
            .expect("winner stored");
        assert!(owner.id == a.id || owner.id == b.id);
    }
}

/// Many writes at once, some of them refused: each succeeds or fails alone (SQLite commits
/// the writes that queue up together, each in its own savepoint), and a refused one leaves
/// nothing behind, not even its other addresses.
async fn concurrent_writes_succeed_or_fail_each_alone(store: Arc<dyn Store>) {
    store
        .insert_customer(&customer("taken@acme.com"))
        .await
        .unwrap();
    let writes: Vec<Customer> = (0..24)
        .map(|i| match i % 4 {
            // Refused: its primary is taken; its alternate must not be claimed either.
            0 => with_alternates("taken@acme.com", &[&format!("spare{i}@acme.com")]),
            _ => with_alternates(&format!("new{i}@acme.com"), &[&format!("alt{i}@acme.com")]),
        })
        .collect();
    let results = futures::future::join_all(writes.iter().map(|c| store.insert_customer(c))).await;
    for (i, result) in results.iter().enumerate() {
        match i % 4 {
            0 => assert_eq!(
                result,
                &Err(StoreError::EmailTaken("taken@acme.com".into()))
            ),
            _ => assert_eq!(result, &Ok(()), "write {i}"),
        }
    }
    for (i, write) in writes.iter().enumerate() {
        let spare = store
            .find_customer(&email(&format!("spare{i}@acme.com")))
            .await
            .unwrap();
        assert!(spare.is_none(), "a refused write claimed spare{i}");
        if i % 4 != 0 {
            let alt = store
                .find_customer(&email(&format!("alt{i}@acme.com")))
                .await
                .unwrap();
            assert_eq!(alt.map(|c| c.id), Some(write.id.clone()), "write {i}");
        }
    }
}

async fn concurrent_updates_from_one_version_have_one_winner(store: Arc<dyn Store>) {
    let ann = customer("ann@acme.com");
    store.insert_customer(&ann).await.unwrap();
    let left = next(&ann, |c| c.profile.first_name = Some("Left".into()));
    let right = next(&ann, |c| c.profile.email = email("ann.right@acme.com"));
    let (rl, rr) = tokio::join!(
        store.replace_customer(&ann, &left),
        store.replace_customer(&ann, &right)
    );
    assert!(
        rl.is_ok() != rr.is_ok(),
        "exactly one update must win: {rl:?} {rr:?}"
    );
    let winner = if rl.is_ok() { left } else { right };
    assert_eq!(
        store.find_customer(&winner.profile.email).await.unwrap(),
        Some(winner)
    );
}

/// Items written before documents became binary attributes hold them as strings: still read.
#[tokio::test]
async fn dynamodb_reads_documents_stored_as_strings() {
    use aws_sdk_dynamodb::types::AttributeValue;
    use helpdesk_shared::store::dynamodb::DynamoStore;

    let client = crate::support::dynamo_client();
    let table = format!("helpdesk-{}", uuid::Uuid::new_v4());
    DynamoStore::create_table(&client, &table).await.unwrap();
    let store = DynamoStore::new(client.clone(), table.clone());
    let stored = named("legacy@example.com", "Ada", "Lovelace");
    store.insert_customer(&stored).await.unwrap();
    let key = |item: &std::collections::HashMap<String, AttributeValue>| {
        item.iter()
            .filter(|(name, _)| *name == "pk" || *name == "sk")
            .map(|(name, value)| (name.clone(), value.clone()))
            .collect::<std::collections::HashMap<_, _>>()
    };
    let mut item = client
        .scan()
        .table_name(&table)
        .send()
        .await
        .unwrap()
        .items
        .unwrap_or_default()
        .into_iter()
        .find(|item| item.get("kind").and_then(|k| k.as_s().ok()) == Some(&"customer".into()))
        .expect("the customer's item");
    let Some(AttributeValue::B(json)) = item.get("doc") else {
        panic!("new documents are binary: {item:?}");
    };
    let text = String::from_utf8(json.as_ref().to_vec()).unwrap();
    item.insert("doc".into(), AttributeValue::S(text));
    client
        .put_item()
        .table_name(&table)
        .set_item(Some(item.clone()))
        .send()
        .await
        .unwrap();
    assert!(matches!(
        client
            .get_item()
            .table_name(&table)
            .set_key(Some(key(&item)))
            .send()
            .await
            .unwrap()
            .item
            .and_then(|i| i.get("doc").cloned()),
        Some(AttributeValue::S(_))
    ));
    let found = store
        .find_customer(&email("legacy@example.com"))
        .await
        .unwrap()
        .expect("found");
    assert_eq!(found.profile, stored.profile);
    assert_eq!(found.version, stored.version);
}

/// An import's update: the store may write it alone (the cloud) or with its entry (SQLite);
/// the change log's filing of the entry then leaves exactly one. A stored entry is filed once
/// and rewritten in place; rewriting what was never filed files nothing.
async fn history_entries_are_filed_once_and_rewritten_in_place(store: Arc<dyn Store>) {
    use helpdesk_shared::domain::customer::{ImportMark, RowOutcome};
    use helpdesk_shared::domain::events::RecordChange;
    let ann = named("ann@acme.com", "Ann", "Lee");
    store.insert_customer(&ann).await.unwrap();
    let imported = next(&ann, |c| {
        c.profile.last_name = Some("Lee-Smith".into());
        c.import_mark = Some(ImportMark {
            job: "job-1".into(),
            row: 2,
            outcome: RowOutcome::Updated,
        });
    });
    let outcomes = store
        .write_customers(&[CustomerWrite::Replace {
            previous: ann.clone(),
            next: imported.clone(),
        }])
        .await
        .unwrap();
    assert!(outcomes.iter().all(Result::is_ok), "{outcomes:?}");
    let entry = RecordChange::Customer(Some(ann.clone()), Some(imported.clone()))
        .logged_history()
        .expect("an import's update has an entry for the log to file");
    store.put_history(&ann.id, &entry).await.unwrap();
    store.put_history(&ann.id, &entry).await.unwrap();
    let page = store.list_history(&ann.id, None, 10).await.unwrap();
    assert_eq!(page.items.len(), 1, "{:?}", page.items);
    assert_eq!(page.items[0].version, 2);
    assert_eq!(page.items[0].changes[0].to, "Lee-Smith");

    let mut rewritten = entry.clone();
    rewritten.changes.truncate(0);
    store.rewrite_history(&ann.id, &rewritten).await.unwrap();
    let mut never_filed = entry.clone();
    never_filed.version = 9;
    store.rewrite_history(&ann.id, &never_filed).await.unwrap();
    let page = store.list_history(&ann.id, None, 10).await.unwrap();
    assert_eq!(page.items, vec![rewritten]);
}

conformance!(
    history_entries_are_filed_once_and_rewritten_in_place,
    finds_by_primary_and_alternate,
    emails_are_unique_across_primary_and_alternate,
    replace_needs_the_current_version,
    history_is_written_with_each_change,
    primary_email_change_keeps_notes_and_frees_the_old_email,
    alternate_can_be_promoted_to_primary,
    alternate_changes_claim_and_release,
    delete_releases_emails_and_notes,
    notes_are_newest_first_and_idempotent,
    concurrent_creates_of_one_email_have_one_winner,
    concurrent_writes_succeed_or_fail_each_alone,
    concurrent_updates_from_one_version_have_one_winner,
);
