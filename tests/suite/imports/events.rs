//! An import's end is an event, and so is each row it writes.

use super::*;
use crate::changes::{Log, read_all, types};

async fn imports_end_with_an_event(api: LambdaApi) {
    let rig = Rig::new(api);
    let mut log = Log::attach(&rig.api).await;
    let good = rig
        .import(
            json!({}),
            b"Email,First Name,Last Name\nann@acme.com,Ann,Lee\nbo@acme.com,Bo,Ek\n",
        )
        .await;
    assert_eq!(good["status"], "succeeded", "{good}");
    let bad = rig
        .import(json!({}), b"Name,Phone\nAnn,+1 555 0100\n")
        .await;
    assert_eq!(bad["status"], "failed", "{bad}");
    log.catch_up().await;
    let (events, _) = read_all(&rig.api, As::Admin, "/changes").await;
    let all = types(&events);
    assert_eq!(
        all.iter().filter(|t| **t == "customer.created").count(),
        2,
        "{all:?}"
    );
    let ended: Vec<&Value> = events
        .iter()
        .filter(|e| e["type"].as_str().unwrap().starts_with("import."))
        .collect();
    assert_eq!(ended.len(), 2, "{all:?}");
    assert_eq!(ended[0]["type"], "import.succeeded");
    assert_eq!(ended[0]["entity"]["id"], good["id"]);
    assert_eq!(ended[0]["data"]["counts"]["created"], 2);
    assert_eq!(ended[1]["type"], "import.failed");
    assert_eq!(ended[1]["entity"]["id"], bad["id"]);
    let created = events
        .iter()
        .find(|e| e["type"] == "customer.created")
        .unwrap();
    assert_eq!(created["actor"]["type"], "import", "{created}");
}

on_both_stores!(imports_end_with_an_event);
