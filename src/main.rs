//! The `hued` command: a thin shell over the library (see `hued::cli`).
fn main() -> std::process::ExitCode {
    hued::cli::main().into()
}
