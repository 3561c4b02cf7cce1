//! Errors raised while building or reading data.

/// A data problem a user can fix: every message names what is wrong and what to do.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// A generator or split parameter is out of range.
    #[error("invalid data setting `{key}`: {message}")]
    InvalidSetting {
        /// The config key (e.g. `data.synthetic.correlation`).
        key: String,
        /// What is wrong and what is allowed.
        message: String,
    },
}
