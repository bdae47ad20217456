//! The management API's body reader on any bytes, read as every body the API reads
//! (`key_management::bodies::BODIES`): a refusal names `body` or a field of that body, with a
//! message from the fixed list (`key_management::extract::BODY_MESSAGES`), never a part of the
//! input other than the name of an unknown field.
#![no_main]

use key_management::ApiError;
use key_management::bodies::{BODIES, BodyReader};
use key_management::extract::BODY_MESSAGES;
use libfuzzer_sys::fuzz_target;

fn check(body: &BodyReader, bytes: &[u8]) {
    let Err(error) = (body.read)(bytes) else { return };
    let operation = body.operation;
    let ApiError::Validation { field, message } = &error else {
        panic!("{operation:?}: not a validation error: {error:?}");
    };
    assert!(BODY_MESSAGES.contains(&message.as_str()), "{operation:?}: {message:?} is not a fixed message");
    let fields = (body.fields)();
    if message == "is not a field of this request" {
        // The unknown field's name, as the body spelled it (perhaps escaped).
        assert!(!fields.contains(&field.as_str()), "{operation:?}: a known field called unknown");
    } else {
        assert!(field == "body" || fields.contains(&field.as_str()), "{operation:?}: field {field:?}");
    }
}

fuzz_target!(|data: &[u8]| {
    for body in BODIES {
        check(body, data);
    }
});
