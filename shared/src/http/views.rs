//! What clients see. Every response body of a record is built here from the record, field by
//! field: an internal field reaches a client only by being added to a view.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use crate::domain::caller::Caller;
use crate::domain::customer::{Address, Customer, Entitlement, PortalAccess, Welcome};
use crate::domain::field::FieldSet;
use crate::domain::validation::FieldError;
use crate::services::customers::{BatchItemResult, BatchStatus};

/// A customer as `caller` may see it: custom fields they may not view are left out, and the
/// import bookkeeping never appears.
#[derive(Debug, Serialize)]
pub struct CustomerView<'a> {
    pub id: &'a str,
    pub email: &'a str,
    pub first_name: &'a Option<String>,
    pub last_name: &'a Option<String>,
    pub phones: &'a [String],
    pub alternate_emails: &'a [String],
    pub company_id: &'a Option<String>,
    pub address: &'a Option<Address>,
    pub social: &'a BTreeMap<String, String>,
    pub avatar: &'a Option<String>,
    pub custom_fields: BTreeMap<&'a str, &'a Value>,
    pub tags: &'a [String],
    pub portal_access: PortalAccess,
    pub notes: &'a Option<String>,
    pub entitlements: &'a [Entitlement],
    pub welcome: &'a Option<Welcome>,
    pub created_at: &'a str,
    pub updated_at: &'a str,
    pub version: u64,
}

impl<'a> CustomerView<'a> {
    pub fn new(customer: &'a Customer, fields: &FieldSet, caller: &Caller) -> Self {
        let profile = &customer.profile;
        CustomerView {
            id: &customer.id,
            email: &profile.email,
            first_name: &profile.first_name,
            last_name: &profile.last_name,
            phones: &profile.phones,
            alternate_emails: &profile.alternate_emails,
            company_id: &profile.company_id,
            address: &profile.address,
            social: &profile.social,
            avatar: &profile.avatar,
            custom_fields: profile
                .custom_fields
                .iter()
                .filter(|(key, _)| fields.get(key).is_some_and(|d| d.can_view(caller)))
                .map(|(key, value)| (key.as_str(), value))
                .collect(),
            tags: &profile.tags,
            portal_access: profile.portal_access,
            notes: &profile.notes,
            entitlements: &profile.entitlements,
            welcome: &customer.welcome,
            created_at: &customer.created_at,
            updated_at: &customer.updated_at,
            version: customer.version,
        }
    }
}

/// The outcome of one item of `POST /customers/batch`.
#[derive(Debug, Serialize)]
pub struct BatchItemView<'a> {
    pub index: usize,
    pub email: &'a Option<String>,
    pub status: BatchStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customer: Option<CustomerView<'a>>,
    #[serde(skip_serializing_if = "<[FieldError]>::is_empty")]
    pub errors: &'a [FieldError],
}

impl<'a> BatchItemView<'a> {
    pub fn new(item: &'a BatchItemResult, fields: &FieldSet, caller: &Caller) -> Self {
        BatchItemView {
            index: item.index,
            email: &item.email,
            status: item.status,
            customer: item
                .customer
                .as_ref()
                .map(|c| CustomerView::new(c, fields, caller)),
            errors: &item.errors,
        }
    }
}
