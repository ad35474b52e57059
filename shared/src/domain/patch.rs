//! Reading client documents: typed parsing that names the bad field, JSON Merge Patch
//! (RFC 7396), and `If-Match` preconditions.

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::domain::error::HelpdeskError;

/// A request a service takes, typed: parsed once where it comes in (a request body, a batch
/// item), so the services never read a raw document.
pub trait Command: DeserializeOwned {
    /// Fields the server owns: a client that sends them is told so instead of being ignored.
    const READ_ONLY: &'static [&'static str] = &[];

    /// Parses a client document: read-only fields, unknown fields and wrong types are each a
    /// 400 naming the field.
    fn parse(body: Value) -> Result<Self, HelpdeskError> {
        if let Some(object) = body.as_object() {
            reject_read_only(object, Self::READ_ONLY)?;
        }
        parse_input(body)
    }
}

/// Deserializes a client document; an unknown field or a wrong type becomes a 400 naming the
/// field's path (e.g. `phones[2]`).
pub fn parse_input<T: DeserializeOwned>(body: Value) -> Result<T, HelpdeskError> {
    // serde would also read a struct from an array, field by field: never what a client meant.
    if !body.is_object() {
        return Err(HelpdeskError::bad_request("body", "must be a JSON object"));
    }
    serde_path_to_error::deserialize(body).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner().to_string();
        // The path already ends in the offending key, also for unknown fields; a missing
        // field is named in the message only.
        let missing = inner
            .strip_prefix("missing field `")
            .and_then(|rest| rest.split_once('`'))
            .map(|(name, _)| name.to_string());
        let field = match (path.as_str(), missing) {
            (".", Some(name)) => name,
            (".", None) => "body".to_string(),
            (_, Some(name)) => format!("{path}.{name}"),
            (_, None) => path,
        };
        let message = inner
            .split(" at line ")
            .next()
            .unwrap_or(&inner)
            .to_string();
        HelpdeskError::bad_request(field, message)
    })
}

/// For `Option<Option<T>>` fields: `Some(None)` when the document names the field as `null`,
/// `None` (with `#[serde(default)]`) when it does not name it.
pub fn present<'de, T, D>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    T: serde::Deserialize<'de>,
    D: serde::Deserializer<'de>,
{
    serde::Deserialize::deserialize(deserializer).map(Some)
}

/// RFC 7396: objects merge key by key, `null` removes, anything else replaces.
pub fn merge_patch(target: Value, patch: Value) -> Value {
    let Value::Object(patch) = patch else {
        return patch;
    };
    let mut target = match target {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    for (key, value) in patch {
        if value.is_null() {
            target.remove(&key);
        } else {
            let current = target.remove(&key).unwrap_or(Value::Null);
            target.insert(key, merge_patch(current, value));
        }
    }
    Value::Object(target)
}

/// Server-owned fields in a client document are refused by name rather than silently ignored.
pub fn reject_read_only(
    object: &Map<String, Value>,
    read_only: &[&str],
) -> Result<(), HelpdeskError> {
    let sent: Vec<_> = read_only
        .iter()
        .filter(|f| object.contains_key(**f))
        .collect();
    if sent.is_empty() {
        return Ok(());
    }
    let errors = sent
        .iter()
        .map(|f| crate::domain::validation::FieldError::new(**f, "is read-only"))
        .collect();
    Err(HelpdeskError::BadRequest {
        detail: "the request sets read-only fields".into(),
        errors,
    })
}

/// An `If-Match` header: a version (`"3"`, `W/"3"`, `3`) or `*`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precondition {
    Any,
    Version(u64),
}

impl Precondition {
    pub fn parse(raw: &str) -> Result<Self, HelpdeskError> {
        let raw = raw.trim();
        if raw == "*" {
            return Ok(Precondition::Any);
        }
        let tag = raw.strip_prefix("W/").unwrap_or(raw).trim_matches('"');
        tag.parse::<u64>().map(Precondition::Version).map_err(|_| {
            HelpdeskError::bad_request("If-Match", "must be the ETag of the resource, e.g. \"3\"")
        })
    }
    pub fn matches(&self, version: u64) -> bool {
        match self {
            Precondition::Any => true,
            Precondition::Version(v) => *v == version,
        }
    }
}

/// The strong ETag of a resource version.
pub fn etag(version: u64) -> String {
    format!("\"{version}\"")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_patch_follows_rfc7396_examples() {
        let target = json!({"a": "b", "c": {"d": "e", "f": "g"}});
        let patch = json!({"a": "z", "c": {"f": null}});
        assert_eq!(
            merge_patch(target, patch),
            json!({"a": "z", "c": {"d": "e"}})
        );
        assert_eq!(
            merge_patch(json!({"a": [1]}), json!({"a": [2, 3]})),
            json!({"a": [2, 3]})
        );
        assert_eq!(merge_patch(json!({"a": "b"}), json!(["c"])), json!(["c"]));
    }

    #[test]
    fn preconditions() {
        assert_eq!(
            Precondition::parse("\"3\"").unwrap(),
            Precondition::Version(3)
        );
        assert_eq!(
            Precondition::parse("W/\"4\"").unwrap(),
            Precondition::Version(4)
        );
        assert_eq!(Precondition::parse("*").unwrap(), Precondition::Any);
        assert!(Precondition::parse("abc").is_err());
    }
}
