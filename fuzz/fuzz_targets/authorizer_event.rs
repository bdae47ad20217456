//! The authorizer on any input, as Lambda would deliver it: the event read exactly as
//! `lambda_runtime` reads it, then the decision, with a store that knows one key and records
//! its uses (written, already recent, or failing: chosen by the input).
//!
//! * Reading never fails on valid JSON (a failure is what the runtime would log and return,
//!   quoting the input).
//! * No answer, error, `Diagnostic`, event `Debug` or log line holds the key, its secret or
//!   its digest (`nico_keys::token::leak_forms`), the last-used write and its failure
//!   included.
//! * A use is recorded exactly when the key was verified: once for an answer built on it, never
//!   for an error.
//! * An HTTP API request whose path could be read as another path is never allowed, and a
//!   REST policy never allows one.
#![no_main]

use authorizer::{Authorizer, AuthorizerEvent, AuthorizerResponse};
use libfuzzer_sys::fuzz_target;
use nico_keys::ManualClock;
use nico_keys::routes::{RouteRules, glob_matches, path_refusal};
use nico_keys_fuzz::{KnownKey, Log, ROUTES, UseAnswer, assert_no_secret, catalog, now, raw_key, ready};
use std::sync::{Arc, OnceLock};

fn authorizer() -> &'static Authorizer<KnownKey> {
    static AUTHORIZER: OnceLock<Authorizer<KnownKey>> = OnceLock::new();
    AUTHORIZER.get_or_init(|| {
        let rules = RouteRules::parse(ROUTES, &catalog()).unwrap();
        Authorizer::new(KnownKey::default(), rules, Arc::new(ManualClock::at(now())))
    })
}

fuzz_target!(|data: &[u8]| {
    let log = Log::get();
    let Ok(text) = std::str::from_utf8(data) else { return };
    let bytes = text.replace("{{TOKEN}}", raw_key()).replace("KEY_HERE", raw_key()).into_bytes();
    // lambda_runtime reads the first JSON value and ignores whatever follows it; so does this.
    let value: Option<serde_json::Value> =
        serde_json::Deserializer::from_slice(&bytes).into_iter().next().and_then(Result::ok);
    let valid_json = value.is_some();

    let mut json = serde_json::Deserializer::from_slice(&bytes);
    let event: AuthorizerEvent = match serde_path_to_error::deserialize(&mut json) {
        Ok(event) => event,
        Err(error) => {
            assert!(!valid_json, "valid JSON could not be read");
            assert_no_secret("the deserialisation error", &format!("{error} {error:?}"));
            return;
        }
    };
    assert_no_secret("the event's Debug", &format!("{event:?}"));

    // The path asked for, as the HTTP API decision reads it.
    let http_path = value.as_ref().and_then(|v| {
        (v["type"] == "REQUEST" && v["version"] == "2.0")
            .then(|| v["rawPath"].as_str().unwrap_or("/").to_owned())
    });

    let store = authorizer().store();
    store.answer_uses_with(UseAnswer::for_input(data));
    let uses_before = store.uses();
    let answer = ready(authorizer().handle(event));
    let uses = store.uses() - uses_before;
    match &answer {
        Ok(AuthorizerResponse::Allowed(_) | AuthorizerResponse::Policy(_)) => {
            assert_eq!(uses, 1, "a verified key's use was not recorded once")
        }
        Ok(AuthorizerResponse::Refused(_)) => assert!(uses <= 1, "a use recorded twice"),
        Err(_) => assert_eq!(uses, 0, "a use recorded for a refused key"),
    }

    match answer {
        Ok(response) => {
            let json = serde_json::to_string(&response).unwrap();
            // A REST policy names the API and stage of the methodArn it was asked for (API
            // Gateway's configuration, not the client's): all but those may hold no key.
            let mut answer: serde_json::Value = serde_json::from_str(&json).unwrap();
            if let Some(statements) = answer["policyDocument"]["Statement"].as_array_mut() {
                for statement in statements {
                    if let Some(resources) = statement["Resource"].as_array_mut() {
                        for resource in resources {
                            let tail = resource.as_str().and_then(|r| r.splitn(3, '/').nth(2)).unwrap_or("");
                            *resource = serde_json::Value::from(tail);
                        }
                    }
                }
            }
            assert_no_secret("the answer", &answer.to_string());
            match &response {
                // The checks below read the event again with serde_json::Value, which refuses a
                // raw control character in a field name; the authorizer reads field names as
                // bytes and does not (nothing rests on it). Such an input is checked above only.
                _ if value.is_none() => {}
                AuthorizerResponse::Allowed(_) => {
                    let path = http_path.expect("only an HTTP API event is answered this way");
                    assert!(path_refusal(&path).is_none(), "an unsafe path was allowed");
                }
                AuthorizerResponse::Policy(_) => {
                    // Whatever the key may call, the policy denies every refused path.
                    let arn = value.as_ref().and_then(|v| v["methodArn"].as_str()).expect("a REST event");
                    let mut parts = arn.splitn(3, '/');
                    let (api, stage) = (parts.next().unwrap(), parts.next().unwrap());
                    let policy: serde_json::Value = serde_json::from_str(&json).unwrap();
                    let empty = Vec::new();
                    let statements = policy["policyDocument"]["Statement"].as_array().unwrap_or(&empty);
                    for path in TRICKS {
                        let request = format!("{api}/{stage}/GET{path}");
                        let denied = statements.iter().filter(|s| s["Effect"] == "Deny").any(|s| {
                            s["Resource"]
                                .as_array()
                                .unwrap_or(&empty)
                                .iter()
                                .any(|r| glob_matches(r.as_str().unwrap_or(""), &request))
                        });
                        assert!(denied, "the policy does not deny {path}");
                    }
                }
                AuthorizerResponse::Refused(_) => {}
            }
        }
        Err(error) => {
            assert_no_secret("the error", &format!("{error} {error:?}"));
            let diagnostic = lambda_runtime_diagnostic(error);
            assert_no_secret("the Diagnostic", &diagnostic);
        }
    }
    assert_no_secret("the log", &log.take());
});

/// Paths under `GET /projects/*` (which the known key opens) that a backend could read as
/// another path.
const TRICKS: [&str; 5] =
    ["/projects/../billing", "/projects/%2e%2e/x", "/projects/..%2Fx", "/projects//x", "/projects/"];

fn lambda_runtime_diagnostic(error: authorizer::AuthorizerError) -> String {
    let diagnostic = lambda_runtime::Diagnostic::from(error);
    format!("{} {}", diagnostic.error_type, diagnostic.error_message)
}
