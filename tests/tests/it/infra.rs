//! The SAM template (`infra/template.yaml`) read offline and held to the code: the table is
//! the one the store expects, IAM is least privilege, every setting reaches both functions
//! from a parameter, and authorizer results are not cached unless a deployer asks.
//!
//! The template is parsed with `serde_norway`, which keeps CloudFormation's short tags
//! (`!Ref`, `!GetAtt`, `!Sub`, …) as tagged values; [`json`] rewrites them into the long form
//! (`{"Ref": …}`, `{"Fn::GetAtt": [resource, attribute]}`, `{"Fn::Sub": …}`), so every check
//! below works on one shape whichever form the template uses. Deployability itself (schema,
//! SAM transform, the build) is `scripts/check-infra`'s job.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use nico_keys::config::{ClaimNames, Config, Limits};
use nico_keys::store::dynamodb::table;
use serde_json::{Map, Value, json};

/// The environment the functions read (SPEC §6 and `shared/src/config.rs`).
const SETTINGS: [&str; 10] = [
    "TABLE_NAME",
    "ALLOWED_SCOPES",
    "ROUTE_SCOPES",
    "KEY_MAX_LIFETIME_DAYS",
    "KEY_RETENTION_DAYS",
    "MAX_ACTIVE_KEYS_PER_BOT",
    "NAME_MAX_CHARS",
    "KEY_ROTATION_GRACE_SECONDS",
    "OWNER_TEAM_CLAIM",
    "OWNER_ROLE_CLAIM",
];

/// The Cargo binaries the two Rust functions are built from.
const AUTHORIZER: &str = "authorizer";
const MANAGEMENT: &str = "key-management";

/// The parameter holding the authorizer result cache TTL.
const CACHE_TTL: &str = "AuthorizerCacheTtlSeconds";

const DAY: u64 = 86_400;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root").to_path_buf()
}

fn template() -> &'static Value {
    static TEMPLATE: OnceLock<Value> = OnceLock::new();
    TEMPLATE.get_or_init(|| {
        let path = workspace().join("infra/template.yaml");
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let yaml: serde_norway::Value =
            serde_norway::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        json(&yaml)
    })
}

/// YAML to JSON, CloudFormation short tags to their long form.
fn json(yaml: &serde_norway::Value) -> Value {
    use serde_norway::Value as Yaml;
    match yaml {
        Yaml::Null => Value::Null,
        Yaml::Bool(b) => Value::Bool(*b),
        Yaml::Number(n) => {
            if let Some(i) = n.as_i64() {
                json!(i)
            } else if let Some(u) = n.as_u64() {
                json!(u)
            } else {
                json!(n.as_f64().expect("a YAML number is an i64, u64 or f64"))
            }
        }
        Yaml::String(s) => Value::String(s.clone()),
        Yaml::Sequence(items) => Value::Array(items.iter().map(json).collect()),
        Yaml::Mapping(entries) => Value::Object(
            entries
                .iter()
                .map(|(k, v)| {
                    let key = k.as_str().unwrap_or_else(|| panic!("a non-string mapping key: {k:?}"));
                    (key.to_owned(), json(v))
                })
                .collect(),
        ),
        Yaml::Tagged(tagged) => {
            let tag = tagged.tag.to_string();
            let name = tag.trim_start_matches('!');
            let value = json(&tagged.value);
            match (name, value) {
                ("Ref", value) => json!({ "Ref": value }),
                ("Condition", value) => json!({ "Condition": value }),
                // `!GetAtt Resource.Attribute` is `Fn::GetAtt: [Resource, Attribute]`.
                ("GetAtt", Value::String(dotted)) => {
                    let (resource, attribute) =
                        dotted.split_once('.').unwrap_or_else(|| panic!("!GetAtt {dotted}: no attribute"));
                    json!({ "Fn::GetAtt": [resource, attribute] })
                }
                (name, value) => json!({ format!("Fn::{name}"): value }),
            }
        }
    }
}

fn resources() -> &'static Map<String, Value> {
    template()["Resources"].as_object().expect("Resources")
}

fn parameters() -> &'static Map<String, Value> {
    template()["Parameters"].as_object().expect("Parameters")
}

fn of_type(kind: &str) -> Vec<(&'static str, &'static Value)> {
    resources().iter().filter(|(_, r)| r["Type"] == kind).map(|(id, r)| (id.as_str(), r)).collect()
}

fn reference(id: &str) -> Value {
    json!({ "Ref": id })
}

fn get_att(id: &str, attribute: &str) -> Value {
    json!({ "Fn::GetAtt": [id, attribute] })
}

/// The one DynamoDB table's logical id.
fn table_id() -> &'static str {
    let tables = of_type("AWS::DynamoDB::Table");
    assert_eq!(tables.len(), 1, "one table, got {:?}", tables.iter().map(|t| t.0).collect::<Vec<_>>());
    tables[0].0
}

/// The function built from the Cargo binary `binary`.
fn function(binary: &str) -> (&'static str, &'static Value) {
    let found: Vec<_> = of_type("AWS::Serverless::Function")
        .into_iter()
        .filter(|(_, f)| f["Metadata"]["BuildProperties"]["Binary"] == binary)
        .collect();
    assert_eq!(found.len(), 1, "exactly one function is built from the binary {binary}");
    found[0]
}

/// A value or a list of values, as a list.
fn list(value: &Value) -> Vec<Value> {
    match value {
        Value::Array(items) => items.clone(),
        Value::Null => Vec::new(),
        other => vec![other.clone()],
    }
}

/// The logical id of the explicit role a function runs as (`Role: !GetAtt SomeRole.Arn`).
fn role_of(function_id: &str, function: &'static Value) -> &'static str {
    let role = &function["Properties"]["Role"];
    let id = role["Fn::GetAtt"][0]
        .as_str()
        .unwrap_or_else(|| panic!("{function_id} must run as a role of this template, has Role {role}"));
    assert_eq!(role, &get_att(id, "Arn"), "{function_id}: Role");
    assert_eq!(resources()[id]["Type"], "AWS::IAM::Role", "{function_id} runs as {id}, not an IAM role");
    id
}

/// Every statement of every policy a role has: inline, and any policy resource naming it.
fn statements_of_role(role_id: &str) -> Vec<Value> {
    let role = &resources()[role_id]["Properties"];
    assert!(
        role.get("ManagedPolicyArns").is_none(),
        "{role_id} has managed policies; their statements cannot be checked here"
    );
    let mut documents: Vec<&Value> = role["Policies"]
        .as_array()
        .map(|policies| policies.iter().map(|p| &p["PolicyDocument"]).collect())
        .unwrap_or_default();
    for kind in ["AWS::IAM::Policy", "AWS::IAM::ManagedPolicy", "AWS::IAM::RolePolicy"] {
        for (_, policy) in of_type(kind) {
            let properties = &policy["Properties"];
            let roles = list(&properties["Roles"]);
            if roles.contains(&reference(role_id)) || properties["RoleName"] == reference(role_id) {
                documents.push(&properties["PolicyDocument"]);
            }
        }
    }
    documents.into_iter().flat_map(|document| list(&document["Statement"])).collect()
}

fn actions(statement: &Value) -> BTreeSet<String> {
    list(&statement["Action"]).iter().map(|a| a.as_str().expect("an action is a string").to_owned()).collect()
}

/// Statements touching a service (an action `service:…`, or `*`).
fn statements_for(statements: &[Value], service: &str) -> Vec<Value> {
    let prefix = format!("{service}:");
    statements
        .iter()
        .filter(|s| {
            s.get("NotAction").is_some() || actions(s).iter().any(|a| a == "*" || a.starts_with(&prefix))
        })
        .cloned()
        .collect()
}

/// Every policy statement anywhere in the template (any mapping with a `Statement`).
fn all_statements(value: &Value, found: &mut Vec<Value>) {
    match value {
        Value::Object(map) => {
            if let Some(statement) = map.get("Statement") {
                found.extend(list(statement));
            }
            map.values().for_each(|v| all_statements(v, found));
        }
        Value::Array(items) => items.iter().for_each(|v| all_statements(v, found)),
        _ => {}
    }
}

fn parameter_default(name: &str) -> String {
    match &parameters()[name]["Default"] {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        other => panic!("parameter {name} has no usable default: {other}"),
    }
}

/// What a function's variable is set to: the parameter it comes from.
fn parameter_behind(function_id: &str, function: &'static Value, variable: &str) -> &'static str {
    let value = &function["Properties"]["Environment"]["Variables"][variable];
    let name =
        value["Ref"].as_str().unwrap_or_else(|| panic!("{function_id}: {variable} is {value}, not !Ref"));
    assert!(parameters().contains_key(name), "{function_id}: {variable} refers to {name}, not a parameter");
    name
}

/// The environment the Rust functions get with every parameter at its default.
fn default_environment() -> BTreeMap<String, String> {
    let (id, authorizer) = function(AUTHORIZER);
    SETTINGS
        .iter()
        .filter(|v| **v != "TABLE_NAME")
        .map(|v| ((*v).to_owned(), parameter_default(parameter_behind(id, authorizer, v))))
        .chain([("TABLE_NAME".to_owned(), "nico-keys-table".to_owned())])
        .collect()
}

/// The Lambda authorizers (`FunctionArn`) of every SAM API, as (API id, name, definition).
fn lambda_authorizers() -> Vec<(&'static str, &'static str, &'static Value)> {
    ["AWS::Serverless::Api", "AWS::Serverless::HttpApi"]
        .into_iter()
        .flat_map(of_type)
        .flat_map(|(api, resource)| {
            resource["Properties"]["Auth"]["Authorizers"]
                .as_object()
                .into_iter()
                .flatten()
                .filter(|(_, authorizer)| authorizer.get("FunctionArn").is_some())
                .map(move |(name, authorizer)| (api, name.as_str(), authorizer))
        })
        .collect()
}

#[test]
fn the_table_is_the_one_the_store_expects() {
    let properties = &resources()[table_id()]["Properties"];
    assert_eq!(
        properties["KeySchema"],
        json!([
            { "AttributeName": table::PARTITION_KEY, "KeyType": "HASH" },
            { "AttributeName": table::SORT_KEY, "KeyType": "RANGE" },
        ])
    );
    assert_eq!(
        properties["AttributeDefinitions"],
        json!([
            { "AttributeName": table::PARTITION_KEY, "AttributeType": table::KEY_TYPE },
            { "AttributeName": table::SORT_KEY, "AttributeType": table::KEY_TYPE },
        ])
    );
    let indexes: Vec<&str> = properties["GlobalSecondaryIndexes"]
        .as_array()
        .map(|gsis| gsis.iter().map(|g| g["IndexName"].as_str().expect("IndexName")).collect())
        .unwrap_or_default();
    assert_eq!(indexes, table::GLOBAL_SECONDARY_INDEXES, "global secondary indexes");
    assert!(properties.get("LocalSecondaryIndexes").is_none(), "the code uses no local secondary index");
    assert_eq!(
        properties["TimeToLiveSpecification"],
        json!({ "AttributeName": table::TTL_ATTRIBUTE, "Enabled": true })
    );
}

#[test]
fn the_table_is_on_demand_recoverable_encrypted_and_protected_by_default() {
    let properties = &resources()[table_id()]["Properties"];
    assert_eq!(properties["BillingMode"], "PAY_PER_REQUEST");
    assert_eq!(properties["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"], true);
    assert_eq!(properties["SSESpecification"]["SSEEnabled"], true);
    // DeletionProtectionEnabled: !If [Condition, true, false], the condition a parameter's
    // default makes true.
    let protection = &properties["DeletionProtectionEnabled"]["Fn::If"];
    assert_eq!((&protection[1], &protection[2]), (&json!(true), &json!(false)), "{protection}");
    let condition = protection[0].as_str().expect("a condition name");
    let equals = &template()["Conditions"][condition]["Fn::Equals"];
    let parameter = equals[0]["Ref"].as_str().expect("the condition compares a parameter");
    assert_eq!(parameter_default(parameter), equals[1].as_str().expect("with a string"));
}

#[test]
fn authorizer_may_only_get_items_from_the_table() {
    let (id, authorizer) = function(AUTHORIZER);
    let statements = statements_of_role(role_of(id, authorizer));
    let dynamodb = statements_for(&statements, "dynamodb");
    assert_eq!(
        dynamodb,
        vec![
            json!({ "Effect": "Allow", "Action": ["dynamodb:GetItem"], "Resource": get_att(table_id(), "Arn") })
        ],
        "the authorizer's only DynamoDB permission is GetItem on the table"
    );
}

#[test]
fn management_may_only_read_and_write_items_of_the_table() {
    let (id, management) = function(MANAGEMENT);
    let statements = statements_of_role(role_of(id, management));
    let dynamodb = statements_for(&statements, "dynamodb");
    assert!(!dynamodb.is_empty(), "the management function needs DynamoDB");
    let mut granted = BTreeSet::new();
    for statement in &dynamodb {
        assert_eq!(statement["Effect"], "Allow", "{statement}");
        assert!(
            statement.get("NotAction").is_none() && statement.get("NotResource").is_none(),
            "{statement}"
        );
        assert_eq!(
            list(&statement["Resource"]),
            vec![get_att(table_id(), "Arn")],
            "only the table: {statement}"
        );
        granted.extend(actions(statement));
    }
    // A TransactWriteItems call is authorised item by item (Put -> PutItem, Update ->
    // UpdateItem); there is no IAM action of that name. No DeleteItem, no Scan.
    let expected: BTreeSet<String> =
        ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:Query"]
            .map(String::from)
            .into();
    assert_eq!(granted, expected);
}

#[test]
fn no_iam_statement_grants_every_resource() {
    let mut statements = Vec::new();
    all_statements(template(), &mut statements);
    assert!(statements.len() >= 6, "found only {} statements; is the walk broken?", statements.len());
    for statement in &statements {
        assert!(statement.get("NotResource").is_none(), "NotResource: {statement}");
        assert!(!list(&statement["Resource"]).contains(&json!("*")), "Resource \"*\": {statement}");
        for action in list(&statement["Action"]) {
            let action = action.as_str().expect("an action is a string");
            assert!(!action.ends_with('*'), "wildcard action {action}: {statement}");
        }
    }
    // A function without its own role gets one from SAM, with AWSLambdaBasicExecutionRole,
    // whose logs permissions are on "*".
    for (id, function) in
        of_type("AWS::Serverless::Function").into_iter().chain(of_type("AWS::Lambda::Function"))
    {
        role_of(id, function);
        assert!(function["Properties"].get("Policies").is_none(), "{id}: SAM Policies next to a Role");
    }
}

#[test]
fn each_function_may_only_write_to_its_own_log_group() {
    for (id, function) in of_type("AWS::Serverless::Function") {
        let group = function["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
            .as_str()
            .unwrap_or_else(|| panic!("{id} logs to a log group of this template"));
        let group_resource = &resources()[group];
        assert_eq!(group_resource["Type"], "AWS::Logs::LogGroup", "{id}");
        assert_eq!(group_resource["Properties"]["RetentionInDays"], reference("LogRetentionDays"), "{group}");
        let statements = statements_of_role(role_of(id, function));
        let logs = statements_for(&statements, "logs");
        assert!(!logs.is_empty(), "{id} cannot write its logs");
        for statement in logs {
            assert_eq!(list(&statement["Resource"]), vec![get_att(group, "Arn")], "{id}: {statement}");
        }
        assert_eq!(
            function["Properties"]["LoggingConfig"]["LogFormat"],
            Value::Null,
            "LogFormat is set once, in Globals"
        );
    }
    let logging = &template()["Globals"]["Function"]["LoggingConfig"];
    assert_eq!(logging["LogFormat"], "JSON");
    assert_eq!(logging["ApplicationLogLevel"], reference("LogLevel"));
    assert_eq!(parameter_default("LogLevel"), "INFO");
}

#[test]
fn every_setting_reaches_both_functions_from_a_parameter() {
    for binary in [AUTHORIZER, MANAGEMENT] {
        let (id, definition) = function(binary);
        let variables = definition["Properties"]["Environment"]["Variables"].as_object().expect("variables");
        let names: BTreeSet<&str> = variables.keys().map(String::as_str).collect();
        assert_eq!(names, SETTINGS.into(), "{id}: the environment is exactly the settings");
        assert_eq!(variables["TABLE_NAME"], reference(table_id()), "{id}: TABLE_NAME");
        for variable in SETTINGS.iter().filter(|v| **v != "TABLE_NAME") {
            parameter_behind(id, definition, variable);
        }
        assert_eq!(
            function(AUTHORIZER).1["Properties"]["Environment"],
            definition["Properties"]["Environment"],
            "both functions get the same settings"
        );
    }
    // Every variable the code reads is among them.
    let config = std::fs::read_to_string(workspace().join("shared/src/config.rs")).expect("config.rs");
    let code = config.split("#[cfg(test)]").next().expect("the code before its tests");
    let variable = regex::Regex::new(r#""([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)""#).expect("regex");
    let read: BTreeSet<&str> =
        variable.captures_iter(code).map(|c| c.get(1).expect("group").as_str()).collect();
    assert!(read.len() >= 5, "found only {read:?} in shared/src/config.rs; is the pattern stale?");
    let wired: BTreeSet<&str> = SETTINGS.into();
    assert!(read.is_subset(&wired), "read by the code but not wired: {:?}", read.difference(&wired));
}

#[test]
fn parameter_defaults_are_the_code_defaults() {
    let env = default_environment();
    let limits = Limits::default();
    let claims = ClaimNames::default();
    let expected = [
        ("KEY_MAX_LIFETIME_DAYS", (limits.max_key_lifetime.as_secs() / DAY).to_string()),
        ("KEY_RETENTION_DAYS", (limits.retention.as_secs() / DAY).to_string()),
        ("MAX_ACTIVE_KEYS_PER_BOT", limits.max_active_keys.to_string()),
        ("NAME_MAX_CHARS", limits.max_name_chars.to_string()),
        ("KEY_ROTATION_GRACE_SECONDS", limits.rotation_grace.as_secs().to_string()),
        ("OWNER_TEAM_CLAIM", claims.team),
        ("OWNER_ROLE_CLAIM", claims.role),
    ];
    for (variable, value) in expected {
        assert_eq!(env[variable], value, "{variable}");
    }
}

#[test]
fn the_default_settings_are_a_configuration_the_functions_accept() {
    let env = default_environment();
    let config = Config::from_lookup(|name| env.get(name).cloned());
    assert!(config.is_ok(), "the template's defaults stop the functions at start-up: {config:?}");
}

#[test]
fn authorizer_results_are_not_cached_by_default() {
    assert_eq!(parameters()[CACHE_TTL]["Default"], 0, "{CACHE_TTL} defaults to 0 (no caching)");
    let authorizers = lambda_authorizers();
    assert_eq!(authorizers.len(), 2, "the example HTTP and REST APIs each have one: {authorizers:?}");
    for (api, name, authorizer) in authorizers {
        assert_eq!(authorizer["FunctionArn"], get_att(function(AUTHORIZER).0, "Arn"), "{api}.{name}");
        // Left out, ReauthorizeEvery means API Gateway's default: 300 s on REST APIs.
        assert_eq!(authorizer["Identity"]["ReauthorizeEvery"], reference(CACHE_TTL), "{api}.{name}");
    }
}

#[test]
fn http_api_answers_are_cached_per_key_and_route() {
    let http: Vec<_> = lambda_authorizers()
        .into_iter()
        .filter(|(api, _, _)| resources()[*api]["Type"] == "AWS::Serverless::HttpApi")
        .collect();
    assert_eq!(http.len(), 1);
    for (api, name, authorizer) in http {
        assert_eq!(authorizer["AuthorizerPayloadFormatVersion"], "2.0", "{api}.{name}");
        assert_eq!(authorizer["EnableSimpleResponses"], true, "{api}.{name}");
        assert_eq!(authorizer["Identity"]["Headers"], json!(["Authorization"]), "{api}.{name}");
        // The answer depends on the route, and ANY /projects/{proxy+} spans methods and paths
        // that the rules tell apart: all of them belong in the cache key.
        let context = list(&authorizer["Identity"]["Context"]);
        for needed in ["routeKey", "httpMethod", "path"] {
            assert!(
                context.contains(&json!(needed)),
                "{api}.{name}: $context.{needed} is not in the cache key"
            );
        }
    }
    let rest: Vec<_> = lambda_authorizers()
        .into_iter()
        .filter(|(api, _, _)| resources()[*api]["Type"] == "AWS::Serverless::Api")
        .collect();
    assert_eq!(rest.len(), 1);
    for (api, name, authorizer) in rest {
        // The REST answer is a policy for the key alone, so the token is the right cache key.
        assert_eq!(authorizer["FunctionPayloadType"], "TOKEN", "{api}.{name}");
        assert_eq!(authorizer["Identity"]["Header"], "Authorization", "{api}.{name}");
    }
}

#[test]
fn management_routes_are_the_documented_operations_behind_the_jwt_authorizer() {
    let (id, management) = function(MANAGEMENT);
    let events = management["Properties"]["Events"].as_object().expect("events");
    let mut apis = BTreeSet::new();
    let routes: BTreeSet<(String, String)> = events
        .values()
        .map(|event| {
            assert_eq!(event["Type"], "HttpApi", "{id}: {event}");
            let properties = &event["Properties"];
            assert!(properties.get("Auth").is_none(), "{id}: a route overrides the JWT authorizer: {event}");
            apis.insert(properties["ApiId"]["Ref"].as_str().expect("ApiId: !Ref").to_owned());
            let method = properties["Method"].as_str().expect("Method").to_lowercase();
            (method, properties["Path"].as_str().expect("Path").to_owned())
        })
        .collect();
    let documented: BTreeSet<(String, String)> = nico_keys_tests::openapi::operations().into_iter().collect();
    assert_eq!(routes, documented, "the template's routes are the OpenAPI document's operations");
    assert_eq!(apis.len(), 1, "one management API: {apis:?}");
    let api = apis.pop_first().expect("one");
    let auth = &resources()[&api]["Properties"]["Auth"];
    let default = auth["DefaultAuthorizer"].as_str().expect("a default authorizer");
    let jwt = &auth["Authorizers"][default];
    assert_eq!(jwt["IdentitySource"], "$request.header.Authorization");
    assert_eq!(jwt["JwtConfiguration"]["issuer"], reference("JwtIssuer"));
    assert_eq!(jwt["JwtConfiguration"]["audience"], reference("JwtAudience"));
}

#[test]
fn functions_are_the_workspace_binaries_on_al2023_within_api_gateway_timeouts() {
    for (binary, api_gateway_limit) in [(AUTHORIZER, 10), (MANAGEMENT, 30)] {
        let (id, function) = function(binary);
        let properties = &function["Properties"];
        assert_eq!(function["Metadata"]["BuildMethod"], "rust-cargolambda", "{id}");
        assert_eq!(properties["Runtime"], "provided.al2023", "{id}");
        assert_eq!(properties["Handler"], "bootstrap", "{id}");
        // CodeUri is the workspace root, so `cargo lambda build --bin {binary}` finds it.
        let code = workspace().join("infra").join(properties["CodeUri"].as_str().expect("CodeUri"));
        assert_eq!(code.canonicalize().expect("CodeUri exists"), workspace().canonicalize().expect("root"));
        let manifest = workspace().join("functions").join(binary).join("Cargo.toml");
        let manifest =
            std::fs::read_to_string(&manifest).unwrap_or_else(|e| panic!("{}: {e}", manifest.display()));
        assert!(manifest.contains(&format!("name = \"{binary}\"")), "{binary} is a workspace package");
        let timeout = properties["Timeout"].as_u64().expect("an explicit Timeout");
        assert!(
            timeout < api_gateway_limit,
            "{id}: Timeout {timeout} s, API Gateway waits {api_gateway_limit} s"
        );
    }
    assert_eq!(template()["Globals"]["Function"]["Architectures"], json!([reference("Architecture")]));
    assert_eq!(parameter_default("Architecture"), "arm64");
}

#[test]
fn alarms_watch_authorizer_errors_and_throttles() {
    let (id, _) = function(AUTHORIZER);
    let watched: BTreeSet<&str> = of_type("AWS::CloudWatch::Alarm")
        .into_iter()
        .filter(|(_, alarm)| {
            alarm["Properties"]["Namespace"] == "AWS/Lambda"
                && alarm["Properties"]["Dimensions"]
                    == json!([{ "Name": "FunctionName", "Value": reference(id) }])
        })
        .filter_map(|(_, alarm)| alarm["Properties"]["MetricName"].as_str())
        .collect();
    assert!(watched.is_superset(&["Errors", "Throttles"].into()), "authorizer alarms: {watched:?}");
}

#[test]
fn outputs_export_the_authorizer_urls_and_table_for_other_stacks() {
    let outputs = template()["Outputs"].as_object().expect("Outputs");
    let (authorizer, _) = function(AUTHORIZER);
    let exported: BTreeMap<&str, &Value> = outputs
        .iter()
        .map(|(name, output)| {
            assert_eq!(
                output["Export"]["Name"],
                json!({ "Fn::Sub": format!("${{AWS::StackName}}-{name}") }),
                "{name} is exported under the stack's name"
            );
            (name.as_str(), &output["Value"])
        })
        .collect();
    assert!(exported.values().any(|v| **v == get_att(authorizer, "Arn")), "the authorizer ARN");
    assert!(exported.values().any(|v| **v == reference(table_id())), "the table name");
    for api in of_type("AWS::Serverless::HttpApi").into_iter().chain(of_type("AWS::Serverless::Api")) {
        let url = exported
            .values()
            .filter_map(|v| v["Fn::Sub"].as_str())
            .any(|s| s.contains(&format!("${{{}}}", api.0)));
        assert!(url, "no exported URL for {}", api.0);
    }
}
