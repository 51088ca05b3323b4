//! The OpenAPI document tells the truth: schema names are unique (utoipa keeps one of two types
//! with the same name, silently), and every operation accepts the fields its document lists.

use std::collections::HashMap;
use std::path::Path;

use domain::identity::Role;
use serde_json::{Map, Value, json};

use crate::helpers::*;
use crate::on_both_backends;

/// `(schema name, where)` of every type deriving `ToSchema` under `dir`, `#[schema(as = ...)]`
/// taken into account.
fn schema_types(dir: &Path, found: &mut Vec<(String, String)>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            schema_types(&path, found);
            continue;
        }
        if path.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            if !(line.contains("derive(") && line.contains("ToSchema")) {
                continue;
            }
            let mut renamed = None;
            for next in &lines[i + 1..] {
                let next = next.trim();
                if let Some(rest) = next.strip_prefix("#[schema(as = ") {
                    let path = rest.split([')', ',']).next().unwrap_or_default();
                    renamed = path.rsplit("::").next().map(str::to_string);
                }
                let item = next
                    .strip_prefix("pub struct ")
                    .or_else(|| next.strip_prefix("pub enum "));
                if let Some(item) = item {
                    let name = item
                        .split(|c: char| !c.is_alphanumeric() && c != '_')
                        .next()
                        .unwrap_or_default();
                    found.push((
                        renamed.unwrap_or_else(|| name.to_string()),
                        format!("{}:{}", path.display(), i + 1),
                    ));
                    break;
                }
            }
        }
    }
}

/// The OpenAPI document the server serves.
pub(crate) async fn document(app: &TestApp) -> Value {
    app.http
        .get(app.url("/api/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

on_both_backends!(
    every_schema_name_in_the_openapi_document_belongs_to_one_type,
    |app: TestApp| async move {
        let mut found = Vec::new();
        schema_types(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
            &mut found,
        );
        let mut by_name: HashMap<&str, Vec<&str>> = HashMap::new();
        for (name, at) in &found {
            by_name.entry(name).or_default().push(at);
        }
        let shared: Vec<String> = by_name
            .iter()
            .filter(|(_, at)| at.len() > 1)
            .map(|(name, at)| format!("{name}: {}", at.join(", ")))
            .collect();
        assert!(
            shared.is_empty(),
            "schema names used twice:\n{}",
            shared.join("\n")
        );
        // The scan sees what the document holds, so it cannot pass by finding nothing.
        let doc = document(&app).await;
        let components = doc["components"]["schemas"].as_object().unwrap();
        for name in components.keys() {
            assert!(
                by_name.contains_key(name.as_str()),
                "{name} is in the document but not found by the scan"
            );
        }
    }
);

/// Follows `$ref`s into the document's components.
fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema["$ref"].as_str() {
        Some(r) => {
            let name = r.rsplit('/').next().unwrap_or_default();
            resolve(doc, &doc["components"]["schemas"][name])
        }
        None => schema,
    }
}

/// A value for `schema`: its example, its first allowed value, or one of its type; objects
/// get every property they document, optional ones included, so each is sent at least once.
fn sample(doc: &Value, schema: &Value, depth: usize) -> Value {
    let schema = resolve(doc, schema);
    if let Some(example) = schema.get("example") {
        return example.clone();
    }
    if let Some(first) = schema["examples"].as_array().and_then(|e| e.first()) {
        return first.clone();
    }
    if let Some(first) = schema["enum"].as_array().and_then(|e| e.first()) {
        return first.clone();
    }
    for key in ["oneOf", "anyOf", "allOf"] {
        let options = schema[key]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default();
        if let Some(option) = options
            .iter()
            .find(|o| o["type"] != "null")
            .or(options.first())
        {
            return sample(doc, option, depth);
        }
    }
    let kind = match &schema["type"] {
        Value::Array(kinds) => kinds
            .iter()
            .filter_map(Value::as_str)
            .find(|k| *k != "null")
            .unwrap_or("null")
            .to_string(),
        Value::String(kind) => kind.clone(),
        _ if schema.get("properties").is_some() => "object".into(),
        _ => "string".into(),
    };
    match kind.as_str() {
        "object" if depth < 6 => {
            let mut out = Map::new();
            if let Some(properties) = schema["properties"].as_object() {
                for (name, property) in properties {
                    out.insert(name.clone(), sample(doc, property, depth + 1));
                }
            }
            Value::Object(out)
        }
        "array" => json!([sample(doc, &schema["items"], depth + 1)]),
        "integer" => json!(1),
        "number" => json!(1.5),
        "boolean" => json!(true),
        "null" => Value::Null,
        _ => match schema["format"].as_str() {
            Some("date") => json!("2030-01-15"),
            Some("date-time") => json!("2030-01-15T09:00:00Z"),
            Some("uuid") => json!(uuid::Uuid::now_v7().to_string()),
            _ => json!("sample"),
        },
    }
}

/// A path with each `{...}` parameter replaced by an id nothing has.
fn fill_with_unknown_ids(path: &str) -> String {
    let mut out = String::new();
    let mut rest = path;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        out.push_str(&uuid::Uuid::now_v7().to_string());
        rest = rest[open..]
            .find('}')
            .map_or("", |close| &rest[open + close + 1..]);
    }
    out.push_str(rest);
    out
}

/// The body serde refused: a documented field unknown, missing, or of another type.
fn refuses_a_documented_field(message: &str) -> bool {
    [
        "unknown field",
        "missing field",
        "invalid type",
        "invalid length",
    ]
    .iter()
    .any(|m| message.contains(m))
}

on_both_backends!(
    every_operation_accepts_the_fields_its_document_lists,
    |app: TestApp| async move {
        let org = app.org("Clinic").await;
        let admin = app.staff(&org, Role::OrgAdmin, &[0, 1]).await;
        let session = app.sign_in(&admin).await;
        let doc = document(&app).await;
        let mut tried = 0;
        let mut lies = Vec::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                let Some(content) = op["requestBody"]["content"].as_object() else {
                    continue;
                };
                // Path parameters get an id that does not exist: the body is read first.
                let url = app.url(&fill_with_unknown_ids(path));
                // The routes that authenticate by their body (sign-in) or their own header.
                let public = path.starts_with("/api/v1/session") || path == "/oauth/token";
                for (media, body) in content {
                    let value = body
                        .get("example")
                        .cloned()
                        .unwrap_or_else(|| sample(&doc, &body["schema"], 0));
                    // Sign-in routes would replace the session the other requests use.
                    let http = if public { &app.http } else { &session.client };
                    let request = http
                        .request(method.to_uppercase().parse().unwrap(), &url)
                        .header("x-csrf-token", &session.csrf);
                    let request = if media == "application/x-www-form-urlencoded" {
                        let pairs: Vec<(String, String)> = value
                            .as_object()
                            .unwrap()
                            .iter()
                            .map(|(k, v)| {
                                (k.clone(), v.as_str().map_or(v.to_string(), String::from))
                            })
                            .collect();
                        request.form(&pairs)
                    } else {
                        request.json(&value)
                    };
                    let response = request.send().await.unwrap();
                    let status = response.status().as_u16();
                    let text = response.text().await.unwrap_or_default();
                    assert!(status < 500, "{method} {path}: {status} {text}");
                    assert!(
                        public || status != 401,
                        "{method} {path} was not authenticated: {text}"
                    );
                    tried += 1;
                    if refuses_a_documented_field(&text) {
                        lies.push(format!("{method} {path} with {value}: {status} {text}"));
                    }
                }
            }
        }
        assert!(tried >= 30, "only {tried} request bodies in the document");
        assert!(
            lies.is_empty(),
            "documented bodies refused:\n{}",
            lies.join("\n")
        );
    }
);

on_both_backends!(
    path_parameters_match_their_path_templates,
    |app: TestApp| async move {
        let doc = document(&app).await;
        let mut wrong = Vec::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            let in_template: Vec<&str> = path
                .split('{')
                .skip(1)
                .filter_map(|rest| rest.split('}').next())
                .collect();
            for (method, op) in item.as_object().unwrap() {
                let declared: Vec<&str> = op["parameters"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|p| p["in"] == "path")
                    .filter_map(|p| p["name"].as_str())
                    .collect();
                for name in &declared {
                    if !in_template.contains(name) {
                        wrong.push(format!(
                            "{method} {path}: path parameter {name} not in the path"
                        ));
                    }
                }
                for name in &in_template {
                    if !declared.contains(name) {
                        wrong.push(format!("{method} {path}: {{{name}}} has no path parameter"));
                    }
                }
            }
        }
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    }
);
