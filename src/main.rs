//! The `pillars` binary: parse the command line, run it (`pillars::run`
//! resolves it with a snapshot of the environment), print the error chain,
//! exit with the code the run decided (see `pillars::exit`).

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = pillars::Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(pillars::exit::USAGE);
        }
    };
    let mut console = pillars::Console::stdio();
    match runtime.block_on(pillars::run(cli, &mut console)) {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            eprint!("{}", pillars::error::Chain(&err));
            ExitCode::from(err.exit_code())
        }
    }
}
