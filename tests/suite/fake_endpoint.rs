//! The benchmarks' DynamoDB endpoint (benches/support/fake_dynamodb.rs) charges capacity as
//! DynamoDB does: its figures are only worth what this checks.

use std::time::Duration;

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem};

use crate::fake_dynamodb::FakeDynamo;

fn s(text: &str) -> AttributeValue {
    AttributeValue::S(text.into())
}

/// (WRU, RRU) of the table or an index.
fn units(fake: &FakeDynamo, index: &str) -> (f64, f64) {
    let capacity = fake.capacity();
    let entry = &capacity["capacity"][index];
    (
        entry["wru"].as_f64().unwrap(),
        entry["rru"].as_f64().unwrap(),
    )
}

#[tokio::test]
async fn capacity_is_charged_by_size_kind_and_index() {
    let fake = FakeDynamo::start(Duration::ZERO, 0.0).await;
    let client = crate::support::dynamo_client_at(&fake.endpoint());
    // About 1.5 KB, in the listing index (list_pk and list_sk), in no other.
    let put = |list_sk: &'static str| {
        client
            .put_item()
            .table_name("t")
            .item("pk", s("EMAIL#ann@x.io"))
            .item("sk", s("#"))
            .item("list_pk", s("CUSTOMERS#3"))
            .item("list_sk", s(list_sk))
            .item("doc", AttributeValue::B(Blob::new(vec![b'x'; 1_500])))
    };
    put("ann@x.io").send().await.unwrap();
    assert_eq!(units(&fake, "table"), (2.0, 0.0));
    assert_eq!(units(&fake, "listing"), (2.0, 0.0));
    assert_eq!(units(&fake, "by_first"), (0.0, 0.0));

    // The same item with another index key: the table writes it once, the index twice (the
    // old entry goes, the new one comes).
    put("zed@x.io").send().await.unwrap();
    assert_eq!(units(&fake, "table"), (4.0, 0.0));
    assert_eq!(units(&fake, "listing"), (6.0, 0.0));

    // A small item in a transaction: twice its single unit.
    let small = Put::builder()
        .table_name("t")
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
    assert_eq!(units(&fake, "table").0, 6.0);

    // Reads: 4 KB units, half for eventually consistent ones.
    for consistent in [false, true] {
        client
            .get_item()
            .table_name("t")
            .key("pk", s("EMAIL#ann@x.io"))
            .key("sk", s("#"))
            .consistent_read(consistent)
            .send()
            .await
            .unwrap();
    }
    assert_eq!(units(&fake, "table").1, 1.5);
    assert_eq!(fake.capacity()["hottest"].as_array().map(Vec::len), Some(0));
}
