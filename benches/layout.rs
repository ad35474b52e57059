//! Layout benchmark (`cargo bench --bench layout`): the table's layout-2026-12 migration and
//! the domain back-fill it changed, then the merges-2026-12 migration, through the metering
//! proxy in front of dynoxide (which counts as DynamoDB does).
//!
//! The table is seeded as the layout before 2026-12 wrote it: customers over many email
//! domains, none with a company, each in the group index under `UNASSIGNED#<domain>` with its
//! JSON as a string attribute, and inbound records without a sender key. Printed: what finding
//! one domain's customers reads in the old layout (the group index) and in the new one (a
//! filtered read of the listing), a whole back-fill in each, and the migration itself (time,
//! items per second, requests, WRU, RRU, dollars). Then merges recorded as before #25 (no
//! memberships, no expiry) and merges-2026-12, against its floor in the same run: a bare Scan
//! of the whole table. Loops are bounded by count; nothing here asserts a time.

#[path = "support/report.rs"]
mod report;

#[path = "support/metering_proxy.rs"]
mod metering_proxy;

#[allow(dead_code)]
#[path = "support/unit_costs.rs"]
mod unit_costs;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};
use helpdesk_shared::domain::caller::{Caller, Role};
use helpdesk_shared::domain::customer::Profile;
use helpdesk_shared::domain::email::Email;
use helpdesk_shared::domain::history::Actor;
use helpdesk_shared::domain::inbound::{InboundRecord, InboundStatus, Verdicts};
use helpdesk_shared::domain::migration::{LAYOUT_2026_12, MERGES_2026_12};
use helpdesk_shared::domain::patch::Command;
use helpdesk_shared::ports::store::Store;
use helpdesk_shared::services::customers::customer_record;
use helpdesk_shared::store::dynamodb::LIST_SHARDS;
use serde_json::json;
use unit_costs::Units;

const CUSTOMERS: usize = 100_000;
const DOMAINS: usize = 1_000;
const INBOUND: usize = 10_000;
/// Merges recorded as before #25, each of two seeded customers.
const OLD_MERGES: usize = 200;
/// Seeding writes this many batches of 25 at once.
const SEED_CONCURRENCY: usize = 8;
const NO_DEADLINE: Duration = Duration::from_secs(24 * 3600);

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    println!("# helpdesk layout benchmark\n");
    println!("machine: {}", report::machine());
    runtime.block_on(layout());
}

fn s(text: impl Into<String>) -> AttributeValue {
    AttributeValue::S(text.into())
}

fn domain(i: usize) -> String {
    format!("d{:04}.test", i % DOMAINS)
}

async fn layout() {
    let Some((fake, table)) = metering_proxy::on_new_table("bench-layout").await else {
        println!("\nlayout: {}", metering_proxy::NOT_MEASURED);
        return;
    };
    let client = fake.client();
    let store: Arc<dyn Store> = Arc::new(helpdesk_shared::store::dynamodb::DynamoStore::new(
        client.clone(),
        &table,
    ));
    let dir = std::env::temp_dir().join(format!("helpdesk-bench-layout-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let mail = Arc::new(helpdesk_shared::objects::FolderStore::new(dir.clone()));
    let helpdesk = helpdesk_shared::app::api_state(
        &store,
        mail.clone(),
        mail,
        helpdesk_shared::services::replies::SupportAddress::fallback(),
        Arc::new(helpdesk_shared::http::auth::JwtClaimsAuthenticator),
        helpdesk_shared::http::Links::default(),
    );
    let admin = Caller::new("bench-admin", [Role::Admin], true);

    let seeding = Instant::now();
    seed_old_layout(&client, &table).await;
    println!(
        "\nseeded {CUSTOMERS} customers over {DOMAINS} domains (no company) and {INBOUND} inbound records, as the layout before 2026-12 wrote them, in {:.1} s\n",
        seeding.elapsed().as_secs_f64()
    );
    println!("{}", unit_costs::TIMED_HEADER);
    let row = |name: &str, took: Duration, before: Units| {
        println!("{}", Units::of(&fake).per(before, 1).timed_row(name, took));
    };

    // What the back-fill read before 2026-12: the domain's partition of the group index, in
    // pages of 101 (its page of 100 and one to see whether there is more).
    let (before, started) = (Units::of(&fake), Instant::now());
    let found = read_group(&client, &table, &format!("UNASSIGNED#{}", domain(7))).await;
    row(
        &format!("find one domain's {found} customers: group index (before)"),
        started.elapsed(),
        before,
    );
    // What it reads now: every shard of the listing, filtered by the domain.
    let (before, started) = (Units::of(&fake), Instant::now());
    let page = store
        .list_unassigned_by_domain(&domain(8), None, 100)
        .await
        .expect("listing");
    let mut found = page.items.len();
    let mut next = page.next;
    while let Some(after) = next {
        let page = store
            .list_unassigned_by_domain(&domain(8), Some(&after), 100)
            .await
            .expect("listing");
        found += page.items.len();
        next = page.next;
    }
    row(
        &format!("find one domain's {found} customers: filtered listing (now)"),
        started.elapsed(),
        before,
    );
    // A whole back-fill now: the company, the domain, each customer assigned.
    let company = helpdesk
        .companies
        .create_company(
            &admin,
            Command::parse(json!({"name": "Bench"})).expect("input"),
        )
        .await
        .expect("company");
    let (before, started) = (Units::of(&fake), Instant::now());
    let added = helpdesk
        .companies
        .add_company_domain(
            &admin,
            &helpdesk_shared::domain::ids::CompanyId::of(company.id.as_str()),
            Command::parse(json!({"domain": domain(9), "apply_to_existing": true})).expect("input"),
        )
        .await
        .expect("back-fill");
    row(
        &format!(
            "add a domain, assign its {} customers (now)",
            added.assigned_customers
        ),
        started.elapsed(),
        before,
    );

    // The migration: every shard of the listing, then the inbound records; then once more.
    let migrate = |name: &'static str| {
        let (helpdesk, admin) = (&helpdesk, &admin);
        async move {
            helpdesk.migrations.start(admin, name).await.expect("start");
            helpdesk
                .migrations
                .run(name, NO_DEADLINE)
                .await
                .expect("migration")
        }
    };
    let (before, started) = (Units::of(&fake), Instant::now());
    let done = migrate(LAYOUT_2026_12).await;
    let took = started.elapsed();
    row(
        &format!(
            "migration {LAYOUT_2026_12} ({:?}: {} read, {} rewritten, {:.0} items/s)",
            done.status,
            done.counts.read,
            done.counts.rewritten,
            done.counts.rewritten as f64 / took.as_secs_f64()
        ),
        took,
        before,
    );
    let (before, started) = (Units::of(&fake), Instant::now());
    let again = migrate(LAYOUT_2026_12).await;
    row(
        &format!("the migration again ({} rewritten)", again.counts.rewritten),
        started.elapsed(),
        before,
    );
    let left = read_group(&client, &table, &format!("UNASSIGNED#{}", domain(7))).await;
    println!("\ngroup index entries left for a migrated domain: {left}");

    // merges-2026-12: merges as recorded before #25, found by scanning the whole table.
    seed_old_merges(&helpdesk, &admin, &client, &table).await;
    println!("\n{OLD_MERGES} merges recorded as before #25 (no memberships, no expiry)\n");
    println!("{}", unit_costs::TIMED_HEADER);
    let (before, started) = (Units::of(&fake), Instant::now());
    let scanned = scan_all(&client, &table).await;
    row(
        &format!("baseline: a bare Scan of the table ({scanned} items)"),
        started.elapsed(),
        before,
    );
    let (before, started) = (Units::of(&fake), Instant::now());
    let done = migrate(MERGES_2026_12).await;
    let took = started.elapsed();
    row(
        &format!(
            "migration {MERGES_2026_12} ({:?}: {} merges read, {} rewritten, {:.0} table items/s)",
            done.status,
            done.counts.read,
            done.counts.rewritten,
            scanned as f64 / took.as_secs_f64()
        ),
        took,
        before,
    );
    assert_eq!(done.counts.rewritten, OLD_MERGES as u64, "every old merge");
    let (before, started) = (Units::of(&fake), Instant::now());
    let again = migrate(MERGES_2026_12).await;
    row(
        &format!("the migration again ({} rewritten)", again.counts.rewritten),
        started.elapsed(),
        before,
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Merges of two seeded customers each, then stripped of what #25 added.
async fn seed_old_merges(
    helpdesk: &helpdesk_shared::http::AppState,
    admin: &Caller,
    client: &aws_sdk_dynamodb::Client,
    table: &str,
) {
    use helpdesk_shared::services::merges::MergeOutcome;
    for m in 0..OLD_MERGES {
        let (target, source) = (2 * m, 2 * m + 1);
        let target = Email::parse(&format!("c{target:06}@{}", domain(target))).expect("email");
        let source = format!("c{source:06}@{}", domain(source));
        let outcome = helpdesk
            .merges
            .merge(
                admin,
                &target,
                Command::parse(json!({"from": [source]})).expect("input"),
            )
            .await
            .expect("merge");
        let MergeOutcome::Started(merge) = outcome else {
            panic!("not a merge");
        };
        for customer_id in merge.customer_ids() {
            client
                .delete_item()
                .table_name(table)
                .key("pk", s(format!("MERGES#{customer_id}")))
                .key("sk", s(&merge.id))
                .send()
                .await
                .expect("membership");
        }
        client
            .update_item()
            .table_name(table)
            .key("pk", s(format!("MERGE#{}", merge.id)))
            .key("sk", s("#"))
            .update_expression("REMOVE expires_at")
            .send()
            .await
            .expect("expiry");
    }
}

/// Items in the table, read by a bare Scan (at most 100,000 pages).
async fn scan_all(client: &aws_sdk_dynamodb::Client, table: &str) -> usize {
    let mut items = 0;
    let mut start = None;
    for _ in 0..100_000 {
        let page = client
            .scan()
            .table_name(table)
            .consistent_read(true)
            .set_exclusive_start_key(start)
            .send()
            .await
            .expect("scan");
        items += page.items().len();
        start = page.last_evaluated_key.clone();
        if start.is_none() {
            break;
        }
    }
    items
}

/// Every item of one `by_group` partition, read as the back-fill before 2026-12 read it: pages
/// of 101 from the last sort key (at most 10,000 pages).
async fn read_group(client: &aws_sdk_dynamodb::Client, table: &str, group: &str) -> usize {
    let mut found = 0;
    let mut after: Option<String> = None;
    for _ in 0..10_000 {
        let mut query = client
            .query()
            .table_name(table)
            .index_name("by_group")
            .expression_attribute_values(":p", s(group))
            .limit(101);
        query = match &after {
            Some(position) => query
                .key_condition_expression("group_pk = :p AND list_sk > :after")
                .expression_attribute_values(":after", s(position)),
            None => query.key_condition_expression("group_pk = :p"),
        };
        let page = query.send().await.expect("query");
        found += page.items().len();
        let stopped = page
            .last_evaluated_key()
            .and_then(|key| key.get("list_sk"))
            .and_then(|value| value.as_s().ok())
            .cloned();
        match stopped {
            Some(position) => after = Some(position),
            None => break,
        }
    }
    found
}

/// Customers and inbound records as the layout before 2026-12 wrote them.
async fn seed_old_layout(client: &aws_sdk_dynamodb::Client, table: &str) {
    use futures::StreamExt;
    let by = Actor::caller("bench-admin");
    let mut items: Vec<HashMap<String, AttributeValue>> = Vec::with_capacity(CUSTOMERS + INBOUND);
    for i in 0..CUSTOMERS {
        let address = format!("c{i:06}@{}", domain(i));
        let profile = Profile {
            email: Email::parse(&address).expect("a valid email"),
            first_name: Some(format!("Ann{}", i % 500)),
            ..Profile::default()
        };
        let customer = customer_record(profile, false, by.clone());
        let email = customer.email().to_string();
        let shard = helpdesk_shared::stable_hash(&email) % u64::from(LIST_SHARDS);
        let mut item = HashMap::from([
            ("pk".to_string(), s(format!("EMAIL#{email}"))),
            ("sk".into(), s("#")),
            ("kind".into(), s("customer")),
            ("customer_id".into(), s(&customer.id)),
            (
                "version".into(),
                AttributeValue::N(customer.version.to_string()),
            ),
            (
                "doc".into(),
                s(serde_json::to_string(&customer).expect("json")),
            ),
            ("list_pk".into(), s(format!("CUSTOMERS#{shard}"))),
            ("list_sk".into(), s(&email)),
            ("group_pk".into(), s(format!("UNASSIGNED#{}", domain(i)))),
        ]);
        if let Some(first) = customer.first_name_key() {
            item.insert(
                "first_sk".into(),
                s(helpdesk_shared::ports::store::name_key(&first, &email)),
            );
        }
        items.push(item);
    }
    for i in 0..INBOUND {
        let record = InboundRecord {
            id: format!("ses-{i:06}"),
            status: InboundStatus::Ignored,
            reason: Some("auto-submitted".into()),
            received_at: helpdesk_shared::now(),
            raw_key: format!("inbound/ses-{i:06}"),
            from: Some(format!("c{i:06}@{}", domain(i))),
            subject: Some("Out of office".into()),
            message_id: None,
            customer_email: None,
            customer_created: false,
            ticket_id: None,
            thread_reason: None,
            verdicts: Verdicts::default(),
        };
        items.push(HashMap::from([
            ("pk".to_string(), s(format!("INBOUND#{}", record.id))),
            ("sk".into(), s("#")),
            (
                "doc".into(),
                s(serde_json::to_string(&record).expect("json")),
            ),
            ("list_pk".into(), s("INBOUND")),
            ("list_sk".into(), s(record.list_key())),
            ("group_pk".into(), s("INBOUND#ignored")),
        ]));
    }
    let batches: Vec<Vec<WriteRequest>> = items
        .chunks(25)
        .map(|chunk| {
            chunk
                .iter()
                .map(|item| {
                    let put = PutRequest::builder()
                        .set_item(Some(item.clone()))
                        .build()
                        .expect("put");
                    WriteRequest::builder().put_request(put).build()
                })
                .collect()
        })
        .collect();
    futures::stream::iter(batches)
        .for_each_concurrent(SEED_CONCURRENCY, |batch| async move {
            let written = client
                .batch_write_item()
                .request_items(table, batch)
                .send()
                .await
                .expect("seed batch");
            assert!(
                written.unprocessed_items().is_none_or(|u| u.is_empty()),
                "dynoxide processes every item"
            );
        })
        .await;
}
