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
