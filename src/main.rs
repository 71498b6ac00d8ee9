//! The `pillars` binary: parse the command line, run, print the error
//! chain, exit with the code the run decided (see `pillars::exit`).

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
            let redact = |e: &dyn std::fmt::Display| pillars::secrets::redact(&e.to_string()).into_owned();
            eprintln!("error: {}", redact(&err));
            let mut source = std::error::Error::source(&err);
            while let Some(cause) = source {
                eprintln!("  caused by: {}", redact(&cause));
                source = cause.source();
            }
            ExitCode::from(err.exit_code())
        }
    }
}
