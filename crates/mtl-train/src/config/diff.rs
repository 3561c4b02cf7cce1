//! Which config keys differ between two runs' configs: for telling a user why a checkpoint
//! does not fit the config it is loaded with, in config keys rather than tensor shapes.

use toml::Value;

/// One key whose value differs: `key`, its value in `before` and in `after` (`None` where the
/// key is absent).
#[derive(Debug, Clone, PartialEq)]
pub struct KeyChange {
    /// Dotted key, with `[i]` for entries of an array of tables (`tasks[1].kind`).
    pub key: String,
    /// Value in the first config.
    pub before: Option<String>,
    /// Value in the second.
    pub after: Option<String>,
}

impl std::fmt::Display for KeyChange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let show = |v: &Option<String>| v.clone().unwrap_or_else(|| "not set".into());
        write!(f, "`{}` was {}, is {}", self.key, show(&self.before), show(&self.after))
    }
}

/// The keys whose values differ between the TOML texts `before` and `after`, in key order.
/// A text that does not parse counts as empty.
pub fn changed_keys(before: &str, after: &str) -> Vec<KeyChange> {
    let (mut a, mut b) = (Vec::new(), Vec::new());
    flatten("", &Value::Table(before.parse().unwrap_or_default()), &mut a);
    flatten("", &Value::Table(after.parse().unwrap_or_default()), &mut b);
    let a: std::collections::BTreeMap<_, _> = a.into_iter().collect();
    let b: std::collections::BTreeMap<_, _> = b.into_iter().collect();
    let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    keys.into_iter()
        .filter(|k| a.get(*k) != b.get(*k))
        .map(|k| KeyChange { key: k.clone(), before: a.get(k).cloned(), after: b.get(k).cloned() })
        .collect()
}

/// Leaves of `value` as (dotted key, value as TOML). Arrays of tables are walked entry by
/// entry; other arrays are leaves.
fn flatten(prefix: &str, value: &Value, out: &mut Vec<(String, String)>) {
    match value {
        Value::Table(t) => {
            for (k, v) in t {
                let key = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                flatten(&key, v, out);
            }
        }
        Value::Array(items) if !items.is_empty() && items.iter().all(Value::is_table) => {
            for (i, v) in items.iter().enumerate() {
                flatten(&format!("{prefix}[{i}]"), v, out);
            }
        }
        leaf => out.push((prefix.to_string(), leaf.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_tables_arrays_of_tables_and_missing_keys_are_named() {
        let before = "[run]\nname = \"a\"\n[model.encoder]\nhidden = [8]\n[[tasks]]\nname = \"y\"\nkind = \"binary\"\n";
        let after = "[run]\nname = \"a\"\n[model.encoder]\nhidden = [8, 4]\ndropout = 0.1\n[[tasks]]\nname = \"y\"\nkind = \"regression\"\n";
        let changes = changed_keys(before, after);
        let shown: Vec<String> = changes.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            [
                "`model.encoder.dropout` was not set, is 0.1",
                "`model.encoder.hidden` was [8], is [8, 4]",
                "`tasks[0].kind` was \"binary\", is \"regression\"",
            ]
        );
        assert!(changed_keys(before, before).is_empty());
    }
}
