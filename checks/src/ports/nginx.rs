//! The little of nginx's config language the entry point's
//! `entrypoint/nginx.conf` needs: its `listen` ports and `proxy_pass` targets.

/// The arguments of every `NAME ARG;` directive of an nginx config, comments
/// dropped (enough for the flat config of `entrypoint/nginx.conf`).
fn nginx_directives<'a>(text: &'a str, name: &str) -> Vec<&'a str> {
    text.lines()
        .map(|line| line.split('#').next().unwrap_or("").trim())
        .filter_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
        .map(|rest| rest.trim().trim_end_matches(';').trim())
        .collect()
}

/// Ports of nginx's `listen` directives (`listen 5000;`, `listen 0.0.0.0:5000;`).
pub(super) fn nginx_listen_ports(text: &str) -> Vec<u16> {
    nginx_directives(text, "listen")
        .into_iter()
        .filter_map(|arg| {
            let address = arg.split_whitespace().next()?;
            address.rsplit(':').next()?.parse().ok()
        })
        .collect()
}

/// `proxy_pass` URLs with the variables nginx's `set $name value;` gives
/// them filled in (`http://$replicas` -> `http://service:5000`).
pub(super) fn nginx_upstreams(text: &str) -> Vec<String> {
    let variables: Vec<(String, String)> = nginx_directives(text, "set")
        .into_iter()
        .filter_map(|arg| {
            let (name, value) = arg.split_once(char::is_whitespace)?;
            Some((name.to_owned(), value.trim().to_owned()))
        })
        .collect();
    nginx_directives(text, "proxy_pass")
        .into_iter()
        .map(|url| {
            variables.iter().fold(url.to_owned(), |url, (name, value)| {
                url.replace(name, value)
            })
        })
        .collect()
}
