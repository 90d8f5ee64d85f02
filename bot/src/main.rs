//! The `vpnshop` command; everything it does is in `vpnshop_bot::cli`.
use std::process::ExitCode;

fn main() -> ExitCode {
    vpnshop_bot::cli::main()
}
