//! Which routes a key's scopes open: the `ROUTE_SCOPES` rules.
//!
//! # Grammar
//!
//! ```text
//! ROUTE_SCOPES = rule *( "," rule )          blanks and newlines around rules are ignored
//! rule         = method " " path "=" need
//! method       = GET | POST | PUT | PATCH | DELETE | HEAD | OPTIONS | *
//! path         = "/" followed by printable ASCII other than space, "," and "="
//! need         = scope                       the key must carry this scope
//!              | *                           any valid key will do
//! ```
//!
//! Example: `GET /projects/*=projects:read, POST /projects=projects:write, GET /health=*`.
//!
//! # Wildcards mean what they mean in an execute-api ARN
//!
//! A REST API authorizer answers with a policy of method ARNs, `…/{stage}/{METHOD}{path}`,
//! and API Gateway matches them IAM-style: `*` matches any run of characters, `/` included,
//! and `?` exactly one. For HTTP APIs this module makes the decision itself. Both use the
//! same pattern, `{METHOD}{path}` (`GET/projects/*`), matched against `{METHOD}{path}` of the
//! request with those IAM rules, so the policy and the decision cannot disagree on a path.
//! It follows that `GET /projects/*` covers `/projects/` and `/projects/a/b` but not
//! `/projects`, and that a `*` method also spans into the path (`*/x` covers `GET/a/x`),
//! exactly as the ARN `…/*/x` would.
//!
//! A route matching no rule is denied. A request is allowed when any matching rule's need is
//! met, just as a policy allows a resource when any of its statements does.
//!
//! # Paths a backend could read as another path are refused first
//!
//! Rules match the path as sent. A backend that normalises paths (resolves `..`, decodes
//! `%2F`, reads `\` as `/`, merges `//`, drops a trailing `/`) would serve `/billing` for
//! `/projects/../billing`, which `GET /projects/*` matches. So before any rule is matched,
//! [`path_refusal`] refuses a path that is not a fixed point of such normalisation: a `.` or
//! `..` segment (also with `;` parameters, `..;`), a percent-encoded `.`, `/`, `\` or `%`
//! (the last is double encoding), a backslash, or an empty segment (`//`, or a trailing `/`
//! anywhere but the root path `/`). The HTTP API decision and the local runner refuse such
//! paths. A REST policy cannot see the path it will be applied to; it carries an explicit
//! Deny of [`REFUSED_PATH_PATTERNS`], which match exactly the method ARNs of refused paths.

use std::collections::BTreeSet;

use crate::scope::{Scope, ScopeCatalog, Scopes};

const METHODS: [&str; 8] = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "*"];

/// What a rule asks of a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Need {
    Scope(Scope),
    AnyValidKey,
}

/// One `METHOD /path=need` rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteRule {
    /// `{METHOD}{path}`: the tail of the method ARN this rule stands for.
    pattern: String,
    need: Need,
}

impl RouteRule {
    pub fn pattern(&self) -> &str {
        &self.pattern
    }

    pub fn need(&self) -> &Need {
        &self.need
    }

    fn met_by(&self, scopes: &Scopes) -> bool {
        match &self.need {
            Need::Scope(scope) => scopes.contains(scope),
            Need::AnyValidKey => true,
        }
    }
}

/// The deployment's route rules, in configuration order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteRules(Vec<RouteRule>);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouteRulesError {
    #[error("rule {rule:?}: {problem}")]
    Rule { rule: String, problem: String },
    #[error("at least one rule is required")]
    Empty,
}

impl RouteRules {
    /// Reads `ROUTE_SCOPES`; every scope a rule names must be in the catalogue, so a typo in
    /// a rule cannot leave a route that no key can ever reach.
    pub fn parse(input: &str, catalog: &ScopeCatalog) -> Result<Self, RouteRulesError> {
        let rules = input
            .split(',')
            .map(str::trim)
            .filter(|rule| !rule.is_empty())
            .map(|rule| {
                parse_rule(rule, catalog)
                    .map_err(|problem| RouteRulesError::Rule { rule: rule.to_owned(), problem })
            })
            .collect::<Result<Vec<_>, _>>()?;
        if rules.is_empty() {
            return Err(RouteRulesError::Empty);
        }
        Ok(Self(rules))
    }

    pub fn rules(&self) -> &[RouteRule] {
        &self.0
    }

    /// The HTTP API decision: may a key with `scopes` call `method path`?
    pub fn permits(&self, scopes: &Scopes, method: &str, path: &str) -> bool {
        let request = format!("{method}{path}");
        self.0.iter().any(|rule| rule.met_by(scopes) && glob_matches(&rule.pattern, &request))
    }

    /// The REST policy's resources (as ARN tails): every pattern `scopes` opens, each once.
    pub fn permitted_patterns(&self, scopes: &Scopes) -> BTreeSet<&str> {
        self.0.iter().filter(|rule| rule.met_by(scopes)).map(|rule| rule.pattern.as_str()).collect()
    }
}

fn parse_rule(rule: &str, catalog: &ScopeCatalog) -> Result<RouteRule, String> {
    let (route, need) = rule.split_once('=').ok_or("expected METHOD /path=scope")?;
    let (method, path) = route.trim().split_once(' ').ok_or("expected a method, one space, then a path")?;
    if !METHODS.contains(&method) {
        return Err(format!("method must be one of {}", METHODS.join(", ")));
    }
    let path_ok =
        path.starts_with('/') && path.bytes().all(|b| b.is_ascii_graphic() && b != b',' && b != b'=');
    if !path_ok {
        return Err("path must start with / and hold printable ASCII without spaces, ',' or '='".into());
    }
    let need = match need.trim() {
        "*" => Need::AnyValidKey,
        scope => {
            let scope = Scope::parse(scope).map_err(|e| e.to_string())?;
            if !catalog.contains(&scope) {
                return Err(format!("scope {scope} is not in ALLOWED_SCOPES"));
            }
            Need::Scope(scope)
        }
    };
    Ok(RouteRule { pattern: format!("{method}{path}"), need })
}

/// Why a request path is refused before any rule is matched (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathRefusal {
    /// It does not start with `/`.
    NotAbsolute,
    /// A segment is `.` or `..` (before any `;` parameters).
    DotSegment,
    /// Two `/` in a row, or a trailing `/` on a path other than `/`.
    EmptySegment,
    /// A `\`, which some servers read as `/`.
    Backslash,
    /// `%2E`, `%2F`, `%5C` or `%25`, in any case: an encoded `.`, `/`, `\` or `%`.
    EncodedSeparator,
}

impl PathRefusal {
    /// A stable name for logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NotAbsolute => "not_absolute",
            Self::DotSegment => "dot_segment",
            Self::EmptySegment => "empty_segment",
            Self::Backslash => "backslash",
            Self::EncodedSeparator => "encoded_separator",
        }
    }
}

/// Why `path` (a request path as sent, before any decoding) must be refused, if it must: it
/// could mean another path to a server that normalises it. `None` for every ordinary path.
pub fn path_refusal(path: &str) -> Option<PathRefusal> {
    let Some(rest) = path.strip_prefix('/') else {
        return Some(PathRefusal::NotAbsolute);
    };
    let bytes = path.as_bytes();
    if bytes.contains(&b'\\') {
        return Some(PathRefusal::Backslash);
    }
    let encoded = bytes.windows(3).any(|w| {
        w[0] == b'%'
            && matches!(
                (w[1], w[2].to_ascii_lowercase()),
                (b'2', b'e') | (b'2', b'f') | (b'5', b'c') | (b'2', b'5')
            )
    });
    if encoded {
        return Some(PathRefusal::EncodedSeparator);
    }
    if rest.is_empty() {
        return None; // the root path
    }
    rest.split('/').find_map(|segment| {
        let name = segment.split(';').next().unwrap_or(segment);
        if segment.is_empty() {
            Some(PathRefusal::EmptySegment)
        } else if name == "." || name == ".." {
            Some(PathRefusal::DotSegment)
        } else {
            None
        }
    })
}

/// ARN-tail patterns (`{METHOD}{path}`, IAM wildcards) that match exactly the requests whose
/// path [`path_refusal`] refuses, for any method and any path that starts with `/`. A REST
/// policy denies them explicitly under its API and stage; IAM wildcards have no classes and
/// no negation, so each case is spelled out, encodings in both cases.
pub const REFUSED_PATH_PATTERNS: [&str; 16] = [
    "*\\*", "*%2e*", "*%2E*", "*%2f*", "*%2F*", "*%5c*", "*%5C*", "*%25*", "*//*", "*/?*/", "*/./*", "*/.",
    "*/.;*", "*/../*", "*/..", "*/..;*",
];

/// The request path without the stage: API Gateway puts a named stage in front of an HTTP
/// API's `rawPath` (`/prod/projects/1`); the `$default` stage adds nothing.
pub fn strip_stage<'a>(raw_path: &'a str, stage: Option<&str>) -> &'a str {
    match stage {
        Some(stage) if stage != "$default" => raw_path
            .strip_prefix('/')
            .and_then(|p| p.strip_prefix(stage))
            .filter(|rest| rest.is_empty() || rest.starts_with('/'))
            .map_or(raw_path, |rest| if rest.is_empty() { "/" } else { rest }),
        _ => raw_path,
    }
}

/// IAM-style wildcard matching over characters: `*` any run (also empty, also `/`), `?` one.
///
/// Linear in practice: the classic single-backtrack-point algorithm, since a later `*`
/// always supersedes an earlier one. Literals are compared character by character, so a
/// pattern may hold any character, not only ASCII.
pub fn glob_matches(pattern: &str, text: &str) -> bool {
    let (pattern_bytes, text_bytes) = (pattern.as_bytes(), text.as_bytes());
    let mut p = 0;
    let mut t = 0;
    let mut retry: Option<(usize, usize)> = None;
    while t < text.len() {
        let width = char_width(text, t);
        match pattern_bytes.get(p) {
            Some(b'*') => {
                retry = Some((p + 1, t));
                p += 1;
            }
            Some(b'?') => {
                p += 1;
                t += width;
            }
            Some(_) if pattern_bytes[p..p + char_width(pattern, p)] == text_bytes[t..t + width] => {
                p += width;
                t += width;
            }
            _ => match retry {
                Some((after_star, from)) => {
                    let next = from + char_width(text, from);
                    retry = Some((after_star, next));
                    p = after_star;
                    t = next;
                }
                None => return false,
            },
        }
    }
    pattern_bytes[p..].iter().all(|&b| b == b'*')
}

fn char_width(text: &str, at: usize) -> usize {
    text[at..].chars().next().map_or(1, char::len_utf8)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn catalog() -> ScopeCatalog {
        ScopeCatalog::parse("projects:read,projects:write,billing:read").unwrap()
    }

    fn rules(input: &str) -> RouteRules {
        RouteRules::parse(input, &catalog()).unwrap()
    }

    fn scopes(list: &[&str]) -> Scopes {
        Scopes::parse(list.iter().copied(), &catalog()).unwrap()
    }

    #[test]
    fn a_rule_opens_its_route_to_keys_with_the_scope() {
        let rules = rules("GET /projects/*=projects:read, POST /projects=projects:write");
        let read = scopes(&["projects:read"]);
        assert!(rules.permits(&read, "GET", "/projects/42"));
        assert!(rules.permits(&read, "GET", "/projects/42/files/a.txt"));
        assert!(!rules.permits(&read, "GET", "/projects"));
        assert!(!rules.permits(&read, "POST", "/projects"));
        assert!(!rules.permits(&read, "DELETE", "/projects/42"));
        assert!(!rules.permits(&read, "GET", "/billing"));
        assert!(rules.permits(&scopes(&["projects:write"]), "POST", "/projects"));
    }

    #[test]
    fn star_needs_only_a_valid_key() {
        let rules = rules("GET /health=*");
        assert!(rules.permits(&scopes(&["billing:read"]), "GET", "/health"));
        assert_eq!(rules.permitted_patterns(&scopes(&["billing:read"])).len(), 1);
    }

    #[test]
    fn permitted_patterns_are_the_rules_the_scopes_meet_once_each() {
        let rules = rules(
            "GET /projects/*=projects:read,\n HEAD /projects/*=projects:read, GET /projects/*=billing:read, \
             POST /projects=projects:write",
        );
        let patterns = rules.permitted_patterns(&scopes(&["projects:read", "billing:read"]));
        assert_eq!(patterns.into_iter().collect::<Vec<_>>(), ["GET/projects/*", "HEAD/projects/*"]);
    }

    #[test]
    fn a_star_method_spans_into_the_path_as_in_an_arn() {
        let rules = rules("* /x=*");
        assert!(rules.permits(&scopes(&["billing:read"]), "GET", "/x"));
        assert!(rules.permits(&scopes(&["billing:read"]), "GET", "/a/x"));
    }

    #[test]
    fn bad_rules_are_named() {
        let bad = [
            ("", "at least one rule"),
            ("GET /a", "expected METHOD"),
            ("GET/a=projects:read", "one space"),
            ("FETCH /a=projects:read", "method must be"),
            ("GET a=projects:read", "path must"),
            ("GET /a b=projects:read", "path must"),
            ("GET /a=projects:delete", "not in ALLOWED_SCOPES"),
            ("GET /a=projects", "not a scope"),
        ];
        for (input, expected) in bad {
            let err = RouteRules::parse(input, &catalog()).unwrap_err().to_string();
            assert!(err.contains(expected), "{input:?} gave {err:?}");
        }
    }

    #[test]
    fn named_stages_are_stripped_from_request_paths() {
        assert_eq!(strip_stage("/prod/projects/1", Some("prod")), "/projects/1");
        assert_eq!(strip_stage("/prod", Some("prod")), "/");
        assert_eq!(strip_stage("/production/x", Some("prod")), "/production/x");
        assert_eq!(strip_stage("/projects/1", Some("$default")), "/projects/1");
        assert_eq!(strip_stage("/projects/1", None), "/projects/1");
    }

    #[test]
    fn glob_follows_iam_wildcards() {
        let cases = [
            ("GET/projects/*", "GET/projects/", true),
            ("GET/projects/*", "GET/projects/a/b", true),
            ("GET/projects/*", "GET/projects", false),
            ("GET/p?", "GET/pé", true),
            ("GET/p?", "GET/p", false),
            ("*", "", true),
            ("a*b*c", "aXbYbZc", true),
            ("a*b*c", "aXbYbZ", false),
            ("GET/a", "GET/a/", false),
            ("GET/é*", "GET/été", true),
            ("arn:é/*/GET/*", "arn:é/s/GET/x", true),
        ];
        for (pattern, text, expected) in cases {
            assert_eq!(glob_matches(pattern, text), expected, "{pattern} ~ {text}");
        }
    }

    #[test]
    fn paths_a_backend_could_read_as_another_path_are_refused() {
        use PathRefusal::*;
        let cases = [
            ("/projects/../billing", Some(DotSegment)),
            ("/projects/./1", Some(DotSegment)),
            ("/projects/..", Some(DotSegment)),
            ("/..", Some(DotSegment)),
            ("/projects/..;/billing", Some(DotSegment)),
            ("/projects/.;x/1", Some(DotSegment)),
            ("/projects/%2e%2e/billing", Some(EncodedSeparator)),
            ("/projects/%2E%2E/billing", Some(EncodedSeparator)),
            ("/projects/..%2Fbilling", Some(EncodedSeparator)),
            ("/projects/..%2fbilling", Some(EncodedSeparator)),
            ("/projects/..%5Cbilling", Some(EncodedSeparator)),
            ("/projects/%252e%252e/billing", Some(EncodedSeparator)),
            ("/projects/..\\billing", Some(Backslash)),
            ("/projects//1", Some(EmptySegment)),
            ("//projects/1", Some(EmptySegment)),
            ("/projects/", Some(EmptySegment)),
            ("projects/1", Some(NotAbsolute)),
            ("", Some(NotAbsolute)),
            ("/", None),
            ("/projects", None),
            ("/projects/42/files/a.txt", None),
            ("/projects/.hidden/...", None),
            ("/projects/a..b/x.", None),
            ("/projects/%41%20x/%2", None),
            ("/projects/;x/..x", None),
        ];
        for (path, expected) in cases {
            assert_eq!(path_refusal(path), expected, "{path}");
        }
    }

    /// What a lenient backend does to a path: decodes what changes its structure, reads `\`
    /// as `/`, merges and trims slashes, resolves dot segments (also `..;`).
    fn normalised_like_a_lenient_backend(path: &str) -> String {
        let mut decoded = path.to_owned();
        loop {
            let next = ["%2e", "%2E", "%2f", "%2F", "%5c", "%5C", "%25"]
                .iter()
                .zip([".", ".", "/", "/", "\\", "\\", "%"])
                .fold(decoded.clone(), |text, (code, plain)| text.replace(code, plain))
                .replace('\\', "/");
            if next == decoded {
                break;
            }
            decoded = next;
        }
        let mut segments: Vec<&str> = Vec::new();
        for segment in decoded.split('/').filter(|s| !s.is_empty()) {
            match segment.split(';').next().unwrap_or(segment) {
                "." => {}
                ".." => drop(segments.pop()),
                _ => segments.push(segment),
            }
        }
        format!("/{}", segments.join("/"))
    }

    /// The reference: IAM's wildcards as a regular expression.
    fn iam_reference(pattern: &str, text: &str) -> bool {
        let mut re = String::from("^");
        for c in pattern.chars() {
            match c {
                '*' => re.push_str(".*"),
                '?' => re.push('.'),
                c => re.push_str(&regex::escape(&c.to_string())),
            }
        }
        re.push('$');
        regex::Regex::new(&re).unwrap().is_match(text)
    }

    /// Paths made of the characters that matter to normalisation, and ordinary ones.
    fn tricky_path() -> impl Strategy<Value = String> {
        prop::collection::vec(
            prop::sample::select(vec![
                "/", "/", ".", ".", "..", "a", "b1", "%", "2", "5", "e", "E", "f", "F", "c", "C", "\\", ";",
                "%2e", "%2F", "%5c", "%25",
            ]),
            0..10,
        )
        .prop_map(|parts| format!("/{}", parts.concat()))
    }

    proptest! {
        #[test]
        fn an_accepted_path_is_what_a_normalising_backend_serves(path in tricky_path()) {
            if path_refusal(&path).is_none() {
                prop_assert_eq!(normalised_like_a_lenient_backend(&path), path);
            }
        }

        #[test]
        fn a_path_built_from_ordinary_segments_is_never_refused(
            segments in prop::collection::vec("[A-Za-z0-9_~-]{1,4}(\\.[a-z]{1,3})?", 0..6),
        ) {
            let path = format!("/{}", segments.join("/"));
            prop_assert_eq!(path_refusal(&path), None);
        }

        #[test]
        fn the_refused_path_patterns_match_exactly_the_refused_paths(
            path in tricky_path(),
            method in prop::sample::select(vec!["GET", "POST", "DELETE"]),
        ) {
            let tail = format!("{method}{path}");
            let by_glob = REFUSED_PATH_PATTERNS.iter().any(|pattern| glob_matches(pattern, &tail));
            let by_iam = REFUSED_PATH_PATTERNS.iter().any(|pattern| iam_reference(pattern, &tail));
            prop_assert_eq!(by_glob, path_refusal(&path).is_some(), "{}", tail);
            prop_assert_eq!(by_iam, by_glob, "{}", tail);
        }

        #[test]
        fn glob_agrees_with_the_iam_reference(
            pattern in "[a/*?é]{0,12}",
            text in "[a/é]{0,12}",
        ) {
            prop_assert_eq!(glob_matches(&pattern, &text), iam_reference(&pattern, &text));
        }
    }
}
