//! Scopes (`resource:action`) and the deployment's catalogue of them.
//!
//! The catalogue (`ALLOWED_SCOPES`) is the closed list of scopes a key may carry; a key asking
//! for anything else is refused at creation, so a typo cannot mint a key that silently does
//! nothing. A key's scopes are kept sorted and unique, which gives every key one canonical
//! space-separated form (what the authorizer passes on).

use std::collections::BTreeSet;
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
    #[error("{0:?} is not a scope: expected resource:action, like projects:read")]
    Invalid(String),
    #[error("{0:?} is not a scope this service knows")]
    Unknown(String),
    #[error("{0:?} is listed twice")]
    Duplicate(String),
    #[error("at least one scope is required")]
    Empty,
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
            _ => Err(ScopeError::Invalid(input.to_owned())),
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

/// The scopes valid in this deployment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopeCatalog(BTreeSet<Scope>);

impl ScopeCatalog {
    /// Reads `ALLOWED_SCOPES`: scopes separated by commas, blanks around them ignored.
    pub fn parse(list: &str) -> Result<Self, ScopeError> {
        let mut scopes = BTreeSet::new();
        for item in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            if !scopes.insert(Scope::parse(item)?) {
                return Err(ScopeError::Duplicate(item.to_owned()));
            }
        }
        if scopes.is_empty() {
            return Err(ScopeError::Empty);
        }
        Ok(Self(scopes))
    }

    pub fn contains(&self, scope: &Scope) -> bool {
        self.0.contains(scope)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Scope> {
        self.0.iter()
    }
}

/// A key's scopes: at least one, no repeats, each in the catalogue; sorted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Scopes(BTreeSet<Scope>);

impl Scopes {
    /// Validates what an owner asked for. Order does not matter; repeats are an error, so a
    /// request never means something other than what it says.
    pub fn parse<'a>(
        requested: impl IntoIterator<Item = &'a str>,
        catalog: &ScopeCatalog,
    ) -> Result<Self, ScopeError> {
        let mut scopes = BTreeSet::new();
        for item in requested {
            let scope = Scope::parse(item)?;
            if !catalog.contains(&scope) {
                return Err(ScopeError::Unknown(item.to_owned()));
            }
            if !scopes.insert(scope) {
                return Err(ScopeError::Duplicate(item.to_owned()));
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
            assert_eq!(Scope::parse(bad), Err(ScopeError::Invalid(bad.into())), "{bad}");
        }
    }

    #[test]
    fn catalogue_rejects_bad_entries_and_repeats() {
        assert_eq!(ScopeCatalog::parse(" , "), Err(ScopeError::Empty));
        assert!(matches!(ScopeCatalog::parse("a:b,nope"), Err(ScopeError::Invalid(_))));
        assert_eq!(ScopeCatalog::parse("a:b,a:b"), Err(ScopeError::Duplicate("a:b".into())));
    }

    #[test]
    fn requested_scopes_must_be_known_unique_and_present() {
        let c = catalog();
        let scopes = Scopes::parse(["projects:write", "billing:read"], &c).unwrap();
        assert_eq!(scopes.joined(), "billing:read projects:write");
        assert_eq!(Scopes::parse([], &c), Err(ScopeError::Empty));
        assert_eq!(
            Scopes::parse(["projects:delete"], &c),
            Err(ScopeError::Unknown("projects:delete".into()))
        );
        assert_eq!(
            Scopes::parse(["billing:read", "billing:read"], &c),
            Err(ScopeError::Duplicate("billing:read".into()))
        );
    }
}
