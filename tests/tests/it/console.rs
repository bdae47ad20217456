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
    let output = tokio::process::Command::new(&python)
        .arg(root.join("scripts/console-browser-test.py"))
        .args(["--base", &runner.base, "--out"])
        .arg(root.join("target/console"))
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
