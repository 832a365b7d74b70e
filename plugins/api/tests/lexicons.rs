//! Checks the lexicon documents under `lexicons/` (repository root): every file parses, is
//! lexicon version 1, is named after its NSID, has defs, and every `ref`/`refs` entry resolves
//! to a def in some file of the folder. Also checks that every record the AppView indexes is there.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value;

/// Record collections the AppView indexes; each must have a lexicon with a `record` main def.
const EXPECTED_RECORDS: &[&str] = &[
    "social.coves.actor.profile",
    "social.coves.community.profile",
    "social.coves.community.post",
    "social.coves.community.comment",
    "social.coves.feed.vote",
    "social.coves.community.subscription",
    "social.coves.community.block",
];

fn lexicon_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../lexicons")
}

/// Every `.json` file below `dir`, sorted for stable output.
fn json_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let entries = fs::read_dir(dir).unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()));
    for entry in entries {
        let path = entry.unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display())).path();
        if path.is_dir() {
            json_files(&path, out);
        } else if path.extension().is_some_and(|ext| ext == "json") {
            out.push(path);
        }
    }
    out.sort();
}

/// `social/coves/feed/vote.json` -> `social.coves.feed.vote`.
fn nsid_of(root: &Path, file: &Path) -> String {
    let relative = file.strip_prefix(root).expect("file lies under the lexicon folder").with_extension("");
    relative.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect::<Vec<_>>().join(".")
}

/// A `ref`/`refs` entry as it appears somewhere inside the document of `nsid`.
struct Reference {
    nsid: String,
    pointer: String,
    target: String,
}

/// Collects every `ref` string and `refs` array entry, recording its JSON pointer.
fn collect_refs(nsid: &str, value: &Value, pointer: &str, out: &mut Vec<Reference>) {
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                let child_pointer = format!("{pointer}/{key}");
                match (key.as_str(), child) {
                    ("ref", Value::String(target)) => {
                        out.push(Reference { nsid: nsid.to_owned(), pointer: child_pointer, target: target.clone() });
                    }
                    ("refs", Value::Array(targets)) => {
                        for (i, target) in targets.iter().enumerate() {
                            out.push(Reference {
                                nsid: nsid.to_owned(),
                                pointer: format!("{child_pointer}/{i}"),
                                target: target.as_str().map_or_else(|| target.to_string(), str::to_owned),
                            });
                        }
                    }
                    _ => collect_refs(nsid, child, &child_pointer, out),
                }
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                collect_refs(nsid, item, &format!("{pointer}/{i}"), out);
            }
        }
        _ => {}
    }
}

/// Resolves a reference to `(nsid, def)`: `#def` is local, a bare `nsid` means `nsid#main`.
fn resolve(from_nsid: &str, target: &str) -> (String, String) {
    match target.split_once('#') {
        Some(("", def)) => (from_nsid.to_owned(), def.to_owned()),
        Some((nsid, def)) => (nsid.to_owned(), def.to_owned()),
        None => (target.to_owned(), "main".to_owned()),
    }
}

#[test]
fn lexicons_are_well_formed_and_refs_resolve() {
    let root = lexicon_dir();
    let mut files = Vec::new();
    json_files(&root, &mut files);
    assert!(!files.is_empty(), "no lexicon files found under {}", root.display());

    let mut failures = Vec::new();
    // nsid -> names of its defs
    let mut defs_by_nsid: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut records = BTreeSet::new();
    let mut references = Vec::new();

    for file in &files {
        let shown = file.strip_prefix(&root).unwrap_or(file).display().to_string();
        let expected_nsid = nsid_of(&root, file);
        let text = match fs::read_to_string(file) {
            Ok(text) => text,
            Err(e) => {
                failures.push(format!("{shown}: cannot read: {e}"));
                continue;
            }
        };
        let doc: Value = match serde_json::from_str(&text) {
            Ok(doc) => doc,
            Err(e) => {
                failures.push(format!("{shown}: invalid JSON: {e}"));
                continue;
            }
        };

        if doc.get("lexicon") != Some(&Value::from(1)) {
            failures.push(format!("{shown}: \"lexicon\" must be 1, found {:?}", doc.get("lexicon")));
        }
        match doc.get("id").and_then(Value::as_str) {
            Some(id) if id == expected_nsid => {}
            other => failures.push(format!("{shown}: \"id\" must be {expected_nsid:?}, found {other:?}")),
        }

        let Some(defs) = doc.get("defs").and_then(Value::as_object).filter(|defs| !defs.is_empty()) else {
            failures.push(format!("{shown}: \"defs\" must be a non-empty object"));
            continue;
        };
        defs_by_nsid.insert(expected_nsid.clone(), defs.keys().cloned().collect());

        for (name, def) in defs {
            if def.get("type").and_then(Value::as_str) != Some("record") {
                continue;
            }
            if name == "main" {
                records.insert(expected_nsid.clone());
            }
            if def.get("key").and_then(Value::as_str).is_none_or(str::is_empty) {
                failures.push(format!("{shown}: record def {name:?} has no \"key\""));
            }
            if def.pointer("/record/type").and_then(Value::as_str) != Some("object") {
                failures.push(format!("{shown}: record def {name:?} must have \"record\" of type \"object\""));
            }
        }

        collect_refs(&expected_nsid, &doc, "", &mut references);
    }

    for reference in &references {
        let (nsid, def) = resolve(&reference.nsid, &reference.target);
        let found = defs_by_nsid.get(&nsid).is_some_and(|defs| defs.contains(&def));
        if !found {
            failures.push(format!(
                "{} {}: ref {:?} does not resolve (no def {def:?} in {nsid})",
                reference.nsid, reference.pointer, reference.target
            ));
        }
    }

    for expected in EXPECTED_RECORDS {
        if !records.contains(*expected) {
            failures.push(format!("missing record lexicon {expected}"));
        }
    }

    assert!(failures.is_empty(), "{} lexicon problem(s):\n  {}", failures.len(), failures.join("\n  "));
}
