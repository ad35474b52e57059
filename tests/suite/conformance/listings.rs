//! Listings: every customer once in order, by prefix, by company, by domain, during and after bulk loads.

use super::*;

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

/// The walk an export takes: every customer once, in pages of at most the limit, in no
/// particular order, however the customers fall into the store's shards.
async fn walks_every_customer_once(store: Arc<dyn Store>) {
    let mut emails: Vec<String> = (0..150)
        .map(|i| format!("walker{i:03}@d{}.com", i % 7))
        .collect();
    for email in &emails {
        store.insert_customer(&customer(email)).await.unwrap();
    }
    let mut walked = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..1_000 {
        let page = store
            .walk_customers(cursor.as_deref(), 9)
            .await
            .expect("walk");
        assert!(page.items.len() <= 9);
        walked.extend(page.items.iter().map(|c| c.email().to_string()));
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    walked.sort();
    emails.sort();
    assert_eq!(walked, emails);
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

conformance!(
    lists_every_customer_once_in_email_order,
    walks_every_customer_once,
    prefix_search_covers_email_and_names_once,
    company_members_and_unassigned_by_domain,
    bulk_writes_are_listed_before_and_after_the_load_finishes,
);
