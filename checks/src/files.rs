//! Reading YAML and JSON files into [`serde_json::Value`], plus small helpers
//! to walk such values.
//!
//! One value type for both formats lets the same code inspect a Grafana
//! dashboard (JSON) and its provisioning files (YAML).

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::CheckError;

/// Reads a file to a string.
pub fn read(path: &Path) -> Result<String, CheckError> {
    std::fs::read_to_string(path).map_err(|source| CheckError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Parses YAML text into a JSON value, resolving anchors and `<<` merge keys
/// (compose files use them).
pub fn parse_yaml(path: &Path, text: &str) -> Result<Value, CheckError> {
    let yaml_error = |source| CheckError::Yaml {
        path: path.to_path_buf(),
        source,
    };
    let mut value: serde_yaml_ng::Value = serde_yaml_ng::from_str(text).map_err(yaml_error)?;
    value.apply_merge().map_err(yaml_error)?;
    serde_yaml_ng::from_value(value).map_err(yaml_error)
}

/// Reads and parses a YAML file.
pub fn load_yaml(path: &Path) -> Result<Value, CheckError> {
    parse_yaml(path, &read(path)?)
}

/// Reads a config that takes addresses from the environment (the
/// Collector's `${env:NAME:-default}`, Tempo's `${NAME:-default}`) and
/// parses it as compose runs it: every reference replaced by its default.
/// A reference without a default is an error, since compose sets none.
pub fn load_yaml_with_env_defaults(path: &Path) -> Result<Value, CheckError> {
    let (text, problems) = env_defaults(&read(path)?);
    crate::into_result(path.display().to_string(), problems)?;
    parse_yaml(path, &text)
}

/// `text` with each `${[env:]NAME:-default}` replaced by `default`, and a
/// problem for each reference that has no default.
pub fn env_defaults(text: &str) -> (String, Vec<crate::Problem>) {
    let mut out = String::with_capacity(text.len());
    let mut problems = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let Some(len) = rest[start..].find('}') else {
            break;
        };
        let reference = &rest[start + 2..start + len];
        let name = reference.strip_prefix("env:").unwrap_or(reference);
        match name.split_once(":-") {
            Some((_, default)) => out.push_str(default),
            None => problems.push(crate::Problem::new(
                format!("${{{reference}}}"),
                "needs a default (`${NAME:-value}`): compose sets no variable",
            )),
        }
        rest = &rest[start + len + 1..];
    }
    out.push_str(rest);
    (out, problems)
}

/// Reads and parses a JSON file.
pub fn load_json(path: &Path) -> Result<Value, CheckError> {
    serde_json::from_str(&read(path)?).map_err(|source| CheckError::Json {
        path: path.to_path_buf(),
        source,
    })
}

/// The files in `dir` whose names end with one of `extensions`, sorted.
pub fn list(dir: &Path, extensions: &[&str]) -> Result<Vec<PathBuf>, CheckError> {
    let entries = std::fs::read_dir(dir).map_err(|source| CheckError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut found = Vec::new();
    for entry in entries {
        let path = entry
            .map_err(|source| CheckError::Io {
                path: dir.to_path_buf(),
                source,
            })?
            .path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if path.is_file() && extensions.iter().any(|ext| name.ends_with(ext)) {
            found.push(path);
        }
    }
    found.sort();
    Ok(found)
}

/// The string at `key` of an object, if it is a string.
pub fn str_at<'a>(value: &'a Value, key: &str) -> Option<&'a str> {
    value.get(key).and_then(Value::as_str)
}

/// The array at `key` of an object, or an empty slice.
pub fn array_at<'a>(value: &'a Value, key: &str) -> &'a [Value] {
    value
        .get(key)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

/// Removes the value at a dotted path such as `groups.0.rules.0.uid`
/// (numbers index arrays). Returns whether something was removed.
///
/// The mutation tests use it to prove a validator notices a missing field.
pub fn remove_path(value: &mut Value, path: &str) -> bool {
    let mut parts: Vec<&str> = path.split('.').collect();
    let Some(last) = parts.pop() else {
        return false;
    };
    let mut current = value;
    for part in parts {
        let next = match current {
            Value::Object(map) => map.get_mut(part),
            Value::Array(items) => part.parse::<usize>().ok().and_then(|i| items.get_mut(i)),
            _ => None,
        };
        match next {
            Some(next) => current = next,
            None => return false,
        }
    }
    match current {
        Value::Object(map) => map.remove(last).is_some(),
        Value::Array(items) => match last.parse::<usize>() {
            Ok(i) if i < items.len() => {
                items.remove(i);
                true
            }
            _ => false,
        },
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remove_path_walks_objects_and_arrays() {
        let mut value = serde_json::json!({"a": [{"b": 1, "c": 2}]});
        assert!(remove_path(&mut value, "a.0.b"));
        assert_eq!(value, serde_json::json!({"a": [{"c": 2}]}));
        assert!(!remove_path(&mut value, "a.3.c"));
    }

    #[test]
    fn yaml_merge_keys_are_resolved() {
        let text = "base: &b {x: 1}\nchild:\n  <<: *b\n  y: 2\n";
        let value = parse_yaml(Path::new("inline.yaml"), text).expect("valid YAML");
        assert_eq!(value["child"], serde_json::json!({"x": 1, "y": 2}));
    }

    #[test]
    fn env_references_take_their_defaults_and_need_one() {
        let (text, problems) =
            env_defaults("a: ${env:A:-0.0.0.0:4317}\nb: ${B:-/var/tempo}/wal\nc: 1\n");
        assert_eq!(text, "a: 0.0.0.0:4317\nb: /var/tempo/wal\nc: 1\n");
        assert!(problems.is_empty(), "{problems:?}");
        let (_, problems) = env_defaults("port: ${env:PORT}\n");
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(problems[0].at, "${env:PORT}");
    }
}
