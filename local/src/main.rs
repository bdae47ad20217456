//! `nico-local`: the whole service on one port, no AWS account, no Docker.
//!
//! ```text
//! nico-local [--port 3000] [--data-dir .data] [--store embedded|dynamodb] [--authorizer http|rest-token]
//! nico-local mint-token [--sub local-owner] [--team local-team] [--role owner] [--hours 12]
//! nico-local create-table
//! ```
//!
//! The store is the embedded SQLite file under `--data-dir` unless `AWS_ENDPOINT_URL_DYNAMODB`
//! is set (or `--store dynamodb`): then the DynamoDB table `TABLE_NAME` there, created if
//! missing. The SPEC §6 variables are read as in Lambda; unset ones get local defaults.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use chrono::{TimeDelta, Utc};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
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

struct Options {
    port: u16,
    data_dir: PathBuf,
    dynamodb: bool,
    mode: Mode,
}

fn parse_options(args: &[String]) -> Result<Options, String> {
    let mut options = Options {
        port: 3000,
        data_dir: PathBuf::from(".data"),
        dynamodb: std::env::var_os("AWS_ENDPOINT_URL_DYNAMODB").is_some(),
        mode: Mode::Http,
    };
    let mut args = args.iter();
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--port" => options.port = value()?.parse().map_err(|_| "--port takes a number".to_owned())?,
            "--data-dir" => options.data_dir = PathBuf::from(value()?),
            "--store" => {
                options.dynamodb = match value()?.as_str() {
                    "embedded" => false,
                    "dynamodb" => true,
                    other => return Err(format!("--store is embedded or dynamodb, not {other}")),
                }
            }
            "--authorizer" => {
                options.mode = match value()?.as_str() {
                    "http" => Mode::Http,
                    "rest-token" => Mode::RestToken,
                    other => return Err(format!("--authorizer is http or rest-token, not {other}")),
                }
            }
            other => return Err(format!("unknown option {other}; see the README")),
        }
    }
    Ok(options)
}

fn mint_token(args: &[String]) -> Result<(), String> {
    let (mut sub, mut team, mut role, mut hours) =
        ("local-owner".to_owned(), "local-team".to_owned(), "owner".to_owned(), 12);
    let mut args = args.iter();
    while let Some(flag) = args.next() {
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?.clone();
        match flag.as_str() {
            "--sub" => sub = value,
            "--team" => team = value,
            "--role" => role = value,
            "--hours" => hours = value.parse().map_err(|_| "--hours takes a number".to_owned())?,
            other => return Err(format!("unknown option {other}")),
        }
    }
    let claims = [("sub", sub.as_str()), ("team_id", team.as_str()), ("role", role.as_str())];
    println!("{}", Jwt::local().mint(&claims, Utc::now().timestamp(), hours * 3600));
    Ok(())
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
    Config::from_lookup(|name| {
        std::env::var(name).ok().or_else(|| {
            LOCAL_DEFAULTS.iter().find(|(default, _)| *default == name).map(|(_, value)| (*value).to_owned())
        })
    })
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let outcome = match args.first().map(String::as_str) {
        Some("mint-token") => mint_token(&args[1..]),
        Some("create-table") => create_table().await,
        _ => run(&args).await,
    };
    if let Err(problem) = outcome {
        eprintln!("nico-local: {problem}");
        std::process::exit(2);
    }
}

async fn run(args: &[String]) -> Result<(), String> {
    nico_keys::telemetry::init_text();
    let options = parse_options(args)?;
    let config = config_from_env().map_err(|e| e.to_string())?;
    let clock = Arc::new(SystemClock);
    let retention = config.limits.retention;
    if options.dynamodb {
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
    options: Options,
    store_description: String,
    clock: Arc<SystemClock>,
) -> Result<(), String> {
    let gateway = Arc::new(Gateway::new(store, config, options.mode, Jwt::local(), clock));
    let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], options.port)))
        .await
        .map_err(|e| format!("cannot listen on 127.0.0.1:{}: {e}", options.port))?;
    let address = listener.local_addr().map_err(|e| e.to_string())?;
    print_banner(&format!("http://{address}"), &store_description, options.mode);

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

fn print_banner(base: &str, store: &str, mode: Mode) {
    let now = Utc::now();
    let owner = Jwt::local().mint(
        &[("sub", "local-owner"), ("team_id", "local-team"), ("role", "owner")],
        now.timestamp(),
        12 * 3600,
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

Owner token (team local-team, role owner, valid 12 hours; more with `nico-local mint-token --help`):

export OWNER={owner}

Try it (needs curl and jq):

BOT=$(curl -s -X POST {base}/v1/bots -H "authorization: Bearer $OWNER" \
  -H 'content-type: application/json' -d '{{"name":"ci bot"}}' | jq -r .id)
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
