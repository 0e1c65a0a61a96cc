//! Generates the native Alertmanager config from `alertmanager/alertmanager.yml`.
//!
//! Same routes and receivers; webhook URLs that point at a component of this
//! stack (the inbox) are rewritten to its local address, and their bearer
//! token is read from the token file in the state directory (Alertmanager does
//! not expand environment variables, so a file is the way in).

use std::path::Path;

use serde_yaml_ng::{Mapping, Value};

use super::ports::Ports;
use super::prometheus_config::ConfigError;
use super::targets::rewrite_url;

/// Rewrites `source` (the text of `alertmanager/alertmanager.yml`).
/// Returns the YAML and how many webhooks now point at local components.
pub fn generate(
    source: &str,
    ports: &Ports,
    token_file: &Path,
) -> Result<(String, usize), ConfigError> {
    const FILE: &str = "alertmanager/alertmanager.yml";
    let mut root: Value = serde_yaml_ng::from_str(source).map_err(|source| ConfigError::Parse {
        file: FILE.into(),
        source,
    })?;
    let receivers = root
        .get_mut("receivers")
        .and_then(Value::as_sequence_mut)
        .ok_or_else(|| ConfigError::Shape {
            file: FILE.into(),
            what: "no `receivers` list".into(),
        })?;
    let mut local = 0;
    for receiver in receivers.iter_mut() {
        let Some(hooks) = receiver
            .get_mut("webhook_configs")
            .and_then(Value::as_sequence_mut)
        else {
            continue;
        };
        for hook in hooks.iter_mut().filter_map(Value::as_mapping_mut) {
            let url = hook.get("url").and_then(Value::as_str).map(str::to_owned);
            let Some(new_url) = url.as_deref().and_then(|u| rewrite_url(u, ports)) else {
                continue;
            };
            hook.insert("url".into(), new_url.into());
            set_bearer_file(hook, token_file);
            local += 1;
        }
    }
    Ok((serde_yaml_ng::to_string(&root)?, local))
}

/// `http_config.authorization: {type: Bearer, credentials_file: <token_file>}`.
fn set_bearer_file(hook: &mut Mapping, token_file: &Path) {
    let http = hook
        .entry("http_config".into())
        .or_insert_with(|| Value::Mapping(Mapping::new()));
    if !http.is_mapping() {
        *http = Value::Mapping(Mapping::new());
    }
    let Some(http) = http.as_mapping_mut() else {
        return;
    };
    let mut auth = Mapping::new();
    auth.insert("type".into(), "Bearer".into());
    auth.insert(
        "credentials_file".into(),
        token_file.to_string_lossy().into_owned().into(),
    );
    http.insert("authorization".into(), Value::Mapping(auth));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::up::ports::free_ports;
    use crate::up::roles::Role;

    #[test]
    fn points_the_inbox_webhook_at_the_local_inbox_with_the_token_file() {
        let ports = free_ports(&[Role::Inbox]);
        let source = r#"
route: {receiver: inbox}
receivers:
  - name: inbox
    webhook_configs:
      - url: http://inbox:5080/api/notifications
        send_resolved: true
        http_config:
          authorization:
            type: Bearer
            credentials_file: /etc/alertmanager/inbox-token
  - name: elsewhere
    webhook_configs:
      - url: https://hooks.example.invalid/x
"#;
        let (yaml, local) =
            generate(source, &ports, Path::new("/state/inbox-token")).expect("generate");
        assert_eq!(local, 1);
        let v: Value = serde_yaml_ng::from_str(&yaml).expect("yaml");
        let hook = &v["receivers"][0]["webhook_configs"][0];
        let port = ports.get(Role::Inbox).unwrap();
        assert_eq!(
            hook["url"],
            Value::from(format!("http://127.0.0.1:{port}/api/notifications"))
        );
        assert_eq!(
            hook["http_config"]["authorization"]["credentials_file"],
            Value::from("/state/inbox-token")
        );
        assert_eq!(hook["send_resolved"], Value::from(true));
        assert_eq!(
            v["receivers"][1]["webhook_configs"][0]["url"],
            Value::from("https://hooks.example.invalid/x")
        );
    }
}
