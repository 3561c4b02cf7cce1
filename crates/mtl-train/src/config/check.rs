//! The one place that turns a refused value into a [`ConfigError`] naming the file, the key and
//! the fix; the usual range checks.

use std::path::Path;

use crate::config::ConfigError;

/// Checks of one config file.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Check<'a> {
    /// The file, for messages.
    pub path: &'a Path,
}

impl Check<'_> {
    /// `key` is refused: `message` says why and what to use.
    pub fn invalid(&self, key: &str, message: impl Into<String>) -> ConfigError {
        ConfigError::Invalid { path: self.path.to_path_buf(), key: key.to_string(), message: message.into() }
    }

    /// Refuse `key` with `message` unless `ok`.
    pub fn ensure(&self, ok: bool, key: &str, message: impl FnOnce() -> String) -> Result<(), ConfigError> {
        if ok { Ok(()) } else { Err(self.invalid(key, message())) }
    }

    /// `v` > 0 and finite, else "`v` is not a positive `what`".
    pub fn positive(&self, key: &str, v: f64, what: &str) -> Result<(), ConfigError> {
        self.ensure(v > 0.0 && v.is_finite(), key, || format!("{v} is not a positive {what}"))
    }

    /// `v` ≥ 0 and finite.
    pub fn non_negative(&self, key: &str, v: f64) -> Result<(), ConfigError> {
        self.ensure(v >= 0.0 && v.is_finite(), key, || "use a value ≥ 0".into())
    }

    /// `v` in [0, 1).
    pub fn unit(&self, key: &str, v: f64) -> Result<(), ConfigError> {
        self.ensure((0.0..1.0).contains(&v), key, || format!("{v} is not in [0, 1)"))
    }

    /// `name` can name a file or folder on every common file system: not empty, no path
    /// separator, not `.` or `..`, no control character, at most 200 bytes (room for the
    /// suffixes mtl adds; file systems allow 255).
    pub fn file_name(&self, key: &str, name: &str, what: &str) -> Result<(), ConfigError> {
        let ok = !name.trim().is_empty()
            && !name.contains(['/', '\\'])
            && name != "."
            && name != ".."
            && !name.chars().any(char::is_control);
        self.ensure(ok, key, || {
            format!("use a non-empty {what} without path separators (it names a folder)")
        })?;
        self.ensure(name.len() <= 200, key, || {
            format!("{} bytes is too long for a {what} (it names a folder); use at most 200", name.len())
        })
    }

    /// A data-layer refusal as a config error (its own key when it names one).
    pub fn data(&self, e: mtl_data::DataError) -> ConfigError {
        match e {
            mtl_data::DataError::InvalidSetting { key, message } => self.invalid(&key, message),
            other => self.invalid("data", other.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_checks_name_the_key_and_the_value() {
        let check = Check { path: Path::new("c.toml") };
        let e = check.positive("train.lr", 0.0, "learning rate").unwrap_err().to_string();
        assert!(
            e.contains("c.toml") && e.contains("train.lr") && e.contains("0 is not a positive learning rate"),
            "{e}"
        );
        assert!(check.positive("k", f64::INFINITY, "x").is_err() && check.positive("k", 1e-9, "x").is_ok());
        assert!(check.non_negative("k", 0.0).is_ok() && check.non_negative("k", f64::NAN).is_err());
        assert!(
            check.unit("k", 0.0).is_ok() && check.unit("k", 1.0).is_err() && check.unit("k", -0.1).is_err()
        );
    }

    #[test]
    fn folder_names_are_refused_naming_the_key() {
        let check = Check { path: Path::new("c.toml") };
        for bad in ["", " ", ".", "..", "a/b", "a\\b", "tab\there", &"x".repeat(201)] {
            let e = check.file_name("run.name", bad, "run name").unwrap_err().to_string();
            assert!(e.contains("run.name") && e.contains("names a folder"), "{bad:?}: {e}");
        }
        for good in ["quickstart", "y3_high", "ünïcode-ok", &"x".repeat(200)] {
            assert!(check.file_name("run.name", good, "run name").is_ok(), "{good:?}");
        }
    }
}
