//! A DynamoDB client for an endpoint on this machine (the benches' fake endpoint, or
//! dynoxide), with placeholder credentials: the benches never reach AWS.

pub fn client(endpoint: impl Into<String>) -> aws_sdk_dynamodb::Client {
    let config = aws_sdk_dynamodb::Config::builder()
        .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
        .region(aws_sdk_dynamodb::config::Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "bench", "bench", None, None, "bench",
        ))
        .build();
    aws_sdk_dynamodb::Client::from_conf(config)
}

/// A new table on the endpoint, named after this process and `label`.
#[allow(dead_code, reason = "not every benchmark makes its own table")]
pub fn new_table(endpoint: &str, label: &str) -> String {
    let table = format!("{label}-{}", std::process::id());
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime
        .block_on(helpdesk_shared::store::dynamodb::DynamoStore::create_table(
            &client(endpoint),
            &table,
        ))
        .expect("CreateTable");
    table
}

/// Runs an import of `file` (read from its folder, reports beside it) into `store` to the end.
#[allow(dead_code, reason = "not every benchmark imports")]
pub async fn import_file(
    store: &std::sync::Arc<dyn helpdesk_shared::ports::store::Store>,
    file: &std::path::Path,
    options: helpdesk_shared::domain::import_job::ImportOptions,
) -> helpdesk_shared::domain::import_job::ImportJob {
    use helpdesk_shared::domain::import_job::{ImportJob, RunAs};
    use helpdesk_shared::objects::FolderStore;
    use helpdesk_shared::services::imports::{RunOptions, run_import};
    let name = file.file_name().and_then(|n| n.to_str()).expect("name");
    let job = ImportJob::new(
        helpdesk_shared::new_id(),
        name.into(),
        options,
        RunAs::system(),
    );
    store.insert_job(&job).await.expect("job");
    let folder = std::sync::Arc::new(FolderStore::new(file.parent().expect("folder")));
    let context = helpdesk_shared::app::import_run(store, folder.clone(), folder);
    run_import(&context, &job.id, RunOptions::default())
        .await
        .expect("import runs")
        .job()
        .clone()
}
