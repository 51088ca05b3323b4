//! Sets `cfg(telemed_pg)` when `TELEMED_TEST_POSTGRES_URL` is set, so the PostgreSQL variants of
//! the tests are ignored (and reported as such) rather than passing without testing anything.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(telemed_pg)");
    println!("cargo::rerun-if-env-changed=TELEMED_TEST_POSTGRES_URL");
    if std::env::var_os("TELEMED_TEST_POSTGRES_URL").is_some_and(|v| !v.is_empty()) {
        println!("cargo::rustc-cfg=telemed_pg");
    }
}
