//! Flushing API Gateway's authorizer result caches after a revocation.
//!
//! With API Gateway's result cache on (`AuthorizerCacheTtlSeconds` > 0), an answer for a key
//! is reused for up to the cache's TTL without asking the authorizer, so a revoked key would
//! keep working that long. Every revocation request therefore flushes the authorizer cache of
//! each stage listed in `FLUSH_AUTHORIZER_CACHES` once (one flush per request, however many
//! keys it revoked). API Gateway's flush is asynchronous and can fail; a failure never undoes
//! the revocation: the answer says `pending` and an error line raises an alarm.
//!
//! What is never flushed, because no request happens at that moment: a rotated-out key's
//! grace deadline passing, and a key's natural expiry. Such a key keeps working for at most
//! the cache TTL after that instant (see `docs/contract.md#propagation`).
//!
//! This module is pure (the stage list, the answer, the trait); [`apigateway`] is the AWS SDK
//! implementation, behind the `flush` feature.

#[cfg(feature = "flush")]
pub mod apigateway;

use std::fmt;
use std::future::Future;
use std::pin::Pin;

/// Which API Gateway flavour a stage belongs to: each has its own flush call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// REST API: `FlushStageAuthorizersCache`.
    Rest,
    /// HTTP API: `ResetAuthorizersCache`.
    Http,
}

/// One stage whose authorizer cache a revocation flushes: `rest:{api id}/{stage}` or
/// `http:{api id}/{stage}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stage {
    pub kind: Kind,
    pub api_id: String,
    pub stage: String,
}

impl Stage {
    /// Reads `FLUSH_AUTHORIZER_CACHES`: comma-separated stages, blank for none. Api ids are
    /// lower-case letters and digits, stage names letters, digits, `-` and `_` (or HTTP
    /// API's `$default`), as API Gateway makes them: nothing that could widen the IAM resource
    /// built from them.
    pub fn parse_list(text: &str) -> Result<Vec<Self>, String> {
        let mut stages: Vec<Self> = Vec::new();
        for item in text.split(',').map(str::trim).filter(|item| !item.is_empty()) {
            let stage = Self::parse(item)?;
            if stages.contains(&stage) {
                return Err(format!("{item} is listed twice"));
            }
            stages.push(stage);
        }
        Ok(stages)
    }

    fn parse(item: &str) -> Result<Self, String> {
        let shape = || format!("{item:?} is not rest:API_ID/STAGE or http:API_ID/STAGE");
        let (kind, rest) = item.split_once(':').ok_or_else(shape)?;
        let kind = match kind {
            "rest" => Kind::Rest,
            "http" => Kind::Http,
            _ => return Err(shape()),
        };
        let (api_id, stage) = rest.split_once('/').ok_or_else(shape)?;
        let api_ok = !api_id.is_empty()
            && api_id.len() <= 64
            && api_id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
        let stage_ok = (kind == Kind::Http && stage == "$default")
            || (!stage.is_empty()
                && stage.len() <= 128
                && stage.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        if !api_ok || !stage_ok {
            return Err(shape());
        }
        Ok(Self { kind, api_id: api_id.to_owned(), stage: stage.to_owned() })
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.kind {
            Kind::Rest => "rest",
            Kind::Http => "http",
        };
        write!(f, "{kind}:{}/{}", self.api_id, self.stage)
    }
}

/// What a revocation answer says about API Gateway's caches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Propagation {
    /// Every listed stage accepted the flush.
    Flushed,
    /// At least one stage did not: a cached answer may let the key through until its TTL ends
    /// (an alarm fires; repeating the revocation flushes again).
    Pending,
}

impl Propagation {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Flushed => "flushed",
            Self::Pending => "pending",
        }
    }
}

/// The message of the error line a failed flush logs; the template's metric filter counts it.
pub const FLUSH_FAILED: &str = "authorizer cache flush failed";

/// Flushes every listed stage's authorizer cache once. Implementations retry within their own
/// budget and log [`FLUSH_FAILED`] for each stage that still failed.
pub trait Flusher: Send + Sync {
    fn flush(&self) -> Pin<Box<dyn Future<Output = Propagation> + Send + '_>>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stages_are_read_in_order_with_blanks_ignored() {
        let stages = Stage::parse_list(" rest:abc123/prod, ,http:x9/$default,http:x9/v1 ").unwrap();
        let shown: Vec<String> = stages.iter().map(ToString::to_string).collect();
        assert_eq!(shown, ["rest:abc123/prod", "http:x9/$default", "http:x9/v1"]);
        assert!(Stage::parse_list("  ").unwrap().is_empty());
    }

    #[test]
    fn a_stage_that_could_widen_its_iam_resource_is_refused() {
        for bad in [
            "rest:abc",
            "rest:abc/",
            "rest:/prod",
            "ws:abc/prod",
            "rest:abc/*",
            "rest:ABC/prod",
            "rest:abc/prod/x",
            "rest:abc/$default",
            "http:a*/prod",
            "rest:abc/prod,rest:abc/prod",
        ] {
            assert!(Stage::parse_list(bad).is_err(), "{bad}");
        }
    }
}
