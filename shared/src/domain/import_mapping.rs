//! Which CSV column feeds which customer property.
//!
//! An explicit `{"Column header": "property"}` mapping wins; then headers match case-insensitive
//! synonyms (including the headers of Google Contacts and Outlook exports); then a custom
//! field's key or label. Every other column is reported in `ignored_columns`.

use std::collections::BTreeMap;

use crate::domain::field::FieldSet;

/// A customer property a column can fill.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Target {
    Email,
    AlternateEmails,
    FirstName,
    LastName,
    /// "Name" / "Full Name": split into first and last when those have no column of their own.
    FullName,
    /// A company name; it must exist unless `create_missing_companies`.
    Company,
    Phones,
    Tags,
    Notes,
    Avatar,
    PortalAccess,
    Address(&'static str),
    Social(String),
    /// Every social link in one cell: `network=url` pairs separated by spaces (the export's form).
    SocialLinks,
    Custom(String),
}

impl Target {
    /// Single-valued targets take their first column; list targets take every column.
    fn is_list(&self) -> bool {
        matches!(
            self,
            Target::AlternateEmails | Target::Phones | Target::Tags
        )
    }

    pub fn name(&self) -> String {
        match self {
            Target::Email => "email".into(),
            Target::AlternateEmails => "alternate_emails".into(),
            Target::FirstName => "first_name".into(),
            Target::LastName => "last_name".into(),
            Target::FullName => "name".into(),
            Target::Company => "company".into(),
            Target::Phones => "phones".into(),
            Target::Tags => "tags".into(),
            Target::Notes => "notes".into(),
            Target::Avatar => "avatar".into(),
            Target::PortalAccess => "portal_access".into(),
            Target::Address(part) => format!("address.{part}"),
            Target::Social(network) => format!("social.{network}"),
            Target::SocialLinks => "social_links".into(),
            Target::Custom(key) => format!("custom_fields.{key}"),
        }
    }

    /// Parses a property name as written in an explicit mapping; `None` for "ignore".
    pub fn parse(property: &str) -> Result<Option<Target>, String> {
        let p = property.trim();
        let target = match p {
            "ignore" | "" => return Ok(None),
            "email" => Target::Email,
            "alternate_emails" | "alternate_email" => Target::AlternateEmails,
            "first_name" => Target::FirstName,
            "last_name" => Target::LastName,
            "name" | "full_name" => Target::FullName,
            "company" => Target::Company,
            "phones" | "phone" => Target::Phones,
            "tags" => Target::Tags,
            "notes" => Target::Notes,
            "avatar" => Target::Avatar,
            "portal_access" => Target::PortalAccess,
            "social_links" | "social" => Target::SocialLinks,
            other => match other.split_once('.') {
                Some(("address", part)) => Target::Address(address_part(part).ok_or_else(|| {
                    format!("'{p}': address parts are line1, line2, city, region, postal_code, country")
                })?),
                Some(("social", network)) if !network.is_empty() => Target::Social(network.to_ascii_lowercase()),
                Some(("custom_fields", key)) if !key.is_empty() => Target::Custom(key.to_string()),
                _ => return Err(format!("'{p}' is not a customer property")),
            },
        };
        Ok(Some(target))
    }
}

fn address_part(part: &str) -> Option<&'static str> {
    ["line1", "line2", "city", "region", "postal_code", "country"]
        .into_iter()
        .find(|p| *p == part)
}

/// Header text reduced to lower-case letters and digits: "E-mail 1 - Value" → "email1value".
pub(crate) fn squash(header: &str) -> String {
    header
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// Synonyms, squashed. Google Contacts ("E-mail 1 - Value", "Organization 1 - Name",
/// "Phone 1 - Value", "Address 1 - City") and Outlook ("E-mail Address", "Business Phone",
/// "Business City") exports are covered.
const SYNONYMS: &[(&str, &[&str])] = &[
    (
        "email",
        &[
            "email",
            "emailaddress",
            "email1value",
            "email1address",
            "primaryemail",
            "workemail",
            "mail",
            "emailaddr",
            "contactemail",
        ],
    ),
    (
        "alternate_emails",
        &[
            "alternateemail",
            "alternateemails",
            "secondaryemail",
            "otheremail",
            "email2value",
            "email3value",
            "email2address",
            "email3address",
        ],
    ),
    (
        "first_name",
        &["firstname", "givenname", "first", "forename", "fname"],
    ),
    (
        "last_name",
        &["lastname", "familyname", "surname", "last", "lname"],
    ),
    (
        "name",
        &[
            "name",
            "fullname",
            "displayname",
            "contactname",
            "customername",
        ],
    ),
    (
        "company",
        &[
            "company",
            "companyname",
            "organization",
            "organisation",
            "organization1name",
            "organisation1name",
            "org",
            "account",
            "accountname",
        ],
    ),
    (
        "phones",
        &[
            "phone",
            "phones",
            "phonenumber",
            "mobile",
            "mobilephone",
            "cell",
            "cellphone",
            "telephone",
            "tel",
            "workphone",
            "homephone",
            "businessphone",
            "primaryphone",
            "phone1value",
            "phone2value",
            "phone3value",
            "businessphone2",
            "homephone2",
            "otherphone",
        ],
    ),
    ("tags", &["tags", "tag", "labels"]),
    (
        "notes",
        &["notes", "note", "description", "comments", "about"],
    ),
    ("avatar", &["avatar", "avatarkey"]),
    ("portal_access", &["portalaccess"]),
    ("social_links", &["sociallinks", "social", "socialprofiles"]),
    (
        "address.line1",
        &[
            "street",
            "address",
            "streetaddress",
            "address1",
            "addressline1",
            "address1street",
            "businessstreet",
            "homestreet",
        ],
    ),
    (
        "address.line2",
        &[
            "address2",
            "addressline2",
            "street2",
            "businessstreet2",
            "homestreet2",
        ],
    ),
    (
        "address.city",
        &["city", "town", "address1city", "businesscity", "homecity"],
    ),
    (
        "address.region",
        &[
            "region",
            "state",
            "province",
            "county",
            "address1region",
            "businessstate",
            "homestate",
        ],
    ),
    (
        "address.postal_code",
        &[
            "postalcode",
            "zip",
            "zipcode",
            "postcode",
            "address1postalcode",
            "businesspostalcode",
            "homepostalcode",
        ],
    ),
    (
        "address.country",
        &[
            "country",
            "address1country",
            "businesscountryregion",
            "homecountryregion",
            "countryregion",
        ],
    ),
];

/// `cf_<key>`, the export's column of a custom field (the key as defined, any case).
fn custom_column(header: &str, fields: &FieldSet) -> Option<Target> {
    let key = header
        .trim()
        .get(..crate::domain::customer_csv::CUSTOM_FIELD_PREFIX.len())
        .filter(|prefix| {
            prefix.eq_ignore_ascii_case(crate::domain::customer_csv::CUSTOM_FIELD_PREFIX)
        })
        .map(|prefix| &header.trim()[prefix.len()..])?;
    fields
        .iter()
        .find(|d| d.key.eq_ignore_ascii_case(key))
        .map(|d| Target::Custom(d.key.clone()))
}

fn synonym(header: &str) -> Option<Target> {
    let squashed = squash(header);
    SYNONYMS
        .iter()
        .find(|(_, names)| names.contains(&squashed.as_str()))
        .and_then(|(property, _)| Target::parse(property).ok().flatten())
}

/// The resolved plan for one file: a target (or none) per column.
#[derive(Debug, Clone)]
pub struct ColumnPlan {
    pub headers: Vec<String>,
    pub targets: Vec<Option<Target>>,
    pub ignored_columns: Vec<String>,
}

impl ColumnPlan {
    /// Resolves `headers`. Fails when no column holds the email, the key of every row.
    pub fn resolve(
        headers: &[String],
        explicit: &BTreeMap<String, Option<Target>>,
        fields: &FieldSet,
        allow_company: bool,
    ) -> Result<ColumnPlan, String> {
        let explicit: BTreeMap<String, &Option<Target>> = explicit
            .iter()
            .map(|(k, v)| (k.trim().to_lowercase(), v))
            .collect();
        let mut targets: Vec<Option<Target>> = Vec::with_capacity(headers.len());
        for header in headers {
            let key = header.trim().to_lowercase();
            let target = match explicit.get(&key) {
                Some(target) => (*target).clone(),
                None => synonym(header)
                    .or_else(|| custom_column(header, fields))
                    .or_else(|| {
                        fields
                            .iter()
                            .find(|d| {
                                d.key.eq_ignore_ascii_case(header.trim())
                                    || d.label.eq_ignore_ascii_case(header.trim())
                            })
                            .map(|d| Target::Custom(d.key.clone()))
                    }),
            };
            targets.push(target);
        }
        // Single-valued targets keep their first column; "Name" only splits when first and
        // last name have no column of their own; a company column needs the permission.
        let has_split_names = targets
            .iter()
            .any(|t| matches!(t, Some(Target::FirstName | Target::LastName)));
        let mut taken: Vec<Target> = Vec::new();
        for target in targets.iter_mut() {
            let drop = match target.as_ref() {
                None => false,
                Some(Target::FullName) if has_split_names => true,
                Some(Target::Company) if !allow_company => true,
                Some(t) if !t.is_list() && taken.contains(t) => true,
                Some(t) => {
                    taken.push(t.clone());
                    false
                }
            };
            if drop {
                *target = None;
            }
        }
        if !targets.iter().any(|t| t == &Some(Target::Email)) {
            return Err(format!(
                "the file has no email column (headers: {}); name it Email or map a column to email",
                headers.join(", ")
            ));
        }
        let ignored_columns = headers
            .iter()
            .zip(&targets)
            .filter(|(_, t)| t.is_none())
            .map(|(h, _)| h.clone())
            .collect();
        Ok(ColumnPlan {
            headers: headers.to_vec(),
            targets,
            ignored_columns,
        })
    }

    pub fn email_column(&self) -> usize {
        self.targets
            .iter()
            .position(|t| t == &Some(Target::Email))
            .unwrap_or(0)
    }

    pub fn has(&self, target: &Target) -> bool {
        self.targets.iter().any(|t| t.as_ref() == Some(target))
    }
}

/// The columns of the downloadable template ([`customer_csv::COLUMNS`]), with one example row.
/// The company is named (a company's id works too, as the export writes it).
///
/// [`customer_csv::COLUMNS`]: crate::domain::customer_csv::COLUMNS
pub const TEMPLATE_CSV: &str = "\
Email,First Name,Last Name,Company,Phone,Alternate Email,Tags,Notes,Street,Street 2,City,Region,Postal Code,Country,Portal Access,Avatar,Social Links
ann.lee@acme.com,Ann,Lee,Acme,+1 555 0100,ann@home.org,vip;beta,Prefers email,1 Main St,Suite 4,Springfield,IL,62701,US,own,,twitter=https://x.com/annlee
";

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(headers: &[&str]) -> ColumnPlan {
        let headers: Vec<String> = headers.iter().map(|h| h.to_string()).collect();
        ColumnPlan::resolve(&headers, &BTreeMap::new(), &FieldSet::default(), true).unwrap()
    }

    #[test]
    fn google_and_outlook_headers() {
        let google = plan(&[
            "Name",
            "Given Name",
            "Family Name",
            "E-mail 1 - Value",
            "E-mail 2 - Value",
            "Phone 1 - Value",
            "Organization 1 - Name",
            "Birthday",
        ]);
        assert_eq!(google.targets[3], Some(Target::Email));
        assert_eq!(google.targets[4], Some(Target::AlternateEmails));
        assert_eq!(google.targets[6], Some(Target::Company));
        assert_eq!(
            google.ignored_columns,
            vec!["Name", "Birthday"],
            "Name is not split when first/last exist"
        );
        let outlook = plan(&[
            "First Name",
            "Last Name",
            "E-mail Address",
            "Business Phone",
            "Mobile Phone",
            "Business City",
        ]);
        assert_eq!(outlook.targets[2], Some(Target::Email));
        assert_eq!(outlook.targets[3], Some(Target::Phones));
        assert_eq!(
            outlook.targets[4],
            Some(Target::Phones),
            "phone columns all count"
        );
        assert_eq!(outlook.targets[5], Some(Target::Address("city")));
    }

    #[test]
    fn the_template_has_the_exports_columns() {
        let header = TEMPLATE_CSV.lines().next().unwrap();
        assert_eq!(header, crate::domain::customer_csv::COLUMNS.join(","));
        let headers: Vec<String> = header.split(',').map(String::from).collect();
        let plan =
            ColumnPlan::resolve(&headers, &BTreeMap::new(), &FieldSet::default(), true).unwrap();
        assert!(
            plan.ignored_columns.is_empty(),
            "{:?}",
            plan.ignored_columns
        );
    }

    #[test]
    fn no_email_column_is_an_error() {
        let headers = vec!["Name".to_string()];
        assert!(
            ColumnPlan::resolve(&headers, &BTreeMap::new(), &FieldSet::default(), true).is_err()
        );
    }
}
