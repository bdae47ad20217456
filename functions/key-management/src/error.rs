//! Everything that can go wrong with a request, and the one place it becomes a response.
//!
//! Handlers return [`ApiError`]; [`ApiError::into_response`] picks the status and the JSON
//! body `{"error": {"code", "message", "field"?}}`. Expected failures say what to do;
//! an internal error is logged with its cause and the client only learns that it happened.

use lambda_http::http::{StatusCode, header};
use lambda_http::{Body, Response};
use nico_keys::store::StoreError;
use serde_json::json;

use crate::extract::MAX_BODY_BYTES;
use crate::views::{json_response, with_header};

/// Everything that can go wrong, as the client will be told.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{field} {message}")]
    Validation { field: String, message: String },
    #[error("sign in as a team member: this API needs the identity provider's token")]
    Unauthenticated,
    #[error("API keys cannot call the management API; sign in as a team owner")]
    ApiKeyNotAccepted,
    #[error("only team owners may do this")]
    NotOwner,
    #[error("no such route")]
    RouteNotFound,
    #[error("method not allowed; allowed: {allow}")]
    MethodNotAllowed { allow: String },
    #[error("bot user not found")]
    BotNotFound,
    #[error("key not found")]
    KeyNotFound,
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    #[error("request body is larger than {MAX_BODY_BYTES} bytes")]
    PayloadTooLarge,
    #[error("request body must be application/json")]
    UnsupportedMediaType,
    /// Logged with its cause; the client only learns that something went wrong.
    #[error("internal error")]
    Internal(#[source] StoreError),
}

impl ApiError {
    pub(crate) fn field(field: &str, problem: impl ToString) -> Self {
        Self::Validation { field: field.to_owned(), message: problem.to_string() }
    }

    /// A store outcome on a read: a deleted bot user is simply not there.
    pub(crate) fn reading(error: StoreError) -> Self {
        match error {
            StoreError::BotDeleted => Self::BotNotFound,
            other => Self::writing(other),
        }
    }

    /// A store outcome on a write: a deleted bot user is a conflict, so the client knows.
    pub(crate) fn writing(error: StoreError) -> Self {
        let conflict = |code, error: StoreError| Self::Conflict { code, message: error.to_string() };
        match error {
            StoreError::BotNotFound => Self::BotNotFound,
            StoreError::KeyNotFound => Self::KeyNotFound,
            e @ StoreError::BotDeleted => conflict("bot_user_deleted", e),
            e @ StoreError::ActiveKeyLimit { .. } => conflict("active_key_limit", e),
            e @ StoreError::OutsideCeiling { .. } => Self::field("scopes", e),
            e @ StoreError::KeysOutsideScopes { .. } => conflict("keys_outside_scopes", e),
            e @ StoreError::KeyRevoked => conflict("key_revoked", e),
            e @ StoreError::KeyExpired => conflict("key_expired", e),
            e @ StoreError::KeyAlreadyRotated => conflict("key_already_rotated", e),
            e @ StoreError::Contention => conflict("concurrent_change", e),
            e @ StoreError::Unavailable(_) => Self::Internal(e),
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::Validation { .. } => StatusCode::BAD_REQUEST,
            Self::Unauthenticated | Self::ApiKeyNotAccepted => StatusCode::UNAUTHORIZED,
            Self::NotOwner => StatusCode::FORBIDDEN,
            Self::RouteNotFound | Self::BotNotFound | Self::KeyNotFound => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            Self::Conflict { .. } => StatusCode::CONFLICT,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            Self::Validation { .. } => "validation_failed",
            Self::Unauthenticated => "unauthenticated",
            Self::ApiKeyNotAccepted => "api_key_not_accepted",
            Self::NotOwner => "not_owner",
            Self::RouteNotFound => "route_not_found",
            Self::MethodNotAllowed { .. } => "method_not_allowed",
            Self::BotNotFound => "bot_user_not_found",
            Self::KeyNotFound => "key_not_found",
            Self::Conflict { code, .. } => code,
            Self::PayloadTooLarge => "payload_too_large",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::Internal(_) => "internal_error",
        }
    }

    /// The one place an error becomes a response.
    pub fn into_response(self) -> Response<Body> {
        if let Self::Internal(cause) = &self {
            tracing::error!(error = %cause, "internal error");
        }
        let mut error = json!({ "code": self.code(), "message": self.to_string() });
        if let Self::Validation { field, .. } = &self {
            error["field"] = json!(field);
        }
        let response = json_response(self.status(), &json!({ "error": error }));
        match &self {
            Self::MethodNotAllowed { allow } => with_header(response, header::ALLOW, allow),
            _ => response,
        }
    }
}
