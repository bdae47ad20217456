//! `nico-local`: the whole service on one port, no AWS account, no Docker.
//!
//! ```text
//! nico-local [--port 3000] [--data-dir .data] [--store embedded|dynamodb] [--authorizer http|rest-token]
//!            [--oidc-discovery-url URL --audience CLIENT_ID,...]
//! nico-local mint-token [--data-dir .data] [--sub local-owner] [--team local-team] [--role owner]
//!            [--display NAME] [--hours 12]
//! nico-local create-table
//! nico-local backfill-expiry-index
//! ```
//!
//! Every level takes `--help` and `--version`; usage errors exit with status 2.
//!
//! The store is the embedded SQLite file under `--data-dir`, unless `--store dynamodb` is given
//! or `AWS_ENDPOINT_URL_DYNAMODB` is set (and `--store embedded` is not given): then the DynamoDB
//! table `TABLE_NAME` where the SDK points, created if missing. The configuration variables (see
//! `shared/src/config.rs`) are read as in Lambda; unset ones get local defaults.
//!
//! Owners sign in with the dev OIDC issuer at `<base>/oidc` (`nico_local::oidc`), whose RS256
//! key is made once per data directory; `--oidc-discovery-url` checks a real identity
//! provider's tokens instead. The tokens it mints (the code flow's, the banner's and
//! `mint-token`'s) put the team, role and display name under the claim names the management
//! API reads: `OWNER_TEAM_CLAIM`, `OWNER_ROLE_CLAIM` and `DISPLAY_NAME_CLAIM`, by default
//! `team_id`, `role` and `email`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use chrono::{TimeDelta, Utc};
use clap::{Args, Parser, Subcommand, ValueEnum};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use key_management::console::ConsoleSettings;
use nico_keys::config::ClaimNames;
use nico_keys::model::format_time;
use nico_keys::store::Store;
use nico_keys::store::dynamodb::{self, DynamoStore};
use nico_keys::store::embedded::EmbeddedStore;
use nico_keys::{Clock, Config, FileClock, SystemClock};
use nico_local::keys::{self, SigningKey};
use nico_local::oidc::{self, DevIssuer, Identity, Minter};
use nico_local::{Gateway, LocalRequest, Mode, SignIn, discovery};
use tokio::net::TcpListener;

/// Largest request body the local gateway reads (API Gateway's own limit is 10 MB; the
/// management API refuses anything over 16 KiB itself).
const MAX_BODY: usize = 1024 * 1024;

/// Settings for a local run, where the Lambda environment would have them.
const LOCAL_DEFAULTS: [(&str, &str); 4] = [
    ("TABLE_NAME", "nico-keys-local"),
    ("ALLOWED_SCOPES", "projects:read,projects:write,billing:read"),
    (
        "SCOPE_DESCRIPTIONS",
        r#"{"projects:read": "Read projects", "projects:write": "Create, change and delete projects", "billing:read": "Read invoices and usage"}"#,
    ),
    (
        "ROUTE_SCOPES",
        "GET /projects/*=projects:read,POST /projects/*=projects:write,DELETE /projects/*=projects:write,\
         GET /billing=billing:read,GET /health=*,GET /v1/whoami=*",
    ),
];

/// The owner token the banner prints, and `mint-token`'s defaults.
const OWNER_SUB: &str = oidc::DEFAULT_SUB;
const OWNER_TEAM: &str = oidc::DEFAULT_TEAM;
const OWNER_ROLE: &str = oidc::DEFAULT_ROLE;
const OWNER_HOURS: i64 = 12;

/// The base URL `mint-token` signs for when no runner has used the data directory yet.
const DEFAULT_BASE: &str = "http://127.0.0.1:3000";

/// The longest (and most negative) validity `mint-token --hours` takes: about 100 years.
const MAX_HOURS: i64 = 100 * 366 * 24;

#[derive(Debug, Parser)]
#[command(version, about, propagate_version = true, args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    serve: ServeArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Prints a token of the dev issuer (RS256, the data directory's key), alone on stdout
    MintToken(MintArgs),
    /// Creates the table TABLE_NAME where the AWS SDK points (AWS_ENDPOINT_URL_DYNAMODB), if missing
    CreateTable,
    /// Puts keys written before the expiry index existed into it (table TABLE_NAME where the
    /// AWS SDK points); safe to run again. Prints how many keys it indexed
    BackfillExpiryIndex,
}

/// Serving: `nico-local` without a subcommand.
#[derive(Debug, Args)]
struct ServeArgs {
    /// Port to listen on, on 127.0.0.1 (0: any free port)
    #[arg(long, default_value_t = 3000)]
    port: u16,
    /// Directory of the embedded store's SQLite file and the dev issuer's key, created if missing
    #[arg(long, default_value = ".data")]
    data_dir: PathBuf,
    /// Where keys are kept [default: dynamodb when AWS_ENDPOINT_URL_DYNAMODB is set, else embedded]
    #[arg(long, value_enum)]
    store: Option<StoreKind>,
    /// Which API Gateway authorizer integration to emulate for the protected routes
    #[arg(long, value_enum, default_value_t = Mode::Http)]
    authorizer: Mode,
    /// Check the tokens of this identity provider instead of running the dev issuer: its
    /// discovery document's URL, <issuer>/.well-known/openid-configuration (read at start)
    #[arg(long, env = "LOCAL_OIDC_DISCOVERY_URL", value_name = "URL")]
    oidc_discovery_url: Option<String>,
    /// Audiences accepted (aud, or client_id when there is no aud), comma-separated: your
    /// console's and CLI's client ids [default: the dev issuer's nico-keys-console,nico-keys-cli]
    #[arg(long, env = "LOCAL_JWT_AUDIENCE", value_name = "CLIENT_ID", value_delimiter = ',')]
    audience: Vec<String>,
    /// Let --store dynamodb use a table that is not on this machine (AWS itself, with your
    /// credentials). Without it, the DynamoDB endpoint must be a loopback address
    #[arg(long)]
    allow_remote_dynamodb: bool,
    /// Read the time from FILE (epoch milliseconds) at every request instead of the system
    /// clock: for tests that move time (expiry) without sleeping
    #[arg(long, value_name = "FILE")]
    clock_file: Option<PathBuf>,
    /// Run the expiry notifier at start and then every SECONDS (0: never); it prints what it
    /// would send, or publishes to EXPIRY_TOPIC_ARN when that is set
    #[arg(long, value_name = "SECONDS", default_value_t = 3600)]
    notify_every: u64,
}

impl ServeArgs {
    /// `--store`, or else dynamodb when `AWS_ENDPOINT_URL_DYNAMODB` is set (`endpoint_set`).
    fn store(&self, endpoint_set: bool) -> StoreKind {
        self.store.unwrap_or(if endpoint_set { StoreKind::DynamoDb } else { StoreKind::Embedded })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum StoreKind {
    /// The SQLite file keys.sqlite3 under --data-dir
    Embedded,
    /// The DynamoDB table TABLE_NAME where the AWS SDK points, created if missing
    #[value(name = "dynamodb")]
    DynamoDb,
}

#[derive(Debug, Args)]
struct MintArgs {
    /// The data directory whose key signs (made there if missing), as the runner's --data-dir
    #[arg(long, default_value = ".data")]
    data_dir: PathBuf,
    /// The token's subject
    #[arg(long, default_value = OWNER_SUB)]
    sub: String,
    /// The owner's team, in the claim OWNER_TEAM_CLAIM names (default team_id)
    #[arg(long, default_value = OWNER_TEAM)]
    team: String,
    /// The owner's role, in the claim OWNER_ROLE_CLAIM names (default role); owner may write
    #[arg(long, default_value = OWNER_ROLE)]
    role: String,
    /// The display name, in the claim DISPLAY_NAME_CLAIM names (default email) [default: none]
    #[arg(long)]
    display: Option<String>,
    /// How many hours the token is valid (negative: already expired)
    #[arg(
        long,
        default_value_t = OWNER_HOURS,
        allow_negative_numbers = true,
        value_parser = clap::value_parser!(i64).range(-MAX_HOURS..=MAX_HOURS),
    )]
    hours: i64,
}

/// Signs an access token as the dev issuer of `--data-dir` would hand the CLI client: for the
/// issuer the runner last served from that directory (the default port's if none did yet).
fn mint_token(args: &MintArgs) -> Result<(), String> {
    let config = config_from_env().map_err(|e| e.to_string())?;
    let key = SigningKey::load_or_create(&args.data_dir)?;
    let issuer = oidc::remembered_issuer(&args.data_dir).unwrap_or_else(|| oidc::issuer_at(DEFAULT_BASE));
    let minter = Minter::new(issuer, Arc::new(key), config.claims);
    let who = Identity {
        sub: args.sub.clone(),
        team: args.team.clone(),
        role: args.role.clone(),
        display: args.display.clone().filter(|d| !d.is_empty()),
    };
    println!("{}", mint(&minter, &who, Utc::now().timestamp(), args.hours * 3600));
    Ok(())
}

/// The access token `mint-token` and the banner print: the CLI client's, scope `openid`.
fn mint(minter: &Minter, who: &Identity, now: i64, seconds: i64) -> String {
    minter.access_token(who, oidc::CLI_CLIENT_ID, "openid", now, seconds)
}

/// The banner's owner.
fn banner_owner() -> Identity {
    Identity { sub: OWNER_SUB.into(), team: OWNER_TEAM.into(), role: OWNER_ROLE.into(), display: None }
}

/// Creates `TABLE_NAME` where the SDK points (e.g. `AWS_ENDPOINT_URL_DYNAMODB`), as the SAM
/// template defines it, for `cargo lambda watch` runs.
async fn create_table() -> Result<(), String> {
    let config = config_from_env().map_err(|e| e.to_string())?;
    let client = dynamodb::client_from_env().await;
    if dynamodb::table_exists(&client, &config.table_name).await.map_err(|e| e.to_string())? {
        println!("table {} exists", config.table_name);
    } else {
        dynamodb::create_table(&client, &config.table_name).await.map_err(|e| e.to_string())?;
        println!("table {} created", config.table_name);
    }
    Ok(())
}

/// Indexes the keys of `TABLE_NAME` that today's keys were written without an expiry bucket.
/// A one-off Scan, the only one in the project: run it once after deploying the notifier.
async fn backfill_expiry_index() -> Result<(), String> {
    use nico_keys::store::ExpiryStore;
    let config = config_from_env().map_err(|e| e.to_string())?;
    let client = dynamodb::client_from_env().await;
    let store = DynamoStore::new(client, &config.table_name, config.limits.retention);
    let indexed = store.backfill_expiry_index(Utc::now()).await.map_err(|e| e.to_string())?;
    println!("{indexed} keys of {} added to the expiry index", config.table_name);
    Ok(())
}

fn config_from_env() -> Result<Config, nico_keys::ConfigError> {
    local_config(|name| std::env::var(name).ok())
}

/// The configuration from the variables `env` looks up, [`LOCAL_DEFAULTS`] for unset ones.
fn local_config(env: impl Fn(&str) -> Option<String>) -> Result<Config, nico_keys::ConfigError> {
    Config::from_lookup(|name| {
        env(name).or_else(|| {
            LOCAL_DEFAULTS.iter().find(|(default, _)| *default == name).map(|(_, value)| (*value).to_owned())
        })
    })
}

#[tokio::main]
async fn main() {
    let cli = Cli::parse(); // usage errors exit with 2, --help and --version with 0
    let outcome = match cli.command {
        Some(Command::MintToken(args)) => mint_token(&args),
        Some(Command::CreateTable) => create_table().await,
        Some(Command::BackfillExpiryIndex) => backfill_expiry_index().await,
        None => run(cli.serve).await,
    };
    if let Err(problem) = outcome {
        eprintln!("nico-local: {problem}");
        std::process::exit(2);
    }
}

async fn run(options: ServeArgs) -> Result<(), String> {
    nico_keys::telemetry::init_text();
    let config = config_from_env().map_err(|e| e.to_string())?;
    let clock: Arc<dyn Clock> = match &options.clock_file {
        Some(file) => Arc::new(FileClock::new(file)),
        None => Arc::new(SystemClock),
    };
    let retention = config.limits.retention;
    if options.store(std::env::var_os("AWS_ENDPOINT_URL_DYNAMODB").is_some()) == StoreKind::DynamoDb {
        // The endpoint the SDK will use: none (AWS itself) when it is told to ignore the
        // configured ones.
        let ignored = std::env::var("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS")
            .is_ok_and(|v| v.eq_ignore_ascii_case("true"));
        let endpoint = std::env::var("AWS_ENDPOINT_URL_DYNAMODB")
            .or_else(|_| std::env::var("AWS_ENDPOINT_URL"))
            .ok()
            .filter(|_| !ignored);
        if !options.allow_remote_dynamodb && !endpoint.as_deref().is_some_and(nico_local::is_loopback_url) {
            return Err(format!(
                "--store dynamodb would use {}: a table that is not on this machine, with your AWS credentials. \
                 Point AWS_ENDPOINT_URL_DYNAMODB at a local server (http://127.0.0.1:PORT), or pass \
                 --allow-remote-dynamodb if that is what you mean",
                endpoint.as_deref().unwrap_or("AWS itself")
            ));
        }
        let client = dynamodb::client_from_env().await;
        let table = config.table_name.clone();
        if !dynamodb::table_exists(&client, &table).await.map_err(|e| format!("DynamoDB: {e}"))? {
            dynamodb::create_table(&client, &table).await.map_err(|e| format!("DynamoDB: {e}"))?;
        }
        let endpoint = endpoint.unwrap_or_else(|| "AWS".into());
        let store =
            DynamoStore::new(client, &table, retention).with_audit_retention(config.limits.audit_retention);
        serve(store, config, options, format!("DynamoDB table {table} at {endpoint}"), clock).await
    } else {
        std::fs::create_dir_all(&options.data_dir)
            .map_err(|e| format!("{}: {e}", options.data_dir.display()))?;
        let path = options.data_dir.join("keys.sqlite3");
        let store = EmbeddedStore::open(&path, retention, Utc::now())
            .map_err(|e| format!("{}: {e}", path.display()))?
            .with_audit_retention(config.limits.audit_retention);
        serve(store, config, options, format!("embedded, SQLite file {}", path.display()), clock).await
    }
}

async fn serve<S: Store + nico_keys::store::ExpiryStore + Clone + 'static>(
    store: S,
    config: Config,
    options: ServeArgs,
    store_description: String,
    clock: Arc<dyn Clock>,
) -> Result<(), String> {
    let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], options.port)))
        .await
        .map_err(|e| format!("cannot listen on 127.0.0.1:{}: {e}", options.port))?;
    let address = listener.local_addr().map_err(|e| e.to_string())?;
    let base = format!("http://{address}");
    let sign_in = sign_in(&options, &base, &config.claims).await?;
    let banner = Banner {
        base: &base,
        store: &store_description,
        mode: options.authorizer,
        sign_in: &sign_in,
        data_dir: &options.data_dir,
        now: clock.now(),
    };
    banner.print();
    if options.notify_every > 0 {
        let every = std::time::Duration::from_secs(options.notify_every);
        nico_local::notify::spawn(store.clone(), clock.clone(), every).await;
    }
    let external_issuer = sign_in.issuer.is_none().then(|| sign_in.verifier.issuer().to_owned());
    let mut gateway = Gateway::new(store.clone(), config, options.authorizer, sign_in, clock);
    // With your own identity provider the console signs in as CONSOLE_CLIENT_ID, as in Lambda.
    if let Some(issuer) = external_issuer {
        let settings = ConsoleSettings::from_env();
        gateway =
            gateway.with_console(ConsoleSettings { issuer: settings.issuer.or(Some(issuer)), ..settings });
    }
    if let Some(keys) = leak_report_keys()? {
        gateway = gateway.with_leak_report(store, keys);
    }
    let gateway = Arc::new(gateway);

    loop {
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => accepted.map_err(|e| e.to_string())?,
            _ = tokio::signal::ctrl_c() => return Ok(()),
        };
        let gateway = Arc::clone(&gateway);
        tokio::spawn(async move {
            let service = service_fn(move |request| {
                let gateway = Arc::clone(&gateway);
                async move { Ok::<_, std::convert::Infallible>(answer(&gateway, request).await) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// Adapts one hyper request to the gateway and back.
async fn answer<S: Store + Clone>(
    gateway: &Gateway<S>,
    request: hyper::Request<Incoming>,
) -> hyper::Response<Full<Bytes>> {
    let (parts, body) = request.into_parts();
    let body = match Limited::new(body, MAX_BODY).collect().await {
        Ok(collected) => collected.to_bytes().to_vec(),
        Err(_) => return plain(413, r#"{"message":"Request Entity Too Large"}"#),
    };
    let local = LocalRequest {
        method: parts.method.as_str().to_owned(),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().unwrap_or("").to_owned(),
        headers: parts
            .headers
            .iter()
            .filter_map(|(name, value)| Some((name.as_str().to_owned(), value.to_str().ok()?.to_owned())))
            .collect(),
        body,
    };
    let response = gateway.handle(local).await;
    let mut builder = hyper::Response::builder().status(response.status);
    for (name, value) in &response.headers {
        builder = builder.header(name, value);
    }
    builder.body(Full::new(Bytes::from(response.body))).unwrap_or_else(|_| plain(500, "{}"))
}

fn plain(status: u16, body: &'static str) -> hyper::Response<Full<Bytes>> {
    let mut response = hyper::Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *response.status_mut() =
        hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    response
}

/// Who signs owners in: the dev issuer of the data directory, or `--oidc-discovery-url`'s
/// identity provider.
/// GitHub's leak reports are served when a key set is configured: GITHUB_SECRET_SCANNING_KEYS,
/// or GITHUB_KEYS_URL pointed somewhere (the runner never fetches GitHub's own by default).
fn leak_report_keys() -> Result<Option<leak_report::config::LeakConfig>, String> {
    let env = |name: &str| std::env::var(name).ok().filter(|value| !value.trim().is_empty());
    if env("GITHUB_SECRET_SCANNING_KEYS").is_none() && env("GITHUB_KEYS_URL").is_none() {
        return Ok(None);
    }
    let local_env = |name: &str| match name {
        "GITHUB_KEYS_URL" => Some(env(name).unwrap_or_else(|| "none".into())),
        _ => env(name),
    };
    leak_report::config::LeakConfig::from_env(local_env).map(Some).map_err(|e| e.to_string())
}

async fn sign_in(options: &ServeArgs, base: &str, names: &ClaimNames) -> Result<SignIn, String> {
    if let Some(url) = &options.oidc_discovery_url {
        if options.audience.is_empty() {
            return Err("--oidc-discovery-url needs --audience (LOCAL_JWT_AUDIENCE): the client ids \
                        the identity provider's tokens are for"
                .into());
        }
        let verifier = discovery::verifier(url, options.audience.clone()).await?;
        return Ok(SignIn { verifier, issuer: None });
    }
    let key = SigningKey::load_or_create(&options.data_dir)?;
    let issuer = DevIssuer::new(base, Arc::new(key), names.clone());
    oidc::remember_issuer(&options.data_dir, issuer.issuer())?;
    let audiences = if options.audience.is_empty() { oidc::client_ids() } else { options.audience.clone() };
    let verifier = issuer.minter().verifier(audiences)?;
    Ok(SignIn { verifier, issuer: Some(issuer) })
}

/// What the runner prints at start: where everything is, an owner token and a walk-through.
struct Banner<'a> {
    base: &'a str,
    store: &'a str,
    mode: Mode,
    sign_in: &'a SignIn,
    data_dir: &'a std::path::Path,
    /// The runner's time (its clock's, which a test may move): the owner token is valid from it.
    now: chrono::DateTime<Utc>,
}

impl Banner<'_> {
    fn print(&self) {
        let base = self.base;
        let store = self.store;
        let now = self.now;
        let authorizer = match self.mode {
            Mode::Http => "HTTP API payload 2.0, simple responses (--authorizer rest-token for REST TOKEN)",
            Mode::RestToken => "REST API TOKEN authorizer, IAM policies",
        };
        let verifier = &self.sign_in.verifier;
        let audiences = verifier.audiences().join(", ");
        let issuer = verifier.issuer();
        let Some(dev) = &self.sign_in.issuer else {
            println!(
                r#"nico-keys local: listening on {base}
  store:      {store}
  authorizer: {authorizer}
  sign-in:    your identity provider {issuer} (signing keys read at start: {keys})
  management: {base}/v1/...      owner JWTs checked as API Gateway's JWT authorizer checks them
              (RSA, kid, iss, aud or client_id in {audiences}, exp, nbf, iat)
  protected:  {base}/projects/... behind the authorizer;  {base}/echo/... unprotected

Owner token: none here. Sign in with your identity provider and export OWNER=<its access token>."#,
                keys = verifier.key_count(),
            );
            return;
        };
        let owner = mint(dev.minter(), &banner_owner(), now.timestamp(), OWNER_HOURS * 3600);
        let expires = format_time(now + TimeDelta::days(30));
        println!(
            r#"nico-keys local: listening on {base}
  store:      {store}
  authorizer: {authorizer}
  sign-in:    dev OIDC issuer {issuer} (RS256, its key in {key_file})
              discovery {issuer}/.well-known/openid-configuration
              clients {console} (redirect {console_redirect})
              and {cli} (redirect http://127.0.0.1:<any port>/callback)
  management: {base}/v1/...      owner JWTs checked as API Gateway's JWT authorizer checks them
              (RSA, kid, iss, aud or client_id in {audiences}, exp, nbf, iat)
  protected:  {base}/projects/... behind the authorizer;  {base}/echo/... unprotected
  console:    {base}/console/  (sign in there with the dev issuer's page)

Owner token (team {OWNER_TEAM}, role {OWNER_ROLE}, valid {OWNER_HOURS} hours; others with `nico-local mint-token --help`):

export OWNER={owner}

Try it (needs curl and jq):

BOT=$(curl -s -X POST {base}/v1/bots -H "authorization: Bearer $OWNER" \
  -H 'content-type: application/json' -d '{{"name":"ci bot","scopes":["projects:read","projects:write"]}}' | jq -r .id)
ISSUED=$(curl -s -X POST {base}/v1/bots/$BOT/keys -H "authorization: Bearer $OWNER" \
  -H 'content-type: application/json' \
  -d '{{"name":"laptop","expires_at":"{expires}","scopes":["projects:read"]}}')
KEY=$(echo "$ISSUED" | jq -r .token); KEY_ID=$(echo "$ISSUED" | jq -r .key.id)
curl -s -w '  HTTP %{{http_code}}\n' {base}/projects/42 -H "authorization: Bearer $KEY"          # 200: who called
curl -s -w '  HTTP %{{http_code}}\n' -X POST {base}/projects/42 -H "authorization: Bearer $KEY"  # 403: not in its scopes
curl -s {base}/v1/bots/$BOT/keys -H "authorization: Bearer $OWNER" | jq '.items[] | {{name, status, expires_at}}'
curl -s -X POST {base}/v1/bots/$BOT/keys/$KEY_ID/revoke -H "authorization: Bearer $OWNER" | jq .status
curl -s -w '  HTTP %{{http_code}}\n' {base}/projects/42 -H "authorization: Bearer $KEY"          # refused from now on
"#,
            key_file = self.data_dir.join(keys::KEY_FILE).display(),
            console = oidc::CONSOLE_CLIENT_ID,
            console_redirect = dev.console_redirect(),
            cli = oidc::CLI_CLIENT_ID,
        );
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;
    use clap::error::ErrorKind;

    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("nico-local").chain(args.iter().copied()))
    }

    fn mint_args(args: &[&str]) -> MintArgs {
        let mut full = vec!["mint-token"];
        full.extend(args);
        match parse(&full).unwrap().command {
            Some(Command::MintToken(mint)) => mint,
            other => panic!("not mint-token: {other:?}"),
        }
    }

    fn usage_error(args: &[&str]) -> ErrorKind {
        let error = parse(args).unwrap_err();
        assert_eq!(error.exit_code(), 2, "{args:?}");
        error.kind()
    }

    #[test]
    fn the_command_line_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn help_and_version_are_answered_at_every_level() {
        for args in [&["--help"][..], &["-h"], &["mint-token", "--help"], &["create-table", "--help"]] {
            assert_eq!(parse(args).unwrap_err().kind(), ErrorKind::DisplayHelp, "{args:?}");
        }
        for args in
            [&["--version"][..], &["-V"], &["mint-token", "--version"], &["create-table", "--version"]]
        {
            assert_eq!(parse(args).unwrap_err().kind(), ErrorKind::DisplayVersion, "{args:?}");
        }
    }

    #[test]
    fn serving_defaults_to_port_3000_the_data_dir_and_the_http_authorizer() {
        let cli = parse(&[]).unwrap();
        assert!(cli.command.is_none());
        assert_eq!(cli.serve.port, 3000);
        assert_eq!(cli.serve.data_dir, PathBuf::from(".data"));
        assert_eq!(cli.serve.store, None);
        assert_eq!(cli.serve.authorizer, Mode::Http);
        assert_eq!((cli.serve.oidc_discovery_url, cli.serve.audience), (None, vec![]), "the dev issuer");
    }

    #[test]
    fn the_store_defaults_to_dynamodb_only_when_a_dynamodb_endpoint_is_set() {
        let defaults = parse(&[]).unwrap().serve;
        assert_eq!(defaults.store(false), StoreKind::Embedded);
        assert_eq!(defaults.store(true), StoreKind::DynamoDb);
        let embedded = parse(&["--store", "embedded"]).unwrap().serve;
        assert_eq!(embedded.store(true), StoreKind::Embedded);
        let dynamodb = parse(&["--store", "dynamodb"]).unwrap().serve;
        assert_eq!(dynamodb.store(false), StoreKind::DynamoDb);
    }

    #[test]
    fn every_serving_flag_is_read() {
        let serve = parse(&[
            "--port",
            "0",
            "--data-dir",
            "/tmp/elsewhere",
            "--store",
            "dynamodb",
            "--authorizer",
            "rest-token",
        ])
        .unwrap()
        .serve;
        assert_eq!(serve.port, 0);
        assert_eq!(serve.data_dir, PathBuf::from("/tmp/elsewhere"));
        assert_eq!(serve.store, Some(StoreKind::DynamoDb));
        assert_eq!(serve.authorizer, Mode::RestToken);
        assert_eq!(parse(&["--authorizer", "http"]).unwrap().serve.authorizer, Mode::Http);
        let serve = parse(&[
            "--oidc-discovery-url",
            "https://idp.example/.well-known/openid-configuration",
            "--audience",
            "console,cli",
            "--audience",
            "other",
        ])
        .unwrap()
        .serve;
        assert_eq!(
            serve.oidc_discovery_url.as_deref(),
            Some("https://idp.example/.well-known/openid-configuration")
        );
        assert_eq!(serve.audience, ["console", "cli", "other"]);
    }

    #[test]
    fn mint_token_defaults_to_the_banner_owner_for_12_hours() {
        let mint = mint_args(&[]);
        assert_eq!(
            (mint.sub.as_str(), mint.team.as_str(), mint.role.as_str(), mint.hours),
            ("local-owner", "local-team", "owner", 12)
        );
        assert_eq!((mint.data_dir, mint.display), (PathBuf::from(".data"), None));
    }

    #[test]
    fn every_mint_token_flag_is_read() {
        let mint = mint_args(&["--sub", "bob", "--team", "t", "--role", "member", "--hours", "2"]);
        assert_eq!(
            (mint.sub.as_str(), mint.team.as_str(), mint.role.as_str(), mint.hours),
            ("bob", "t", "member", 2)
        );
        let mint = mint_args(&["--data-dir", "/tmp/d", "--display", "Bob"]);
        assert_eq!((mint.data_dir, mint.display), (PathBuf::from("/tmp/d"), Some("Bob".to_owned())));
        assert_eq!(mint_args(&["--hours", "-1"]).hours, -1, "an expired token, for trying expiry");
    }

    #[test]
    fn minted_tokens_carry_team_role_and_display_under_the_configured_claim_names() {
        let env = |name: &str| match name {
            "OWNER_TEAM_CLAIM" => Some("custom:team".to_owned()),
            "OWNER_ROLE_CLAIM" => Some("custom:role".to_owned()),
            "DISPLAY_NAME_CLAIM" => Some("name".to_owned()),
            _ => None,
        };
        let key = Arc::new(SigningKey::generate().unwrap());
        let now = 1_800_000_000;
        let who = Identity { display: Some("Bob".into()), ..banner_owner() };
        for (names, team, role, display) in [
            (local_config(env).unwrap().claims, "custom:team", "custom:role", "name"),
            (local_config(|_| None).unwrap().claims, "team_id", "role", "email"),
        ] {
            let minter = Minter::new(oidc::issuer_at(DEFAULT_BASE), Arc::clone(&key), names);
            let token = mint(&minter, &who, now, 60);
            let claims = minter.verifier(oidc::client_ids()).unwrap().verify(&token, now).unwrap();
            assert_eq!(
                (claims["sub"].as_str(), claims[team].as_str()),
                (Some("local-owner"), Some("local-team"))
            );
            assert_eq!((claims[role].as_str(), claims[display].as_str()), (Some("owner"), Some("Bob")));
            assert_eq!(claims.len(), 12, "{claims:?}");
        }
    }

    #[test]
    fn create_table_is_a_command() {
        assert!(matches!(parse(&["create-table"]).unwrap().command, Some(Command::CreateTable)));
    }

    #[test]
    fn bad_values_and_unknown_flags_are_usage_errors() {
        assert_eq!(usage_error(&["--store", "postgres"]), ErrorKind::InvalidValue);
        assert_eq!(usage_error(&["--authorizer", "cognito"]), ErrorKind::InvalidValue);
        assert_eq!(usage_error(&["--port", "http"]), ErrorKind::ValueValidation);
        assert_eq!(usage_error(&["--port", "65536"]), ErrorKind::ValueValidation);
        assert_eq!(usage_error(&["mint-token", "--hours", "many"]), ErrorKind::ValueValidation);
        assert_eq!(usage_error(&["mint-token", "--hours", "99999999"]), ErrorKind::ValueValidation);
        assert_eq!(usage_error(&["--port"]), ErrorKind::InvalidValue);
        assert_eq!(usage_error(&["--bogus"]), ErrorKind::UnknownArgument);
        assert_eq!(usage_error(&["mint-token", "--port", "1"]), ErrorKind::UnknownArgument);
        assert_eq!(usage_error(&["--port", "1", "mint-token"]), ErrorKind::ArgumentConflict);
    }
}
