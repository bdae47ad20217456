//! The management API's body reader on any bytes, for bodies shaped like each operation's: a
//! refusal names `body` or a field, with a message from the fixed list, never a part of the
//! input other than the name of an unknown field.
#![no_main]

use key_management::ApiError;
use key_management::extract::parse_json;
use libfuzzer_sys::fuzz_target;
use serde::Deserialize;

/// The shapes of the operations' bodies (`functions/key-management/src/{bots,keys}.rs`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct CreateKey {
    name: Option<String>,
    expires_at: Option<String>,
    scopes: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct RotateKey {
    expires_at: Option<String>,
    grace_seconds: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RevokeKey {}

const MESSAGES: [&str; 10] = [
    "is not valid JSON",
    "is invalid",
    "is not a field of this request",
    "is given more than once",
    "is required",
    "must be a string",
    "must be a list",
    "must be true or false",
    "must be a whole number",
    "must be a JSON object",
];

fn check<T>(bytes: &[u8], fields: &[&str], result: Result<T, ApiError>) {
    let Err(error) = result else { return };
    let ApiError::Validation { field, message } = &error else {
        panic!("not a validation error: {error:?}");
    };
    assert!(MESSAGES.contains(&message.as_str()), "message {message:?} is not one of the fixed list");
    if message == "is not a field of this request" {
        // The unknown field's name, as the body spelled it (perhaps escaped).
        assert!(!fields.contains(&field.as_str()), "a known field called unknown");
    } else {
        assert!(field == "body" || fields.contains(&field.as_str()), "field {field:?}");
    }
    let _ = bytes;
}

fuzz_target!(|data: &[u8]| {
    check(data, &["name", "expires_at", "scopes"], parse_json::<CreateKey>(data));
    check(data, &["expires_at", "grace_seconds"], parse_json::<RotateKey>(data));
    check(data, &[], parse_json::<RevokeKey>(data));
});
