//! The new part of a reply: quoted history cut off (the full text stays on the message), and
//! HTML made safe to show to agents.

/// The text a person wrote in this message, without the quoted history below it: cut at the
/// first attribution line ("On … wrote:", and the usual translations), Outlook's
/// "-----Original Message-----", its underscore rule or header block ("From:" followed by
/// "Sent:"/"Date:"), or a trailing block of `>` lines. Inline answers between quotes stay.
pub fn reply_text(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    // From each line on, is everything quoted or blank? One pass from the end, so the whole
    // detection stays linear in the number of lines.
    let mut quoted_to_end = vec![true; lines.len() + 1];
    for i in (0..lines.len()).rev() {
        let line = lines[i].trim_start();
        quoted_to_end[i] =
            quoted_to_end[i + 1] && (line.trim().is_empty() || line.starts_with('>'));
    }
    let cut = (0..lines.len())
        .find(|&i| starts_history(&lines, i, quoted_to_end[i]))
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

fn starts_history(lines: &[&str], i: usize, quoted_to_end: bool) -> bool {
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
    line.starts_with('>') && quoted_to_end
}

/// HTML with scripts, styles, event handlers and dangerous URLs removed (ammonia's allow-list).
/// `cid:` images stay so clients can show inline attachments; remote images do not load: their
/// address moves to `data-remote-src`, so that opening a ticket tells no sender when or from
/// where it was read, and a client can still offer "load images".
pub fn sanitize_html(html: &str) -> String {
    let clean = ammonia::Builder::default()
        .add_url_schemes(&["cid"])
        .add_tag_attributes("img", &["data-remote-src"])
        .clean(html)
        .to_string();
    defer_remote_images(&clean)
}

/// Rewrites `<img src="…">` to `<img data-remote-src="…">` unless the source is `cid:`. It
/// runs on ammonia's output, whose serialiser writes every attribute as `name="value"` with
/// `"` escaped inside values, so a scan that tracks quotes reads the tags exactly.
fn defer_remote_images(clean: &str) -> String {
    let mut out = String::with_capacity(clean.len() + 32);
    let mut rest = clean;
    while let Some(start) = rest.find("<img") {
        out.push_str(&rest[..start]);
        let tag_and_after = &rest[start..];
        // The end of the tag: the first `>` outside a quoted value.
        let mut in_quotes = false;
        let end = tag_and_after
            .char_indices()
            .find(|&(_, c)| {
                if c == '"' {
                    in_quotes = !in_quotes;
                }
                c == '>' && !in_quotes
            })
            .map_or(tag_and_after.len(), |(i, _)| i + 1);
        let tag = &tag_and_after[..end];
        out.push_str(&defer_source(tag));
        rest = &tag_and_after[end..];
    }
    out.push_str(rest);
    out
}

/// One `<img …>` tag with a non-`cid:` `src` renamed; any earlier `data-remote-src` the
/// sender wrote is dropped, so the attribute always holds the original source.
fn defer_source(tag: &str) -> String {
    let mut attributes: Vec<(String, Option<String>)> = Vec::new();
    let inner = tag
        .trim_start_matches("<img")
        .trim_end_matches('>')
        .trim_end_matches('/');
    let mut chars = inner.char_indices().peekable();
    while let Some(&(i, c)) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        let mut name_end = inner.len();
        while let Some(&(j, c)) = chars.peek() {
            if c == '=' || c.is_whitespace() {
                name_end = j;
                break;
            }
            chars.next();
        }
        let name = inner[i..name_end.min(inner.len())].to_string();
        let mut value = None;
        if chars.peek().is_some_and(|&(_, c)| c == '=') {
            chars.next();
            if chars.peek().is_some_and(|&(_, c)| c == '"') {
                let (open, _) = chars.next().unwrap_or((name_end, '"'));
                let mut close = inner.len();
                for (j, c) in chars.by_ref() {
                    if c == '"' {
                        close = j;
                        break;
                    }
                }
                value = Some(inner[open + 1..close].to_string());
            }
        }
        attributes.push((name, value));
    }
    let remote = attributes.iter().any(|(name, value)| {
        name == "src"
            && !value
                .as_deref()
                .is_some_and(|v| v.trim().to_ascii_lowercase().starts_with("cid:"))
    });
    let mut rebuilt = String::from("<img");
    for (name, value) in attributes {
        let name = match name.as_str() {
            "data-remote-src" => continue,
            "src" if remote => "data-remote-src",
            other => other,
        };
        rebuilt.push(' ');
        rebuilt.push_str(name);
        if let Some(value) = value {
            rebuilt.push_str("=\"");
            rebuilt.push_str(&value);
            rebuilt.push('"');
        }
    }
    rebuilt.push('>');
    rebuilt
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
    fn a_long_quote_followed_by_an_answer_is_kept_whole() {
        // The answer after the quotes makes them inline quotes, not trailing history.
        let text = format!("{}The answer.", "> q\n".repeat(1_000));
        assert_eq!(reply_text(&text), text.trim());
    }

    #[test]
    fn remote_images_do_not_load_but_can_be_offered() {
        let clean = sanitize_html(
            "<p>Hi<img src=\"https://track.example/p.gif?u=1&amp;t=2\" alt=\"x>y\" width=\"1\"><img src=\"cid:logo\"><img data-remote-src=\"https://fake.example\" src=\"http://a.example/b.png\"><img src=\"//proto.example/x.png\"></p>",
        );
        assert!(!clean.contains(" src=\"http"), "{clean}");
        assert!(!clean.contains(" src=\"//"), "{clean}");
        assert!(
            clean.contains("data-remote-src=\"https://track.example/p.gif?u=1&amp;t=2\""),
            "{clean}"
        );
        assert!(clean.contains("alt=\"x&gt;y\""), "{clean}");
        assert!(clean.contains("<img src=\"cid:logo\">"), "{clean}");
        assert!(
            clean.contains("data-remote-src=\"http://a.example/b.png\""),
            "{clean}"
        );
        assert!(!clean.contains("fake.example"), "{clean}");
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
