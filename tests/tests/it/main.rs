//! Every integration and end-to-end test of the workspace, in one test binary.
//!
//! Cargo builds each file directly under `tests/tests/` as a binary of its own, and every one of
//! them links the AWS SDK, the functions and the runner. As modules of one binary they are
//! compiled and linked once. The modules keep the names the binaries had, so a part is still
//! run on its own by its path: `cargo test -p nico-keys-tests -- store_contract::`.
//!
//! - [`store_contract`]: every store behaviour, on DynamoDB (moto) and on the embedded store.
//! - [`authorizer`]: the authorizer with the AWS documentation's example events, on moto.
//! - [`management_api`]: the management API with HTTP API 2.0 events, on moto.
//! - [`local_e2e`]: the local runner as a process, over real HTTP.
//! - [`hostile_input`]: every event shape and malformed variants of each, with a real key
//!   inside, in process and through the real bootstrap: the key is in no answer, error or log.
//! - [`infra`]: the SAM template, read offline and held to the code.

mod authorizer;
mod hostile_input;
mod infra;
mod local_e2e;
mod management_api;
mod store_contract;
