//! The small HTML page at `GET /`: the latest notifications, newest first.
//!
//! A row is one notification: its number, arrival time, sender (a badge,
//! Alertmanager or Grafana, and the receiver), and its alerts grouped by
//! status, firing first. Each alert shows its name (for Grafana's relay, the
//! Prometheus alert's), instance, severity, since when it fires or when it
//! ended, summary, description and runbook link.
//!
//! Every value comes from a sender, so everything is escaped, and only an
//! absolute http(s) URL becomes a link (`link`); the page has no script and
//! refreshes itself every 10 seconds. It shows the newest [`ROWS`]
//! notifications from their [`Summary`], so its size is bounded
//! ([`MAX_PAGE_BYTES`]) however large the notifications are.

use std::fmt::{self, Write as _};
use std::sync::Arc;

use crate::history::Record;
use crate::payload::Source;
use crate::summary::{self, ALERTS_SHOWN, AlertLine, Summary};

/// Notifications on the page.
pub const ROWS: usize = 50;

/// Most bytes of the page: the fixed text, and per row its markup and every
/// summary text escaped (one character becomes at most 6 bytes, `&quot;`):
/// the receiver and the notification's status, and per alert each of its
/// texts once (its status as its group's badge) and the runbook URL once
/// more (link and text).
pub const MAX_PAGE_BYTES: usize = PAGE_FIXED + ROWS * ROW_BYTES;

/// The head, style, counts, table header and footer.
const PAGE_FIXED: usize = 1200;
/// Most bytes of one row.
const ROW_BYTES: usize = ROW_MARKUP + (2 + (AlertLine::TEXTS + 1) * ALERTS_SHOWN) * TEXT_HTML;
const TEXT_HTML: usize = (summary::TEXT_CHARS + 1) * 6;
/// The row's tags, id, time, sender, counts, and each alert's tags and group.
const ROW_MARKUP: usize = 300 + ALERTS_SHOWN * 240;

/// Text escaped for use inside HTML elements and quoted attributes, written
/// straight into the page (no copy per text).
pub struct Escaped<'a>(pub &'a str);

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut rest = self.0;
        while let Some(at) = rest.find(['&', '<', '>', '"', '\'']) {
            f.write_str(&rest[..at])?;
            f.write_str(match rest.as_bytes()[at] {
                b'&' => "&amp;",
                b'<' => "&lt;",
                b'>' => "&gt;",
                b'"' => "&quot;",
                _ => "&#39;",
            })?;
            rest = &rest[at + 1..];
        }
        f.write_str(rest)
    }
}

/// Escapes text for use inside HTML elements and quoted attributes.
pub fn escape(text: &str) -> String {
    Escaped(text).to_string()
}

/// Renders the whole page: `records` newest first, out of `kept` in the history.
pub fn page(records: &[Arc<Record>], kept: usize) -> String {
    let mut html = String::from(concat!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">",
        "<meta http-equiv=\"refresh\" content=\"10\">",
        "<title>Notification inbox</title><style>",
        "body{font-family:sans-serif;margin:2em;max-width:70em}",
        "table{border-collapse:collapse;width:100%}",
        "td,th{border-bottom:1px solid #ddd;padding:.4em;text-align:left;vertical-align:top}",
        ".alert{margin:.2em 0 .6em 1em}.desc{color:#444}",
        ".badge,.sev{padding:0 .4em;border-radius:.3em;font-size:.85em;white-space:nowrap}",
        ".badge{color:#fff;background:#666;text-transform:uppercase;font-weight:bold}",
        ".firing{background:#b00020}.resolved{background:#1b7f3b}",
        ".alertmanager{background:#2a5db0}.grafana{background:#e05d10}.sev{border:1px solid #999}",
        "</style></head><body><h1>Notification inbox</h1>\n"
    ));
    if records.is_empty() {
        html.push_str("<p>No notifications yet.</p>\n");
    } else {
        let _ = writeln!(html, "<p>The newest {} of {kept} kept.</p>", records.len());
        html.push_str("<table><tr><th>#</th><th>received</th><th>from</th><th>alerts</th></tr>\n");
        for record in records {
            row(&mut html, record);
        }
        html.push_str("</table>\n");
    }
    html.push_str(concat!(
        "<p>JSON: <a href=\"/api/notifications\">/api/notifications</a>. ",
        "What to do for each alert: <a href=\"/runbook\">the runbook</a>.</p></body></html>\n"
    ));
    html
}

fn row(html: &mut String, record: &Record) {
    let summary: &Summary = &record.summary;
    let (badge, sender) = match record.source {
        Source::Alertmanager => ("alertmanager", "Alertmanager"),
        Source::Grafana => ("grafana", "Grafana"),
        Source::Unknown => ("unknown", "unknown sender"),
    };
    let _ = write!(
        html,
        "<tr><td>{}</td><td>{}</td><td><span class=\"badge {badge}\">{sender}</span><br><small>{}</small></td><td>",
        record.id,
        Escaped(&record.received_at),
        Escaped(&summary.receiver),
    );
    if summary.alerts.is_empty() {
        status_badge(html, &summary.status);
        html.push_str(" <small>no alerts</small>");
    }
    // Firing first, then resolved, then any other status: a stable sort keeps
    // the sender's order within each group.
    let mut alerts: Vec<&AlertLine> = summary.alerts.iter().collect();
    alerts.sort_by_key(|alert| rank(&alert.status));
    let mut previous: Option<&str> = None;
    for alert in alerts {
        if previous != Some(alert.status.as_str()) {
            if previous.is_some() {
                html.push_str("</div>");
            }
            html.push_str("<div>");
            status_badge(html, &alert.status);
            previous = Some(&alert.status);
        }
        alert_line(html, alert);
    }
    if previous.is_some() {
        html.push_str("</div>");
    }
    let hidden = summary.alert_count - summary.alerts.len();
    if hidden > 0 {
        let _ = write!(html, "<div><small>and {hidden} more</small></div>");
    }
    html.push_str("</td></tr>\n");
}

fn rank(status: &str) -> u8 {
    match status {
        "firing" => 0,
        "resolved" => 1,
        _ => 2,
    }
}

/// The two statuses senders use get their colour; any other is shown as sent.
fn status_badge(html: &mut String, status: &str) {
    let class = match status {
        "firing" | "resolved" => status,
        _ => "other",
    };
    let _ = write!(
        html,
        "<span class=\"badge {class}\">{}</span>",
        Escaped(status)
    );
}

/// One alert: each part only when the sender gave it.
fn alert_line(html: &mut String, alert: &AlertLine) {
    let _ = write!(html, "<div class=\"alert\"><b>{}</b>", Escaped(&alert.name));
    if !alert.instance.is_empty() {
        let _ = write!(html, " on <code>{}</code>", Escaped(&alert.instance));
    }
    if !alert.severity.is_empty() {
        let _ = write!(
            html,
            " <span class=\"sev\">{}</span>",
            Escaped(&alert.severity)
        );
    }
    if !alert.at.is_empty() {
        let when = if alert.status == "resolved" {
            "ended"
        } else {
            "since"
        };
        let _ = write!(html, " <small>{when} {}</small>", Escaped(&alert.at));
    }
    if !alert.summary.is_empty() {
        let _ = write!(html, "<br>{}", Escaped(&alert.summary));
    }
    if !alert.description.is_empty() {
        let _ = write!(
            html,
            "<br><span class=\"desc\">{}</span>",
            Escaped(&alert.description)
        );
    }
    if !alert.runbook_url.is_empty() {
        html.push_str("<br>Runbook: ");
        link(html, &alert.runbook_url);
    }
    html.push_str("</div>");
}

/// `url` as a link when it is an absolute http(s) URL, else as text. Another
/// scheme (`javascript:`, `data:`) would run or forge content in the page,
/// and a relative one (`docs/runbook.md#...`) would resolve against the
/// inbox, where it does not exist. A clipped URL (see [`summary`]) is cut
/// short, so it stays text too rather than lead somewhere else. So does one
/// with anything but printable ASCII: a URL is ASCII (an international
/// name is written in punycode), and a space, control or invisible and
/// reordering character (U+202E) would make the link read as another.
fn link(html: &mut String, url: &str) {
    let absolute = ["http://", "https://"].iter().any(|scheme| {
        url.get(..scheme.len())
            .is_some_and(|start| start.eq_ignore_ascii_case(scheme))
            && url.len() > scheme.len()
    });
    let whole = !url.ends_with(summary::ELLIPSIS) && url.bytes().all(|b| b.is_ascii_graphic());
    if absolute && whole {
        let _ = write!(
            html,
            "<a href=\"{0}\" rel=\"noreferrer\">{0}</a>",
            Escaped(url)
        );
    } else {
        let _ = write!(html, "{}", Escaped(url));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::History;
    use crate::payload::WebhookPayload;

    #[test]
    fn escapes_markup() {
        assert_eq!(
            escape(r#"<script>alert("x")</script>&'"#),
            "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#39;"
        );
        assert_eq!(escape("plain 𝄞 text"), "plain 𝄞 text");
    }

    fn linked(url: &str) -> String {
        let mut html = String::new();
        link(&mut html, url);
        html
    }

    #[test]
    fn only_whole_absolute_http_urls_become_links() {
        assert_eq!(
            linked("http://localhost:5080/runbook#servicedown"),
            r#"<a href="http://localhost:5080/runbook#servicedown" rel="noreferrer">http://localhost:5080/runbook#servicedown</a>"#
        );
        assert_eq!(
            linked("HTTPS://x.example/a?b=1&c=\"2\""),
            r#"<a href="HTTPS://x.example/a?b=1&amp;c=&quot;2&quot;" rel="noreferrer">HTTPS://x.example/a?b=1&amp;c=&quot;2&quot;</a>"#
        );
        for text in [
            "javascript:alert(1)",
            "JavaScript:alert('//http://')",
            "data:text/html,<script>alert(1)</script>",
            "docs/runbook.md#hosthighcpuusage",
            "//evil.example/runbook",
            " http://x.example/",
            "http://",
            "http://x.example/a b",
            "http://x.example/cut…",
            "https://\u{202e}moc.elpmaxe",
            "https://x.example/\u{200b}",
            "https://exämple.com/",
        ] {
            let html = linked(text);
            assert!(!html.contains("<a"), "{text} became {html}");
            assert_eq!(html, escape(text));
        }
    }

    /// The row that takes the most bytes: every text as long as kept and
    /// made of quotes (6 bytes each once escaped), each alert a status of its
    /// own (a badge each), runbook URLs whole and absolute (shown twice).
    fn worst_record() -> Arc<Record> {
        let quotes = "\\\"".repeat(summary::TEXT_CHARS * 2);
        let url = format!("https://{}", "\\\"".repeat(summary::TEXT_CHARS - 8));
        let alerts: Vec<String> = (0..25)
            .map(|i| {
                format!(
                    r#"{{"status":"{i}{quotes}","labels":{{"alertname":"{quotes}","instance":"{quotes}","severity":"{quotes}"}},
                    "annotations":{{"summary":"{quotes}","description":"{quotes}","runbook_url":"{url}"}},"startsAt":"{quotes}"}}"#
                )
            })
            .collect();
        let body = format!(
            r#"{{"version":"4","status":"{quotes}","receiver":"{quotes}","alerts":[{}]}}"#,
            alerts.join(",")
        );
        let payload = WebhookPayload::parse(body.as_bytes()).expect("payload");
        let json = payload.to_stored_json(1 << 20, body.len()).expect("fits");
        History::new(1, 1 << 30)
            .push(payload.source(), Summary::of(&payload), json)
            .expect("stored")
    }

    #[test]
    fn a_row_and_the_page_around_it_stay_within_their_bounds() {
        let record = worst_record();
        let mut row_html = String::new();
        row(&mut row_html, &record);
        assert_eq!(row_html.matches("<a href=").count(), ALERTS_SHOWN);
        assert_eq!(
            row_html.matches("class=\"badge other\"").count(),
            ALERTS_SHOWN
        );
        assert!(row_html.contains("<small>and 15 more</small>"));
        assert!(
            row_html.len() <= ROW_BYTES,
            "{} > {ROW_BYTES}",
            row_html.len()
        );
        assert!(row_html.len() > ROW_BYTES * 9 / 10, "the bound is tight");
        let whole = page(&[record], usize::MAX);
        let fixed = whole.len() - row_html.len();
        assert!(fixed <= PAGE_FIXED, "{fixed} > {PAGE_FIXED}");
        assert!(fixed > PAGE_FIXED * 3 / 4, "{fixed}: the bound is tight");
    }
}
