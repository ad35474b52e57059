//! `/addresses`: the marks an address carries whoever holds it (admins).

use super::*;
use crate::domain::address::{AddressMark, AddressMarks, MarkKind};
use crate::services::customers::AddressService;

/// An address and its marks.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = AddressMarks)]
pub struct AddressMarksView<'a> {
    pub email: &'a str,
    /// Mail from it makes no ticket; nothing automated goes to it.
    pub blocked: &'a Option<AddressMark>,
    /// Mail to it bounced for good: no reply or automated mail goes to it.
    pub undeliverable: &'a Option<AddressMark>,
    /// Its owner marked our mail as spam: no automated mail goes to it.
    pub complained: &'a Option<AddressMark>,
    /// Its owner was erased with suppression: no customer is made with it, its mail is ignored.
    pub suppressed: &'a Option<AddressMark>,
}

impl<'a> AddressMarksView<'a> {
    fn new(email: &'a Email, marks: &'a AddressMarks) -> Self {
        AddressMarksView {
            email: email.as_str(),
            blocked: &marks.blocked,
            undeliverable: &marks.undeliverable,
            complained: &marks.complained,
            suppressed: &marks.suppressed,
        }
    }
}

#[utoipa::path(get, path = "/addresses/{email}", tag = "addresses",
    summary = "The marks of an address, whoever holds it (admins)",
    params(("email" = String, Path, description = "An email address")),
    responses((status = 200, description = "The address's marks", body = AddressMarksView)))]
pub(super) async fn get_address(
    State(addresses): State<AddressService>,
    caller: Caller,
    Id(email): Id<Email>,
) -> ApiResult {
    let marks = addresses.marks(&caller, &email).await?;
    Ok(axum::Json(AddressMarksView::new(&email, &marks)).into_response())
}

#[utoipa::path(delete, path = "/addresses/{email}/marks/{mark}", tag = "addresses",
    summary = "Lift one mark of an address (admins): blocked, undeliverable, complained or suppressed",
    params(("email" = String, Path, description = "An email address"),
        ("mark" = String, Path, description = "blocked, undeliverable, complained or suppressed")),
    responses((status = 200, description = "The address's marks now", body = AddressMarksView)))]
pub(super) async fn lift_address_mark(
    State(addresses): State<AddressService>,
    caller: Caller,
    Params2(email, mark): Params2,
) -> ApiResult {
    let email = Email::parse_name(&email)
        .ok_or_else(|| HelpdeskError::NotFound(format!("address {}", email.trim())))?;
    let kind = MarkKind::parse(mark.trim())
        .ok_or_else(|| HelpdeskError::NotFound(format!("mark {}", mark.trim())))?;
    let marks = addresses.lift(&caller, &email, kind).await?;
    Ok(axum::Json(AddressMarksView::new(&email, &marks)).into_response())
}
