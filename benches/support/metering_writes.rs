//! The metering proxy's reading of write calls: which items a call changes, its table and
//! partition key value, and (for a put or an insert) the whole item, from which its capacity
//! is charged before the call is sent.

use serde_json::{Map, Value};

/// One item a write call changes, as its request says.
pub(super) struct ItemWrite {
    pub(super) table: String,
    partition: String,
    /// The item written whole (a put or an insert); `None` for an update, a delete or a check.
    pub(super) footprint: Option<super::capacity::Footprint>,
}

impl ItemWrite {
    pub(super) fn charges(&self, transactional: bool) -> Vec<super::capacity::Charge> {
        super::capacity::write_charges(
            &self.partition,
            None,
            self.footprint.as_ref(),
            transactional,
        )
    }

    fn of(table: Option<&Value>, attributes: Option<&Value>, whole: bool) -> Option<ItemWrite> {
        let attributes = attributes?.as_object()?;
        Some(ItemWrite {
            table: table
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            partition: attributes.get("pk")?.get("S")?.as_str()?.to_string(),
            footprint: whole.then(|| super::capacity::Footprint::of_json(attributes)),
        })
    }
}

/// The items a write call changes; empty for a read.
pub(super) fn writes_of(operation: &str, request: &Map<String, Value>) -> Vec<ItemWrite> {
    let table = request.get("TableName");
    let single = |attributes: &str, whole| {
        ItemWrite::of(table, request.get(attributes), whole)
            .into_iter()
            .collect()
    };
    match operation {
        "PutItem" => single("Item", true),
        "UpdateItem" | "DeleteItem" => single("Key", false),
        "BatchWriteItem" => batch_writes(request),
        "TransactWriteItems" => transact_writes(request),
        _ => Vec::new(),
    }
}

fn batch_writes(request: &Map<String, Value>) -> Vec<ItemWrite> {
    let Some(tables) = request.get("RequestItems").and_then(Value::as_object) else {
        return Vec::new();
    };
    let mut writes = Vec::new();
    for (table, operations) in tables {
        let table = Value::String(table.clone());
        for operation in operations.as_array().into_iter().flatten() {
            let put = operation.get("PutRequest").and_then(|p| p.get("Item"));
            let delete = operation.get("DeleteRequest").and_then(|d| d.get("Key"));
            writes.extend(ItemWrite::of(Some(&table), put.or(delete), put.is_some()));
        }
    }
    writes
}

fn transact_writes(request: &Map<String, Value>) -> Vec<ItemWrite> {
    let operations = request.get("TransactItems").and_then(Value::as_array);
    operations
        .into_iter()
        .flatten()
        .filter_map(|operation| {
            let (kind, body) = operation.as_object()?.iter().next()?;
            let whole = kind == "Put";
            let attributes = body.get(if whole { "Item" } else { "Key" });
            ItemWrite::of(body.get("TableName"), attributes, whole)
        })
        .collect()
}

/// The item of an `INSERT INTO "table" VALUE {'a': ?, …}` with its parameters, the one
/// statement the store adapter batches.
pub(super) fn inserted(statement: &Value) -> Option<ItemWrite> {
    let text = statement.get("Statement")?.as_str()?;
    let (table, fields) = text
        .strip_prefix("INSERT INTO \"")?
        .split_once("\" VALUE {")?;
    let parameters = statement.get("Parameters")?.as_array()?;
    let names = fields.strip_suffix('}')?.split(", ").map(|field| {
        field
            .strip_suffix(": ?")?
            .strip_prefix('\'')?
            .strip_suffix('\'')
    });
    let mut item = Map::new();
    for (name, value) in names.zip(parameters) {
        item.insert(name?.to_string(), value.clone());
    }
    ItemWrite::of(
        Some(&Value::String(table.into())),
        Some(&Value::Object(item)),
        true,
    )
}
