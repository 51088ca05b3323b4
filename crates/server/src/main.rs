//! The `telemed` binary: parse the command line and hand over to `cli`.

use std::process::ExitCode;

fn main() -> ExitCode {
    server::cli::main()
}
