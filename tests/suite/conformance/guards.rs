//! The invariants a store keeps whoever calls it: a customer under erasure changes no more,
//! and merge records are found by the customers they copy and forgotten once they expire.

use super::*;
use helpdesk_shared::domain::customer::{Block, ERASURE_BLOCK};
use helpdesk_shared::domain::merge::*;
use helpdesk_shared::ports::store::{JobStore, MergeStore, MergeWrite};

fn under_erasure(email: &str) -> Customer {
    let mut c = customer(email);
    c.blocked = Some(Block {
        at: helpdesk_shared::now(),
        by: format!("{ERASURE_BLOCK}e1"),
    });
    c
}

/// Every way of changing a customer is refused while it is under erasure, even at the
/// right version: an edit, a batch item (the others go ahead), a note, a merge. The record
/// stays as the erasure will find it.
async fn a_customer_under_erasure_changes_no_more(store: Arc<dyn Store>) {
    let ann = under_erasure("ann@acme.com");
    let bob = customer("bob@acme.com");
    store.insert_customer(&ann).await.unwrap();
    store.insert_customer(&bob).await.unwrap();
    let refused = Err(StoreError::UnderErasure("ann@acme.com".into()));
    let renamed = next(&ann, |c| c.profile.email = email("ann@elsewhere.com"));
    assert_eq!(store.replace_customer(&ann, &renamed).await, refused);
    let unblocked = next(&ann, |c| c.blocked = None);
    assert_eq!(store.replace_customer(&ann, &unblocked).await, refused);
    let bob_named = next(&bob, |c| c.profile.first_name = Some("Bob".into()));
    let batch = [
        CustomerWrite::Replace {
            previous: ann.clone(),
            next: renamed.clone(),
        },
        CustomerWrite::Replace {
            previous: bob.clone(),
            next: bob_named.clone(),
        },
    ];
    let outcomes = store.write_customers(&batch).await.unwrap();
    assert_eq!(outcomes, vec![refused.clone(), Ok(())]);
    let n = note("written during the erasure", "2026-01-01T10:00:00.000Z");
    assert_eq!(store.add_note(&ann, &n).await, refused);
    let merged = next(&bob_named, |c| {
        c.profile.alternate_emails = vec![email("ann@acme.com")]
    });
    let write = MergeWrite::Insert(merge_record("m1", &bob_named, &merged, &ann));
    assert_eq!(
        store
            .write_merge(&[bob_named.clone(), ann.clone()], &[merged], &write)
            .await,
        refused
    );
    assert_eq!(
        store.find_customer(&email("ann@acme.com")).await.unwrap(),
        Some(ann.clone())
    );
    assert!(
        store
            .list_notes(&ann.id, None, 10)
            .await
            .unwrap()
            .items
            .is_empty()
    );
    assert_eq!(
        JobStore::<Merge>::get_job(store.as_ref(), "m1")
            .await
            .unwrap(),
        None
    );
    // The erasure itself deletes the record: that is not a change.
    store.delete_customer(&ann).await.unwrap();
    assert_eq!(
        store.find_customer(&email("ann@acme.com")).await.unwrap(),
        None
    );
}

fn merge_record(id: &str, target: &Customer, after: &Customer, source: &Customer) -> Merge {
    let now = helpdesk_shared::now();
    Merge {
        id: id.into(),
        status: MergeStatus::Running,
        step: MoveStep::Tickets,
        target_before: target.clone(),
        target_after: after.clone(),
        sources: vec![source.clone()],
        source_index: 0,
        cursor: None,
        counts: MergeCounts::default(),
        requested_by: "agent".into(),
        requested_at: now.clone(),
        finished_at: None,
        undone_at: None,
        updated_at: now,
        version: 1,
    }
}

/// A merge is found from each customer it holds a copy of, deleted whole with what finds it,
/// and forgotten once its undo window has passed (SQLite deletes it when asked; DynamoDB's
/// items carry the time for its TTL to delete them).
async fn merges_are_found_by_customer_and_expire(store: Arc<dyn Store>) {
    let ann = customer("ann@acme.com");
    let bob = customer("bob@acme.com");
    store.insert_customer(&ann).await.unwrap();
    store.insert_customer(&bob).await.unwrap();
    let merged = next(&ann, |c| {
        c.profile.alternate_emails = vec![email("bob@acme.com")]
    });
    let m1 = merge_record("m1", &ann, &merged, &bob);
    store
        .write_merge(
            &[ann.clone(), bob.clone()],
            std::slice::from_ref(&merged),
            &MergeWrite::Insert(m1.clone()),
        )
        .await
        .unwrap();
    assert_eq!(store.merges_of(&ann.id).await.unwrap(), vec!["m1"]);
    assert_eq!(store.merges_of(&bob.id).await.unwrap(), vec!["m1"]);
    assert!(store.merges_of("someone-else").await.unwrap().is_empty());

    // Finished 31 days ago: past its undo window.
    let mut old = m1.clone();
    old.status = MergeStatus::Succeeded;
    old.requested_at = stamp("2020-01-01T00:00:00.000Z");
    old.finished_at = Some(stamp("2020-01-01T00:01:00.000Z"));
    old.version = 2;
    store.replace_job(&m1, &old).await.unwrap();
    let now = helpdesk_shared::now();
    assert!(old.is_expired(&now));
    let forgotten = store.forget_expired_merges(&now, 10).await.unwrap();
    let left = JobStore::<Merge>::get_job(store.as_ref(), "m1")
        .await
        .unwrap();
    match forgotten {
        1 => assert_eq!(left, None, "SQLite deletes what it forgets"),
        0 => assert_eq!(left, Some(old.clone()), "DynamoDB leaves it to its TTL"),
        other => panic!("forgot {other} merges"),
    }

    store.delete_merge(&old).await.unwrap();
    store.delete_merge(&old).await.unwrap();
    assert_eq!(
        JobStore::<Merge>::get_job(store.as_ref(), "m1")
            .await
            .unwrap(),
        None
    );
    assert!(store.merges_of(&ann.id).await.unwrap().is_empty());
    assert!(store.merges_of(&bob.id).await.unwrap().is_empty());
}

/// DynamoDB's merge items and what finds them carry `expires_at` (epoch seconds), a day
/// after the undo window closes, which the table's TTL deletes them by.
#[tokio::test]
async fn dynamodb_merge_items_expire_with_their_undo_window() {
    use aws_sdk_dynamodb::types::AttributeValue;
    let client = crate::support::dynamo_client();
    let table = format!("helpdesk-{}", uuid::Uuid::new_v4());
    helpdesk_shared::store::dynamodb::DynamoStore::create_table(&client, &table)
        .await
        .unwrap();
    let store = helpdesk_shared::store::dynamodb::DynamoStore::new(client.clone(), table.clone());
    let ann = customer("ann@acme.com");
    let bob = customer("bob@acme.com");
    store.insert_customer(&ann).await.unwrap();
    store.insert_customer(&bob).await.unwrap();
    let merged = next(&ann, |c| {
        c.profile.alternate_emails = vec![email("bob@acme.com")]
    });
    let m1 = merge_record("m1", &ann, &merged, &bob);
    store
        .write_merge(
            &[ann.clone(), bob.clone()],
            std::slice::from_ref(&merged),
            &MergeWrite::Insert(m1.clone()),
        )
        .await
        .unwrap();
    let items = client.scan().table_name(&table).send().await.unwrap();
    let merge_items: Vec<_> = items
        .items()
        .iter()
        .filter(|item| {
            item.values()
                .any(|v| matches!(v, AttributeValue::S(s) if s.contains("m1")))
        })
        .collect();
    assert_eq!(
        merge_items.len(),
        3,
        "the record and one finder per customer"
    );
    let until = m1.undo_until().unix_seconds() + 86_400;
    for item in merge_items {
        assert_eq!(
            item.get("expires_at"),
            Some(&AttributeValue::N(until.to_string())),
            "{item:?}"
        );
    }
}

conformance!(
    a_customer_under_erasure_changes_no_more,
    merges_are_found_by_customer_and_expire,
);
