//! One conformance suite, run against both stores: every test here is instantiated for SQLite
//! and for DynamoDB (moto) by the macro at the bottom.

use std::sync::Arc;

use helpdesk_shared::domain::company::Company;
use helpdesk_shared::domain::customer::{Customer, Note};
use helpdesk_shared::domain::email::Email;
use helpdesk_shared::domain::error::StoreError;
use helpdesk_shared::domain::field::{FieldDefinition, FieldType};
use helpdesk_shared::domain::inbound::{InboundRecord, InboundStatus, Verdicts};
use helpdesk_shared::domain::ticket::{
    Mailbox, MessageBody, ThreadReason, Ticket, TicketMessage, TicketStatus,
};
use helpdesk_shared::domain::timestamp::Timestamp;
use helpdesk_shared::ports::store::{
    CustomerQuery, CustomerStore, CustomerWrite, MessageWrite, Store, TicketWrite,
};

use crate::support::customer;

/// A normalised email, as records hold them.
fn email(raw: &str) -> Email {
    Email::parse(raw).expect("a valid test email")
}

fn with_alternates(primary: &str, alternates: &[&str]) -> Customer {
    let mut c = customer(primary);
    c.profile.alternate_emails = alternates.iter().map(|a| email(a)).collect();
    c
}

fn named(email: &str, first: &str, last: &str) -> Customer {
    let mut c = customer(email);
    c.profile.first_name = Some(first.into());
    c.profile.last_name = Some(last.into());
    c
}

fn company(name: &str, domains: &[&str]) -> Company {
    Company {
        id: helpdesk_shared::new_id(),
        name: name.into(),
        domains: domains.iter().map(|d| d.to_string()).collect(),
        notes: None,
        created_by: None,
        changed_by: None,
        created_at: helpdesk_shared::now(),
        updated_at: helpdesk_shared::now(),
        version: 1,
    }
}

fn stamp(at: &str) -> Timestamp {
    Timestamp::parse(at).expect("a test timestamp")
}

fn note(text: &str, at: &str) -> Note {
    Note {
        id: helpdesk_shared::new_id(),
        author: "agent".into(),
        text: text.into(),
        created_at: stamp(at),
        moved_by: None,
    }
}

fn next(c: &Customer, change: impl FnOnce(&mut Customer)) -> Customer {
    let by = helpdesk_shared::domain::history::Actor::caller("conformance");
    let mut n = c.next_version(c.profile.clone(), &helpdesk_shared::now(), by);
    change(&mut n);
    n
}

async fn all_emails(store: &dyn Store, mut query: CustomerQuery) -> Vec<String> {
    let mut seen = Vec::new();
    for _ in 0..100 {
        let page = store.list_customers(&query).await.expect("list");
        assert!(page.items.len() <= query.limit);
        seen.extend(page.items.iter().map(|c| c.email().to_string()));
        match page.next {
            Some(next) => query.after = Some(next),
            None => return seen,
        }
    }
    panic!("listing did not end");
}

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
            &ann.id,
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
        .add_note(&ann.id, &note("n", "2026-01-01T10:00:00.000Z"))
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

async fn lists_every_customer_once_in_email_order(store: Arc<dyn Store>) {
    let mut emails: Vec<String> = (0..23)
        .map(|i| format!("user{i:02}@d{}.com", i % 5))
        .collect();
    for email in &emails {
        store.insert_customer(&customer(email)).await.unwrap();
    }
    emails.sort();
    let listed = all_emails(
        store.as_ref(),
        CustomerQuery {
            limit: 7,
            ..Default::default()
        },
    )
    .await;
    assert_eq!(listed, emails);
}

async fn prefix_search_covers_email_and_names_once(store: Arc<dyn Store>) {
    for c in [
        named("annie@x.com", "Zed", "Young"),  // email matches
        named("zz@x.com", "Anna", "Smith"),    // first name matches
        named("yy@x.com", "Bob", "Andrews"),   // last name matches
        named("ann@y.com", "Ann", "Anderson"), // all three match: listed once
        named("bob@x.com", "Bob", "Brown"),    // no match
    ] {
        store.insert_customer(&c).await.unwrap();
    }
    let query = CustomerQuery {
        prefix: Some("an".into()),
        limit: 2,
        ..Default::default()
    };
    let mut found = all_emails(store.as_ref(), query).await;
    assert_eq!(found.len(), 4, "{found:?}");
    found.sort();
    assert_eq!(
        found,
        vec!["ann@y.com", "annie@x.com", "yy@x.com", "zz@x.com"]
    );
}

async fn company_members_and_unassigned_by_domain(store: Arc<dyn Store>) {
    let acme = company("Acme", &["acme.com"]);
    store.insert_company(&acme).await.unwrap();
    for (email, member) in [
        ("a@acme.com", true),
        ("b@acme.com", false),
        ("c@other.com", true),
        ("d@acme.com", false),
    ] {
        let mut c = named(email, "Pat", "Doe");
        if member {
            c.profile.company_id = Some(acme.id.clone());
        }
        store.insert_customer(&c).await.unwrap();
    }
    let members = CustomerQuery {
        company_id: Some(acme.id.clone()),
        limit: 1,
        ..Default::default()
    };
    assert_eq!(
        all_emails(store.as_ref(), members).await,
        vec!["a@acme.com", "c@other.com"]
    );
    let searched = CustomerQuery {
        company_id: Some(acme.id.clone()),
        prefix: Some("c".into()),
        limit: 10,
        ..Default::default()
    };
    assert_eq!(
        all_emails(store.as_ref(), searched).await,
        vec!["c@other.com"]
    );
    let first = store
        .list_unassigned_by_domain("acme.com", None, 1)
        .await
        .unwrap();
    assert_eq!(
        first.items.iter().map(|c| c.email()).collect::<Vec<_>>(),
        vec!["b@acme.com"]
    );
    let rest = store
        .list_unassigned_by_domain("acme.com", first.next.as_deref(), 10)
        .await
        .unwrap();
    assert_eq!(
        rest.items.iter().map(|c| c.email()).collect::<Vec<_>>(),
        vec!["d@acme.com"]
    );
    assert_eq!(rest.next, None);
}

/// Every listing a customer can appear in: all, by a name prefix, a company's members, and the
/// unassigned customers of a domain (each read page by page).
async fn listings(store: &dyn Store, company_id: &str) -> [Vec<String>; 4] {
    let unassigned = {
        let (mut seen, mut after) = (Vec::new(), None::<String>);
        loop {
            let page = store
                .list_unassigned_by_domain("acme.com", after.as_deref(), 3)
                .await
                .expect("unassigned");
            seen.extend(page.items.iter().map(|c| c.email().to_string()));
            match page.next {
                Some(next) => after = Some(next),
                None => break seen,
            }
        }
    };
    let query = |company: Option<&str>, prefix: Option<&str>| CustomerQuery {
        company_id: company.map(str::to_string),
        prefix: prefix.map(str::to_string),
        limit: 3,
        ..Default::default()
    };
    [
        all_emails(store, query(None, None)).await,
        all_emails(store, query(None, Some("ann"))).await,
        all_emails(store, query(Some(company_id), None)).await,
        unassigned,
    ]
}

/// Bulk writes (imports) may index their customers later than single writes do: listings find
/// them all the same, before and after the store is told the load is over, and later changes
/// (renames, moves, new emails, deletes) leave no stale entry behind.
async fn bulk_writes_are_listed_before_and_after_the_load_finishes(store: Arc<dyn Store>) {
    let acme = company("Acme", &["acme.com"]);
    store.insert_company(&acme).await.unwrap();
    let mut written = Vec::new();
    for i in 0..12 {
        let mut c = named(&format!("p{i:02}@acme.com"), &format!("Ann{i}"), "Doe");
        if i % 3 == 0 {
            c.profile.company_id = Some(acme.id.clone());
        }
        written.push(c);
    }
    written.push(with_alternates("annex@other.org", &["ann-alt@other.org"]));
    let inserts: Vec<CustomerWrite> = written.iter().cloned().map(CustomerWrite::Insert).collect();
    let outcomes = store.write_customers(&inserts).await.unwrap();
    assert!(outcomes.iter().all(Result::is_ok), "{outcomes:?}");

    let sorted = |emails: &[&str]| {
        let mut v: Vec<String> = emails.iter().map(|e| e.to_string()).collect();
        v.sort();
        v
    };
    let all: Vec<String> = sorted(&written.iter().map(|c| c.email()).collect::<Vec<_>>());
    let members = [
        "p00@acme.com",
        "p03@acme.com",
        "p06@acme.com",
        "p09@acme.com",
    ];
    let unassigned: Vec<&str> = all
        .iter()
        .map(String::as_str)
        .filter(|e| e.ends_with("@acme.com") && !members.contains(e))
        .collect();
    // "ann" matches every first name "Ann…", and annex@ by its email (not twice for its alternate).
    let expected = [
        all.clone(),
        all.clone(),
        sorted(&members),
        sorted(&unassigned),
    ];
    let by_name = |found: &[Vec<String>; 4]| {
        let mut named = found.clone();
        named[1].sort();
        named
    };
    assert_eq!(by_name(&listings(store.as_ref(), &acme.id).await), expected);

    // Bulk changes: p01 renamed, p02 joins the company, p03 leaves it under a new email.
    let renamed = next(&written[1], |c| c.profile.first_name = Some("Zoe".into()));
    let joined = next(&written[2], |c| {
        c.profile.company_id = Some(acme.id.clone())
    });
    let moved = next(&written[3], |c| {
        c.profile.company_id = None;
        c.profile.email = email("p03-new@elsewhere.net");
    });
    let changes: Vec<CustomerWrite> = [(1, &renamed), (2, &joined), (3, &moved)]
        .into_iter()
        .map(|(i, next)| CustomerWrite::Replace {
            previous: written[i].clone(),
            next: next.clone(),
        })
        .collect();
    let outcomes = store.write_customers(&changes).await.unwrap();
    assert!(outcomes.iter().all(Result::is_ok), "{outcomes:?}");
    // A single write and a delete of customers the bulk load wrote.
    let renamed_again = next(&renamed, |c| c.profile.first_name = Some("Annabel".into()));
    store
        .replace_customer(&renamed, &renamed_again)
        .await
        .unwrap();
    store.delete_customer(&written[4]).await.unwrap();

    let mut all: Vec<String> = all
        .into_iter()
        .filter(|e| e != "p03@acme.com" && e != "p04@acme.com")
        .chain(["p03-new@elsewhere.net".to_string()])
        .collect();
    all.sort();
    // Every customer left still matches "ann": p01 is Annabel now, p03 is still Ann3.
    let named_ann = all.clone();
    let members = sorted(&[
        "p00@acme.com",
        "p02@acme.com",
        "p06@acme.com",
        "p09@acme.com",
    ]);
    let unassigned = sorted(&[
        "p01@acme.com",
        "p05@acme.com",
        "p07@acme.com",
        "p08@acme.com",
        "p10@acme.com",
        "p11@acme.com",
    ]);
    let expected = [all.clone(), named_ann, members, unassigned];
    assert_eq!(by_name(&listings(store.as_ref(), &acme.id).await), expected);
    store.finish_bulk_writes().await.unwrap();
    assert_eq!(by_name(&listings(store.as_ref(), &acme.id).await), expected);
    // Nothing left of the old name: "zoe" finds no one.
    let zoe = CustomerQuery {
        prefix: Some("zoe".into()),
        limit: 10,
        ..Default::default()
    };
    assert!(all_emails(store.as_ref(), zoe).await.is_empty());
}

async fn company_names_and_domains_are_unique(store: Arc<dyn Store>) {
    let acme = company("Acme", &["acme.com", "acme.io"]);
    store.insert_company(&acme).await.unwrap();
    assert_eq!(
        store.insert_company(&company("ACME", &[])).await,
        Err(StoreError::CompanyNameTaken("ACME".into()))
    );
    assert_eq!(
        store.insert_company(&company("Other", &["acme.io"])).await,
        Err(StoreError::DomainTaken("acme.io".into()))
    );
    assert_eq!(
        store.company_for_domain("acme.io").await.unwrap(),
        Some(acme.id.clone())
    );
    // Renaming and moving domains releases the old claims in the same write.
    let mut renamed = acme.clone();
    renamed.name = "Acme Corp".into();
    renamed.domains = vec!["acme.com".into(), "acme.dev".into()];
    renamed.version = 2;
    renamed.changed_by = Some(helpdesk_shared::domain::history::Actor::caller(
        "conformance",
    ));
    store.replace_company(&acme, &renamed).await.unwrap();
    assert_eq!(
        store.replace_company(&acme, &renamed).await,
        Err(StoreError::VersionMismatch)
    );
    // The change's history entry was written with it, once.
    let history = store.list_history(&acme.id, None, 10).await.unwrap();
    assert_eq!(history.items.len(), 1);
    let fields: Vec<&str> = history.items[0]
        .changes
        .iter()
        .map(|c| c.field.as_str())
        .collect();
    assert_eq!(fields, ["domains", "name"]);
    assert_eq!(history.items[0].changes[1].from, "Acme");
    assert_eq!(history.items[0].by, renamed.changed_by);
    assert_eq!(store.company_for_domain("acme.io").await.unwrap(), None);
    assert_eq!(
        store.company_for_domain("acme.dev").await.unwrap(),
        Some(acme.id.clone())
    );
    store
        .insert_company(&company("Acme", &["acme.io"]))
        .await
        .unwrap();
    let page = store.list_companies(None, 1).await.unwrap();
    assert_eq!(page.items[0].name, "Acme");
    let rest = store
        .list_companies(page.next.as_deref(), 10)
        .await
        .unwrap();
    assert_eq!(
        rest.items
            .iter()
            .map(|c| c.name.as_str())
            .collect::<Vec<_>>(),
        vec!["Acme Corp"]
    );
    store.delete_company(&renamed).await.unwrap();
    assert_eq!(store.get_company(&acme.id).await.unwrap(), None);
    let history = store.list_history(&acme.id, None, 10).await.unwrap();
    assert!(
        history.items.is_empty(),
        "a deleted company's history goes with it"
    );
    assert_eq!(store.company_for_domain("acme.com").await.unwrap(), None);
    store
        .insert_company(&company("acme corp", &["acme.com"]))
        .await
        .unwrap();
}

async fn field_definitions_are_versioned(store: Arc<dyn Store>) {
    let field = FieldDefinition {
        key: "plan".into(),
        label: "Plan".into(),
        field_type: FieldType::Select,
        options: vec!["free".into(), "pro".into()],
        required: false,
        view_roles: vec![],
        edit_roles: vec![],
        created_at: helpdesk_shared::now(),
        updated_at: helpdesk_shared::now(),
        version: 1,
    };
    store.insert_field(&field).await.unwrap();
    assert_eq!(
        store.insert_field(&field).await,
        Err(StoreError::FieldKeyTaken("plan".into()))
    );
    let mut changed = field.clone();
    changed.label = "Plan tier".into();
    changed.version = 2;
    store.replace_field(&field, &changed).await.unwrap();
    assert_eq!(
        store.replace_field(&field, &changed).await,
        Err(StoreError::VersionMismatch)
    );
    assert_eq!(store.list_fields().await.unwrap(), vec![changed]);
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
        store.add_note(&ann.id, n).await.unwrap();
    }
    store.add_note(&ann.id, &notes[2]).await.unwrap();
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

// Tickets, messages and inbound records ------------------------------------------------------

fn ticket(id: &str, customer_id: &str, created_at: &str) -> Ticket {
    Ticket {
        id: id.into(),
        subject: format!("subject of {id}"),
        customer_id: customer_id.into(),
        customer_email: "ann@example.com".into(),
        company_id: None,
        status: TicketStatus::Open,
        message_count: 1,
        last_message_at: stamp(created_at),
        follow_up_of: None,
        moved_by: None,
        changed_by: None,
        last_agent_message: None,
        created_at: stamp(created_at),
        updated_at: stamp(created_at),
        version: 1,
    }
}

fn message(id: &str, ticket_id: &str, message_id: &str, at: &str) -> TicketMessage {
    TicketMessage {
        id: id.into(),
        ticket_id: ticket_id.into(),
        message_id: message_id.into(),
        from: Mailbox {
            name: Some("Ann".into()),
            email: "ann@example.com".into(),
        },
        reply_to: vec![],
        to: vec![],
        cc: vec![],
        date: None,
        received_at: stamp(at),
        subject: "hello".into(),
        body: MessageBody {
            text: format!("text of {id}"),
            html: None,
            reply_text: format!("text of {id}"),
        },
        body_key: None,
        attachments: vec![],
        thread_reason: ThreadReason::New,
        unauthenticated: false,
        kind: Default::default(),
        author: None,
        delivery: None,
        in_reply_to: None,
        references: Vec::new(),
    }
}

fn record(id: &str, status: InboundStatus, at: &str) -> InboundRecord {
    InboundRecord {
        id: id.into(),
        status,
        reason: None,
        received_at: stamp(at),
        raw_key: format!("inbound/{id}"),
        from: None,
        subject: None,
        message_id: None,
        customer_email: None,
        customer_created: false,
        ticket_id: None,
        thread_reason: None,
        verdicts: Verdicts::default(),
    }
}

fn write(ticket: TicketWrite, message: TicketMessage) -> MessageWrite {
    let inbound = record(&message.id, InboundStatus::Ingested, &message.received_at);
    MessageWrite {
        ticket,
        message,
        inbound: Some(inbound),
    }
}

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
    store.insert_erasure(&erasure).await.unwrap();
    assert!(matches!(
        store.insert_erasure(&erasure).await,
        Err(StoreError::Exists(_))
    ));
    let mut done = erasure.clone();
    done.status = ErasureStatus::Succeeded;
    done.emails.clear();
    done.version = 2;
    store.replace_erasure(&erasure, &done).await.unwrap();
    assert_eq!(
        store.replace_erasure(&erasure, &done).await,
        Err(StoreError::VersionMismatch)
    );
    assert_eq!(store.get_erasure("e1").await.unwrap(), Some(done));
    let hash = email_hash(&salt, " ANN@acme.com ");
    assert_eq!(
        hash, erasure.email_hashes[0],
        "hashes are of the normalised address"
    );
    assert!(!store.is_suppressed(&hash).await.unwrap());
    store.suppress(&hash, "e1").await.unwrap();
    store.suppress(&hash, "e1").await.unwrap();
    assert!(store.is_suppressed(&hash).await.unwrap());
    assert!(
        !store
            .is_suppressed(&email_hash(&salt, "bob@acme.com"))
            .await
            .unwrap()
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
    assert_eq!(store.get_merge("m0").await.unwrap(), None);
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
    assert_eq!(store.get_merge("m1").await.unwrap(), Some(m1.clone()));
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
    assert_eq!(store.get_merge("m2").await.unwrap(), None);

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
    assert_eq!(store.get_merge("m1").await.unwrap(), Some(undoing));
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
    store.add_note(&bob.id, &n).await.unwrap();
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

macro_rules! conformance {
    ($($test:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $test() {
                    super::$test(crate::support::sqlite_store()).await;
                }
            )*
        }
        mod dynamodb {
            $(
                #[tokio::test]
                async fn $test() {
                    super::$test(crate::support::dynamo_store().await).await;
                }
            )*
        }
    };
}

conformance!(
    finds_by_primary_and_alternate,
    emails_are_unique_across_primary_and_alternate,
    replace_needs_the_current_version,
    history_is_written_with_each_change,
    primary_email_change_keeps_notes_and_frees_the_old_email,
    alternate_can_be_promoted_to_primary,
    alternate_changes_claim_and_release,
    delete_releases_emails_and_notes,
    lists_every_customer_once_in_email_order,
    prefix_search_covers_email_and_names_once,
    company_members_and_unassigned_by_domain,
    bulk_writes_are_listed_before_and_after_the_load_finishes,
    company_names_and_domains_are_unique,
    field_definitions_are_versioned,
    notes_are_newest_first_and_idempotent,
    concurrent_creates_of_one_email_have_one_winner,
    concurrent_updates_from_one_version_have_one_winner,
    messages_store_atomically_with_ticket_claim_and_record,
    tickets_list_newest_first_per_customer,
    inbound_records_list_newest_first_by_status,
    erasure_operations,
    merge_writes_are_all_or_nothing,
    agent_messages_delivery_and_ticket_history,
);

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
