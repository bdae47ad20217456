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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_of_failure_has_its_exit_code() {
        let api = |status| CliError::Api { status, message: "m".into(), field: None };
        for (error, code) in [
            (CliError::Usage("u".into()), 2),
            (CliError::Cancelled("c".into()), 2),
            (CliError::NotAuthenticated("n".into()), 4),
            (CliError::KeyRefused, 4),
            (api(401), 4),
            (api(400), 1),
            (api(500), 1),
            (CliError::Other("o".into()), 1),
        ] {
            assert_eq!(error.exit_code(), ExitCode::from(code), "{error:?}");
        }
    }

    #[test]
    fn an_api_error_names_its_field() {
        let error = CliError::Api {
            status: 400,
            message: "must be in the future".into(),
            field: Some("expires_at".into()),
        };
        assert_eq!(error.to_string(), "must be in the future (field: expires_at)");
    }
}
