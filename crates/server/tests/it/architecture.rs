//! Guardrails: the crate graph is the architecture.

fn dependencies_of(manifest: &str) -> Vec<String> {
    let mut in_deps = false;
    let mut names = Vec::new();
    for line in manifest.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_deps = line == "[dependencies]";
            continue;
        }
        if in_deps && let Some((name, _)) = line.split_once(['=', '.']) {
            names.push(name.trim().to_string());
        }
    }
    names
}

#[test]
fn the_domain_depends_on_no_web_database_or_runtime_crate() {
    let manifest = include_str!("../../../domain/Cargo.toml");
    let deps = dependencies_of(manifest);
    assert!(deps.contains(&"serde".to_string()), "parsed: {deps:?}");
    for forbidden in [
        "sqlx", "axum", "tokio", "askama", "reqwest", "hyper", "tower", "store", "server",
    ] {
        assert!(
            !deps.iter().any(|d| d == forbidden),
            "domain must not depend on {forbidden}"
        );
    }
}

#[test]
fn the_store_knows_nothing_of_http() {
    let deps = dependencies_of(include_str!("../../../store/Cargo.toml"));
    assert!(deps.contains(&"sqlx".to_string()), "parsed: {deps:?}");
    for forbidden in ["axum", "askama", "tower", "tower-http", "server"] {
        assert!(
            !deps.iter().any(|d| d == forbidden),
            "store must not depend on {forbidden}"
        );
    }
}

// ---- Import cycles between the modules of one crate ----
//
// A module's node is its path cut to two segments (`scheduling::service`, `web::booking`); the crate
// root (`lib.rs`, `main.rs`) is the composition of the modules and is no node. An edge is a
// `crate::` or `super::` path in a file naming an item of another node. Comments are skipped, and
// so are unit-test modules (`mod tests`): a test may use whatever it checks.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

type Module = Vec<String>;

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `scheduling/service/mod.rs` is `scheduling::service`; `web/booking.rs` is `web::booking`.
fn module_of(src: &Path, file: &Path) -> Module {
    let relative = file.strip_prefix(src).unwrap();
    let mut parts: Vec<String> = relative
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let last = parts.pop().unwrap();
    let stem = last.trim_end_matches(".rs");
    if !matches!(stem, "mod" | "lib" | "main") {
        parts.push(stem.to_string());
    }
    parts
}

fn without_comments(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix("//") {
            rest = after.find('\n').map_or("", |i| &after[i..]);
        } else if let Some(after) = rest.strip_prefix("/*") {
            rest = after.find("*/").map_or("", |i| &after[i + 2..]);
        } else if let Some(len) = string_literal_len(rest, out.chars().next_back()) {
            // A string names no module, and `"// not a comment"` keeps the code after it.
            out.push_str("\"\"");
            rest = &rest[len.min(rest.len())..];
        } else if let Some(after) = rest.strip_prefix('\'') {
            // A char literal such as '"' is skipped; a lifetime keeps its quote.
            let b = after.as_bytes();
            let len = match b {
                [b'\\', ..] => after[2..].find('\'').map_or(1, |i| i + 4),
                [_, b'\'', ..] => 3,
                _ => 1,
            };
            out.push('\'');
            rest = &rest[len.min(rest.len())..];
        } else {
            let c = rest.chars().next().unwrap();
            out.push(c);
            rest = &rest[c.len_utf8()..];
        }
    }
    out
}

/// The length of the string literal (plain or raw) `text` starts with, if it starts with one.
fn string_literal_len(text: &str, before: Option<char>) -> Option<usize> {
    if let Some(after) = text.strip_prefix('"') {
        let bytes = after.as_bytes();
        let mut i = 0;
        while i < bytes.len() && bytes[i] != b'"' {
            i += if bytes[i] == b'\\' { 2 } else { 1 };
        }
        return Some(i + 2);
    }
    if before.is_some_and(|c| is_ident(c) && c != 'b') {
        return None;
    }
    let after = text.strip_prefix('r')?;
    let hashes = after.len() - after.trim_start_matches('#').len();
    let body = after[hashes..].strip_prefix('"')?;
    let close = format!("\"{}", "#".repeat(hashes));
    let end = body.find(&close).map_or(body.len(), |i| i + close.len());
    Some(1 + hashes + 1 + end)
}

fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Every full path a `use` tree or an expression path starting at `text` names: `a::b::{c, d::e}`
/// gives `a::b::c` and `a::b::d::e`.
fn paths_at(text: &str, prefix: &Module, out: &mut Vec<Module>) -> usize {
    let mut path = prefix.clone();
    let mut i = 0;
    let bytes = text.as_bytes();
    loop {
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        if i < bytes.len() && bytes[i] == b'{' {
            i += 1;
            loop {
                i += paths_at(&text[i..], &path, out);
                while i < bytes.len() && (bytes[i].is_ascii_whitespace() || bytes[i] == b',') {
                    i += 1;
                }
                if i >= bytes.len() || bytes[i] == b'}' {
                    return (i + 1).min(bytes.len());
                }
            }
        }
        let start = i;
        while i < bytes.len() && is_ident(bytes[i] as char) {
            i += 1;
        }
        if i > start {
            path.push(text[start..i].to_string());
        }
        if text[i..].starts_with("::") {
            i += 2;
        } else {
            out.push(path);
            return i;
        }
    }
}

/// The inline modules (`mod tests { ... }`) of a file's code: name and byte range.
fn inline_modules(code: &str) -> Vec<(String, (usize, usize))> {
    let bytes = code.as_bytes();
    let mut ranges = Vec::new();
    for (at, _) in code.match_indices("mod ") {
        if at > 0 && is_ident(code[..at].chars().next_back().unwrap()) {
            continue;
        }
        let rest = &code[at + 4..];
        let name_len = rest.chars().take_while(|c| is_ident(*c)).count();
        let after = rest[name_len..].trim_start();
        if name_len == 0 || !after.starts_with('{') {
            continue;
        }
        let open = code.len() - after.len();
        let mut depth = 0usize;
        let mut end = code.len();
        for (i, b) in bytes.iter().enumerate().skip(open) {
            match b {
                b'{' => depth += 1,
                b'}' => {
                    depth -= 1;
                    if depth == 0 {
                        end = i;
                        break;
                    }
                }
                _ => {}
            }
        }
        ranges.push((rest[..name_len].to_string(), (open, end)));
    }
    ranges
}

fn named_paths(code: &str, here: &Module) -> Vec<Module> {
    let mut out = Vec::new();
    let inline = inline_modules(code);
    let in_tests = |at: usize| {
        inline
            .iter()
            .any(|(name, (a, b))| name == "tests" && *a < at && at < *b)
    };
    for (at, _) in code.match_indices("crate::") {
        if in_tests(at) || (at > 0 && is_ident(code[..at].chars().next_back().unwrap())) {
            continue;
        }
        paths_at(&code[at + "crate::".len()..], &Vec::new(), &mut out);
    }
    for (at, _) in code.match_indices("super::") {
        if in_tests(at) {
            continue;
        }
        if at > 0 {
            let before = code[..at].chars().next_back().unwrap();
            if is_ident(before) || before == ':' {
                continue;
            }
        }
        // `super` of `a::b` (in `a/b.rs` or `a/b/mod.rs`) is `a`; chains climb further. Inside
        // an inline module (`mod tests { use super::*; }`) the first climbs stay in the file.
        let mut climbs = 1;
        let mut rest = &code[at + "super::".len()..];
        while let Some(r) = rest.strip_prefix("super::") {
            climbs += 1;
            rest = r;
        }
        let inside = inline
            .iter()
            .filter(|(_, (a, b))| *a < at && at < *b)
            .count();
        if climbs <= inside {
            continue;
        }
        let mut base = here.clone();
        for _ in inside..climbs {
            base.pop();
        }
        paths_at(rest, &base, &mut out);
    }
    out
}

/// The node of a named path: its longest prefix that is a module, cut to two segments.
fn node_of(path: &Module, modules: &BTreeSet<Module>) -> Option<String> {
    let mut best: Option<&[String]> = None;
    for len in 1..=path.len().min(2) {
        if modules.contains(&path[..len].to_vec()) {
            best = Some(&path[..len]);
        }
    }
    best.map(|p| p.join("::"))
}

/// Edges between the nodes of one crate's sources, each with a file that makes it.
fn import_graph(
    files: &[(Module, String)],
    roots: &[&str],
) -> BTreeMap<String, BTreeMap<String, String>> {
    let modules: BTreeSet<Module> = files.iter().map(|(m, _)| m.clone()).collect();
    let mut graph: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for (module, text) in files {
        let Some(from) = node_of(module, &modules) else {
            continue;
        };
        if roots.contains(&from.as_str()) {
            continue;
        }
        graph.entry(from.clone()).or_default();
        for path in named_paths(&without_comments(text), module) {
            if let Some(to) = node_of(&path, &modules)
                && to != from
                && !roots.contains(&to.as_str())
            {
                graph
                    .get_mut(&from)
                    .unwrap()
                    .entry(to)
                    .or_insert_with(|| module.join("::"));
            }
        }
    }
    graph
}

/// Strongly connected components of more than one node (Tarjan), each sorted.
fn cycles(graph: &BTreeMap<String, BTreeMap<String, String>>) -> Vec<Vec<String>> {
    struct Walk<'a> {
        graph: &'a BTreeMap<String, BTreeMap<String, String>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on_stack: BTreeSet<&'a str>,
        found: Vec<Vec<String>>,
    }
    fn visit<'a>(w: &mut Walk<'a>, node: &'a str) {
        let n = w.index.len();
        w.index.insert(node, n);
        w.low.insert(node, n);
        w.stack.push(node);
        w.on_stack.insert(node);
        let graph = w.graph;
        for next in graph.get(node).into_iter().flat_map(|e| e.keys()) {
            let next = next.as_str();
            if !w.index.contains_key(next) {
                visit(w, next);
                let low = w.low[node].min(w.low[next]);
                w.low.insert(node, low);
            } else if w.on_stack.contains(next) {
                let low = w.low[node].min(w.index[next]);
                w.low.insert(node, low);
            }
        }
        if w.low[node] == w.index[node] {
            let mut component = Vec::new();
            while let Some(top) = w.stack.pop() {
                w.on_stack.remove(top);
                component.push(top.to_string());
                if top == node {
                    break;
                }
            }
            if component.len() > 1 {
                component.sort();
                w.found.push(component);
            }
        }
    }
    let mut walk = Walk {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        found: Vec::new(),
    };
    for node in graph.keys() {
        if !walk.index.contains_key(node.as_str()) {
            visit(&mut walk, node);
        }
    }
    walk.found
}

fn crate_sources(name: &str) -> Vec<(Module, String)> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(name)
        .join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files
        .iter()
        .map(|f| (module_of(&src, f), std::fs::read_to_string(f).unwrap()))
        .collect()
}

fn explain(graph: &BTreeMap<String, BTreeMap<String, String>>, cycle: &[String]) -> String {
    let mut lines = Vec::new();
    for from in cycle {
        for (to, file) in &graph[from] {
            if cycle.contains(to) {
                lines.push(format!("  {from} -> {to} (in {file})"));
            }
        }
    }
    lines.join("\n")
}

#[test]
fn no_crate_has_an_import_cycle_between_its_modules() {
    let mut report = Vec::new();
    // Besides `lib.rs` and `main.rs`, the server's `state` is a composition root: `AppState`
    // wires the configuration, the store, the mailer and the hub together for every handler.
    for (name, roots) in [
        ("domain", &[][..]),
        ("store", &[]),
        ("server", &["state"]),
        ("bench", &[]),
    ] {
        let graph = import_graph(&crate_sources(name), roots);
        assert!(graph.len() > 3, "{name}: parsed only {:?}", graph.keys());
        for cycle in cycles(&graph) {
            report.push(format!(
                "{name}: {}\n{}",
                cycle.join(", "),
                explain(&graph, &cycle)
            ));
        }
    }
    assert!(report.is_empty(), "import cycles:\n{}", report.join("\n"));
}

#[test]
fn the_cycle_check_finds_a_cycle_through_grouped_and_super_paths() {
    let file = |m: &str, text: &str| {
        let module: Module = m.split("::").map(str::to_string).collect();
        (module, text.to_string())
    };
    let files = vec![
        file("a", "// use crate::c::X;\nuse crate::{b::{self, Y}, d};"),
        file("b", "fn f() { crate::c::inner::g(); }"),
        file("c", "mod inner;"),
        file("c::inner", "use super::super::a::Z;"),
        file(
            "d",
            "const S: &str = \"crate::a::Q\"; const R: &str = r#\"\"crate::a\"\"#; const C: char = '\"';",
        ),
        file("e", "fn f<'a>(x: &'a str) { crate::b::g(x) }"),
        file(
            "b::t",
            "fn t() {} mod inner { use super::super::super::d::X; }",
        ),
        file(
            "b::u",
            "#[cfg(test)] mod tests { use super::*; use crate::a::T; }",
        ),
    ];
    let graph = import_graph(&files, &[]);
    assert_eq!(cycles(&graph), vec![vec!["a", "b", "c::inner"]]);
    assert!(
        cycles(&import_graph(&files, &["b"])).is_empty(),
        "a root is no node"
    );
    assert!(!graph["a"].contains_key("c"), "comments name nothing");
    assert!(graph["a"].contains_key("d"));
    assert!(
        graph["d"].is_empty(),
        "strings name nothing: {:?}",
        graph["d"]
    );
    assert!(
        graph["e"].contains_key("b"),
        "a lifetime is no char literal"
    );
    assert_eq!(
        graph["b::t"].keys().collect::<Vec<_>>(),
        ["d"],
        "`super` from an inline module climbs from it"
    );
    assert!(
        graph["b::u"].is_empty(),
        "tests name nothing: {:?}",
        graph["b::u"]
    );
}

/// Pages and the live hub call use cases; only the use cases read and write the store.
#[test]
fn web_pages_and_the_live_hub_never_call_the_store() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src.join("web"), &mut files);
    rust_files(&src.join("signaling"), &mut files);
    assert!(files.len() > 20, "found {files:?}");
    let mut found = Vec::new();
    for file in &files {
        let code: String = without_comments(&std::fs::read_to_string(file).unwrap())
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        // The one allowed mention: the hub hands the store on to the use cases it calls.
        let code = code.replace("store:self.deps.store.as_ref()", "");
        for needle in [".store.", "store::"] {
            if code.contains(needle) {
                found.push(format!("{} names `{needle}`", file.display()));
            }
        }
    }
    assert!(found.is_empty(), "{}", found.join("\n"));
}

/// A file that grows past 700 lines holds more than one job: split it by responsibility. A
/// function that needs more than seven arguments takes a struct instead (clippy's limit is not
/// waived anywhere).
#[test]
fn no_source_file_is_over_700_lines_or_waives_the_argument_limit() {
    let crates = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut long = Vec::new();
    let mut seen = 0;
    for name in ["domain", "store", "server", "bench"] {
        let mut files = Vec::new();
        rust_files(&crates.join(name).join("src"), &mut files);
        for file in files {
            seen += 1;
            let text = std::fs::read_to_string(&file).unwrap();
            let lines = text.lines().count();
            if lines > 700 {
                long.push(format!("{} has {lines} lines", file.display()));
            }
            if text.contains(concat!("too_many_", "arguments")) {
                long.push(format!("{} waives clippy's argument limit", file.display()));
            }
        }
    }
    assert!(seen > 100, "read only {seen} files");
    assert!(long.is_empty(), "{}", long.join("\n"));
}

/// A test that needs PostgreSQL shows as ignored, not as passed, when none is configured: every
/// test function that opens a PostgreSQL database carries the `telemed_pg` ignore.
#[test]
fn every_postgresql_test_is_ignored_without_postgresql() {
    let crates = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut files = Vec::new();
    for krate in ["server", "store", "bench"] {
        let tests = crates.join(krate).join("tests");
        if tests.is_dir() {
            rust_files(&tests, &mut files);
        }
    }
    let mut unmarked = Vec::new();
    for file in &files {
        let text = without_comments(&std::fs::read_to_string(file).unwrap());
        // Each test is its attributes up to the next test's.
        for chunk in text.split("#[tokio::test").skip(1) {
            let head = chunk.split("async fn").next().unwrap_or_default();
            let name = chunk
                .split("async fn")
                .nth(1)
                .and_then(|rest| rest.split('(').next())
                .unwrap_or_default()
                .trim()
                .to_string();
            let opens_postgres =
                chunk.contains("Backend::Postgres") || chunk.contains("TestDb::postgres()");
            // The backend macros' bodies name both engines; their postgres arm has the ignore.
            let sqlite_arm = name == "sqlite";
            if opens_postgres && !sqlite_arm && !head.contains("not(telemed_pg)") {
                unmarked.push(format!("{}: {name}", file.display()));
            }
        }
    }
    assert!(
        unmarked.is_empty(),
        "PostgreSQL tests without #[cfg_attr(not(telemed_pg), ignore)]: {unmarked:#?}"
    );
}
