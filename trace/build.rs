//! Generates the Rust types of `proto/perfetto_subset.proto` with prost; protox parses
//! the schema, so no `protoc` is needed.

fn main() {
    println!("cargo:rerun-if-changed=proto/perfetto_subset.proto");
    let descriptors = protox::compile(["proto/perfetto_subset.proto"], ["proto"])
        .expect("parse proto/perfetto_subset.proto");
    prost_build::Config::new()
        .compile_fds(descriptors)
        .expect("generate the Perfetto types");
}
