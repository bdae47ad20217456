//! The command line, declared once: clap builds the parser, `--help` and the shell completions
//! from these types, and the `--help` snapshots in the tests hold them to what people read.
//!
//! No argument takes a key or a token (they would land in shell history and in `ps`): a token
//! comes on stdin (`login --with-token`) or in `NICO_TOKEN`, a key in `NICO_API_KEY`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// The loopback port `login` listens on for the sign-in redirect (registered with the identity
/// provider as `http://127.0.0.1:8765/callback`).
pub const CALLBACK_PORT: u16 = 8765;

#[derive(Debug, Parser)]
#[command(
    name = "nico-keys",
    version,
    about = "Manage Nico's bot users and their API keys; check the key you hold.",
    after_help = "Environment: NICO_ENDPOINT (the API's base URL), NICO_TOKEN (a person's token; beats \
                  stored credentials), NICO_API_KEY (a key, for `whoami` only), NICO_PROFILE, NO_COLOR.\n\
                  Exit codes: 0 ok, 1 error, 2 usage or cancelled, 4 not authenticated or key refused."
)]
pub struct Cli {
    /// Print the API's JSON instead of a table or lines.
    #[arg(long, global = true)]
    pub json: bool,
    /// The profile (endpoint and stored sign-in) to use.
    #[arg(long, global = true, env = "NICO_PROFILE", default_value = "default", hide_env_values = true)]
    pub profile: String,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Sign in: in a browser (OIDC code + PKCE, redirected to 127.0.0.1:8765), or with a token on stdin.
    Login(Login),
    /// Forget this profile's stored sign-in.
    Logout,
    /// Where and how you are signed in (never prints the token).
    Auth {
        #[command(subcommand)]
        command: AuthCommand,
    },
    /// Who you are signed in as: your account id (sub), team and role.
    Me,
    /// Bot users: list, create, view, edit, delete.
    Bots {
        #[command(subcommand)]
        command: BotsCommand,
    },
    /// API keys: list, create, view, rotate, revoke.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// The audit trail: who did what to which bot user or key.
    Audit(Audit),
    /// The API key in NICO_API_KEY: its bot user, team, scopes and expiry.
    Whoami,
    /// Print a shell completion script.
    Completion {
        #[arg(value_enum)]
        shell: Shell,
    },
}

#[derive(Debug, Args)]
pub struct Login {
    /// The management API's base URL (saved in the profile).
    #[arg(long, env = "NICO_ENDPOINT", hide_env_values = true)]
    pub endpoint: Option<String>,
    /// Read a token from stdin instead of signing in in a browser.
    #[arg(long)]
    pub with_token: bool,
    /// The OIDC issuer to sign in with [default: <endpoint>/oidc, the local runner's dev issuer].
    #[arg(long)]
    pub issuer: Option<String>,
    /// The OIDC client id of the CLI.
    #[arg(long, default_value = "nico-keys-cli")]
    pub client_id: String,
    /// The loopback port of the redirect (must be registered with the issuer).
    #[arg(long, default_value_t = CALLBACK_PORT)]
    pub callback_port: u16,
    /// Do not try to open a browser; only print the sign-in address.
    #[arg(long)]
    pub no_browser: bool,
}

#[derive(Debug, Subcommand)]
pub enum AuthCommand {
    /// The profile, endpoint, where the token comes from and whether the API accepts it.
    Status,
}

#[derive(Debug, Subcommand)]
pub enum BotsCommand {
    /// Bot users you may see (owners: the team's; members: their own).
    List,
    /// Create a bot user (owners).
    Create {
        /// Its name (what it is for).
        name: String,
        /// The most its keys may carry, comma-separated.
        #[arg(long, value_delimiter = ',', required = true)]
        scope: Vec<String>,
        /// The person (their account id, `sub`) it is for [default: you].
        #[arg(long)]
        account: Option<String>,
    },
    /// One bot user (by id or exact name).
    View {
        /// The bot user (id or exact name).
        bot: String,
    },
    /// Rename, re-scope or re-assign a bot user (owners).
    Edit {
        /// The bot user (id or exact name).
        bot: String,
        #[arg(long)]
        name: Option<String>,
        /// A new ceiling, comma-separated.
        #[arg(long, value_delimiter = ',')]
        scope: Option<Vec<String>>,
        /// Re-assign it to this person; its working keys are revoked unless --keep-keys.
        #[arg(long)]
        account: Option<String>,
        /// With --account: keep its keys working.
        #[arg(long, requires = "account")]
        keep_keys: bool,
    },
    /// Delete a bot user and revoke its keys (owners; irreversible).
    Delete {
        /// The bot user (id or exact name).
        bot: String,
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Keys across every bot user you may see, newest first.
    List {
        /// Only this bot user's keys (id or exact name).
        #[arg(long)]
        bot: Option<String>,
        /// Only these statuses, comma-separated: active, expired, revoked.
        #[arg(long, value_delimiter = ',')]
        status: Vec<Status>,
        /// Only keys expiring within this span (30m, 12h, 7d).
        #[arg(long, value_name = "SPAN")]
        expiring_within: Option<String>,
        /// Only keys unused for this span (never-used keys too).
        #[arg(long, value_name = "SPAN")]
        unused_for: Option<String>,
    },
    /// Create a key; prints only the key on stdout (shown once).
    Create {
        /// The bot user (id or exact name).
        #[arg(long)]
        bot: String,
        /// What the key is for (a machine, a job): shown in lists and the audit trail.
        #[arg(long)]
        name: String,
        /// A span from now (30d), a date (2027-01-31: the end of that day, UTC) or an instant.
        #[arg(long, value_name = "WHEN")]
        expires: String,
        /// Its scopes, comma-separated, within the bot user's.
        #[arg(long, value_delimiter = ',', required = true)]
        scope: Vec<String>,
        /// Write the key to this file (mode 0600) instead of stdout.
        #[arg(long, value_name = "FILE")]
        output_file: Option<PathBuf>,
    },
    /// One key.
    View {
        /// The bot user (id or exact name).
        bot: String,
        /// The key's id.
        key: String,
    },
    /// Replace a key with a new one; the old one keeps working for the grace period.
    Rotate {
        /// The bot user (id or exact name).
        bot: String,
        /// The key's id.
        key: String,
        /// How long the old key keeps working (30m, 1h, 1d) [default: the deployment's].
        #[arg(long, value_name = "SPAN")]
        grace: Option<String>,
        /// Write the new key to this file (mode 0600) instead of stdout.
        #[arg(long, value_name = "FILE")]
        output_file: Option<PathBuf>,
    },
    /// Revoke a key now (irreversible).
    Revoke {
        /// The bot user (id or exact name).
        bot: String,
        /// The key's id.
        key: String,
        /// Why, kept in the audit trail (at most 200 characters).
        #[arg(long)]
        reason: Option<String>,
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
    },
    /// Revoke every working key of a bot user now (irreversible).
    RevokeAll {
        /// The bot user (id or exact name).
        bot: String,
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Status {
    Active,
    Expired,
    Revoked,
}

#[derive(Debug, Args)]
pub struct Audit {
    /// Only this bot user's events (id or exact name).
    #[arg(long)]
    pub bot: Option<String>,
    /// Only this actor's events (a person's sub or a system actor).
    #[arg(long)]
    pub actor: Option<String>,
    /// Only events since then: a span ago (7d) or an RFC 3339 instant.
    #[arg(long, value_name = "WHEN")]
    pub since: Option<String>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
}

impl Status {
    /// The API's spelling.
    pub fn name(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Expired => "expired",
            Self::Revoked => "revoked",
        }
    }
}
