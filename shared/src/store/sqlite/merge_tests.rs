//! The backlog of listing keys through merges in the middle of a bulk load: nothing is lost,
//! nothing stale is left, whichever table a key is in when it is read or changed.

use super::*;
use crate::domain::customer::Profile;
use crate::domain::email::Email;
use crate::ports::store::CustomerQuery;

fn store_merging_at(merge_at: usize) -> SqliteStore {
    let dir =
        std::env::temp_dir().join(format!("helpdesk-merge-{}", crate::domain::clock::new_id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut store = SqliteStore::open(&dir.join("helpdesk.db")).unwrap();
    store.merge_at = merge_at;
    store
}

fn person(i: usize) -> Customer {
    let now = crate::domain::clock::now();
    Customer {
        id: crate::domain::clock::new_id(),
        profile: Profile {
            email: Email::parse(&format!("p{i:02}@acme.test")).unwrap(),
            first_name: Some(format!("Ann{i:02}")),
            last_name: Some("Lee".into()),
            company_id: i.is_multiple_of(4).then(|| "c1".to_string()),
            ..Profile::default()
        },
        welcome: None,
        import_mark: None,
        blocked: None,
        undeliverable: None,
        complained: None,
        portal: Default::default(),
        avatar_image: None,
        created_by: None,
        changed_by: None,
        created_at: now.clone(),
        updated_at: now,
        version: 1,
    }
}

async fn count(store: &SqliteStore, table: &'static str) -> i64 {
    store
        .with(move |c| {
            c.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
                .map_err(unavailable)
        })
        .await
        .unwrap()
}

async fn listed(store: &SqliteStore, company: Option<&str>, prefix: Option<&str>) -> Vec<String> {
    let mut query = CustomerQuery {
        company_id: company.map(str::to_string),
        prefix: prefix.map(str::to_string),
        blocked: false,
        limit: 5,
        after: None,
    };
    let mut emails = Vec::new();
    loop {
        let page = store.list_customers(&query).await.unwrap();
        emails.extend(page.items.iter().map(|c| c.email().to_string()));
        match page.next {
            Some(next) => query.after = Some(next),
            None => return emails,
        }
    }
}

#[tokio::test]
async fn keys_survive_merges_in_the_middle_of_a_load() {
    let store = store_merging_at(5);
    let people: Vec<Customer> = (0..12).map(person).collect();
    for batch in people.chunks(4) {
        let writes: Vec<CustomerWrite> = batch.iter().cloned().map(CustomerWrite::Insert).collect();
        let outcomes = store.write_customers(&writes).await.unwrap();
        assert!(outcomes.iter().all(Result::is_ok));
    }
    // 4 staged, then 8 (merged: at least 5 and the table's size), then 4 waiting.
    assert_eq!(count(&store, "customer_keys").await, 8 * 3);
    assert_eq!(count(&store, "customer_keys_backlog").await, 4);
    let all: Vec<String> = people.iter().map(|c| c.email().to_string()).collect();
    assert_eq!(listed(&store, None, Some("ann")).await, all);
    let members: Vec<String> = ["p00@acme.test", "p04@acme.test", "p08@acme.test"]
        .map(String::from)
        .to_vec();
    assert_eq!(listed(&store, Some("c1"), None).await, members);

    // A merged customer renamed by a bulk write (5 waiting now: no merge), and a waiting one
    // by a single write.
    let renamed = |i: usize| {
        let mut next = people[i].clone();
        next.profile.first_name = Some(format!("Zed{i:02}"));
        next.version = 2;
        next
    };
    let bulk = [CustomerWrite::Replace {
        previous: people[1].clone(),
        next: renamed(1),
    }];
    assert!(store.write_customers(&bulk).await.unwrap()[0].is_ok());
    assert_eq!(count(&store, "customer_keys_backlog").await, 5);
    store
        .replace_customer(&people[9], &renamed(9))
        .await
        .unwrap();
    let zed = ["p01@acme.test", "p09@acme.test"]
        .map(String::from)
        .to_vec();
    assert_eq!(listed(&store, None, Some("zed")).await, zed);
    let not_renamed: Vec<String> = all.iter().filter(|e| !zed.contains(e)).cloned().collect();
    assert_eq!(listed(&store, None, Some("ann")).await, not_renamed);
    // p01's unchanged keys (last name, domain) are in the index and in its backlog row, which
    // holds all its keys: it is still listed once.
    assert_eq!(listed(&store, None, Some("lee")).await, all);
    let unassigned = store
        .list_unassigned_by_domain("acme.test", None, 50)
        .await
        .unwrap();
    assert_eq!(unassigned.items.len(), 9, "{:?}", unassigned.items);
    assert_eq!(listed(&store, Some("c1"), None).await, members);

    store.finish_bulk_writes().await.unwrap();
    assert_eq!(count(&store, "customer_keys_backlog").await, 0);
    // Exactly each customer's current keys: nothing of the old names is left.
    assert_eq!(count(&store, "customer_keys").await, 12 * 3);
    assert_eq!(listed(&store, None, Some("zed")).await, zed);
    assert_eq!(listed(&store, None, Some("ann")).await, not_renamed);
}
