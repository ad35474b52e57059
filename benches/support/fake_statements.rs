//! The fake endpoint's `BatchExecuteStatement`, for the one statement the store adapter sends:
//! `INSERT INTO "table" VALUE {'name': ?, …}` with parameters. As DynamoDB does, each statement
//! has its own answer: `DuplicateItem` for a key that exists (the item stays as it was),
//! `ProvisionedThroughputExceeded` for one over the budget, while the request answers 200.

use super::*;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct BatchStatements<'a> {
    #[serde(borrow)]
    statements: Vec<Statement<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Statement<'a> {
    statement: String,
    #[serde(borrow, default)]
    parameters: Vec<&'a RawValue>,
}

/// The attribute names of an `INSERT … VALUE {'a': ?, 'b': ?}`, in order.
fn inserted_names(statement: &str) -> Option<Vec<&str>> {
    let fields = statement
        .strip_prefix("INSERT INTO \"")?
        .split_once("\" VALUE {")?
        .1
        .strip_suffix('}')?;
    fields
        .split(", ")
        .map(|field| {
            field
                .strip_suffix(": ?")?
                .strip_prefix('\'')?
                .strip_suffix('\'')
        })
        .collect()
}

fn statement_error(code: &str, message: &str) -> serde_json::Value {
    serde_json::json!({ "Error": { "Code": code, "Message": message } })
}

pub(super) fn batch_execute(state: &Shared, body: &[u8]) -> Answer {
    let request: BatchStatements<'_> = parse(body)?;
    if request.statements.len() > 25 {
        return Err(error(
            "ValidationException",
            "Member must have length less than or equal to 25",
        ));
    }
    let mut inserts = Vec::with_capacity(request.statements.len());
    for statement in &request.statements {
        let names = inserted_names(&statement.statement).ok_or_else(|| {
            error(
                "ValidationException",
                "the fake runs only INSERT … VALUE {…} with parameters",
            )
        })?;
        if names.len() != statement.parameters.len() {
            return Err(error("ValidationException", "parameters do not match"));
        }
        let item: RawItem<'_> = names
            .into_iter()
            .zip(statement.parameters.iter().copied())
            .collect();
        inserts.push((key_of(&item)?, item));
    }
    let mut keys: Vec<&Key> = inserts.iter().map(|(key, _)| key).collect();
    keys.sort();
    keys.dedup();
    if keys.len() != inserts.len() {
        return Err(error(
            "ValidationException",
            "Provided list of item keys contains duplicates",
        ));
    }
    let mut answers = Vec::with_capacity(inserts.len());
    let mut items = state.items();
    for (key, item) in inserts {
        let next = stored(&item);
        let charges = capacity::write_charges(
            &key.0,
            items.get(&key).map(|current| &current.footprint),
            Some(&next.footprint),
            false,
        );
        // `admit_writes` counts its own refusals.
        let admitted = if admit_writes(state, 1).is_err() {
            false
        } else if state.meter().admit(&charges).is_err() {
            state.throttled.fetch_add(1, Ordering::Relaxed);
            false
        } else {
            true
        };
        if !admitted {
            answers.push(statement_error(
                "ProvisionedThroughputExceeded",
                "Throughput exceeds the current capacity",
            ));
            continue;
        }
        match items.entry(key) {
            std::collections::hash_map::Entry::Occupied(_) => answers.push(statement_error(
                "DuplicateItem",
                "Duplicate primary key exists in table",
            )),
            std::collections::hash_map::Entry::Vacant(free) => {
                free.insert(next);
                state.items_written.fetch_add(1, Ordering::Relaxed);
                answers.push(serde_json::json!({}));
            }
        }
    }
    let body = serde_json::json!({ "Responses": answers });
    Ok(reply(StatusCode::OK, body.to_string()))
}
