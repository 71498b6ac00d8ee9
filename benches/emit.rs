//! `cargo bench`: the emitter benchmark, as `pillars bench emit` runs it.

use clap::Parser;

fn main() {
    let cli = pillars::Cli::parse_from(["pillars", "bench", "emit"]);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let mut console = pillars::Console::stdio();
    if let Err(err) = runtime.block_on(pillars::run(cli, &mut console)) {
        eprintln!("error: {err}");
        std::process::exit(i32::from(err.exit_code()));
    }
}
