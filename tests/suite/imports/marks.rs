//! Import rows go through the same guards as every other write (#25): a suppressed address
//! fails its row, a blocked one makes a blocked customer, a customer under erasure is left
//! alone; the rest of the file imports.

use super::*;

async fn rows_respect_address_marks_and_erasures(api: LambdaApi) {
    let rig = Rig::new(api);
    let api = &rig.api;
    for email in ["gone@acme.test", "spam@junk.test", "leaving@acme.test"] {
        api.create(json!({"email": email})).await;
    }
    let erased = api
        .post(
            As::Admin,
            "/customers/gone@acme.test/erase",
            json!({"suppress": true}),
        )
        .await;
    crate::support::run_job(api, "erasure", erased.body["id"].as_str().unwrap()).await;
    let blocked = api
        .post(As::Admin, "/customers/spam@junk.test/block", json!({}))
        .await;
    assert_eq!(blocked.status, 200, "{}", blocked.body);
    assert_eq!(
        api.delete(As::Agent, "/customers/spam@junk.test")
            .await
            .status,
        204
    );
    let leaving = api
        .post(As::Admin, "/customers/leaving@acme.test/erase", json!({}))
        .await;
    assert_eq!(leaving.status, 202, "{}", leaving.body);

    let file = "Email,First Name,Last Name\ngone@acme.test,Gone,G\nspam@junk.test,Spam,S\n\
                leaving@acme.test,Changed,L\nnew@acme.test,New,N\n";
    let job = rig.import(json!({}), file.as_bytes()).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(counts(&job), [4, 2, 0, 0, 2, 0], "{job}");
    let report = rig.report(&job).await;
    assert!(
        report.contains("gone@acme.test,email: gone@acme.test was erased and is suppressed"),
        "{report}"
    );
    assert!(
        report.contains("leaving@acme.test is being erased"),
        "{report}"
    );
    assert!(rig.customer("spam@junk.test").await["blocked"].is_object());
    assert_eq!(rig.customer("new@acme.test").await["first_name"], "New");
    assert_eq!(
        rig.customer("leaving@acme.test").await["first_name"],
        Value::Null,
        "the customer under erasure is unchanged"
    );
}

on_both_stores!(rows_respect_address_marks_and_erasures);
