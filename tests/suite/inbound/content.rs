//! What a message holds: charsets, attachments, large bodies, HTML that loads nothing remote.

use super::*;

async fn charsets_and_encoded_words_become_utf8(api: LambdaApi) {
    let mail = Mail::new(api);
    let raw = eml(
        &[
            ("From", "=?UTF-8?B?Wm/DqyBNw7xsbGVy?= <zoe@example.de>"),
            ("To", "help@helpdesk.test"),
            (
                "Subject",
                "=?ISO-8859-1?Q?Caf=E9_cr=E8me?= =?UTF-8?Q?_=E2=82=AC?=",
            ),
            ("Message-ID", "<cs1@example.de>"),
            ("MIME-Version", "1.0"),
            ("Content-Type", "text/plain; charset=windows-1252"),
            ("Content-Transfer-Encoding", "quoted-printable"),
        ],
        "Pr=E9sentation =80 100\n",
    );
    let record = mail.deliver(&raw).await;
    assert_eq!(record["subject"], "Café crème €");
    let zoe = mail.api.get(As::Agent, "/customers/zoe@example.de").await;
    assert_eq!(zoe.body["first_name"], "Zoë");
    assert_eq!(zoe.body["last_name"], "Müller");
    let ticket = mail.ticket(&record["ticket_id"]).await;
    assert_eq!(ticket["messages"][0]["text"], "Présentation € 100\n");

    let japanese = eml(
        &[
            ("From", "taro@example.jp"),
            ("Subject", "=?ISO-2022-JP?B?GyRCJDMkcyRLJEEkTxsoQg==?="),
            ("Message-ID", "<cs2@example.jp>"),
            ("MIME-Version", "1.0"),
            ("Content-Type", "multipart/mixed; boundary=\"j\""),
        ],
        "--j\nContent-Type: text/plain; charset=Shift_JIS\nContent-Transfer-Encoding: base64\n\ngrGC8YLJgr+CzYFBkKKKRQ==\n--j\nContent-Type: text/plain; charset=KOI8-R\nContent-Transfer-Encoding: base64\n\n8NLJ18XU\n--j--\n",
    );
    let record = mail.deliver(&japanese).await;
    assert_eq!(record["subject"], "こんにちは");
    let ticket = mail.ticket(&record["ticket_id"]).await;
    let text = ticket["messages"][0]["text"].as_str().unwrap();
    assert!(text.contains("こんにちは、世界"), "{text}");
    assert!(text.contains("Привет"), "{text}");
}

async fn attachments_and_large_bodies_are_kept_in_the_bucket(api: LambdaApi) {
    let mail = Mail::new(api);
    let pdf: Vec<u8> = (0..30_000u32).map(|i| (i % 251) as u8).collect();
    let long_text = "All work and no play makes Jack a dull boy.\n".repeat(3_000);
    use base64::Engine;
    let encoded = base64::engine::general_purpose::STANDARD.encode(&pdf);
    let wrapped: Vec<&str> = encoded
        .as_bytes()
        .chunks(76)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    let raw = eml(
        &[
            ("From", "Ann Lee <ann@acme.test>"),
            ("Subject", "Invoice and logs"),
            ("Message-ID", "<att1@acme.test>"),
            ("MIME-Version", "1.0"),
            ("Content-Type", "multipart/mixed; boundary=\"m\""),
        ],
        &format!(
            "--m\nContent-Type: text/plain; charset=utf-8\n\n{long_text}\n--m\nContent-Type: application/pdf\nContent-Disposition: attachment; filename=\"=?UTF-8?Q?Rechnung_M=C3=A4rz.pdf?=\"\nContent-Transfer-Encoding: base64\n\n{}\n--m\nContent-Type: image/png\nContent-Disposition: inline\nContent-ID: <logo@acme.test>\nContent-Transfer-Encoding: base64\n\niVBORw0KGgo=\n--m--\n",
            wrapped.join("\n")
        ),
    );
    let record = mail.deliver(&raw).await;
    assert_eq!(record["status"], "ingested", "{record}");
    let ticket = mail.ticket(&record["ticket_id"]).await;
    let message = &ticket["messages"][0];
    assert!(
        message["text"].as_str().unwrap().len() > 100_000,
        "the full body comes back"
    );
    assert_eq!(
        message.get("body_key"),
        Some(&json!(format!(
            "bodies/{}.json",
            record["id"].as_str().unwrap()
        )))
    );
    let attachments = message["attachments"].as_array().unwrap();
    assert_eq!(attachments.len(), 2, "{message}");
    assert_eq!(attachments[0]["filename"], "Rechnung März.pdf");
    assert_eq!(attachments[0]["content_type"], "application/pdf");
    assert_eq!(attachments[0]["size"], pdf.len());
    assert_eq!(attachments[0]["inline"], false);
    assert_eq!(attachments[1]["inline"], true);
    assert_eq!(attachments[1]["content_id"], "logo@acme.test");
    let key = attachments[0]["key"].as_str().unwrap();
    assert_eq!(mail.api.objects.get(key).await.unwrap(), pdf);

    let ticket_id = ticket["id"].as_str().unwrap();
    let attachment_id = attachments[0]["id"].as_str().unwrap();
    let download = mail
        .api
        .get(
            As::Agent,
            &format!("/tickets/{ticket_id}/attachments/{attachment_id}"),
        )
        .await;
    assert_eq!(download.status, 303, "{}", download.body);
    let url = download.body["url"].as_str().unwrap();
    assert_eq!(download.header("location"), Some(url));
    assert_eq!(download.body["filename"], "Rechnung März.pdf");
    assert!(download.body["expires_in"].as_u64().unwrap() <= 900);
    if url.contains("X-Amz-Signature") {
        // S3: the presigned URL works without other credentials.
        let (status, bytes) = crate::support::http_get(url);
        assert_eq!(status, 200);
        assert_eq!(bytes, pdf);
    } else {
        assert!(url.contains("/downloads/"), "{url}");
    }
    mail.api
        .get(
            As::Agent,
            &format!("/tickets/{ticket_id}/attachments/{attachment_id}9"),
        )
        .await
        .assert_problem_status(404);
    mail.api
        .get(
            As::Anonymous,
            &format!("/tickets/{ticket_id}/attachments/{attachment_id}"),
        )
        .await
        .assert_problem_status(401);
}

async fn html_mail_loads_no_remote_images_and_attachments_never_render(api: LambdaApi) {
    let mail = Mail::new(api);
    let record = mail.deliver(ACTIVE_CONTENT).await;
    assert_eq!(record["status"], "ingested", "{record}");
    let ticket = mail.ticket(&record["ticket_id"]).await;
    let message = &ticket["messages"][0];
    let html = message["html"].as_str().expect("an HTML body");
    assert!(
        html.contains("data-remote-src=\"https://track.example/p.gif?u=ann\""),
        "{html}"
    );
    assert!(
        !html.contains(" src=\"https:"),
        "the pixel would load: {html}"
    );
    assert!(html.contains("src=\"cid:logo@acme\""), "{html}");

    // The attachment records keep what the sender declared; downloads are inert.
    let attachments = message["attachments"].as_array().unwrap();
    let served: Vec<(String, String)> = {
        let mut served = Vec::new();
        for attachment in attachments {
            let path = format!(
                "/tickets/{}/attachments/{}",
                ticket["id"].as_str().unwrap(),
                attachment["id"].as_str().unwrap()
            );
            let reply = mail.api.get(As::Agent, &path).await;
            assert_eq!(reply.status, 303, "{}", reply.body);
            served.push((
                attachment["filename"].as_str().unwrap().to_string(),
                reply.body["url"].as_str().unwrap().to_string(),
            ));
        }
        served
    };
    assert_eq!(served.len(), 3);
    assert_eq!(attachments[0]["content_type"], "text/html");
    for (filename, url) in served {
        if url.contains("/downloads/") {
            // Local folders: the download route of `helpdesk serve`, tested with the server.
            continue;
        }
        let (status, head, _) = crate::support::http_get_with_head(&url);
        assert_eq!(status, 200, "{head}");
        assert!(
            head.contains(&format!(
                "content-disposition: attachment; filename=\"{filename}\""
            )),
            "{filename}: {head}"
        );
        let expected = if filename == "notes.txt" {
            "content-type: text/plain"
        } else {
            "content-type: application/octet-stream"
        };
        assert!(head.contains(expected), "{filename}: {head}");
    }
}

on_both_stores!(
    html_mail_loads_no_remote_images_and_attachments_never_render,
    charsets_and_encoded_words_become_utf8,
    attachments_and_large_bodies_are_kept_in_the_bucket,
);
