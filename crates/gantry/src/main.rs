//! The `gantry` executable; everything lives in the library half.

fn main() -> std::process::ExitCode {
    gantry::cli::main()
}
