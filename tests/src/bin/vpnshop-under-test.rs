//! The `vpnshop` command itself (its `main` is this one line too), built with the tests so the
//! chaos harness can start `vpnshop run` as a real process and `kill -9` it: `cargo test` builds
//! the binaries of the package whose tests run, not those of other packages.
use std::process::ExitCode;

fn main() -> ExitCode {
    vpnshop_bot::cli::main()
}
