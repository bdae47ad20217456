//! Everything that ends a command early, and the one place it becomes a message and an exit
//! code: 1 error, 2 usage or cancelled, 4 not authenticated or key refused.

use std::process::ExitCode;

/// Why a command stopped.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// A flag's value the CLI refuses before asking the API.
    #[error("{0}")]
    Usage(String),
    /// A confirmation was declined, or could not be asked.
    #[error("{0}")]
    Cancelled(String),
    #[error("{0}")]
    NotAuthenticated(String),
    /// The gateway refused the API key; it does not say why, so neither can we.
    #[error("this API key was refused (expired, revoked or invalid): create a new one")]
    KeyRefused,
    /// The API answered with an error; `field` names the input it refused.
    #[error("{message}{}", field.as_ref().map(|f| format!(" (field: {f})")).unwrap_or_default())]
    Api { status: u16, message: String, field: Option<String> },
    #[error("{0}")]
    Other(String),
}

impl CliError {
    pub fn exit_code(&self) -> ExitCode {
        ExitCode::from(match self {
            Self::Usage(_) | Self::Cancelled(_) => 2,
            Self::NotAuthenticated(_) | Self::KeyRefused => 4,
            Self::Api { status: 401, .. } => 4,
            Self::Api { .. } | Self::Other(_) => 1,
        })
    }
}

impl From<reqwest::Error> for CliError {
    /// reqwest's message names the URL (ids and filters only), never a header or a body.
    fn from(error: reqwest::Error) -> Self {
        Self::Other(format!("cannot reach the API: {error}"))
    }
}
