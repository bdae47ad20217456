//! The web console in Debian's Chromium (headless), driven by Playwright: each test starts the
//! local runner as a process and runs `scripts/console-browser-test.py` against it, which does
//! what a person does (sign in on the dev issuer's page, click, type, read the clipboard) and
//! checks the console's security headers on every response it sees.
//!
//! They need `/usr/bin/chromium` and a Python with the pinned Playwright and axe-core
//! (`scripts/requirements.txt`; `./scripts/test` installs both): without them they fail,
//! saying what is missing. `CONSOLE_TEST_PYTHON` names another interpreter; screenshots land
//! in `target/console/`.

use std::path::{Path, PathBuf};
use std::time::Instant;

use nico_keys_tests::runner::Runner;

const CHROMIUM: &str = "/usr/bin/chromium";

/// One Chromium at a time: each takes a core while it renders, and the machine has few.
static ONE_BROWSER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root").to_path_buf()
}

/// Runs the browser cases against a fresh runner; panics with the script's output on failure.
async fn browser(cases: &[&str]) {
    assert!(
        Path::new(CHROMIUM).exists(),
        "{CHROMIUM} is missing: the console is tested in Debian's Chromium (apt-get install -y chromium)"
    );
    let _turn = ONE_BROWSER.lock().await;
    let runner = Runner::start(&[], &[]).await;
    let root = workspace();
    let python = std::env::var("CONSOLE_TEST_PYTHON").unwrap_or_else(|_| "python3".to_owned());
    let started = Instant::now();
    let keys = tempfile::NamedTempFile::new().expect("a file for the keys the browser saw");
    let output = tokio::process::Command::new(&python)
        .arg(root.join("scripts/console-browser-test.py"))
        .args(["--base", &runner.base, "--out"])
        .arg(root.join("target/console"))
        .arg("--keys-file")
        .arg(keys.path())
        .args(cases)
        .current_dir(&root)
        .kill_on_drop(true)
        .output()
        .await
        .unwrap_or_else(|e| panic!("{python} does not run: {e}"));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}{stderr}browser cases {cases:?}: {:.1}s", started.elapsed().as_secs_f64());
    assert!(output.status.success(), "browser cases {cases:?} failed:\n{stdout}\n{stderr}");
    // The keys made in the browser join the scan: dropping the runner checks its logs for them.
    let issued = std::fs::read_to_string(keys.path()).expect("the keys file");
    issued.lines().for_each(nico_keys_tests::leaks::record);
    println!(
        "browser cases {cases:?}: {} keys issued, each scanned for in the runner's logs",
        issued.lines().count()
    );
    drop(runner);
}

#[tokio::test]
async fn the_product_story_happens_in_the_browser_and_the_key_is_shown_once() {
    browser(&["story"]).await;
}

/// "My keys" lists the revoked key: needs `GET /v1/keys` (the `keys` branch).
#[tokio::test]
async fn my_keys_shows_the_revoked_key_after_the_story() {
    browser(&["story_my_keys"]).await;
}

#[tokio::test]
async fn a_key_is_created_copied_and_confirmed_with_the_keyboard_only() {
    browser(&["keyboard"]).await;
}

#[tokio::test]
async fn every_page_passes_axe_and_is_captured_at_desktop_and_phone_sizes() {
    browser(&["pages"]).await;
}

/// In Lambda, the console's routes reach the function without any authorizer context (they
/// are public); the API's routes still refuse such a request.
#[tokio::test]
async fn the_function_serves_the_console_without_a_token_and_nothing_else() {
    use std::sync::Arc;

    use key_management::Api;
    use key_management::console::ConsoleSettings;
    use nico_keys::Config;
    use nico_keys_tests::world::World;

    let world = World::embedded();
    let env = |name: &str| match name {
        "TABLE_NAME" => Some("unused".to_owned()),
        "ALLOWED_SCOPES" => Some("projects:read".to_owned()),
        "ROUTE_SCOPES" => Some("GET /projects/*=projects:read".to_owned()),
        _ => None,
    };
    let settings = ConsoleSettings {
        issuer: Some("https://auth.example.com".into()),
        client_id: Some("console-client".into()),
        sign_in_origins: vec![],
    };
    let api = Api::new(world.store.clone(), Config::from_lookup(env).unwrap(), Arc::new(world.clock.clone()))
        .with_console(settings);
    let public = |path: &str| {
        serde_json::json!({
            "version": "2.0", "routeKey": "GET /console/{proxy+}", "rawPath": path, "rawQueryString": "",
            "headers": {"host": "api.example.com"},
            "requestContext": {"accountId": "1", "apiId": "a", "domainName": "api.example.com",
                "http": {"method": "GET", "path": path, "protocol": "HTTP/1.1", "sourceIp": "192.0.2.1", "userAgent": "t"},
                "requestId": "r", "routeKey": "GET /console/{proxy+}", "stage": "$default", "time": "", "timeEpoch": 0},
            "isBase64Encoded": false,
        })
        .to_string()
    };
    let config = api.handle(lambda_http::request::from_str(&public("/console/config.json")).unwrap()).await;
    assert_eq!(config.status(), 200);
    let body: serde_json::Value = serde_json::from_slice(config.body()).unwrap();
    assert_eq!(
        body,
        serde_json::json!({"issuer": "https://auth.example.com", "client_id": "console-client"})
    );
    let page = api.handle(lambda_http::request::from_str(&public("/console/bots/b")).unwrap()).await;
    assert_eq!(page.status(), 200);
    let csp = page.headers()["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("connect-src 'self' https://auth.example.com;"), "{csp}");
    let api_route = api.handle(lambda_http::request::from_str(&public("/v1/bots")).unwrap()).await;
    assert_eq!(api_route.status(), 401, "no claims, no API");
}
