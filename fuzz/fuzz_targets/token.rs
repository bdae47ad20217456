//! The token parser and the `Authorization` value reader, on any bytes: never a panic, and a
//! key that parses is exactly one the format allows, its ids where the format puts them.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nico_keys::token::{self, TokenError};

fuzz_target!(|data: &[u8]| {
    let Ok(input) = std::str::from_utf8(data) else { return };
    // The fuzzer works with the known key too: `{{TOKEN}}` stands for it.
    let input = input.replace("{{TOKEN}}", nico_keys_fuzz::raw_key());
    if let Some(key) = token::bearer(&input) {
        assert!(!key.is_empty() && input.contains(key));
        assert!(!key.starts_with([' ', '\t']) && !key.ends_with([' ', '\t']));
    }
    for candidate in [input.as_str(), token::bearer(&input).unwrap_or("")] {
        match token::parse(candidate) {
            Ok(parsed) => {
                let bytes = candidate.as_bytes();
                assert_eq!(bytes.len(), token::TOKEN_LEN);
                assert!(candidate.starts_with(token::PREFIX));
                assert!(bytes.iter().all(|b| b.is_ascii_alphanumeric() || *b == b'_'));
                assert_eq!(parsed.bot_id().to_string(), &candidate[5..21]);
                assert_eq!(parsed.key_id().to_string(), &candidate[22..38]);
                assert!(!format!("{parsed:?}").contains(&candidate[39..82]), "Debug shows the secret");
            }
            Err(TokenError::BadChecksum) => assert_eq!(candidate.len(), token::TOKEN_LEN),
            Err(TokenError::Malformed) => {}
        }
    }
});
