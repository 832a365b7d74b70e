//! Runs the official atproto interop syntax vectors
//! (`testdata/atproto-interop/syntax/`) against the `syntax` types.
//!
//! File format: one vector per line; blank lines and lines starting with `#` are
//! comments. Nothing but the line break is stripped: several vectors test leading or
//! trailing spaces.

use std::collections::BTreeSet;
use std::fs;
use std::path::PathBuf;

use coves_plugin_api::syntax::{
    AtIdentifier, AtUri, Cid, Datetime, Did, Handle, Language, Nsid, RecordKey, SyntaxError, Tid, Uri,
};

/// Parses one vector, discarding the value: only acceptance matters here.
type Check = fn(&str) -> Result<(), SyntaxError>;

/// Whether a file's vectors must be accepted or rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Expect {
    Valid,
    Invalid,
}

/// Every vector file, what its vectors must do, and the type that checks them.
const FILES: &[(&str, Expect, Check)] = &[
    ("atidentifier_syntax_valid.txt", Expect::Valid, |s| AtIdentifier::new(s).map(drop)),
    ("atidentifier_syntax_invalid.txt", Expect::Invalid, |s| AtIdentifier::new(s).map(drop)),
    ("aturi_syntax_valid.txt", Expect::Valid, |s| AtUri::new(s).map(drop)),
    ("aturi_syntax_invalid.txt", Expect::Invalid, |s| AtUri::new(s).map(drop)),
    ("cid_syntax_valid.txt", Expect::Valid, |s| Cid::new(s).map(drop)),
    ("cid_syntax_invalid.txt", Expect::Invalid, |s| Cid::new(s).map(drop)),
    ("datetime_syntax_valid.txt", Expect::Valid, |s| Datetime::new(s).map(drop)),
    ("datetime_syntax_invalid.txt", Expect::Invalid, |s| Datetime::new(s).map(drop)),
    ("datetime_parse_invalid.txt", Expect::Invalid, |s| Datetime::new(s).map(drop)),
    ("did_syntax_valid.txt", Expect::Valid, |s| Did::new(s).map(drop)),
    ("did_syntax_invalid.txt", Expect::Invalid, |s| Did::new(s).map(drop)),
    ("handle_syntax_valid.txt", Expect::Valid, |s| Handle::new(s).map(drop)),
    ("handle_syntax_invalid.txt", Expect::Invalid, |s| Handle::new(s).map(drop)),
    ("language_syntax_valid.txt", Expect::Valid, |s| Language::new(s).map(drop)),
    ("language_syntax_invalid.txt", Expect::Invalid, |s| Language::new(s).map(drop)),
    ("language_parse_invalid.txt", Expect::Invalid, |s| Language::new(s).map(drop)),
    ("nsid_syntax_valid.txt", Expect::Valid, |s| Nsid::new(s).map(drop)),
    ("nsid_syntax_invalid.txt", Expect::Invalid, |s| Nsid::new(s).map(drop)),
    ("recordkey_syntax_valid.txt", Expect::Valid, |s| RecordKey::new(s).map(drop)),
    ("recordkey_syntax_invalid.txt", Expect::Invalid, |s| RecordKey::new(s).map(drop)),
    ("tid_syntax_valid.txt", Expect::Valid, |s| Tid::new(s).map(drop)),
    ("tid_syntax_invalid.txt", Expect::Invalid, |s| Tid::new(s).map(drop)),
    ("uri_syntax_valid.txt", Expect::Valid, |s| Uri::new(s).map(drop)),
    ("uri_syntax_invalid.txt", Expect::Invalid, |s| Uri::new(s).map(drop)),
];

fn vector_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata/atproto-interop/syntax/"))
}

/// The vectors of one file with their 1-based line numbers.
fn vectors(file: &str) -> Vec<(usize, String)> {
    let path = vector_dir().join(file);
    let text = fs::read_to_string(&path).unwrap_or_else(|err| panic!("cannot read {}: {err}", path.display()));
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.is_empty() && !line.starts_with('#'))
        .map(|(i, line)| (i + 1, line.to_owned()))
        .collect()
}

/// Shows a vector readably: quoted and escaped (so stray spaces are visible), long ones
/// shortened.
fn show(vector: &str) -> String {
    if vector.chars().count() > 80 {
        let head: String = vector.chars().take(60).collect();
        format!("{head:?}... ({} bytes)", vector.len())
    } else {
        format!("{vector:?}")
    }
}

#[test]
fn all_interop_vectors() {
    let mut failures = Vec::new();
    let mut summary = Vec::new();
    for &(file, expect, check) in FILES {
        let vectors = vectors(file);
        let mut passed = 0;
        for (line, vector) in &vectors {
            match (expect, check(vector)) {
                (Expect::Valid, Ok(())) | (Expect::Invalid, Err(_)) => passed += 1,
                (Expect::Valid, Err(err)) => {
                    failures.push(format!("{file}:{line}: rejected valid {}: {err}", show(vector)));
                }
                (Expect::Invalid, Ok(())) => {
                    failures.push(format!("{file}:{line}: accepted invalid {}", show(vector)));
                }
            }
        }
        summary.push(format!("{file}: {passed}/{} passed", vectors.len()));
    }
    println!("{}", summary.join("\n"));
    assert!(failures.is_empty(), "{} interop vector(s) failed:\n{}", failures.len(), failures.join("\n"));
}

/// Guards against a wrong path or an emptied file passing silently, and against a new
/// vector file nobody wired up.
#[test]
fn every_vector_file_is_found_and_checked() {
    let on_disk: BTreeSet<String> = fs::read_dir(vector_dir())
        .expect("vector directory exists")
        .map(|entry| entry.expect("readable entry").file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".txt"))
        .collect();
    let wired: BTreeSet<String> = FILES.iter().map(|(file, ..)| (*file).to_owned()).collect();
    assert_eq!(on_disk, wired, "vector files on disk vs. files this test checks");
    let empty: Vec<&str> = FILES.iter().map(|(file, ..)| *file).filter(|file| vectors(file).is_empty()).collect();
    assert!(empty.is_empty(), "vector files with no vectors: {empty:?}");
}

/// `datetime_parse_invalid.txt` holds strings shaped like datetimes that name impossible
/// instants (month 00, hour 25, a time before year 0 in UTC, ...). Check that they really
/// have the datetime shape, and that those which also pass the spec's syntax regex are
/// rejected by the semantic check (a real date, year >= 0), so the file tests more than
/// the regex does.
#[test]
fn datetime_parse_invalid_vectors_fail_semantically() {
    let shape = regex::Regex::new(
        r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2})$",
    )
    .expect("valid regex");
    let spec_syntax = regex::Regex::new(
        r"^[0-9]{4}-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-6][0-9]:[0-6][0-9](\.[0-9]{1,20})?(Z|[+-][0-2][0-9]:[0-5][0-9])$",
    )
    .expect("valid regex");
    let mut semantic = 0;
    for (line, vector) in vectors("datetime_parse_invalid.txt") {
        assert!(shape.is_match(&vector), "line {line}: {vector:?} is not datetime-shaped");
        let err = Datetime::new(vector.as_str()).expect_err("impossible instant");
        if spec_syntax.is_match(&vector) {
            semantic += 1;
            assert!(
                err.reason().contains("real date") || err.reason().contains("year 0000"),
                "line {line}: {vector:?} rejected for an unexpected reason: {err}"
            );
        }
    }
    assert!(semantic > 0, "no vector exercised the semantic check");
}

/// `language_parse_invalid.txt` holds well-formed tags that repeat a variant or
/// extension singleton; they must be rejected for that reason, not another.
#[test]
fn language_parse_invalid_vectors_fail_on_repeats() {
    for (line, vector) in vectors("language_parse_invalid.txt") {
        let err = Language::new(vector.as_str()).expect_err("repeated subtag");
        assert!(err.reason().contains("repeated"), "line {line}: {vector:?}: {err}");
    }
}
