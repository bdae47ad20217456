//! GitHub's published key set over HTTPS (`GITHUB_KEYS_URL`), with a short timeout: a report
//! waits for this fetch, and GitHub's own retry is the fallback for a slow endpoint.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::keyring::KeySource;

const TIMEOUT: Duration = Duration::from_secs(5);
const MAX_DOCUMENT: usize = 256 * 1024;

type Https = hyper_rustls::HttpsConnector<HttpConnector>;

/// A client for small documents over HTTPS (or `http://`, for a test's local server), trusting
/// the system's roots. The local runner fetches an identity provider's documents with it too.
#[derive(Clone)]
pub struct Fetcher(Client<Https, Empty<Bytes>>);

impl Fetcher {
    pub fn new() -> Result<Self, String> {
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_native_roots()
            .map_err(|e| format!("no root certificates: {e}"))?
            .https_or_http()
            .enable_http1()
            .build();
        Ok(Self(Client::builder(TokioExecutor::new()).build(connector)))
    }

    /// The body of a successful `GET url`, at most `max` bytes, within `timeout`; an error
    /// names the URL and says why, with its causes (the client's own message says little).
    pub async fn get(&self, url: &str, timeout: Duration, max: usize) -> Result<Bytes, String> {
        let uri: hyper::Uri = url.parse().map_err(|e| format!("{url}: {e}"))?;
        let fetch = async {
            let response = self.0.get(uri).await.map_err(|e| format!("{url}: {}", causes(&e)))?;
            if !response.status().is_success() {
                return Err(format!("{url}: HTTP {}", response.status()));
            }
            let body = Limited::new(response.into_body(), max).collect().await;
            Ok(body.map_err(|e| format!("{url}: {e}"))?.to_bytes())
        };
        tokio::time::timeout(timeout, fetch).await.map_err(|_| format!("{url}: no answer in {timeout:?}"))?
    }
}

/// An error with its causes.
fn causes(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// GitHub's key set at `GITHUB_KEYS_URL`.
pub struct HttpsSource {
    url: String,
    fetcher: Fetcher,
}

impl HttpsSource {
    /// A source for `url` (`https://`, or `http://` for a test's local server).
    pub fn new(url: &str) -> Result<Self, String> {
        url.parse::<hyper::Uri>().map_err(|e| format!("{url}: {e}"))?;
        Ok(Self { url: url.to_owned(), fetcher: Fetcher::new()? })
    }
}

impl KeySource for HttpsSource {
    async fn fetch(&self) -> Result<String, String> {
        let body = self.fetcher.get(&self.url, TIMEOUT, MAX_DOCUMENT).await?;
        String::from_utf8(body.to_vec()).map_err(|_| format!("{}: not UTF-8", self.url))
    }
}
