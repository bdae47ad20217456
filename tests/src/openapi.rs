//! The management API's OpenAPI document (`functions/key-management/openapi.yaml`), read so
//! tests can hold the router and every answer to it.

use std::sync::OnceLock;

use serde_json::Value;

fn document() -> &'static Value {
    static DOCUMENT: OnceLock<Value> = OnceLock::new();
    DOCUMENT.get_or_init(|| {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../functions/key-management/openapi.yaml");
        let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
        serde_norway::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
    })
}

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

/// Every documented operation as (lower-case method, path template).
pub fn operations() -> Vec<(String, String)> {
    let paths = document()["paths"].as_object().expect("paths");
    paths
        .iter()
        .flat_map(|(template, item)| {
            METHODS
                .iter()
                .filter(|method| item.get(**method).is_some())
                .map(move |method| ((*method).to_owned(), template.clone()))
        })
        .collect()
}

/// The statuses documented for one operation (empty if the operation is not documented).
pub fn statuses(template: &str, method: &str) -> Vec<String> {
    document()["paths"][template][method]["responses"]
        .as_object()
        .map(|responses| responses.keys().cloned().collect())
        .unwrap_or_default()
}
