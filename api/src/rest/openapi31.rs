//! Upgrades poem-openapi's OpenAPI 3.0 output to a faithful OpenAPI 3.1.0 document.
//!
//! poem-openapi 5 serialises its registry as an OpenAPI **3.0.0** document
//! (`poem-openapi/src/registry/ser.rs`, `registry/mod.rs`). [`upgrade`] rewrites
//! that JSON into an OpenAPI **3.1.0** document whose Schema Objects use the
//! OAS 3.1 base dialect (JSON Schema 2020-12), keeping the described API the same.
//!
//! The walk is structural: it visits exactly the places where OpenAPI puts
//! Schema Objects (components, parameters, headers, request bodies, responses,
//! encodings, callbacks, webhooks, and nested `properties` / `items` /
//! `additionalProperties` / `allOf` / `anyOf` / `oneOf` / `not`). Property
//! *names* such as `"example"`, `"nullable"` or `"format"` are never touched.
//!
//! Conversions:
//!
//! * `openapi: "3.0.x"` → `"3.1.0"`. `jsonSchemaDialect` is **not** added: the
//!   value we would write (`https://spec.openapis.org/oas/3.1/dialect/base`) is
//!   already the default, so it would add nothing.
//! * `nullable: true`
//!   * on a schema with `type` → `type: [<type>, "null"]` (and `null` is appended
//!     to `enum` when present, otherwise the enum would still reject null);
//!   * on a schema with `$ref` / `allOf` / `anyOf` / `oneOf` / `not` (whatever its
//!     `type`) → `anyOf: [<schema>, {"type": "null"}]`, the annotations (`title`,
//!     `description`, `default`, `deprecated`, `readOnly`, `writeOnly`,
//!     `examples`, `externalDocs`, `x-*`) stay on the outer schema;
//!   * on a schema with neither → `null` is appended to `enum` if there is one
//!     (such a schema otherwise already accepts null).
//!
//!   `nullable` (true or false) is always removed.
//! * `exclusiveMinimum: true` + `minimum: x` → `exclusiveMinimum: x` (same for
//!   the maximum); a boolean `exclusiveMinimum`/`exclusiveMaximum` that has
//!   nothing to apply to (false, or no bound) is removed.
//! * String schemas with `format: binary` → `contentMediaType`, `format` dropped.
//!   The media type is `application/octet-stream`, except for the top-level
//!   schema of a Media Type Object (request/response body, parameter/header
//!   `content`), which gets the media type of its content entry (wildcard keys
//!   such as `audio/*` fall back to `application/octet-stream`).
//!   A raw binary body — a content entry whose schema is exactly
//!   `{"type": "string", "format": "binary"}` — loses its `schema` altogether,
//!   so it becomes e.g. `"audio/mpeg": {}`. This is the form OAS 3.1.0 itself
//!   uses for binary payloads ("Considerations for File Uploads"): the bytes are
//!   not a JSON string, so `type: string` would be wrong in 3.1, and the content
//!   entry's key already states the media type.
//! * String schemas with `format: byte` (OAS 3.0 base64), `bytes` (poem-openapi's
//!   `Base64` type) or `base64` → `contentEncoding: base64`, `format` dropped.
//! * Schema `example: v` → `examples: [v]` (JSON Schema 2020-12). `example` on
//!   Media Type / Parameter / Header objects is valid 3.1 and left alone.
//! * poem-openapi's non-standard `type` values, invalid in both 3.0 and 3.1:
//!   * `"char"` (`char`) → `type: string, minLength: 1, maxLength: 1`;
//!   * `"non_zero_integer"` (`NonZero*`) → `type: integer`; unless the schema
//!     already has an exclusive bound (unsigned ones carry
//!     `exclusiveMinimum: 0`), `not: {"const": 0}` is added;
//!   * `"bytes"` with `format: "string"` (the `Base64<T>` payload) →
//!     `type: string, contentEncoding: base64`.
//! * OAuth flows without `scopes` (poem-openapi skips an empty scope list, but
//!   3.1 requires the field) get `scopes: {}`.
//! * A request body without `content` (poem-openapi skips an empty list, 3.1
//!   requires the field) gets `content: {}`.
//! * `info.license` with both `identifier` and `url` (mutually exclusive in
//!   3.1) keeps the SPDX `identifier` and drops the `url`.
//! * Empty (`{}`) members of a non-trivial `allOf` are dropped (they are what
//!   remains of poem-openapi's `{"nullable": true}` patch and constrain nothing).
//!
//! Left as is because it is already valid 3.1: `allOf: [{$ref}, {...}]`
//! wrappers, `discriminator`, `format` values other than the ones above (they
//! are annotations in 3.1), `webhooks`, `x-` extensions, `info.summary`,
//! empty `servers`/`tags`.
//!
//! The function is idempotent: upgrading an already upgraded document is a
//! no-op.

use serde_json::{json, Map, Value};

const OCTET_STREAM: &str = "application/octet-stream";

const HTTP_METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// Keywords that only annotate; they stay on the outer schema when a nullable
/// schema is wrapped into `anyOf: [<schema>, {"type": "null"}]`.
const ANNOTATIONS: [&str; 8] = [
    "title",
    "description",
    "default",
    "deprecated",
    "readOnly",
    "writeOnly",
    "examples",
    "externalDocs",
];

/// Keywords that can reject `null` even when the schema has no `type`.
const NULL_REJECTING_APPLICATORS: [&str; 5] = ["$ref", "allOf", "anyOf", "oneOf", "not"];

/// Upgrades poem-openapi's OpenAPI 3.0 document to OpenAPI 3.1.0.
///
/// See the module documentation for the exact list of conversions. Values
/// that are not JSON objects are returned unchanged.
pub fn upgrade(mut doc: Value) -> Value {
    let Some(root) = doc.as_object_mut() else {
        return doc;
    };
    root.insert("openapi".to_owned(), Value::from("3.1.0"));

    if let Some(Value::Object(license)) = root.get_mut("info").and_then(|i| i.get_mut("license")) {
        if license.contains_key("identifier") {
            license.remove("url");
        }
    }

    for_each_value(root.get_mut("paths"), upgrade_path_item);
    for_each_value(root.get_mut("webhooks"), upgrade_path_item);

    if let Some(Value::Object(components)) = root.get_mut("components") {
        for_each_value(components.get_mut("schemas"), |schema| {
            upgrade_schema(schema, OCTET_STREAM);
        });
        for_each_value(components.get_mut("parameters"), upgrade_parameter);
        for_each_value(components.get_mut("headers"), upgrade_parameter);
        for_each_value(components.get_mut("requestBodies"), upgrade_request_body);
        for_each_value(components.get_mut("responses"), upgrade_response);
        for_each_value(components.get_mut("callbacks"), upgrade_callback);
        for_each_value(components.get_mut("pathItems"), upgrade_path_item);
        for_each_value(
            components.get_mut("securitySchemes"),
            upgrade_security_scheme,
        );
    }
    doc
}

fn for_each_value(container: Option<&mut Value>, mut f: impl FnMut(&mut Value)) {
    if let Some(Value::Object(map)) = container {
        for value in map.values_mut() {
            f(value);
        }
    }
}

fn for_each_item(container: Option<&mut Value>, mut f: impl FnMut(&mut Value)) {
    if let Some(Value::Array(items)) = container {
        for item in items {
            f(item);
        }
    }
}

fn upgrade_path_item(item: &mut Value) {
    let Value::Object(item) = item else { return };
    for_each_item(item.get_mut("parameters"), upgrade_parameter);
    for method in HTTP_METHODS {
        if let Some(Value::Object(op)) = item.get_mut(method) {
            for_each_item(op.get_mut("parameters"), upgrade_parameter);
            if let Some(body) = op.get_mut("requestBody") {
                upgrade_request_body(body);
            }
            for_each_value(op.get_mut("responses"), upgrade_response);
            for_each_value(op.get_mut("callbacks"), upgrade_callback);
        }
    }
}

fn upgrade_callback(callback: &mut Value) {
    for_each_value(Some(callback), upgrade_path_item);
}

/// Parameter Objects and Header Objects share the relevant shape.
fn upgrade_parameter(param: &mut Value) {
    let Value::Object(param) = param else { return };
    if let Some(schema) = param.get_mut("schema") {
        upgrade_schema(schema, OCTET_STREAM);
    }
    upgrade_content(param.get_mut("content"));
}

fn upgrade_request_body(body: &mut Value) {
    let Value::Object(body) = body else { return };
    if !body.contains_key("$ref") && !body.contains_key("content") {
        body.insert("content".to_owned(), Value::Object(Map::new()));
    }
    upgrade_content(body.get_mut("content"));
}

fn upgrade_response(response: &mut Value) {
    let Value::Object(response) = response else {
        return;
    };
    upgrade_content(response.get_mut("content"));
    for_each_value(response.get_mut("headers"), upgrade_parameter);
}

fn upgrade_content(content: Option<&mut Value>) {
    let Some(Value::Object(content)) = content else {
        return;
    };
    for (media_type, media) in content.iter_mut() {
        let Value::Object(media) = media else {
            continue;
        };
        if media.get("schema").is_some_and(is_raw_binary) {
            media.remove("schema");
        } else if let Some(schema) = media.get_mut("schema") {
            upgrade_schema(schema, content_media_type(media_type));
        }
        for_each_value(media.get_mut("encoding"), |encoding| {
            for_each_value(encoding.get_mut("headers"), upgrade_parameter);
        });
    }
}

/// `{"type": "string", "format": "binary"}` and nothing else.
fn is_raw_binary(schema: &Value) -> bool {
    schema.as_object().is_some_and(|s| {
        s.len() == 2
            && s.get("type").and_then(Value::as_str) == Some("string")
            && s.get("format").and_then(Value::as_str) == Some("binary")
    })
}

/// `contentMediaType` must be a media type, not a range such as `audio/*`.
fn content_media_type(key: &str) -> &str {
    let key = key.trim();
    if key.contains('*') || !key.contains('/') {
        OCTET_STREAM
    } else {
        key
    }
}

fn upgrade_security_scheme(scheme: &mut Value) {
    if let Some(flows) = scheme.get_mut("flows") {
        for_each_value(Some(flows), |flow| {
            if let Value::Object(flow) = flow {
                flow.entry("scopes")
                    .or_insert_with(|| Value::Object(Map::new()));
            }
        });
    }
}

/// Upgrades one Schema Object (and, recursively, its subschemas).
///
/// `binary_media_type` is the `contentMediaType` given to this schema (not to
/// its subschemas) if it is a `format: binary` string.
fn upgrade_schema(schema: &mut Value, binary_media_type: &str) {
    let Value::Object(obj) = schema else { return };

    for key in ["items", "additionalProperties", "not"] {
        if let Some(sub) = obj.get_mut(key) {
            upgrade_schema(sub, OCTET_STREAM);
        }
    }
    for key in ["allOf", "anyOf", "oneOf"] {
        for_each_item(obj.get_mut(key), |sub| upgrade_schema(sub, OCTET_STREAM));
    }
    for_each_value(obj.get_mut("properties"), |sub| {
        upgrade_schema(sub, OCTET_STREAM);
    });

    // poem-openapi's `allOf: [{$ref}, {nullable: true}]` leaves an empty `{}`
    // member behind; an empty schema in `allOf` constrains nothing.
    if let Some(Value::Array(all_of)) = obj.get_mut("allOf") {
        if all_of.iter().any(|sub| !is_empty_schema(sub)) {
            all_of.retain(|sub| !is_empty_schema(sub));
        }
    }

    convert_exclusive_bound(obj, "exclusiveMinimum", "minimum");
    convert_exclusive_bound(obj, "exclusiveMaximum", "maximum");
    convert_poem_types(obj);
    convert_binary_formats(obj, binary_media_type);
    convert_example(obj);
    convert_nullable(obj);
}

fn is_empty_schema(schema: &Value) -> bool {
    match schema {
        Value::Object(obj) => obj.is_empty(),
        Value::Bool(b) => *b,
        _ => false,
    }
}

fn convert_exclusive_bound(obj: &mut Map<String, Value>, exclusive: &str, bound: &str) {
    match obj.get(exclusive) {
        Some(Value::Bool(true)) => {
            obj.remove(exclusive);
            if let Some(bound) = obj.remove(bound) {
                obj.insert(exclusive.to_owned(), bound);
            }
        }
        Some(Value::Bool(false)) => {
            obj.remove(exclusive);
        }
        _ => {}
    }
}

fn convert_poem_types(obj: &mut Map<String, Value>) {
    match obj.get("type").and_then(Value::as_str) {
        Some("char") => {
            obj.insert("type".to_owned(), Value::from("string"));
            obj.entry("minLength").or_insert_with(|| Value::from(1));
            obj.entry("maxLength").or_insert_with(|| Value::from(1));
        }
        Some("non_zero_integer") => {
            obj.insert("type".to_owned(), Value::from("integer"));
            let excludes_zero = obj.contains_key("exclusiveMinimum")
                || obj.contains_key("exclusiveMaximum")
                || obj.contains_key("not");
            if !excludes_zero {
                obj.insert("not".to_owned(), json!({ "const": 0 }));
            }
        }
        Some("bytes") => {
            obj.insert("type".to_owned(), Value::from("string"));
            if obj.get("format").and_then(Value::as_str) == Some("string") {
                obj.remove("format");
            }
            obj.entry("contentEncoding")
                .or_insert_with(|| Value::from("base64"));
        }
        _ => {}
    }
}

fn is_string_schema(obj: &Map<String, Value>) -> bool {
    match obj.get("type") {
        Some(Value::String(ty)) => ty == "string",
        Some(Value::Array(types)) => types.iter().any(|ty| ty == "string"),
        _ => false,
    }
}

fn convert_binary_formats(obj: &mut Map<String, Value>, binary_media_type: &str) {
    if !is_string_schema(obj) {
        return;
    }
    match obj.get("format").and_then(Value::as_str) {
        Some("binary") => {
            obj.remove("format");
            obj.entry("contentMediaType")
                .or_insert_with(|| Value::from(binary_media_type));
        }
        Some("byte" | "bytes" | "base64") => {
            obj.remove("format");
            obj.entry("contentEncoding")
                .or_insert_with(|| Value::from("base64"));
        }
        _ => {}
    }
}

fn convert_example(obj: &mut Map<String, Value>) {
    let Some(example) = obj.remove("example") else {
        return;
    };
    match obj.get_mut("examples") {
        Some(Value::Array(examples)) => {
            if !examples.contains(&example) {
                examples.insert(0, example);
            }
        }
        _ => {
            obj.insert("examples".to_owned(), Value::Array(vec![example]));
        }
    }
}

fn convert_nullable(obj: &mut Map<String, Value>) {
    if obj.remove("nullable") != Some(Value::Bool(true)) {
        return;
    }

    if NULL_REJECTING_APPLICATORS
        .iter()
        .any(|key| obj.contains_key(*key))
    {
        let mut outer = Map::new();
        let kept_outside: Vec<String> = obj
            .keys()
            .filter(|key| ANNOTATIONS.contains(&key.as_str()) || key.starts_with("x-"))
            .cloned()
            .collect();
        for key in kept_outside {
            if let Some(value) = obj.remove(&key) {
                outer.insert(key, value);
            }
        }
        let inner = std::mem::take(obj);
        outer.insert(
            "anyOf".to_owned(),
            json!([Value::Object(inner), { "type": "null" }]),
        );
        *obj = outer;
        return;
    }

    match obj.get_mut("type") {
        Some(Value::String(ty)) if ty != "null" => {
            let ty = std::mem::take(ty);
            obj.insert("type".to_owned(), json!([ty, "null"]));
        }
        Some(Value::Array(types)) if !types.iter().any(|ty| ty == "null") => {
            types.push(Value::from("null"));
        }
        _ => {}
    }
    if let Some(Value::Array(values)) = obj.get_mut("enum") {
        if !values.contains(&Value::Null) {
            values.push(Value::Null);
        }
    }
}

/// Operations whose `operationId` is `operation_id`, wherever they are in `paths`.
fn operations_mut<'a>(
    doc: &'a mut Value,
    operation_id: &'a str,
) -> impl Iterator<Item = &'a mut Map<String, Value>> + 'a {
    doc.get_mut("paths")
        .and_then(Value::as_object_mut)
        .into_iter()
        .flat_map(|paths| paths.values_mut())
        .filter_map(Value::as_object_mut)
        .flat_map(|item| {
            item.iter_mut()
                .filter(|(method, _)| HTTP_METHODS.contains(&method.as_str()))
                .map(|(_, op)| op)
        })
        .filter_map(Value::as_object_mut)
        .filter(move |op| op.get("operationId").and_then(Value::as_str) == Some(operation_id))
}

/// Adds [Link Objects](https://spec.openapis.org/oas/v3.1.0#link-object) to the `status`
/// response of the operation `operation_id` (poem-openapi cannot declare links). `links` maps
/// link names to Link Objects; existing links of the same name are replaced.
pub fn add_links(doc: &mut Value, operation_id: &str, status: &str, links: Map<String, Value>) {
    for op in operations_mut(doc, operation_id) {
        let Some(Value::Object(response)) = op
            .get_mut("responses")
            .and_then(|responses| responses.get_mut(status))
        else {
            continue;
        };
        let entry = response
            .entry("links")
            .or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(existing) = entry {
            existing.extend(links.clone());
        }
    }
}

/// Merges `keywords` into the schema of parameter `name` (in `location`) of the operation
/// `operation_id`: for constraints the handler enforces itself on a parameter it reads raw.
pub fn refine_parameter(
    doc: &mut Value,
    operation_id: &str,
    location: &str,
    name: &str,
    keywords: &Map<String, Value>,
) {
    for op in operations_mut(doc, operation_id) {
        let Some(Value::Array(params)) = op.get_mut("parameters") else {
            continue;
        };
        for param in params
            .iter_mut()
            .filter(|p| p["in"] == location && p["name"] == name)
        {
            if let Some(Value::Object(schema)) = param.get_mut("schema") {
                schema.extend(keywords.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Minimal valid 3.0 document with `schema` as `components.schemas.S`.
    fn doc_with_schema(schema: Value) -> Value {
        json!({
            "openapi": "3.0.0",
            "info": { "title": "t", "version": "1" },
            "paths": {},
            "components": { "schemas": { "S": schema } }
        })
    }

    fn upgraded_schema(schema: Value) -> Value {
        upgrade(doc_with_schema(schema))["components"]["schemas"]["S"].take()
    }

    /// Minimal document with one `POST /x` operation built from `op`.
    fn doc_with_operation(op: Value) -> Value {
        json!({
            "openapi": "3.0.0",
            "info": { "title": "t", "version": "1" },
            "paths": { "/x": { "post": op } }
        })
    }

    fn upgraded_operation(op: Value) -> Value {
        upgrade(doc_with_operation(op))["paths"]["/x"]["post"].take()
    }

    #[test]
    fn sets_version_and_keeps_the_rest() {
        let doc = json!({
            "openapi": "3.0.0",
            "info": { "title": "t", "version": "1", "summary": "s",
                      "license": { "name": "MIT", "url": "https://opensource.org/licenses/MIT" } },
            "servers": [],
            "tags": [],
            "paths": {},
            "components": { "schemas": {} },
            "externalDocs": { "url": "https://example.com" }
        });
        let mut expected = doc.clone();
        expected["openapi"] = json!("3.1.0");
        let out = upgrade(doc);
        assert_eq!(out, expected);
        // Redundant with the default, so not emitted.
        assert!(out.get("jsonSchemaDialect").is_none());
    }

    #[test]
    fn non_object_input_is_returned_unchanged() {
        assert_eq!(upgrade(json!(null)), json!(null));
        assert_eq!(upgrade(json!([1])), json!([1]));
    }

    #[test]
    fn license_identifier_wins_over_url() {
        let mut doc = doc_with_schema(json!({}));
        doc["info"]["license"] = json!({
            "name": "MIT",
            "identifier": "MIT",
            "url": "https://opensource.org/licenses/MIT"
        });
        assert_eq!(
            upgrade(doc)["info"]["license"],
            json!({ "name": "MIT", "identifier": "MIT" })
        );
    }

    #[test]
    fn nullable_with_type_becomes_type_array() {
        assert_eq!(
            upgraded_schema(json!({ "type": "string", "description": "d", "nullable": true })),
            json!({ "type": ["string", "null"], "description": "d" })
        );
        assert_eq!(
            upgraded_schema(json!({ "type": "integer", "format": "int64", "nullable": true })),
            json!({ "type": ["integer", "null"], "format": "int64" })
        );
    }

    #[test]
    fn nullable_false_and_typeless_nullable_are_dropped() {
        assert_eq!(
            upgraded_schema(json!({ "type": "string", "nullable": false })),
            json!({ "type": "string" })
        );
        // No `type`: the schema already accepts null.
        assert_eq!(
            upgraded_schema(json!({ "description": "anything", "nullable": true })),
            json!({ "description": "anything" })
        );
    }

    #[test]
    fn nullable_enum_gets_null_member() {
        assert_eq!(
            upgraded_schema(json!({ "type": "string", "enum": ["a", "b"], "nullable": true })),
            json!({ "type": ["string", "null"], "enum": ["a", "b", null] })
        );
        assert_eq!(
            upgraded_schema(json!({ "enum": [1, 2], "nullable": true })),
            json!({ "enum": [1, 2, null] })
        );
        // Not nullable: enum untouched.
        assert_eq!(
            upgraded_schema(json!({ "type": "string", "enum": ["a"] })),
            json!({ "type": "string", "enum": ["a"] })
        );
    }

    #[test]
    fn nullable_ref_is_wrapped_in_any_of() {
        assert_eq!(
            upgraded_schema(json!({
                "$ref": "#/components/schemas/T",
                "description": "d",
                "nullable": true
            })),
            json!({
                "description": "d",
                "anyOf": [{ "$ref": "#/components/schemas/T" }, { "type": "null" }]
            })
        );
    }

    #[test]
    fn poem_nullable_ref_field_is_wrapped_in_any_of() {
        // What poem-openapi emits for `#[oai(nullable)] owner: Option<Owner>`.
        let poem = json!({
            "description": "Owner",
            "nullable": true,
            "allOf": [
                { "$ref": "#/components/schemas/Owner" },
                { "description": "Owner", "nullable": true }
            ]
        });
        assert_eq!(
            upgraded_schema(poem),
            json!({
                "description": "Owner",
                "anyOf": [
                    { "allOf": [
                        { "$ref": "#/components/schemas/Owner" },
                        { "description": "Owner" }
                    ] },
                    { "type": "null" }
                ]
            })
        );
    }

    #[test]
    fn empty_all_of_members_left_by_nullable_patches_are_dropped() {
        // What poem-openapi emits for `#[oai(nullable)] status: Option<ClipStatus>`.
        let poem = json!({
            "nullable": true,
            "allOf": [{ "$ref": "#/components/schemas/ClipStatus" }, { "nullable": true }]
        });
        assert_eq!(
            upgraded_schema(poem),
            json!({ "anyOf": [
                { "allOf": [{ "$ref": "#/components/schemas/ClipStatus" }] },
                { "type": "null" }
            ] })
        );
        // Never empties an allOf.
        assert_eq!(
            upgraded_schema(json!({ "allOf": [{}, {}] })),
            json!({ "allOf": [{}, {}] })
        );
    }

    #[test]
    fn nullable_composition_keeps_constraints_inside_and_annotations_outside() {
        let schema = json!({
            "type": "object",
            "title": "Pet",
            "default": null,
            "readOnly": true,
            "x-internal": true,
            "example": { "kind": "cat" },
            "oneOf": [
                { "$ref": "#/components/schemas/Cat" },
                { "$ref": "#/components/schemas/Dog" }
            ],
            "discriminator": { "propertyName": "kind" },
            "nullable": true
        });
        assert_eq!(
            upgraded_schema(schema),
            json!({
                "title": "Pet",
                "default": null,
                "readOnly": true,
                "x-internal": true,
                "examples": [{ "kind": "cat" }],
                "anyOf": [
                    {
                        "type": "object",
                        "oneOf": [
                            { "$ref": "#/components/schemas/Cat" },
                            { "$ref": "#/components/schemas/Dog" }
                        ],
                        "discriminator": { "propertyName": "kind" }
                    },
                    { "type": "null" }
                ]
            })
        );
        // An existing anyOf moves inside the wrapper instead of colliding.
        assert_eq!(
            upgraded_schema(
                json!({ "anyOf": [{ "type": "string" }, { "type": "integer" }], "nullable": true })
            ),
            json!({ "anyOf": [
                { "anyOf": [{ "type": "string" }, { "type": "integer" }] },
                { "type": "null" }
            ] })
        );
    }

    #[test]
    fn boolean_exclusive_bounds_become_numbers() {
        assert_eq!(
            upgraded_schema(json!({
                "type": "integer",
                "minimum": 0.0, "exclusiveMinimum": true,
                "maximum": 10.0, "exclusiveMaximum": true
            })),
            json!({ "type": "integer", "exclusiveMinimum": 0.0, "exclusiveMaximum": 10.0 })
        );
        assert_eq!(
            upgraded_schema(json!({
                "type": "number",
                "minimum": 1, "exclusiveMinimum": false,
                "maximum": 5, "exclusiveMaximum": false
            })),
            json!({ "type": "number", "minimum": 1, "maximum": 5 })
        );
        // `true` without a bound constrains nothing.
        assert_eq!(
            upgraded_schema(json!({ "type": "number", "exclusiveMaximum": true })),
            json!({ "type": "number" })
        );
        // Already 3.1: untouched.
        assert_eq!(
            upgraded_schema(json!({ "type": "number", "minimum": 1, "exclusiveMaximum": 3 })),
            json!({ "type": "number", "minimum": 1, "exclusiveMaximum": 3 })
        );
    }

    #[test]
    fn nested_binary_strings_get_octet_stream_media_type() {
        // poem-openapi's multipart form with `Upload` and `Vec<Upload>` fields.
        let op = json!({
            "requestBody": {
                "content": { "multipart/form-data": { "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "name": { "type": "string" },
                        "file": { "type": "string", "format": "binary" },
                        "files": {
                            "type": "array",
                            "items": { "type": "string", "format": "binary" }
                        }
                    }
                } } },
                "required": true
            },
            "responses": { "204": { "description": "" } }
        });
        let out = upgraded_operation(op);
        assert_eq!(
            out["requestBody"]["content"]["multipart/form-data"]["schema"],
            json!({
                "type": "object",
                "required": ["file"],
                "properties": {
                    "name": { "type": "string" },
                    "file": { "type": "string", "contentMediaType": "application/octet-stream" },
                    "files": { "type": "array", "items": {
                        "type": "string", "contentMediaType": "application/octet-stream"
                    } }
                }
            })
        );
    }

    #[test]
    fn raw_binary_bodies_drop_their_schema() {
        let binary = json!({ "type": "string", "format": "binary" });
        let op = json!({
            "requestBody": {
                "content": {
                    "audio/mpeg": { "schema": binary },
                    "audio/wav": { "schema": binary },
                    "application/octet-stream": { "schema": binary }
                },
                "required": true
            },
            "responses": { "200": {
                "description": "",
                "content": { "audio/*": { "schema": binary } }
            } }
        });
        let out = upgraded_operation(op);
        assert_eq!(
            out["requestBody"],
            json!({
                "content": { "audio/mpeg": {}, "audio/wav": {}, "application/octet-stream": {} },
                "required": true
            })
        );
        assert_eq!(out["responses"]["200"]["content"], json!({ "audio/*": {} }));
    }

    #[test]
    fn annotated_binary_body_uses_its_content_media_type() {
        let op = json!({
            "requestBody": { "content": {
                "audio/ogg": { "schema": {
                    "type": "string", "format": "binary", "description": "Ogg Vorbis audio"
                } },
                "audio/*": { "schema": {
                    "type": "string", "format": "binary", "maxLength": 10
                } }
            } },
            "responses": { "204": { "description": "" } }
        });
        let out = upgraded_operation(op);
        assert_eq!(
            out["requestBody"]["content"],
            json!({
                "audio/ogg": { "schema": {
                    "type": "string",
                    "contentMediaType": "audio/ogg",
                    "description": "Ogg Vorbis audio"
                } },
                "audio/*": { "schema": {
                    "type": "string",
                    "contentMediaType": "application/octet-stream",
                    "maxLength": 10
                } }
            })
        );
    }

    #[test]
    fn base64_formats_become_content_encoding() {
        for format in ["byte", "bytes", "base64"] {
            assert_eq!(
                upgraded_schema(json!({ "type": "string", "format": format })),
                json!({ "type": "string", "contentEncoding": "base64" }),
                "format {format}"
            );
        }
        // Non-string schemas are not touched.
        assert_eq!(
            upgraded_schema(json!({ "type": "integer", "format": "byte" })),
            json!({ "type": "integer", "format": "byte" })
        );
        // Other formats are valid annotations in 3.1.
        assert_eq!(
            upgraded_schema(json!({ "type": "string", "format": "uuid" })),
            json!({ "type": "string", "format": "uuid" })
        );
    }

    #[test]
    fn poem_base64_payload_becomes_base64_string() {
        // poem-openapi's `Base64<T>` payload schema.
        let op = json!({
            "requestBody": { "content": {
                "text/plain; charset=utf-8": { "schema": { "type": "bytes", "format": "string" } }
            }, "required": true },
            "responses": { "204": { "description": "" } }
        });
        assert_eq!(
            upgraded_operation(op)["requestBody"]["content"],
            json!({ "text/plain; charset=utf-8": { "schema": {
                "type": "string", "contentEncoding": "base64"
            } } })
        );
    }

    #[test]
    fn poem_char_and_non_zero_types_become_standard() {
        assert_eq!(
            upgraded_schema(json!({ "type": "char" })),
            json!({ "type": "string", "minLength": 1, "maxLength": 1 })
        );
        // NonZeroI32
        assert_eq!(
            upgraded_schema(json!({ "type": "non_zero_integer", "format": "int32" })),
            json!({ "type": "integer", "format": "int32", "not": { "const": 0 } })
        );
        // NonZeroU32
        assert_eq!(
            upgraded_schema(json!({
                "type": "non_zero_integer", "format": "uint32",
                "minimum": 0.0, "exclusiveMinimum": true
            })),
            json!({ "type": "integer", "format": "uint32", "exclusiveMinimum": 0.0 })
        );
    }

    #[test]
    fn schema_example_becomes_examples() {
        assert_eq!(
            upgraded_schema(json!({ "type": "string", "example": "hi" })),
            json!({ "type": "string", "examples": ["hi"] })
        );
        assert_eq!(
            upgraded_schema(json!({ "type": "string", "example": null })),
            json!({ "type": "string", "examples": [null] })
        );
        assert_eq!(
            upgraded_schema(json!({ "type": "string", "example": "a", "examples": ["b"] })),
            json!({ "type": "string", "examples": ["a", "b"] })
        );
    }

    #[test]
    fn media_type_and_parameter_examples_are_kept() {
        let op = json!({
            "parameters": [{
                "name": "q", "in": "query", "example": "x",
                "schema": { "type": "string", "example": "y" }
            }],
            "requestBody": { "content": { "application/json": {
                "example": { "a": 1 },
                "schema": { "type": "object" }
            } } },
            "responses": { "204": { "description": "" } }
        });
        let out = upgraded_operation(op);
        assert_eq!(
            out["parameters"][0],
            json!({
                "name": "q", "in": "query", "example": "x",
                "schema": { "type": "string", "examples": ["y"] }
            })
        );
        assert_eq!(
            out["requestBody"]["content"]["application/json"],
            json!({ "example": { "a": 1 }, "schema": { "type": "object" } })
        );
    }

    #[test]
    fn property_names_that_look_like_keywords_are_not_touched() {
        let schema = json!({
            "type": "object",
            "properties": {
                "example": { "type": "string" },
                "nullable": { "type": "boolean" },
                "format": { "type": "string", "format": "binary" },
                "exclusiveMinimum": { "type": "boolean" }
            }
        });
        assert_eq!(
            upgraded_schema(schema),
            json!({
                "type": "object",
                "properties": {
                    "example": { "type": "string" },
                    "nullable": { "type": "boolean" },
                    "format": { "type": "string", "contentMediaType": "application/octet-stream" },
                    "exclusiveMinimum": { "type": "boolean" }
                }
            })
        );
    }

    #[test]
    fn all_schema_locations_are_visited() {
        let s = || json!({ "type": "string", "nullable": true });
        let converted = json!({ "type": ["string", "null"] });
        let op = json!({
            "parameters": [{ "name": "p", "in": "query", "schema": s() }],
            "requestBody": { "content": { "multipart/form-data": {
                "schema": { "type": "object" },
                "encoding": { "f": { "headers": { "X-E": { "schema": s() } } } }
            } } },
            "responses": { "200": {
                "description": "",
                "headers": { "X-H": { "schema": s() } },
                "content": { "application/json": { "schema": {
                    "type": "object",
                    "additionalProperties": s(),
                    "properties": { "n": { "not": s() }, "a": { "type": "array", "items": s() } },
                    "allOf": [s()], "oneOf": [s()], "anyOf": [s()]
                } } }
            } },
            "callbacks": { "cb": { "{$request.body#/url}": { "post": {
                "parameters": [{ "name": "c", "in": "header", "schema": s() }],
                "responses": { "204": { "description": "" } }
            } } } }
        });
        let doc = json!({
            "openapi": "3.0.0",
            "info": { "title": "t", "version": "1" },
            "paths": { "/x": {
                "parameters": [{ "name": "pp", "in": "query", "schema": s() }],
                "post": op
            } },
            "webhooks": { "w": { "post": {
                "requestBody": { "content": { "application/json": { "schema": s() } } },
                "responses": { "204": { "description": "" } }
            } } },
            "components": {
                "schemas": { "S": s() },
                "parameters": { "P": { "name": "p", "in": "query", "schema": s() } },
                "headers": { "H": { "schema": s() } },
                "requestBodies": { "B": { "content": { "application/json": { "schema": s() } } } },
                "responses": { "R": { "description": "", "content": {
                    "application/json": { "schema": s() }
                } } },
                "pathItems": { "I": { "get": {
                    "parameters": [{ "name": "i", "in": "query", "content": {
                        "application/json": { "schema": s() }
                    } }],
                    "responses": { "204": { "description": "" } }
                } } }
            }
        });
        let out = upgrade(doc);
        let post = &out["paths"]["/x"]["post"];
        let body = &post["responses"]["200"]["content"]["application/json"]["schema"];
        let c = &out["components"];
        for (at, value) in [
            (
                "path-level parameter",
                &out["paths"]["/x"]["parameters"][0]["schema"],
            ),
            ("operation parameter", &post["parameters"][0]["schema"]),
            (
                "encoding header",
                &post["requestBody"]["content"]["multipart/form-data"]["encoding"]["f"]["headers"]
                    ["X-E"]["schema"],
            ),
            (
                "response header",
                &post["responses"]["200"]["headers"]["X-H"]["schema"],
            ),
            ("additionalProperties", &body["additionalProperties"]),
            ("not", &body["properties"]["n"]["not"]),
            ("items", &body["properties"]["a"]["items"]),
            ("allOf", &body["allOf"][0]),
            ("oneOf", &body["oneOf"][0]),
            ("anyOf", &body["anyOf"][0]),
            (
                "callback",
                &post["callbacks"]["cb"]["{$request.body#/url}"]["post"]["parameters"][0]["schema"],
            ),
            (
                "webhook",
                &out["webhooks"]["w"]["post"]["requestBody"]["content"]["application/json"]
                    ["schema"],
            ),
            ("components.schemas", &c["schemas"]["S"]),
            ("components.parameters", &c["parameters"]["P"]["schema"]),
            ("components.headers", &c["headers"]["H"]["schema"]),
            (
                "components.requestBodies",
                &c["requestBodies"]["B"]["content"]["application/json"]["schema"],
            ),
            (
                "components.responses",
                &c["responses"]["R"]["content"]["application/json"]["schema"],
            ),
            (
                "parameter content",
                &c["pathItems"]["I"]["get"]["parameters"][0]["content"]["application/json"]
                    ["schema"],
            ),
        ] {
            assert_eq!(value, &converted, "{at}");
        }
    }

    #[test]
    fn oauth_flows_without_scopes_get_empty_scopes() {
        let mut doc = doc_with_schema(json!({}));
        doc["components"]["securitySchemes"] = json!({
            "OAuth": { "type": "oauth2", "flows": {
                "clientCredentials": { "tokenUrl": "https://auth.example/token" },
                "implicit": {
                    "authorizationUrl": "https://auth.example/authorize",
                    "scopes": { "read": "Read clips" }
                }
            } },
            "Bearer": { "type": "http", "scheme": "bearer" }
        });
        assert_eq!(
            upgrade(doc)["components"]["securitySchemes"],
            json!({
                "OAuth": { "type": "oauth2", "flows": {
                    "clientCredentials": { "tokenUrl": "https://auth.example/token", "scopes": {} },
                    "implicit": {
                        "authorizationUrl": "https://auth.example/authorize",
                        "scopes": { "read": "Read clips" }
                    }
                } },
                "Bearer": { "type": "http", "scheme": "bearer" }
            })
        );
    }

    #[test]
    fn request_body_without_content_gets_empty_content() {
        let op = json!({
            "requestBody": { "required": true },
            "responses": { "204": { "description": "" } }
        });
        assert_eq!(
            upgraded_operation(op)["requestBody"],
            json!({ "required": true, "content": {} })
        );
    }

    /// A document shaped exactly like poem-openapi 5.1's output for a small
    /// voicebin-like API (generated from real `#[derive(Object)]`, `Enum`,
    /// `ApiRequest`, `ApiResponse` and `#[OpenApi]` code, then trimmed).
    fn realistic_poem_doc() -> Value {
        let binary = json!({ "type": "string", "format": "binary" });
        let problem = json!({ "schema": { "$ref": "#/components/schemas/Problem" } });
        json!({
            "openapi": "3.0.0",
            "info": {
                "title": "voicebin",
                "version": "1.0.0",
                "license": {
                    "name": "MIT",
                    "identifier": "MIT",
                    "url": "https://opensource.org/licenses/MIT"
                }
            },
            "servers": [{ "url": "http://localhost:3000" }],
            "tags": [{ "name": "Clips", "description": "Audio clips" }],
            "paths": {
                "/clips": {
                    "get": {
                        "tags": ["Clips"],
                        "summary": "List clips",
                        "parameters": [
                            {
                                "name": "limit",
                                "schema": {
                                    "type": "integer",
                                    "format": "uint32",
                                    "maximum": 100.0,
                                    "minimum": 1.0
                                },
                                "in": "query",
                                "description": "page size",
                                "required": false,
                                "deprecated": false,
                                "explode": true
                            },
                            {
                                "name": "q",
                                "schema": { "type": "string", "default": "", "maxLength": 10 },
                                "in": "query",
                                "required": false,
                                "deprecated": false,
                                "explode": true
                            }
                        ],
                        "responses": {
                            "200": {
                                "description": "",
                                "content": { "application/json; charset=utf-8": { "schema": {
                                    "type": "array",
                                    "items": { "$ref": "#/components/schemas/Clip" }
                                } } }
                            },
                            "400": {
                                "description": "",
                                "content": { "application/problem+json": problem }
                            }
                        },
                        "operationId": "list_clips"
                    },
                    "post": {
                        "tags": ["Clips"],
                        "summary": "Upload a clip",
                        "requestBody": {
                            "content": {
                                "audio/mpeg": { "schema": binary },
                                "audio/wav": { "schema": binary },
                                "application/octet-stream": { "schema": binary }
                            },
                            "required": true
                        },
                        "responses": {
                            "201": {
                                "description": "",
                                "content": { "application/json; charset=utf-8": {
                                    "schema": { "$ref": "#/components/schemas/Clip" }
                                } },
                                "headers": {
                                    "LOCATION": {
                                        "required": true,
                                        "deprecated": false,
                                        "schema": { "type": "string" }
                                    },
                                    "X-RATE-REMAINING": {
                                        "required": true,
                                        "deprecated": false,
                                        "schema": {
                                            "type": "non_zero_integer",
                                            "format": "uint32",
                                            "minimum": 0.0,
                                            "exclusiveMinimum": true
                                        }
                                    }
                                }
                            },
                            "400": {
                                "description": "",
                                "content": { "application/problem+json": problem }
                            }
                        },
                        "security": [{ "OAuth": [] }],
                        "operationId": "upload_clip"
                    }
                },
                "/clips/{id}/audio": {
                    "get": {
                        "tags": ["Clips"],
                        "parameters": [{
                            "name": "id",
                            "schema": { "type": "string" },
                            "in": "path",
                            "required": true,
                            "deprecated": false,
                            "explode": true
                        }],
                        "responses": {
                            "200": {
                                "description": "",
                                "content": { "application/octet-stream": { "schema": binary } },
                                "headers": { "Content-Disposition": {
                                    "description": "Inline or attachment.",
                                    "required": true,
                                    "deprecated": false,
                                    "schema": { "type": "string" }
                                } }
                            },
                            "404": {
                                "description": "",
                                "content": { "application/problem+json": problem }
                            }
                        }
                    }
                }
            },
            "components": {
                "schemas": {
                    "Clip": {
                        "type": "object",
                        "title": "Clip",
                        "description": "Audio clip metadata.",
                        "required": ["id", "title", "duration_ms", "channels"],
                        "properties": {
                            "id": { "type": "string", "description": "Clip id" },
                            "title": { "type": "string" },
                            "description": {
                                "type": "string",
                                "description": "Optional description",
                                "nullable": true
                            },
                            "status": {
                                "nullable": true,
                                "allOf": [
                                    { "$ref": "#/components/schemas/ClipStatus" },
                                    { "nullable": true }
                                ]
                            },
                            "owner": {
                                "description": "Owner",
                                "nullable": true,
                                "allOf": [
                                    { "$ref": "#/components/schemas/Owner" },
                                    { "description": "Owner", "nullable": true }
                                ]
                            },
                            "duration_ms": {
                                "type": "integer",
                                "format": "uint64",
                                "minimum": 0.0,
                                "exclusiveMinimum": true
                            },
                            "loudness": { "type": "number", "format": "double", "maximum": 0.0 },
                            "channels": {
                                "type": "non_zero_integer",
                                "format": "uint32",
                                "minimum": 0.0,
                                "exclusiveMinimum": true
                            },
                            "thumbnail": { "type": "string", "format": "bytes" }
                        },
                        "example": {
                            "channels": 2,
                            "description": null,
                            "duration_ms": 10,
                            "id": "c1",
                            "owner": null,
                            "status": "ready",
                            "title": "t"
                        }
                    },
                    "ClipStatus": {
                        "type": "string",
                        "description": "Processing state of a clip.",
                        "enum": ["pending", "ready", "failed"]
                    },
                    "Owner": {
                        "type": "object",
                        "title": "Owner",
                        "required": ["id"],
                        "properties": { "id": { "type": "string" } }
                    },
                    "Problem": {
                        "type": "object",
                        "title": "Problem",
                        "description": "RFC 9457 problem details.",
                        "required": ["type", "title", "status"],
                        "properties": {
                            "type": { "type": "string" },
                            "title": { "type": "string" },
                            "status": { "type": "integer", "format": "uint16" },
                            "detail": { "type": "string" }
                        }
                    }
                },
                "securitySchemes": {
                    "OAuth": {
                        "type": "oauth2",
                        "flows": {
                            "clientCredentials": { "tokenUrl": "https://auth.example/token" }
                        }
                    }
                }
            }
        })
    }

    #[test]
    fn realistic_document_is_upgraded() {
        let out = upgrade(realistic_poem_doc());

        assert_eq!(out["openapi"], json!("3.1.0"));
        assert_eq!(
            out["info"]["license"],
            json!({ "name": "MIT", "identifier": "MIT" })
        );
        assert_eq!(
            out["components"]["securitySchemes"]["OAuth"]["flows"]["clientCredentials"],
            json!({ "tokenUrl": "https://auth.example/token", "scopes": {} })
        );

        let list = &out["paths"]["/clips"]["get"];
        assert_eq!(
            list["parameters"][0]["schema"],
            json!({ "type": "integer", "format": "uint32", "maximum": 100.0, "minimum": 1.0 })
        );
        assert_eq!(
            list["responses"]["400"]["content"]["application/problem+json"],
            json!({ "schema": { "$ref": "#/components/schemas/Problem" } })
        );

        let upload = &out["paths"]["/clips"]["post"];
        assert_eq!(
            upload["requestBody"],
            json!({
                "content": { "audio/mpeg": {}, "audio/wav": {}, "application/octet-stream": {} },
                "required": true
            })
        );
        assert_eq!(
            upload["responses"]["201"]["headers"]["X-RATE-REMAINING"],
            json!({
                "required": true,
                "deprecated": false,
                "schema": { "type": "integer", "format": "uint32", "exclusiveMinimum": 0.0 }
            })
        );
        assert_eq!(
            out["paths"]["/clips/{id}/audio"]["get"]["responses"]["200"]["content"],
            json!({ "application/octet-stream": {} })
        );

        let clip = &out["components"]["schemas"]["Clip"];
        assert_eq!(
            clip["properties"],
            json!({
                "id": { "type": "string", "description": "Clip id" },
                "title": { "type": "string" },
                "description": {
                    "type": ["string", "null"],
                    "description": "Optional description"
                },
                "status": { "anyOf": [
                    { "allOf": [{ "$ref": "#/components/schemas/ClipStatus" }] },
                    { "type": "null" }
                ] },
                "owner": {
                    "description": "Owner",
                    "anyOf": [
                        { "allOf": [
                            { "$ref": "#/components/schemas/Owner" },
                            { "description": "Owner" }
                        ] },
                        { "type": "null" }
                    ]
                },
                "duration_ms": { "type": "integer", "format": "uint64", "exclusiveMinimum": 0.0 },
                "loudness": { "type": "number", "format": "double", "maximum": 0.0 },
                "channels": { "type": "integer", "format": "uint32", "exclusiveMinimum": 0.0 },
                "thumbnail": { "type": "string", "contentEncoding": "base64" }
            })
        );
        assert!(clip.get("example").is_none());
        assert_eq!(clip["examples"][0]["status"], json!("ready"));
        // Untouched parts.
        let input = realistic_poem_doc();
        for name in ["ClipStatus", "Owner", "Problem"] {
            assert_eq!(
                out["components"]["schemas"][name],
                input["components"]["schemas"][name]
            );
        }
        assert_no_openapi30_leftovers(&out);
    }

    #[test]
    fn upgrade_is_idempotent() {
        let once = upgrade(realistic_poem_doc());
        assert_eq!(upgrade(once.clone()), once);
    }

    /// Fails on any 3.0-only construct left in a Schema Object.
    fn assert_no_openapi30_leftovers(doc: &Value) {
        fn check_schema(schema: &Value, at: &str) {
            let Value::Object(obj) = schema else { return };
            for key in ["nullable", "example"] {
                assert!(!obj.contains_key(key), "`{key}` left at {at}");
            }
            for key in ["exclusiveMinimum", "exclusiveMaximum"] {
                assert!(
                    !obj.get(key).is_some_and(Value::is_boolean),
                    "boolean `{key}` at {at}"
                );
            }
            if let Some(format) = obj.get("format").and_then(Value::as_str) {
                assert!(
                    !["binary", "byte", "bytes"].contains(&format),
                    "format {format} at {at}"
                );
            }
            let standard = [
                "null", "boolean", "object", "array", "number", "string", "integer",
            ];
            match obj.get("type") {
                Some(Value::String(ty)) => {
                    assert!(standard.contains(&ty.as_str()), "type {ty} at {at}")
                }
                Some(Value::Array(types)) => {
                    for ty in types {
                        assert!(
                            standard.contains(&ty.as_str().unwrap_or("")),
                            "type {ty} at {at}"
                        );
                    }
                }
                _ => {}
            }
            walk(schema, at, true);
        }
        fn walk(value: &Value, at: &str, in_schema: bool) {
            match value {
                Value::Object(obj) => {
                    for (key, child) in obj {
                        let at = format!("{at}/{key}");
                        match key.as_str() {
                            "schema" | "items" | "additionalProperties" | "not" => {
                                check_schema(child, &at)
                            }
                            "allOf" | "anyOf" | "oneOf" => {
                                for (i, sub) in child.as_array().into_iter().flatten().enumerate() {
                                    check_schema(sub, &format!("{at}/{i}"));
                                }
                            }
                            "schemas" | "properties" if child.is_object() => {
                                for (name, sub) in child.as_object().into_iter().flatten() {
                                    check_schema(sub, &format!("{at}/{name}"));
                                }
                            }
                            // Schema keywords whose values are data, not schemas.
                            "examples" | "default" | "enum" | "const" if in_schema => {}
                            _ => walk(child, &at, false),
                        }
                    }
                }
                Value::Array(items) => {
                    for (i, item) in items.iter().enumerate() {
                        walk(item, &format!("{at}/{i}"), in_schema);
                    }
                }
                _ => {}
            }
        }
        walk(doc, "#", false);
    }

    // ---- independent validation -------------------------------------------------

    const VALIDATOR_ENV: &str = "VOICEBIN_OPENAPI_VALIDATOR";

    /// Runs `openapi-spec-validator --schema 3.1 <file>` on `doc`; returns
    /// (success, combined output). Panics if the validator cannot be started.
    fn run_validator(doc: &Value) -> (bool, String) {
        use std::io::Write;

        let validator =
            std::env::var(VALIDATOR_ENV).unwrap_or_else(|_| "openapi-spec-validator".to_owned());
        let mut file = tempfile::Builder::new()
            .prefix("voicebin-openapi31-")
            .suffix(".json")
            .tempfile()
            .expect("create temp file");
        file.write_all(serde_json::to_string_pretty(doc).unwrap().as_bytes())
            .expect("write temp file");
        file.flush().expect("flush temp file");

        let output = std::process::Command::new(&validator)
            .args(["--schema", "3.1", "--validation-errors", "all"])
            .arg(file.path())
            .output()
            .unwrap_or_else(|err| {
                panic!(
                    "cannot run the OpenAPI validator `{validator}`: {err}.\n\
                     Run the project's test script, which installs it \
                     (python3 -m venv /work/.cache/venv && \
                     /work/.cache/venv/bin/pip install openapi-spec-validator), \
                     then put /work/.cache/venv/bin on PATH or set \
                     {VALIDATOR_ENV}=/work/.cache/venv/bin/openapi-spec-validator"
                )
            });
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        (output.status.success(), text)
    }

    #[test]
    fn realistic_document_passes_independent_openapi_31_validator() {
        let (ok, output) = run_validator(&upgrade(realistic_poem_doc()));
        assert!(
            ok,
            "openapi-spec-validator rejected the upgraded document:\n{output}"
        );
        assert!(
            output.contains("OK"),
            "unexpected validator output:\n{output}"
        );
    }

    #[test]
    fn independent_validator_rejects_openapi_30_constructs() {
        // Guards against a validator that accepts anything.
        let mut relabelled = realistic_poem_doc();
        relabelled["openapi"] = json!("3.1.0");
        let (ok, output) = run_validator(&relabelled);
        assert!(
            !ok,
            "validator accepted a relabelled 3.0 document:\n{output}"
        );

        let mut broken = upgrade(realistic_poem_doc());
        broken["components"]["schemas"]["Clip"]["properties"]["duration_ms"] =
            json!({ "type": "integer", "minimum": 0, "exclusiveMinimum": true });
        let (ok, output) = run_validator(&broken);
        assert!(
            !ok,
            "validator accepted a boolean exclusiveMinimum:\n{output}"
        );
        assert!(
            output.contains("exclusiveMinimum"),
            "unexpected validator output:\n{output}"
        );
    }

    #[test]
    fn links_and_parameter_refinements_are_added_to_the_named_operation() {
        let mut doc = json!({
            "openapi": "3.1.0",
            "info": { "title": "t", "version": "1" },
            "paths": {
                "/x": { "post": {
                    "operationId": "make",
                    "parameters": [{ "in": "header", "name": "x-n", "schema": { "type": "string" } }],
                    "responses": { "201": { "description": "made" } }
                } },
                "/x/{id}": { "get": {
                    "operationId": "read",
                    "responses": { "200": { "description": "ok" } }
                } }
            }
        });
        let link = json!({ "operationId": "read", "parameters": { "id": "$response.body#/id" } });
        let mut links = Map::new();
        links.insert("Read".into(), link.clone());
        add_links(&mut doc, "make", "201", links);
        let mut keywords = Map::new();
        keywords.insert("maxLength".into(), json!(3));
        refine_parameter(&mut doc, "make", "header", "x-n", &keywords);
        refine_parameter(&mut doc, "make", "query", "x-n", &Map::new());
        let op = &doc["paths"]["/x"]["post"];
        assert_eq!(op["responses"]["201"]["links"]["Read"], link);
        assert_eq!(
            op["parameters"][0]["schema"],
            json!({ "type": "string", "maxLength": 3 })
        );
        assert!(doc["paths"]["/x/{id}"]["get"]["responses"]["200"]
            .get("links")
            .is_none());
    }
}
