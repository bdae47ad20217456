//! `nico-local`: the whole service on one port, no AWS account, no Docker.
//!
//! ```text
//! nico-local [--port 3000] [--data-dir .data] [--store embedded|dynamodb] [--authorizer http|rest-token]
//! nico-local mint-token [--sub local-owner] [--team local-team] [--role owner] [--hours 12]
//! nico-local create-table
//! ```
//!
//! Every level takes `--help` and `--version`; usage errors exit with status 2.
//!
//! The store is the embedded SQLite file under `--data-dir`, unless `--store dynamodb` is given
//! or `AWS_ENDPOINT_URL_DYNAMODB` is set (and `--store embedded` is not given): then the DynamoDB
//! table `TABLE_NAME` where the SDK points, created if missing. The configuration variables (see
//! `shared/src/config.rs`) are read as in Lambda; unset ones get local defaults.
//!
//! The owner tokens it mints (the banner's and `mint-token`'s) put the team and role under the
//! claim names the management API reads: `OWNER_TEAM_CLAIM` and `OWNER_ROLE_CLAIM`, by default
//! `team_id` and `role`.

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
use nico_keys::config::ClaimNames;
use nico_keys::model::format_time;
use nico_keys::store::Store;
use nico_keys::store::dynamodb::{self, DynamoStore};
use nico_keys::store::embedded::EmbeddedStore;
use nico_keys::{Config, SystemClock};
use nico_local::jwt::{self, Jwt};
use nico_local::{Gateway, LocalRequest, Mode};
use tokio::net::TcpListener;

/// Largest request body the local gateway reads (API Gateway's own limit is 10 MB; the
/// management API refuses anything over 16 KiB itself).
const MAX_BODY: usize = 1024 * 1024;

/// Settings for a local run, where the Lambda environment would have them.
const LOCAL_DEFAULTS: [(&str, &str); 3] = [
    ("TABLE_NAME", "nico-keys-local"),
    ("ALLOWED_SCOPES", "projects:read,projects:write,billing:read"),
    (
        "ROUTE_SCOPES",
        "GET /projects/*=projects:read,POST /projects/*=projects:write,DELETE /projects/*=projects:write,\
         GET /billing=billing:read,GET /health=*",
    ),
];

/// The owner token the banner prints, and `mint-token`'s defaults.
const OWNER_SUB: &str = "local-owner";
const OWNER_TEAM: &str = "local-team";
const OWNER_ROLE: &str = "owner";
const OWNER_HOURS: i64 = 12;

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
    /// Prints an owner token for the local runner (an HS256 JWT), alone on stdout
    MintToken(MintArgs),
    /// Creates the table TABLE_NAME where the AWS SDK points (AWS_ENDPOINT_URL_DYNAMODB), if missing
    CreateTable,
}

/// Serving: `nico-local` without a subcommand.
#[derive(Debug, Args)]
struct ServeArgs {
    /// Port to listen on, on 127.0.0.1 (0: any free port)
    #[arg(long, default_value_t = 3000)]
    port: u16,
    /// Directory of the embedded store's SQLite file, created if missing
    #[arg(long, default_value = ".data")]
    data_dir: PathBuf,
    /// Where keys are kept [default: dynamodb when AWS_ENDPOINT_URL_DYNAMODB is set, else embedded]
    #[arg(long, value_enum)]
    store: Option<StoreKind>,
    /// Which API Gateway authorizer integration to emulate for the protected routes
    #[arg(long, value_enum, default_value_t = Mode::Http)]
    authorizer: Mode,
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
    /// The token's subject
    #[arg(long, default_value = OWNER_SUB)]
    sub: String,
    /// The owner's team, in the claim OWNER_TEAM_CLAIM names (default team_id)
    #[arg(long, default_value = OWNER_TEAM)]
    team: String,
    /// The owner's role, in the claim OWNER_ROLE_CLAIM names (default role); owner may write
    #[arg(long, default_value = OWNER_ROLE)]
    role: String,
    /// How many hours the token is valid (negative: already expired)
    #[arg(
        long,
        default_value_t = OWNER_HOURS,
        allow_negative_numbers = true,
        value_parser = clap::value_parser!(i64).range(-MAX_HOURS..=MAX_HOURS),
    )]
    hours: i64,
}

fn mint_token(args: &MintArgs) -> Result<(), String> {
    let config = config_from_env().map_err(|e| e.to_string())?;
    let claims = owner_claims(&config.claims, &args.sub, &args.team, &args.role);
    println!("{}", Jwt::local().mint(&claims, Utc::now().timestamp(), args.hours * 3600));
    Ok(())
}

/// An owner token's claims, the team and role under the names the management API reads.
fn owner_claims<'a>(
    names: &'a ClaimNames,
    sub: &'a str,
    team: &'a str,
    role: &'a str,
) -> [(&'a str, &'a str); 3] {
    [("sub", sub), (names.team.as_str(), team), (names.role.as_str(), role)]
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
    let clock = Arc::new(SystemClock);
    let retention = config.limits.retention;
    if options.store(std::env::var_os("AWS_ENDPOINT_URL_DYNAMODB").is_some()) == StoreKind::DynamoDb {
        let client = dynamodb::client_from_env().await;
        let table = config.table_name.clone();
        if !dynamodb::table_exists(&client, &table).await.map_err(|e| format!("DynamoDB: {e}"))? {
            dynamodb::create_table(&client, &table).await.map_err(|e| format!("DynamoDB: {e}"))?;
        }
        let endpoint = std::env::var("AWS_ENDPOINT_URL_DYNAMODB").unwrap_or_else(|_| "AWS".into());
        let store = DynamoStore::new(client, &table, retention);
        serve(store, config, options, format!("DynamoDB table {table} at {endpoint}"), clock).await
    } else {
        std::fs::create_dir_all(&options.data_dir)
            .map_err(|e| format!("{}: {e}", options.data_dir.display()))?;
        let path = options.data_dir.join("keys.sqlite3");
        let store = EmbeddedStore::open(&path, retention, Utc::now())
            .map_err(|e| format!("{}: {e}", path.display()))?;
        serve(store, config, options, format!("embedded, SQLite file {}", path.display()), clock).await
    }
}

async fn serve<S: Store + Clone + 'static>(
    store: S,
    config: Config,
    options: ServeArgs,
    store_description: String,
    clock: Arc<SystemClock>,
) -> Result<(), String> {
    let claim_names = config.claims.clone();
    let gateway = Arc::new(Gateway::new(store, config, options.authorizer, Jwt::local(), clock));
    let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], options.port)))
        .await
        .map_err(|e| format!("cannot listen on 127.0.0.1:{}: {e}", options.port))?;
    let address = listener.local_addr().map_err(|e| e.to_string())?;
    print_banner(&format!("http://{address}"), &store_description, options.authorizer, &claim_names);

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

fn print_banner(base: &str, store: &str, mode: Mode, claim_names: &ClaimNames) {
    let now = Utc::now();
    let owner = Jwt::local().mint(
        &owner_claims(claim_names, OWNER_SUB, OWNER_TEAM, OWNER_ROLE),
        now.timestamp(),
        OWNER_HOURS * 3600,
    );
    let authorizer = match mode {
        Mode::Http => "HTTP API payload 2.0, simple responses (--authorizer rest-token for REST TOKEN)",
        Mode::RestToken => "REST API TOKEN authorizer, IAM policies",
    };
    let expires = format_time(now + TimeDelta::days(30));
    println!(
        r#"nico-keys local: listening on {base}
  store:      {store}
  authorizer: {authorizer}
  management: {base}/v1/...      owner JWT (HS256, issuer {issuer}, audience {audience},
                                  dev secret "{secret}")
  protected:  {base}/projects/... behind the authorizer;  {base}/echo/... unprotected

Owner token (team {OWNER_TEAM}, role {OWNER_ROLE}, valid {OWNER_HOURS} hours; more with `nico-local mint-token --help`):

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
        issuer = jwt::ISSUER,
        audience = jwt::AUDIENCE,
        secret = jwt::DEV_SECRET,
    );
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
    }

    #[test]
    fn mint_token_defaults_to_the_banner_owner_for_12_hours() {
        let mint = mint_args(&[]);
        assert_eq!(
            (mint.sub.as_str(), mint.team.as_str(), mint.role.as_str(), mint.hours),
            ("local-owner", "local-team", "owner", 12)
        );
    }

    #[test]
    fn every_mint_token_flag_is_read() {
        let mint = mint_args(&["--sub", "bob", "--team", "t", "--role", "member", "--hours", "2"]);
        assert_eq!(
            (mint.sub.as_str(), mint.team.as_str(), mint.role.as_str(), mint.hours),
            ("bob", "t", "member", 2)
        );
        assert_eq!(mint_args(&["--hours", "-1"]).hours, -1, "an expired token, for trying expiry");
    }

    #[test]
    fn minted_tokens_carry_team_and_role_under_the_configured_claim_names() {
        let env = |name: &str| match name {
            "OWNER_TEAM_CLAIM" => Some("custom:team".to_owned()),
            "OWNER_ROLE_CLAIM" => Some("custom:role".to_owned()),
            _ => None,
        };
        let names = local_config(env).unwrap().claims;
        let jwt = Jwt::new("secret", jwt::ISSUER, jwt::AUDIENCE);
        let token = jwt.mint(&owner_claims(&names, "bob", "t", "member"), 1_800_000_000, 60);
        let claims = jwt.verify(&token, 1_800_000_000).unwrap();
        assert_eq!((claims["sub"].as_str(), claims["custom:team"].as_str()), (Some("bob"), Some("t")));
        assert_eq!(claims["custom:role"], "member");
        assert!(!claims.contains_key("team_id") && !claims.contains_key("role"), "{claims:?}");
    }

    #[test]
    fn minted_tokens_use_team_id_and_role_by_default() {
        let names = local_config(|_| None).unwrap().claims;
        assert_eq!(owner_claims(&names, "s", "t", "r"), [("sub", "s"), ("team_id", "t"), ("role", "r")]);
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
