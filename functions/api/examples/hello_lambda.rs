//! The smallest `lambda_http` function: the baseline the API function's cold start is measured
//! against (`cargo bench --bench cold_start`). Built with the same release profile.

use lambda_http::{Body, Error, Request, Response, run, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    run(service_fn(|_request: Request| async {
        Ok::<_, Error>(Response::new(Body::from(r#"{"status":"ok"}"#)))
    }))
    .await
}
