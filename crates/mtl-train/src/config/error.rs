//! Config errors: each names the file, the key (and line when known), and the fix.

use std::path::PathBuf;

/// A problem with a config file or a `--set` override.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file `{path}`: {}", read_problem(cause))]
    Read {
        /// The file.
        path: PathBuf,
        /// Why (not a `source`: the message says it, and a chain would say it twice).
        cause: std::io::Error,
    },
    /// The file is not valid TOML, or a key has the wrong name or type.
    #[error("{path}{location}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// `" line N, key `a.b`"` as far as known.
        location: String,
        /// What is wrong and what is allowed.
        message: String,
    },
    /// A value is out of range or inconsistent with another.
    #[error("{path}: invalid `{key}`: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// The TOML key.
        key: String,
        /// What is wrong and what is allowed.
        message: String,
    },
    /// The data a config names cannot be read (CSV sources are read while resolving).
    #[error(transparent)]
    Data(#[from] mtl_data::DataError),
    /// A `--set key=value` argument is malformed or points nowhere.
    #[error("bad override `--set {arg}`: {message}")]
    Override {
        /// The argument as given.
        arg: String,
        /// What is wrong.
        message: String,
    },
}

/// Append "did you mean `x`?" to serde's "unknown field/variant `y`, expected one of …"
/// messages, choosing the nearest allowed name.
pub(crate) fn suggest(message: &str) -> String {
    let unknown = ["unknown field `", "unknown variant `"]
        .iter()
        .find_map(|p| message.find(p).map(|i| i + p.len()))
        .and_then(|start| message[start..].find('`').map(|end| &message[start..start + end]));
    let Some(unknown) = unknown else { return message.to_string() };
    let allowed: Vec<&str> = message
        .split("expected ")
        .nth(1)
        .map(|rest| rest.split('`').skip(1).step_by(2).collect())
        .unwrap_or_default();
    let best = allowed
        .iter()
        .map(|a| (strsim::jaro_winkler(unknown, a), *a))
        .filter(|(score, _)| *score > 0.7)
        .max_by(|a, b| a.0.total_cmp(&b.0));
    match best {
        Some((_, name)) => format!("{message}; did you mean `{name}`?"),
        None => message.to_string(),
    }
}

/// Why a config file cannot be read, and what to do.
fn read_problem(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::InvalidData => {
            "it is not UTF-8 text; save it as UTF-8 (a TOML file is plain text)".into()
        }
        std::io::ErrorKind::NotFound => "no such file; check the path".into(),
        std::io::ErrorKind::IsADirectory => "it is a folder; give the TOML file inside it".into(),
        _ => format!("{}; check the path and its permissions", crate::os::os_message(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_the_nearest_field() {
        let m = suggest("unknown field `epochz`, expected one of `epochs`, `batch_size`, `lr`");
        assert!(m.ends_with("did you mean `epochs`?"), "{m}");
        let m = suggest("unknown variant `adma`, expected one of `adam`, `adamw`, `sgd`");
        assert!(m.ends_with("did you mean `adam`?"), "{m}");
        assert_eq!(suggest("invalid type: string"), "invalid type: string");
        let far = suggest("unknown field `zzz`, expected `epochs`");
        assert!(!far.contains("did you mean"), "{far}");
    }
}
