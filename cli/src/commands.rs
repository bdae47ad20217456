//! Each command: what it asks the API and what it shows. A new key goes to stdout alone (or to
//! `--output-file`); everything else a person reads about it goes to stderr.

use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;

use chrono::{DateTime, Utc};
use clap::CommandFactory;
use nico_keys::{BotId, Span};
use serde_json::{Value, json};

use crate::api::{self, Api, TokenSource};
use crate::args::{AuthCommand, BotsCommand, Cli, Command, KeysCommand, Shell};
use crate::config::{Paths, Profile, Secret, write_secret_file};
use crate::error::CliError;
use crate::output::{self, Column, Mode, fields, list, text, time};

/// Fewer days than this left on a key: `whoami` warns.
const WARN_DAYS: i64 = 7;

pub async fn run(cli: Cli) -> Result<(), CliError> {
    let mode = Mode::detect(cli.json);
    let profile = cli.profile.as_str();
    match cli.command {
        Command::Completion { shell } => {
            completion(shell);
            Ok(())
        }
        Command::Whoami => whoami(&Paths::from_env()?, profile, mode).await,
        Command::Login(args) => login(&Paths::from_env()?, profile, &args).await,
        Command::Logout => logout(&Paths::from_env()?, profile),
        Command::Auth { command: AuthCommand::Status } => {
            auth_status(&Paths::from_env()?, profile, mode).await
        }
        command => {
            let paths = Paths::from_env()?;
            let api = Api::signed_in(&paths, profile).await?;
            match command {
                Command::Me => me(&api, mode).await,
                Command::Bots { command } => bots(&api, command, mode).await,
                Command::Keys { command } => keys(&api, command, mode).await,
                Command::Audit(args) => audit(&api, args, mode).await,
                _ => unreachable!("handled above"),
            }
        }
    }
}

fn completion(shell: Shell) {
    let shell = match shell {
        Shell::Bash => clap_complete::Shell::Bash,
        Shell::Zsh => clap_complete::Shell::Zsh,
        Shell::Fish => clap_complete::Shell::Fish,
    };
    clap_complete::generate(shell, &mut Cli::command(), "nico-keys", &mut std::io::stdout());
}

// ---- signing in -------------------------------------------------------------------------------

async fn login(paths: &Paths, profile: &str, args: &crate::args::Login) -> Result<(), CliError> {
    let endpoint = match &args.endpoint {
        Some(endpoint) => endpoint.trim_end_matches('/').to_owned(),
        None => api::endpoint(paths, profile)?,
    };
    url::Url::parse(&endpoint).map_err(|e| CliError::Usage(format!("--endpoint {endpoint:?}: {e}")))?;
    let credentials = if args.with_token {
        crate::login::token_from_stdin()?
    } else {
        crate::login::browser(args, &endpoint).await?
    };
    // Only a token the API accepts is kept.
    let me = Api::new(endpoint.clone(), credentials.access_token.clone()).get("/v1/me", &[]).await?;
    paths.save_profile(profile, Profile { endpoint: Some(endpoint.clone()) })?;
    paths.save_credentials(profile, credentials)?;
    output::note(&format!(
        "Signed in to {endpoint} as {} (team {}, role {}). Profile {profile:?}; token stored in {} (mode 0600).",
        text(&me, "sub"),
        text(&me, "team_id"),
        text(&me, "role"),
        paths.credentials.display()
    ));
    Ok(())
}

fn logout(paths: &Paths, profile: &str) -> Result<(), CliError> {
    if paths.forget_credentials(profile)? {
        output::note(&format!("Signed out of profile {profile:?}."));
    } else {
        output::note(&format!("Profile {profile:?} was not signed in."));
    }
    if std::env::var("NICO_TOKEN").is_ok_and(|t| !t.trim().is_empty()) {
        output::warn("NICO_TOKEN is still set in this environment and is still used.");
    }
    Ok(())
}

async fn auth_status(paths: &Paths, profile: &str, mode: Mode) -> Result<(), CliError> {
    let endpoint = api::endpoint(paths, profile)?;
    let (source, expires_at) = match api::token_source(paths, profile)? {
        Some(TokenSource::Env) => ("NICO_TOKEN".to_owned(), None),
        Some(TokenSource::Stored(credentials)) => {
            (paths.credentials.display().to_string(), credentials.expires_at)
        }
        None => {
            return Err(CliError::NotAuthenticated(format!(
                "profile {profile:?} is not signed in to {endpoint}: run `nico-keys login` (or set NICO_TOKEN)"
            )));
        }
    };
    let me = Api::signed_in(paths, profile).await?.get("/v1/me", &[]).await?;
    if mode == Mode::Json {
        output::json(&json!({
            "profile": profile,
            "endpoint": endpoint,
            "token_source": source,
            "expires_at": expires_at.map(|at| at.to_rfc3339()),
            "me": me,
        }));
        return Ok(());
    }
    let mut pairs = vec![
        ("profile", profile.to_owned()),
        ("endpoint", endpoint),
        (
            "signed in as",
            format!("{} (team {}, role {})", text(&me, "sub"), text(&me, "team_id"), text(&me, "role")),
        ),
        ("token from", source),
    ];
    if let Some(at) = expires_at {
        pairs.push(("token expires", format!("{} ({at})", output::relative(at, Utc::now()))));
    }
    fields(&pairs);
    Ok(())
}

async fn me(api: &Api, mode: Mode) -> Result<(), CliError> {
    let me = api.get("/v1/me", &[]).await?;
    if mode == Mode::Json {
        output::json(&me);
        return Ok(());
    }
    fields(&[
        ("account (sub)", text(&me, "sub")),
        ("team", text(&me, "team_id")),
        ("role", text(&me, "role")),
        ("owner", if me["is_owner"].as_bool() == Some(true) { "yes" } else { "no" }.into()),
        ("display name", text(&me, "display_name")),
    ]);
    Ok(())
}

// ---- bot users --------------------------------------------------------------------------------

async fn bots(api: &Api, command: BotsCommand, mode: Mode) -> Result<(), CliError> {
    match command {
        BotsCommand::List => {
            let items = api.list_all("/v1/bots", &[]).await?;
            let columns = [
                Column { header: "ID", cell: &|b, _| text(b, "id") },
                Column { header: "NAME", cell: &|b, _| text(b, "name") },
                Column { header: "ACCOUNT", cell: &|b, _| text(b, "account") },
                Column { header: "SCOPES", cell: &|b, _| list(b, "scopes") },
                Column { header: "CREATED", cell: &|b, m| time(b, "created_at", m, "-") },
            ];
            output::rows(mode, &columns, &items);
        }
        BotsCommand::Create { name, scope, account } => {
            let mut body = json!({ "name": name, "scopes": scope });
            if let Some(account) = account {
                body["account"] = json!(account);
            }
            let bot = api.post("/v1/bots", Some(body)).await?;
            show_bot(&bot, mode);
            output::note(&format!("Created bot user {:?} ({}).", text(&bot, "name"), text(&bot, "id")));
        }
        BotsCommand::View { bot } => {
            let id = resolve_bot(api, &bot).await?;
            show_bot(&api.get(&format!("/v1/bots/{id}"), &[]).await?, mode);
        }
        BotsCommand::Edit { bot, name, scope, account, keep_keys } => {
            if name.is_none() && scope.is_none() && account.is_none() {
                return Err(CliError::Usage("bots edit: give --name, --scope or --account".into()));
            }
            let id = resolve_bot(api, &bot).await?;
            let mut body = json!({});
            if let Some(name) = name {
                body["name"] = json!(name);
            }
            if let Some(scope) = scope {
                body["scopes"] = json!(scope);
            }
            if let Some(account) = account {
                body["account"] = json!(account);
                body["revoke_keys"] = json!(!keep_keys);
            }
            let answer = api.patch(&format!("/v1/bots/{id}"), body).await?;
            if mode == Mode::Json {
                output::json(&answer);
            } else {
                show_bot(&answer["bot"], mode);
            }
            if let Some(revoked) = answer["revoked_keys"].as_u64().filter(|n| *n > 0) {
                output::note(&format!("Revoked {revoked} key(s) with the re-assignment."));
            }
        }
        BotsCommand::Delete { bot, yes } => {
            let id = resolve_bot(api, &bot).await?;
            if !yes {
                let found = api.get(&format!("/v1/bots/{id}"), &[]).await?;
                confirm(&format!(
                    "Delete bot user {:?} ({id}) and revoke all its keys? This cannot be undone.",
                    text(&found, "name")
                ))?;
            }
            api.delete(&format!("/v1/bots/{id}")).await?;
            if mode == Mode::Json {
                output::json(&json!({ "deleted": id }));
            }
            output::note(&format!("Deleted bot user {id}; its keys no longer work."));
        }
    }
    Ok(())
}

fn show_bot(bot: &Value, mode: Mode) {
    if mode == Mode::Json {
        output::json(bot);
        return;
    }
    fields(&[
        ("id", text(bot, "id")),
        ("name", text(bot, "name")),
        ("account", text(bot, "account")),
        ("scopes", list(bot, "scopes")),
        ("created", time(bot, "created_at", mode, "-")),
        ("created by", text(bot, "created_by")),
    ]);
}

/// A bot user's id: the argument itself when it is shaped like one, else the bot user with
/// exactly that name.
async fn resolve_bot(api: &Api, bot: &str) -> Result<String, CliError> {
    if BotId::parse(bot).is_ok() {
        return Ok(bot.to_owned());
    }
    let all = api.list_all("/v1/bots", &[]).await?;
    let named: Vec<&Value> = all.iter().filter(|b| b["name"].as_str() == Some(bot)).collect();
    match named.as_slice() {
        [one] => Ok(text(one, "id")),
        [] => Err(CliError::Other(format!("no bot user with the id or name {bot:?}"))),
        many => {
            let ids: Vec<String> = many.iter().map(|b| text(b, "id")).collect();
            Err(CliError::Usage(format!(
                "{} bot users are named {bot:?}; give an id: {}",
                ids.len(),
                ids.join(", ")
            )))
        }
    }
}

// ---- keys -------------------------------------------------------------------------------------

async fn keys(api: &Api, command: KeysCommand, mode: Mode) -> Result<(), CliError> {
    match command {
        KeysCommand::List { bot, status, expiring_within, unused_for } => {
            let mut query: Vec<(&str, String)> = Vec::new();
            if let Some(bot) = bot {
                query.push(("bot", resolve_bot(api, &bot).await?));
            }
            if !status.is_empty() {
                let names: Vec<&str> = status.iter().map(|s| s.name()).collect();
                query.push(("status", names.join(",")));
            }
            if let Some(span) = expiring_within {
                query.push(("expiring_within", span_flag("--expiring-within", &span)?));
            }
            if let Some(span) = unused_for {
                query.push(("unused_for", span_flag("--unused-for", &span)?));
            }
            let items = api.list_all("/v1/keys", &query).await?;
            let columns = [
                Column { header: "ID", cell: &|k, _| text(k, "id") },
                Column { header: "BOT USER", cell: &|k, _| text(k, "bot_name") },
                Column { header: "NAME", cell: &|k, _| text(k, "name") },
                Column { header: "STATUS", cell: &|k, _| text(k, "status") },
                Column { header: "SCOPES", cell: &|k, _| list(k, "scopes") },
                Column { header: "EXPIRES", cell: &|k, m| time(k, "expires_at", m, "-") },
                Column { header: "LAST USED", cell: &|k, m| time(k, "last_used_at", m, "never") },
            ];
            output::rows(mode, &columns, &items);
        }
        KeysCommand::Create { bot, name, expires, scope, output_file } => {
            let expires_at = crate::when::parse_expiry(&expires, Utc::now()).map_err(CliError::Usage)?;
            let id = resolve_bot(api, &bot).await?;
            let at = nico_keys::model::format_time(expires_at);
            output::note(&format!("The key expires at {at} ({}).", output::relative(expires_at, Utc::now())));
            let body = json!({ "name": name, "expires_at": at, "scopes": scope });
            let issued = api.post(&format!("/v1/bots/{id}/keys"), Some(body)).await?;
            hand_out(issued, output_file.as_deref(), mode, "Created")?;
        }
        KeysCommand::View { bot, key } => {
            let id = resolve_bot(api, &bot).await?;
            show_key(&api.get(&format!("/v1/bots/{id}/keys/{key}"), &[]).await?, mode);
        }
        KeysCommand::Rotate { bot, key, grace, output_file } => {
            let id = resolve_bot(api, &bot).await?;
            let mut body = json!({});
            if let Some(grace) = grace {
                body["grace_seconds"] =
                    json!(Span::parse(&grace).map_err(|e| usage("--grace", e))?.seconds());
            }
            let issued = api.post(&format!("/v1/bots/{id}/keys/{key}/rotate"), Some(body)).await?;
            if let Some(old) = issued.get("replaced") {
                output::note(&format!(
                    "The old key {} keeps working until {}.",
                    text(old, "id"),
                    old["expires_at"].as_str().unwrap_or("-")
                ));
            }
            hand_out(issued, output_file.as_deref(), mode, "Rotated into")?;
        }
        KeysCommand::Revoke { bot, key, reason, yes } => {
            let id = resolve_bot(api, &bot).await?;
            let path = format!("/v1/bots/{id}/keys/{key}");
            if !yes {
                let found = api.get(&path, &[]).await?;
                confirm(&format!(
                    "Revoke key {:?} ({key}, {}) of bot user {id}? It stops working at once; this cannot be undone.",
                    text(&found, "name"),
                    text(&found, "hint")
                ))?;
            }
            // No body unless there is a reason: an API without reasons accepts it as before.
            let body = reason.map(|reason| json!({ "reason": reason }));
            let revoked = api.post(&format!("{path}/revoke"), body).await?;
            if mode == Mode::Json {
                output::json(&revoked);
            }
            output::note(&format!("Revoked key {:?} ({key}).", text(&revoked, "name")));
        }
        KeysCommand::RevokeAll { bot, yes } => {
            let id = resolve_bot(api, &bot).await?;
            if !yes {
                let found = api.get(&format!("/v1/bots/{id}"), &[]).await?;
                confirm(&format!(
                    "Revoke every working key of bot user {:?} ({id})? They stop working at once; this cannot be undone.",
                    text(&found, "name")
                ))?;
            }
            let answer = api.post(&format!("/v1/bots/{id}/revoke-keys"), None).await?;
            if mode == Mode::Json {
                output::json(&answer);
            }
            output::note(&format!(
                "Revoked {} key(s) of bot user {id}.",
                answer["revoked_keys"].as_u64().unwrap_or(0)
            ));
        }
    }
    Ok(())
}

/// A new key: alone on stdout (or in `file`, 0600), everything about it on stderr.
fn hand_out(issued: Value, file: Option<&Path>, mode: Mode, verb: &str) -> Result<(), CliError> {
    let token = issued["token"]
        .as_str()
        .and_then(Secret::new)
        .ok_or_else(|| CliError::Other("the API's answer holds no key".into()))?;
    let key = &issued["key"];
    match file {
        Some(file) => {
            write_secret_file(file, format!("{}\n", token.expose()).as_bytes())?;
            if mode == Mode::Json {
                output::json(&json!({ "key": key }));
            }
        }
        None if mode == Mode::Json => output::json(&json!({ "key": key, "token": token.expose() })),
        None => {
            let mut out = std::io::stdout().lock();
            writeln!(out, "{}", token.expose()).map_err(|e| CliError::Other(e.to_string()))?;
        }
    }
    output::note(&format!(
        "{verb} key {:?} ({}) of bot user {}: scopes {}, expires {} ({}).",
        text(key, "name"),
        text(key, "id"),
        text(key, "bot_id"),
        list(key, "scopes"),
        text(key, "expires_at"),
        time(key, "expires_at", Mode::Table, "-"),
    ));
    match file {
        Some(file) => output::note(&format!(
            "Wrote the key to {} (mode 0600). It is shown nowhere else.",
            file.display()
        )),
        None => output::note("This key is shown once; store it securely."),
    }
    Ok(())
}

fn show_key(key: &Value, mode: Mode) {
    if mode == Mode::Json {
        output::json(key);
        return;
    }
    let last_used = match (key["last_used_at"].as_str(), key["last_used_ip"].as_str()) {
        (Some(_), Some(ip)) => format!("{} from {ip}", time(key, "last_used_at", mode, "never")),
        _ => time(key, "last_used_at", mode, "never"),
    };
    let mut pairs = vec![
        ("id", text(key, "id")),
        ("bot user", text(key, "bot_id")),
        ("name", text(key, "name")),
        ("hint", text(key, "hint")),
        ("status", text(key, "status")),
        ("scopes", list(key, "scopes")),
        ("created", format!("{} by {}", time(key, "created_at", mode, "-"), text(key, "created_by"))),
        ("expires", time(key, "expires_at", mode, "-")),
        ("last used", last_used),
    ];
    if !key["revoked_at"].is_null() {
        pairs.push((
            "revoked",
            format!("{} by {}", time(key, "revoked_at", mode, "-"), text(key, "revoked_by")),
        ));
        if !key["revoked_reason"].is_null() {
            pairs.push(("reason", text(key, "revoked_reason")));
        }
    }
    for (label, field) in [("replaces", "replaces"), ("replaced by", "replaced_by")] {
        if !key[field].is_null() {
            pairs.push((label, text(key, field)));
        }
    }
    fields(&pairs);
}

// ---- audit ------------------------------------------------------------------------------------

async fn audit(api: &Api, args: crate::args::Audit, mode: Mode) -> Result<(), CliError> {
    let mut query: Vec<(&str, String)> = Vec::new();
    if let Some(bot) = args.bot {
        query.push(("bot", resolve_bot(api, &bot).await?));
    }
    if let Some(actor) = args.actor {
        query.push(("actor", actor));
    }
    if let Some(since) = args.since {
        nico_keys::duration::parse_since(&since, Utc::now()).map_err(|e| usage("--since", e))?;
        query.push(("since", since));
    }
    let events = api.list_all("/v1/audit", &query).await?;
    let columns = [
        Column { header: "AT", cell: &|e, m| time(e, "at", m, "-") },
        Column { header: "ACTION", cell: &|e, _| text(e, "action") },
        Column { header: "ACTOR", cell: &|e, _| text(e, "actor") },
        Column { header: "BOT USER", cell: &|e, _| text(e, "bot_name") },
        Column { header: "KEY", cell: &|e, _| text(e, "key_name") },
        Column { header: "REASON", cell: &|e, _| text(e, "reason") },
    ];
    output::rows(mode, &columns, &events);
    Ok(())
}

// ---- the key's holder -------------------------------------------------------------------------

async fn whoami(paths: &Paths, profile: &str, mode: Mode) -> Result<(), CliError> {
    let key = std::env::var("NICO_API_KEY").ok().and_then(|k| Secret::new(&k)).ok_or_else(|| {
        CliError::NotAuthenticated(
            "set NICO_API_KEY to the key to check (a key is never taken as an argument)".into(),
        )
    })?;
    let endpoint = api::endpoint(paths, profile)?;
    let response = api::http().get(format!("{endpoint}/v1/whoami")).bearer_auth(key.expose()).send().await?;
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    match status.as_u16() {
        200..=299 => {}
        401 | 403 => return Err(CliError::KeyRefused),
        _ => return Err(api::api_error(status, &body)),
    }
    let seconds_left = body["key"]["expires_in_seconds"].as_i64().or_else(|| {
        let at = body["key"]["expires_at"].as_str()?;
        let at: DateTime<Utc> = DateTime::parse_from_rfc3339(at).ok()?.into();
        Some((at - Utc::now()).num_seconds())
    });
    if mode == Mode::Json {
        output::json(&body);
    } else {
        let key = &body["key"];
        let expiry = match seconds_left {
            Some(left) => format!("{} ({} days left)", text(key, "expires_at"), left.max(0) / 86_400),
            None => text(key, "expires_at"),
        };
        fields(&[
            ("bot user", format!("{} ({})", text(&body["bot"], "name"), text(&body["bot"], "id"))),
            ("team", text(&body, "team_id")),
            ("key", format!("{} ({}, {})", text(key, "name"), text(key, "id"), text(key, "hint"))),
            ("scopes", list(key, "scopes")),
            ("expires", expiry),
        ]);
    }
    if let Some(left) = seconds_left.filter(|left| *left < WARN_DAYS * 86_400) {
        let now = Utc::now();
        output::warn(&format!(
            "this key expires {}: ask for a new one or rotate it (nico-keys keys rotate)",
            output::relative(now + chrono::TimeDelta::seconds(left), now)
        ));
    }
    Ok(())
}

// ---- helpers ----------------------------------------------------------------------------------

/// A span flag, checked here with the API's grammar and sent as written.
fn span_flag(flag: &str, value: &str) -> Result<String, CliError> {
    Span::parse(value).map(|span| span.to_string()).map_err(|e| usage(flag, e))
}

fn usage(flag: &str, error: impl std::fmt::Display) -> CliError {
    CliError::Usage(format!("{flag}: {error}"))
}

/// Asks on the terminal; without one (a script, a pipe) refuses: only `--yes` says yes there.
fn confirm(question: &str) -> Result<(), CliError> {
    if !std::io::stdin().is_terminal() || !std::io::stderr().is_terminal() {
        return Err(CliError::Cancelled(format!(
            "not confirmed, nothing changed: {question}\nThere is no terminal to ask on; pass --yes to go ahead."
        )));
    }
    eprint!("{question}\nType yes to confirm: ");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer).map_err(|e| CliError::Other(e.to_string()))?;
    match answer.trim().to_ascii_lowercase().as_str() {
        "y" | "yes" => Ok(()),
        _ => Err(CliError::Cancelled("cancelled; nothing was changed".into())),
    }
}
