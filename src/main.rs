//! The `hued` command: a thin shell over the library (see `hued::cli`).
fn main() {
    std::process::exit(hued::cli::main());
}
