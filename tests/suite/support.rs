//! Fixtures: stores on both backends, callers, and the API driven the way Lambda drives it.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
use helpdesk_shared::domain::customer::{Customer, Profile};
use helpdesk_shared::http::auth::JwtClaimsAuthenticator;
use helpdesk_shared::http::{AppState, Links};
use helpdesk_shared::objects::{FolderStore, S3Store};
use helpdesk_shared::ports::objects::ObjectStore;
use helpdesk_shared::ports::store::Store;
use helpdesk_shared::services::replies::SupportAddress;
use helpdesk_shared::store::dynamodb::DynamoStore;
use helpdesk_shared::store::sqlite::SqliteStore;
use lambda_http::request::LambdaRequest;
use lambda_http::{Context, LambdaEvent, Service};
use serde_json::{Value, json};
use std::time::Duration;

pub fn moto_endpoint() -> String {
    std::env::var("MOTO_ENDPOINT").expect(
        "MOTO_ENDPOINT is not set: run the tests with `bash tests/run`, which installs and starts moto_server",
    )
}

/// The DynamoDB engine of the tests (dynoxide), started by `bash tests/run`.
pub fn dynamo_endpoint() -> String {
    std::env::var("DYNAMODB_ENDPOINT").expect(
        "DYNAMODB_ENDPOINT is not set: run the tests with `bash tests/run`, which installs and starts dynoxide",
    )
}

pub fn dynamo_client() -> aws_sdk_dynamodb::Client {
    dynamo_client_at(&dynamo_endpoint())
}

/// A DynamoDB client for `endpoint` (dynoxide, the fake, or the fault proxy).
pub fn dynamo_client_at(endpoint: &str) -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::from_conf(dynamo_config_at(endpoint).build())
}

/// The configuration of [`dynamo_client_at`], for a test to change before it builds it.
pub fn dynamo_config_at(endpoint: &str) -> aws_sdk_dynamodb::config::Builder {
    aws_sdk_dynamodb::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new("test", "test", None, None, "tests"))
}

pub fn s3_client() -> aws_sdk_s3::Client {
    let config = aws_sdk_s3::Config::builder()
        .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
        .region(aws_sdk_s3::config::Region::new("us-east-1"))
        .endpoint_url(moto_endpoint())
        .credentials_provider(aws_sdk_s3::config::Credentials::new(
            "test", "test", None, None, "tests",
        ))
        // moto serves buckets by path, not by virtual host.
        .force_path_style(true)
        .build();
    aws_sdk_s3::Client::from_conf(config)
}

/// A fresh bucket per test.
pub async fn s3_store() -> Arc<S3Store> {
    let client = s3_client();
    let bucket = format!("helpdesk-{}", uuid::Uuid::new_v4());
    client
        .create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .expect("moto_server must accept CreateBucket");
    Arc::new(S3Store::new(client, bucket))
}

/// A fresh table per test, so tests run in parallel without seeing each other.
pub async fn dynamo_store() -> Arc<dyn Store> {
    let client = dynamo_client();
    let table = format!("helpdesk-{}", uuid::Uuid::new_v4());
    DynamoStore::create_table(&client, &table)
        .await
        .expect("dynoxide must accept CreateTable");
    Arc::new(DynamoStore::new(client, table))
}

/// For load and fault tests: the metering proxy (a latency per request, a budget of items
/// written per second; 0 is none) in front of dynoxide, a fresh table there, and the store on
/// that table through the proxy, with a folder for the bucket.
pub async fn metered_api(
    latency: std::time::Duration,
    write_rate: f64,
    label: &str,
) -> (crate::metering_proxy::MeteringProxy, String, LambdaApi) {
    let table = dynoxide_table().await;
    let proxy =
        crate::metering_proxy::MeteringProxy::start(&dynamo_endpoint(), latency, write_rate).await;
    let api = api_on_table(&proxy.endpoint(), &table, label);
    (proxy, table, api)
}

/// The store on `table`, a dynoxide table reached through a proxy at `endpoint`, with a folder
/// for the bucket.
pub fn api_on_table(endpoint: &str, table: &str, label: &str) -> LambdaApi {
    let store = Arc::new(DynamoStore::new(dynamo_client_at(endpoint), table));
    LambdaApi::new(store, Arc::new(FolderStore::new(temp_dir(label))))
}

/// A fresh table on dynoxide, for a test that reaches it through a proxy; answers its name.
pub async fn dynoxide_table() -> String {
    let table = format!("helpdesk-{}", uuid::Uuid::new_v4());
    DynamoStore::create_table(&dynamo_client(), &table)
        .await
        .expect("dynoxide must accept CreateTable");
    table
}

/// How many items `table` on dynoxide holds.
pub async fn items_in(table: &str) -> i32 {
    let client = dynamo_client();
    let mut count = 0;
    let mut after = None;
    // Bounded: a test table holds far fewer than 1,000 pages.
    for _ in 0..1_000 {
        let page = client
            .scan()
            .table_name(table)
            .select(aws_sdk_dynamodb::types::Select::Count)
            .set_exclusive_start_key(after)
            .send()
            .await
            .expect("Scan");
        count += page.count;
        after = page.last_evaluated_key;
        if after.is_none() {
            return count;
        }
    }
    panic!("{table} did not end");
}

pub fn temp_dir(label: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("helpdesk-test-{label}-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

pub fn sqlite_store() -> Arc<dyn Store> {
    let dir = temp_dir("sqlite");
    Arc::new(SqliteStore::open(&dir.join("helpdesk.db")).expect("open sqlite"))
}

/// A customer record as the services would build it.
pub fn customer(email: &str) -> Customer {
    Customer {
        id: helpdesk_shared::new_id(),
        profile: Profile {
            email: helpdesk_shared::domain::email::Email::parse(email).expect("a valid test email"),
            ..Profile::default()
        },
        welcome: None,
        import_mark: None,
        blocked: None,
        undeliverable: None,
        complained: None,
        portal: Default::default(),
        avatar_image: None,
        created_by: None,
        changed_by: None,
        created_at: helpdesk_shared::now(),
        updated_at: helpdesk_shared::now(),
        version: 1,
    }
}

/// The address the test APIs' replies come from.
pub const SUPPORT_ADDRESS: &str = "Acme Support <support@helpdesk.test>";

/// The API as API Gateway and Lambda run it: events in, API Gateway v2 responses out.
#[derive(Clone)]
pub struct LambdaApi {
    pub router: axum::Router,
    pub store: Arc<dyn Store>,
    pub objects: Arc<dyn ObjectStore>,
    /// Where everything is kept, for tests that look at every stored byte.
    pub place: Place,
}

/// Where a test API keeps its data.
#[derive(Clone, Debug)]
pub enum Place {
    /// The SQLite database file and the folder standing in for the buckets.
    Local { database: PathBuf, folder: PathBuf },
    /// The moto table and bucket.
    Cloud { table: String, bucket: String },
    /// Somewhere the test does not look.
    Elsewhere,
}

/// A response's bytes, as the client receives them (binary bodies decoded).
pub struct RawReply {
    pub status: u16,
    pub headers: BTreeMap<String, String>,
    pub body: Vec<u8>,
}

pub struct Reply {
    pub status: u16,
    pub headers: BTreeMap<String, String>,
    pub body: Value,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }
    /// Asserts an RFC 9457 problem with `status`, whatever fields it names.
    #[track_caller]
    pub fn assert_problem_status(&self, status: u16) {
        assert_eq!(
            self.status, status,
            "unexpected status; body: {}",
            self.body
        );
        assert_eq!(
            self.header("content-type"),
            Some("application/problem+json"),
            "body: {}",
            self.body
        );
        assert_eq!(self.body["status"], json!(status));
    }
    /// Asserts an RFC 9457 problem with `status` that names `field` among its errors.
    #[track_caller]
    pub fn assert_problem(&self, status: u16, field: &str) {
        assert_eq!(
            self.status, status,
            "unexpected status; body: {}",
            self.body
        );
        assert_eq!(
            self.header("content-type"),
            Some("application/problem+json"),
            "body: {}",
            self.body
        );
        assert_eq!(self.body["status"], json!(status));
        assert!(self.body["title"].is_string() && self.body["detail"].is_string());
        let named = self.body["errors"]
            .as_array()
            .is_some_and(|errors| errors.iter().any(|e| e["field"] == json!(field)));
        assert!(named, "expected an error naming {field}: {}", self.body);
    }
}

/// Who sends a request: the claims a Cognito JWT authorizer would forward.
#[derive(Clone, Copy, Debug)]
pub enum As {
    Admin,
    Agent,
    /// An agent holding the manage_companies permission.
    CompanyManager,
    /// An app client holding only the OAuth scope to read the change feed.
    FeedReader,
    Anonymous,
}

impl LambdaApi {
    pub fn new(store: Arc<dyn Store>, objects: Arc<dyn ObjectStore>) -> Self {
        let router = helpdesk_shared::http::router(Self::wire(&store, &objects));
        Self {
            router,
            store,
            objects,
            place: Place::Elsewhere,
        }
    }

    /// SQLite with a folder for the bucket, as in local mode.
    pub async fn on_sqlite() -> Self {
        let database = temp_dir("sqlite").join("helpdesk.db");
        let folder = temp_dir("objects");
        let store = Arc::new(SqliteStore::open(&database).expect("open sqlite"));
        let mut api = Self::new(store, Arc::new(FolderStore::new(folder.clone())));
        api.place = Place::Local { database, folder };
        api
    }

    /// DynamoDB and S3, both on moto, as in the cloud.
    pub async fn on_dynamodb() -> Self {
        let client = dynamo_client();
        let table = format!("helpdesk-{}", uuid::Uuid::new_v4());
        DynamoStore::create_table(&client, &table)
            .await
            .expect("dynoxide must accept CreateTable");
        // The change feed reads at once (in the cloud it trails now by its settling time).
        let store =
            Arc::new(DynamoStore::new(client, table.clone()).with_feed_settle(Duration::ZERO));
        let objects = s3_store().await;
        let bucket = objects.bucket().to_string();
        let mut api = Self::new(store, objects);
        api.place = Place::Cloud { table, bucket };
        api
    }

    /// This API with the portal's single sign-on configured, as an operator would.
    pub fn with_portal_sso(mut self, sso: helpdesk_shared::services::portal::PortalSso) -> Self {
        let mut state = Self::wire(&self.store, &self.objects);
        state.portal.sso = Some(sso);
        self.router = helpdesk_shared::http::router(state);
        self
    }

    /// The API's services over this API's store and bucket, for tests that call one directly.
    pub fn services(&self) -> AppState {
        Self::wire(&self.store, &self.objects)
    }

    fn wire(store: &Arc<dyn Store>, objects: &Arc<dyn ObjectStore>) -> AppState {
        // One bucket (or folder) serves as import and mail bucket in tests.
        let support = SupportAddress::parse(SUPPORT_ADDRESS).expect("a valid support address");
        helpdesk_shared::app::api_state(
            store,
            Arc::clone(objects),
            Arc::clone(objects),
            support,
            Arc::new(JwtClaimsAuthenticator),
            Links::default(),
        )
    }

    pub async fn call(
        &self,
        who: As,
        method: &str,
        path_and_query: &str,
        headers: &[(&str, &str)],
        body: Option<String>,
    ) -> Reply {
        let raw = self
            .call_raw(
                who,
                method,
                path_and_query,
                headers,
                body.map(String::into_bytes),
            )
            .await;
        let text = String::from_utf8_lossy(&raw.body);
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(json!(text))
        };
        Reply {
            status: raw.status,
            headers: raw.headers,
            body,
        }
    }

    /// A request as API Gateway sends it (binary bodies base64-encoded), answered with the
    /// response's bytes as the client would receive them.
    pub async fn call_raw(
        &self,
        who: As,
        method: &str,
        path_and_query: &str,
        headers: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> RawReply {
        use base64::Engine as _;
        let fixture: Value = serde_json::from_str(include_str!("../fixtures/apigw-v2-jwt.json"))
            .expect("fixture is JSON");
        let mut event = fixture;
        let (path, query) = path_and_query
            .split_once('?')
            .unwrap_or((path_and_query, ""));
        event["rawPath"] = json!(path);
        event["rawQueryString"] = json!(query);
        event["requestContext"]["http"]["method"] = json!(method);
        event["requestContext"]["http"]["path"] = json!(path);
        for (name, value) in headers {
            event["headers"][name.to_ascii_lowercase()] = json!(value);
        }
        let body = body.unwrap_or_default();
        match String::from_utf8(body) {
            Ok(text) => event["body"] = json!(text),
            Err(binary) => {
                let encoded = base64::engine::general_purpose::STANDARD.encode(binary.as_bytes());
                event["body"] = json!(encoded);
                event["isBase64Encoded"] = json!(true);
            }
        }
        let claims = &mut event["requestContext"]["authorizer"]["jwt"]["claims"];
        match who {
            As::Admin => claims["cognito:groups"] = json!("[admin]"),
            As::Agent => claims["cognito:groups"] = json!("[agent]"),
            As::CompanyManager => claims["cognito:groups"] = json!("[agent manage_companies]"),
            As::FeedReader => {
                claims["cognito:groups"] = json!("[]");
                claims["scope"] = json!("helpdesk-api/changes:read");
            }
            As::Anonymous => event["requestContext"]["authorizer"] = Value::Null,
        }
        let request: LambdaRequest =
            serde_json::from_value(event).expect("a valid API Gateway v2 event");
        let mut adapter = lambda_http::Adapter::from(self.router.clone());
        let response = adapter
            .call(LambdaEvent::new(request, Context::default()))
            .await
            .expect("the router never fails");
        let response = serde_json::to_value(&response).expect("response serialises");
        let mut headers: BTreeMap<String, String> = response["headers"]
            .as_object()
            .map(|h| {
                h.iter()
                    .map(|(k, v)| {
                        (
                            k.to_ascii_lowercase(),
                            v.as_str().unwrap_or_default().to_string(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        // Payload v2 carries cookies apart from the headers; API Gateway sends them as
        // `Set-Cookie`.
        if let Some(cookies) = response["cookies"].as_array().filter(|c| !c.is_empty()) {
            let joined: Vec<&str> = cookies.iter().filter_map(Value::as_str).collect();
            headers.insert("set-cookie".into(), joined.join(", "));
        }
        let text = response["body"].as_str().unwrap_or_default();
        let body = if response["isBase64Encoded"] == json!(true) {
            base64::engine::general_purpose::STANDARD
                .decode(text)
                .expect("a base64 body")
        } else {
            text.as_bytes().to_vec()
        };
        RawReply {
            status: response["statusCode"].as_u64().expect("statusCode") as u16,
            headers,
            body,
        }
    }

    pub async fn get(&self, who: As, path: &str) -> Reply {
        self.call(who, "GET", path, &[], None).await
    }
    pub async fn post(&self, who: As, path: &str, body: Value) -> Reply {
        self.call(who, "POST", path, &[], Some(body.to_string()))
            .await
    }
    pub async fn patch(&self, who: As, path: &str, if_match: Option<&str>, body: Value) -> Reply {
        let headers: Vec<(&str, &str)> =
            if_match.map(|v| vec![("if-match", v)]).unwrap_or_default();
        self.call(who, "PATCH", path, &headers, Some(body.to_string()))
            .await
    }
    pub async fn delete(&self, who: As, path: &str) -> Reply {
        self.call(who, "DELETE", path, &[], None).await
    }

    /// Creates a customer as an admin and returns it.
    pub async fn create(&self, body: Value) -> Value {
        let reply = self.post(As::Admin, "/customers", body).await;
        assert_eq!(reply.status, 201, "create failed: {}", reply.body);
        reply.body
    }
}

/// A plain HTTP/1.1 GET of `url` (loopback, no TLS), as a browser following a presigned URL
/// would make it: no credentials but those in the URL. Answers status and body.
pub fn http_get(url: &str) -> (u16, Vec<u8>) {
    let (status, _, body) = http_get_with_head(url);
    (status, body)
}

/// [`http_get`] that also answers the response head, lower-cased.
pub fn http_get_with_head(url: &str) -> (u16, String, Vec<u8>) {
    use std::io::{Read, Write};
    let rest = url.strip_prefix("http://").expect("an http:// URL");
    let (host, path) = rest
        .split_once('/')
        .map(|(h, p)| (h, format!("/{p}")))
        .unwrap_or((rest, "/".into()));
    let mut stream = std::net::TcpStream::connect(host).expect("connect");
    stream
        // moto's data.json holds every test's tables: it can take a while late in a run.
        .set_read_timeout(Some(std::time::Duration::from_secs(60)))
        .expect("timeout");
    let request = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).expect("send");
    let mut response = Vec::new();
    stream.read_to_end(&mut response).expect("read");
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("an HTTP response");
    let head = String::from_utf8_lossy(&response[..split]).to_string();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status");
    let body = response[split + 4..].to_vec();
    let head = head.to_ascii_lowercase();
    if head.contains("transfer-encoding: chunked") {
        let body = dechunk(&body);
        return (status, head, body);
    }
    (status, head, body)
}

/// A plain HTTP/1.1 PUT of `body` to `url` (loopback, no TLS), as a client following a
/// presigned upload URL makes it. Answers the status.
pub fn http_put(url: &str, body: &[u8]) -> u16 {
    use std::io::{Read, Write};
    let rest = url.strip_prefix("http://").expect("an http:// URL");
    let (host, path) = rest
        .split_once('/')
        .map(|(h, p)| (h, format!("/{p}")))
        .unwrap_or((rest, "/".into()));
    let mut stream = std::net::TcpStream::connect(host).expect("connect");
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(60)))
        .expect("timeout");
    let head = format!(
        "PUT {path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).expect("send");
    stream.write_all(body).expect("send");
    let mut response = Vec::new();
    stream.read_to_end(&mut response).expect("read");
    String::from_utf8_lossy(&response)
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status")
}

fn dechunk(mut body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(end) = body.windows(2).position(|w| w == b"\r\n") {
        let size = usize::from_str_radix(
            String::from_utf8_lossy(&body[..end])
                .split(';')
                .next()
                .unwrap_or("0")
                .trim(),
            16,
        )
        .unwrap_or(0);
        if size == 0 {
            break;
        }
        out.extend_from_slice(&body[end + 2..end + 2 + size]);
        body = &body[end + 2 + size + 2..];
    }
    out
}

pub fn ses_client() -> aws_sdk_sesv2::Client {
    let config = aws_sdk_sesv2::Config::builder()
        .behavior_version(aws_sdk_sesv2::config::BehaviorVersion::latest())
        .region(aws_sdk_sesv2::config::Region::new("us-east-1"))
        .endpoint_url(moto_endpoint())
        .credentials_provider(aws_sdk_sesv2::config::Credentials::new(
            "test", "test", None, None, "tests",
        ))
        .build();
    aws_sdk_sesv2::Client::from_conf(config)
}

/// The mail moto's SES has accepted so far (all tests share one moto): raw text per message.
pub fn moto_sent_mail() -> Vec<(Vec<String>, String)> {
    // data.json serialises every backend's models; while another test's DynamoDB call is half
    // way, moto (not thread-safe) can hold a model it cannot serialise and answer 500. The
    // next read sees it whole.
    let url = format!("{}/moto-api/data.json", moto_endpoint());
    let (mut status, mut body) = http_get(&url);
    for _ in 0..20 {
        if status == 200 {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
        (status, body) = http_get(&url);
    }
    assert_eq!(status, 200, "moto's data.json kept failing");
    let data: Value = serde_json::from_slice(&body).expect("moto state is JSON");
    data["ses"]["RawMessage"]
        .as_array()
        .map(|messages| {
            messages
                .iter()
                .map(|m| {
                    let to = m["destinations"]
                        .as_array()
                        .map(|d| {
                            d.iter()
                                .filter_map(|a| a.as_str().map(str::to_string))
                                .collect()
                        })
                        .unwrap_or_default();
                    (to, m["raw_data"].as_str().unwrap_or_default().to_string())
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Runs job `id` (`erasure` or `merge`) as the jobs function does when the table's stream
/// shows it running: the handler fed the stream record of its item. Answers the handler's
/// answer, which must report no failed record.
pub async fn run_job(api: &LambdaApi, kind: &str, id: &str) -> Value {
    let mut event: Value =
        serde_json::from_str(include_str!("../fixtures/dynamodb-stream.json")).unwrap();
    event["Records"][0]["dynamodb"]["NewImage"] = json!({
        "pk": {"S": format!("{}#{id}", kind.to_ascii_uppercase())},
        "sk": {"S": "#"},
        "kind": {"S": kind},
        "job_status": {"S": "running"},
    });
    let handler =
        helpdesk_shared::app::jobs(&api.store, api.objects.clone(), Duration::from_secs(1));
    let mut context = lambda_runtime::Context::default();
    context.deadline = (std::time::SystemTime::now() + Duration::from_secs(120))
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let answer = handler
        .handle(lambda_runtime::LambdaEvent::new(event, context))
        .await
        .expect("the handler accepts the event");
    assert_eq!(answer["batchItemFailures"], json!([]), "{answer}");
    answer
}

/// The stream record DynamoDB would emit (`NEW_IMAGE`) for the item at `pk`/`sk` as it is now,
/// read straight from the table; `sequence` numbers the record.
pub async fn stream_record(
    reader: &aws_sdk_dynamodb::Client,
    table: &str,
    pk: &str,
    sk: &str,
    sequence: usize,
) -> Value {
    use aws_sdk_dynamodb::types::AttributeValue;
    use base64::Engine;
    let item = reader
        .get_item()
        .table_name(table)
        .key("pk", AttributeValue::S(pk.to_string()))
        .key("sk", AttributeValue::S(sk.to_string()))
        .send()
        .await
        .unwrap()
        .item
        .unwrap_or_else(|| panic!("the item {pk} {sk}"));
    let image: serde_json::Map<String, Value> = item
        .iter()
        .map(|(name, value)| {
            let value = match value {
                AttributeValue::S(s) => json!({ "S": s }),
                AttributeValue::N(n) => json!({ "N": n }),
                // Stream records carry binary attributes base64-encoded.
                AttributeValue::B(b) => json!({
                    "B": base64::engine::general_purpose::STANDARD.encode(b.as_ref())
                }),
                other => panic!("unexpected attribute {other:?}"),
            };
            (name.clone(), value)
        })
        .collect();
    let fixture: Value =
        serde_json::from_str(include_str!("../fixtures/dynamodb-stream.json")).unwrap();
    let mut record = fixture["Records"][0].clone();
    record["dynamodb"]["Keys"] = json!({ "pk": image["pk"], "sk": image["sk"] });
    record["dynamodb"]["NewImage"] = Value::Object(image);
    record["dynamodb"]["SequenceNumber"] = json!(format!("{sequence:025}"));
    record
}

/// Runs a started migration one step (one page) per run until it ends; answers how many runs
/// it took (at most 1,000).
pub async fn run_migration_in_steps(
    service: &helpdesk_shared::services::migrations::MigrationService,
    name: &str,
) -> usize {
    for runs in 1..=1_000 {
        let run = service.run(name, Duration::ZERO).await.unwrap();
        if !run.is_running() {
            return runs;
        }
    }
    panic!("{name} did not end in 1,000 runs");
}
