//! The module-graph check of `.ci/run` (`.ci/module-cycles.py`): it finds a circle between two
//! modules, a circle through sibling submodules, a library naming the app, and passes this
//! repository. Skipped (with a message) where `python3` is missing.

mod common;

use std::path::Path;
use std::process::Command;

use common::repo;

/// Run the check on `root`: (exit code, output), or `None` without Python.
fn check(root: &Path) -> Option<(i32, String)> {
    let script = repo().join(".ci/module-cycles.py");
    let o = Command::new("python3").arg(script).arg(root).output().ok()?;
    let text = String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr);
    Some((o.status.code().unwrap_or(-1), text))
}

fn tree(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (path, text) in files {
        let p = dir.path().join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
    std::fs::create_dir_all(dir.path().join("crates")).unwrap();
    dir
}

#[test]
fn the_repository_has_no_circles() {
    let Some((code, out)) = check(&repo()) else { return eprintln!("python3 not found: skipped") };
    assert_eq!(code, 0, "{out}");
}

#[test]
fn a_circle_between_two_modules_fails_naming_both() {
    let t = tree(&[
        ("src/main.rs", "mod a;\nmod b;\nfn main() {}\n"),
        ("src/a.rs", "use crate::b::Y;\npub struct X;\n"),
        ("src/b.rs", "pub struct Y;\nfn f() -> crate::a::X { crate::a::X }\n"),
    ]);
    let Some((code, out)) = check(t.path()) else { return eprintln!("python3 not found: skipped") };
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("a ↔ b") && out.contains("a.rs → b"), "{out}");
}

#[test]
fn a_circle_through_sibling_submodules_fails_and_test_modules_do_not_count() {
    let t = tree(&[
        ("crates/lib/src/lib.rs", "pub mod fit;\n"),
        ("crates/lib/src/fit/mod.rs", "mod epoch;\nmod setup;\n"),
        ("crates/lib/src/fit/setup.rs", "use super::epoch::Means;\npub struct Run;\n"),
        (
            "crates/lib/src/fit/epoch.rs",
            "pub struct Means;\n#[cfg(test)]\nmod tests {\n    use super::*;\n}\n",
        ),
    ]);
    let Some((code, out)) = check(t.path()) else { return eprintln!("python3 not found: skipped") };
    assert_eq!(code, 0, "a test module's super:: is its own file: {out}");
    std::fs::write(
        t.path().join("crates/lib/src/fit/epoch.rs"),
        "use super::setup::Run;\npub struct Means;\n",
    )
    .unwrap();
    let (code, out) = check(t.path()).unwrap();
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("fit::epoch ↔ fit::setup"), "{out}");
}

#[test]
fn a_library_naming_the_app_fails() {
    let t = tree(&[
        ("src/main.rs", "fn main() {}\n"),
        ("crates/lib/src/lib.rs", "pub fn f() { mtl::cli::run(); }\n"),
        ("crates/lib/Cargo.toml", "[package]\nname = \"lib\"\n[dependencies]\nmtl = { path = \"../..\" }\n"),
    ]);
    let Some((code, out)) = check(t.path()) else { return eprintln!("python3 not found: skipped") };
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("depends on the app crate") && out.contains("names the app crate"), "{out}");
}
