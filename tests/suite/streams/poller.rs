//! Reads the table's DynamoDB stream from dynoxide the way Lambda's event source mapping does:
//! every shard from its start, records filtered by the function's `FilterCriteria` and cut into
//! batches of its `BatchSize`, both read from `infra/template.yaml`, and handed to the function
//! as one `aws:dynamodb` event per batch (items it reports as failed are sent again).

use std::collections::BTreeMap;

use aws_sdk_dynamodb::types::{StreamSpecification, StreamViewType};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::runtime::Function;

/// What the template says a function's event source mapping passes and how many at a time.
pub struct Mapping {
    pub patterns: Vec<Value>,
    pub batch_size: usize,
    /// `MaximumBatchingWindowInSeconds`: how long Lambda gathers records before it invokes
    /// with a batch that is not full (0 when the template sets none, as Lambda's default).
    #[allow(
        dead_code,
        reason = "the events benchmark's polling model reads it; the tests hand batches over at once"
    )]
    pub batching_window: std::time::Duration,
}

impl Mapping {
    /// The stream mapping of the template's resource `resource` (e.g. `NotifierFunction`).
    pub fn of(resource: &str) -> Mapping {
        let template = include_str!("../../../infra/template.yaml");
        let start = template
            .find(&format!("\n  {resource}:\n"))
            .unwrap_or_else(|| panic!("{resource} is in the template"));
        let block: Vec<&str> = template[start + 1..]
            .lines()
            .skip(1)
            .take_while(|line| line.is_empty() || line.starts_with("   "))
            .collect();
        let patterns: Vec<Value> = block
            .iter()
            .filter_map(|line| line.trim().strip_prefix("- Pattern: "))
            .map(|quoted| {
                let text = quoted.trim_matches('\'');
                serde_json::from_str(text).unwrap_or_else(|e| panic!("{text}: {e}"))
            })
            .collect();
        let batch_size = block
            .iter()
            .find_map(|line| line.trim().strip_prefix("BatchSize: "))
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("{resource} has a BatchSize"));
        let batching_window = block
            .iter()
            .find_map(|line| line.trim().strip_prefix("MaximumBatchingWindowInSeconds: "))
            .map_or(0, |n| n.parse().unwrap_or_else(|e| panic!("{n}: {e}")));
        assert!(!patterns.is_empty(), "{resource} has filter patterns");
        Mapping {
            patterns,
            batch_size,
            batching_window: std::time::Duration::from_secs(batching_window),
        }
    }

    /// Whether Lambda's event filtering passes `record`: any pattern matches.
    pub fn passes(&self, record: &Value) -> bool {
        self.patterns.iter().any(|p| matches(p, record))
    }
}

/// EventBridge-style matching, as far as the template uses it: an object pattern matches when
/// each of its fields matches the record's field of that name; a list of values matches a
/// scalar equal to one of them.
fn matches(pattern: &Value, value: &Value) -> bool {
    match pattern {
        Value::Object(fields) => fields
            .iter()
            .all(|(name, inner)| value.get(name).is_some_and(|v| matches(inner, v))),
        Value::Array(allowed) => allowed.iter().any(|a| match a {
            // A content filter: only `prefix` is used by the template.
            Value::Object(filter) => {
                let prefix = filter.get("prefix").and_then(Value::as_str);
                assert!(
                    prefix.is_some() && filter.len() == 1,
                    "content filters other than prefix ({a}) are not read by this poller: extend it"
                );
                value
                    .as_str()
                    .zip(prefix)
                    .is_some_and(|(v, p)| v.starts_with(p))
            }
            scalar => scalar == value,
        }),
        other => panic!("a pattern leaf must be a list of values, not {other}"),
    }
}

/// A stream reader on one table.
pub struct StreamPoller {
    endpoint: String,
    stream_arn: String,
    /// Each shard's next iterator; `None` once a closed shard is read to its end.
    iterators: BTreeMap<String, Option<String>>,
}

impl StreamPoller {
    /// Turns the table's stream on (`NEW_AND_OLD_IMAGES`, as the template does) and starts
    /// reading at the first record written after this.
    pub async fn open(client: &aws_sdk_dynamodb::Client, endpoint: &str, table: &str) -> Self {
        client
            .update_table()
            .table_name(table)
            .stream_specification(
                StreamSpecification::builder()
                    .stream_enabled(true)
                    .stream_view_type(StreamViewType::NewAndOldImages)
                    .build()
                    .expect("stream specification"),
            )
            .send()
            .await
            .expect("dynoxide turns the stream on");
        let described = client
            .describe_table()
            .table_name(table)
            .send()
            .await
            .expect("DescribeTable");
        let stream_arn = described
            .table
            .and_then(|t| t.latest_stream_arn)
            .expect("the table has a stream");
        StreamPoller {
            endpoint: endpoint.to_string(),
            stream_arn,
            iterators: BTreeMap::new(),
        }
    }

    /// Every record written since the last read, in order per shard, as Lambda shows them.
    pub async fn records(&mut self) -> Vec<Value> {
        let described = self
            .call(
                "DescribeStream",
                json!({"StreamArn": self.stream_arn, "Limit": 100}),
            )
            .await;
        let shards = described["StreamDescription"]["Shards"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        for shard in &shards {
            let id = shard["ShardId"].as_str().expect("ShardId").to_string();
            if !self.iterators.contains_key(&id) {
                let answer = self
                    .call(
                        "GetShardIterator",
                        json!({"StreamArn": self.stream_arn, "ShardId": id,
                               "ShardIteratorType": "TRIM_HORIZON"}),
                    )
                    .await;
                let iterator = answer["ShardIterator"].as_str().map(str::to_string);
                self.iterators.insert(id, iterator);
            }
        }
        let mut records = Vec::new();
        let ids: Vec<String> = self.iterators.keys().cloned().collect();
        for id in ids {
            // Bounded: a shard gives at most this many pages per read.
            for _ in 0..100 {
                let Some(Some(iterator)) = self.iterators.get(&id).cloned() else {
                    break;
                };
                let answer = self
                    .call(
                        "GetRecords",
                        json!({"ShardIterator": iterator, "Limit": 1000}),
                    )
                    .await;
                let page = answer["Records"].as_array().cloned().unwrap_or_default();
                let next = answer["NextShardIterator"].as_str().map(str::to_string);
                self.iterators.insert(id.clone(), next);
                if page.is_empty() {
                    break;
                }
                records.extend(page.into_iter().map(|mut record| {
                    record["eventSourceARN"] = json!(self.stream_arn);
                    record
                }));
            }
        }
        records
    }

    /// Reads what is new and hands what `mapping` passes to `function`, a batch at a time,
    /// sending again from the first item a batch reports as failed (at most 5 times, as the
    /// template's retry attempts). Answers how many records were delivered.
    pub async fn deliver(&mut self, mapping: &Mapping, function: &Function) -> usize {
        let passed: Vec<Value> = self
            .records()
            .await
            .into_iter()
            .filter(|r| mapping.passes(r))
            .collect();
        for batch in passed.chunks(mapping.batch_size) {
            let mut batch = batch.to_vec();
            for attempt in 0.. {
                let answer = function.invoke(json!({ "Records": batch })).await;
                let answer = answer.unwrap_or_else(|e| panic!("{} failed: {e}", function.name));
                let failed = answer["batchItemFailures"]
                    .as_array()
                    .and_then(|f| f.first())
                    .and_then(|f| f["itemIdentifier"].as_str())
                    .map(str::to_string);
                let Some(failed) = failed else { break };
                assert!(attempt < 5, "{} kept failing at {failed}", function.name);
                let at = batch
                    .iter()
                    .position(|r| r["dynamodb"]["SequenceNumber"] == failed.as_str())
                    .unwrap_or(0);
                batch.drain(..at);
            }
        }
        passed.len()
    }

    async fn call(&self, operation: &str, body: Value) -> Value {
        let (status, text) = post_json(
            &self.endpoint,
            &format!("DynamoDBStreams_20120810.{operation}"),
            &body.to_string(),
        )
        .await;
        assert_eq!(status, 200, "{operation}: {text}");
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{operation}: {e}: {text}"))
    }
}

/// One DynamoDB Streams request over plain HTTP (dynoxide checks that a signature is present,
/// not what it says).
async fn post_json(endpoint: &str, target: &str, body: &str) -> (u16, String) {
    post_json_to(endpoint, "dynamodb", target, body).await
}

/// One JSON-protocol AWS request to `service` (its credential scope, which moto routes by).
pub(crate) async fn post_json_to(
    endpoint: &str,
    service: &str,
    target: &str,
    body: &str,
) -> (u16, String) {
    let host = endpoint
        .strip_prefix("http://")
        .expect("an http:// endpoint");
    let mut stream = tokio::net::TcpStream::connect(host).await.expect("connect");
    let request = format!(
        "POST / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\
         Content-Type: application/x-amz-json-1.0\r\nX-Amz-Target: {target}\r\n\
         X-Amz-Date: 20261207T000000Z\r\n\
         Authorization: AWS4-HMAC-SHA256 Credential=test/20261207/us-east-1/{service}/aws4_request, SignedHeaders=host;x-amz-date, Signature=0\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.expect("send");
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.expect("read");
    let text = String::from_utf8_lossy(&response).to_string();
    let (head, rest) = text.split_once("\r\n\r\n").expect("an HTTP response");
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status");
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        unchunk(rest)
    } else {
        rest.to_string()
    };
    (status, body)
}

fn unchunk(mut rest: &str) -> String {
    let mut body = String::new();
    while let Some((size, after)) = rest.split_once("\r\n") {
        let size = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if size == 0 || after.len() < size {
            break;
        }
        body.push_str(&after[..size]);
        rest = after[size..].trim_start_matches("\r\n");
    }
    body
}
