//! The new part of a reply: quoted history cut off (the full text stays on the message), and
//! HTML made safe to show to agents.

/// The text a person wrote in this message, without the quoted history below it: cut at the
/// first attribution line ("On … wrote:", and the usual translations), Outlook's
/// "-----Original Message-----", its underscore rule or header block ("From:" followed by
/// "Sent:"/"Date:"), or a trailing block of `>` lines. Inline answers between quotes stay.
pub fn reply_text(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let cut = (0..lines.len())
        .find(|&i| starts_history(&lines, i))
        .unwrap_or(lines.len());
    let reply = lines[..cut].join("\n");
    let reply = reply.trim();
    if reply.is_empty() {
        // All of it was quoted (or it was empty): better everything than nothing.
        text.trim().to_string()
    } else {
        reply.to_string()
    }
}

const ATTRIBUTION_ENDINGS: [&str; 8] = [
    "wrote:",
    "a écrit :",
    "a écrit:",
    "schrieb:",
    "escribió:",
    "scritto:",
    "schreef:",
    "escreveu:",
];

fn starts_history(lines: &[&str], i: usize) -> bool {
    let line = lines[i].trim();
    let lower = line.to_lowercase();
    let next = lines.get(i + 1).map(|l| l.trim().to_lowercase());
    // "On Tue, 3 Mar 2026 at 10:00, Ann <ann@example.com> wrote:", possibly wrapped in two.
    let opens_attribution = ["on ", "le ", "am ", "el ", "il ", "op ", "em "]
        .iter()
        .any(|p| lower.starts_with(p));
    if opens_attribution {
        let ends = |l: &str| ATTRIBUTION_ENDINGS.iter().any(|e| l.ends_with(e));
        if ends(&lower) || next.as_deref().is_some_and(ends) {
            return true;
        }
    }
    let bare: String = lower.chars().filter(|c| !c.is_whitespace()).collect();
    if bare.contains("-originalmessage-") || bare.contains("-forwardedmessage-") {
        return true;
    }
    // Outlook: a rule of underscores, or a header block of the quoted mail.
    if line.len() >= 10 && line.chars().all(|c| c == '_') {
        return true;
    }
    if lower.starts_with("from:") {
        let header_follows = lines[i + 1..].iter().take(4).any(|l| {
            let l = l.trim().to_lowercase();
            l.starts_with("sent:") || l.starts_with("date:") || l.starts_with("subject:")
        });
        if header_follows {
            return true;
        }
    }
    // A block of quoted lines that runs to the end: the history, not an inline answer.
    line.starts_with('>')
        && lines[i..]
            .iter()
            .all(|l| l.trim().is_empty() || l.trim_start().starts_with('>'))
}

/// HTML with scripts, styles, event handlers and dangerous URLs removed (ammonia's allow-list);
/// `cid:` images stay so clients can show inline attachments.
pub fn sanitize_html(html: &str) -> String {
    ammonia::Builder::default()
        .add_url_schemes(&["cid"])
        .clean(html)
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gmail_attribution_cuts_the_history() {
        let text = "Thanks, that fixed it.\n\nOn Tue, 3 Mar 2026 at 10:00, Support <help@example.com> wrote:\n> Try turning it off and on.\n";
        assert_eq!(reply_text(text), "Thanks, that fixed it.");
    }

    #[test]
    fn wrapped_attribution_cuts_too() {
        let text = "Yes please.\n\nOn Tue, 3 Mar 2026 at 10:00, Support Team\n<help@example.com> wrote:\n> Shall we?";
        assert_eq!(reply_text(text), "Yes please.");
    }

    #[test]
    fn outlook_header_block_cuts() {
        let text = "Still broken.\r\n\r\n________________________________\r\nFrom: Support <help@example.com>\r\nSent: Tuesday, March 3, 2026 10:00\r\nSubject: Re: printer";
        assert_eq!(reply_text(text), "Still broken.");
        let text = "Still broken.\n\nFrom: Support <help@example.com>\nSent: Tuesday\nTo: Ann\n";
        assert_eq!(reply_text(text), "Still broken.");
        let text = "See below\n-----Original Message-----\nFrom: x";
        assert_eq!(reply_text(text), "See below");
    }

    #[test]
    fn inline_answers_between_quotes_stay() {
        let text = "> Which model?\nThe X200.\n> Since when?\nMonday.";
        assert_eq!(reply_text(text), text);
        let text = "Monday.\n\n> Since when?\n> Which model?";
        assert_eq!(reply_text(text), "Monday.");
    }

    #[test]
    fn a_message_that_is_all_quote_keeps_its_text() {
        assert_eq!(reply_text("> only a quote"), "> only a quote");
        assert_eq!(
            reply_text("Plain message\nwith two lines"),
            "Plain message\nwith two lines"
        );
    }

    #[test]
    fn html_loses_scripts_and_handlers_but_keeps_content() {
        let clean = sanitize_html(
            "<p onclick=\"steal()\">Hi <b>there</b><script>alert(1)</script><img src=\"cid:logo\"><a href=\"javascript:x()\">x</a></p>",
        );
        assert!(clean.contains("<b>there</b>"), "{clean}");
        assert!(clean.contains("cid:logo"), "{clean}");
        assert!(!clean.contains("script"), "{clean}");
        assert!(!clean.contains("onclick"), "{clean}");
        assert!(!clean.contains("javascript"), "{clean}");
    }
}
