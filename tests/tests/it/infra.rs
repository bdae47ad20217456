//! The SAM template (`infra/template.yaml`) read offline and held to the code: the table is
//! the one the store expects, IAM is least privilege, every API stage is throttled, every
//! setting reaches both functions from a parameter, and authorizer results are not cached
//! unless a deployer asks.
//!
//! The template is read through [`Template`], in long form whichever tag style it is written
//! in. Deployability itself (schema, SAM transform, the build) is `scripts/check-infra`'s job.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use key_management::routes::SignedBy;
use nico_keys::config::{ClaimNames, Config, Limits};
use nico_keys::store::dynamodb::{items, table};
use nico_keys_tests::template::{Template, actions, get_att, list, reference, statements_for};
use serde_json::{Value, json};

/// The environment the functions read: `shared/src/config.rs`, the README's Configuration table.
const SETTINGS: [&str; 16] = [
    "TABLE_NAME",
    "ALLOWED_SCOPES",
    "SCOPE_DESCRIPTIONS",
    "ROUTE_SCOPES",
    "KEY_MAX_LIFETIME_DAYS",
    "KEY_RETENTION_DAYS",
    "MAX_ACTIVE_KEYS_PER_BOT",
    "NAME_MAX_CHARS",
    "KEY_ROTATION_GRACE_SECONDS",
    "OWNER_TEAM_CLAIM",
    "OWNER_ROLE_CLAIM",
    "DISPLAY_NAME_CLAIM",
    // Scale (issue 22).
    "VERIFY_CACHE_SECONDS",
    "FLUSH_AUTHORIZER_CACHES",
    "AUDIT_RETENTION_DAYS",
    "LAST_USED_WINDOW_SECONDS",
];

/// What the management function alone reads: where the web console signs in
/// (`functions/key-management/src/console.rs`).
const CONSOLE_SETTINGS: [&str; 3] = ["CONSOLE_OIDC_ISSUER", "CONSOLE_CLIENT_ID", "CONSOLE_SIGN_IN_ORIGINS"];

/// The Cargo binaries the two Rust functions are built from.
const AUTHORIZER: &str = "authorizer";
const MANAGEMENT: &str = "key-management";
const LEAK_REPORT: &str = "leak-report";

/// The parameter holding the authorizer result cache TTL.
const CACHE_TTL: &str = "AuthorizerCacheTtlSeconds";

const DAY: u64 = 86_400;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root").to_path_buf()
}

/// The environment the Rust functions get with every parameter at its default.
fn default_environment() -> BTreeMap<String, String> {
    let template = Template::project();
    let (id, authorizer) = template.function(AUTHORIZER);
    SETTINGS
        .iter()
        .filter(|v| **v != "TABLE_NAME")
        .map(|v| ((*v).to_owned(), template.parameter_default(template.parameter_behind(id, authorizer, v))))
        .chain([("TABLE_NAME".to_owned(), "nico-keys-table".to_owned())])
        .collect()
}

#[test]
fn the_table_is_the_one_the_store_expects() {
    let template = Template::project();
    let properties = &template.resources()[template.table_id()]["Properties"];
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
            { "AttributeName": table::EXPIRY_BUCKET_ATTRIBUTE, "AttributeType": table::EXPIRY_BUCKET_TYPE },
            { "AttributeName": table::EXPIRY_SORT_ATTRIBUTE, "AttributeType": table::EXPIRY_SORT_TYPE },
        ])
    );
    // The expiry index: as the store queries it, projecting what the notifier reads and no
    // secret digest.
    assert_eq!(
        properties["GlobalSecondaryIndexes"],
        json!([{
            "IndexName": table::EXPIRY_INDEX,
            "KeySchema": [
                { "AttributeName": table::EXPIRY_BUCKET_ATTRIBUTE, "KeyType": "HASH" },
                { "AttributeName": table::EXPIRY_SORT_ATTRIBUTE, "KeyType": "RANGE" },
            ],
            "Projection": { "ProjectionType": "INCLUDE", "NonKeyAttributes": items::expiry_index_attributes() },
        }])
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
    let template = Template::project();
    let properties = &template.resources()[template.table_id()]["Properties"];
    assert_eq!(properties["BillingMode"], "PAY_PER_REQUEST");
    assert_eq!(properties["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"], true);
    assert_eq!(properties["SSESpecification"]["SSEEnabled"], true);
    // DeletionProtectionEnabled: !If [Condition, true, false], the condition a parameter's
    // default makes true.
    let protection = &properties["DeletionProtectionEnabled"]["Fn::If"];
    assert_eq!((&protection[1], &protection[2]), (&json!(true), &json!(false)), "{protection}");
    let condition = protection[0].as_str().expect("a condition name");
    let equals = &template.value()["Conditions"][condition]["Fn::Equals"];
    let parameter = equals[0]["Ref"].as_str().expect("the condition compares a parameter");
    assert_eq!(template.parameter_default(parameter), equals[1].as_str().expect("with a string"));
}

#[test]
fn authorizer_may_only_get_what_it_checks_and_write_the_last_used_attributes_of_key_items() {
    let template = Template::project();
    let (id, authorizer) = template.function(AUTHORIZER);
    let statements = template.statements_of_role(template.role_of(id, authorizer));
    let dynamodb = statements_for(&statements, "dynamodb");
    // Built from the code's own constants, so the policy and the projection cannot drift: a
    // wrong list would be an AccessDenied (a 500) on every request in AWS, and moto checks no
    // IAM at all.
    let mut attributes = vec![table::PARTITION_KEY, table::SORT_KEY];
    attributes.extend(items::credential_attributes());
    assert_eq!(
        dynamodb,
        vec![
            json!({
                "Effect": "Allow",
                "Action": ["dynamodb:GetItem"],
                "Resource": get_att(template.table_id(), "Arn"),
                "Condition": {
                    "ForAllValues:StringLike": { "dynamodb:LeadingKeys": [format!("{}*", items::KEY_PARTITION_PREFIX)] },
                    "ForAllValues:StringEquals": { "dynamodb:Attributes": attributes },
                    "StringEqualsIfExists": { "dynamodb:Select": "SPECIFIC_ATTRIBUTES" },
                },
            }),
            // The last-used write: the code's own list of what it touches and names.
            json!({
                "Effect": "Allow",
                "Action": ["dynamodb:UpdateItem"],
                "Resource": get_att(template.table_id(), "Arn"),
                "Condition": {
                    "ForAllValues:StringLike": { "dynamodb:LeadingKeys": [format!("{}*", items::KEY_PARTITION_PREFIX)] },
                    "ForAllValues:StringEquals": { "dynamodb:Attributes": items::LAST_USED_ATTRIBUTES },
                    "StringEqualsIfExists": { "dynamodb:ReturnValues": "NONE" },
                },
            }),
        ],
        "the authorizer may only GetItem key items (the attributes verification reads) and \
         UpdateItem their last-used attributes, returning nothing"
    );
}

#[test]
fn management_may_only_read_and_write_items_of_the_table() {
    let template = Template::project();
    let (id, management) = template.function(MANAGEMENT);
    let statements = template.statements_of_role(template.role_of(id, management));
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
            vec![get_att(template.table_id(), "Arn")],
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
    let template = Template::project();
    let statements = template.all_statements();
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
    for (id, function) in template
        .of_type("AWS::Serverless::Function")
        .into_iter()
        .chain(template.of_type("AWS::Lambda::Function"))
    {
        template.role_of(id, function);
        assert!(function["Properties"].get("Policies").is_none(), "{id}: SAM Policies next to a Role");
    }
}

#[test]
fn each_function_may_only_write_to_its_own_log_group() {
    let template = Template::project();
    for (id, function) in template.of_type("AWS::Serverless::Function") {
        let group = function["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
            .as_str()
            .unwrap_or_else(|| panic!("{id} logs to a log group of this template"));
        let group_resource = &template.resources()[group];
        assert_eq!(group_resource["Type"], "AWS::Logs::LogGroup", "{id}");
        assert_eq!(group_resource["Properties"]["RetentionInDays"], reference("LogRetentionDays"), "{group}");
        let statements = template.statements_of_role(template.role_of(id, function));
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
    let logging = &template.value()["Globals"]["Function"]["LoggingConfig"];
    assert_eq!(logging["LogFormat"], "JSON");
    assert_eq!(logging["ApplicationLogLevel"], reference("LogLevel"));
    assert_eq!(template.parameter_default("LogLevel"), "INFO");
}

#[test]
fn every_setting_reaches_both_functions_from_a_parameter() {
    let template = Template::project();
    for binary in [AUTHORIZER, MANAGEMENT] {
        let (id, definition) = template.function(binary);
        let variables = definition["Properties"]["Environment"]["Variables"].as_object().expect("variables");
        let names: BTreeSet<&str> = variables.keys().map(String::as_str).collect();
        let mut expected: BTreeSet<&str> = SETTINGS.into();
        if binary == MANAGEMENT {
            expected.extend(CONSOLE_SETTINGS);
        }
        assert_eq!(names, expected, "{id}: the environment is exactly the settings");
        assert_eq!(variables["TABLE_NAME"], reference(template.table_id()), "{id}: TABLE_NAME");
        for variable in SETTINGS.iter().filter(|v| **v != "TABLE_NAME") {
            template.parameter_behind(id, definition, variable);
        }
        let shared = |definition: &Value| {
            let mut variables = definition["Properties"]["Environment"]["Variables"].clone();
            let map = variables.as_object_mut().expect("variables");
            map.retain(|name, _| !CONSOLE_SETTINGS.contains(&name.as_str()));
            variables
        };
        assert_eq!(
            shared(template.function(AUTHORIZER).1),
            shared(definition),
            "both functions get the same settings"
        );
    }
    // The console signs in with the JWT authorizer's issuer, as the console's client.
    let (_, management) = template.function(MANAGEMENT);
    let console = &management["Properties"]["Environment"]["Variables"];
    assert_eq!(console["CONSOLE_OIDC_ISSUER"], reference("JwtIssuer"));
    assert_eq!(console["CONSOLE_CLIENT_ID"], reference("ConsoleClientId"));
    assert_eq!(console["CONSOLE_SIGN_IN_ORIGINS"], reference("ConsoleSignInOrigins"));
    assert_eq!(template.parameter_default("ConsoleSignInOrigins"), "", "optional");
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
        ("AUDIT_RETENTION_DAYS", (limits.audit_retention.as_secs() / DAY).to_string()),
        ("OWNER_TEAM_CLAIM", claims.team),
        ("OWNER_ROLE_CLAIM", claims.role),
        ("DISPLAY_NAME_CLAIM", claims.display),
        ("LAST_USED_WINDOW_SECONDS", limits.last_used_window.as_secs().to_string()),
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
    let template = Template::project();
    assert_eq!(template.parameters()[CACHE_TTL]["Default"], 0, "{CACHE_TTL} defaults to 0 (no caching)");
    let authorizers = template.lambda_authorizers();
    assert_eq!(
        authorizers.len(),
        3,
        "the example HTTP and REST APIs each have one, and the management API one for whoami: {authorizers:?}"
    );
    for (api, name, authorizer) in authorizers {
        assert_eq!(
            authorizer["FunctionArn"],
            get_att(template.function(AUTHORIZER).0, "Arn"),
            "{api}.{name}"
        );
        // Left out, ReauthorizeEvery means API Gateway's default: 300 s on REST APIs.
        assert_eq!(authorizer["Identity"]["ReauthorizeEvery"], reference(CACHE_TTL), "{api}.{name}");
    }
}

#[test]
fn http_api_answers_are_cached_per_key_and_route() {
    let template = Template::project();
    let http: Vec<_> = template
        .lambda_authorizers()
        .into_iter()
        .filter(|(api, _, _)| template.resources()[*api]["Type"] == "AWS::Serverless::HttpApi")
        .collect();
    assert_eq!(http.len(), 2, "the example HTTP API's and the management API's (whoami)");
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
    let rest: Vec<_> = template
        .lambda_authorizers()
        .into_iter()
        .filter(|(api, _, _)| template.resources()[*api]["Type"] == "AWS::Serverless::Api")
        .collect();
    assert_eq!(rest.len(), 1);
    for (api, name, authorizer) in rest {
        // The REST answer is a policy for the key alone, so the token is the right cache key.
        assert_eq!(authorizer["FunctionPayloadType"], "TOKEN", "{api}.{name}");
        assert_eq!(authorizer["Identity"]["Header"], "Authorization", "{api}.{name}");
    }
}

#[test]
fn leak_reports_are_a_public_route_of_a_function_that_can_only_read_revoke_audit_and_notify() {
    let template = Template::project();
    let (id, leak) = template.function(LEAK_REPORT);
    let events: Vec<&Value> = leak["Properties"]["Events"].as_object().expect("events").values().collect();
    let [event] = events[..] else { panic!("{id}: one route: {events:?}") };
    let properties = &event["Properties"];
    assert_eq!(event["Type"], "HttpApi");
    assert_eq!(
        (properties["Method"].as_str(), properties["Path"].as_str()),
        (Some("POST"), Some(leak_report::PATH))
    );
    assert_eq!(properties["Auth"], json!({"Authorizer": "NONE"}), "GitHub's signature is the check");

    let statements = template.statements_of_role(template.role_of(id, leak));
    let key_items = json!([format!("{}*", items::KEY_PARTITION_PREFIX)]);
    let dynamodb = statements_for(&statements, "dynamodb");
    let reads = dynamodb
        .iter()
        .find(|s| actions(s) == BTreeSet::from(["dynamodb:GetItem".to_owned()]))
        .expect("a GetItem statement");
    assert_eq!(
        reads["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"],
        json!(["BOT#*", "TEAM#*"])
    );
    let writes = dynamodb
        .iter()
        .find(|s| actions(s) == BTreeSet::from(["dynamodb:UpdateItem".to_owned()]))
        .expect("an UpdateItem statement");
    // The revocation in its transaction: key items, the code's own list of what it touches and
    // names, nothing returned.
    assert_eq!(
        writes["Condition"],
        json!({
            "ForAllValues:StringLike": { "dynamodb:LeadingKeys": key_items },
            "ForAllValues:StringEquals": { "dynamodb:Attributes": items::KEY_REVOCATION_ATTRIBUTES },
            "StringEqualsIfExists": { "dynamodb:ReturnValues": "NONE" },
        }),
        "the leak-report function may only revoke key items"
    );
    let audit = dynamodb
        .iter()
        .find(|s| actions(s) == BTreeSet::from(["dynamodb:PutItem".to_owned()]))
        .expect("a PutItem statement");
    assert_eq!(
        audit["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"],
        json!(["AUDIT#*"]),
        "audit entries only"
    );
    assert_eq!(dynamodb.len(), 3, "no Query, Scan or DeleteItem: {dynamodb:?}");
    let sns = statements_for(&statements, "sns");
    assert_eq!(sns.len(), 1);
    assert_eq!(
        (actions(&sns[0]), &sns[0]["Resource"]),
        (BTreeSet::from(["sns:Publish".to_owned()]), &reference("ExpiryTopic"))
    );
}

#[test]
fn management_routes_are_the_documented_operations_behind_the_jwt_authorizer() {
    let template = Template::project();
    let (id, management) = template.function(MANAGEMENT);
    let events = management["Properties"]["Events"].as_object().expect("events");
    let mut apis = BTreeSet::new();
    let routes: BTreeSet<(String, String)> = events
        .values()
        .filter(|event| {
            // The console's files are the only public routes, and only for GET.
            let path = event["Properties"]["Path"].as_str().expect("Path");
            let console = path == "/console" || path == "/console/{proxy+}";
            if console {
                assert_eq!(event["Properties"]["Method"], "GET", "{event}");
                assert_eq!(event["Properties"]["Auth"], json!({"Authorizer": "NONE"}), "{event}");
            }
            !console
        })
        .map(|event| {
            assert_eq!(event["Type"], "HttpApi", "{id}: {event}");
            let properties = &event["Properties"];
            // Only routes an API key calls (whoami) are behind the key authorizer instead.
            let path = properties["Path"].as_str().expect("Path");
            let expected_auth = if key_management::routes::signed_by(path) == Some(SignedBy::ApiKey) {
                json!({"Authorizer": "NicoKey"})
            } else {
                Value::Null
            };
            assert_eq!(
                properties["Auth"], expected_auth,
                "{id}: a route overrides the JWT authorizer: {event}"
            );
            apis.insert(properties["ApiId"]["Ref"].as_str().expect("ApiId: !Ref").to_owned());
            let method = properties["Method"].as_str().expect("Method").to_lowercase();
            (method, properties["Path"].as_str().expect("Path").to_owned())
        })
        .collect();
    let documented: BTreeSet<(String, String)> = nico_keys_tests::openapi::operations().into_iter().collect();
    assert_eq!(routes, documented, "the template's routes are the OpenAPI document's operations");
    assert_eq!(apis.len(), 1, "one management API: {apis:?}");
    let api = apis.pop_first().expect("one");
    let auth = &template.resources()[&api]["Properties"]["Auth"];
    let default = auth["DefaultAuthorizer"].as_str().expect("a default authorizer");
    let jwt = &auth["Authorizers"][default];
    assert_eq!(jwt["IdentitySource"], "$request.header.Authorization");
    assert_eq!(jwt["JwtConfiguration"]["issuer"], reference("JwtIssuer"));

    // The audiences: JwtAudience, plus the console's and the CLI's client ids when given, so a
    // deploy that sets JwtAudience alone keeps working.
    for parameter in ["ConsoleClientId", "CliClientId"] {
        assert_eq!(template.parameter_default(parameter), "", "{parameter} is optional");
    }
    let audience = &jwt["JwtConfiguration"]["audience"];
    for (console, cli, expected) in [
        ("", "", &["api", "other"][..]),
        ("console-id", "", &["api", "other", "console-id"]),
        ("", "cli-id", &["api", "other", "cli-id"]),
        ("console-id", "cli-id", &["api", "other", "console-id", "cli-id"]),
    ] {
        let parameters = BTreeMap::from([
            ("JwtAudience", json!(["api", "other"])),
            ("ConsoleClientId", json!(console)),
            ("CliClientId", json!(cli)),
        ]);
        assert_eq!(evaluate(template, audience, &parameters), json!(expected), "{console:?} {cli:?}");
    }
}

/// `value` with its intrinsic functions worked out as CloudFormation would, for the few the
/// template's audience list uses, with `parameters` and the template's conditions.
pub(crate) fn evaluate(template: &Template, value: &Value, parameters: &BTreeMap<&str, Value>) -> Value {
    let text = |value: &Value| evaluate(template, value, parameters).as_str().expect("a string").to_owned();
    let strings = |value: &Value| -> Vec<String> {
        let list = evaluate(template, value, parameters);
        list.as_array().expect("a list").iter().map(text).collect()
    };
    let condition = |name: &Value| {
        let name = name.as_str().expect("a condition name");
        evaluate(template, &template.value()["Conditions"][name], parameters) == json!(true)
    };
    match value {
        Value::Array(items) => {
            Value::Array(items.iter().map(|item| evaluate(template, item, parameters)).collect())
        }
        Value::Object(object) if object.len() == 1 => {
            let (function, arguments) = object.iter().next().expect("one entry");
            let argument = |i: usize| &arguments[i];
            match function.as_str() {
                "Ref" => parameters[arguments.as_str().expect("a name")].clone(),
                "Fn::Join" => json!(strings(argument(1)).join(argument(0).as_str().expect("a separator"))),
                "Fn::Split" => {
                    let separator = argument(0).as_str().expect("a separator");
                    json!(text(argument(1)).split(separator).collect::<Vec<_>>())
                }
                "Fn::If" => {
                    evaluate(template, argument(if condition(argument(0)) { 1 } else { 2 }), parameters)
                }
                "Fn::Equals" => json!(
                    evaluate(template, argument(0), parameters)
                        == evaluate(template, argument(1), parameters)
                ),
                "Fn::Not" => json!(evaluate(template, argument(0), parameters) != json!(true)),
                "Fn::And" => json!(
                    arguments
                        .as_array()
                        .expect("a list")
                        .iter()
                        .all(|a| evaluate(template, a, parameters) == json!(true))
                ),
                "Fn::Sub" => {
                    let mut result = arguments.as_str().expect("the one-argument form").to_owned();
                    for (name, value) in parameters {
                        if let Some(value) = value.as_str() {
                            result = result.replace(&format!("${{{name}}}"), value);
                        }
                    }
                    assert!(!result.contains("${"), "unresolved: {result}");
                    json!(result)
                }
                other => panic!("{other} is not evaluated here"),
            }
        }
        other => other.clone(),
    }
}

#[test]
fn functions_are_the_workspace_binaries_on_al2023_within_api_gateway_timeouts() {
    let template = Template::project();
    for (binary, api_gateway_limit) in [(AUTHORIZER, 10), (MANAGEMENT, 30), (LEAK_REPORT, 30)] {
        let (id, function) = template.function(binary);
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
    assert_eq!(template.value()["Globals"]["Function"]["Architectures"], json!([reference("Architecture")]));
    assert_eq!(template.parameter_default("Architecture"), "arm64");
}

#[test]
fn alarms_watch_authorizer_errors_and_throttles() {
    let template = Template::project();
    let (id, _) = template.function(AUTHORIZER);
    let watched: BTreeSet<&str> = template
        .of_type("AWS::CloudWatch::Alarm")
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
    let template = Template::project();
    let outputs = template.value()["Outputs"].as_object().expect("Outputs");
    let (authorizer, _) = template.function(AUTHORIZER);
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
    assert!(exported.values().any(|v| **v == reference(template.table_id())), "the table name");
    for api in template
        .of_type("AWS::Serverless::HttpApi")
        .into_iter()
        .chain(template.of_type("AWS::Serverless::Api"))
    {
        let url = exported
            .values()
            .filter_map(|v| v["Fn::Sub"].as_str())
            .any(|s| s.contains(&format!("${{{}}}", api.0)));
        assert!(url, "no exported URL for {}", api.0);
    }
}

#[test]
fn the_management_api_logs_every_call_with_the_caller_route_and_status_and_keeps_the_log() {
    let template = Template::project();
    let settings = &template.resources()["ManagementApi"]["Properties"]["AccessLogSettings"];
    let group = settings["DestinationArn"]["Fn::GetAtt"][0].as_str().expect("a log group of this template");
    assert_eq!(settings["DestinationArn"], get_att(group, "Arn"));
    let log_group = &template.resources()[group];
    assert_eq!(log_group["Type"], "AWS::Logs::LogGroup");
    assert_eq!(log_group["DeletionPolicy"], "Retain", "the record of calls outlives the stack");
    assert_eq!(log_group["Properties"]["RetentionInDays"], reference("LogRetentionDays"));
    let format: Value = serde_json::from_str(settings["Format"].as_str().expect("a format"))
        .expect("one JSON object per call");
    for (field, variable) in [
        ("sub", "$context.authorizer.claims.sub"),
        ("route", "$context.routeKey"),
        ("status", "$context.status"),
        ("ip", "$context.identity.sourceIp"),
    ] {
        assert_eq!(format[field], variable, "{field}");
    }
}

/// API Gateway resources the test below cannot read the throttling of: every API is one of
/// SAM's, whose stage settings it checks.
const UNCHECKED_API_TYPES: [&str; 4] = [
    "AWS::ApiGateway::RestApi",
    "AWS::ApiGateway::Stage",
    "AWS::ApiGatewayV2::Api",
    "AWS::ApiGatewayV2::Stage",
];

#[test]
fn every_api_stage_is_throttled_by_parameters() {
    let template = Template::project();
    for kind in UNCHECKED_API_TYPES {
        assert!(template.of_type(kind).is_empty(), "a {kind} escapes the throttling check");
    }
    // A function event without an API id makes SAM create an implicit API, unthrottled.
    for (id, function) in template.of_type("AWS::Serverless::Function") {
        for (name, event) in function["Properties"]["Events"].as_object().into_iter().flatten() {
            let (api, kind) = match event["Type"].as_str() {
                Some("HttpApi") => (&event["Properties"]["ApiId"], "AWS::Serverless::HttpApi"),
                Some("Api") => (&event["Properties"]["RestApiId"], "AWS::Serverless::Api"),
                _ => continue,
            };
            let api = api["Ref"].as_str().unwrap_or_else(|| panic!("{id}.{name}: an implicit API"));
            assert_eq!(template.resources()[api]["Type"], kind, "{id}.{name}");
        }
    }
    // Each stage: HTTP APIs by their default route settings, REST APIs by the settings of
    // every method ("/*", "*"); both limits from parameters.
    let mut throttled = BTreeMap::new();
    for (api, resource) in template.of_type("AWS::Serverless::HttpApi") {
        throttled.insert(api, &resource["Properties"]["DefaultRouteSettings"]);
    }
    for (api, resource) in template.of_type("AWS::Serverless::Api") {
        let every_method = list(&resource["Properties"]["MethodSettings"])
            .into_iter()
            .position(|s| s["ResourcePath"] == "/*" && s["HttpMethod"] == "*")
            .unwrap_or_else(|| panic!("{api}: no MethodSettings for every method"));
        throttled.insert(api, &resource["Properties"]["MethodSettings"][every_method]);
    }
    let mut limits = BTreeMap::new();
    for (api, settings) in &throttled {
        let parameter = |setting: &str| {
            let name = settings[setting]["Ref"]
                .as_str()
                .unwrap_or_else(|| panic!("{api}: {setting} is {}, not a parameter", settings[setting]));
            let declared = &template.parameters()[name];
            assert_eq!(declared["Type"], "Number", "{name}");
            assert!(declared["MinValue"].as_u64() >= Some(1), "{name}: 0 would close the API");
            (name, declared["Default"].as_u64().expect("a default"))
        };
        let (rate, burst) = (parameter("ThrottlingRateLimit"), parameter("ThrottlingBurstLimit"));
        assert!(burst.1 >= rate.1, "{api}: a burst ({}) below the rate ({})", burst.1, rate.1);
        limits.insert(*api, (rate.0, burst.0));
    }
    assert_eq!(
        limits,
        BTreeMap::from([
            ("ExampleHttpApi", ("ExampleApiThrottleRateLimit", "ExampleApiThrottleBurstLimit")),
            ("ExampleRestApi", ("ExampleApiThrottleRateLimit", "ExampleApiThrottleBurstLimit")),
            ("ManagementApi", ("ManagementApiThrottleRateLimit", "ManagementApiThrottleBurstLimit")),
        ]),
        "the management API has its own pair: raising the example APIs' leaves it alone"
    );
}

#[test]
fn the_working_key_cap_parameter_allows_what_one_deletion_can_revoke_and_no_more() {
    let template = Template::project();
    let (id, management) = template.function(MANAGEMENT);
    let name = template.parameter_behind(id, management, "MAX_ACTIVE_KEYS_PER_BOT");
    let parameter = &template.parameters()[name];
    assert_eq!(parameter["MaxValue"], json!(nico_keys::store::MAX_WORKING_KEYS), "{name}");
    assert_eq!(parameter["MinValue"], json!(1), "{name}");
}

#[test]
fn the_authorizers_reserved_concurrency_is_set_only_when_asked_for() {
    let template = Template::project();
    assert_eq!(template.parameter_default("AuthorizerReservedConcurrency"), "");
    let (_, authorizer) = template.function(AUTHORIZER);
    let reserved = &authorizer["Properties"]["ReservedConcurrentExecutions"]["Fn::If"];
    assert_eq!(reserved[1], reference("AuthorizerReservedConcurrency"));
    assert_eq!(reserved[2], reference("AWS::NoValue"), "unset by default: a low-quota account still deploys");
    let condition = reserved[0].as_str().unwrap();
    let test = &template.value()["Conditions"][condition]["Fn::Not"][0]["Fn::Equals"];
    assert_eq!(test, &json!([reference("AuthorizerReservedConcurrency"), ""]));
}

// Expiry warnings (the notifier).

const NOTIFIER: &str = "notifier";

#[test]
fn the_notifier_may_only_query_the_expiry_index_mark_key_items_read_bot_users_and_publish() {
    let template = Template::project();
    let (id, notifier) = template.function(NOTIFIER);
    let statements = template.statements_of_role(template.role_of(id, notifier));
    let mut granted: Vec<Value> = statements_for(&statements, "dynamodb");
    granted.extend(statements_for(&statements, "sns"));
    let mut attributes: Vec<&str> = table::NOTIFIER_UPDATE_ATTRIBUTES.to_vec();
    attributes.sort_unstable();
    for statement in &mut granted {
        if let Some(list) = statement.pointer_mut("/Condition/ForAllValues:StringEquals/dynamodb:Attributes")
        {
            let mut names: Vec<&str> =
                list.as_array().expect("a list").iter().filter_map(Value::as_str).collect();
            names.sort_unstable();
            *list = json!(names);
        }
    }
    let table = template.table_id();
    assert_eq!(
        granted,
        vec![
            json!({
                "Effect": "Allow",
                "Action": ["dynamodb:Query"],
                "Resource": { "Fn::Sub": format!("${{{table}.Arn}}/index/{}", table::EXPIRY_INDEX) },
            }),
            json!({
                "Effect": "Allow",
                "Action": ["dynamodb:UpdateItem"],
                "Resource": get_att(table, "Arn"),
                "Condition": {
                    "ForAllValues:StringLike": { "dynamodb:LeadingKeys": [format!("{}*", items::KEY_PARTITION_PREFIX)] },
                    "ForAllValues:StringEquals": { "dynamodb:Attributes": attributes },
                    "StringEqualsIfExists": { "dynamodb:ReturnValues": "NONE" },
                },
            }),
            json!({
                "Effect": "Allow",
                "Action": ["dynamodb:GetItem"],
                "Resource": get_att(table, "Arn"),
                "Condition": { "ForAllValues:StringLike": { "dynamodb:LeadingKeys": ["TEAM#*"] } },
            }),
            json!({ "Effect": "Allow", "Action": ["sns:Publish"], "Resource": reference("ExpiryTopic") }),
        ],
        "no Scan, no table Query, no other writes, one topic"
    );
}

#[test]
fn the_notifier_runs_hourly_on_its_topic_within_its_claim_lease() {
    let template = Template::project();
    let (id, notifier) = template.function(NOTIFIER);
    let properties = &notifier["Properties"];
    assert_eq!(properties["Runtime"], "provided.al2023", "{id}");
    let events: Vec<&Value> = properties["Events"].as_object().expect("Events").values().collect();
    assert_eq!(events.len(), 1, "{id}: one trigger");
    assert_eq!(events[0]["Type"], "Schedule");
    assert_eq!(events[0]["Properties"]["Schedule"], "rate(1 hour)");
    let variables = &properties["Environment"]["Variables"];
    assert_eq!(variables["TABLE_NAME"], reference(template.table_id()));
    assert_eq!(variables["EXPIRY_TOPIC_ARN"], reference("ExpiryTopic"));
    let timeout = properties["Timeout"].as_i64().expect("an explicit Timeout");
    assert!(timeout < notifier::CLAIM_LEASE.num_seconds(), "a run ends before its claims lapse");
    assert_eq!(template.resources()["ExpiryTopic"]["Type"], "AWS::SNS::Topic");
    let outputs = &template.value()["Outputs"];
    assert_eq!(outputs["ExpiryTopicArn"]["Value"], reference("ExpiryTopic"));
}

#[test]
fn the_optional_email_subscription_receives_one_teams_warnings_only() {
    let template = Template::project();
    let subscriptions = template.of_type("AWS::SNS::Subscription");
    assert_eq!(subscriptions.len(), 1);
    let (_, subscription) = subscriptions[0];
    let properties = &subscription["Properties"];
    assert_eq!(properties["TopicArn"], reference("ExpiryTopic"));
    assert_eq!(properties["Protocol"], "email");
    assert_eq!(properties["Endpoint"], reference("ExpiryWarningEmail"));
    assert_eq!(properties["FilterPolicyScope"], "MessageAttributes");
    assert_eq!(
        properties["FilterPolicy"],
        json!({ "kind": [notifier::KIND], "team_id": [reference("ExpiryWarningTeamId")] })
    );
    // Created only when both parameters are given; neither is by default.
    let condition = subscription["Condition"].as_str().expect("a condition");
    let parameters: BTreeMap<&str, Value> =
        [("ExpiryWarningEmail", json!("")), ("ExpiryWarningTeamId", json!(""))].into();
    let defined = &template.value()["Conditions"][condition];
    assert_eq!(evaluate(template, defined, &parameters), json!(false));
    let parameters: BTreeMap<&str, Value> =
        [("ExpiryWarningEmail", json!("ops@example.com")), ("ExpiryWarningTeamId", json!(""))].into();
    assert_eq!(evaluate(template, defined, &parameters), json!(false), "never unfiltered");
    let parameters: BTreeMap<&str, Value> =
        [("ExpiryWarningEmail", json!("ops@example.com")), ("ExpiryWarningTeamId", json!("team-a"))].into();
    assert_eq!(evaluate(template, defined, &parameters), json!(true));
}

#[test]
fn whoami_is_behind_the_key_authorizer_and_every_valid_key_may_call_it() {
    let template = Template::project();
    let (authorizer_id, _) = template.function(AUTHORIZER);
    let nico_key = &template.resources()["ManagementApi"]["Properties"]["Auth"]["Authorizers"]["NicoKey"];
    assert_eq!(nico_key["FunctionArn"], get_att(authorizer_id, "Arn"), "{nico_key}");
    assert_eq!(nico_key["AuthorizerPayloadFormatVersion"], "2.0");
    assert_eq!(nico_key["EnableSimpleResponses"], true);
    // The default rules let any valid key through to whoami, whatever its scopes.
    let env = default_environment();
    let config = Config::from_lookup(|name| env.get(name).cloned()).unwrap();
    let narrowest = nico_keys::Scopes::parse(["projects:read"], &config.catalog).unwrap();
    assert!(config.routes.permits(&narrowest, "GET", "/v1/whoami"));
}
