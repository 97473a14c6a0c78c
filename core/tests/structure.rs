//! The core's structure, checked: modules depend downward only (no import cycle beyond a
//! parent module and its children), socketioxide is named only inside its engine folder,
//! and no source file (Rust or JS, generated `index.js` aside) grows past the size a reader
//! can hold.

use std::{
    collections::{BTreeMap, BTreeSet},
    fs,
    path::{Path, PathBuf},
};

/// Longest source file, in lines.
const MAX_LINES: usize = 450;

fn files_with(dir: &Path, extensions: &[&str], out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else { return };
    for entry in entries {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap_or_default();
        if path.is_dir() {
            if name != "node_modules" && name != "target" {
                files_with(&path, extensions, out);
            }
        } else if path.extension().is_some_and(|e| extensions.iter().any(|x| e == *x)) {
            out.push(path);
        }
    }
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    files_with(dir, &["rs"], out);
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// `native/conn.rs` → `native::conn`; `native/mod.rs` → `native`; `lib.rs` → ``.
fn module_of(file: &Path) -> String {
    let relative = file.strip_prefix(src()).unwrap().with_extension("");
    let mut parts: Vec<String> =
        relative.iter().map(|p| p.to_string_lossy().into_owned()).collect();
    if matches!(parts.last().map(String::as_str), Some("mod" | "lib")) {
        parts.pop();
    }
    parts.join("::")
}

/// The paths a `use crate::…;` tree names: `a::{b, c::d}` → `a::b`, `a::c::d`.
fn expand(tree: &str, prefix: &str, out: &mut Vec<String>) {
    let tree = tree.trim();
    if let Some(open) = tree.find('{') {
        let head = tree[..open].trim().trim_end_matches("::");
        let inner = &tree[open + 1..tree.rfind('}').unwrap()];
        let prefix = [prefix, head].iter().filter(|p| !p.is_empty()).cloned().collect::<Vec<_>>();
        let prefix = prefix.join("::");
        let mut depth = 0;
        let mut start = 0;
        for (i, c) in inner.char_indices() {
            match c {
                '{' => depth += 1,
                '}' => depth -= 1,
                ',' if depth == 0 => {
                    expand(&inner[start..i], &prefix, out);
                    start = i + 1;
                }
                _ => {}
            }
        }
        expand(&inner[start..], &prefix, out);
    } else if !tree.is_empty() {
        let path = tree.split(" as ").next().unwrap().trim();
        out.push(if prefix.is_empty() { path.to_owned() } else { format!("{prefix}::{path}") });
    }
}

/// The modules `text` refers to through `crate::` (in `use` trees and inline paths).
fn references(text: &str, modules: &BTreeSet<String>) -> BTreeSet<String> {
    let mut paths = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("crate::") {
        let after = &rest[at + "crate::".len()..];
        let end = if after.starts_with('{') {
            let mut depth = 0;
            after
                .char_indices()
                .find(|(_, c)| {
                    match c {
                        '{' => depth += 1,
                        '}' => depth -= 1,
                        _ => {}
                    }
                    depth == 0
                })
                .map_or(after.len(), |(i, _)| i + 1)
        } else {
            after
                .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
                .unwrap_or(after.len())
        };
        expand(&after[..end], "", &mut paths);
        rest = &after[end..];
    }
    paths
        .into_iter()
        .filter_map(|path| {
            // The longest known module the path starts with.
            let segments: Vec<&str> = path.split("::").collect();
            (1..=segments.len())
                .rev()
                .map(|n| segments[..n].join("::"))
                .find(|candidate| modules.contains(candidate))
        })
        .collect()
}

fn is_family(a: &str, b: &str) -> bool {
    let top = |m: &str| m.split("::").next().unwrap_or("").to_owned();
    top(a) == top(b)
}

#[test]
fn modules_depend_downward_only() {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let modules: BTreeSet<String> = files.iter().map(|f| module_of(f)).collect();
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in &files {
        let module = module_of(file);
        // Doc links name modules without depending on them: code only.
        let text = fs::read_to_string(file).unwrap();
        let code: String = text
            .lines()
            .filter(|line| !line.trim_start().starts_with("//"))
            .collect::<Vec<_>>()
            .join("\n");
        let deps = references(&code, &modules);
        graph.entry(module.clone()).or_default().extend(deps.into_iter().filter(|d| *d != module));
    }
    // Every cycle must stay within one module and its children (e.g. `native` and
    // `native::conn`): find cycles across families with a depth-first search.
    let mut cycles = Vec::new();
    for start in graph.keys() {
        let mut stack = vec![(start.clone(), vec![start.clone()])];
        let mut seen = BTreeSet::new();
        while let Some((node, path)) = stack.pop() {
            for next in graph.get(&node).into_iter().flatten() {
                if next == start && path.iter().any(|m| !is_family(m, start)) {
                    cycles.push(path.join(" → ") + " → " + start);
                } else if seen.insert(next.clone()) {
                    let mut path = path.clone();
                    path.push(next.clone());
                    stack.push((next.clone(), path));
                }
            }
        }
    }
    assert!(cycles.is_empty(), "import cycles across modules:\n{}", cycles.join("\n"));
    // The parser sees the layering it should: the engines sit above the flows.
    assert!(graph["native::conn"].contains("dispatch"));
    assert!(graph["sio::handlers"].contains("dispatch"));
    assert!(!graph["dispatch"].iter().any(|m| m.starts_with("native") || m.starts_with("sio")));
}

#[test]
fn socketioxide_is_named_only_in_its_engine_folder() {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    for file in files.iter().filter(|f| !module_of(f).starts_with("sio")) {
        let text = fs::read_to_string(file).unwrap();
        for line in text.lines().filter(|l| !l.trim_start().starts_with("//")) {
            assert!(
                !line.contains("socketioxide") && !line.contains("engineioxide"),
                "{} names socketioxide outside core/src/sio: {line}",
                file.display()
            );
        }
    }
}

#[test]
fn no_source_file_is_too_long() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let mut files = Vec::new();
    for dir in
        ["src", "core", "tools", "benches", "lib", "client", "__test__", "examples", "scripts"]
    {
        files_with(&root.join(dir), &["rs", "js", "mjs", "ts"], &mut files);
    }
    assert!(files.len() > 50, "found the sources ({} files)", files.len());
    let long: Vec<String> = files
        .iter()
        .filter_map(|f| {
            let lines = fs::read_to_string(f).unwrap().lines().count();
            (lines > MAX_LINES).then(|| format!("{} ({lines} lines)", f.display()))
        })
        .collect();
    assert!(long.is_empty(), "files over {MAX_LINES} lines: {long:?}");
}
