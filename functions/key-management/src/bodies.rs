//! Every request body the API reads, in one list ([`BODIES`]).
//!
//! The list exists so nothing that reads bodies can miss one: the `bodies` fuzz target reads
//! any bytes as each body of it. Handlers read a body only through `extract::json_body`, which
//! takes a [`RequestBody`], and a type is one only by being listed below: a body left out of
//! the list does not compile. A test ties the list to the route table: the operations whose
//! method carries a body are exactly the operations listed.

use serde::de::{self, DeserializeOwned, Visitor};

use crate::error::ApiError;
use crate::extract::parse_json;
use crate::routes::Operation;

/// A body a handler may read: implemented by the list below, and nowhere else.
pub(crate) trait RequestBody: DeserializeOwned {}

/// One request body, as the fuzz target and the tests drive it.
pub struct BodyReader {
    /// The operation that reads it.
    pub operation: Operation,
    /// Its fields as a request spells them, taken from its `Deserialize` implementation.
    pub fields: fn() -> &'static [&'static str],
    /// Reads bytes as this body, as the handlers do once the size and media type are checked
    /// ([`crate::extract`]); only the refusal is kept.
    pub read: fn(&[u8]) -> Result<(), ApiError>,
}

macro_rules! bodies {
    ($($operation:ident: $body:ty),* $(,)?) => {
        $(impl RequestBody for $body {})*

        /// Every request body of the API, with the operation that reads it.
        pub const BODIES: &[BodyReader] = &[$(
            BodyReader {
                operation: Operation::$operation,
                fields: fields_of::<$body>,
                read: |bytes| parse_json::<$body>(bytes).map(drop),
            }
        ),*];
    };
}

bodies! {
    CreateBot: crate::bots::CreateBot,
    UpdateBot: crate::bots::UpdateBot,
    RevokeKeys: crate::bots::RevokeKeys,
    CreateKey: crate::keys::CreateKey,
    RevokeKey: crate::keys::RevokeKey,
    RotateKey: crate::keys::RotateKey,
}

/// The fields of a struct `T` deserialises, as serde's derive lists them: it hands them to the
/// deserialiser, which here keeps them and stops.
fn fields_of<T: DeserializeOwned>() -> &'static [&'static str] {
    let mut fields: &'static [&'static str] = &[];
    let _ = T::deserialize(FieldNames(&mut fields));
    fields
}

struct FieldNames<'a>(&'a mut &'static [&'static str]);

impl<'de> de::Deserializer<'de> for FieldNames<'_> {
    type Error = de::value::Error;

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
        Err(de::Error::custom("not a struct"))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        fields: &'static [&'static str],
        _: V,
    ) -> Result<V::Value, Self::Error> {
        *self.0 = fields;
        Err(de::Error::custom("only the field names are read"))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
        ignored_any
    }
}

#[cfg(test)]
mod tests {
    use lambda_http::http::Method;

    use super::*;
    use crate::routes::ROUTES;

    #[test]
    fn the_operations_whose_method_carries_a_body_are_exactly_the_listed_ones() {
        let carries_a_body = |method: &Method| [Method::POST, Method::PUT, Method::PATCH].contains(method);
        let routes: Vec<Operation> =
            ROUTES.iter().filter(|r| carries_a_body(&r.method)).map(|r| r.operation).collect();
        let listed: Vec<Operation> = BODIES.iter().map(|b| b.operation).collect();
        for operation in &routes {
            assert_eq!(listed.iter().filter(|o| *o == operation).count(), 1, "{operation:?}");
        }
        assert_eq!(listed.len(), routes.len(), "a listed body whose operation takes none: {listed:?}");
    }

    #[test]
    fn every_body_reads_an_empty_object_and_refuses_an_unknown_field_by_its_name() {
        for body in BODIES {
            assert!((body.read)(b"{}").is_ok(), "{:?}", body.operation);
            match (body.read)(br#"{"colour": "red"}"#) {
                Err(ApiError::Validation { field, message }) => {
                    assert_eq!(
                        (field.as_str(), message.as_str()),
                        ("colour", "is not a field of this request")
                    )
                }
                other => panic!("{:?}: {other:?}", body.operation),
            }
        }
    }

    #[test]
    fn the_field_names_are_read_from_each_body_s_struct() {
        let update = BODIES.iter().find(|b| b.operation == Operation::UpdateBot).unwrap();
        assert_eq!((update.fields)(), ["name", "account", "scopes", "revoke_keys"]);
        let revoke_keys = BODIES.iter().find(|b| b.operation == Operation::RevokeKeys).unwrap();
        assert!((revoke_keys.fields)().is_empty());
        for body in BODIES {
            for field in (body.fields)() {
                let json = format!(r#"{{"{field}": null, "{field}": null}}"#);
                match (body.read)(json.as_bytes()) {
                    Err(ApiError::Validation { field: named, message }) => {
                        assert_eq!((named.as_str(), message.as_str()), (*field, "is given more than once"))
                    }
                    other => panic!("{:?}.{field}: {other:?}", body.operation),
                }
            }
        }
    }
}
