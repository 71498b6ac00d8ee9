//! Where commands write: standard output for results, standard error for
//! banners and progress. Library code writes only here, so tests capture it;
//! on the terminal both mask secrets (`secrets`).

use std::io::{self, IsTerminal, Write};

use crate::secrets::Redacting;

pub struct Console {
    pub out: Box<dyn Write + Send>,
    pub err: Box<dyn Write + Send>,
    /// Whether standard output is a terminal that wants colour.
    pub out_is_color_tty: bool,
}

impl Console {
    pub fn stdio() -> Self {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Console {
            out: Box::new(Redacting::new(io::stdout())),
            err: Box::new(Redacting::new(io::stderr())),
            out_is_color_tty: io::stdout().is_terminal() && !no_color,
        }
    }

    /// A console whose output is thrown away, for tests and benchmarks.
    pub fn sink() -> Self {
        Console {
            out: Box::new(io::sink()),
            err: Box::new(io::sink()),
            out_is_color_tty: false,
        }
    }
}
