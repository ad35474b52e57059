//! The marks an admin sets or lifts on a customer: blocks, bounces, complaints. Each is kept
//! on the customer's addresses too (`services::addresses`), so it outlives the record.

use super::*;

impl CustomerService {
    /// `POST` (block) and `DELETE` (unblock) `/customers/{email}/block`, admins only. Blocking
    /// a blocked customer (or unblocking one who is not) changes nothing and answers the record.
    pub async fn set_blocked(
        &self,
        caller: &Caller,
        email: &Email,
        blocked: bool,
    ) -> Result<Customer, HelpdeskError> {
        caller.require_admin()?;
        let customer = retry_on_conflict("customer", || async {
            let current = self.find_customer(email).await?;
            if current.blocked.is_some() == blocked {
                return Ok(Attempt::Done(current));
            }
            let now = crate::domain::clock::now();
            let by = Actor::caller(&caller.subject);
            let mut next = current.next_version(current.profile.clone(), &now, by);
            next.blocked = blocked.then(|| Block {
                at: now.clone(),
                by: caller.subject.clone(),
            });
            let outcome = self.store.replace_customer(&current, &next).await;
            if outcome.is_ok() {
                tracing::info!(customer = %next.email(), blocked, "customer block changed");
            }
            Attempt::of_write(outcome, || next)
        })
        .await?;
        // The block is kept on the addresses too: deleting the customer lifts nothing, and the
        // next mail from them makes no new, unblocked customer.
        let mark = customer.blocked.as_ref().map(|block| AddressMark {
            at: Some(block.at.clone()),
            by: block.by.clone(),
            reason: None,
        });
        for email in customer.all_emails() {
            self.addresses
                .set(email, MarkKind::Blocked, mark.clone())
                .await?;
        }
        Ok(customer)
    }

    /// Clears the undeliverable mark (admins): replies may go to the address
    /// again (after the customer said it works). Clearing a mark that is not there changes
    /// nothing and answers the record.
    pub async fn clear_undeliverable(
        &self,
        caller: &Caller,
        email: &Email,
    ) -> Result<Customer, HelpdeskError> {
        self.clear_address_problem(caller, email, MarkKind::Undeliverable)
            .await
    }

    /// Lifts a bounce (`Undeliverable`) or complaint (`Complained`) mark from the customer's
    /// primary address and from the record (admins).
    pub async fn clear_address_problem(
        &self,
        caller: &Caller,
        email: &Email,
        kind: MarkKind,
    ) -> Result<Customer, HelpdeskError> {
        caller.require_admin()?;
        let customer = self.find_customer(email).await?;
        self.addresses.set(customer.email(), kind, None).await?;
        let problem = |c: &mut Customer| match kind {
            MarkKind::Complained => c.complained.take(),
            _ => c.undeliverable.take(),
        };
        retry_on_conflict("customer", || async {
            let current = self.find_customer(email).await?;
            let now = crate::domain::clock::now();
            let by = Actor::caller(&caller.subject);
            let mut next = current.next_version(current.profile.clone(), &now, by);
            if problem(&mut next).is_none() {
                return Ok(Attempt::Done(current));
            }
            let outcome = self.store.replace_customer(&current, &next).await;
            Attempt::of_write(outcome, || next)
        })
        .await
    }
}
