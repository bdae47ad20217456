//! The smallest `lambda_runtime` function: the same runtime crate, tokio flavour and release
//! profile as the authorizer, and nothing else. `bench/cold-start` compares the authorizer's
//! start-up against this one's.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::{Value, json};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(|_: LambdaEvent<Value>| async {
        Ok::<_, Error>(json!({"hello": "world"}))
    }))
    .await
}
