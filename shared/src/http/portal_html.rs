//! The portal's pages, rendered on the server (maud escapes every value). Plain HTML forms,
//! no script: they work with the keyboard and without JavaScript, and the Content-Security-
//! Policy allows nothing but this site's stylesheet.

use maud::{DOCTYPE, Markup, html};

use super::portal::{PortalConversationView, PortalMeView, PortalTicketView};

/// The page around every portal screen: the team's name, and when signed in, the way round.
pub(super) fn layout(brand: &str, title: &str, signed_in: bool, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · " (brand) }
                link rel="stylesheet" href="/portal/static/portal.css";
                link rel="icon" href="/portal/static/icon.svg" type="image/svg+xml";
            }
            body {
                a.skip href="#main" { "Skip to content" }
                header.bar {
                    a.brand href="/portal" { (brand) }
                    @if signed_in {
                        nav aria-label="Portal" {
                            a href="/portal" { "My tickets" }
                            a href="/portal/new" { "New ticket" }
                            a href="/portal/profile" { "Profile" }
                            form method="post" action="/portal/form/sign-out" {
                                button.link type="submit" { "Sign out" }
                            }
                        }
                    }
                }
                main id="main" { (body) }
                footer { p { "Support portal of " (brand) } }
            }
        }
    }
}

fn problem(error: Option<&str>) -> Markup {
    html! {
        @if let Some(error) = error {
            p.error role="alert" { (error) }
        }
    }
}

pub(super) fn sign_in(error: Option<&str>) -> Markup {
    html! {
        h1 { "Sign in" }
        p { "Enter your email address. We will send you a code to sign in with." }
        (problem(error))
        form.card method="post" action="/portal/form/sign-in" {
            label for="email" { "Email address" }
            input #email type="email" name="email" required autocomplete="email" autofocus;
            button type="submit" { "Send me a code" }
        }
    }
}

pub(super) fn code(email: &str, error: Option<&str>) -> Markup {
    html! {
        h1 { "Check your email" }
        p { "If " strong { (email) } " may sign in, a code is on its way. It works once, for 15 minutes." }
        (problem(error))
        form.card method="post" action="/portal/form/code" {
            input type="hidden" name="email" value=(email);
            label for="code" { "Sign-in code" }
            input #code name="code" required inputmode="numeric" autocomplete="one-time-code" autofocus;
            button type="submit" { "Sign in" }
        }
        p { a href="/portal" { "Use another address" } }
    }
}

pub(super) fn link(token: &str, error: Option<&str>) -> Markup {
    html! {
        h1 { "Sign in" }
        (problem(error))
        p { "Continue to sign in to the support portal." }
        form.card method="post" action="/portal/form/link" {
            input type="hidden" name="token" value=(token);
            button type="submit" { "Sign in" }
        }
    }
}

fn ticket_row(ticket: &PortalTicketView<'_>) -> Markup {
    html! {
        li.ticket {
            a href={ "/portal/t/" (ticket.id) } { (ticket.subject) }
            span class={ "status " (status_class(ticket)) } { (ticket.status_text) }
            span.meta {
                "#" (ticket.id) " · last activity "
                time datetime=(ticket.last_activity_at) { (short_time(ticket.last_activity_at)) }
                @if !ticket.yours { " · a colleague's" }
            }
        }
    }
}

fn status_class(ticket: &PortalTicketView<'_>) -> &'static str {
    match ticket.status {
        crate::domain::ticket::TicketStatus::Open => "open",
        crate::domain::ticket::TicketStatus::Pending => "pending",
        _ => "done",
    }
}

/// `2026-12-06T10:00:00.000Z` as `2026-12-06 10:00 UTC`.
fn short_time(at: &str) -> String {
    match (at.get(..10), at.get(11..16)) {
        (Some(day), Some(time)) => format!("{day} {time} UTC"),
        _ => at.to_string(),
    }
}

pub(super) fn tickets(
    me: &PortalMeView<'_>,
    company: bool,
    items: &[PortalTicketView<'_>],
    next: Option<&str>,
) -> Markup {
    let tab = if company { "company" } else { "own" };
    html! {
        h1 { "Your tickets" }
        @if me.sees_company {
            nav.tabs aria-label="Which tickets" {
                a href="/portal" aria-current=[(!company).then_some("page")] { "Mine" }
                a href="/portal?scope=company" aria-current=[company.then_some("page")] { "My company's" }
            }
        }
        @if items.is_empty() {
            p.empty { "No tickets here yet. " a href="/portal/new" { "Ask us something" } "." }
        } @else {
            ul.tickets { @for ticket in items { (ticket_row(ticket)) } }
        }
        @if let Some(next) = next {
            p { a href={ "/portal?scope=" (tab) "&cursor=" (next) } { "Older tickets" } }
        }
    }
}

pub(super) fn conversation(view: &PortalConversationView<'_>, error: Option<&str>) -> Markup {
    let ticket = &view.ticket;
    html! {
        p { a href="/portal" { "← All tickets" } }
        h1 { (ticket.subject) }
        p.meta {
            span class={ "status " (status_class(ticket)) } { (ticket.status_text) }
            " #" (ticket.id)
        }
        @if view.more { p.note { "The first 500 messages are shown." } }
        ol.messages {
            @for message in &view.messages {
                li class={ "message" @if message.from_support { " support" } } {
                    p.who {
                        strong { (message.from) }
                        @if message.yours { " (you)" }
                        " · " time datetime=(message.at) { (short_time(message.at)) }
                    }
                    div.text { (message.text) }
                    @if !message.attachments.is_empty() {
                        ul.files {
                            @for file in &message.attachments {
                                li { a href=(file.link) { (file.filename) } " (" (file.size) " bytes)" }
                            }
                        }
                    }
                }
            }
        }
        (problem(error))
        @if ticket.can_reply {
            form.card method="post" action={ "/portal/t/" (ticket.id) "/reply" } enctype="multipart/form-data" {
                label for="text" { "Your answer" }
                textarea #text name="text" rows="6" required {}
                label for="files" { "Files (optional, up to 5, 4 MiB together)" }
                input #files type="file" name="files" multiple;
                button type="submit" { "Send" }
            }
        } @else {
            p.note { "You can read this ticket; only its requester and colleagues with full company access can answer it." }
        }
        @if ticket.can_solve {
            form method="post" action={ "/portal/t/" (ticket.id) "/solve" } {
                button.secondary type="submit" { "Mark as solved" }
            }
        }
    }
}

pub(super) fn new_ticket(error: Option<&str>) -> Markup {
    html! {
        h1 { "New ticket" }
        (problem(error))
        form.card method="post" action="/portal/new" enctype="multipart/form-data" {
            label for="subject" { "Subject" }
            input #subject name="subject" required maxlength="200";
            label for="text" { "How can we help?" }
            textarea #text name="text" rows="8" required {}
            label for="files" { "Files (optional, up to 5, 4 MiB together)" }
            input #files type="file" name="files" multiple;
            button type="submit" { "Send" }
        }
    }
}

/// The customer's profile: who they are to support, and their picture.
pub(super) fn profile(me: &PortalMeView<'_>, error: Option<&str>) -> Markup {
    let name = [me.first_name.as_deref(), me.last_name.as_deref()]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
    html! {
        h1 { "Your profile" }
        (problem(error))
        section.card.profile {
            @if let Some(avatar) = &me.avatar_image {
                img.avatar src=(avatar.sizes.get("128").unwrap_or(&avatar.url)) width="128" height="128"
                    alt="Your picture";
            } @else {
                div.avatar.none aria-hidden="true" { (initials(&name, me.email)) }
            }
            div {
                @if !name.is_empty() { p.name { (name) } }
                p.note { (me.email) }
            }
        }
        form.card method="post" action="/portal/form/avatar" enctype="multipart/form-data" {
            label for="picture" { "Your picture (PNG, JPEG, WebP or GIF, up to 5 MiB)" }
            input #picture type="file" name="picture" required
                accept="image/png,image/jpeg,image/webp,image/gif";
            p.note { "We crop it square and keep nothing but the picture (no location or camera data)." }
            button type="submit" { "Upload picture" }
        }
        @if me.avatar_image.is_some() {
            form method="post" action="/portal/form/avatar/remove" {
                button.secondary type="submit" { "Remove picture" }
            }
        }
    }
}

/// Up to two letters for a customer without a picture.
fn initials(name: &str, email: &str) -> String {
    let source = if name.trim().is_empty() { email } else { name };
    source
        .split_whitespace()
        .filter_map(|word| word.chars().find(|c| c.is_alphanumeric()))
        .take(2)
        .flat_map(char::to_uppercase)
        .collect()
}

pub(super) fn not_found() -> Markup {
    html! {
        h1 { "Not found" }
        p { "This ticket does not exist, or it is not yours to see." }
        p { a href="/portal" { "Back to your tickets" } }
    }
}

/// The icon: a speech bubble in the accent colour.
pub(super) const ICON: &str = r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><path fill="#2451b3" d="M6 5h20a3 3 0 0 1 3 3v12a3 3 0 0 1-3 3H14l-6 5v-5H6a3 3 0 0 1-3-3V8a3 3 0 0 1 3-3z"/></svg>"##;

/// The stylesheet: with the icon, the only assets the pages load.
pub(super) const STYLESHEET: &str = r#"
:root { --ink: #1d2330; --muted: #5b6475; --line: #d9dee7; --accent: #2451b3; --bg: #f6f7fb;
        --ok: #1f7a4d; --wait: #9a5b00; font-family: system-ui, -apple-system, "Segoe UI", sans-serif; }
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--ink); line-height: 1.5; }
a { color: var(--accent); }
a:focus, button:focus, input:focus, textarea:focus { outline: 3px solid #9bb5f0; outline-offset: 2px; }
.skip { position: absolute; left: -9999px; }
.skip:focus { left: 1rem; top: 1rem; background: #fff; padding: .5rem; }
.bar { display: flex; justify-content: space-between; align-items: center; gap: 1rem;
       padding: .75rem 1.5rem; background: #fff; border-bottom: 1px solid var(--line); flex-wrap: wrap; }
.brand { font-weight: 700; font-size: 1.1rem; text-decoration: none; color: var(--ink); }
nav { display: flex; gap: 1rem; align-items: center; }
nav form { margin: 0; }
main { max-width: 46rem; margin: 2rem auto; padding: 0 1.25rem; }
h1 { font-size: 1.6rem; margin: 0 0 1rem; }
.card { background: #fff; border: 1px solid var(--line); border-radius: 10px; padding: 1.25rem;
        display: grid; gap: .6rem; margin: 1rem 0; }
label { font-weight: 600; }
input, textarea { font: inherit; padding: .55rem .7rem; border: 1px solid #b8c0cf; border-radius: 6px; width: 100%; }
button { font: inherit; font-weight: 600; padding: .55rem 1.1rem; border-radius: 6px; border: 0;
         background: var(--accent); color: #fff; cursor: pointer; justify-self: start; }
button.secondary { background: #fff; color: var(--accent); border: 1px solid var(--accent); }
button.link { background: none; color: var(--accent); padding: 0; text-decoration: underline; font-weight: 400; }
.error { background: #fdecec; border: 1px solid #f3b5b5; color: #8a1c1c; padding: .6rem .8rem; border-radius: 6px; }
.tabs { border-bottom: 1px solid var(--line); margin-bottom: 1rem; }
.tabs a { padding: .4rem .2rem; text-decoration: none; }
.tabs a[aria-current="page"] { border-bottom: 3px solid var(--accent); font-weight: 600; }
ul.tickets, ol.messages { list-style: none; padding: 0; margin: 0; display: grid; gap: .6rem; }
.ticket { background: #fff; border: 1px solid var(--line); border-radius: 10px; padding: .8rem 1rem;
          display: grid; grid-template-columns: 1fr auto; gap: .2rem 1rem; }
.ticket a { font-weight: 600; }
.meta { color: var(--muted); font-size: .9rem; grid-column: 1 / -1; }
.status { font-size: .8rem; font-weight: 600; padding: .1rem .55rem; border-radius: 999px;
          background: #e8eefc; color: var(--accent); white-space: nowrap; }
.status.pending { background: #fff3e0; color: var(--wait); }
.status.done { background: #e6f4ec; color: var(--ok); }
.message { background: #fff; border: 1px solid var(--line); border-radius: 10px; padding: .8rem 1rem; }
.message.support { border-left: 4px solid var(--accent); }
.who { margin: 0 0 .4rem; color: var(--muted); }
.who strong { color: var(--ink); }
.text { white-space: pre-wrap; overflow-wrap: anywhere; }
.files { margin: .5rem 0 0; padding-left: 1.2rem; }
.note, .empty { color: var(--muted); }
.profile { grid-template-columns: auto 1fr; align-items: center; gap: 1.25rem; }
.avatar { width: 128px; height: 128px; border-radius: 50%; border: 1px solid var(--line); }
.avatar.none { display: grid; place-items: center; background: #e8eefc; color: var(--accent);
               font-size: 2.5rem; font-weight: 700; }
.profile .name { font-size: 1.2rem; font-weight: 600; margin: 0; }
.profile .note { margin: 0; }
footer { text-align: center; color: var(--muted); font-size: .85rem; padding: 2rem 0; }
"#;
