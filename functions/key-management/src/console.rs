//! The web console (`console/` at the workspace root), served at `/console/` by this function
//! and by the local runner, without any sign-in: the files are public, the data behind them is
//! not (the console calls `/v1/` with the person's token like any other client).
//!
//! The files are embedded in the binary at compile time, so a deploy is one artefact and the
//! console always matches the API it was built with. Every answer, errors and redirects
//! included, carries the same security headers ([`security_headers`]): a CSP allowing only the
//! console's own scripts and styles (no inline code, so an injected `<script>` does not run),
//! no framing, no referrer (the sign-in `code` never leaks through one), no sniffing.
//!
//! `/console` and `/console/` lead to `/console/bots`, the first page.
//! `GET /console/config.json` tells the console where to sign in: the OIDC issuer and the
//! console's client id ([`ConsoleSettings`]; in Lambda `CONSOLE_OIDC_ISSUER` and
//! `CONSOLE_CLIENT_ID`, and `CONSOLE_SIGN_IN_ORIGINS` for a token endpoint on another host,
//! which the CSP must let the console call). Any other path without a file extension is a page of the console and
//! gets `index.html`, which routes on the path itself.

use include_dir::{Dir, include_dir};
use lambda_http::http::{HeaderValue, Method, StatusCode, header};
use lambda_http::{Body, Response};
use serde_json::json;

static FILES: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/../../console");

/// Where the console's paths start.
pub const PREFIX: &str = "/console";

/// Where the console signs people in.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConsoleSettings {
    /// The OIDC issuer (its discovery document is `<issuer>/.well-known/openid-configuration`).
    pub issuer: Option<String>,
    /// The console's client id at that issuer (a public client: code flow with PKCE).
    pub client_id: Option<String>,
    /// Other origins the console may call to sign in: a token endpoint on another host than
    /// the issuer's (Cognito's user pool domain, say).
    pub sign_in_origins: Vec<String>,
}

impl ConsoleSettings {
    /// `CONSOLE_OIDC_ISSUER`, `CONSOLE_CLIENT_ID` and `CONSOLE_SIGN_IN_ORIGINS`
    /// (comma-separated), each unset or empty meaning none.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Self {
        let read = |name: &str| lookup(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        let origins = read("CONSOLE_SIGN_IN_ORIGINS").unwrap_or_default();
        Self {
            issuer: read("CONSOLE_OIDC_ISSUER"),
            client_id: read("CONSOLE_CLIENT_ID"),
            sign_in_origins: origins.split(',').filter_map(origin).collect(),
        }
    }

    pub fn from_env() -> Self {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// The origins the console may call besides its own: the issuer's and the others named.
    fn connect_origins(&self) -> String {
        let issuer = self.issuer.as_deref().and_then(origin);
        issuer.iter().chain(&self.sign_in_origins).map(|o| format!(" {o}")).collect()
    }
}

/// A URL's origin (`https://host[:port]`); nothing for anything that could widen the CSP.
fn origin(url: &str) -> Option<String> {
    let (scheme, rest) = url.trim().split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next()?;
    let safe = |c: char| c.is_ascii_alphanumeric() || ".-:[]".contains(c);
    ((scheme == "https" || scheme == "http") && !authority.is_empty() && authority.chars().all(safe))
        .then(|| format!("{scheme}://{authority}"))
}

/// Whether `path` is the console's.
pub fn is_console_path(path: &str) -> bool {
    path == PREFIX || path.strip_prefix(PREFIX).is_some_and(|rest| rest.starts_with('/'))
}

/// The answer to `method path` for a path under [`PREFIX`].
pub fn answer(method: &Method, path: &str, settings: &ConsoleSettings) -> Response<Body> {
    let response = if method != Method::GET && method != Method::HEAD {
        let mut response = text(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed");
        response.headers_mut().insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        response
    } else if path == PREFIX || path == "/console/" {
        // To a page under `{proxy+}` for sure (whether API Gateway's greedy variable matches
        // an empty tail is not something to rely on).
        let mut response = text(StatusCode::PERMANENT_REDIRECT, "");
        response.headers_mut().insert(header::LOCATION, HeaderValue::from_static("/console/bots"));
        response
    } else {
        let file = path.strip_prefix("/console/").unwrap_or_default();
        if file == "config.json" {
            let body = json!({ "issuer": settings.issuer, "client_id": settings.client_id });
            file_response("application/json", body.to_string().into_bytes())
        } else if let Some(found) = FILES.get_file(file).filter(|_| !file.is_empty()) {
            file_response(content_type(file), found.contents().to_vec())
        } else if !file.rsplit('/').next().unwrap_or_default().contains('.') {
            // A page of the console (`/console/bots/…`, `/console/callback`, …).
            let index = FILES.get_file("index.html").map(|f| f.contents().to_vec()).unwrap_or_default();
            file_response("text/html; charset=utf-8", index)
        } else {
            text(StatusCode::NOT_FOUND, "Not Found")
        }
    };
    security_headers(response, settings)
}

fn content_type(file: &str) -> &'static str {
    match file.rsplit_once('.').map(|(_, extension)| extension) {
        Some("html") => "text/html; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("json") => "application/json",
        _ => "application/octet-stream",
    }
}

fn file_response(content_type: &'static str, body: Vec<u8>) -> Response<Body> {
    let mut response = Response::new(Body::Binary(body));
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    // Always revalidated: a deploy takes effect on the next load.
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

fn text(status: StatusCode, body: &'static str) -> Response<Body> {
    let mut response = Response::new(Body::Text(body.to_owned()));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    response
}

/// The headers of every console answer.
fn security_headers(mut response: Response<Body>, settings: &ConsoleSettings) -> Response<Body> {
    // The console talks to its own origin and to the issuer (discovery, token endpoint).
    let sign_in = settings.connect_origins();
    let policy = format!(
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
         connect-src 'self'{sign_in}; form-action 'self'; frame-ancestors 'none'; \
         base-uri 'none'; object-src 'none'"
    );
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&policy) {
        headers.insert(header::CONTENT_SECURITY_POLICY, value);
    }
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> ConsoleSettings {
        ConsoleSettings {
            issuer: Some("https://auth.example.com/pool".into()),
            client_id: Some("console".into()),
            sign_in_origins: vec![],
        }
    }

    fn header<'r>(response: &'r Response<Body>, name: &str) -> &'r str {
        response.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or_default()
    }

    #[test]
    fn pages_files_config_and_errors_all_carry_the_security_headers() {
        let cases = [
            (Method::GET, "/console", 308),
            (Method::GET, "/console/", 308),
            (Method::GET, "/console/bots", 200),
            (Method::GET, "/console/callback", 200),
            (Method::GET, "/console/bots/b_1", 200),
            (Method::GET, "/console/app.js", 200),
            (Method::GET, "/console/config.json", 200),
            (Method::GET, "/console/missing.js", 404),
            (Method::POST, "/console/", 405),
        ];
        for (method, path, status) in cases {
            let response = answer(&method, path, &settings());
            assert_eq!(response.status().as_u16(), status, "{method} {path}");
            let csp = header(&response, "content-security-policy");
            assert!(csp.starts_with("default-src 'self';"), "{path}: {csp}");
            assert!(csp.contains("frame-ancestors 'none'") && !csp.contains("unsafe"), "{path}: {csp}");
            assert!(csp.contains("connect-src 'self' https://auth.example.com;"), "{path}: {csp}");
            assert_eq!(header(&response, "referrer-policy"), "no-referrer", "{path}");
            assert_eq!(header(&response, "x-content-type-options"), "nosniff", "{path}");
        }
    }

    #[test]
    fn the_config_names_the_issuer_and_client_and_an_odd_issuer_widens_nothing() {
        let response = answer(&Method::GET, "/console/config.json", &settings());
        let body: serde_json::Value = serde_json::from_slice(response.body()).unwrap();
        assert_eq!(body, json!({"issuer": "https://auth.example.com/pool", "client_id": "console"}));
        let odd = ConsoleSettings {
            issuer: Some("https://a.example; script-src *".into()),
            client_id: None,
            sign_in_origins: vec![],
        };
        let csp = header(&answer(&Method::GET, "/console/bots", &odd), "content-security-policy").to_owned();
        assert!(!csp.contains('*'), "{csp}");
        let unset = ConsoleSettings::from_lookup(|_| Some(" ".into()));
        assert_eq!(unset, ConsoleSettings::default());
        let cognito = ConsoleSettings::from_lookup(|name| match name {
            "CONSOLE_OIDC_ISSUER" => Some("https://cognito-idp.eu-west-1.amazonaws.com/pool".into()),
            "CONSOLE_SIGN_IN_ORIGINS" => Some("https://team.auth.eu-west-1.amazoncognito.com/, x y".into()),
            _ => None,
        });
        let csp =
            header(&answer(&Method::GET, "/console/bots", &cognito), "content-security-policy").to_owned();
        assert!(
            csp.contains(
                "connect-src 'self' https://cognito-idp.eu-west-1.amazonaws.com \
                 https://team.auth.eu-west-1.amazoncognito.com;"
            ),
            "{csp}"
        );
    }

    #[test]
    fn only_the_console_prefix_is_the_consoles() {
        assert!(is_console_path("/console") && is_console_path("/console/x"));
        assert!(!is_console_path("/consoles") && !is_console_path("/v1/console"));
    }
}
