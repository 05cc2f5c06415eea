//! The backend's modules import one another without a cycle (they once formed one of
//! nine files: every handler imported the state from `app.rs`, which imported every
//! handler), and its leaves import nothing of the crate. Read from the sources: each
//! file's `use` trees and inline `crate::`/`super::` paths outside its test module
//! (a parent's relative path to its own child, `json::members`, is not seen: only the
//! child could close a cycle with it, through `super::`, and that is seen).

use std::{
    collections::{BTreeMap, BTreeSet},
    path::Path,
};

/// A module's path within the crate (`["flussonic", "decision"]`); the root is empty.
type Module = Vec<String>;

/// Every module file under `src/` (not the binary's `main.rs`) and its text.
fn sources(src: &Path) -> BTreeMap<Module, String> {
    let mut files = BTreeMap::new();
    let mut dirs = vec![src.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
                continue;
            }
            let relative = path.strip_prefix(src).unwrap().with_extension("");
            let mut module: Module = relative
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            match module.last().map(String::as_str) {
                Some("main") if module.len() == 1 => continue,
                Some("lib") if module.len() == 1 => module.clear(),
                Some("mod") => {
                    module.pop();
                }
                _ => {}
            }
            files.insert(module, std::fs::read_to_string(&path).unwrap());
        }
    }
    files
}

/// The text without comments and without the test module (which, here, ends each file).
fn production_code(text: &str) -> String {
    let code = text.split("#[cfg(test)]").next().unwrap_or("");
    code.lines()
        .map(|line| line.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The paths a `use` tree names, expanded (`a::{b, c::{self, d}}` → `a::b`, `a::c`, `a::c::d`).
fn expand(tree: &str) -> Vec<Vec<String>> {
    let tree: String = tree
        .replace(" as ", "@")
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    let mut out = Vec::new();
    expand_into(&tree, &[], &mut out);
    out
}

fn expand_into(tree: &str, prefix: &[String], out: &mut Vec<Vec<String>>) {
    // What follows a group's trailing comma.
    if tree.is_empty() {
        return;
    }
    if let Some(open) = tree.find('{') {
        let mut base: Vec<String> = prefix.to_vec();
        base.extend(
            tree[..open]
                .split("::")
                .filter(|s| !s.is_empty())
                .map(str::to_owned),
        );
        let inner = &tree[open + 1..tree.rfind('}').unwrap()];
        let (mut depth, mut start) = (0, 0);
        for (i, c) in inner.char_indices() {
            match c {
                '{' => depth += 1,
                '}' => depth -= 1,
                ',' if depth == 0 => {
                    expand_into(&inner[start..i], &base, out);
                    start = i + 1;
                }
                _ => {}
            }
        }
        expand_into(&inner[start..], &base, out);
        return;
    }
    let mut path: Vec<String> = prefix.to_vec();
    for segment in tree.split("::").filter(|s| !s.is_empty()) {
        let segment = segment.split('@').next().unwrap_or(segment);
        // `self` in a group is the group's own path; a leading `self::` is kept, to resolve.
        let in_group = !path.is_empty();
        if segment == "*" || (segment == "self" && in_group) {
            continue;
        }
        path.push(segment.to_owned());
    }
    if !path.is_empty() {
        out.push(path);
    }
}

/// The crate paths one module's code names: `use` trees, and inline `crate::…` or
/// `super::…` paths, resolved against the module's own path.
fn named_paths(module: &Module, code: &str) -> Vec<Module> {
    let mut raw: Vec<Vec<String>> = Vec::new();
    for statement in code.split(';') {
        // A `use` declaration runs from its first line to the `;`.
        let start = statement.lines().scan(0, |offset, line| {
            let at = *offset;
            *offset += line.len() + 1;
            Some((at, line.trim_start()))
        });
        let use_tree = start.into_iter().find_map(|(at, line)| {
            ["pub use ", "pub(crate) use ", "use "]
                .iter()
                .find(|keyword| line.starts_with(**keyword))
                .map(|keyword| (at, *keyword))
        });
        if let Some((at, keyword)) = use_tree {
            let declaration = statement[at..].trim_start();
            raw.extend(expand(&declaration[keyword.len()..]));
            continue;
        }
        for anchor in ["crate::", "super::"] {
            for (at, _) in statement.match_indices(anchor) {
                let before = statement[..at].chars().next_back();
                if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
                    continue;
                }
                let path: String = statement[at..]
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
                    .collect();
                raw.push(
                    path.split("::")
                        .filter(|s| !s.is_empty())
                        .map(str::to_owned)
                        .collect(),
                );
            }
        }
    }
    raw.into_iter()
        .filter_map(|path| {
            let (first, rest) = path.split_first()?;
            let mut resolved = match first.as_str() {
                "crate" => Vec::new(),
                "super" => module[..module.len().checked_sub(1)?].to_vec(),
                "self" => module.clone(),
                _ => return None, // another crate's path
            };
            let mut rest = rest;
            while let Some(("super", tail)) = rest.split_first().map(|(s, t)| (s.as_str(), t)) {
                resolved.pop();
                rest = tail;
            }
            resolved.extend(rest.iter().cloned());
            Some(resolved)
        })
        .collect()
}

/// Which module files each module imports from: each named path goes to the longest
/// module that is a prefix of it (declaring a child module is not importing it).
fn import_graph(files: &BTreeMap<Module, String>) -> BTreeMap<Module, BTreeSet<Module>> {
    files
        .iter()
        .map(|(module, text)| {
            let targets = named_paths(module, &production_code(text))
                .into_iter()
                .filter_map(|path| {
                    (0..=path.len())
                        .rev()
                        .map(|n| path[..n].to_vec())
                        .find(|prefix| files.contains_key(prefix))
                })
                .filter(|target| target != module)
                .collect();
            (module.clone(), targets)
        })
        .collect()
}

/// A cycle of the graph, if there is one.
fn find_cycle(graph: &BTreeMap<Module, BTreeSet<Module>>) -> Option<Vec<Module>> {
    fn visit(
        node: &Module,
        graph: &BTreeMap<Module, BTreeSet<Module>>,
        stack: &mut Vec<Module>,
        done: &mut BTreeSet<Module>,
    ) -> Option<Vec<Module>> {
        if let Some(at) = stack.iter().position(|n| n == node) {
            let mut cycle = stack[at..].to_vec();
            cycle.push(node.clone());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        stack.push(node.clone());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, graph, stack, done) {
                return Some(cycle);
            }
        }
        stack.pop();
        done.insert(node.clone());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|node| visit(node, graph, &mut Vec::new(), &mut done))
}

fn name(module: &Module) -> String {
    if module.is_empty() {
        "lib".to_owned()
    } else {
        module.join("::")
    }
}

fn module(path: &str) -> Module {
    path.split("::").map(str::to_owned).collect()
}

#[test]
fn the_modules_import_one_another_without_a_cycle() {
    let files = sources(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"));
    assert!(files.len() > 30, "{} module files", files.len());
    let graph = import_graph(&files);
    if std::env::var_os("LAYOUT_PRINT").is_some() {
        for (from, imports) in &graph {
            eprintln!(
                "{:<28} -> {}",
                name(from),
                imports.iter().map(name).collect::<Vec<_>>().join(", ")
            );
        }
    }
    if let Some(cycle) = find_cycle(&graph) {
        let cycle: Vec<String> = cycle.iter().map(name).collect();
        panic!("import cycle: {}", cycle.join(" → "));
    }
    // The leaves import nothing of the crate.
    for leaf in ["config", "clock", "hex", "db::error", "db::query"] {
        let imports = &graph[&module(leaf)];
        assert!(
            imports.is_empty(),
            "{leaf} imports {:?}",
            imports.iter().map(name).collect::<Vec<_>>()
        );
    }
    // The database layer imports only itself and the leaves.
    for (from, imports) in &graph {
        if from.first().map(String::as_str) == Some("db") {
            for to in imports {
                assert!(
                    matches!(to.first().map(String::as_str), Some("db" | "clock" | "hex")),
                    "{} imports {}",
                    name(from),
                    name(to)
                );
            }
        }
    }
    // Only the assembly imports the handlers' routes, and nothing imports the assembly.
    for (from, imports) in &graph {
        assert!(!imports.contains(&module("app")), "{} imports app", name(from));
    }
}

#[test]
fn the_reader_finds_cycles_through_use_trees_and_inline_paths() {
    let files: BTreeMap<Module, String> = [
        (Vec::new(), "pub mod a;\npub mod b;\n".to_owned()),
        (
            module("a"),
            "use crate::{\n    b::{self, Thing as Other},\n    c,\n};\n".to_owned(),
        ),
        (
            module("b"),
            "use self::inner::X;\nfn f() { super::c::call(); }\n".to_owned(),
        ),
        (module("b::inner"), "pub struct X;\n".to_owned()),
        (
            module("c"),
            "pub fn call() {}\n#[cfg(test)]\nmod tests { use crate::a; }\n".to_owned(),
        ),
        (
            module("d"),
            "// use crate::a;\nfn g() -> crate::c::T { todo!() }\n".to_owned(),
        ),
    ]
    .into_iter()
    .collect();
    let graph = import_graph(&files);
    assert_eq!(
        graph[&module("a")],
        [module("b"), module("c")].into_iter().collect()
    );
    assert_eq!(
        graph[&module("b")],
        [module("b::inner"), module("c")].into_iter().collect()
    );
    assert!(
        graph[&module("c")].is_empty(),
        "test modules and comments do not count"
    );
    assert_eq!(graph[&module("d")], [module("c")].into_iter().collect());
    assert_eq!(find_cycle(&graph), None);

    let mut cyclic = files.clone();
    cyclic.insert(module("c"), "use super::a::Thing;\n".to_owned());
    let cycle = find_cycle(&import_graph(&cyclic)).expect("a → c → a");
    assert_eq!(cycle.first(), cycle.last());
    assert!(
        cycle.contains(&module("a")) && cycle.contains(&module("c")),
        "{cycle:?}"
    );
}
