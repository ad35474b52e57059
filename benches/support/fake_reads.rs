//! The fake endpoint's reads: GetItem, Query (table and index) and BatchGetItem, each charged
//! in read units as DynamoDB charges them.

use super::*;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct KeyRequest<'a> {
    #[serde(borrow)]
    key: RawItem<'a>,
    #[serde(default)]
    consistent_read: bool,
}

pub(super) fn get_item(state: &Shared, body: &[u8]) -> Answer {
    let request: KeyRequest<'_> = parse(body)?;
    let key = key_of(&request.key)?;
    let items = state.items();
    let size = items.get(&key).map_or(0, |item| item.footprint.size);
    state.meter().read(None, size, request.consistent_read);
    Ok(match items.get(&key) {
        Some(item) => reply(StatusCode::OK, format!("{{\"Item\":{}}}", item.json)),
        None => reply(StatusCode::OK, "{}".into()),
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct QueryRequest<'a> {
    #[serde(default)]
    index_name: Option<String>,
    #[serde(default)]
    key_condition_expression: Option<String>,
    #[serde(default)]
    scan_index_forward: Option<bool>,
    #[serde(default)]
    limit: Option<usize>,
    #[serde(default)]
    consistent_read: bool,
    #[serde(default)]
    filter_expression: Option<String>,
    #[serde(borrow, default)]
    expression_attribute_values: RawItem<'a>,
}

pub(super) fn query(state: &Shared, body: &[u8]) -> Answer {
    let request: QueryRequest<'_> = parse(body)?;
    // Table and index queries with the sort-key conditions the adapter writes: `begins_with`,
    // `>`, `<`, BETWEEN. An index is found by name among the template's ([`capacity::INDEXES`]).
    let index = match request.index_name.as_deref() {
        None => None,
        Some(name) => match capacity::INDEXES.iter().position(|i| i.name == name) {
            Some(position) => Some(position),
            None => {
                return Err(error(
                    "ValidationException",
                    &format!("the table has no index {name}"),
                ));
            }
        },
    };
    let value = |name: &str| {
        request
            .expression_attribute_values
            .get(name)
            .and_then(|v| string_of(v))
    };
    let partition = value(":p").unwrap_or_default();
    let condition = request.key_condition_expression.unwrap_or_default();
    let (prefix, after, end) = (value(":prefix"), value(":after"), value(":end"));
    let sort_matches = |sk: &str| {
        let prefixed = prefix.as_deref().is_none_or(|p| sk.starts_with(p));
        let ranged = match (&after, &end) {
            (Some(a), Some(e)) => sk >= a.as_str() && sk <= e.as_str(),
            (Some(a), None) if condition.contains("> :after") => sk > a.as_str(),
            (Some(a), None) if condition.contains("< :after") => sk < a.as_str(),
            _ => true,
        };
        prefixed && ranged
    };
    let items = state.items();
    // Each match with its position: (index sort key or table sort key, table key).
    let mut found: Vec<((&str, &Key), &Stored)> = items
        .iter()
        .filter_map(|(key, item)| match index {
            None => (key.0 == partition).then_some(((key.1.as_str(), key), item)),
            Some(i) => match item.footprint.index_keys.get(i) {
                Some(Some((hash, range))) if *hash == partition => {
                    Some(((range.as_str(), key), item))
                }
                _ => None,
            },
        })
        .filter(|((sort, _), _)| sort_matches(sort))
        .collect();
    found.sort_by(|a, b| a.0.cmp(&b.0));
    if request.scan_index_forward == Some(false) {
        found.reverse();
    }
    // DynamoDB stops at the limit and says where: the last item's table and index keys.
    let mut last_key = String::new();
    if let Some(limit) = request.limit
        && found.len() > limit
    {
        found.truncate(limit);
        if let Some(((sort, (pk, sk)), _)) = found.last() {
            let attribute = |name: &str, value: &str| {
                format!("{}:{{\"S\":{}}}", json_string(name), json_string(value))
            };
            let mut parts = vec![attribute("pk", pk), attribute("sk", sk)];
            if let Some(i) = index {
                parts.push(attribute(capacity::INDEXES[i].hash, &partition));
                parts.push(attribute(capacity::INDEXES[i].range, sort));
            }
            last_key = format!(",\"LastEvaluatedKey\":{{{}}}", parts.join(","));
        }
    }
    // Read (and charged) first, filtered after, as DynamoDB does.
    let size = found.iter().map(|(_, item)| item.footprint.size).sum();
    // Index reads are always eventually consistent.
    let (index_name, consistent) = match index {
        Some(i) => (Some(capacity::INDEXES[i].name), false),
        None => (None, request.consistent_read),
    };
    state.meter().read(index_name, size, consistent);
    let mut listed: Vec<&str> = Vec::with_capacity(found.len());
    for (_, item) in &found {
        let kept = match &request.filter_expression {
            None => true,
            Some(filter) => filter_holds(&item.json, filter, &request.expression_attribute_values)?,
        };
        if kept {
            listed.push(item.json.as_str());
        }
    }
    Ok(reply(
        StatusCode::OK,
        format!(
            "{{\"Items\":[{}],\"Count\":{}{last_key}}}",
            listed.join(","),
            listed.len()
        ),
    ))
}

/// The filter expressions the adapter sends: one function of one attribute (and a value).
fn filter_holds(item_json: &str, expression: &str, values: &RawItem<'_>) -> Result<bool, Response> {
    let unsupported = || {
        error(
            "ValidationException",
            &format!("unsupported filter {expression}"),
        )
    };
    let item: RawItem<'_> = serde_json::from_str(item_json).map_err(|_| unsupported())?;
    let (function, arguments) = expression
        .trim()
        .strip_suffix(')')
        .and_then(|call| call.split_once('('))
        .ok_or_else(unsupported)?;
    let arguments: Vec<&str> = arguments.split(',').map(str::trim).collect();
    let attribute = arguments.first().and_then(|name| item.get(name));
    let text = attribute.and_then(|v| string_of(v));
    let value = arguments
        .get(1)
        .and_then(|placeholder| values.get(placeholder))
        .and_then(|v| string_of(v));
    match (function.trim(), value) {
        ("attribute_exists", None) => Ok(attribute.is_some()),
        ("attribute_not_exists", None) => Ok(attribute.is_none()),
        ("contains", Some(value)) => Ok(text.is_some_and(|t| t.contains(&value))),
        ("begins_with", Some(value)) => Ok(text.is_some_and(|t| t.starts_with(&value))),
        _ => Err(unsupported()),
    }
}

fn json_string(text: &str) -> String {
    serde_json::Value::from(text).to_string()
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct BatchGetRequest<'a> {
    #[serde(borrow)]
    request_items: HashMap<String, BatchKeys<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct BatchKeys<'a> {
    #[serde(borrow)]
    keys: Vec<RawItem<'a>>,
    #[serde(default)]
    consistent_read: bool,
}

pub(super) fn batch_get(state: &Shared, body: &[u8]) -> Answer {
    let request: BatchGetRequest<'_> = parse(body)?;
    let items = state.items();
    let mut responses = Vec::new();
    for (table, spec) in &request.request_items {
        if spec.keys.len() > 100 {
            return Err(error(
                "ValidationException",
                "Too many items requested for the BatchGetItem call",
            ));
        }
        let mut found = Vec::new();
        for key in &spec.keys {
            let item = items.get(&key_of(key)?);
            let size = item.map_or(0, |item| item.footprint.size);
            state.meter().read(None, size, spec.consistent_read);
            if let Some(item) = item {
                found.push(item.json.as_str());
            }
        }
        responses.push(format!(
            "{}:[{}]",
            serde_json::to_string(table).unwrap_or_default(),
            found.join(",")
        ));
    }
    Ok(reply(
        StatusCode::OK,
        format!(
            "{{\"Responses\":{{{}}},\"UnprocessedKeys\":{{}}}}",
            responses.join(",")
        ),
    ))
}
