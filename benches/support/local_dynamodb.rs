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
