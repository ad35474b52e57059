//! A customer as one CSV row that the importer reads back to the same record: the import
//! template's columns in its order, lists in one cell each, then `cf_<key>` for each custom
//! field and the two timestamps (which the importer ignores).
//!
//! The round trip is the contract: exporting, then importing the file as it is, changes
//! nothing (every row `unchanged`). So each cell is written in the form the importer parses:
//! lists joined with `; ` (the importer splits on `;`), social links as `network=url` pairs
//! separated by spaces (URLs hold none), the company by its id, custom fields in their type's
//! text, and a formula guard the importer takes off again.

use std::borrow::Cow;

use serde_json::Value;

use super::customer::Customer;
use super::field::{FieldSet, FieldType};

/// The template's columns, in its order (the import template is this list).
pub const COLUMNS: [&str; 17] = [
    "Email",
    "First Name",
    "Last Name",
    "Company",
    "Phone",
    "Alternate Email",
    "Tags",
    "Notes",
    "Street",
    "Street 2",
    "City",
    "Region",
    "Postal Code",
    "Country",
    "Portal Access",
    "Avatar",
    "Social Links",
];

/// Written after the custom fields; the importer ignores them. `avatar_image` is the path of
/// the uploaded avatar's largest size on the API (an upload, unlike the `Avatar` key, is not
/// something a file can carry back in).
pub const TRAILING_COLUMNS: [&str; 3] = ["created_at", "updated_at", "avatar_image"];

/// The prefix of a custom field's column.
pub const CUSTOM_FIELD_PREFIX: &str = "cf_";

/// The export's header: the template's columns, `cf_<key>` per custom field, the trailing
/// columns.
pub fn header(fields: &FieldSet) -> Vec<String> {
    COLUMNS
        .iter()
        .map(|c| c.to_string())
        .chain(
            fields
                .iter()
                .map(|f| format!("{CUSTOM_FIELD_PREFIX}{}", f.key)),
        )
        .chain(TRAILING_COLUMNS.iter().map(|c| c.to_string()))
        .collect()
}

/// One customer's cells, in [`header`]'s order, each guarded against formulas.
pub fn row(customer: &Customer, fields: &FieldSet) -> Vec<String> {
    let profile = &customer.profile;
    let address = profile.address.clone().unwrap_or_default();
    let text = |value: &Option<String>| value.clone().unwrap_or_default();
    let social = profile
        .social
        .iter()
        .map(|(network, link)| format!("{network}={link}"))
        .collect::<Vec<_>>()
        .join(" ");
    let alternates: Vec<String> = profile
        .alternate_emails
        .iter()
        .map(|e| e.to_string())
        .collect();
    let portal = serde_json::to_value(profile.portal_access)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    let mut cells = vec![
        profile.email.to_string(),
        text(&profile.first_name),
        text(&profile.last_name),
        text(&profile.company_id),
        profile.phones.join("; "),
        alternates.join("; "),
        profile.tags.join("; "),
        text(&profile.notes),
        text(&address.line1),
        text(&address.line2),
        text(&address.city),
        text(&address.region),
        text(&address.postal_code),
        text(&address.country),
        portal,
        text(&profile.avatar),
        social,
    ];
    for field in fields.iter() {
        let value = profile.custom_fields.get(&field.key);
        cells.push(
            value
                .map(|v| custom_cell(v, field.field_type))
                .unwrap_or_default(),
        );
    }
    cells.push(customer.created_at.to_string());
    cells.push(customer.updated_at.to_string());
    cells.push(
        customer
            .avatar_image
            .as_ref()
            .map(|a| a.path(256))
            .unwrap_or_default(),
    );
    cells.into_iter().map(|c| guard(&c).into_owned()).collect()
}

/// A custom field's value in the text its type's import reads.
fn custom_cell(value: &Value, field_type: FieldType) -> String {
    match (value, field_type) {
        (Value::Array(items), _) => items
            .iter()
            .map(|i| {
                i.as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| i.to_string())
            })
            .collect::<Vec<_>>()
            .join("; "),
        (Value::String(text), _) => text.clone(),
        (Value::Null, _) => String::new(),
        (other, _) => other.to_string(),
    }
}

/// Spreadsheet apps run a cell that starts with `=`, `+`, `-` or `@` as a formula: such a cell
/// (and, so that the guard can be taken off unambiguously, one that starts with `'`) is
/// written with a `'` in front.
pub fn guard(cell: &str) -> Cow<'_, str> {
    match cell.chars().next() {
        Some('=' | '+' | '-' | '@' | '\'') => Cow::Owned(format!("'{cell}")),
        _ => Cow::Borrowed(cell),
    }
}

/// The importer's side of [`guard`]: a `'` in front of `=`, `+`, `-`, `@` or `'` is taken off.
pub fn unguard(cell: &str) -> &str {
    match cell.strip_prefix('\'') {
        Some(rest) if rest.starts_with(['=', '+', '-', '@', '\'']) => rest,
        _ => cell,
    }
}

/// Where customer export files are kept (a day), by name.
pub const EXPORT_FILES_PREFIX: &str = "exports/customers-";

/// Copies an export file from `input` to `output` without the rows of any of `addresses`
/// (lower-case) as email or alternate email, for an erasure; answers how many rows it left
/// out. The byte-order mark, header and every other row are copied as they were written.
pub fn without_addresses(
    input: impl std::io::Read,
    output: impl std::io::Write,
    addresses: &[String],
) -> Result<u64, csv::Error> {
    let mut input = std::io::BufReader::new(input);
    let mut output = output;
    let bom = "\u{feff}".as_bytes();
    if std::io::BufRead::fill_buf(&mut input)?.starts_with(bom) {
        std::io::BufRead::consume(&mut input, bom.len());
        output.write_all(bom)?;
    }
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(input);
    let mut writer = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .flexible(true)
        .from_writer(output);
    let (email, alternates) = (0, COLUMNS.iter().position(|c| *c == "Alternate Email"));
    let mut left_out = 0;
    for (index, record) in reader.records().enumerate() {
        let record = record?;
        let theirs = |cell: Option<&str>| {
            cell.map(unguard).is_some_and(|cell| {
                cell.split(';')
                    .any(|a| addresses.contains(&a.trim().to_ascii_lowercase()))
            })
        };
        if index > 0
            && (theirs(record.get(email)) || theirs(alternates.and_then(|i| record.get(i))))
        {
            left_out += 1;
            continue;
        }
        writer.write_record(&record)?;
    }
    writer.flush()?;
    Ok(left_out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_guard_comes_off_exactly() {
        for cell in [
            "=SUM(A1)",
            "+1 555 0100",
            "-x",
            "@home",
            "'quoted",
            "''",
            "plain",
            "",
            "a=b",
        ] {
            assert_eq!(unguard(&guard(cell)), cell, "{cell}");
        }
        assert_eq!(guard("=1+1"), "'=1+1");
        assert_eq!(guard("plain"), "plain");
        // Cells from other tools that merely start with a quote keep it.
        assert_eq!(unguard("'tis"), "'tis");
    }

    #[test]
    fn an_erased_persons_rows_leave_the_file_and_nothing_else_changes() {
        let file = "\u{feff}Email,First Name,Last Name,Company,Phone,Alternate Email\r\n\
                    ann@acme.test,Ann,,,,\r\nbo@acme.test,\"Bo, \"\"B\"\"\",,,,old@home.test; ANN@home.test\r\n\
                    cy@acme.test,Cy,,,'+1 555,\r\n";
        let mut out = Vec::new();
        let gone = without_addresses(file.as_bytes(), &mut out, &["ann@home.test".into()]).unwrap();
        assert_eq!(gone, 1);
        let kept = String::from_utf8(out).unwrap();
        assert_eq!(
            kept,
            "\u{feff}Email,First Name,Last Name,Company,Phone,Alternate Email\r\n\
             ann@acme.test,Ann,,,,\r\ncy@acme.test,Cy,,,'+1 555,\r\n"
        );
    }

    #[test]
    fn the_header_is_the_template_then_fields_then_timestamps() {
        let header = header(&FieldSet::default());
        assert_eq!(header[..COLUMNS.len()], COLUMNS.map(String::from));
        assert_eq!(
            header[COLUMNS.len()..],
            ["created_at", "updated_at", "avatar_image"]
        );
    }
}
