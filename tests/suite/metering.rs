//! The benchmarks' metering proxy in front of dynoxide (benches/support/metering_proxy.rs)
//! counts capacity as DynamoDB charges it and throttles as DynamoDB does: its figures are only
//! worth what this checks.

use std::time::Duration;

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem};

use crate::metering_proxy::MeteringProxy;
use crate::metering_proxy::capacity::Limits;

fn s(text: &str) -> AttributeValue {
    AttributeValue::S(text.into())
}

/// A proxy with `limits` in front of dynoxide, and a fresh table there.
async fn proxy(limits: Limits) -> (MeteringProxy, String) {
    let table = crate::support::dynoxide_table().await;
    let endpoint = crate::support::dynamo_endpoint();
    let proxy = MeteringProxy::start_with_limits(&endpoint, Duration::ZERO, 0.0, limits).await;
    (proxy, table)
}

/// (WRU, RRU) of the table or an index.
fn units(metered: &MeteringProxy, index: &str) -> (f64, f64) {
    let capacity = metered.capacity();
    let entry = &capacity["capacity"][index];
    (
        entry["wru"].as_f64().unwrap(),
        entry["rru"].as_f64().unwrap(),
    )
}

#[tokio::test]
async fn capacity_is_charged_by_size_kind_and_index() {
    let (metered, table) = proxy(Limits::default()).await;
    let client = crate::support::dynamo_client_at(&metered.endpoint());
    // About 1.5 KB, in the listing index (list_pk and list_sk), in no other.
    let put = |list_sk: &'static str| {
        client
            .put_item()
            .table_name(&table)
            .item("pk", s("EMAIL#ann@x.io"))
            .item("sk", s("#"))
            .item("list_pk", s("CUSTOMERS#3"))
            .item("list_sk", s(list_sk))
            .item("doc", AttributeValue::B(Blob::new(vec![b'x'; 1_500])))
    };
    put("ann@x.io").send().await.unwrap();
    assert_eq!(units(&metered, "table"), (2.0, 0.0));
    assert_eq!(units(&metered, "listing"), (2.0, 0.0));
    assert_eq!(units(&metered, "by_first"), (0.0, 0.0));

    // The same item with another index key: the table writes it once, the index twice (the
    // old entry goes, the new one comes).
    put("zed@x.io").send().await.unwrap();
    assert_eq!(units(&metered, "table"), (4.0, 0.0));
    assert_eq!(units(&metered, "listing"), (6.0, 0.0));

    // A small item in a transaction: twice its single unit.
    let small = Put::builder()
        .table_name(&table)
        .item("pk", s("EMAIL#bob@x.io"))
        .item("sk", s("#"))
        .build()
        .unwrap();
    client
        .transact_write_items()
        .transact_items(TransactWriteItem::builder().put(small).build())
        .send()
        .await
        .unwrap();
    assert_eq!(units(&metered, "table").0, 6.0);

    // Reads: 4 KB units, half for eventually consistent ones.
    for consistent in [false, true] {
        client
            .get_item()
            .table_name(&table)
            .key("pk", s("EMAIL#ann@x.io"))
            .key("sk", s("#"))
            .consistent_read(consistent)
            .send()
            .await
            .unwrap();
    }
    assert_eq!(units(&metered, "table").1, 1.5);
    assert_eq!(
        metered.capacity()["hottest"].as_array().map(Vec::len),
        Some(0)
    );
}

/// A client that does not retry: each refusal reaches the test.
fn client_without_retries(endpoint: &str) -> aws_sdk_dynamodb::Client {
    let config = crate::support::dynamo_config_at(endpoint)
        .retry_config(aws_sdk_dynamodb::config::retry::RetryConfig::disabled())
        .build();
    aws_sdk_dynamodb::Client::from_conf(config)
}

/// Puts items of 100 WRU each until one is refused. Answers how many went through, at most how
/// many a limit of `per_second` WRU lets through in the time it took (a second's burst, then
/// the refill), and the refusal's throttling reason and resource.
async fn put_until_throttled(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    per_second: f64,
    item: impl Fn(usize) -> Vec<(&'static str, AttributeValue)>,
) -> (usize, usize, String, String) {
    let started = std::time::Instant::now();
    for i in 0..100 {
        let mut put = client.put_item().table_name(table);
        for (name, value) in item(i) {
            put = put.item(name, value);
        }
        // 102,300 bytes and the keys: just under 100 KiB, 100 WRU.
        put = put.item("doc", AttributeValue::B(Blob::new(vec![b'x'; 102_300])));
        match put.send().await {
            Ok(_) => {}
            Err(error) => {
                let service = error.into_service_error();
                let aws_sdk_dynamodb::operation::put_item::PutItemError::ProvisionedThroughputExceededException(throttle) = service else {
                    panic!("not a throttle: {service:?}");
                };
                let reason = &throttle.throttling_reasons()[0];
                let allowed =
                    (per_second * (1.0 + started.elapsed().as_secs_f64()) / 100.0) as usize;
                return (
                    i,
                    allowed,
                    reason.reason().unwrap_or_default().to_string(),
                    reason.resource().unwrap_or_default().to_string(),
                );
            }
        }
    }
    panic!("never throttled");
}

#[tokio::test]
async fn a_hot_partition_key_is_throttled_at_its_limit() {
    let (metered, table) = proxy(Limits::DYNAMODB).await;
    let client = client_without_retries(&metered.endpoint());
    // One item written again and again: 10 writes of 100 WRU fill its second of 1,000.
    let (written, allowed, reason, resource) =
        put_until_throttled(&client, &table, 1_000.0, |_| {
            vec![("pk", s("HOT")), ("sk", s("#"))]
        })
        .await;
    assert!((10..=allowed).contains(&written), "{written} of {allowed}");
    assert_eq!(reason, "TableWriteKeyRangeThroughputExceeded");
    assert!(resource.ends_with(&format!("table/{table}")), "{resource}");
    assert_eq!(metered.capacity()["hottest"][0]["key"], "HOT");
    let hottest = metered.capacity()["hottest"][0]["wru_per_second"]
        .as_f64()
        .unwrap();
    assert!(
        (1_000.0..=allowed as f64 * 100.0).contains(&hottest),
        "{hottest}"
    );
}

#[tokio::test]
async fn an_index_that_cannot_absorb_its_writes_throttles_the_table() {
    let (metered, table) = proxy(Limits::DYNAMODB).await;
    let client = client_without_retries(&metered.endpoint());
    // Every item its own table partition, all on one partition of the listing index.
    let (written, allowed, reason, resource) = put_until_throttled(&client, &table, 1_000.0, |i| {
        vec![
            ("pk", s(&format!("EMAIL#p{i}@x.io"))),
            ("sk", s("#")),
            ("list_pk", s("CUSTOMERS#0")),
            ("list_sk", s(&format!("p{i}@x.io"))),
        ]
    })
    .await;
    assert!((10..=allowed).contains(&written), "{written} of {allowed}");
    assert_eq!(reason, "IndexWriteKeyRangeThroughputExceeded");
    assert!(resource.ends_with("/index/listing"), "{resource}");
    // The refused write left nothing: the table holds those that went through.
    assert_eq!(crate::support::items_in(&table).await as usize, written);
}

#[tokio::test]
async fn a_table_over_its_budget_is_throttled_whatever_the_keys() {
    let (metered, table) = proxy(Limits {
        table: 500.0,
        ..Limits::DYNAMODB
    })
    .await;
    let client = client_without_retries(&metered.endpoint());
    let (written, allowed, reason, _) = put_until_throttled(&client, &table, 500.0, |i| {
        vec![("pk", s(&format!("K{i}"))), ("sk", s("#"))]
    })
    .await;
    assert!((5..=allowed).contains(&written), "{written} of {allowed}");
    assert_eq!(reason, "TableWriteAccountLimitExceeded");
}

#[tokio::test]
async fn index_queries_page_as_dynamodb_does_and_are_charged_to_their_index() {
    let (metered, table) = proxy(Limits::default()).await;
    // The API's listing scenario (cursors over the sharded listing, name search over three
    // indexes) through the proxy.
    crate::api::listing_with_cursors_and_search(crate::support::api_on_table(
        &metered.endpoint(),
        &table,
        "metered-listing",
    ))
    .await;
    for index in ["listing", "by_first", "by_last"] {
        let (_, rru) = units(&metered, index);
        assert!(
            rru > 0.0,
            "reads of {index} are charged: {}",
            metered.capacity()
        );
    }

    // A query cut by its limit says where it stopped, with the index's keys.
    let client = crate::support::dynamo_client_at(&metered.endpoint());
    for email in ["a@x.io", "b@x.io", "c@x.io"] {
        client
            .put_item()
            .table_name(&table)
            .item("pk", s(&format!("EMAIL#{email}")))
            .item("sk", s("#"))
            .item("list_pk", s("HOT"))
            .item("list_sk", s(email))
            .send()
            .await
            .unwrap();
    }
    let before = units(&metered, "listing").1;
    let page = client
        .query()
        .table_name(&table)
        .index_name("listing")
        .key_condition_expression("list_pk = :p")
        .expression_attribute_values(":p", s("HOT"))
        .limit(2)
        .send()
        .await
        .unwrap();
    let emails: Vec<&str> = page
        .items()
        .iter()
        .map(|item| item["list_sk"].as_s().unwrap().as_str())
        .collect();
    assert_eq!(emails, ["a@x.io", "b@x.io"]);
    let last = page.last_evaluated_key().expect("stopped at its limit");
    assert_eq!(last["list_sk"].as_s().unwrap(), "b@x.io");
    assert_eq!(last["pk"].as_s().unwrap(), "EMAIL#b@x.io");
    // Index reads are eventually consistent: half a unit per started 4 KB.
    assert_eq!(units(&metered, "listing").1 - before, 0.5);
}

#[tokio::test]
async fn listings_over_many_shards_page_exactly_and_read_only_what_they_need() {
    let (metered, table) = proxy(Limits::default()).await;
    let client = crate::support::dynamo_client_at(&metered.endpoint());
    // Enough customers that every shard holds several.
    list_old_and_new_shards(client, &table, 900, Some(&metered)).await;
}

#[tokio::test]
async fn patterned_addresses_spread_over_the_listing_shards() {
    use helpdesk_shared::ports::store::{CustomerStore, CustomerWrite};
    use helpdesk_shared::store::dynamodb::{DynamoStore, INDEX_LISTING, LIST_SHARDS};
    let client = crate::support::dynamo_client();
    let table = format!("spread-{}", uuid::Uuid::new_v4().simple());
    DynamoStore::create_table(&client, &table).await.unwrap();
    let store = DynamoStore::new(client.clone(), &table);
    // Addresses that follow a pattern: with the hash's low bits taken as they were, one shard
    // of 64 held 9.5 % of these (six times its share).
    let count = 3_200;
    let writes: Vec<_> = (0..count)
        .map(|i| {
            let email = format!("person{i}@company{}.example", i % 5000);
            CustomerWrite::Insert(crate::support::customer(&email))
        })
        .collect();
    for chunk in writes.chunks(500) {
        for outcome in store.write_customers(chunk).await.unwrap() {
            outcome.unwrap();
        }
    }
    let mut sizes = Vec::new();
    for shard in 0..LIST_SHARDS {
        let answer = client
            .query()
            .table_name(&table)
            .index_name(INDEX_LISTING)
            .key_condition_expression("list_pk = :pk")
            .expression_attribute_values(":pk", s(&format!("CUSTOMERS#{shard}")))
            .select(aws_sdk_dynamodb::types::Select::Count)
            .send()
            .await
            .unwrap();
        sizes.push(answer.count);
    }
    assert_eq!(sizes.iter().sum::<i32>(), count);
    let hottest = f64::from(*sizes.iter().max().unwrap()) / f64::from(count);
    assert!(
        hottest < 2.5 / 100.0,
        "the hottest listing shard holds {:.2} % of customers (an even share is {:.2} %)",
        hottest * 100.0,
        100.0 / f64::from(LIST_SHARDS)
    );
}

#[tokio::test]
async fn listings_over_old_and_new_shards_on_dynoxide() {
    let client = crate::support::dynamo_client();
    let table = format!("shards-{}", uuid::Uuid::new_v4().simple());
    helpdesk_shared::store::dynamodb::DynamoStore::create_table(&client, &table)
        .await
        .unwrap();
    list_old_and_new_shards(client, &table, 150, None).await;
}

/// Writes `count` customers, moves a third of them to where the 16-shard layout kept them,
/// and pages through the listing and several searches: every customer once, in order. With
/// the proxy, also checks what a page reads.
async fn list_old_and_new_shards(
    client: aws_sdk_dynamodb::Client,
    table: &str,
    count: usize,
    metered: Option<&MeteringProxy>,
) {
    use helpdesk_shared::ports::store::{CustomerQuery, CustomerStore, CustomerWrite, list_key};
    use helpdesk_shared::store::dynamodb::DynamoStore;
    let store = DynamoStore::new(client.clone(), table);
    // Names that share prefixes.
    let customers: Vec<_> = (0..count)
        .map(|i| {
            let mut c = crate::support::customer(&format!("c{i:04}@x{}.io", i % 7));
            c.profile.first_name = Some(format!("Ann{}", i % 40));
            c.profile.last_name = Some(format!("Lee{}", i % 13));
            c
        })
        .collect();
    let writes: Vec<_> = customers
        .iter()
        .cloned()
        .map(CustomerWrite::Insert)
        .collect();
    for outcome in store.write_customers(&writes).await.unwrap() {
        outcome.unwrap();
    }
    // A third of them as the 16-shard layout wrote them, and a third where 64 shards of the
    // unmixed hash put them: the listing reads shards 0..63, which include both, so existing
    // tables need no migration.
    for (i, c) in customers.iter().enumerate().filter(|(i, _)| i % 3 != 2) {
        let email = c.profile.email.as_str();
        let key = s(&format!("EMAIL#{email}"));
        let mut item = client
            .get_item()
            .table_name(table)
            .key("pk", key)
            .key("sk", s("#"))
            .send()
            .await
            .unwrap()
            .item
            .unwrap();
        let old_shard = helpdesk_shared::stable_hash(email) % if i % 3 == 0 { 16 } else { 64 };
        item.insert("list_pk".into(), s(&format!("CUSTOMERS#{old_shard}")));
        client
            .put_item()
            .table_name(table)
            .set_item(Some(item))
            .send()
            .await
            .unwrap();
    }
    for prefix in [None, Some("ann1"), Some("lee1"), Some("c00"), Some("zzz")] {
        let query = CustomerQuery {
            prefix: prefix.map(str::to_string),
            limit: 50,
            ..Default::default()
        };
        let mut expected: Vec<String> = customers
            .iter()
            .filter_map(|c| list_key(c, &query))
            .collect();
        expected.sort();
        let mut listed = Vec::new();
        let mut after = None;
        let reads = || metered.map_or(0.0, |f| units(f, "listing").1);
        let before = reads();
        let mut pages = 0;
        loop {
            let page = store
                .list_customers(&CustomerQuery {
                    after: after.clone(),
                    ..query.clone()
                })
                .await
                .unwrap();
            pages += 1;
            assert!(page.items.len() <= 50);
            listed.extend(page.items.iter().map(|c| list_key(c, &query).unwrap()));
            match page.next {
                Some(next) => after = Some(next),
                None => break,
            }
            assert!(pages < 100, "the listing ends");
        }
        assert_eq!(
            listed, expected,
            "every customer once, in order, for {prefix:?}"
        );
        if let (None, Some(_)) = (prefix, metered) {
            // A first-round read of each shard (half a unit each), then only the shards that
            // hold the page back: at most eight more reads per page on average.
            let rru = reads() - before;
            let per_page = rru / f64::from(pages);
            let shards = f64::from(helpdesk_shared::store::dynamodb::LIST_SHARDS);
            assert!(
                per_page <= shards / 2.0 + 4.0,
                "{per_page} RRU per page over {shards} shards"
            );
        }
    }
}
