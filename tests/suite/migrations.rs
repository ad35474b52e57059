//! Layout migrations. Items written in the layout before 2026-12 (customers in the group
//! index under `UNASSIGNED#<domain>`, inbound records without a sender key, JSON as a string
//! attribute) are read, rewritten by the migration job and then served as new ones. The cloud
//! runs are on a dynoxide table, directly and through the metering proxy; SQLite, whose file is
//! migrated when it opens, finds nothing to rewrite.

use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use helpdesk_shared::domain::inbound::{InboundRecord, InboundStatus, Verdicts};
use helpdesk_shared::domain::migration::LAYOUT_2026_12;
use serde_json::{Value, json};

use crate::metering_proxy::MeteringProxy;
use crate::support::{As, LambdaApi, Place, dynamo_client, metered_api};

const PATH: &str = "/migrations/layout-2026-12";

fn s(text: &str) -> AttributeValue {
    AttributeValue::S(text.into())
}

/// A table with raw access, to write items as older versions did and look at what is stored.
struct Table {
    client: aws_sdk_dynamodb::Client,
    name: String,
}

impl Table {
    /// The dynoxide table of an API on DynamoDB.
    fn of(api: &LambdaApi) -> Self {
        let Place::Cloud { table, .. } = &api.place else {
            unreachable!("on_dynamodb keeps a dynoxide table")
        };
        Table {
            client: dynamo_client(),
            name: table.clone(),
        }
    }

    async fn item(&self, pk: &str) -> std::collections::HashMap<String, AttributeValue> {
        self.client
            .get_item()
            .table_name(&self.name)
            .key("pk", s(pk))
            .key("sk", s("#"))
            .consistent_read(true)
            .send()
            .await
            .unwrap()
            .item
            .unwrap_or_else(|| panic!("no item {pk}"))
    }

    /// Rewrites the item at `pk` as it was written before 2026-12: `change` edits it, and its
    /// document becomes a string attribute.
    async fn make_old(
        &self,
        pk: &str,
        change: impl FnOnce(&mut std::collections::HashMap<String, AttributeValue>),
    ) {
        let mut item = self.item(pk).await;
        if let Some(AttributeValue::B(doc)) = item.get("doc") {
            let text = String::from_utf8(doc.as_ref().to_vec()).unwrap();
            item.insert("doc".into(), s(&text));
        }
        change(&mut item);
        self.client
            .put_item()
            .table_name(&self.name)
            .set_item(Some(item))
            .send()
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn old_items_on_dynoxide_are_migrated_and_served() {
    let api = LambdaApi::on_dynamodb().await;
    let table = Table::of(&api);
    migrate_old_items(&api, &table).await;
}

#[tokio::test]
async fn old_items_are_migrated_and_the_second_run_reads_the_listing() {
    let (metered, name, api) = metered_api(Duration::ZERO, 0.0, "migration").await;
    let table = Table {
        client: dynamo_client(),
        name,
    };
    migrate_old_items(&api, &table).await;
    // What the second run read was charged to the listing.
    let capacity = metered.capacity();
    assert!(capacity["capacity"]["listing"]["rru"].as_f64().unwrap() > 0.0);
}

async fn migrate_old_items(api: &LambdaApi, table: &Table) {
    for email in ["ann@old.test", "bob@old.test"] {
        let created = api
            .post(
                As::Admin,
                "/customers",
                json!({"email": email, "first_name": "Old"}),
            )
            .await;
        assert_eq!(created.status, 201, "{}", created.body);
        // A company-less customer is in no group any more; before 2026-12 it was.
        assert!(
            !table
                .item(&format!("EMAIL#{email}"))
                .await
                .contains_key("group_pk")
        );
        table
            .make_old(&format!("EMAIL#{email}"), |item| {
                item.insert("group_pk".into(), s("UNASSIGNED#old.test"));
            })
            .await;
    }
    // Ann's mail that made no ticket, recorded before inbound records had a sender key.
    let record = InboundRecord {
        id: "ses-old-1".into(),
        status: InboundStatus::Ignored,
        reason: Some("auto-submitted".into()),
        received_at: helpdesk_shared::now(),
        raw_key: "inbound/ses-old-1".into(),
        from: Some("Ann@Old.test".into()),
        subject: Some("Out of office".into()),
        message_id: None,
        customer_email: None,
        customer_created: false,
        ticket_id: None,
        thread_reason: None,
        verdicts: Verdicts::default(),
    };
    api.store.insert_inbound(&record).await.unwrap();
    table
        .make_old("INBOUND#ses-old-1", |item| {
            item.remove("first_sk");
        })
        .await;
    // Old items are read as they are...
    let ann = api.get(As::Agent, "/customers/ann@old.test").await;
    assert_eq!(ann.body["first_name"], "Old", "{}", ann.body);
    // ...but without its sender key, Ann's export (and erasure) cannot find her record.
    let export = api.get(As::Admin, "/customers/ann@old.test/export").await;
    assert_eq!(export.body["inbound"], json!([]), "{}", export.body);

    // Only admins run migrations, and only those this version knows.
    api.post(As::Agent, PATH, json!({}))
        .await
        .assert_problem_status(403);
    api.get(As::Admin, PATH).await.assert_problem_status(404);
    api.post(As::Admin, "/migrations/drop-everything", json!({}))
        .await
        .assert_problem_status(404);
    let started = api.post(As::Admin, PATH, json!({})).await;
    assert_eq!(started.status, 202, "{}", started.body);
    assert_eq!(started.body["status"], "running");
    assert_eq!(started.header("location"), Some(PATH));
    // Asked again while it runs: the same run.
    let again = api.post(As::Admin, PATH, json!({})).await;
    assert_eq!(again.body["started_at"], started.body["started_at"]);

    // Runs stopped after every step (page of one item) go on from their checkpoint: every
    // listing shard, then the inbound records, each visited once.
    let service = api.services().migrations.with_page(1);
    let runs = crate::support::run_migration_in_steps(&service, LAYOUT_2026_12).await;
    let shards = helpdesk_shared::store::dynamodb::LIST_SHARDS as usize;
    assert!(runs > shards, "one run per step: {runs}");
    let done = api.get(As::Admin, PATH).await;
    assert_eq!(done.body["status"], "succeeded", "{}", done.body);
    assert_eq!(done.body["counts"]["rewritten"], 3, "{}", done.body);
    assert!(done.body["finished_at"].is_string());
    assert!(
        done.body.get("cursor").is_none(),
        "the position stays inside"
    );

    // Stored in the new layout...
    for email in ["ann@old.test", "bob@old.test"] {
        let item = table.item(&format!("EMAIL#{email}")).await;
        assert!(!item.contains_key("group_pk"), "{email}: {item:?}");
        assert!(matches!(item.get("doc"), Some(AttributeValue::B(_))));
    }
    let inbound = table.item("INBOUND#ses-old-1").await;
    assert!(inbound.contains_key("first_sk"), "{inbound:?}");
    // ...and served: the export finds Ann's record, the domain back-fill finds both.
    let export = api.get(As::Admin, "/customers/ann@old.test/export").await;
    let ids: Vec<&Value> = export.body["inbound"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| &r["id"])
        .collect();
    assert_eq!(ids, [&json!("ses-old-1")], "{}", export.body);
    let company = api
        .post(As::Admin, "/companies", json!({"name": "Old Ltd"}))
        .await
        .body;
    let added = api
        .post(
            As::Admin,
            &format!("/companies/{}/domains", company["id"].as_str().unwrap()),
            json!({"domain": "old.test", "apply_to_existing": true}),
        )
        .await;
    assert_eq!(added.body["assigned_customers"], 2, "{}", added.body);

    // A migration that succeeded runs again on request (through the jobs function, as the
    // table's stream wakes it) and finds nothing left to rewrite.
    let rerun = api.post(As::Admin, PATH, json!({})).await;
    assert_eq!(rerun.status, 202);
    assert_eq!(rerun.body["status"], "running");
    let answer = crate::support::run_job(api, "migration", LAYOUT_2026_12).await;
    assert_eq!(answer["outcomes"][0]["status"], "succeeded", "{answer}");
    let second = api.get(As::Admin, PATH).await;
    assert_eq!(second.body["counts"]["rewritten"], 0, "{}", second.body);
}

#[tokio::test]
async fn a_local_data_file_has_nothing_to_migrate() {
    let api = LambdaApi::on_sqlite().await;
    api.create(json!({"email": "ann@old.test"})).await;
    let started = api.post(As::Admin, PATH, json!({})).await;
    assert_eq!(started.status, 202, "{}", started.body);
    let answer = crate::support::run_job(&api, "migration", LAYOUT_2026_12).await;
    assert_eq!(answer["outcomes"][0]["status"], "succeeded", "{answer}");
    let done = api.get(As::Admin, PATH).await;
    assert_eq!(done.body["status"], "succeeded");
    assert_eq!(done.body["counts"], json!({"read": 0, "rewritten": 0}));
}

/// Company-less customers are found by a filtered read of the listing: every one of a domain
/// over many shards and pages, none of a domain that only ends the same, none with a company.
#[tokio::test]
async fn domain_back_fill_reads_the_listing_and_the_group_index_holds_members_only() {
    let (metered, _, api) = metered_api(Duration::ZERO, 0.0, "back-fill").await;
    let other = api
        .post(As::Admin, "/companies", json!({"name": "Other"}))
        .await
        .body;
    let mut batch = Vec::new();
    for i in 0..260 {
        let email = match i % 4 {
            0 | 1 => format!("c{i}@acme.test"),
            2 => format!("c{i}@acme.test.au"),
            _ => format!("c{i}@xacme.test"),
        };
        batch.push(json!({"email": email}));
    }
    // One of acme.test's already belongs to another company.
    batch.push(json!({"email": "taken@acme.test", "company_id": other["id"]}));
    for chunk in batch.chunks(100) {
        let written = api
            .post(As::Admin, "/customers/batch", json!({"customers": chunk}))
            .await;
        assert_eq!(written.status, 200, "{}", written.body);
    }
    let group = |metered: &MeteringProxy| {
        metered.capacity()["capacity"]["by_group"]["wru"]
            .as_f64()
            .unwrap()
    };
    // 261 customers, one with a company: one group index entry.
    assert_eq!(group(&metered), 1.0);
    let acme = api
        .post(As::Admin, "/companies", json!({"name": "Acme"}))
        .await
        .body;
    let added = api
        .post(
            As::Admin,
            &format!("/companies/{}/domains", acme["id"].as_str().unwrap()),
            json!({"domain": "acme.test", "apply_to_existing": true}),
        )
        .await;
    assert_eq!(added.body["assigned_customers"], 130, "{}", added.body);
    let members = api
        .get(
            As::Agent,
            &format!(
                "/customers?company_id={}&limit=200",
                acme["id"].as_str().unwrap()
            ),
        )
        .await;
    let emails: Vec<&str> = members.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["email"].as_str().unwrap())
        .collect();
    assert_eq!(emails.len(), 130);
    assert!(
        emails.iter().all(|e| e.ends_with("@acme.test")),
        "{emails:?}"
    );
    assert_eq!(
        api.get(As::Agent, "/customers/taken@acme.test").await.body["company_id"],
        other["id"]
    );
}

/// Merges recorded before merge memberships (#25) had no `MERGES#` items and no expiry: an
/// export (and an erasure) did not find them, and nothing ended them. `merges-2026-12` gives
/// them both, once.
#[tokio::test]
async fn merges_recorded_before_memberships_are_found_after_the_migration() {
    use helpdesk_shared::domain::migration::MERGES_2026_12;
    let api = LambdaApi::on_dynamodb().await;
    let table = Table::of(&api);
    let ann = api.create(json!({"email": "ann@old.test"})).await;
    let annie = api.create(json!({"email": "annie@old.test"})).await;
    // More items than one step's Scan reads (25 a page of one), so that it resumes.
    for n in 0..30 {
        api.create(json!({"email": format!("other{n}@old.test")}))
            .await;
    }
    let merged = api
        .post(
            As::Agent,
            "/customers/ann@old.test/merge",
            json!({"from": ["annie@old.test"]}),
        )
        .await;
    assert_eq!(merged.status, 202, "{}", merged.body);
    let merge_id = merged.body["merge_id"].as_str().unwrap().to_string();
    let merge_pk = format!("MERGE#{merge_id}");
    let expires_at = table.item(&merge_pk).await["expires_at"].clone();
    // As before #25: no memberships, no expiry.
    for customer in [&ann, &annie] {
        table
            .client
            .delete_item()
            .table_name(&table.name)
            .key(
                "pk",
                s(&format!("MERGES#{}", customer["id"].as_str().unwrap())),
            )
            .key("sk", s(&merge_id))
            .send()
            .await
            .unwrap();
    }
    let mut old = table.item(&merge_pk).await;
    old.remove("expires_at");
    table
        .client
        .put_item()
        .table_name(&table.name)
        .set_item(Some(old))
        .send()
        .await
        .unwrap();
    let merges_in_export = || async {
        let export = api.get(As::Admin, "/customers/ann@old.test/export").await;
        assert_eq!(export.status, 200, "{}", export.body);
        export.body["merges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["merge_id"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(merges_in_export().await, Vec::<String>::new());

    let path = format!("/migrations/{MERGES_2026_12}");
    let started = api.post(As::Admin, &path, json!({})).await;
    assert_eq!(started.status, 202, "{}", started.body);
    // Pages of one: the scan stops and resumes from its checkpoint many times.
    let service = api.services().migrations.with_page(1);
    let runs = crate::support::run_migration_in_steps(&service, MERGES_2026_12).await;
    assert!(runs > 1, "one run per step: {runs}");
    let done = api.get(As::Admin, &path).await;
    assert_eq!(done.body["status"], "succeeded", "{}", done.body);
    assert_eq!(done.body["counts"]["read"], 1, "{}", done.body);
    assert_eq!(done.body["counts"]["rewritten"], 1, "{}", done.body);
    assert_eq!(merges_in_export().await, vec![merge_id]);
    assert_eq!(table.item(&merge_pk).await["expires_at"], expires_at);

    // Again, through the jobs function: nothing left to do.
    api.post(As::Admin, &path, json!({})).await;
    let answer = crate::support::run_job(&api, "migration", MERGES_2026_12).await;
    assert_eq!(answer["outcomes"][0]["status"], "succeeded", "{answer}");
    let second = api.get(As::Admin, &path).await;
    assert_eq!(second.body["counts"]["read"], 1, "{}", second.body);
    assert_eq!(second.body["counts"]["rewritten"], 0, "{}", second.body);
}
