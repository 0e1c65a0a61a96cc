//! The small HTML page at `GET /`: the latest notifications, newest first.
//!
//! Every value comes from a sender, so everything is escaped; the page has no
//! script and refreshes itself every 10 seconds.

use std::fmt::Write as _;

use crate::history::Received;

/// Escapes text for use inside HTML elements and quoted attributes.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// Renders the whole page.
pub fn page(items: &[Received]) -> String {
    let mut html = String::from(concat!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">",
        "<meta http-equiv=\"refresh\" content=\"10\">",
        "<title>Notification inbox</title><style>",
        "body{font-family:sans-serif;margin:2em;max-width:70em}",
        "table{border-collapse:collapse;width:100%}",
        "td,th{border-bottom:1px solid #ddd;padding:.4em;text-align:left;vertical-align:top}",
        ".firing{color:#b00020;font-weight:bold}.resolved{color:#1b7f3b;font-weight:bold}",
        "</style></head><body><h1>Notification inbox</h1>\n"
    ));
    if items.is_empty() {
        html.push_str("<p>No notifications yet.</p>\n");
    } else {
        html.push_str(
            "<table><tr><th>#</th><th>received</th><th>status</th><th>alerts</th><th>from</th></tr>\n",
        );
        for item in items {
            row(&mut html, item);
        }
        html.push_str("</table>\n");
    }
    html.push_str(
        "<p>JSON: <a href=\"/api/notifications\">/api/notifications</a></p></body></html>\n",
    );
    html
}

fn row(html: &mut String, item: &Received) {
    let payload = &item.payload;
    let status = escape(&payload.status);
    let mut alerts = String::new();
    for alert in &payload.alerts {
        let name = alert.name();
        let summary = alert
            .annotations
            .get("summary")
            .or_else(|| alert.annotations.get("description"))
            .map_or("", String::as_str);
        let instance = alert.labels.get("instance").map_or("", String::as_str);
        let _ = write!(
            alerts,
            "<div><b>{}</b> ({}) {} <small>{}</small></div>",
            escape(name),
            escape(&alert.status),
            escape(summary),
            escape(instance),
        );
    }
    let _ = writeln!(
        html,
        "<tr><td>{}</td><td>{}</td><td class=\"{status}\">{status}</td><td>{alerts}</td><td>{} / {}</td></tr>",
        item.id,
        escape(&item.received_at),
        item.source,
        escape(&payload.receiver),
    );
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn escapes_markup() {
        assert_eq!(
            escape(r#"<script>alert("x")</script>&'"#),
            "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#39;"
        );
    }
}
