//! `POST /exports`: customers out as CSV through a job, on both stores, and back in through an
//! import's dry run with every row unchanged.

use super::*;
use crate::support::{Place, run_job};

async fn customers_to_export(rig: &Rig) {
    for field in [
        json!({"key": "seats", "label": "Seats", "type": "number"}),
        json!({"key": "modules", "label": "Modules", "type": "multiselect", "options": ["crm", "desk"]}),
    ] {
        let reply = rig.api.post(As::Admin, "/fields", field).await;
        assert_eq!(reply.status, 201, "{}", reply.body);
    }
    let company = rig
        .api
        .post(As::Admin, "/companies", json!({"name": "Café, Ltd."}))
        .await;
    assert_eq!(company.status, 201, "{}", company.body);
    for customer in [
        json!({"email": "zoe@cafe.test", "first_name": "Zoë", "last_name": "Ångström",
               "company_id": company.body["id"], "phones": ["+41 44 000 00 00"],
               "notes": "Two lines,\nwith \"quotes\"\n=1+1", "tags": ["vip"],
               "social": {"twitter": "https://x.com/zoe"},
               "custom_fields": {"seats": 12, "modules": ["crm", "desk"]}}),
        json!({"email": "bo@plain.test"}),
        json!({"email": "cy@plain.test", "first_name": "Cy", "custom_fields": {"seats": 2.5}}),
    ] {
        let reply = rig.api.post(As::Admin, "/customers", customer).await;
        assert_eq!(reply.status, 201, "{}", reply.body);
    }
    // Bo has an uploaded picture: the export carries its link.
    let picture = rig
        .api
        .call_raw(
            As::Agent,
            "PUT",
            "/customers/bo@plain.test/avatar",
            &[],
            Some(crate::api::avatars::transparent_png()),
        )
        .await;
    assert_eq!(picture.status, 200);
}

/// The file behind an export's download link.
async fn download(rig: &Rig, export: &Value) -> Vec<u8> {
    let url = export["download_url"].as_str().expect("a download link");
    match &rig.api.place {
        Place::Cloud { .. } => {
            let (status, body) = crate::support::http_get(url);
            assert_eq!(status, 200, "{url}");
            body
        }
        // The shared router has no download route (`helpdesk serve` adds it, and the local
        // tests follow the link): the file is read where the folder keeps it.
        Place::Local { .. } | Place::Elsewhere => {
            let key = format!("exports/customers-{}.csv", export["id"].as_str().unwrap());
            rig.api.objects.get(&key).await.expect("the export's file")
        }
    }
}

async fn an_export_job_imports_back_unchanged(api: LambdaApi) {
    let rig = Rig::new(api);
    customers_to_export(&rig).await;
    rig.api
        .post(As::Agent, "/exports", json!({}))
        .await
        .assert_problem_status(403);
    rig.api
        .post(
            As::Admin,
            "/exports",
            json!({"filter": {"updated_since": "soon"}}),
        )
        .await
        .assert_problem(400, "filter.updated_since");
    rig.api
        .post(As::Admin, "/exports", json!({"filter": {"colour": "red"}}))
        .await
        .assert_problem(400, "filter.colour");

    let started = rig
        .api
        .post(As::Admin, "/exports", json!({"bom": true}))
        .await;
    assert_eq!(started.status, 202, "{}", started.body);
    assert_eq!(started.body["status"], "running");
    let id = started.body["id"].as_str().unwrap().to_string();
    assert_eq!(started.headers["location"], format!("/exports/{id}"));
    run_job(&rig.api, "export", &id).await;
    let export = rig.api.get(As::Admin, &format!("/exports/{id}")).await;
    assert_eq!(export.status, 200, "{}", export.body);
    assert_eq!(export.body["status"], "succeeded", "{}", export.body);
    assert_eq!(export.body["counts"]["customers"], 3);
    assert_eq!(export.body["expires_in"], 900);
    let file = download(&rig, &export.body).await;
    assert!(file.starts_with("\u{feff}Email,".as_bytes()));
    assert!(String::from_utf8_lossy(&file).contains("\"Two lines,\nwith \"\"quotes\"\"\n=1+1\""));
    let bo = rig.customer("bo@plain.test").await;
    let link = bo["avatar_image"]["url"].as_str().unwrap();
    assert!(String::from_utf8_lossy(&file).contains(&format!(",{link}\r\n")));

    let job = rig.import(json!({"dry_run": true}), &file).await;
    assert_eq!(job["counts"]["rows"], 3, "{job}");
    assert_eq!(job["counts"]["unchanged"], 3, "{job}");
    assert_eq!(job["counts"]["failed"], 0, "{job}");

    // A filtered export: the customers of the company alone.
    let company = rig
        .api
        .get(As::Admin, "/customers/zoe@cafe.test")
        .await
        .body["company_id"]
        .clone();
    let started = rig
        .api
        .post(
            As::Admin,
            "/exports",
            json!({"filter": {"company_id": company}}),
        )
        .await;
    let id = started.body["id"].as_str().unwrap().to_string();
    run_job(&rig.api, "export", &id).await;
    let export = rig.api.get(As::Admin, &format!("/exports/{id}")).await;
    assert_eq!(export.body["counts"]["customers"], 1, "{}", export.body);
    let file = String::from_utf8(download(&rig, &export.body).await).unwrap();
    assert!(file.starts_with("Email,"), "no BOM unless asked");
    assert!(
        file.contains("zoe@cafe.test") && !file.contains("bo@plain.test"),
        "{file}"
    );
    rig.api
        .get(As::Agent, &format!("/exports/{id}"))
        .await
        .assert_problem_status(403);
}

async fn an_erasure_takes_the_person_out_of_kept_export_files(api: LambdaApi) {
    let rig = Rig::new(api);
    customers_to_export(&rig).await;
    let started = rig
        .api
        .post(As::Admin, "/exports", json!({"bom": true}))
        .await;
    let id = started.body["id"].as_str().unwrap().to_string();
    run_job(&rig.api, "export", &id).await;
    let before = rig.api.get(As::Admin, &format!("/exports/{id}")).await.body;
    let before = String::from_utf8(download(&rig, &before).await).unwrap();
    assert!(before.contains("cy@plain.test"));

    let erasure = rig
        .api
        .post(As::Admin, "/customers/cy@plain.test/erase", json!({}))
        .await;
    assert_eq!(erasure.status, 202, "{}", erasure.body);
    let erasure_id = erasure.body["id"].as_str().unwrap().to_string();
    run_job(&rig.api, "erasure", &erasure_id).await;
    let done = rig
        .api
        .get(As::Admin, &format!("/erasures/{erasure_id}"))
        .await
        .body;
    assert_eq!(done["status"], "succeeded", "{done}");

    let after = rig.api.get(As::Admin, &format!("/exports/{id}")).await.body;
    let after = String::from_utf8(download(&rig, &after).await).unwrap();
    assert!(!after.contains("cy@plain.test"), "{after}");
    // Everyone else, and the file's form, as they were.
    let expected: String = before
        .split_inclusive("\r\n")
        .filter(|line| !line.contains("cy@plain.test"))
        .collect();
    assert_eq!(after, expected);
}

on_both_stores!(
    an_export_job_imports_back_unchanged,
    an_erasure_takes_the_person_out_of_kept_export_files,
    an_object_written_in_parts_arrives_whole
);

/// The writer an export goes through: in S3 a multipart upload of 8 MiB parts, whole only
/// once finished; an aborted one leaves nothing.
async fn an_object_written_in_parts_arrives_whole(api: LambdaApi) {
    let chunk: Vec<u8> = (0..64 * 1024).map(|i| (i % 251) as u8).collect();
    let mut writer = api
        .objects
        .writer("exports/customers-parts.csv", "text/csv")
        .await
        .unwrap();
    let mut expected = Vec::new();
    // 9 MiB and a bit: one full part and a last, short one.
    for _ in 0..145 {
        writer.write(&chunk).await.unwrap();
        expected.extend_from_slice(&chunk);
    }
    assert!(
        api.objects
            .get("exports/customers-parts.csv")
            .await
            .is_err(),
        "nothing before finish"
    );
    writer.finish().await.unwrap();
    let stored = api
        .objects
        .get("exports/customers-parts.csv")
        .await
        .unwrap();
    assert_eq!(stored.len(), expected.len());
    assert!(stored == expected, "the parts in order");
    assert_eq!(
        api.objects.list("exports/customers-").await.unwrap(),
        ["exports/customers-parts.csv"]
    );

    let mut writer = api
        .objects
        .writer("exports/customers-gone.csv", "text/csv")
        .await
        .unwrap();
    for _ in 0..145 {
        writer.write(&chunk).await.unwrap();
    }
    writer.abort().await;
    assert!(api.objects.get("exports/customers-gone.csv").await.is_err());
}
