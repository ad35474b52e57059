//! Mailer adapters: SES (API v2) in the cloud and an outbox folder of `.eml` files locally;
//! both send the same MIME.

mod mime;
mod outbox;
mod ses;

pub use outbox::OutboxMailer;
pub use ses::SesMailer;
