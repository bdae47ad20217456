//! The store contract's plumbing: each behaviour, written once as a function generic over the
//! store, becomes one test per store, and the verdict helpers read what verification said.

use nico_keys::Principal;
use nico_keys::store::{Rejection, VerifyError};

/// Generates, for each behaviour, one test per store: `dynamodb::<name>` and `embedded::<name>`.
#[macro_export]
macro_rules! contract {
    ($($name:ident),* $(,)?) => {
        mod dynamodb {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    super::$name($crate::world::World::dynamodb().await).await;
                }
            )*
        }
        mod embedded {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    super::$name($crate::world::World::embedded()).await;
                }
            )*
        }
    };
}

/// The principal of a key that must verify.
pub fn verify_ok(result: Result<Principal, VerifyError>) -> Principal {
    result.unwrap_or_else(|e| panic!("expected the key to verify, got {e}"))
}

/// Why a key that must be refused was refused.
pub fn rejection(result: Result<Principal, VerifyError>) -> Rejection {
    match result {
        Err(VerifyError::Rejected(reason)) => reason,
        other => panic!("expected a rejection, got {other:?}"),
    }
}
