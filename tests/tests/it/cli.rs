//! The `nico-keys` CLI as a process against the local runner (embedded store): what a person
//! types, what they read on stdout and stderr, and the exit code.
//!
//! [`keys_whoami_and_audit`] covers the commands over "all my keys", whoami (a key's own
//! view, through the key authorizer) and the audit trail.
//!
//! No output of any run holds a key, except the stdout of `keys create` and `keys rotate`:
//! every other output is logged and scanned with the runner's logs when the runner is dropped
//! ([`nico_keys_tests::cli`]).

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use nico_keys_tests::cli::{Cli, Output};
use nico_keys_tests::runner::Runner;
use serde_json::{Value, json};

async fn runner() -> Runner {
    Runner::start(&["--store", "embedded"], &[]).await
}

/// A runner and a CLI signed in as its owner.
async fn signed_in() -> (Runner, Cli) {
    let runner = runner().await;
    let cli = Cli::new(&runner);
    cli.run_with(&["login", "--with-token"], Some(&format!("{}\n", runner.owner)), &[]).await.expect(0);
    (runner, cli)
}

/// A bot user "ci bot" with projects:read and projects:write; its id.
async fn bot(cli: &Cli) -> String {
    let created =
        cli.run(&["bots", "create", "ci bot", "--scope", "projects:read,projects:write", "--json"]).await;
    created.expect(0).json()["id"].as_str().unwrap().to_owned()
}

/// A key of `bot` with projects:read, from `keys create --json`: (key id, raw key).
async fn key(cli: &Cli, bot: &str, expires: &str) -> (String, String) {
    let args = ["keys", "create", "--bot", bot, "--name", "laptop", "--expires", expires];
    let issued =
        cli.issue(&[&args[..], &["--scope", "projects:read", "--json"]].concat()).await.expect(0).json();
    (issued["key"]["id"].as_str().unwrap().to_owned(), issued["token"].as_str().unwrap().to_owned())
}

async fn protected(runner: &Runner, key: &str) -> u16 {
    runner.send("GET", "/projects/42", Some(&format!("Bearer {key}")), None).await.0
}

fn mode(path: &std::path::Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[tokio::test]
async fn login_with_a_token_on_stdin_stores_it_0600_in_the_xdg_state_dir() {
    let (runner, cli) = signed_in().await;
    let credentials = cli.state_dir().join("nico-keys/credentials.json");
    assert_eq!(mode(&credentials), 0o600);
    assert_eq!(mode(credentials.parent().unwrap()), 0o700);
    let stored: Value = serde_json::from_slice(&std::fs::read(&credentials).unwrap()).unwrap();
    assert_eq!(stored["profiles"]["default"]["access_token"], json!(runner.owner));
    // The profile (configuration) holds the endpoint and no token; nothing lands in the home itself.
    let config = std::fs::read_to_string(cli.config_dir().join("nico-keys/config.json")).unwrap();
    assert!(config.contains(&runner.base) && !config.contains(&runner.owner), "{config}");
    let in_home: Vec<_> = std::fs::read_dir(cli.home()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(in_home.len(), 2, "only config/ and state/: {in_home:?}");

    let status = cli.run(&["auth", "status"]).await.expect(0);
    assert!(status.stdout.contains("local-owner") && status.stdout.contains(credentials.to_str().unwrap()));
    let status_json = cli.run(&["auth", "status", "--json"]).await.expect(0).json();
    assert_eq!(status_json["profile"], json!("default"));
    assert_eq!(status_json["endpoint"], json!(runner.base));
    assert_eq!(status_json["me"]["sub"], json!("local-owner"));
    for output in [&status.stdout, &status.stderr, &status_json.to_string()] {
        assert!(!output.contains(&runner.owner), "auth status printed the token");
    }
}

#[tokio::test]
async fn login_refuses_a_token_the_api_refuses_and_stores_nothing() {
    let runner = runner().await;
    let cli = Cli::new(&runner);
    let expired = runner.mint_token(&["--hours", "-1"]).await;
    let refused = cli.run_with(&["login", "--with-token"], Some(&expired), &[]).await.expect(4);
    assert!(refused.stderr.contains("nico-keys login"), "{}", refused.stderr);
    assert!(!cli.state_dir().join("nico-keys/credentials.json").exists());
    cli.run_with(&["login", "--with-token"], Some(""), &[]).await.expect(2);
}

#[tokio::test]
async fn without_a_sign_in_commands_exit_4_and_say_how_to_sign_in() {
    let runner = runner().await;
    let cli = Cli::new(&runner);
    for args in
        [&["me"][..], &["bots", "list"], &["auth", "status"], &["keys", "view", "0000000000000000", "x"]]
    {
        let out = cli.run(args).await.expect(4);
        assert!(out.stderr.contains("nico-keys login"), "{args:?}: {}", out.stderr);
    }
}

#[tokio::test]
async fn nico_token_beats_the_stored_sign_in_and_logout_forgets_it() {
    let (runner, cli) = signed_in().await;
    let member = runner.mint_token(&["--sub", "bob", "--team", "local-team", "--role", "member"]).await;
    let me = cli.run_with(&["me", "--json"], None, &[("NICO_TOKEN", &member)]).await.expect(0).json();
    assert_eq!(me["sub"], json!("bob"));
    assert_eq!(cli.run(&["me", "--json"]).await.expect(0).json()["sub"], json!("local-owner"));

    let out = cli.run(&["logout"]).await.expect(0);
    assert!(out.stderr.contains("Signed out"), "{}", out.stderr);
    cli.run(&["me"]).await.expect(4);
}

#[tokio::test]
async fn login_in_a_browser_goes_through_the_dev_issuer_with_pkce_and_a_loopback_redirect() {
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

    let runner = runner().await;
    let cli = Cli::new(&runner);
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let port_text = port.to_string();
    let mut login = cli
        .command(&["login", "--no-browser", "--callback-port", &port_text], &[])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(login.stderr.take().unwrap()).lines();
    let mut url = None;
    while let Some(line) = stderr.next_line().await.unwrap() {
        if let Some(rest) = line.strip_prefix("Sign in in your browser: ") {
            url = Some(rest.to_owned());
        }
        if line.starts_with("Waiting for the browser") {
            break;
        }
    }
    let url = url.expect("the sign-in address on stderr");
    let (address, query) = url.split_once('?').unwrap();
    assert_eq!(address, format!("{}/oidc/authorize", runner.base));
    for part in ["client_id=nico-keys-cli", "code_challenge_method=S256", "response_type=code"] {
        assert!(query.contains(part), "{query}");
    }
    assert!(query.contains(&format!("redirect_uri=http%3A%2F%2F127.0.0.1%3A{port}%2Fcallback")), "{query}");

    // What the page's Sign in button posts, then the browser following the redirect.
    let form = format!("{query}&sub=alice&team=local-team&role=owner&display=alice%40example.com");
    let headers = [("content-type", "application/x-www-form-urlencoded")];
    let answer = runner.request("POST", "/oidc/authorize", &headers, form.into_bytes()).await;
    let location = answer.header("location").expect("a redirect back to the CLI").to_owned();
    let path = location.strip_prefix(&format!("http://127.0.0.1:{port}")).expect("the loopback redirect");
    let mut browser = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\nconnection: close\r\n\r\n");
    browser.write_all(request.as_bytes()).await.unwrap();
    let mut page = String::new();
    browser.read_to_string(&mut page).await.unwrap();
    assert!(page.starts_with("HTTP/1.1 200") && page.contains("Signed in"), "{page}");

    let status =
        tokio::time::timeout(std::time::Duration::from_secs(30), login.wait()).await.unwrap().unwrap();
    let mut rest = String::new();
    while let Some(line) = stderr.next_line().await.unwrap() {
        rest.push_str(&line);
    }
    assert!(status.success(), "login: {rest}");
    assert!(rest.contains("as alice"), "{rest}");
    let me = cli.run(&["me", "--json"]).await.expect(0).json();
    assert_eq!((&me["sub"], &me["display_name"]), (&json!("alice"), &json!("alice@example.com")));
    let stored = std::fs::read_to_string(cli.state_dir().join("nico-keys/credentials.json")).unwrap();
    assert!(stored.contains("refresh_token"), "the refresh token is kept for the next hour's token");
}

#[tokio::test]
async fn bots_create_list_view_edit_and_delete_with_their_json_shapes() {
    let (_runner, cli) = signed_in().await;
    let created =
        cli.run(&["bots", "create", "ci bot", "--scope", "projects:read,projects:write", "--json"]).await;
    let created = created.expect(0).json();
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(created["name"], json!("ci bot"));
    assert_eq!(created["account"], json!("local-owner"));
    assert_eq!(created["scopes"], json!(["projects:read", "projects:write"]));

    // Piped, a list is lines of tab-separated fields, no header.
    let listed = cli.run(&["bots", "list"]).await.expect(0);
    let fields: Vec<&str> = listed.stdout.lines().next().unwrap().split('\t').collect();
    assert_eq!(&fields[..4], [id.as_str(), "ci bot", "local-owner", "projects:read,projects:write"]);
    assert_eq!(cli.run(&["bots", "list", "--json"]).await.expect(0).json(), json!([created]));

    // By id or by exact name.
    assert_eq!(cli.run(&["bots", "view", &id, "--json"]).await.expect(0).json(), created);
    let viewed = cli.run(&["bots", "view", "ci bot"]).await.expect(0);
    assert!(viewed.stdout.contains(&id) && viewed.stdout.contains("projects:read,projects:write"));
    let missing = cli.run(&["bots", "view", "no such bot"]).await.expect(1);
    assert!(missing.stderr.contains("no such bot"), "{}", missing.stderr);

    let edited =
        cli.run(&["bots", "edit", &id, "--name", "deploy bot", "--scope", "projects:read", "--json"]).await;
    let edited = edited.expect(0).json();
    assert_eq!(edited["bot"]["name"], json!("deploy bot"));
    assert_eq!(edited["bot"]["scopes"], json!(["projects:read"]));
    cli.run(&["bots", "edit", &id]).await.expect(2);
    let moved = cli.run(&["bots", "edit", &id, "--account", "bob", "--keep-keys", "--json"]).await;
    assert_eq!(moved.expect(0).json()["bot"]["account"], json!("bob"));

    let refused = cli.run(&["bots", "delete", &id]).await.expect(2);
    assert!(refused.stderr.contains("deploy bot") && refused.stderr.contains("--yes"), "{}", refused.stderr);
    cli.run(&["bots", "view", &id]).await.expect(0);
    cli.run(&["bots", "delete", &id, "--yes"]).await.expect(0);
    cli.run(&["bots", "view", &id]).await.expect(1);
}

#[tokio::test]
async fn keys_create_prints_the_key_alone_on_stdout_and_it_opens_the_protected_route() {
    let (runner, cli) = signed_in().await;
    let bot = bot(&cli).await;
    let args = [
        "keys",
        "create",
        "--bot",
        "ci bot",
        "--name",
        "laptop",
        "--expires",
        "30d",
        "--scope",
        "projects:read",
    ];
    let created = cli.issue(&args).await.expect(0);
    assert_eq!(created.stdout.lines().count(), 1, "the key alone on stdout");
    let raw = created.stdout.trim_end();
    assert!(raw.starts_with("nico_") && created.stdout.ends_with('\n'));
    assert!(created.stderr.contains("shown once; store it securely"), "{}", created.stderr);
    assert!(created.stderr.contains("in 30 days"), "{}", created.stderr);
    assert_eq!(protected(&runner, raw).await, 200);

    // --json: {key, token}.
    let (id, token) = key(&cli, &bot, "2d").await;
    assert_eq!(protected(&runner, &token).await, 200);
    let viewed = cli.run(&["keys", "view", &bot, &id, "--json"]).await.expect(0).json();
    assert_eq!(viewed["name"], json!("laptop"));
    assert_eq!(viewed["status"], json!("active"));
    assert_eq!(viewed["scopes"], json!(["projects:read"]));
    let shown = cli.run(&["keys", "view", &bot, &id]).await.expect(0).stdout;
    assert!(shown.contains("laptop") && shown.contains("from 127.0.0.1"), "its use is recorded: {shown}");
}

#[tokio::test]
async fn a_bare_date_expires_at_the_end_of_that_day_utc_and_the_instant_is_printed_first() {
    let (_runner, cli) = signed_in().await;
    let bot = bot(&cli).await;
    let day = (chrono::Utc::now() + chrono::TimeDelta::days(10)).format("%Y-%m-%d").to_string();
    let args = [
        "keys",
        "create",
        "--bot",
        &bot,
        "--name",
        "n",
        "--expires",
        &day,
        "--scope",
        "projects:read",
        "--json",
    ];
    let created = cli.issue(&args).await.expect(0);
    let at = format!("{day}T23:59:59.000Z");
    assert_eq!(created.json()["key"]["expires_at"], json!(at));
    assert!(created.stderr.starts_with(&format!("The key expires at {at}")), "{}", created.stderr);

    let bad =
        ["keys", "create", "--bot", &bot, "--name", "n", "--expires", "soon", "--scope", "projects:read"];
    let bad = cli.run(&bad).await.expect(2);
    assert!(bad.stderr.contains("--expires") && bad.stdout.is_empty(), "{}", bad.stderr);
}

#[tokio::test]
async fn output_file_holds_the_key_0600_and_nothing_secret_is_printed() {
    let (runner, cli) = signed_in().await;
    let bot = bot(&cli).await;
    let file: PathBuf = cli.home().join("secret-key");
    let file_text = file.to_str().unwrap();
    let args =
        ["keys", "create", "--bot", &bot, "--name", "f", "--expires", "1d", "--scope", "projects:read"];
    let created = cli.run(&[&args[..], &["--output-file", file_text]].concat()).await.expect(0);
    assert!(created.stdout.is_empty(), "{}", created.stdout);
    assert_eq!(mode(&file), 0o600);
    let raw = std::fs::read_to_string(&file).unwrap();
    nico_keys_tests::leaks::record(raw.trim_end());
    assert_eq!(protected(&runner, raw.trim_end()).await, 200);

    // Rotating into the same file replaces it, still 0600.
    let id = cli
        .run(&[
            "keys",
            "create",
            "--bot",
            &bot,
            "--name",
            "g",
            "--expires",
            "1d",
            "--scope",
            "projects:read",
            "--output-file",
            file_text,
            "--json",
        ])
        .await
        .expect(0)
        .json()["key"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let rotated = cli.run(&["keys", "rotate", &bot, &id, "--output-file", file_text]).await.expect(0);
    assert!(rotated.stdout.is_empty());
    assert_eq!(mode(&file), 0o600);
    let new = std::fs::read_to_string(&file).unwrap();
    nico_keys_tests::leaks::record(new.trim_end());
    assert_eq!(protected(&runner, new.trim_end()).await, 200);
}

#[tokio::test]
async fn keys_rotate_prints_the_new_key_alone_and_the_old_one_works_for_the_grace() {
    let (runner, cli) = signed_in().await;
    let bot = bot(&cli).await;
    let (id, old) = key(&cli, &bot, "30d").await;
    let rotated = cli.issue(&["keys", "rotate", &bot, &id, "--grace", "1h"]).await.expect(0);
    assert_eq!(rotated.stdout.lines().count(), 1);
    let new = rotated.stdout.trim_end();
    assert!(new.starts_with("nico_") && new != old);
    assert!(rotated.stderr.contains("shown once"), "{}", rotated.stderr);
    assert_eq!(protected(&runner, new).await, 200);
    assert_eq!(protected(&runner, &old).await, 200, "the old key works during the grace period");

    // A key that does not exist: the API's error, exit 1, nothing on stdout.
    let missing = cli.issue(&["keys", "rotate", &bot, "0000000000000000", "--json"]).await.expect(1);
    assert!(missing.stdout.is_empty() && missing.stderr.starts_with("error: "), "{}", missing.stderr);
    let (next_id, _) = key(&cli, &bot, "30d").await;
    let issued = cli.issue(&["keys", "rotate", &bot, &next_id, "--json"]).await.expect(0).json();
    assert_eq!(issued["key"]["name"], json!("laptop"));
    assert!(issued["token"].as_str().unwrap().starts_with("nico_"));
    assert_eq!(issued["key"]["replaces"], json!(next_id));
}

#[tokio::test]
async fn revoke_and_revoke_all_refuse_without_a_terminal_unless_yes() {
    let (runner, cli) = signed_in().await;
    let bot = bot(&cli).await;
    let (id, raw) = key(&cli, &bot, "30d").await;

    let refused = cli.run(&["keys", "revoke", &bot, &id]).await.expect(2);
    assert!(
        refused.stderr.contains("\"laptop\"") && refused.stderr.contains("cannot be undone"),
        "{}",
        refused.stderr
    );
    assert_eq!(protected(&runner, &raw).await, 200, "nothing changed");
    let revoked = cli.run(&["keys", "revoke", &bot, &id, "--yes", "--json"]).await.expect(0).json();
    assert_eq!(revoked["status"], json!("revoked"));
    assert_ne!(protected(&runner, &raw).await, 200);

    let (_, second) = key(&cli, &bot, "30d").await;
    let refused = cli.run(&["keys", "revoke-all", &bot]).await.expect(2);
    assert!(refused.stderr.contains("ci bot") && refused.stderr.contains("--yes"), "{}", refused.stderr);
    assert_eq!(protected(&runner, &second).await, 200);
    let all = cli.run(&["keys", "revoke-all", "ci bot", "--yes", "--json"]).await.expect(0).json();
    assert_eq!(all["revoked_keys"], json!(1));
    assert_ne!(protected(&runner, &second).await, 200);
}

#[tokio::test]
async fn api_errors_print_their_message_and_field_and_exit_1() {
    let (_runner, cli) = signed_in().await;
    let bot = bot(&cli).await;
    let args = ["keys", "create", "--bot", &bot, "--name", "n", "--expires", "1d", "--scope", "billing:read"];
    let out = cli.issue(&args).await.expect(1);
    assert!(out.stdout.is_empty());
    assert!(out.stderr.contains("(field: scopes)"), "{}", out.stderr);
    let out = cli.run(&["bots", "create", "x", "--scope", "nope:nope"]).await.expect(1);
    assert!(out.stderr.contains("(field: scopes)"), "{}", out.stderr);
    // Usage errors (clap's and the CLI's own) exit 2.
    cli.run(&["keys", "create", "--bot", &bot]).await.expect(2);
    cli.run(&["keys", "rotate", &bot, "x", "--grace", "1 hour"]).await.expect(2);
    cli.run(&["keys", "list", "--unused-for", "a while"]).await.expect(2);
    cli.run(&["audit", "--since", "yesterday"]).await.expect(2);
}

#[tokio::test]
async fn whoami_without_a_key_or_with_a_refused_one_exits_4() {
    let runner = runner().await;
    let cli = Cli::new(&runner);
    let out = cli.run(&["whoami"]).await.expect(4);
    assert!(out.stderr.contains("NICO_API_KEY"), "{}", out.stderr);
    let bogus = format!("nico_{}_{}_{}", "0".repeat(16), "0".repeat(16), "A".repeat(43));
    let out = cli.run_with(&["whoami"], None, &[("NICO_API_KEY", &bogus)]).await.expect(4);
    assert_eq!(
        out.stderr,
        "error: this API key was refused (expired, revoked or invalid): create a new one\n"
    );
}

#[tokio::test]
async fn completion_scripts_are_printed_for_bash_zsh_and_fish() {
    let runner = runner().await;
    let cli = Cli::new(&runner);
    for (shell, marker) in
        [("bash", "complete -F"), ("zsh", "#compdef nico-keys"), ("fish", "complete -c nico-keys")]
    {
        let out = cli.run(&["completion", shell]).await.expect(0);
        assert!(out.stdout.contains(marker), "{shell}");
        assert!(out.stdout.contains("revoke-all"), "{shell}");
    }
}

/// Every command's `--help`, against `tests/fixtures/cli-help/<command>.txt`. After a change to
/// the CLI's arguments, `UPDATE_CLI_HELP=1 cargo test -p nico-keys-tests --test it -- cli::` rewrites
/// the files, to be read and committed.
#[tokio::test]
async fn help_of_every_command_matches_its_snapshot() {
    let runner = runner().await;
    let cli = Cli::new(&runner);
    let commands: &[&[&str]] = &[
        &[],
        &["login"],
        &["logout"],
        &["auth"],
        &["auth", "status"],
        &["me"],
        &["bots"],
        &["bots", "list"],
        &["bots", "create"],
        &["bots", "view"],
        &["bots", "edit"],
        &["bots", "delete"],
        &["keys"],
        &["keys", "list"],
        &["keys", "create"],
        &["keys", "view"],
        &["keys", "rotate"],
        &["keys", "revoke"],
        &["keys", "revoke-all"],
        &["audit"],
        &["whoami"],
        &["completion"],
    ];
    let dir = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/cli-help"));
    let update = std::env::var_os("UPDATE_CLI_HELP").is_some();
    let mut differ = Vec::new();
    for command in commands {
        let help: Output = cli.run(&[*command, &["--help"]].concat()).await.expect(0);
        let name = if command.is_empty() { "nico-keys".to_owned() } else { command.join("-") };
        let path = dir.join(format!("{name}.txt"));
        if update {
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(&path, &help.stdout).unwrap();
        } else if std::fs::read_to_string(&path).ok().as_deref() != Some(help.stdout.as_str()) {
            differ.push(format!("{}:\n{}", path.display(), help.stdout));
        }
    }
    assert!(
        differ.is_empty(),
        "--help differs from its snapshot (UPDATE_CLI_HELP=1 rewrites them):\n{}",
        differ.join("\n")
    );
}

/// `keys list` with filters, `whoami` with `NICO_API_KEY`, `audit` and a revocation's reason.
mod keys_whoami_and_audit {
    use super::*;

    #[tokio::test]
    async fn whoami_names_the_key_then_exits_4_once_it_is_revoked() {
        let (_runner, cli) = signed_in().await;
        let bot = bot(&cli).await;
        let (id, raw) = key(&cli, &bot, "30d").await;
        let env = [("NICO_API_KEY", raw.as_str())];
        let shown = cli.run_with(&["whoami"], None, &env).await.expect(0);
        for part in ["ci bot", "local-team", "laptop", "projects:read", "days left"] {
            assert!(shown.stdout.contains(part), "{part}: {}", shown.stdout);
        }
        assert!(!shown.stderr.contains("warning"), "{}", shown.stderr);
        let json = cli.run_with(&["whoami", "--json"], None, &env).await.expect(0).json();
        assert_eq!(json["bot"], json!({"id": bot, "name": "ci bot"}));
        assert_eq!(json["team_id"], json!("local-team"));
        assert_eq!(json["key"]["id"], json!(id));
        assert_eq!(json["key"]["scopes"], json!(["projects:read"]));

        cli.run(&["keys", "revoke", &bot, &id, "--yes"]).await.expect(0);
        let refused = cli.run_with(&["whoami"], None, &env).await.expect(4);
        assert!(refused.stderr.contains("expired, revoked or invalid"), "{}", refused.stderr);
    }

    #[tokio::test]
    async fn whoami_warns_on_stderr_when_fewer_than_7_days_remain() {
        let (_runner, cli) = signed_in().await;
        let bot = bot(&cli).await;
        let (_, raw) = key(&cli, &bot, "3d").await;
        let shown = cli.run_with(&["whoami"], None, &[("NICO_API_KEY", &raw)]).await.expect(0);
        assert!(shown.stderr.contains("warning: this key expires in 3 days"), "{}", shown.stderr);
    }

    #[tokio::test]
    async fn keys_list_shows_every_bot_users_keys_with_filters() {
        let (_runner, cli) = signed_in().await;
        let bot = bot(&cli).await;
        let (soon, _) = key(&cli, &bot, "2d").await;
        let (later, _) = key(&cli, &bot, "60d").await;
        let all = cli.run(&["keys", "list", "--json"]).await.expect(0).json();
        let ids: Vec<&str> = all.as_array().unwrap().iter().map(|k| k["id"].as_str().unwrap()).collect();
        assert_eq!(ids, [later.as_str(), soon.as_str()], "newest first");
        assert_eq!(all[0]["bot_name"], json!("ci bot"));
        assert_eq!(all[0]["last_used_at"], Value::Null);
        let expiring =
            cli.run(&["keys", "list", "--expiring-within", "7d", "--bot", "ci bot", "--json"]).await;
        assert_eq!(expiring.expect(0).json().as_array().unwrap().len(), 1);
        cli.run(&["keys", "revoke", &bot, &soon, "--yes"]).await.expect(0);
        let revoked = cli.run(&["keys", "list", "--status", "revoked"]).await.expect(0);
        assert_eq!(revoked.stdout.lines().count(), 1);
        assert!(revoked.stdout.starts_with(&soon), "{}", revoked.stdout);
        let unused = cli.run(&["keys", "list", "--unused-for", "30d", "--status", "active", "--json"]).await;
        assert_eq!(unused.expect(0).json().as_array().unwrap().len(), 1);
    }

    #[tokio::test]
    async fn revoke_with_a_reason_keeps_it_and_the_audit_trail_lists_it() {
        let (_runner, cli) = signed_in().await;
        let bot = bot(&cli).await;
        let (id, _) = key(&cli, &bot, "30d").await;
        let revoked =
            cli.run(&["keys", "revoke", &bot, &id, "--yes", "--reason", "laptop stolen", "--json"]).await;
        assert_eq!(revoked.expect(0).json()["revoked_reason"], json!("laptop stolen"));
        let events = cli.run(&["audit", "--bot", &bot, "--since", "1h", "--json"]).await.expect(0).json();
        let actions: Vec<&str> =
            events.as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
        for action in ["bot.created", "key.created", "key.revoked"] {
            assert!(actions.contains(&action), "{actions:?}");
        }
        let by_owner = cli.run(&["audit", "--actor", "local-owner"]).await.expect(0);
        assert!(by_owner.stdout.contains("key.revoked") && by_owner.stdout.contains("laptop stolen"));
    }
}

#[tokio::test]
async fn on_a_terminal_revoke_asks_naming_the_key_and_only_yes_goes_ahead() {
    let (runner, cli) = signed_in().await;
    let bot = bot(&cli).await;
    let (id, raw) = key(&cli, &bot, "30d").await;

    let declined = cli.run_on_terminal(&["keys", "revoke", &bot, &id], "no\n").await.expect(2);
    assert!(
        declined.stdout.contains("\"laptop\"") && declined.stdout.contains("cannot be undone"),
        "{}",
        declined.stdout
    );
    assert_eq!(protected(&runner, &raw).await, 200, "nothing changed");

    let confirmed = cli.run_on_terminal(&["keys", "revoke", &bot, &id], "yes\n").await.expect(0);
    assert!(confirmed.stdout.contains("Revoked key"), "{}", confirmed.stdout);
    assert_ne!(protected(&runner, &raw).await, 200);
}
