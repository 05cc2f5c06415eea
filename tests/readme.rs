//! The README and the crate docs show the example programs, not copies that could drift:
//! every `rust` block of README.md, and every block marked `<!-- example: … -->` in either,
//! equals the file or region the marker names. The example programs are workspace crates
//! that CI builds and whose tests run them, so what the README shows compiles and works.
//!
//! A marker is the last non-blank line before a block: `<!-- example: PATH -->` for a
//! whole file (its `// ANCHOR` lines left out), `PATH#NAME` for the lines between
//! `// ANCHOR: NAME` and `// ANCHOR_END: NAME` (dedented), or `Cargo.toml#dependencies`
//! for an example's `[dependencies]` table, with its path dependency on fastauth written
//! as the version a user puts there. In the crate docs, rustdoc's hidden lines (`# …`)
//! are left out before comparing.

use std::path::Path;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

struct Block {
    /// Where the block starts, for messages.
    at: String,
    marker: Option<String>,
    lang: String,
    code: String,
}

fn read(path: &str) -> String {
    std::fs::read_to_string(Path::new(ROOT).join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn marker_of(line: &str) -> Option<String> {
    let rest = line.trim().strip_prefix("<!-- example:")?.strip_suffix("-->")?;
    Some(rest.trim().to_owned())
}

/// The fenced blocks of a Markdown text.
fn markdown_blocks(name: &str, text: &str) -> Vec<Block> {
    let mut blocks = Vec::new();
    let mut last_text_line = "";
    let mut lines = text.lines().enumerate();
    while let Some((number, line)) = lines.next() {
        if let Some(lang) = line.strip_prefix("```") {
            let mut code = Vec::new();
            for (_, line) in lines.by_ref() {
                if line.starts_with("```") {
                    break;
                }
                code.push(line);
            }
            blocks.push(Block {
                at: format!("{name}:{}", number + 1),
                marker: marker_of(last_text_line),
                lang: lang.trim().to_owned(),
                code: code.join("\n"),
            });
            last_text_line = "";
        } else if !line.trim().is_empty() {
            last_text_line = line;
        }
    }
    blocks
}

/// The marked blocks of src/lib.rs's crate docs: `//!` lines between a fence attribute
/// (`#![cfg_attr(…, doc = "```rust…")]`) and `#![doc = "```"]`, without hidden lines.
fn crate_doc_blocks() -> Vec<Block> {
    let text = read("src/lib.rs");
    let mut blocks = Vec::new();
    let mut lines = text.lines().enumerate().peekable();
    while let Some((number, line)) = lines.next() {
        let Some(marker) = line.strip_prefix("//!").and_then(marker_of) else {
            continue;
        };
        // The fence: one or more attribute lines.
        while lines.peek().is_some_and(|(_, l)| l.starts_with("#![")) {
            lines.next();
        }
        let mut code = Vec::new();
        for (_, line) in lines.by_ref() {
            if line.starts_with("#![doc = \"```\"]") {
                break;
            }
            let doc = line.strip_prefix("//!").unwrap_or(line);
            let doc = doc.strip_prefix(' ').unwrap_or(doc);
            if doc == "#" || doc.starts_with("# ") {
                continue;
            }
            code.push(doc);
        }
        blocks.push(Block {
            at: format!("src/lib.rs:{}", number + 1),
            marker: Some(marker),
            lang: "rust".into(),
            code: code.join("\n"),
        });
    }
    blocks
}

/// The version a user writes for fastauth: `major.minor` of this package.
fn user_version() -> String {
    let manifest = read("Cargo.toml");
    let version = manifest
        .lines()
        .find_map(|line| line.strip_prefix("version = \""))
        .and_then(|rest| rest.strip_suffix('"'))
        .expect("the package version");
    let mut parts = version.split('.');
    format!("{}.{}", parts.next().unwrap(), parts.next().unwrap())
}

/// What a marker names.
fn target(marker: &str) -> String {
    let (path, region) = match marker.split_once('#') {
        Some((path, region)) => (path, Some(region)),
        None => (marker, None),
    };
    let text = read(path);
    match region {
        None => text
            .lines()
            .filter(|line| !line.trim_start().starts_with("// ANCHOR"))
            .collect::<Vec<_>>()
            .join("\n"),
        Some("dependencies") if path.ends_with("Cargo.toml") => {
            let table: Vec<&str> = text
                .lines()
                .skip_while(|line| *line != "[dependencies]")
                .enumerate()
                .take_while(|(i, line)| *i == 0 || !line.starts_with('['))
                .map(|(_, line)| line)
                .collect();
            assert!(!table.is_empty(), "{path} has no [dependencies]");
            table
                .join("\n")
                .trim_end()
                .replace(r#"path = "../..""#, &format!(r#"version = "{}""#, user_version()))
        }
        Some(name) => {
            let lines: Vec<&str> = text
                .lines()
                .skip_while(|line| line.trim() != format!("// ANCHOR: {name}"))
                .skip(1)
                .take_while(|line| line.trim() != format!("// ANCHOR_END: {name}"))
                .collect();
            assert!(!lines.is_empty(), "{path} has no region {name}");
            let indent = lines
                .iter()
                .filter(|line| !line.trim().is_empty())
                .map(|line| line.len() - line.trim_start().len())
                .min()
                .unwrap_or(0);
            lines
                .iter()
                .map(|line| line.get(indent..).unwrap_or(""))
                .collect::<Vec<_>>()
                .join("\n")
        }
    }
}

fn check(block: &Block) -> Result<(), String> {
    let marker = block.marker.as_deref().expect("checked blocks have markers");
    let expected = target(marker);
    let (shown, expected) = (block.code.trim_end(), expected.trim_end());
    if shown == expected {
        return Ok(());
    }
    let differs = shown
        .lines()
        .zip(expected.lines())
        .position(|(a, b)| a != b)
        .unwrap_or_else(|| shown.lines().count().min(expected.lines().count()));
    Err(format!(
        "{} differs from {marker} at its line {}:\n  shown:    {:?}\n  expected: {:?}",
        block.at,
        differs + 1,
        shown.lines().nth(differs).unwrap_or("<end>"),
        expected.lines().nth(differs).unwrap_or("<end>"),
    ))
}

#[test]
fn every_rust_block_of_the_readme_is_an_example_program() {
    let blocks = markdown_blocks("README.md", &read("README.md"));
    let rust: Vec<&Block> = blocks.iter().filter(|b| b.lang.starts_with("rust")).collect();
    assert!(!rust.is_empty(), "the README shows no Rust");
    let unmarked: Vec<&str> = rust
        .iter()
        .filter(|b| b.marker.is_none())
        .map(|b| b.at.as_str())
        .collect();
    assert!(
        unmarked.is_empty(),
        "rust blocks without an `<!-- example: … -->` marker: {unmarked:?}"
    );
    let errors: Vec<String> = blocks
        .iter()
        .filter(|b| b.marker.is_some())
        .filter_map(|b| check(b).err())
        .collect();
    assert!(errors.is_empty(), "{}", errors.join("\n"));
}

#[test]
fn the_crate_docs_show_the_example_programs() {
    let blocks = crate_doc_blocks();
    assert!(blocks.len() >= 2, "the axum and tonic quick starts are marked");
    let errors: Vec<String> = blocks.iter().filter_map(|b| check(b).err()).collect();
    assert!(errors.is_empty(), "{}", errors.join("\n"));
}

/// The checker itself: a block that drifted from its example is caught.
#[test]
fn a_drifted_block_is_caught() {
    let readme = "<!-- example: examples/axum-quickstart/src/main.rs#app -->\n```rust\nlet auth = 1;\n```\n";
    let blocks = markdown_blocks("test", readme);
    assert_eq!(blocks.len(), 1);
    let error = check(&blocks[0]).unwrap_err();
    assert!(error.contains("at its line 1"), "{error}");
    let right = format!(
        "<!-- example: examples/axum-quickstart/src/main.rs#app -->\n```rust\n{}\n```\n",
        target("examples/axum-quickstart/src/main.rs#app")
    );
    assert!(check(&markdown_blocks("test", &right)[0]).is_ok());
}
