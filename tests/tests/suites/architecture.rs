//! The dependency rule: `domain` and `application` never depend, even
//! transitively, on the web framework, the ORM, the crypto crates or the
//! async runtime; and the HTTP code in `api` never names sea-orm (only the
//! composition root wires concrete adapters).

use std::{
    collections::{HashMap, HashSet},
    path::Path,
    process::Command,
};

use serde_json::Value;

const FORBIDDEN_IN_THE_CORE: [&str; 5] = ["actix-web", "sea-orm", "argon2", "jsonwebtoken", "tokio"];

fn workspace_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap()
}

/// The target triple rustc builds for by default (`rustc -vV`'s `host:`).
fn rustc_host() -> String {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let output = Command::new(rustc).arg("-vV").output().expect("rustc -vV runs");
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .find_map(|line| line.strip_prefix("host: "))
        .expect("rustc -vV names its host")
        .to_owned()
}

/// Normal (non-dev, non-build) dependencies of every package, by name.
fn normal_dependency_graph() -> HashMap<String, Vec<String>> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    // Only the host's dependencies: a fresh machine has downloaded no
    // other platform's crates, and `--offline` must not need them.
    let host = rustc_host();
    let output = Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--locked", "--offline", "--filter-platform", &host])
        .current_dir(workspace_root())
        .output()
        .expect("cargo metadata runs");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let metadata: Value = serde_json::from_slice(&output.stdout).unwrap();
    let names: HashMap<&str, &str> = metadata["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["id"].as_str().unwrap(), p["name"].as_str().unwrap()))
        .collect();
    metadata["resolve"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|node| {
            let deps = node["deps"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|d| d["dep_kinds"].as_array().unwrap().iter().any(|k| k["kind"].is_null()))
                .map(|d| names[d["pkg"].as_str().unwrap()].to_owned())
                .collect();
            (names[node["id"].as_str().unwrap()].to_owned(), deps)
        })
        .collect()
}

fn transitive_dependencies(graph: &HashMap<String, Vec<String>>, root: &str) -> HashSet<String> {
    let mut seen = HashSet::new();
    let mut stack = vec![root.to_owned()];
    while let Some(name) = stack.pop() {
        for dep in graph.get(&name).into_iter().flatten() {
            if seen.insert(dep.clone()) {
                stack.push(dep.clone());
            }
        }
    }
    seen
}

#[test]
fn domain_and_application_depend_on_no_framework_orm_crypto_or_runtime() {
    let graph = normal_dependency_graph();
    for core in ["gatehouse-domain", "gatehouse-application"] {
        let deps = transitive_dependencies(&graph, core);
        assert!(deps.len() > 1, "{core} has dependencies; the graph was read");
        for forbidden in FORBIDDEN_IN_THE_CORE {
            assert!(!deps.contains(forbidden), "{core} depends on {forbidden}");
        }
    }
    assert!(!transitive_dependencies(&graph, "gatehouse-domain").contains("gatehouse-application"));
}

#[test]
fn the_api_crate_does_not_depend_on_sea_orm_directly() {
    let graph = normal_dependency_graph();
    assert!(!graph["gatehouse-api"].contains(&"sea-orm".to_owned()));
}

#[test]
fn only_the_composition_root_names_concrete_database_adapters_in_the_api() {
    let src = workspace_root().join("api/src");
    let mut offenders = Vec::new();
    let mut stack = vec![src.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let relative = path.strip_prefix(&src).unwrap().to_string_lossy().into_owned();
            if matches!(relative.as_str(), "compose.rs" | "cli.rs" | "main.rs") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            for needle in ["sea_orm", "SeaOrm", "gatehouse_infrastructure"] {
                if text.contains(needle) {
                    offenders.push(format!("{relative} names {needle}"));
                }
            }
        }
    }
    assert!(offenders.is_empty(), "HTTP code names concrete adapters: {offenders:?}");
}
