//! Columns, mappings, rows and their reasons, dry runs, the template.

use super::*;

#[tokio::test]
async fn columns_map_by_explicit_mapping_synonyms_and_custom_fields() {
    let rig = Rig::new(LambdaApi::on_sqlite().await);
    rig.api.post(As::Admin, "/fields", json!({"key": "plan", "label": "Plan Tier", "type": "select", "options": ["Free", "Pro"]})).await;
    rig.api
        .post(
            As::Admin,
            "/fields",
            json!({"key": "seats", "label": "Seats", "type": "number"}),
        )
        .await;
    rig.api
        .post(As::Admin, "/companies", json!({"name": "Acme"}))
        .await;
    // Google Contacts export headers, plus custom fields by label and by key, plus a mapping.
    let file = "Name,Given Name,Family Name,E-mail 1 - Value,E-mail 2 - Value,Phone 1 - Value,Organization 1 - Name,Plan Tier,seats,Customer Since,Birthday\n\
                Ann Lee,Ann,Lee,ann@acme.com,ann@home.org,+1 555 0100 ::: +1 555 0101,acme,pro,12,2020-04-01,1990-01-01\n";
    // plan_since is not a defined field: the job is refused before any file is sent.
    rig.api
        .post(As::Admin, "/imports", json!({"mapping": {"Customer Since": "custom_fields.plan_since", "Birthday": "ignore"}, "required": ["email"]}))
        .await
        .assert_problem(422, "mapping.Customer Since");

    let job = rig
        .import(
            json!({"mapping": {"Customer Since": "ignore"}}),
            file.as_bytes(),
        )
        .await;
    assert_eq!(counts(&job), [1, 1, 0, 0, 0, 0], "{job}");
    assert_eq!(
        job["ignored_columns"],
        json!(["Name", "Customer Since", "Birthday"])
    );
    let ann = rig.customer("ann@acme.com").await;
    assert_eq!(ann["first_name"], "Ann");
    assert_eq!(ann["alternate_emails"], json!(["ann@home.org"]));
    assert_eq!(ann["phones"], json!(["+1 555 0100", "+1 555 0101"]));
    assert_eq!(
        ann["custom_fields"],
        json!({"plan": "Pro", "seats": 12}),
        "an integer stays one, as the API stores it"
    );
    let acme = rig.api.get(As::Agent, "/companies").await.body["items"][0]["id"].clone();
    assert_eq!(
        ann["company_id"], acme,
        "companies match by name, case-insensitively"
    );

    // "Name" splits into first and last when those have no columns.
    let job = rig
        .import(
            json!({}),
            b"Full Name,Email Address\nBo Ek,bo@x.io\n\"Lee, Cy\",cy@x.io\n",
        )
        .await;
    assert_eq!(counts(&job), [2, 2, 0, 0, 0, 0], "{job}");
    assert_eq!(rig.customer("bo@x.io").await["last_name"], "Ek");
    assert_eq!(rig.customer("cy@x.io").await["first_name"], "Cy");

    // A bad mapping is refused when the job is created.
    rig.api
        .post(
            As::Admin,
            "/imports",
            json!({"mapping": {"X": "favourite_colour"}}),
        )
        .await
        .assert_problem(422, "mapping.X");
    rig.api
        .post(As::Admin, "/imports", json!({"dryrun": true}))
        .await
        .assert_problem(400, "dryrun");
}

#[tokio::test]
async fn updates_merge_into_existing_customers() {
    let rig = Rig::new(LambdaApi::on_sqlite().await);
    rig.api
        .create(json!({"email": "ann@acme.com", "first_name": "Ann", "last_name": "Lee", "phones": ["+1 555 0100"],
                       "tags": ["vip"], "notes": "Keep me", "alternate_emails": ["ann@home.org"]}))
        .await;
    rig.api
        .create(json!({"email": "bob@acme.com", "first_name": "Bob", "last_name": "Stone"}))
        .await;
    // Ann by her alternate email: new phone and tag added, empty cells keep what she had.
    let file = "Email,First Name,Last Name,Phone,Tags,Notes\nANN@home.org,Ann,Lee-Smith,+1 555 0199,beta,\nbob@acme.com,Bob,Stone,,,\n";
    let job = rig.import(json!({}), file.as_bytes()).await;
    assert_eq!(counts(&job), [2, 0, 1, 1, 0, 0], "{job}");
    let ann = rig.customer("ann@acme.com").await;
    assert_eq!(ann["last_name"], "Lee-Smith");
    assert_eq!(ann["phones"], json!(["+1 555 0100", "+1 555 0199"]));
    assert_eq!(ann["tags"], json!(["vip", "beta"]));
    assert_eq!(ann["notes"], "Keep me");
    assert_eq!(
        ann["email"], "ann@acme.com",
        "an alternate email updates its customer, whose primary stays"
    );
    assert_eq!(ann["version"], 2);
    // The history names the job and row that changed her, and what they changed.
    let history = rig
        .api
        .get(As::Agent, "/customers/ann@acme.com/history")
        .await;
    let change = &history.body["items"][0];
    assert_eq!(
        change["by"],
        json!({"type": "import", "job": job["id"], "row": 2})
    );
    let fields: Vec<&str> = change["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["last_name", "phones", "tags"], "{change}");
}

#[tokio::test]
async fn duplicate_rows_last_one_wins() {
    let rig = Rig::new(LambdaApi::on_sqlite().await);
    let file = "Email,First Name,Last Name\nann@acme.com,Old,Name\nbob@acme.com,Bob,Stone\nANN@acme.com ,Ann,Lee\nbob@acme.com,Robert,Stone\n";
    let job = rig.import(json!({}), file.as_bytes()).await;
    assert_eq!(counts(&job), [4, 2, 0, 0, 0, 2], "{job}");
    assert_eq!(rig.customer("ann@acme.com").await["first_name"], "Ann");
    assert_eq!(rig.customer("bob@acme.com").await["first_name"], "Robert");
}

#[tokio::test]
async fn dry_run_counts_and_writes_nothing() {
    let rig = Rig::new(LambdaApi::on_sqlite().await);
    rig.api
        .create(json!({"email": "ann@acme.com", "first_name": "Ann", "last_name": "Lee"}))
        .await;
    let file = "Email,First Name,Last Name,Company\nann@acme.com,Ann,Lee,\nann@acme.com,Ann,Leigh,\nnew@acme.com,New,Person,Brand New Co\nbad,X,Y,\n";
    let job = rig
        .import(
            json!({"dry_run": true, "create_missing_companies": true}),
            file.as_bytes(),
        )
        .await;
    assert_eq!(job["dry_run"], true);
    assert_eq!(counts(&job), [4, 1, 1, 0, 1, 1], "{job}");
    assert_eq!(rig.customer("ann@acme.com").await["last_name"], "Lee");
    assert_eq!(
        rig.api
            .get(As::Admin, "/customers/new@acme.com")
            .await
            .status,
        404
    );
    assert_eq!(
        rig.api.get(As::Admin, "/companies").await.body["items"],
        json!([])
    );
    assert!(
        rig.report(&job).await.contains("5,bad,email:"),
        "failures are reported in a dry run too"
    );
}

#[tokio::test]
async fn awkward_but_valid_csv_imports() {
    let rig = Rig::new(LambdaApi::on_sqlite().await);
    // BOM, CRLF, quoted commas, quotes and a newline inside a field; a short row fails alone.
    let file = b"\xEF\xBB\xBFEmail,First Name,Last Name,Notes\r\nann@acme.com,Ann,Lee,\"Said \"\"hi\"\", then left\r\nearly\"\r\nshort@acme.com,Short\r\nbob@acme.com,Bob,Stone,plain\r\n";
    let job = rig.import(json!({}), file).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(counts(&job), [3, 2, 0, 0, 1, 0], "{job}");
    assert_eq!(
        rig.customer("ann@acme.com").await["notes"],
        "Said \"hi\", then left\r\nearly"
    );
    let report = rig.report(&job).await;
    assert!(
        report.contains(
            "3,short@acme.com,the row has 2 fields; the header has 4,short@acme.com,Short"
        ),
        "{report}"
    );
}

#[tokio::test]
async fn bad_files_fail_whole_and_write_nothing() {
    let rig = Rig::new(LambdaApi::on_sqlite().await);
    let cases: [(&[u8], &str); 5] = [
        (b"", "the file is empty"),
        (
            b"Email,First Name,Last Name\n",
            "header row but no data rows",
        ),
        (b"Name,Phone\nAnn,+1 555 0100\n", "no email column"),
        (
            b"Email,First Name,Last Name\nann@acme.com,Ann,Lee\nbo@acme.com,J\xF6rg,M\xFCller\n",
            "not UTF-8",
        ),
        (b"\xFF\xFEE\x00m\x00a\x00i\x00l\x00\n\x00", "not UTF-8"),
    ];
    for (file, error) in cases {
        let job = rig.import(json!({}), file).await;
        assert_eq!(job["status"], "failed", "{job}");
        assert!(
            job["error"].as_str().unwrap().contains(error),
            "{error}: {job}"
        );
        assert_eq!(job["counts"]["created"], 0);
    }
    assert_eq!(
        rig.api.get(As::Admin, "/customers").await.body["items"],
        json!([]),
        "nothing was written"
    );
}

#[tokio::test]
async fn template_is_served_and_imports_cleanly() {
    let rig = Rig::new(LambdaApi::on_sqlite().await);
    let template = rig.api.get(As::Agent, "/imports/template.csv").await;
    assert_eq!(template.status, 200);
    assert!(
        template
            .header("content-type")
            .unwrap()
            .starts_with("text/csv")
    );
    let text = template.body.as_str().unwrap().to_string();
    assert!(text.starts_with("Email,First Name,Last Name,Company"));
    let job = rig
        .import(json!({"create_missing_companies": true}), text.as_bytes())
        .await;
    assert_eq!(counts(&job), [1, 1, 0, 0, 0, 0], "{job}");
    assert!(
        job["ignored_columns"].as_array().unwrap().is_empty(),
        "every template column maps: {job}"
    );
    let ann = rig.customer("ann.lee@acme.com").await;
    assert_eq!(ann["address"]["city"], "Springfield");
    assert!(ann["company_id"].is_string());
    // The ticket template names every ticket column and imports for the template's customer.
    let tickets = rig
        .api
        .get(As::Agent, "/imports/template.csv?kind=tickets")
        .await;
    assert_eq!(tickets.status, 200);
    let text = tickets.body.as_str().unwrap().to_string();
    let job = rig
        .import(json!({"kind": "tickets"}), text.as_bytes())
        .await;
    assert_eq!(counts(&job), [3, 3, 0, 0, 0, 0], "{job}");
    assert!(
        job["ignored_columns"].as_array().unwrap().is_empty(),
        "{job}"
    );
    rig.api
        .get(As::Agent, "/imports/template.csv?kind=orders")
        .await
        .assert_problem(400, "kind");
    rig.api
        .get(As::Anonymous, "/imports/template.csv")
        .await
        .assert_problem_status(401);
    rig.api
        .post(
            As::Agent,
            "/imports",
            json!({"create_missing_companies": true}),
        )
        .await
        .assert_problem(403, "create_missing_companies");
    rig.api
        .get(As::Agent, "/imports/no-such-job")
        .await
        .assert_problem_status(404);
}

#[tokio::test]
async fn invalid_values_fail_their_row_with_the_reason() {
    let rig = Rig::new(LambdaApi::on_sqlite().await);
    rig.api
        .post(
            As::Admin,
            "/fields",
            json!({"key": "renewal", "label": "Renewal", "type": "date"}),
        )
        .await;
    let file = "Email,First Name,Last Name,Portal Access,Phone,Renewal\n\
                a@x.io,A,One,everyone,,\n\
                b@x.io,B,Two,company,call me,\n\
                c@x.io,C,Three,company,,2026-02-30\n\
                d@x.io,D,Four,Company,+1 555 0100,2026-02-28\n";
    let job = rig.import(json!({}), file.as_bytes()).await;
    assert_eq!(counts(&job), [4, 1, 0, 0, 3, 0], "{job}");
    let report = rig.report(&job).await;
    assert!(
        report.contains("2,a@x.io,\"portal_access: unknown variant `everyone`"),
        "{report}"
    );
    assert!(
        report.contains("3,b@x.io,\"phones[0]: must be a phone number"),
        "{report}"
    );
    assert!(
        report.contains("4,c@x.io,custom_fields.renewal: must be a real date formatted yyyy-mm-dd"),
        "{report}"
    );
    let d = rig.customer("d@x.io").await;
    assert_eq!(d["portal_access"], "company");
    assert_eq!(d["custom_fields"]["renewal"], "2026-02-28");
}

#[tokio::test]
async fn an_agents_import_neither_needs_nor_names_fields_hidden_from_them() {
    let rig = Rig::new(LambdaApi::on_sqlite().await);
    for field in [
        json!({"key": "secret", "label": "Secret", "type": "number", "required": true,
               "view_roles": ["admin"], "edit_roles": ["admin"]}),
        json!({"key": "tier", "label": "Tier", "type": "text", "edit_roles": ["admin"]}),
    ] {
        let reply = rig.api.post(As::Admin, "/fields", field).await;
        assert_eq!(reply.status, 201, "{}", reply.body);
    }
    let file =
        "Email,Name,Secret,Tier,Nosuch\nann@x.io,Ann Lee,7,gold,1\nbob@x.io,Bob Ray,8,silver,2\n";
    let job = rig.import_as(As::Agent, json!({}), file.as_bytes()).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(counts(&job), [2, 2, 0, 0, 0, 0], "{job}");
    // A hidden field's column is an unknown column for the agent, like any other.
    assert_eq!(job["ignored_columns"], json!(["Secret", "Tier", "Nosuch"]));
    assert!(job["error_report"].is_null(), "{job}");
    let ann = rig.customer("ann@x.io").await;
    assert_eq!(
        ann["custom_fields"],
        json!({}),
        "nothing written to fields the agent may not edit"
    );

    // An admin's import writes them, and the required field binds the admin.
    let file = "Email,Name,Secret,Tier\ncid@x.io,Cid Wu,9,gold\ndee@x.io,Dee Wu,,gold\n";
    let job = rig.import(json!({}), file.as_bytes()).await;
    assert_eq!(counts(&job), [2, 1, 0, 0, 1, 0], "{job}");
    assert_eq!(
        rig.customer("cid@x.io").await["custom_fields"],
        json!({"secret": 9, "tier": "gold"})
    );
    assert!(
        rig.report(&job)
            .await
            .contains("custom_fields.secret: is required")
    );
}

#[tokio::test]
async fn control_characters_in_single_line_cells_fail_their_row() {
    let rig = Rig::new(LambdaApi::on_sqlite().await);
    let file = "Email,First Name,Last Name,City,Notes\nann@x.io,Ann,Lee,Springfield,\"two\nlines\"\nbob@x.io,\"Bob\nBcc: eve@evil.test\",Ray,Paris,\ncid@x.io,Cid,Wu,\"Ber\tlin\",\n";
    let job = rig.import(json!({}), file.as_bytes()).await;
    assert_eq!(counts(&job), [3, 1, 0, 0, 2, 0], "{job}");
    let report = rig.report(&job).await;
    assert!(
        report.contains("bob@x.io,\"first_name: must be a single line"),
        "{report}"
    );
    assert!(
        report.contains("cid@x.io,\"address.city: must be a single line"),
        "{report}"
    );
    assert_eq!(rig.customer("ann@x.io").await["notes"], "two\nlines");
}

/// A mapping (or `required`) naming a custom field that does not exist, or that the caller may
/// not see, is refused when the job is created: the job would otherwise fail every row.
async fn a_mapping_to_a_missing_custom_field_is_refused_when_the_job_is_created(api: LambdaApi) {
    let hidden = json!({"key": "salary", "label": "Salary", "type": "number",
                        "view_roles": ["admin"], "edit_roles": ["admin"]});
    assert_eq!(api.post(As::Admin, "/fields", hidden).await.status, 201);
    let undefined = json!({"mapping": {"Kundennummer": "custom_fields.customer_no"}});
    let refused = api.post(As::Admin, "/imports", undefined).await;
    refused.assert_problem(422, "mapping.Kundennummer");
    assert!(
        refused.body["detail"]
            .as_str()
            .is_some_and(|d| d.contains("customer_no")),
        "{}",
        refused.body
    );
    let required = json!({"required": ["email", "custom_fields.customer_no"]});
    api.post(As::Admin, "/imports", required)
        .await
        .assert_problem(422, "required[1]");
    // A field the agent may not see is, for them, one that does not exist: same answer.
    let hidden = json!({"mapping": {"Pay": "custom_fields.salary"}});
    let as_agent = api.post(As::Agent, "/imports", hidden.clone()).await;
    as_agent.assert_problem(422, "mapping.Pay");
    assert!(
        !as_agent.body.to_string().contains("view"),
        "{}",
        as_agent.body
    );
    assert_eq!(api.post(As::Admin, "/imports", hidden).await.status, 201);
    // Defined, the same mapping is accepted.
    let field = json!({"key": "customer_no", "label": "Customer number", "type": "text"});
    assert_eq!(api.post(As::Admin, "/fields", field).await.status, 201);
    let defined = json!({"mapping": {"Kundennummer": "custom_fields.customer_no"}});
    assert_eq!(api.post(As::Admin, "/imports", defined).await.status, 201);
}

/// The error report lists failed rows in file order, whichever stage failed them (a row with
/// the wrong number of fields fails before a row with a bad value is looked at).
async fn the_error_report_lists_rows_in_file_order(api: LambdaApi) {
    let rig = Rig::new(api);
    // Row 2 fails on its values (checked last), row 3 on its email, row 4 on its shape.
    let file = "Email,First Name,Last Name\nann@x.io,\"Ann\tTab\",Lee\nnot-an-email,C,D\nbo@x.io,Bo\nok@x.io,Ok,Fine\n";
    let job = rig.import(json!({"dry_run": true}), file.as_bytes()).await;
    assert_eq!(counts(&job), [4, 1, 0, 0, 3, 0], "{job}");
    let report = rig.report(&job).await;
    let rows: Vec<&str> = report
        .lines()
        .skip(1)
        .map(|line| line.split(',').next().unwrap_or_default())
        .collect();
    assert_eq!(rows, ["2", "3", "4"], "{report}");
}

on_both_stores!(
    a_mapping_to_a_missing_custom_field_is_refused_when_the_job_is_created,
    the_error_report_lists_rows_in_file_order,
);
