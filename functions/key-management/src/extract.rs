//! Reading a request: who calls (the JWT authorizer's claims), the JSON body, paging.
//!
//! Bodies are read into `#[serde(deny_unknown_fields)]` structs through `serde_path_to_error`,
//! so every refusal names its field: a wrong type, an unknown field, a field given twice (JSON
//! allows it and would silently keep the last one; this API refuses it). Messages are this
//! module's own, chosen from a fixed list, never serde's, which quote the offending input: the
//! only part of a request a refusal repeats is the name of the field at fault.
//!
//! Claims are read with the identity types' strict constructor (`parse_given`): no control
//! characters and no invisible formatting characters in `sub` or the team.

use lambda_http::http::header;
use lambda_http::request::RequestContext;
use lambda_http::{Request, RequestExt};
use nico_keys::audit::Origin;
use nico_keys::config::ClaimNames;
use nico_keys::{Subject, TeamId, token};
use serde::de::DeserializeOwned;

use crate::bodies::RequestBody;
use crate::error::ApiError;

/// Largest request body accepted.
pub const MAX_BODY_BYTES: usize = 16 * 1024;
const DEFAULT_PAGE: usize = 20;
const MAX_PAGE: usize = 100;
/// The role claim value that may write.
pub const OWNER_ROLE: &str = "owner";

const NOT_JSON: &str = "is not valid JSON";
const NOT_AN_OBJECT: &str = "must be a JSON object";
const INVALID: &str = "is invalid";
const UNKNOWN_FIELD: &str = "is not a field of this request";
const GIVEN_TWICE: &str = "is given more than once";
const REQUIRED: &str = "is required";
const NOT_A_STRING: &str = "must be a string";
const NOT_A_LIST: &str = "must be a list";
const NOT_A_BOOLEAN: &str = "must be true or false";
const NOT_A_WHOLE_NUMBER: &str = "must be a whole number";

/// Everything [`parse_json`] may say of a body or of one of its fields: the fixed list its
/// refusals are taken from (the `bodies` fuzz target holds it to this list).
pub const BODY_MESSAGES: [&str; 10] = [
    NOT_JSON,
    NOT_AN_OBJECT,
    INVALID,
    UNKNOWN_FIELD,
    GIVEN_TWICE,
    REQUIRED,
    NOT_A_STRING,
    NOT_A_LIST,
    NOT_A_BOOLEAN,
    NOT_A_WHOLE_NUMBER,
];

/// Who is calling, from the JWT authorizer's verified claims.
#[derive(Debug, Clone)]
pub struct Caller {
    pub subject: Subject,
    pub team: TeamId,
    /// The role claim as given (`owner` may write); absent is a member.
    pub role: Option<String>,
    pub is_owner: bool,
    /// What the person is shown as (the `DISPLAY_NAME_CLAIM` claim, e.g. an e-mail address).
    pub display_name: Option<String>,
    /// Who asks and from where (API Gateway's source address and user agent), for the audit
    /// trail.
    pub origin: Origin,
}

impl Caller {
    /// The caller from the JWT claims; a request without them (or with an API key) is 401.
    pub(crate) fn of(request: &Request, names: &ClaimNames) -> Result<Self, ApiError> {
        let presented = request.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
        if presented.and_then(token::bearer).is_some_and(|key| key.starts_with(token::PREFIX)) {
            return Err(ApiError::ApiKeyNotAccepted);
        }
        let context = match request.request_context_ref() {
            Some(RequestContext::ApiGatewayV2(context)) => Some(context),
            _ => None,
        };
        let claims = context
            .and_then(|context| context.authorizer.as_ref())
            .and_then(|a| a.jwt.as_ref())
            .map(|jwt| &jwt.claims)
            .ok_or(ApiError::Unauthenticated)?;
        let claim = |name: &str| claims.get(name).map(String::as_str).filter(|v| !v.is_empty());
        let subject =
            claim("sub").and_then(|s| Subject::parse_given(s).ok()).ok_or(ApiError::Unauthenticated)?;
        let team =
            claim(&names.team).and_then(|t| TeamId::parse_given(t).ok()).ok_or(ApiError::Unauthenticated)?;
        let role = claim(&names.role).map(str::to_owned);
        let is_owner = role.as_deref() == Some(OWNER_ROLE);
        // Shown back to the person only; one that could not be an identity is left out.
        let display_name =
            claim(&names.display).filter(|v| Subject::parse_given(v).is_ok()).map(str::to_owned);
        let http = context.map(|context| &context.http);
        let origin = Origin::new(
            subject.clone(),
            http.and_then(|http| http.source_ip.as_deref()),
            http.and_then(|http| http.user_agent.as_deref()),
        );
        Ok(Self { subject, team, role, is_owner, display_name, origin })
    }

    pub(crate) fn owner(&self) -> Result<&Self, ApiError> {
        if self.is_owner { Ok(self) } else { Err(ApiError::NotOwner) }
    }
}

/// The body as `T`, if there is one: at most [`MAX_BODY_BYTES`], `application/json`, an
/// object with only `T`'s fields, each at most once.
pub(crate) fn json_body<T: RequestBody>(request: &Request) -> Result<Option<T>, ApiError> {
    let bytes = request.body().as_ref();
    if bytes.len() > MAX_BODY_BYTES {
        return Err(ApiError::PayloadTooLarge);
    }
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    let content_type =
        request.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let media_type = content_type.split(';').next().unwrap_or("").trim();
    if !media_type.eq_ignore_ascii_case("application/json") {
        return Err(ApiError::UnsupportedMediaType);
    }
    parse_json(bytes).map(Some)
}

/// The same body, required.
pub(crate) fn required_body<T: RequestBody>(request: &Request) -> Result<T, ApiError> {
    json_body(request)?.ok_or_else(|| ApiError::field("body", REQUIRED))
}

/// Reads a whole body as `T`: a JSON object with only `T`'s fields, each at most once. The
/// error names the field at fault (`body` for the body as a whole) with one of
/// [`BODY_MESSAGES`].
pub(crate) fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(ApiError::field("body", NOT_AN_OBJECT));
    }
    let mut json = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut json).map_err(|e| {
        if !e.inner().is_data() {
            return ApiError::field("body", NOT_JSON);
        }
        let message = e.inner().to_string();
        match e.path().iter().next() {
            Some(serde_path_to_error::Segment::Map { key }) => ApiError::field(key, problem(&message)),
            _ => match struct_level_field(&message) {
                Some(field) => ApiError::field(field, problem(&message)),
                None => ApiError::field("body", INVALID),
            },
        }
    })?;
    json.end().map_err(|_| ApiError::field("body", NOT_JSON))?;
    Ok(value)
}

/// What is wrong, in this API's words, from serde's message: one of a fixed list, so nothing
/// of the input (which serde quotes for value-level problems) can reach the answer.
fn problem(serde_message: &str) -> &'static str {
    if serde_message.starts_with("unknown field") {
        return UNKNOWN_FIELD;
    } else if serde_message.starts_with("duplicate field") {
        return GIVEN_TWICE;
    } else if serde_message.starts_with("missing field") {
        return REQUIRED;
    }
    // `invalid type: string "<input>", expected u64 at line 1 column 9`: what was expected is
    // the text between serde's last `, expected ` and its position suffix. The input may hold
    // either phrase, so both are searched from the end, and only known answers are used.
    let without_position = serde_message.rsplit_once(" at line ").map_or(serde_message, |(m, _)| m);
    match without_position.rsplit_once(", expected ").map(|(_, expected)| expected) {
        Some("a string") => NOT_A_STRING,
        Some("a sequence") => NOT_A_LIST,
        Some("a boolean") => NOT_A_BOOLEAN,
        Some("u8" | "u16" | "u32" | "u64" | "i32" | "i64" | "usize") => NOT_A_WHOLE_NUMBER,
        _ => INVALID,
    }
}

/// The field a struct-level problem is about (`missing field `name``, `duplicate field
/// `name``, `unknown field `colour`, expected …`), serde's first backquoted word.
fn struct_level_field(serde_message: &str) -> Option<&str> {
    ["unknown field", "duplicate field", "missing field"]
        .iter()
        .any(|prefix| serde_message.starts_with(prefix))
        .then(|| serde_message.split_once('`')?.1.split_once('`').map(|(field, _)| field))
        .flatten()
}

/// A required field of a body, present and not null.
pub(crate) fn required<T>(field: &'static str, value: Option<T>) -> Result<T, ApiError> {
    value.ok_or_else(|| ApiError::field(field, REQUIRED))
}

/// `limit` and `cursor` from the query string.
pub(crate) fn page_request<C>(
    request: &Request,
    cursor: impl Fn(&str) -> Option<C>,
) -> Result<(usize, Option<C>), ApiError> {
    let query = request.query_string_parameters_ref();
    let limit = match query.and_then(|q| q.first("limit")) {
        None => DEFAULT_PAGE,
        Some(text) => text.parse::<usize>().ok().filter(|n| (1..=MAX_PAGE).contains(n)).ok_or_else(|| {
            ApiError::field("limit", format!("must be a whole number from 1 to {MAX_PAGE}"))
        })?,
    };
    let after = match query.and_then(|q| q.first("cursor")) {
        None | Some("") => None,
        Some(text) => {
            Some(cursor(text).ok_or_else(|| ApiError::field("cursor", "is not a cursor this API gave out"))?)
        }
    };
    Ok((limit, after))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        name: Option<String>,
        scopes: Option<Vec<String>>,
        grace_seconds: Option<u64>,
    }

    fn refusal(json: &str) -> (String, String) {
        match parse_json::<Body>(json.as_bytes()) {
            Err(ApiError::Validation { field, message }) => (field, message),
            other => panic!("{json}: expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn every_refusal_names_its_field_and_never_quotes_the_input() {
        let cases = [
            (r#"{"name": "a", "name": "b"}"#, "name", "is given more than once"),
            (r#"{"name": "a", "colour": "secret-value"}"#, "colour", "is not a field of this request"),
            (r#"{"name": 7}"#, "name", "must be a string"),
            (r#"{"scopes": ["a", 3]}"#, "scopes", "must be a string"),
            (r#"{"scopes": "a"}"#, "scopes", "must be a list"),
            (r#"{"grace_seconds": -1}"#, "grace_seconds", "must be a whole number"),
            (r#"{"grace_seconds": "secret-value"}"#, "grace_seconds", "must be a whole number"),
            (r#"[1]"#, "body", "must be a JSON object"),
            (r#"{name: 1}"#, "body", "is not valid JSON"),
            (r#"{"name": "a"} trailing"#, "body", "is not valid JSON"),
            (r#"{"name": "a""#, "body", "is not valid JSON"),
            (r#"{"name": true}"#, "name", "must be a string"),
            (r#"{"name": {"secret-value": 1}}"#, "name", "must be a string"),
            // The input itself holds serde's phrases: still nothing of it comes back.
            (r#"{"grace_seconds": "x, expected secret-value"}"#, "grace_seconds", "must be a whole number"),
            (r#"{"scopes": "a, expected secret-value at line 9"}"#, "scopes", "must be a list"),
            (r#"{"name": ["`secret-value`"]}"#, "name", "must be a string"),
        ];
        for (json, field, message) in cases {
            let (got_field, got_message) = refusal(json);
            assert_eq!((got_field.as_str(), got_message.as_str()), (field, message), "{json}");
            assert!(BODY_MESSAGES.contains(&got_message.as_str()));
            assert!(!got_message.contains("secret-value"));
        }
    }

    #[test]
    fn a_well_formed_body_reads_with_absent_and_null_fields_as_none() {
        let body: Body = parse_json(br#"{"name": "a", "scopes": null}"#).unwrap();
        assert_eq!(body.name.as_deref(), Some("a"));
        assert!(body.scopes.is_none() && body.grace_seconds.is_none());
    }
}
