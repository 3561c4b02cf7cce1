//! How the operating system's I/O errors are told to people: its message once, without the
//! "(os error N)" suffix, and what to do about each kind.

/// The operating system's message without its "(os error N)" suffix, lower-cased.
pub fn os_message(e: &std::io::Error) -> String {
    let text = e.to_string();
    let text = text.split(" (os error").next().unwrap_or(&text).to_string();
    let mut chars = text.chars();
    match chars.next() {
        Some(c) => c.to_lowercase().chain(chars).collect(),
        None => text,
    }
}

/// What to do about an I/O error of this kind.
pub fn io_advice(kind: std::io::ErrorKind) -> &'static str {
    use std::io::ErrorKind as K;
    match kind {
        K::NotFound => "check the path (a relative path starts from the working directory)",
        K::PermissionDenied => {
            "check the permissions of the file and its folder, or write elsewhere (--out DIR)"
        }
        K::ReadOnlyFilesystem => {
            "the file system is read-only; write elsewhere (--out DIR, or run.output_dir)"
        }
        K::StorageFull | K::QuotaExceeded => {
            "the disk is full; free space or write elsewhere (--out DIR), then resume"
        }
        K::AlreadyExists | K::NotADirectory | K::IsADirectory => {
            "a file stands where a folder should be, or a folder where a file should be; remove it or choose another path"
        }
        K::InvalidFilename => "the name is too long or not allowed by the file system; choose a shorter name",
        K::InvalidData => {
            "the file is not what was expected (not UTF-8 text?); check that it is the right file"
        }
        _ => "check the path and the file system",
    }
}
