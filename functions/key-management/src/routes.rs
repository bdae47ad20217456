//! The route table: every route of the API, declared once.
//!
//! The router, the `405 Method Not Allowed` answers with their `Allow` header, and the
//! OpenAPI check in the tests all come from [`ROUTES`]; a handler is bound to its
//! [`Operation`] in one exhaustive `match` (`Api::dispatch`), so a route without a handler
//! does not compile.

use std::sync::OnceLock;

use lambda_http::http::Method;

use crate::error::ApiError;

/// What a request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Me,
    Catalog,
    CreateBot,
    ListBots,
    GetBot,
    UpdateBot,
    DeleteBot,
    RevokeKeys,
    CreateKey,
    ListKeys,
    GetKey,
    RevokeKey,
    RotateKey,
    ListAudit,
    ListAllKeys,
    /// The calling API key itself (through the Lambda authorizer, not the JWT one).
    Whoami,
}

/// Who signs a route's requests, and so which API Gateway authorizer stands in front of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignedBy {
    /// A person, with the identity provider's token (the JWT authorizer).
    Person,
    /// An API key (the Lambda authorizer, `NicoKey`).
    ApiKey,
}

/// One route: a method on a path template (`{name}` segments, as in the OpenAPI document).
#[derive(Debug, Clone)]
pub struct Route {
    pub method: Method,
    pub path: &'static str,
    pub operation: Operation,
    pub signed_by: SignedBy,
}

const fn route(method: Method, path: &'static str, operation: Operation) -> Route {
    Route { method, path, operation, signed_by: SignedBy::Person }
}

const fn key_route(method: Method, path: &'static str, operation: Operation) -> Route {
    Route { method, path, operation, signed_by: SignedBy::ApiKey }
}

/// Every route the API serves. Per path, the order of its methods is the order of `Allow`.
pub static ROUTES: [Route; 16] = [
    route(Method::GET, "/v1/me", Operation::Me),
    route(Method::GET, "/v1/catalog", Operation::Catalog),
    route(Method::GET, "/v1/bots", Operation::ListBots),
    route(Method::POST, "/v1/bots", Operation::CreateBot),
    route(Method::GET, "/v1/bots/{bot_id}", Operation::GetBot),
    route(Method::PATCH, "/v1/bots/{bot_id}", Operation::UpdateBot),
    route(Method::DELETE, "/v1/bots/{bot_id}", Operation::DeleteBot),
    route(Method::POST, "/v1/bots/{bot_id}/revoke-keys", Operation::RevokeKeys),
    route(Method::GET, "/v1/bots/{bot_id}/keys", Operation::ListKeys),
    route(Method::POST, "/v1/bots/{bot_id}/keys", Operation::CreateKey),
    route(Method::GET, "/v1/bots/{bot_id}/keys/{key_id}", Operation::GetKey),
    route(Method::POST, "/v1/bots/{bot_id}/keys/{key_id}/revoke", Operation::RevokeKey),
    route(Method::POST, "/v1/bots/{bot_id}/keys/{key_id}/rotate", Operation::RotateKey),
    route(Method::GET, "/v1/audit", Operation::ListAudit),
    route(Method::GET, "/v1/keys", Operation::ListAllKeys),
    key_route(Method::GET, "/v1/whoami", Operation::Whoami),
];

/// A request matched to its route, with the path's ids as written (parsed by the handler).
#[derive(Debug)]
pub(crate) struct Matched {
    pub operation: Operation,
    pub bot: Option<String>,
    pub key: Option<String>,
}

/// The routes of one path template.
struct PathRoutes {
    template: &'static str,
    routes: Vec<&'static Route>,
}

fn router() -> &'static matchit::Router<PathRoutes> {
    static ROUTER: OnceLock<matchit::Router<PathRoutes>> = OnceLock::new();
    ROUTER.get_or_init(|| {
        let mut router = matchit::Router::new();
        let mut templates: Vec<&'static str> = Vec::new();
        for route in &ROUTES {
            if !templates.contains(&route.path) {
                templates.push(route.path);
            }
        }
        for template in templates {
            let routes = ROUTES.iter().filter(|r| r.path == template).collect();
            router.insert(template, PathRoutes { template, routes }).expect("the route table is valid");
        }
        router
    })
}

/// The path template a concrete path falls under (a trailing `/` is ignored).
pub fn template_for(path: &str) -> Option<&'static str> {
    router().at(normalise(path)).ok().map(|found| found.value.template)
}

/// Who signs requests to a concrete path (every method of a path is signed alike).
pub fn signed_by(path: &str) -> Option<SignedBy> {
    router().at(normalise(path)).ok().and_then(|found| found.value.routes.first()).map(|r| r.signed_by)
}

/// The route `method path` asks for: 404 for an unknown path, 405 for a known path with
/// another method.
pub(crate) fn find(method: &Method, path: &str) -> Result<Matched, ApiError> {
    let found = router().at(normalise(path)).map_err(|_| ApiError::RouteNotFound)?;
    let route = found.value.routes.iter().find(|r| r.method == method).ok_or_else(|| {
        let allow = found.value.routes.iter().map(|r| r.method.as_str()).collect::<Vec<_>>().join(", ");
        ApiError::MethodNotAllowed { allow }
    })?;
    Ok(Matched {
        operation: route.operation,
        bot: found.params.get("bot_id").map(str::to_owned),
        key: found.params.get("key_id").map(str::to_owned),
    })
}

fn normalise(path: &str) -> &str {
    match path.trim_end_matches('/') {
        "" => "/",
        trimmed => trimmed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_path_answers_its_methods_and_names_the_others() {
        let matched = find(&Method::POST, "/v1/bots/B/keys/K/revoke").unwrap();
        assert_eq!(matched.operation, Operation::RevokeKey);
        assert_eq!((matched.bot.as_deref(), matched.key.as_deref()), (Some("B"), Some("K")));
        assert_eq!(find(&Method::GET, "/v1/bots/").unwrap().operation, Operation::ListBots);
        match find(&Method::PUT, "/v1/bots") {
            Err(ApiError::MethodNotAllowed { allow }) => assert_eq!(allow, "GET, POST"),
            other => panic!("{other:?}"),
        }
        for unknown in ["/", "/v1", "/v1/bots/B/keys/K/other", "/v2/bots"] {
            assert!(matches!(find(&Method::GET, unknown), Err(ApiError::RouteNotFound)), "{unknown}");
        }
        assert_eq!(template_for("/v1/bots/abc/keys"), Some("/v1/bots/{bot_id}/keys"));
    }
}
