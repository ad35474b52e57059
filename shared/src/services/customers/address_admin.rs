//! Admins' view of the address book (`services::addresses`): an address's marks, and lifting
//! one, which reaches the customer who holds the address.

use super::CustomerService;
use crate::domain::address::{AddressMarks, MarkKind};
use crate::domain::error::HelpdeskError;
use crate::services::addresses::AddressBook;

/// Admins' view of the address book: an address's marks, and lifting one explicitly.
#[derive(Clone)]
pub struct AddressService {
    book: AddressBook,
    customers: CustomerService,
}

impl AddressService {
    pub fn new(book: AddressBook, customers: CustomerService) -> Self {
        Self { book, customers }
    }

    /// The marks of an address (admins), whoever holds it.
    pub async fn marks(
        &self,
        caller: &crate::domain::caller::Caller,
        email: &crate::domain::email::Email,
    ) -> Result<AddressMarks, HelpdeskError> {
        caller.require_admin()?;
        self.book.marks(email).await
    }

    /// Lifts one mark of an address (admins only, and only this way: nothing lifts a mark as
    /// a side effect). A blocked address held by a blocked customer unblocks that customer
    /// (and so all its addresses); a customer's own bounce or complaint record goes too.
    pub async fn lift(
        &self,
        caller: &crate::domain::caller::Caller,
        email: &crate::domain::email::Email,
        kind: MarkKind,
    ) -> Result<AddressMarks, HelpdeskError> {
        caller.require_admin()?;
        let holder = self.customers.store().find_customer(email).await?;
        match (kind, &holder) {
            (MarkKind::Blocked, Some(customer)) if customer.blocked.is_some() => {
                self.customers.set_blocked(caller, email, false).await?;
            }
            (MarkKind::Undeliverable | MarkKind::Complained, Some(customer))
                if customer.email() == email.as_str() =>
            {
                self.customers
                    .clear_address_problem(caller, email, kind)
                    .await?;
            }
            _ => {}
        }
        self.book.set(email, kind, None).await?;
        self.book.marks(email).await
    }
}
