//! After a revocation: flush API Gateway's authorizer caches, and say how that went.
//!
//! Every revocation request (revoke a key, revoke a bot user's keys, delete a bot user,
//! re-assign it with its keys revoked) calls [`Api::propagate`] once, after the store call
//! succeeded: one flush per request, however many keys it revoked. A repeated revocation
//! (idempotent) flushes again, so repeating a `pending` one is how to retry the flush.
//!
//! The answer carries the outcome only when a flusher is configured
//! (`FLUSH_AUTHORIZER_CACHES`): a JSON answer gains `"propagation": "flushed" | "pending"`; the
//! 204 of a deletion has no body, so it gains the header `Propagation: flushed | pending`.

use std::sync::Arc;

use lambda_http::http::header::HeaderName;
use lambda_http::{Body, Response};
use nico_keys::flush::{Flusher, Propagation};
use serde_json::Value;

use crate::Api;
use crate::views::with_header;

/// The header of a 204 revocation answer.
pub const PROPAGATION_HEADER: &str = "propagation";

impl<S> Api<S> {
    /// Flushes API Gateway's authorizer caches after every revocation (see the module doc).
    pub fn with_flusher(mut self, flusher: Arc<dyn Flusher>) -> Self {
        self.flusher = Some(flusher);
        self
    }

    /// The flush after a revocation that succeeded; `None` without a flusher.
    pub(crate) async fn propagate(&self) -> Option<Propagation> {
        match &self.flusher {
            Some(flusher) => Some(flusher.flush().await),
            None => None,
        }
    }
}

/// `response` with the outcome of the flush: a field of a JSON object body, else a header.
pub(crate) fn with_propagation(response: Response<Body>, propagation: Option<Propagation>) -> Response<Body> {
    let Some(propagation) = propagation else {
        return response;
    };
    let (mut parts, body) = response.into_parts();
    let body = match body {
        Body::Text(text) => match serde_json::from_str::<Value>(&text) {
            Ok(Value::Object(mut object)) => {
                object.insert("propagation".into(), propagation.as_str().into());
                Body::Text(Value::Object(object).to_string())
            }
            _ => Body::Text(text),
        },
        other => {
            parts.headers.remove(PROPAGATION_HEADER);
            return with_header(
                Response::from_parts(parts, other),
                HeaderName::from_static(PROPAGATION_HEADER),
                propagation.as_str(),
            );
        }
    };
    Response::from_parts(parts, body)
}
