//! `ROUTE_SCOPES` on any text, and the path rule on any path: never a panic; a rule set that
//! parses answers every request; a REST policy's patterns of refused paths match exactly what
//! `path_refusal` refuses; an accepted path is what a normalising backend would serve.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nico_keys::Scopes;
use nico_keys::routes::{REFUSED_PATH_PATTERNS, RouteRules, glob_matches, path_refusal};
use nico_keys_fuzz::{catalog, normalised_like_a_lenient_backend};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    // `ROUTE_SCOPES` first, then (after a NUL, if any) a request path.
    let (rules, path) = text.split_once('\0').unwrap_or((text, "/projects/1"));
    let catalog = catalog();
    if let Ok(rules) = RouteRules::parse(rules, &catalog) {
        assert!(!rules.rules().is_empty());
        let all = Scopes::parse(["projects:read", "projects:write", "billing:read"], &catalog).unwrap();
        let allowed = rules.permits(&all, "GET", path);
        let patterns = rules.permitted_patterns(&all);
        assert_eq!(allowed, patterns.iter().any(|p| glob_matches(p, &format!("GET{path}"))));
        for rule in rules.rules() {
            assert!(rule.pattern().contains('/'), "a pattern is METHOD/path");
        }
    }
    match path_refusal(path) {
        None => assert_eq!(normalised_like_a_lenient_backend(path), path, "an accepted path changes"),
        Some(_) => {}
    }
    if path.starts_with('/') {
        let tail = format!("GET{path}");
        let denied = REFUSED_PATH_PATTERNS.iter().any(|p| glob_matches(p, &tail));
        assert_eq!(denied, path_refusal(path).is_some(), "the REST patterns and the rule disagree");
    }
});
