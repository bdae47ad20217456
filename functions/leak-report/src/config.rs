//! The function's own settings. A bad value stops it at init with one line naming the variable.

use crate::fetch::HttpsSource;
use crate::signature::KeySet;

/// GitHub's published key set for secret-scanning partners.
pub const GITHUB_KEYS_URL: &str = "https://api.github.com/meta/public_keys/secret_scanning";

#[derive(Debug, thiserror::Error)]
#[error("{variable}: {problem}")]
pub struct LeakConfigError {
    variable: &'static str,
    problem: String,
}

pub struct LeakConfig {
    /// `GITHUB_SECRET_SCANNING_KEYS`: the configured set, inline JSON or a file's path.
    pub configured: Option<KeySet>,
    /// `GITHUB_KEYS_URL` (GitHub's endpoint by default; `none` turns fetching off).
    pub source: Option<HttpsSource>,
}

impl LeakConfig {
    pub fn from_env(env: impl Fn(&str) -> Option<String>) -> Result<Self, LeakConfigError> {
        let fail = |variable, problem: String| LeakConfigError { variable, problem };
        let configured = match env("GITHUB_SECRET_SCANNING_KEYS").filter(|v| !v.trim().is_empty()) {
            None => None,
            Some(value) => {
                let text = if value.trim_start().starts_with('{') {
                    value
                } else {
                    std::fs::read_to_string(value.trim())
                        .map_err(|e| fail("GITHUB_SECRET_SCANNING_KEYS", format!("{}: {e}", value.trim())))?
                };
                Some(KeySet::parse(&text).map_err(|e| fail("GITHUB_SECRET_SCANNING_KEYS", e.to_string()))?)
            }
        };
        let url = env("GITHUB_KEYS_URL").unwrap_or_else(|| GITHUB_KEYS_URL.to_owned());
        let source = match url.trim() {
            "" | "none" => None,
            url => Some(HttpsSource::new(url).map_err(|e| fail("GITHUB_KEYS_URL", e))?),
        };
        if configured.is_none() && source.is_none() {
            return Err(fail("GITHUB_KEYS_URL", "no key set: set it or GITHUB_SECRET_SCANNING_KEYS".into()));
        }
        Ok(Self { configured, source })
    }
}
