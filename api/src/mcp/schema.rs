//! Output schemas of the tools, taken from the REST API's OpenAPI 3.1 document, so that a tool
//! result and the REST response it mirrors are described by one definition.
//!
//! OpenAPI components become plain JSON Schema: references point into `$defs`, formats that
//! JSON Schema does not define (`int64`, `uint32`) are dropped, as strict validators reject
//! them, and optional properties also admit `null`, which is what the REST API actually writes
//! for an unset optional field.

use rmcp::model::JsonObject;
use serde_json::{json, Map, Value};

const COMPONENTS: &str = "#/components/schemas/";
const DEFS: &str = "#/$defs/";

/// The component `name` of `doc` (an OpenAPI 3.1 document) as a self-contained JSON Schema.
pub fn component(doc: &Value, name: &str) -> JsonObject {
    let schemas = &doc["components"]["schemas"];
    let mut reachable = Vec::new();
    collect_refs(&schemas[name], schemas, &mut reachable);
    let mut root = match adapt(&schemas[name]) {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    let defs: Map<String, Value> = reachable
        .into_iter()
        .filter(|r| r != name)
        .map(|r| {
            let schema = adapt(&schemas[&r]);
            (r, schema)
        })
        .collect();
    if !defs.is_empty() {
        root.insert("$defs".into(), Value::Object(defs));
    }
    root
}

/// Numeric formats of OpenAPI and schemars that JSON Schema does not define.
fn is_numeric_format(format: &str) -> bool {
    matches!(
        format,
        "int8"
            | "int16"
            | "int32"
            | "int64"
            | "uint8"
            | "uint16"
            | "uint32"
            | "uint64"
            | "uint"
            | "float"
            | "double"
    )
}

/// `schema` without the formats JSON Schema does not define (for the generated input schemas).
pub fn portable(schema: &JsonObject) -> JsonObject {
    fn strip(value: &Value) -> Value {
        match value {
            Value::Object(map) => Value::Object(
                map.iter()
                    .filter(|(k, v)| {
                        !(k.as_str() == "format" && v.as_str().is_some_and(is_numeric_format))
                    })
                    .map(|(k, v)| (k.clone(), strip(v)))
                    .collect(),
            ),
            Value::Array(items) => Value::Array(items.iter().map(strip).collect()),
            other => other.clone(),
        }
    }
    match strip(&Value::Object(schema.clone())) {
        Value::Object(map) => map,
        _ => JsonObject::new(),
    }
}

/// Names of every component `schema` refers to, transitively.
fn collect_refs(schema: &Value, schemas: &Value, found: &mut Vec<String>) {
    match schema {
        Value::Object(map) => {
            if let Some(name) = map
                .get("$ref")
                .and_then(Value::as_str)
                .and_then(|r| r.strip_prefix(COMPONENTS))
            {
                if !found.iter().any(|f| f == name) {
                    found.push(name.to_owned());
                    collect_refs(&schemas[name], schemas, found);
                }
            }
            map.values().for_each(|v| collect_refs(v, schemas, found));
        }
        Value::Array(items) => items.iter().for_each(|v| collect_refs(v, schemas, found)),
        _ => {}
    }
}

fn adapt(schema: &Value) -> Value {
    match schema {
        Value::Object(map) => {
            let mut out = Map::new();
            for (key, value) in map {
                match (key.as_str(), value) {
                    ("$ref", Value::String(r)) => {
                        let r = r
                            .strip_prefix(COMPONENTS)
                            .map_or(r.clone(), |n| format!("{DEFS}{n}"));
                        out.insert(key.clone(), Value::String(r));
                    }
                    ("format", Value::String(f)) if is_numeric_format(f) => {}
                    ("properties", Value::Object(props)) => {
                        let required: Vec<&str> = map
                            .get("required")
                            .and_then(Value::as_array)
                            .map(|r| r.iter().filter_map(Value::as_str).collect())
                            .unwrap_or_default();
                        let props = props
                            .iter()
                            .map(|(name, prop)| {
                                let prop = adapt(prop);
                                let prop = if required.contains(&name.as_str()) {
                                    prop
                                } else {
                                    nullable(prop)
                                };
                                (name.clone(), prop)
                            })
                            .collect();
                        out.insert(key.clone(), Value::Object(props));
                    }
                    _ => {
                        out.insert(key.clone(), adapt(value));
                    }
                }
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(adapt).collect()),
        other => other.clone(),
    }
}

/// `schema`, also admitting `null`.
fn nullable(schema: Value) -> Value {
    let Value::Object(mut map) = schema else {
        return schema;
    };
    match map.get("type").cloned() {
        Some(Value::String(ty)) => {
            map.insert("type".into(), json!([ty, "null"]));
            Value::Object(map)
        }
        Some(Value::Array(mut types)) => {
            if !types.iter().any(|t| t == "null") {
                types.push(json!("null"));
            }
            map.insert("type".into(), Value::Array(types));
            Value::Object(map)
        }
        _ => {
            let description = map.remove("description");
            let mut wrapped = Map::new();
            if let Some(d) = description {
                wrapped.insert("description".into(), d);
            }
            wrapped.insert(
                "anyOf".into(),
                json!([Value::Object(map), {"type": "null"}]),
            );
            Value::Object(wrapped)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn components_become_self_contained_json_schemas() {
        let doc = json!({"components": {"schemas": {
            "Page": {"type": "object", "required": ["items"], "properties": {
                "items": {"type": "array", "items": {"$ref": "#/components/schemas/Item"}},
                "next": {"type": "string"}
            }},
            "Item": {"type": "object", "required": ["id"], "properties": {
                "id": {"type": "string"},
                "size": {"type": "integer", "format": "int64"},
                "state": {"allOf": [{"$ref": "#/components/schemas/State"}], "description": "s"}
            }},
            "State": {"type": "string", "enum": ["a", "b"]},
            "Unused": {"type": "string"}
        }}});
        let schema = Value::Object(component(&doc, "Page"));
        assert_eq!(
            schema["properties"]["items"]["items"]["$ref"],
            "#/$defs/Item"
        );
        assert_eq!(
            schema["properties"]["next"]["type"],
            json!(["string", "null"])
        );
        let item = &schema["$defs"]["Item"];
        assert_eq!(item["properties"]["id"], json!({"type": "string"}));
        assert_eq!(
            item["properties"]["size"],
            json!({"type": ["integer", "null"]})
        );
        assert_eq!(item["properties"]["state"]["description"], "s");
        assert_eq!(
            item["properties"]["state"]["anyOf"][0]["allOf"][0]["$ref"],
            "#/$defs/State"
        );
        assert!(schema["$defs"]["State"].is_object());
        assert!(schema["$defs"].get("Unused").is_none());
        assert!(!schema.to_string().contains("components"));
    }

    #[test]
    fn portable_schemas_keep_standard_formats_only() {
        let schema: JsonObject = serde_json::from_value(json!({"properties": {
            "n": {"type": "integer", "format": "uint32", "minimum": 1},
            "at": {"type": "string", "format": "date-time"}
        }}))
        .unwrap();
        let out = Value::Object(portable(&schema));
        assert_eq!(
            out["properties"]["n"],
            json!({"type": "integer", "minimum": 1})
        );
        assert_eq!(out["properties"]["at"]["format"], "date-time");
    }
}
