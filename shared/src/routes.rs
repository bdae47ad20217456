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
/// always supersedes an earlier one.
pub fn glob_matches(pattern: &str, text: &str) -> bool {
    let pattern: &[u8] = pattern.as_bytes();
    let mut p = 0;
    let mut t = 0;
    let mut retry: Option<(usize, usize)> = None;
    while t < text.len() {
        let width = char_width(text, t);
        match pattern.get(p) {
            Some(b'*') => {
                retry = Some((p + 1, t));
                p += 1;
            }
            Some(b'?') => {
                p += 1;
                t += width;
            }
            Some(&literal) if text.as_bytes()[t..t + width] == [literal] => {
                p += 1;
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
    pattern[p..].iter().all(|&b| b == b'*')
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
        ];
        for (pattern, text, expected) in cases {
            assert_eq!(glob_matches(pattern, text), expected, "{pattern} ~ {text}");
        }
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

    proptest! {
        #[test]
        fn glob_agrees_with_the_iam_reference(
            pattern in "[a/*?]{0,12}",
            text in "[a/é]{0,12}",
        ) {
            prop_assert_eq!(glob_matches(&pattern, &text), iam_reference(&pattern, &text));
        }
    }
}
