//! The import picture stays one-way: each top-level module of `src/` may use only the modules
//! below it in `LAYERS` (lowest first), so there are no loops between modules and no imports
//! against the order. Read from the sources themselves (`crate::<module>` paths outside
//! comments and test modules), so a new import against the order fails here, naming it.

use std::collections::BTreeSet;
use std::path::Path;

/// Lowest first. `base` holds what every layer may use; the data's way is source -> job ->
/// pipeline -> sink, and the front ends (web, daemon, cli) sit on top.
const LAYERS: &[&str] = &[
    "base",
    "unique_hex",
    "color",
    "model",
    "config",
    "hints",
    "report",
    "sink",
    "credentials",
    "metrics",
    "budget",
    "reference",
    "job",
    "pipeline",
    "bench",
    "source",
    "web",
    "daemon",
    "cli",
];

fn module_of(path: &Path, src: &Path) -> String {
    let rel = path.strip_prefix(src).unwrap();
    let first = rel.components().next().unwrap().as_os_str().to_string_lossy().into_owned();
    first.trim_end_matches(".rs").to_string()
}

fn sources(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let p = entry.path();
        if p.is_dir() {
            sources(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

#[test]
fn modules_import_only_the_layers_below_them() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    let mut wrong = BTreeSet::new();
    for file in files {
        let module = module_of(&file, &src);
        if module == "lib" || module == "main" {
            continue;
        }
        let rank = LAYERS.iter().position(|l| *l == module).unwrap_or_else(|| panic!("{}: module {module} is not in LAYERS", file.display()));
        let text = std::fs::read_to_string(&file).unwrap();
        let code = text.split("#[cfg(test)]").next().unwrap();
        for line in code.lines().filter(|l| !l.trim_start().starts_with("//")) {
            for (i, _) in line.match_indices("crate::") {
                let used: String = line[i + 7..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
                if used.is_empty() {
                    wrong.insert(format!(
                        "{}: `{}`: name one module per `crate::` path, so this check can read it",
                        file.strip_prefix(&src).unwrap().display(),
                        line.trim()
                    ));
                    continue;
                }
                if used == module || used == "VERSION" {
                    continue;
                }
                match LAYERS.iter().position(|l| *l == used) {
                    Some(r) if r < rank => {}
                    _ => {
                        wrong.insert(format!("{} ({module}) uses crate::{used}", file.strip_prefix(&src).unwrap().display()));
                    }
                }
            }
        }
    }
    assert!(wrong.is_empty(), "imports against the layer order (src/lib.rs, tests/layers.rs):\n{}", wrong.into_iter().collect::<Vec<_>>().join("\n"));
}
