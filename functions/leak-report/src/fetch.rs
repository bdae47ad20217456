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

pub struct HttpsSource {
    url: hyper::Uri,
    client: Client<Https, Empty<Bytes>>,
}

impl HttpsSource {
    /// A source for `url` (`https://`, or `http://` for a test's local server).
    pub fn new(url: &str) -> Result<Self, String> {
        let url: hyper::Uri = url.parse().map_err(|e| format!("{url}: {e}"))?;
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_native_roots()
            .map_err(|e| format!("no root certificates: {e}"))?
            .https_or_http()
            .enable_http1()
            .build();
        Ok(Self { url, client: Client::builder(TokioExecutor::new()).build(connector) })
    }
}

impl KeySource for HttpsSource {
    async fn fetch(&self) -> Result<String, String> {
        let fetch = async {
            let response = self.client.get(self.url.clone()).await.map_err(|e| e.to_string())?;
            if !response.status().is_success() {
                return Err(format!("HTTP {}", response.status()));
            }
            let body = Limited::new(response.into_body(), MAX_DOCUMENT)
                .collect()
                .await
                .map_err(|e| e.to_string())?
                .to_bytes();
            String::from_utf8(body.to_vec()).map_err(|_| "not UTF-8".to_owned())
        };
        tokio::time::timeout(TIMEOUT, fetch).await.map_err(|_| format!("no answer in {TIMEOUT:?}"))?
    }
}
