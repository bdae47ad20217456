//! Visitors that accept every JSON value: what a field cannot use counts as absent. Their only
//! errors are the deserializer's own (input that is not JSON).

use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::AuthorizerEvent;

/// The visit methods of the JSON value kinds a visitor has no use for: they are absent
/// (`Default`), containers skipped whole.
macro_rules! absent {
    (scalars) => {
        fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
            Ok(Default::default())
        }
        fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
            Ok(Default::default())
        }
        fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
            Ok(Default::default())
        }
        fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
            Ok(Default::default())
        }
        fn visit_unit<E>(self) -> Result<Self::Value, E> {
            Ok(Default::default())
        }
        fn visit_none<E>(self) -> Result<Self::Value, E> {
            Ok(Default::default())
        }
    };
    (str) => {
        fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
            Ok(Default::default())
        }
    };
    (seq) => {
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            Ok(Default::default())
        }
    };
    (map) => {
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            // Names as bytes (see `FieldName`), values skipped whole by the deserializer.
            while map.next_key_seed(OneOf(&[]))?.is_some() {
                map.next_value::<IgnoredAny>()?;
            }
            Ok(Default::default())
        }
    };
}

/// The top level: an object of the fields below; anything else has none of them.
pub(super) struct Event;

/// The names of the fields read; every other name is skipped, its value unread.
enum Field {
    Type,
    Version,
    AuthorizationToken,
    MethodArn,
    Headers,
    RawPath,
    IdentitySource,
    RequestContext,
    Other,
}

impl<'de> Visitor<'de> for Event {
    type Value = AuthorizerEvent;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    absent!(scalars);
    absent!(str);
    absent!(seq);

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut event = AuthorizerEvent::default();
        while let Some(field) = map.next_key_seed(FieldName)? {
            match field {
                Field::Type => event.kind = map.next_value_seed(Text)?,
                Field::Version => event.version = map.next_value_seed(Text)?,
                Field::AuthorizationToken => event.authorization_token = map.next_value_seed(Text)?,
                Field::MethodArn => event.method_arn = map.next_value_seed(Text)?,
                Field::Headers => event.authorization = map.next_value_seed(AuthorizationHeader)?,
                Field::RawPath => event.raw_path = map.next_value_seed(Text)?,
                Field::IdentitySource => event.identity_source = map.next_value_seed(FirstText)?,
                Field::RequestContext => {
                    let context = map.next_value_seed(Context)?;
                    (event.stage, event.http_method) = (context.stage, context.method);
                    event.source_ip = context.source_ip;
                }
                Field::Other => drop(map.next_value::<IgnoredAny>()?),
            }
        }
        Ok(event)
    }
}

/// A field name, compared without being copied.
///
/// Names are read as bytes (`deserialize_bytes`): `serde_path_to_error`, which
/// `lambda_runtime` reads events through, records a name read as a string and puts it in
/// the path of an error, and an object's field names are input too (a header's name, say).
/// Read as bytes, a name is not recorded, so even an error on input that is not JSON names
/// no part of it. Values skipped whole (`IgnoredAny`) are skipped by `serde_json` itself,
/// so names inside them are never seen by anyone.
struct FieldName;

impl<'de> DeserializeSeed<'de> for FieldName {
    type Value = Field;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Field, D::Error> {
        deserializer.deserialize_bytes(self)
    }
}

impl<'de> Visitor<'de> for FieldName {
    type Value = Field;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a field name")
    }

    fn visit_bytes<E>(self, name: &[u8]) -> Result<Field, E> {
        Ok(match name {
            b"type" => Field::Type,
            b"version" => Field::Version,
            b"authorizationToken" => Field::AuthorizationToken,
            b"methodArn" => Field::MethodArn,
            b"headers" => Field::Headers,
            b"rawPath" => Field::RawPath,
            b"identitySource" => Field::IdentitySource,
            b"requestContext" => Field::RequestContext,
            _ => Field::Other,
        })
    }

    fn visit_str<E: serde::de::Error>(self, name: &str) -> Result<Field, E> {
        self.visit_bytes(name.as_bytes())
    }
}

/// A string, else absent.
struct Text;

impl<'de> DeserializeSeed<'de> for Text {
    type Value = Option<String>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Text {
    type Value = Option<String>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    absent!(scalars);
    absent!(seq);
    absent!(map);

    fn visit_str<E>(self, value: &str) -> Result<Self::Value, E> {
        Ok(Some(value.to_owned()))
    }
}

/// The first element of a list, if it is a string; else absent.
struct FirstText;

impl<'de> DeserializeSeed<'de> for FirstText {
    type Value = Option<String>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for FirstText {
    type Value = Option<String>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    absent!(scalars);
    absent!(str);
    absent!(map);

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let first = seq.next_element_seed(Text)?.flatten();
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(first)
    }
}

/// Of a header object, the `Authorization` value (names in any case; a value that is not a
/// string is ignored; of several, the last).
struct AuthorizationHeader;

impl<'de> DeserializeSeed<'de> for AuthorizationHeader {
    type Value = Option<String>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for AuthorizationHeader {
    type Value = Option<String>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    absent!(scalars);
    absent!(str);
    absent!(seq);

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut found = None;
        while let Some(is_authorization) = map.next_key_seed(IsAuthorization)? {
            if is_authorization {
                found = map.next_value_seed(Text)?.or(found);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(found)
    }
}

/// Whether a header name is `Authorization`, in any case.
struct IsAuthorization;

impl<'de> DeserializeSeed<'de> for IsAuthorization {
    type Value = bool;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<bool, D::Error> {
        deserializer.deserialize_bytes(self) // as bytes: see `FieldName`
    }
}

impl<'de> Visitor<'de> for IsAuthorization {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a header name")
    }

    fn visit_bytes<E>(self, name: &[u8]) -> Result<bool, E> {
        Ok(name.eq_ignore_ascii_case(b"authorization"))
    }

    fn visit_str<E: serde::de::Error>(self, name: &str) -> Result<bool, E> {
        self.visit_bytes(name.as_bytes())
    }
}

/// `requestContext`: its `stage`, `http.method`, and the caller's address
/// (`http.sourceIp` in HTTP API 2.0, `identity.sourceIp` in REST `REQUEST`).
#[derive(Default)]
pub(super) struct RequestContext {
    stage: Option<String>,
    method: Option<String>,
    source_ip: Option<String>,
}

struct Context;

impl<'de> DeserializeSeed<'de> for Context {
    type Value = RequestContext;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Context {
    type Value = RequestContext;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    absent!(scalars);
    absent!(str);
    absent!(seq);

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut context = RequestContext::default();
        while let Some(field) = map.next_key_seed(OneOf(&["stage", "http", "identity"]))? {
            match field {
                Some(0) => context.stage = map.next_value_seed(Text)?,
                Some(1) => {
                    let mut fields = map.next_value_seed(TextFields(&["method", "sourceIp"]))?.into_iter();
                    context.method = fields.next().flatten();
                    context.source_ip = context.source_ip.or(fields.next().flatten());
                }
                Some(_) => {
                    let source_ip = map.next_value_seed(TextFields(&["sourceIp"]))?.pop().flatten();
                    context.source_ip = context.source_ip.or(source_ip);
                }
                None => drop(map.next_value::<IgnoredAny>()?),
            }
        }
        Ok(context)
    }
}

/// Which of a few names a field name is, compared without being copied.
struct OneOf(&'static [&'static str]);

impl<'de> DeserializeSeed<'de> for OneOf {
    type Value = Option<usize>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_bytes(self) // as bytes: see `FieldName`
    }
}

impl<'de> Visitor<'de> for OneOf {
    type Value = Option<usize>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a field name")
    }

    fn visit_bytes<E>(self, name: &[u8]) -> Result<Self::Value, E> {
        Ok(self.0.iter().position(|known| known.as_bytes() == name))
    }

    fn visit_str<E: serde::de::Error>(self, name: &str) -> Result<Self::Value, E> {
        self.visit_bytes(name.as_bytes())
    }
}

/// An object's string fields of these names (`requestContext.http`: `method`, `sourceIp`);
/// each absent unless it is a string.
struct TextFields(&'static [&'static str]);

impl<'de> DeserializeSeed<'de> for TextFields {
    type Value = Vec<Option<String>>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for TextFields {
    type Value = Vec<Option<String>>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    absent!(scalars);
    absent!(str);
    absent!(seq);

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut values = vec![None; self.0.len()];
        while let Some(field) = map.next_key_seed(OneOf(self.0))? {
            match field {
                Some(at) => values[at] = map.next_value_seed(Text)?,
                None => drop(map.next_value::<IgnoredAny>()?),
            }
        }
        Ok(values)
    }
}
