//! `helpdesk serve` with real mail: the support mailbox on Dovecot over IMAP, replies through
//! aiosmtpd over SMTP, crashes on either side, a wrong password, and a relay's 4xx and 5xx.

mod proxy;
mod servers;

use super::*;
use proxy::ImapProxy;
use servers::{Dovecot, MAILBOX_PASSWORD, SmtpSink};

fn block<F: std::future::Future>(work: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(work)
}

/// Waits up to `seconds` for `check` to answer something.
fn until<T>(what: &str, seconds: u64, check: impl Fn() -> Option<T>) -> T {
    let deadline = std::time::Instant::now() + Duration::from_secs(seconds);
    loop {
        if let Some(found) = check() {
            return found;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{what}: not within {seconds} s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `helpdesk serve` fetching the mailbox at `imap_port` (if any), sending through `smtp_port`
/// (if any), plain connections allowed for the test servers.
fn serve_with_mail(
    data: &Path,
    imap_port: Option<u16>,
    smtp_port: Option<u16>,
    password: &str,
    extra: &[&str],
) -> Server {
    let imap =
        imap_port.map(|port| format!("imap://support%40helpdesk.test@127.0.0.1:{port}/INBOX"));
    let smtp = smtp_port.map(|port| format!("smtp://127.0.0.1:{port}"));
    let mut args = vec!["--insecure-mail"];
    args.extend(extra);
    if let Some(imap) = &imap {
        args.extend(["--imap-url", imap]);
    }
    if let Some(smtp) = &smtp {
        args.extend(["--smtp-url", smtp]);
    }
    let env = [
        ("HELPDESK_IMAP_PASSWORD", password),
        ("SUPPORT_ADDRESS", "Support <support@helpdesk.test>"),
    ];
    Server::spawn(data, None, &args, None, &env)
}

fn admin_key(data: &Path) -> String {
    std::fs::read_to_string(data.join("admin.key"))
        .unwrap()
        .trim()
        .to_string()
}

/// `GET /status`'s IMAP state, once it is `state`.
fn imap_state(server: &Server, key: &str, state: &str) -> Value {
    until(&format!("IMAP state {state}"), 20, || {
        let (_, _, status) = server.request("GET", "/status", key, &[], None);
        (status["mail"]["imap"]["state"] == state).then_some(status)
    })
}

/// The tickets of `email`, once there are `count`.
fn tickets_of(server: &Server, key: &str, email: &str, count: usize) -> Value {
    until(&format!("{count} ticket(s) of {email}"), 20, || {
        let path = format!("/customers/{email}/tickets");
        let (status, _, body) = server.request("GET", &path, key, &[], None);
        (status == 200 && body["items"].as_array().map(Vec::len) == Some(count)).then_some(body)
    })
}

fn mail(
    from: &str,
    subject: &str,
    message_id: &str,
    in_reply_to: Option<&str>,
    text: &str,
) -> String {
    let threading = in_reply_to
        .map(|id| format!("In-Reply-To: {id}\r\nReferences: {id}\r\n"))
        .unwrap_or_default();
    format!(
        "From: {from}\r\nTo: Support <support@helpdesk.test>\r\nSubject: {subject}\r\n\
         Message-ID: {message_id}\r\nDate: Mon, 07 Dec 2026 09:00:00 +0000\r\n{threading}\r\n{text}\r\n"
    )
}

fn seen_flags(dovecot: &Dovecot) -> Vec<bool> {
    block(dovecot.messages("INBOX"))
        .iter()
        .map(|(flags, _)| flags.iter().any(|f| f.contains("Seen")))
        .collect()
}

#[test]
fn mailbox_mail_becomes_a_ticket_through_idle_and_the_conversation_goes_on_over_smtp() {
    let dovecot = Dovecot::start();
    let smtp = SmtpSink::start();
    let data = temp_dir("serve-mail");
    let server = serve_with_mail(
        &data,
        Some(dovecot.port),
        Some(smtp.port),
        MAILBOX_PASSWORD,
        &[],
    );
    let key = admin_key(&data);
    let status = imap_state(&server, &key, "idle");
    assert_eq!(status["mail"]["imap"]["idle_supported"], true, "{status}");

    // Delivered while the server waits in IDLE (it would poll only after 60 s).
    let delivered = std::time::Instant::now();
    let first = mail(
        "Ann Lee <ann@acme.test>",
        "Printer on fire",
        "<imap-1@acme.test>",
        None,
        "It burns.",
    );
    block(dovecot.deliver(&first));
    let tickets = tickets_of(&server, &key, "ann@acme.test", 1);
    let took = delivered.elapsed();
    assert!(
        took < Duration::from_secs(10),
        "IDLE woke the fetch: {took:?}"
    );
    assert_eq!(seen_flags(&dovecot), [true], "marked once stored");
    let ticket = tickets["items"][0]["id"].as_str().unwrap().to_string();

    // The agent's reply leaves through the relay, threaded to the customer's mail.
    let path = format!("/tickets/{ticket}/messages");
    let (status, _, reply) = server.request(
        "POST",
        &path,
        &key,
        &[],
        Some(&json!({"text": "Unplug it."})),
    );
    assert_eq!(status, 201, "{reply}");
    let sent = until("the reply at the relay", 20, || smtp.received().pop());
    assert_eq!(sent.0["to"], json!(["ann@acme.test"]), "{}", sent.0);
    let reply_id = reply["message_id"].as_str().unwrap();
    assert!(
        sent.1.contains(&format!("Message-ID: <{reply_id}>")),
        "{}",
        sent.1
    );
    assert!(
        sent.1.contains("In-Reply-To: <imap-1@acme.test>"),
        "{}",
        sent.1
    );
    assert!(
        sent.1.contains("References: <imap-1@acme.test>"),
        "{}",
        sent.1
    );
    let thread = until("the reply marked sent", 20, || {
        let (_, _, thread) = server.request("GET", &format!("/tickets/{ticket}"), &key, &[], None);
        (thread["messages"][1]["delivery"]["status"] == "sent").then_some(thread)
    });
    assert!(
        thread["messages"][1]["delivery"]["provider_id"]
            .as_str()
            .unwrap()
            .contains("queued as")
    );
    // The outbox keeps its copy, under the same Message-ID.
    let copies: Vec<String> = std::fs::read_dir(data.join("outbox"))
        .unwrap()
        .flatten()
        .filter_map(|e| std::fs::read_to_string(e.path()).ok())
        .collect();
    assert!(copies.iter().any(|c| c.contains(reply_id)), "{copies:?}");

    // The customer's answer, put in the mailbox, joins the ticket.
    let answer = mail(
        "Ann Lee <ann@acme.test>",
        "Re: Printer on fire",
        "<imap-2@acme.test>",
        Some(&format!("<{reply_id}>")),
        "Unplugged. Thanks!",
    );
    block(dovecot.deliver(&answer));
    let thread = until("the answer in the ticket", 20, || {
        let (_, _, thread) = server.request("GET", &format!("/tickets/{ticket}"), &key, &[], None);
        (thread["messages"].as_array().map(Vec::len) == Some(3)).then_some(thread)
    });
    assert_eq!(
        thread["messages"][2]["text"].as_str().map(str::trim),
        Some("Unplugged. Thanks!"),
        "{thread}"
    );
    tickets_of(&server, &key, "ann@acme.test", 1);
    assert_eq!(seen_flags(&dovecot), [true, true]);
    let (_, _, status) = server.request("GET", "/status", &key, &[], None);
    assert_eq!(status["mail"]["imap"]["messages_ingested"], 2, "{status}");
    assert_eq!(status["mail"]["smtp"]["messages_sent"], 1, "{status}");
}

#[test]
fn a_server_killed_mid_fetch_and_a_helpdesk_killed_before_the_mark_lose_and_repeat_nothing() {
    let mut dovecot = Dovecot::start();
    let proxy = ImapProxy::start(dovecot.port);
    let data = temp_dir("serve-mail-crash");
    let server = serve_with_mail(&data, Some(proxy.port), None, MAILBOX_PASSWORD, &[]);
    let key = admin_key(&data);
    imap_state(&server, &key, "idle");

    // Dovecot dies while the message is being fetched, and comes back.
    proxy.hold("BODY.PEEK[]");
    block(dovecot.deliver(&mail(
        "Bo <bo@acme.test>",
        "First",
        "<crash-1@acme.test>",
        None,
        "One.",
    )));
    proxy.wait_sprung();
    dovecot.kill();
    proxy.release();
    let (_, _, status) = server.request("GET", "/status", &key, &[], None);
    assert!(status["mail"]["imap"]["state"] != "idle", "{status}");
    dovecot.restart();
    tickets_of(&server, &key, "bo@acme.test", 1);
    until("the first message marked", 20, || {
        (seen_flags(&dovecot) == [true]).then_some(())
    });
    let (_, _, status) = server.request("GET", "/status", &key, &[], None);
    assert!(
        status["mail"]["imap"]["last_error"].is_string(),
        "the outage was seen: {status}"
    );

    // Dovecot restarted while helpdesk waits in IDLE: it reconnects and mail flows again.
    imap_state(&server, &key, "idle");
    dovecot.restart();
    block(dovecot.deliver(&mail(
        "Di <di@acme.test>",
        "After",
        "<crash-0@acme.test>",
        None,
        "Back.",
    )));
    tickets_of(&server, &key, "di@acme.test", 1);
    until("the message after the restart marked", 20, || {
        (seen_flags(&dovecot) == [true, true]).then_some(())
    });

    // helpdesk is killed after storing a message and before marking it.
    proxy.hold("UID STORE");
    block(dovecot.deliver(&mail(
        "Cy <cy@acme.test>",
        "Second",
        "<crash-2@acme.test>",
        None,
        "Two.",
    )));
    proxy.wait_sprung();
    server.crash();
    proxy.release();
    assert_eq!(
        seen_flags(&dovecot),
        [true, true, false],
        "stored, not marked"
    );
    let offline = Server::spawn(&data, None, &[], None, &[]);
    tickets_of(&offline, &key, "cy@acme.test", 1);
    drop(offline);
    let server = serve_with_mail(&data, Some(proxy.port), None, MAILBOX_PASSWORD, &[]);
    until("the second message marked", 20, || {
        (seen_flags(&dovecot) == [true, true, true]).then_some(())
    });
    let tickets = tickets_of(&server, &key, "cy@acme.test", 1);
    let ticket = tickets["items"][0]["id"].as_str().unwrap();
    let (_, _, thread) = server.request("GET", &format!("/tickets/{ticket}"), &key, &[], None);
    assert_eq!(
        thread["messages"].as_array().map(Vec::len),
        Some(1),
        "no second copy: {thread}"
    );
    tickets_of(&server, &key, "bo@acme.test", 1);
}

#[test]
fn a_wrong_password_is_a_clear_error_and_a_state_not_a_crash_loop() {
    let dovecot = Dovecot::start();
    let data = temp_dir("serve-mail-password");
    let server = serve_with_mail(&data, Some(dovecot.port), None, "not-the-password", &[]);
    let key = admin_key(&data);
    let status = imap_state(&server, &key, "error");
    let imap = &status["mail"]["imap"];
    assert!(
        imap["last_error"]
            .as_str()
            .unwrap()
            .contains("login refused"),
        "{status}"
    );
    assert!(imap["retry_in_seconds"].as_u64().unwrap() >= 60, "{status}");
    assert!(
        server.log_text().contains("IMAP login refused"),
        "{}",
        server.log_text()
    );
    std::thread::sleep(Duration::from_secs(3));
    let attempts = dovecot.log().matches("auth failed").count();
    assert_eq!(attempts, 1, "one attempt, then a wait: {}", dovecot.log());
    let (health, _, _) = server.request("GET", "/health", &key, &[], None);
    assert_eq!(health, 200);
    // The status is for admins only.
    let agents = "agent-key-0123456789:agent";
    drop(server);
    let server = Server::spawn(&data, Some(agents), &[], None, &[]);
    let (status, _, _) = server.request("GET", "/status", "agent-key-0123456789", &[], None);
    assert_eq!(status, 403);
}

#[test]
fn a_relays_4xx_is_retried_and_its_5xx_fails_the_reply_and_marks_the_address() {
    let smtp = SmtpSink::start();
    let data = temp_dir("serve-mail-relay");
    let server = serve_with_mail(
        &data,
        None,
        Some(smtp.port),
        "",
        &["--smtp-per-minute", "120", "--no-outbox-copy"],
    );
    let key = admin_key(&data);
    let ticket_of = |email: &str| {
        let raw = mail(
            email,
            &format!("Hello from {email}"),
            &format!("<{email}>"),
            None,
            "Hi.",
        );
        let name = email.split('@').next().unwrap();
        std::fs::write(data.join(format!("{name}.tmp")), raw).unwrap();
        std::fs::rename(
            data.join(format!("{name}.tmp")),
            data.join(format!("inbox/{name}.eml")),
        )
        .unwrap();
        let tickets = tickets_of(&server, &key, email, 1);
        tickets["items"][0]["id"].as_str().unwrap().to_string()
    };
    let reply_cc = |ticket: &str, cc: &[&str]| {
        let path = format!("/tickets/{ticket}/messages");
        let body = json!({"text": "On it.", "cc": cc});
        let (status, _, body) = server.request("POST", &path, &key, &[], Some(&body));
        assert_eq!(status, 201, "{body}");
    };
    let reply = |ticket: &str| reply_cc(ticket, &[]);
    let delivery = |ticket: &str, wanted: &str| {
        until(&format!("delivery {wanted}"), 30, || {
            let (_, _, thread) =
                server.request("GET", &format!("/tickets/{ticket}"), &key, &[], None);
            let delivery = thread["messages"][1]["delivery"].clone();
            (delivery["status"] == wanted && (wanted != "queued" || delivery["error"].is_string()))
                .then_some(delivery)
        })
    };
    let (busy, refused, down, copied) = (
        ticket_of("busy-ann@acme.test"),
        ticket_of("refuse-bob@acme.test"),
        ticket_of("down-cy@acme.test"),
        ticket_of("eve@acme.test"),
    );
    reply(&busy);
    reply(&refused);
    reply(&down);
    reply_cc(&copied, &["refuse-dan@acme.test"]);

    // 451 twice, then taken: sent, after three tries.
    delivery(&busy, "sent");
    // A refused Cc: the customer gets the reply, the Cc's address is marked.
    delivery(&copied, "sent");
    let mut taken: Vec<Value> = smtp
        .received()
        .into_iter()
        .map(|(envelope, _)| envelope)
        .collect();
    taken.sort_by_key(|e| e["to"].to_string());
    assert_eq!(taken.len(), 2, "only these went out: {taken:?}");
    assert_eq!(taken[0]["to"], json!(["busy-ann@acme.test"]));
    assert_eq!(taken[0]["attempts"]["busy-ann@acme.test"], 3);
    assert_eq!(taken[1]["to"], json!(["eve@acme.test"]));
    let (_, _, dan) = server.request("GET", "/addresses/refuse-dan@acme.test", &key, &[], None);
    assert!(dan["undeliverable"].is_object(), "{dan}");
    // 550 to RCPT TO: failed for good, and the address is undeliverable as after a bounce.
    let failed = delivery(&refused, "failed");
    assert!(
        failed["error"].as_str().unwrap().contains("550"),
        "{failed}"
    );
    let (_, _, bob) = server.request("GET", "/customers/refuse-bob@acme.test", &key, &[], None);
    assert!(bob["undeliverable"].is_object(), "{bob}");
    // 451 every time: still queued with the error, waiting for its next try.
    let waiting = delivery(&down, "queued");
    assert!(
        waiting["error"].as_str().unwrap().contains("451"),
        "{waiting}"
    );
    let (_, _, status) = server.request("GET", "/status", &key, &[], None);
    assert_eq!(status["mail"]["smtp"]["messages_sent"], 2, "{status}");
    // Paced at 120 a minute: every transaction began half a second after the one before.
    let started = std::fs::read_to_string(smtp.dir.join("started.json")).unwrap();
    let started: Vec<f64> = serde_json::from_str(&started).unwrap();
    assert!(started.len() >= 6, "{started:?}");
    assert!(
        started.windows(2).all(|w| w[1] - w[0] >= 0.45),
        "{started:?}"
    );
    assert!(status["mail"]["smtp"]["last_error"].is_string(), "{status}");
    let copies = std::fs::read_dir(data.join("outbox")).map_or(0, |d| d.count());
    assert_eq!(copies, 0, "--no-outbox-copy keeps none");
}

#[test]
fn stored_messages_can_be_moved_to_a_folder_instead_of_marked() {
    let dovecot = Dovecot::start();
    let data = temp_dir("serve-mail-move");
    let server = serve_with_mail(
        &data,
        Some(dovecot.port),
        None,
        MAILBOX_PASSWORD,
        &["--imap-move-to", "Processed"],
    );
    let key = admin_key(&data);
    imap_state(&server, &key, "idle");
    // Read by a person before helpdesk fetched it: moving mode takes it all the same.
    let raw = mail(
        "Gus <gus@acme.test>",
        "Moved",
        "<move-1@acme.test>",
        None,
        "Hi.",
    );
    deliver_read(&dovecot, &raw);
    tickets_of(&server, &key, "gus@acme.test", 1);
    until("moved out of INBOX", 20, || {
        block(dovecot.messages("INBOX")).is_empty().then_some(())
    });
    let moved = block(dovecot.messages("Processed"));
    assert_eq!(moved.len(), 1, "{moved:?}");
    assert!(moved[0].1.contains("Moved"), "{moved:?}");
}

/// Appends `raw` to INBOX already `\Seen`, as when a person reads the shared mailbox first.
fn deliver_read(dovecot: &Dovecot, raw: &str) {
    block(async {
        let mut session = dovecot.client().await;
        session
            .append("INBOX", Some("(\\Seen)"), None, raw.as_bytes())
            .await
            .unwrap();
        session.logout().await.unwrap();
    });
}

#[test]
fn mail_a_person_read_before_helpdesk_fetched_it_still_becomes_a_ticket() {
    let dovecot = Dovecot::start();
    let read = |who: &str| {
        mail(
            &format!("<{who}@acme.test>"),
            "Read first",
            &format!("<{who}-1@acme.test>"),
            None,
            "Hi.",
        )
    };
    // Read before helpdesk first looked at the mailbox: left as it is.
    deliver_read(&dovecot, &read("old"));
    let data = temp_dir("serve-mail-read-first");
    let server = serve_with_mail(&data, Some(dovecot.port), None, MAILBOX_PASSWORD, &[]);
    let key = admin_key(&data);
    imap_state(&server, &key, "idle");
    // Read by a person before helpdesk fetched it: taken all the same.
    deliver_read(&dovecot, &read("hal"));
    tickets_of(&server, &key, "hal@acme.test", 1);
    // Also across a restart: the bookmark is kept in the data dir.
    drop(server);
    deliver_read(&dovecot, &read("ivy"));
    let server = serve_with_mail(&data, Some(dovecot.port), None, MAILBOX_PASSWORD, &[]);
    tickets_of(&server, &key, "ivy@acme.test", 1);
    let (status, _, _) = server.request("GET", "/customers/old@acme.test", &key, &[], None);
    assert_eq!(
        status, 404,
        "mail read before helpdesk first connected is not taken"
    );
    // Each once: a later round takes nothing again.
    imap_state(&server, &key, "idle");
    tickets_of(&server, &key, "hal@acme.test", 1);
    let (_, _, status) = server.request("GET", "/status", &key, &[], None);
    assert_eq!(status["mail"]["imap"]["messages_ingested"], 1, "{status}");
}

#[test]
fn tls_is_the_default_and_the_servers_certificates_are_verified() {
    let certificates = servers::Certificates::make();
    let dovecot = Dovecot::start_tls(&certificates);
    let smtp = SmtpSink::start_tls(&certificates);
    let imap = format!(
        "imaps://support%40helpdesk.test@127.0.0.1:{}/INBOX",
        dovecot.port
    );
    let relay = format!("smtp://127.0.0.1:{}", smtp.port);
    let start = |data: &Path, trusted: &Path| {
        let args = ["--imap-url", imap.as_str(), "--smtp-url", relay.as_str()];
        let trusted = trusted.to_str().unwrap();
        let env = [
            ("HELPDESK_IMAP_PASSWORD", MAILBOX_PASSWORD),
            ("SUPPORT_ADDRESS", "Support <support@helpdesk.test>"),
            ("SSL_CERT_FILE", trusted),
        ];
        Server::spawn(data, None, &args, None, &env)
    };

    // A certificate no trusted authority signed: no connection, and the reason shown.
    let data = temp_dir("serve-mail-untrusted");
    let stranger = servers::Certificates::make();
    let server = start(&data, &stranger.authority);
    let status = imap_state(&server, &admin_key(&data), "error");
    let error = status["mail"]["imap"]["last_error"].as_str().unwrap();
    assert!(
        error.contains("TLS") && error.to_lowercase().contains("certificate"),
        "{error}"
    );
    drop(server);

    // Trusted: mail in over IMAPS, the reply out after STARTTLS.
    let data = temp_dir("serve-mail-tls");
    let server = start(&data, &certificates.authority);
    let key = admin_key(&data);
    imap_state(&server, &key, "idle");
    let raw = mail(
        "Di <di@acme.test>",
        "Over TLS",
        "<tls-1@acme.test>",
        None,
        "Encrypted.",
    );
    block(dovecot.deliver(&raw));
    let tickets = tickets_of(&server, &key, "di@acme.test", 1);
    let ticket = tickets["items"][0]["id"].as_str().unwrap();
    let path = format!("/tickets/{ticket}/messages");
    let (status, _, _) = server.request("POST", &path, &key, &[], Some(&json!({"text": "Ok."})));
    assert_eq!(status, 201);
    let sent = until("the reply at the relay", 20, || smtp.received().pop());
    assert_eq!(sent.0["to"], json!(["di@acme.test"]));
    drop(server);

    // smtps://: TLS from the first byte.
    let smtps = SmtpSink::start_implicit_tls(&certificates);
    let relay = format!("smtps://127.0.0.1:{}", smtps.port);
    let args = ["--smtp-url", relay.as_str()];
    let trusted = certificates.authority.to_str().unwrap();
    let env = [
        ("SUPPORT_ADDRESS", "Support <support@helpdesk.test>"),
        ("SSL_CERT_FILE", trusted),
    ];
    let server = Server::spawn(&data, None, &args, None, &env);
    let (status, _, _) = server.request("POST", &path, &key, &[], Some(&json!({"text": "Again."})));
    assert_eq!(status, 201);
    let sent = until("the reply at the smtps relay", 20, || {
        smtps.received().pop()
    });
    assert!(sent.1.contains("Again."), "{}", sent.1);
}

#[test]
fn a_server_without_idle_is_polled() {
    let dovecot = Dovecot::start_without_idle();
    let data = temp_dir("serve-mail-poll");
    let url = format!(
        "imap://support%40helpdesk.test@127.0.0.1:{}/INBOX",
        dovecot.port
    );
    let args = [
        "--insecure-mail",
        "--imap-url",
        url.as_str(),
        "--imap-poll-seconds",
        "5",
    ];
    let server = Server::spawn(
        &data,
        None,
        &args,
        None,
        &[("HELPDESK_IMAP_PASSWORD", MAILBOX_PASSWORD)],
    );
    let key = admin_key(&data);
    let status = imap_state(&server, &key, "polling");
    assert_eq!(status["mail"]["imap"]["idle_supported"], false, "{status}");
    block(dovecot.deliver(&mail(
        "Flo <flo@acme.test>",
        "Polled",
        "<poll-1@acme.test>",
        None,
        "Hi.",
    )));
    tickets_of(&server, &key, "flo@acme.test", 1);
    until("marked", 10, || {
        (seen_flags(&dovecot) == [true]).then_some(())
    });
}

#[test]
fn mail_that_arrives_while_a_round_runs_is_fetched_at_once() {
    let dovecot = Dovecot::start();
    let proxy = ImapProxy::start(dovecot.port);
    let data = temp_dir("serve-mail-race");
    let server = serve_with_mail(&data, Some(proxy.port), None, MAILBOX_PASSWORD, &[]);
    let key = admin_key(&data);
    imap_state(&server, &key, "idle");
    // The first message's mark waits on the network while the second arrives: the server
    // announces it in its answer to that command, not again in the IDLE that follows.
    proxy.hold("UID STORE");
    block(dovecot.deliver(&mail(
        "Hal <hal@acme.test>",
        "First",
        "<race-1@acme.test>",
        None,
        "1",
    )));
    proxy.wait_sprung();
    block(dovecot.deliver(&mail(
        "Ida <ida@acme.test>",
        "Second",
        "<race-2@acme.test>",
        None,
        "2",
    )));
    proxy.resume();
    tickets_of(&server, &key, "hal@acme.test", 1);
    // Within seconds, not at the next IDLE renewal ten minutes later.
    tickets_of(&server, &key, "ida@acme.test", 1);
    until("both marked", 10, || {
        (seen_flags(&dovecot) == [true, true]).then_some(())
    });
}
