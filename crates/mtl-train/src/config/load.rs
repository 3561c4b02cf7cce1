//! Reading a config file, applying `--set` overrides, and parsing into the schema.

use std::path::Path;

use super::error::{ConfigError, suggest};
use super::schema::FileConfig;

/// Read `path`, apply `overrides` (`section.key=value`), and parse. Returns the schema and the
/// final TOML text (what the run folder's `config.toml` will hold).
pub fn load_file(path: &Path, overrides: &[String]) -> Result<(FileConfig, String), ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|source| ConfigError::Read { path: path.to_path_buf(), cause: source })?;
    parse_text(path, &text, overrides)
}

/// Parse TOML `text` (read from `path`, for messages) with `overrides` applied.
pub fn parse_text(
    path: &Path,
    text: &str,
    overrides: &[String],
) -> Result<(FileConfig, String), ConfigError> {
    let text = if overrides.is_empty() {
        text.to_string()
    } else {
        let mut table: toml::Table = toml::from_str(text).map_err(|e| parse_error(path, text, e, ""))?;
        for arg in overrides {
            apply_override(&mut table, arg)?;
        }
        toml::to_string(&table)
            .map_err(|e| ConfigError::Override { arg: overrides.join(" "), message: e.to_string() })?
    };
    let de = toml::de::Deserializer::parse(&text).map_err(|e| parse_error(path, &text, e, ""))?;
    let config: FileConfig = serde_path_to_error::deserialize(de).map_err(|e| {
        let key = e.path().to_string();
        let error = parse_error(path, &text, e.into_inner(), &key);
        if overrides.is_empty() { error } else { located_in_overrides(error, &key, overrides) }
    })?;
    Ok((config, text))
}

/// After `--set` overrides the text parsed is no longer the file, so its line numbers are
/// not the file's: drop them, and name the override that set `key` when one did.
fn located_in_overrides(error: ConfigError, key: &str, overrides: &[String]) -> ConfigError {
    let ConfigError::Parse { path, location, message } = error else { return error };
    // `tasks[1].kind` is set as `tasks.1.kind`.
    let dotted = key.replace('[', ".").replace(']', "");
    let set_by = overrides.iter().find(|arg| {
        arg.split_once('=').is_some_and(|(k, _)| {
            let k = k.trim();
            dotted == k || dotted.starts_with(&format!("{k}.")) || k.starts_with(&format!("{dotted}."))
        })
    });
    let location = match location.split_once(", ") {
        Some((_, key_part)) => format!(" {key_part}"),
        None if location.starts_with(" line") => String::new(),
        None => location,
    };
    let location = match set_by {
        Some(arg) => format!("{location} (set by `--set {arg}`)"),
        None => location,
    };
    ConfigError::Parse { path, location, message }
}

fn parse_error(path: &Path, text: &str, e: toml::de::Error, key: &str) -> ConfigError {
    let mut location = String::new();
    if let Some(span) = e.span() {
        let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
        location.push_str(&format!(" line {line}"));
    }
    if !key.is_empty() && key != "." {
        location.push_str(&format!("{}key `{key}`", if location.is_empty() { " " } else { ", " }));
    }
    let mut message = suggest(e.message());
    // The parser says "duplicate key" without the key: take it from the span.
    if message.starts_with("duplicate key")
        && let Some(span) = e.span()
        && let Some(name) = text.get(span.start..span.end)
    {
        let name = name.trim().trim_matches(['[', ']', '"', '\'']).trim();
        message = format!("`{name}` is given twice (as a key or a [table]); keep one");
    }
    if message.starts_with("missing field") {
        message.push_str("; add it");
    }
    ConfigError::Parse { path: path.to_path_buf(), location, message }
}

/// Set `a.b.c=value` in `table`. The value is read as a TOML value (`3`, `0.5`, `true`,
/// `[64, 32]`, `"text"`); anything that is not valid TOML is taken as a bare string, so
/// `--set weighting.method=uw` works without quotes. `tasks.1.kind=binary` indexes arrays.
pub fn apply_override(table: &mut toml::Table, arg: &str) -> Result<(), ConfigError> {
    let err = |message: String| ConfigError::Override { arg: arg.to_string(), message };
    let (key, raw) = arg.split_once('=').ok_or_else(|| err("expected `section.key=value`".into()))?;
    let parts: Vec<&str> = key.trim().split('.').collect();
    if parts.iter().any(|p| p.is_empty()) {
        return Err(err(format!("`{key}` is not a dotted key like `train.epochs`")));
    }
    let mut root = toml::Value::Table(std::mem::take(table));
    let result = set_path(&mut root, &parts, parse_value(raw.trim()), 0);
    if let toml::Value::Table(t) = root {
        *table = t;
    }
    result.map_err(err)
}

/// Walk `parts[depth..]` from `node`, creating missing sections, and set the last one.
fn set_path(node: &mut toml::Value, parts: &[&str], value: toml::Value, depth: usize) -> Result<(), String> {
    let head = parts[depth];
    let last = depth + 1 == parts.len();
    let walked = parts[..depth].join(".");
    let child = match node {
        toml::Value::Table(t) => {
            if last {
                t.insert(head.to_string(), value);
                return Ok(());
            }
            t.entry(head.to_string()).or_insert_with(|| toml::Value::Table(toml::Table::new()))
        }
        toml::Value::Array(items) => {
            let len = items.len();
            let index: usize =
                head.parse().map_err(|_| format!("`{walked}` is a list; index it like `{walked}.0.name`"))?;
            let item = items
                .get_mut(index)
                .ok_or_else(|| format!("index {index} is out of range: `{walked}` has {len} entries"))?;
            if last {
                *item = value;
                return Ok(());
            }
            item
        }
        _ => return Err(format!("`{walked}` is a value, not a section")),
    };
    set_path(child, parts, value, depth + 1)
}

fn parse_value(raw: &str) -> toml::Value {
    toml::from_str::<toml::Table>(&format!("v = {raw}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(raw.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = "[[tasks]]\nname = \"a\"\nkind = \"regression\"\n";

    fn parse(text: &str, overrides: &[&str]) -> Result<FileConfig, ConfigError> {
        let o: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
        parse_text(Path::new("c.toml"), text, &o).map(|(c, _)| c)
    }

    #[test]
    fn an_error_in_an_override_names_the_override_not_a_line() {
        let text = "[run]\nname = \"a\"\n[[tasks]]\nname = \"y\"\nkind = \"binary\"\n";
        let e = parse_text(Path::new("c.toml"), text, &["tasks.0.kindd=regression".into()])
            .unwrap_err()
            .to_string();
        assert!(e.contains("key `tasks[0].kindd` (set by `--set tasks.0.kindd=regression`)"), "{e}");
        assert!(!e.contains("line"), "{e}");
        let e =
            parse_text(Path::new("c.toml"), text, &["train.epochs=\"x\"".into()]).unwrap_err().to_string();
        assert!(e.contains("key `train.epochs` (set by `--set train.epochs=\"x\"`)"), "{e}");
    }

    #[test]
    fn unknown_key_names_line_key_and_suggestion() {
        let e = parse(&format!("{MINIMAL}[train]\nepochz = 3\n"), &[]).unwrap_err().to_string();
        assert!(e.contains("c.toml line 5"), "{e}");
        assert!(e.contains("train"), "{e}");
        assert!(e.contains("did you mean `epochs`?"), "{e}");
    }

    #[test]
    fn wrong_type_names_the_key() {
        let e = parse(&format!("{MINIMAL}[train]\nepochs = \"ten\"\n"), &[]).unwrap_err().to_string();
        assert!(e.contains("train.epochs") && e.contains("line 5"), "{e}");
    }

    #[test]
    fn overrides_set_values_and_index_lists() {
        let c = parse(
            MINIMAL,
            &["train.epochs=3", "weighting.method=uw", "tasks.0.kind=binary", "model.encoder.hidden=[8, 4]"],
        )
        .unwrap();
        assert_eq!(c.train.epochs, 3);
        assert_eq!(c.weighting.method, super::super::schema::MethodName::uw);
        assert_eq!(c.tasks[0].kind, super::super::schema::TaskKindName::Binary);
        assert_eq!(c.model.encoder.hidden, Some(vec![8, 4]));
    }

    #[test]
    fn bad_overrides_are_rejected() {
        assert!(parse(MINIMAL, &["train.epochs"]).unwrap_err().to_string().contains("section.key=value"));
        let e = parse(MINIMAL, &["tasks.3.kind=binary"]).unwrap_err().to_string();
        assert!(e.contains("out of range"), "{e}");
        let e = parse(MINIMAL, &["train.epokhs=3"]).unwrap_err().to_string();
        assert!(e.contains("did you mean `epochs`?"), "{e}");
    }
}
