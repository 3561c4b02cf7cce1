//! Feature columns chosen by pattern: `data.csv.numeric` / `categorical` entries are column
//! names, globs (`*` any run of characters, `?` one character: `"x*"`), numbered ranges
//! (`"f1..f103"`: the prefix followed by each integer from 1 to 103), or `"*"` alone: every
//! other column, i.e. each column of the training file that is not a label, not in
//! `data.csv.exclude` (ids and the like) and not chosen by the other list.

use std::path::Path;

use super::check::Check;
use super::error::ConfigError;

/// One entry of a column list.
#[derive(Debug, Clone, PartialEq)]
enum Pattern {
    /// A column name, taken as is.
    Name(String),
    /// `*` alone: the columns no other entry chose.
    Rest,
    /// A glob with `*` and `?`.
    Glob(String),
    /// `prefix{from..=to}`.
    Range { prefix: String, from: u64, to: u64 },
}

impl Pattern {
    fn parse(text: &str) -> Self {
        if text == "*" {
            return Pattern::Rest;
        }
        if text.contains(['*', '?']) {
            return Pattern::Glob(text.to_string());
        }
        if let Some((a, b)) = text.split_once("..") {
            let split = |s: &str| {
                let digits = s.len() - s.trim_end_matches(|c: char| c.is_ascii_digit()).len();
                let (prefix, number) = s.split_at(s.len() - digits);
                number.parse::<u64>().ok().map(|n| (prefix.to_string(), n))
            };
            if let (Some((pa, from)), Some((pb, to))) = (split(a), split(b))
                && (pb.is_empty() || pb == pa)
                && from <= to
            {
                return Pattern::Range { prefix: pa, from, to };
            }
        }
        Pattern::Name(text.to_string())
    }

    fn matches(&self, column: &str) -> bool {
        match self {
            Pattern::Name(n) => n == column,
            Pattern::Rest => true,
            Pattern::Glob(g) => glob(g.as_bytes(), column.as_bytes()),
            Pattern::Range { prefix, from, to } => column
                .strip_prefix(prefix.as_str())
                .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|n| n.parse::<u64>().ok())
                .is_some_and(|n| (*from..=*to).contains(&n)),
        }
    }
}

/// `*` matches any run of characters, `?` exactly one.
fn glob(p: &[u8], s: &[u8]) -> bool {
    match (p.first(), s.first()) {
        (None, None) => true,
        (Some(b'*'), _) => glob(&p[1..], s) || (!s.is_empty() && glob(p, &s[1..])),
        (Some(b'?'), Some(_)) => glob(&p[1..], &s[1..]),
        (Some(a), Some(b)) if a == b => glob(&p[1..], &s[1..]),
        _ => false,
    }
}

/// Whether any entry of `list` is a pattern rather than a name.
pub(super) fn has_patterns(list: &[String]) -> bool {
    list.iter().any(|e| !matches!(Pattern::parse(e), Pattern::Name(_)))
}

/// The numeric and categorical columns that `numeric` and `categorical` choose among the
/// training file's `header` (read from `file`), leaving out `labels` and `exclude`. Names stay
/// in their place; each pattern adds the columns it matches in file order. A column chosen by
/// patterns of both lists is an error, except that `*` yields to every other entry; a pattern
/// that matches nothing is an error too.
pub(super) fn choose(
    check: Check,
    (numeric, categorical): (&[String], &[String]),
    exclude: &[String],
    labels: &[String],
    header: &[String],
    file: &Path,
) -> Result<(Vec<String>, Vec<String>), ConfigError> {
    let excluded: Vec<Pattern> = exclude.iter().map(|e| Pattern::parse(e)).collect();
    let named: Vec<&String> =
        numeric.iter().chain(categorical).filter(|e| matches!(Pattern::parse(e), Pattern::Name(_))).collect();
    let free =
        |c: &String| !labels.contains(c) && !excluded.iter().any(|p| p.matches(c)) && !named.contains(&c);
    let lists = [("data.csv.numeric", numeric), ("data.csv.categorical", categorical)];
    // Specific patterns first; a column both lists' patterns claim is ambiguous.
    let mut chosen: [Vec<String>; 2] = [Vec::new(), Vec::new()];
    let mut claimed: Vec<(String, usize, String)> = Vec::new();
    for (l, (key, list)) in lists.iter().enumerate() {
        for entry in list.iter() {
            match Pattern::parse(entry) {
                Pattern::Name(n) => chosen[l].push(n),
                Pattern::Rest => {}
                p => {
                    let hits: Vec<&String> = header.iter().filter(|c| p.matches(c) && free(c)).collect();
                    check.ensure(!hits.is_empty(), key, || {
                        format!(
                            "`{entry}` matches no feature column of `{}`; the file has {}",
                            file.display(),
                            shown(header)
                        )
                    })?;
                    for c in hits {
                        if let Some((_, other, by)) = claimed.iter().find(|(name, o, _)| name == c && *o != l)
                        {
                            return Err(check.invalid(key, format!(
                                "column `{c}` is matched by `{entry}` here and by `{by}` in {}; exclude it from one of them",
                                lists[*other].0
                            )));
                        }
                        if !chosen[l].contains(c) {
                            chosen[l].push(c.clone());
                            claimed.push((c.clone(), l, entry.clone()));
                        }
                    }
                }
            }
        }
    }
    let rest: Vec<usize> = (0..2).filter(|&l| lists[l].1.iter().any(|e| e == "*")).collect();
    check.ensure(rest.len() < 2, "data.csv.categorical", || {
        "`*` (every other column) can stand in one of `numeric` and `categorical` only".into()
    })?;
    if let Some(&l) = rest.first() {
        let taken: Vec<String> = chosen.iter().flatten().cloned().collect();
        let others: Vec<String> = header.iter().filter(|c| free(c) && !taken.contains(c)).cloned().collect();
        check.ensure(!others.is_empty(), lists[l].0, || {
            format!(
                "`*` matches no column of `{}`: every column is a label, excluded or chosen already",
                file.display()
            )
        })?;
        chosen[l].extend(others);
    }
    let [numeric, categorical] = chosen;
    Ok((numeric, categorical))
}

fn shown(header: &[String]) -> String {
    const SHOWN: usize = 12;
    let mut v: Vec<String> = header.iter().take(SHOWN).map(|n| format!("`{n}`")).collect();
    if header.len() > SHOWN {
        v.push(format!("… ({} in all)", header.len()));
    }
    v.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    fn pick(
        numeric: &[&str],
        categorical: &[&str],
        exclude: &[&str],
    ) -> Result<(Vec<String>, Vec<String>), String> {
        let header = s(&["id", "f1", "f2", "f10", "f11", "cat_a", "cat_b", "x", "y", "label"]);
        choose(
            Check { path: Path::new("c.toml") },
            (&s(numeric), &s(categorical)),
            &s(exclude),
            &s(&["label", "y"]),
            &header,
            Path::new("t.csv"),
        )
        .map_err(|e| e.to_string())
    }

    #[test]
    fn globs_ranges_and_every_other_column() {
        assert_eq!(
            pick(&["f*"], &["cat_?"], &[]).unwrap(),
            (s(&["f1", "f2", "f10", "f11"]), s(&["cat_a", "cat_b"]))
        );
        // A range takes the numbers in it (f10 yes, f11 no), in file order.
        assert_eq!(pick(&["f2..f10"], &[], &[]).unwrap().0, s(&["f2", "f10"]));
        assert_eq!(pick(&["f1..10"], &[], &[]).unwrap().0, s(&["f1", "f2", "f10"]));
        // `*`: everything not a label, not excluded, not chosen by the other list.
        assert_eq!(
            pick(&["*"], &["cat_*"], &["id"]).unwrap(),
            (s(&["f1", "f2", "f10", "f11", "x"]), s(&["cat_a", "cat_b"]))
        );
        assert_eq!(
            pick(&["x", "f1"], &["*"], &["id", "f*"]).unwrap(),
            (s(&["x", "f1"]), s(&["cat_a", "cat_b"]))
        );
        // Names pass through in place (a missing one is reported when the file is read).
        assert_eq!(pick(&["zz", "f1*"], &[], &[]).unwrap().0, s(&["zz", "f1", "f10", "f11"]));
    }

    #[test]
    fn ambiguous_or_empty_patterns_name_their_key() {
        let e = pick(&["f*"], &["f1?"], &[]).unwrap_err();
        assert!(
            e.contains("data.csv.categorical") && e.contains("`f10` is matched by `f1?` here and by `f*`"),
            "{e}"
        );
        let e = pick(&["z*"], &[], &[]).unwrap_err();
        assert!(
            e.contains("data.csv.numeric") && e.contains("`z*` matches no feature column of `t.csv`"),
            "{e}"
        );
        let e = pick(&["*"], &["*"], &[]).unwrap_err();
        assert!(e.contains("one of `numeric` and `categorical`"), "{e}");
        // Labels never become features, even under `*`.
        let (n, c) = pick(&["*"], &[], &[]).unwrap();
        assert!(!n.contains(&"label".to_string()) && !n.contains(&"y".to_string()) && c.is_empty());
    }
}
