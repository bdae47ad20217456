//! Scopes (`resource:action`) and the deployment's catalogue of them.
//!
//! The catalogue (`ALLOWED_SCOPES`) is the closed list of scopes a key may carry; a key asking
//! for anything else is refused at creation, so a typo cannot mint a key that silently does
//! nothing. A key's scopes are kept sorted and unique, which gives every key one canonical
//! space-separated form (what the authorizer passes on).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::Serialize;

/// Longest `resource` or `action` part.
const MAX_PART: usize = 64;

/// One permission, `resource:action`, each part lower-case letters, digits, `-`, `_` or `.`,
/// starting with a letter.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct Scope(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScopeError {
    #[error("{0} is not a scope: expected resource:action, like projects:read")]
    Invalid(Entry),
    #[error("{0} is not a scope this service knows")]
    Unknown(Entry),
    #[error("{0} is listed twice")]
    Duplicate(Entry),
    #[error("at least one scope is required")]
    Empty,
}

/// Which entry of a list an error is about. The deployment's own configuration is quoted, so
/// an operator sees the typo; a request's entry is named by its position only, because the
/// message goes back to the client and the text could be anything (a key pasted into the
/// wrong field, say).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    Text(String),
    /// From 1.
    Position(usize),
}

impl fmt::Display for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Text(text) => write!(f, "{text:?}"),
            Self::Position(position) => write!(f, "entry {position}"),
        }
    }
}

fn valid_part(part: &str) -> bool {
    let mut chars = part.chars();
    part.len() <= MAX_PART
        && chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.'))
}

impl Scope {
    pub fn parse(input: &str) -> Result<Self, ScopeError> {
        match input.split_once(':') {
            Some((resource, action)) if valid_part(resource) && valid_part(action) => {
                Ok(Self(input.to_owned()))
            }
            _ => Err(ScopeError::Invalid(Entry::Text(input.to_owned()))),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The scopes valid in this deployment, each with what it allows in people's words if the
/// deployment says (`SCOPE_DESCRIPTIONS`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopeCatalog(BTreeSet<Scope>, BTreeMap<Scope, String>);

/// Longest scope description, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 200;

impl ScopeCatalog {
    /// Reads `ALLOWED_SCOPES`: scopes separated by commas, blanks around them ignored.
    pub fn parse(list: &str) -> Result<Self, ScopeError> {
        let mut scopes = BTreeSet::new();
        for item in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            if !scopes.insert(Scope::parse(item)?) {
                return Err(ScopeError::Duplicate(Entry::Text(item.to_owned())));
            }
        }
        if scopes.is_empty() {
            return Err(ScopeError::Empty);
        }
        Ok(Self(scopes, BTreeMap::new()))
    }

    /// Adds `SCOPE_DESCRIPTIONS`: a JSON object from scope to what it allows, shown to
    /// people choosing scopes (`GET /v1/catalog`). Any subset of the catalogue; each
    /// description 1 to [`MAX_DESCRIPTION_CHARS`] printable characters.
    pub fn with_descriptions(mut self, json: &str) -> Result<Self, String> {
        let given: BTreeMap<String, String> = serde_json::from_str(json)
            .map_err(|_| "must be a JSON object of scope to description strings".to_owned())?;
        for (scope, description) in given {
            let scope = Scope::parse(&scope).map_err(|e| e.to_string())?;
            if !self.contains(&scope) {
                return Err(format!("{scope:?} is not in ALLOWED_SCOPES"));
            }
            let chars = description.trim().chars();
            let printable = chars.clone().all(|c| !c.is_control() && !crate::model::is_invisible_format(c));
            if description.trim().is_empty() || chars.count() > MAX_DESCRIPTION_CHARS || !printable {
                return Err(format!(
                    "the description of {scope:?} must be 1 to {MAX_DESCRIPTION_CHARS} printable characters"
                ));
            }
            self.1.insert(scope, description.trim().to_owned());
        }
        Ok(self)
    }

    pub fn contains(&self, scope: &Scope) -> bool {
        self.0.contains(scope)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Scope> {
        self.0.iter()
    }

    /// What `scope` allows, if the deployment says.
    pub fn description(&self, scope: &Scope) -> Option<&str> {
        self.1.get(scope).map(String::as_str)
    }
}

/// A key's scopes: at least one, no repeats, each in the catalogue; sorted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Scopes(BTreeSet<Scope>);

impl Scopes {
    /// Validates what a person asked for. Order does not matter; repeats are an error, so a
    /// request never means something other than what it says. Errors name the entry by its
    /// position, never its text.
    pub fn parse<'a>(
        requested: impl IntoIterator<Item = &'a str>,
        catalog: &ScopeCatalog,
    ) -> Result<Self, ScopeError> {
        let mut scopes = BTreeSet::new();
        for (index, item) in requested.into_iter().enumerate() {
            let entry = || Entry::Position(index + 1);
            let scope = Scope::parse(item).map_err(|_| ScopeError::Invalid(entry()))?;
            if !catalog.contains(&scope) {
                return Err(ScopeError::Unknown(entry()));
            }
            if !scopes.insert(scope) {
                return Err(ScopeError::Duplicate(entry()));
            }
        }
        if scopes.is_empty() {
            return Err(ScopeError::Empty);
        }
        Ok(Self(scopes))
    }

    /// Rebuilds scopes read back from a store, which only ever holds validated ones; the
    /// catalogue is not consulted, so a scope later dropped from it still reads back.
    pub fn from_stored<I: IntoIterator<Item = String>>(stored: I) -> Result<Self, ScopeError> {
        let scopes = stored.into_iter().map(|s| Scope::parse(&s)).collect::<Result<BTreeSet<_>, _>>()?;
        if scopes.is_empty() {
            return Err(ScopeError::Empty);
        }
        Ok(Self(scopes))
    }

    pub fn contains(&self, scope: &Scope) -> bool {
        self.0.contains(scope)
    }

    /// Whether every one of these scopes is also in `ceiling`.
    pub fn is_within(&self, ceiling: &Scopes) -> bool {
        self.0.is_subset(&ceiling.0)
    }

    /// The first of these scopes that `ceiling` lacks.
    pub fn first_outside(&self, ceiling: &Scopes) -> Option<&Scope> {
        self.0.iter().find(|scope| !ceiling.0.contains(*scope))
    }

    pub fn iter(&self) -> impl Iterator<Item = &Scope> {
        self.0.iter()
    }

    /// The canonical form: sorted, separated by single spaces.
    pub fn joined(&self) -> String {
        let mut out = String::new();
        for (i, scope) in self.0.iter().enumerate() {
            if i > 0 {
                out.push(' ');
            }
            out.push_str(scope.as_str());
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalog() -> ScopeCatalog {
        ScopeCatalog::parse("projects:read, projects:write,billing:read").unwrap()
    }

    #[test]
    fn scopes_are_resource_colon_action() {
        for good in ["projects:read", "a:b", "audit-log:read", "files.v2:write_all"] {
            assert!(Scope::parse(good).is_ok(), "{good}");
        }
        for bad in ["", "projects", "projects:", ":read", "Projects:read", "a:b:c", "a :b", "1a:b"] {
            assert_eq!(Scope::parse(bad), Err(ScopeError::Invalid(Entry::Text(bad.into()))), "{bad}");
        }
    }

    #[test]
    fn catalogue_rejects_bad_entries_and_repeats() {
        assert_eq!(ScopeCatalog::parse(" , "), Err(ScopeError::Empty));
        assert!(matches!(ScopeCatalog::parse("a:b,nope"), Err(ScopeError::Invalid(_))));
        let repeated = ScopeCatalog::parse("a:b,a:b").unwrap_err();
        assert_eq!(repeated, ScopeError::Duplicate(Entry::Text("a:b".into())));
        assert_eq!(repeated.to_string(), r#""a:b" is listed twice"#, "the operator sees the typo");
    }

    #[test]
    fn descriptions_are_for_catalogued_scopes_and_printable() {
        let described = catalog().with_descriptions(r#"{"projects:read": " Read projects "}"#).unwrap();
        let read = Scope::parse("projects:read").unwrap();
        assert_eq!(described.description(&read), Some("Read projects"));
        assert_eq!(described.description(&Scope::parse("billing:read").unwrap()), None);
        assert_eq!(catalog().with_descriptions("{}").unwrap(), catalog());
        let too_long = format!(r#"{{"projects:read": "{}"}}"#, "x".repeat(MAX_DESCRIPTION_CHARS + 1));
        for bad in [
            "[]",
            r#"{"projects:read": 1}"#,
            r#"{"projects:delete": "Delete"}"#,
            r#"{"nope": "x"}"#,
            r#"{"projects:read": " "}"#,
            r#"{"projects:read": "Read\u202e projects"}"#,
            too_long.as_str(),
        ] {
            assert!(catalog().with_descriptions(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn requested_scopes_must_be_known_unique_and_present() {
        let c = catalog();
        let scopes = Scopes::parse(["projects:write", "billing:read"], &c).unwrap();
        assert_eq!(scopes.joined(), "billing:read projects:write");
        assert_eq!(Scopes::parse([], &c), Err(ScopeError::Empty));
        assert_eq!(
            Scopes::parse(["billing:read", "projects:delete"], &c),
            Err(ScopeError::Unknown(Entry::Position(2)))
        );
        assert_eq!(
            Scopes::parse(["billing:read", "billing:read"], &c),
            Err(ScopeError::Duplicate(Entry::Position(2)))
        );
    }

    #[test]
    fn a_refused_request_entry_is_named_by_position_never_quoted() {
        let pasted = "nk_live_0123456789abcdef";
        let error = Scopes::parse(["projects:read", pasted], &catalog()).unwrap_err();
        assert_eq!(error, ScopeError::Invalid(Entry::Position(2)));
        assert_eq!(error.to_string(), "entry 2 is not a scope: expected resource:action, like projects:read");
    }
}
