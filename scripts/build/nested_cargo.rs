// Shared by the build scripts that embed a library built by a nested cargo
// (`hooks/build.rs`: the LLVM back end; `mpi/build.rs`: the MPI library), included with
// `include!`: build scripts cannot share a crate without publishing one.

/// Builds `package`'s cdylib (release) with a nested cargo in `target/<target_name>`, so
/// the calling crate can embed it, and copies it into `OUT_DIR` as `library`; `env`
/// adds variables for the nested build. Reruns when `watched` (paths under the
/// workspace root) change.
fn build_nested_library(
    package: &str,
    library: &str,
    target_name: &str,
    watched: &[&str],
    env: &[(&str, &str)],
) -> std::path::PathBuf {
    use std::path::PathBuf;
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let root = manifest_dir.parent().unwrap().to_path_buf();
    for watched in watched.iter().chain(&["Cargo.lock"]) {
        println!("cargo:rerun-if-changed={}", root.join(watched).display());
    }
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").unwrap());
    let target_dir = root.join("target").join(target_name);
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let mut command = std::process::Command::new(cargo);
    command
        .current_dir(&root)
        .args(["build", "--release", "-p", package, "--lib", "--target-dir"])
        .arg(&target_dir);
    // The outer build's settings are for the calling crate, not the nested one.
    for (key, _) in std::env::vars() {
        if key.starts_with("CARGO_") && key != "CARGO_HOME" && key != "CARGO_NET_OFFLINE" {
            command.env_remove(&key);
        }
    }
    command.env_remove("RUSTFLAGS").env_remove("RUSTC_WRAPPER");
    for (key, value) in env {
        command.env(key, value);
    }
    let status = command
        .status()
        .unwrap_or_else(|e| panic!("run cargo to build {package}: {e}"));
    assert!(status.success(), "building {package} failed (see its errors above)");
    let built = target_dir.join("release").join(library);
    let embedded = out_dir.join(library);
    std::fs::copy(&built, &embedded).unwrap_or_else(|e| panic!("copy {}: {e}", built.display()));
    embedded
}
