//! An import's end is an event, and so is each row it writes.

use super::*;
use crate::changes::{Log, read_all, types};
use crate::support::{Place, run_job};

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

/// An import's update is filed in the customer's history by the change log (in the cloud the
/// record is written alone, and the entry follows from the table's stream): naming the job and
/// row, following a merge, and gone with an erasure that came before the log caught up.
async fn imported_updates_reach_history_through_the_log(api: LambdaApi) {
    let rig = Rig::new(api);
    let mut log = Log::attach(&rig.api).await;
    for (email, last) in [
        ("ann", "Lee"),
        ("bo", "Ek"),
        ("cy", "Cole"),
        ("dee", "Dunn"),
    ] {
        rig.api
            .create(json!({"email": format!("{email}@acme.com"), "last_name": last}))
            .await;
    }
    let dee = rig.customer("dee@acme.com").await;
    let file =
        "Email,Last Name\nann@acme.com,Lee-Smith\nbo@acme.com,Eklund\ndee@acme.com,Dunn-Ray\n";
    let job = rig.import(json!({}), file.as_bytes()).await;
    assert_eq!(job["counts"]["updated"], 3, "{job}");
    let by_row = |row: u64| json!({"type": "import", "job": job["id"], "row": row});

    // In the cloud the entry trails the write until the log has read the stream.
    let history = |email: &'static str| {
        let api = &rig.api;
        async move {
            let page = api
                .get(As::Agent, &format!("/customers/{email}/history"))
                .await;
            assert_eq!(page.status, 200, "{}", page.body);
            page.body["items"].as_array().unwrap().clone()
        }
    };
    let trailing = matches!(rig.api.place, Place::Cloud { .. });
    assert_eq!(
        history("ann@acme.com").await.len(),
        if trailing { 1 } else { 2 }
    );

    // Dee erased before the log files her update.
    let erasure = rig
        .api
        .post(As::Admin, "/customers/dee@acme.com/erase", json!({}))
        .await;
    assert_eq!(erasure.status, 202, "{}", erasure.body);
    run_job(&rig.api, "erasure", erasure.body["id"].as_str().unwrap()).await;
    // Bo merged into Cy; the log reads his update and his end before the merge's job has
    // moved his history: the job moves the entry itself, and computes his creation with it.
    let merged = rig
        .api
        .post(
            As::Agent,
            "/customers/cy@acme.com/merge",
            json!({"from": ["bo@acme.com"]}),
        )
        .await;
    assert_eq!(merged.status, 202, "{}", merged.body);
    log.catch_up().await;
    run_job(&rig.api, "merge", merged.body["merge_id"].as_str().unwrap()).await;
    log.catch_up().await;

    let ann = history("ann@acme.com").await;
    assert_eq!(ann.len(), 2, "{ann:?}");
    assert_eq!(ann[0]["by"], by_row(2), "{ann:?}");
    assert_eq!(
        ann[0]["changes"],
        json!([{"field": "last_name", "from": "Lee", "to": "Lee-Smith"}])
    );
    let cy = history("cy@acme.com").await;
    assert!(
        cy.iter().any(|e| e["by"] == by_row(3)
            && e["changes"] == json!([{"field": "last_name", "from": "Ek", "to": "Eklund"}])),
        "Bo's imported change follows him into Cy: {cy:?}"
    );
    let bo_created = cy
        .iter()
        .find(|e| e["version"] == 1 && e["changes"][0]["to"] == "bo@acme.com")
        .expect("Bo's creation");
    assert_eq!(
        bo_created["changes"][1],
        json!({"field": "last_name", "from": null, "to": "Ek"}),
        "Bo was created as Ek, whenever the log read his update and his end"
    );
    let left = rig
        .api
        .store
        .list_history(dee["id"].as_str().unwrap(), None, 10)
        .await
        .unwrap();
    assert!(left.items.is_empty(), "erased: {:?}", left.items);

    let (events, _) = read_all(&rig.api, As::Admin, "/changes").await;
    let updated = events
        .iter()
        .find(|e| e["type"] == "customer.updated" && e["entity"]["email"] == "ann@acme.com")
        .expect("Ann's update");
    assert_eq!(updated["actor"], by_row(2), "{updated}");
}

on_both_stores!(
    imports_end_with_an_event,
    imported_updates_reach_history_through_the_log
);
