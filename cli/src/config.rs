//! Where the CLI keeps things, and what it reads from the environment.
//!
//! Profiles (an endpoint per name) are configuration: `$XDG_CONFIG_HOME/nico-keys/config.json`.
//! Stored sign-ins are state: `$XDG_STATE_HOME/nico-keys/credentials.json`, mode 0600 in a 0700
//! directory, so they never sit in a dotfile a person might commit or sync with their
//! configuration. The XDG layout is used on every platform (also macOS), so the places are the
//! same everywhere and documented once.

use std::collections::BTreeMap;
use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use etcetera::BaseStrategy;
use serde::{Deserialize, Serialize};

use crate::error::CliError;

/// The endpoint when neither `NICO_ENDPOINT` nor the profile names one: the local runner.
pub const DEFAULT_ENDPOINT: &str = "http://127.0.0.1:3000";

/// A token or key: never shown by `Debug`, only handed to the HTTP client.
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Trims surrounding blanks (a pasted token ends with a newline); `None` when empty.
    pub fn new(text: &str) -> Option<Self> {
        let text = text.trim();
        (!text.is_empty()).then(|| Self(text.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(…)")
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct ConfigFile {
    #[serde(default)]
    profiles: BTreeMap<String, Profile>,
}

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct Profile {
    pub endpoint: Option<String>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct CredentialsFile {
    #[serde(default)]
    profiles: BTreeMap<String, Credentials>,
}

/// A stored sign-in.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Credentials {
    pub access_token: Secret,
    /// When the access token stops working, if the issuer said.
    #[serde(default)]
    pub expires_at: Option<DateTime<Utc>>,
    /// To get the next access token without a browser (OIDC sign-in only).
    #[serde(default)]
    pub refresh_token: Option<Secret>,
    #[serde(default)]
    pub token_endpoint: Option<String>,
    #[serde(default)]
    pub client_id: Option<String>,
}

/// The CLI's files.
pub struct Paths {
    pub config: PathBuf,
    pub credentials: PathBuf,
}

impl Paths {
    pub fn from_env() -> Result<Self, CliError> {
        let xdg = etcetera::base_strategy::Xdg::new()
            .map_err(|_| CliError::Other("cannot find the home directory (set HOME)".into()))?;
        let state = xdg.state_dir().unwrap_or_else(|| xdg.home_dir().join(".local/state"));
        Ok(Self {
            config: xdg.config_dir().join("nico-keys").join("config.json"),
            credentials: state.join("nico-keys").join("credentials.json"),
        })
    }

    pub fn profile(&self, name: &str) -> Result<Profile, CliError> {
        let file: ConfigFile = read_json(&self.config)?.unwrap_or_default();
        Ok(file.profiles.get(name).cloned().unwrap_or_default())
    }

    pub fn save_profile(&self, name: &str, profile: Profile) -> Result<(), CliError> {
        let mut file: ConfigFile = read_json(&self.config)?.unwrap_or_default();
        file.profiles.insert(name.to_owned(), profile);
        write_private(&self.config, &file)
    }

    pub fn credentials(&self, profile: &str) -> Result<Option<Credentials>, CliError> {
        let file: CredentialsFile = read_json(&self.credentials)?.unwrap_or_default();
        Ok(file.profiles.get(profile).cloned())
    }

    pub fn save_credentials(&self, profile: &str, credentials: Credentials) -> Result<(), CliError> {
        let mut file: CredentialsFile = read_json(&self.credentials)?.unwrap_or_default();
        file.profiles.insert(profile.to_owned(), credentials);
        write_private(&self.credentials, &file)
    }

    /// Forgets a profile's sign-in; says whether there was one.
    pub fn forget_credentials(&self, profile: &str) -> Result<bool, CliError> {
        let mut file: CredentialsFile = read_json(&self.credentials)?.unwrap_or_default();
        let had = file.profiles.remove(profile).is_some();
        if had {
            write_private(&self.credentials, &file)?;
        }
        Ok(had)
    }
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Option<T>, CliError> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| CliError::Other(format!("{} is not valid: {e}", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(CliError::Other(format!("{}: {e}", path.display()))),
    }
}

/// Writes `value` as JSON, mode 0600, atomically (a temporary file in the same directory,
/// renamed over the old one), in a directory made 0700 if missing.
fn write_private(path: &Path, value: &impl Serialize) -> Result<(), CliError> {
    let mut text = serde_json::to_vec_pretty(value).map_err(|e| CliError::Other(e.to_string()))?;
    text.push(b'\n');
    write_secret_file(path, &text)
}

/// Writes `bytes` to `path` with mode 0600 (a key, a token), replacing it atomically.
pub fn write_secret_file(path: &Path, bytes: &[u8]) -> Result<(), CliError> {
    let failed = |e: &dyn fmt::Display| CliError::Other(format!("{}: {e}", path.display()));
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if !dir.exists() {
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(&dir).map_err(|e| failed(&e))?;
    }
    // `tempfile` creates its files 0600 on Unix.
    let mut file = tempfile::NamedTempFile::new_in(&dir).map_err(|e| failed(&e))?;
    file.write_all(bytes).map_err(|e| failed(&e))?;
    file.as_file().sync_all().map_err(|e| failed(&e))?;
    file.persist(path).map_err(|e| failed(&e.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_is_never_shown_by_debug() {
        let secret = Secret::new(" nico_abc\n").unwrap();
        assert_eq!(secret.expose(), "nico_abc");
        assert!(!format!("{secret:?}").contains("abc"));
        assert!(Secret::new(" \n").is_none());
    }

    #[cfg(unix)]
    #[test]
    fn secret_files_are_0600_in_a_0700_directory_and_replaced_whole() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("new/dir/key");
        write_secret_file(&path, b"one").unwrap();
        write_secret_file(&path, b"two").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(path.parent().unwrap()), 0o700);
    }
}
