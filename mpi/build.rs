//! Builds the MPI library (`mpi/ompi`, a cdylib linking the system's libmpi) that
//! `src/lib.rs` embeds and loads the first time a program under `mpirun` uses MPI.

include!("../scripts/build/nested_cargo.rs");

fn main() {
    build_nested_library(
        "pyopt-mpi-ompi",
        "libpyopt_mpi_ompi.so",
        "mpi",
        &[
            "mpi/src",
            "mpi/Cargo.toml",
            "mpi/ompi/src",
            "mpi/ompi/Cargo.toml",
        ],
        &[],
    );
}
