//! Every integration and end-to-end test of the workspace, in one test binary.
//!
//! Cargo builds each file directly under `tests/tests/` as a binary of its own, and every one of
//! them links the AWS SDK, the functions and the runner. As modules of one binary they are
//! compiled and linked once. The modules keep the names the binaries had, so a part is still
//! run on its own by its path: `cargo test -p nico-keys-tests -- store_contract::`.
//!
//! - [`store_contract`]: every store behaviour, on DynamoDB (moto) and on the embedded store.
//! - [`store_rotation`]: rotation and the active-key cap, on both stores.
//! - [`store_upgrade`]: bot users as the earlier code stored them, on both stores.
//! - [`store_dynamodb`]: races forced at the exact point, and what the DynamoDB store sends.
//! - [`authorizer`]: the authorizer with the AWS documentation's example events, on moto.
//! - [`faults`]: DynamoDB failing under both functions (through a fault proxy), corrupt items.
//! - [`people`]: people and rights over the management API: accounts, ceilings, the rights matrix.
//! - [`management_api`]: the management API with HTTP API 2.0 events, on moto.
//! - [`local_e2e`]: the local runner as a process, over real HTTP.
//! - [`oidc`]: signing in against the runner's dev OIDC issuer, over real HTTP.
//! - [`hostile_input`]: every event shape and malformed variants of each, with a real key
//!   inside, in process and through the real bootstrap: the key is in no answer, error or log.
//! - [`leak_report`]: GitHub's secret-scanning reports through the runner: signed, revoked, answered.
//! - [`infra`]: the SAM template, read offline and held to the code.
//! - [`console`]: the web console in Debian's Chromium, driven by Playwright, against the runner.
//! - [`cli`]: the `nico-keys` CLI as a process against the runner: outputs, exit codes, files.
//! - [`scale`]: the authorizer's micro-cache with a test clock, the flush of API Gateway's
//!   authorizer caches after every revocation (SDK against a local stub), their template wiring.
//! - [`audit`]: the audit trail on both stores: the story, who sees what, atomicity, no secrets,
//!   events outliving their keys.
//! - [`notifier`]: expiry warnings from both stores to moto's SNS, read from a subscribed queue.
//! - [`all_keys`]: "all my keys" (`GET /v1/keys`): rights, filters, paging, on both stores.
//! - [`last_used`]: the authorizer's last-used write and what the API shows of it.
//! - [`whoami`]: a key describes itself (`GET /v1/whoami`) through the local runner.

mod all_keys;
mod audit;
mod authorizer;
mod cli;
mod console;
mod faults;
mod hostile_input;
mod infra;
mod last_used;
mod leak_report;
mod local_e2e;
mod management_api;
mod notifier;
mod oidc;
mod people;
mod scale;
mod store_contract;
mod store_dynamodb;
mod store_rotation;
mod store_upgrade;
mod whoami;
