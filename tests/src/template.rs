//! A CloudFormation (SAM) template read offline, and the readers the infrastructure tests use
//! on it: resources of a type, the function built from a Cargo binary, the role it runs as and
//! that role's policy statements, parameters and their defaults, Lambda authorizers.
//!
//! The template is parsed with `serde_norway`, which keeps CloudFormation's short tags
//! (`!Ref`, `!GetAtt`, `!Sub`, …) as tagged values; loading rewrites them into the long form
//! (`{"Ref": …}`, `{"Fn::GetAtt": [resource, attribute]}`, `{"Fn::Sub": …}`), so every reader
//! and every check works on one shape whichever tag style the template is written in.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::OnceLock;

use serde_json::{Map, Value, json};

/// A template in long form, as JSON.
#[derive(Debug)]
pub struct Template {
    root: Value,
}

impl Template {
    /// Reads and converts the template at `path`; panics, naming the file, when it cannot.
    pub fn load(path: &Path) -> Self {
        let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let yaml: serde_norway::Value =
            serde_norway::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        Self { root: json(&yaml) }
    }

    /// This project's template, `infra/template.yaml`, read once per test binary.
    pub fn project() -> &'static Self {
        static TEMPLATE: OnceLock<Template> = OnceLock::new();
        TEMPLATE.get_or_init(|| {
            let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root");
            Self::load(&workspace.join("infra/template.yaml"))
        })
    }

    /// The whole template.
    pub fn value(&self) -> &Value {
        &self.root
    }

    pub fn resources(&self) -> &Map<String, Value> {
        self.root["Resources"].as_object().expect("Resources")
    }

    pub fn parameters(&self) -> &Map<String, Value> {
        self.root["Parameters"].as_object().expect("Parameters")
    }

    /// The resources of type `kind`, as (logical id, resource).
    pub fn of_type(&self, kind: &str) -> Vec<(&str, &Value)> {
        self.resources().iter().filter(|(_, r)| r["Type"] == kind).map(|(id, r)| (id.as_str(), r)).collect()
    }

    /// The one DynamoDB table's logical id.
    pub fn table_id(&self) -> &str {
        let tables = self.of_type("AWS::DynamoDB::Table");
        assert_eq!(tables.len(), 1, "one table, got {:?}", tables.iter().map(|t| t.0).collect::<Vec<_>>());
        tables[0].0
    }

    /// The function built from the Cargo binary `binary`.
    pub fn function(&self, binary: &str) -> (&str, &Value) {
        let found: Vec<_> = self
            .of_type("AWS::Serverless::Function")
            .into_iter()
            .filter(|(_, f)| f["Metadata"]["BuildProperties"]["Binary"] == binary)
            .collect();
        assert_eq!(found.len(), 1, "exactly one function is built from the binary {binary}");
        found[0]
    }

    /// The logical id of the explicit role a function runs as (`Role: !GetAtt SomeRole.Arn`).
    pub fn role_of<'a>(&'a self, function_id: &str, function: &'a Value) -> &'a str {
        let role = &function["Properties"]["Role"];
        let id = role["Fn::GetAtt"][0]
            .as_str()
            .unwrap_or_else(|| panic!("{function_id} must run as a role of this template, has Role {role}"));
        assert_eq!(role, &get_att(id, "Arn"), "{function_id}: Role");
        assert_eq!(
            self.resources()[id]["Type"],
            "AWS::IAM::Role",
            "{function_id} runs as {id}, not an IAM role"
        );
        id
    }

    /// Every statement of every policy a role has: inline, and any policy resource naming it.
    pub fn statements_of_role(&self, role_id: &str) -> Vec<Value> {
        let role = &self.resources()[role_id]["Properties"];
        assert!(
            role.get("ManagedPolicyArns").is_none(),
            "{role_id} has managed policies; their statements cannot be checked here"
        );
        let mut documents: Vec<&Value> = role["Policies"]
            .as_array()
            .map(|policies| policies.iter().map(|p| &p["PolicyDocument"]).collect())
            .unwrap_or_default();
        for kind in ["AWS::IAM::Policy", "AWS::IAM::ManagedPolicy", "AWS::IAM::RolePolicy"] {
            for (_, policy) in self.of_type(kind) {
                let properties = &policy["Properties"];
                let roles = list(&properties["Roles"]);
                if roles.contains(&reference(role_id)) || properties["RoleName"] == reference(role_id) {
                    documents.push(&properties["PolicyDocument"]);
                }
            }
        }
        documents.into_iter().flat_map(|document| list(&document["Statement"])).collect()
    }

    /// Every policy statement anywhere in the template (any mapping with a `Statement`).
    pub fn all_statements(&self) -> Vec<Value> {
        let mut found = Vec::new();
        collect_statements(&self.root, &mut found);
        found
    }

    /// A parameter's default, as the string a function's environment would hold.
    pub fn parameter_default(&self, name: &str) -> String {
        match &self.parameters()[name]["Default"] {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            other => panic!("parameter {name} has no usable default: {other}"),
        }
    }

    /// What a function's variable is set to: the parameter it comes from.
    pub fn parameter_behind<'a>(&'a self, function_id: &str, function: &'a Value, variable: &str) -> &'a str {
        let value = &function["Properties"]["Environment"]["Variables"][variable];
        let name =
            value["Ref"].as_str().unwrap_or_else(|| panic!("{function_id}: {variable} is {value}, not !Ref"));
        assert!(
            self.parameters().contains_key(name),
            "{function_id}: {variable} refers to {name}, not a parameter"
        );
        name
    }

    /// The Lambda authorizers (`FunctionArn`) of every SAM API, as (API id, name, definition).
    pub fn lambda_authorizers(&self) -> Vec<(&str, &str, &Value)> {
        ["AWS::Serverless::Api", "AWS::Serverless::HttpApi"]
            .into_iter()
            .flat_map(|kind| self.of_type(kind))
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
}

/// `!Ref id` in long form.
pub fn reference(id: &str) -> Value {
    json!({ "Ref": id })
}

/// `!GetAtt id.attribute` in long form.
pub fn get_att(id: &str, attribute: &str) -> Value {
    json!({ "Fn::GetAtt": [id, attribute] })
}

/// A value or a list of values, as a list.
pub fn list(value: &Value) -> Vec<Value> {
    match value {
        Value::Array(items) => items.clone(),
        Value::Null => Vec::new(),
        other => vec![other.clone()],
    }
}

/// The actions of a policy statement.
pub fn actions(statement: &Value) -> BTreeSet<String> {
    list(&statement["Action"]).iter().map(|a| a.as_str().expect("an action is a string").to_owned()).collect()
}

/// Statements touching a service (an action `service:…`, or `*`).
pub fn statements_for(statements: &[Value], service: &str) -> Vec<Value> {
    let prefix = format!("{service}:");
    statements
        .iter()
        .filter(|s| {
            s.get("NotAction").is_some() || actions(s).iter().any(|a| a == "*" || a.starts_with(&prefix))
        })
        .cloned()
        .collect()
}

fn collect_statements(value: &Value, found: &mut Vec<Value>) {
    match value {
        Value::Object(map) => {
            if let Some(statement) = map.get("Statement") {
                found.extend(list(statement));
            }
            map.values().for_each(|v| collect_statements(v, found));
        }
        Value::Array(items) => items.iter().for_each(|v| collect_statements(v, found)),
        _ => {}
    }
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
