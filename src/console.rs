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

/// `text` with control characters (escape sequences, carriage returns,
/// newlines) spelled as escapes, for a name or a server's words printed on
/// a terminal: they cannot move the cursor, recolour or hide the output.
pub fn printable(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return std::borrow::Cow::Borrowed(text);
    }
    std::borrow::Cow::Owned(
        text.chars()
            .map(|c| {
                if c.is_control() {
                    c.escape_default().to_string()
                } else {
                    c.to_string()
                }
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_spelled_out() {
        assert_eq!(printable("staging"), "staging");
        assert_eq!(printable("evil\x1b[2J\rname\n"), "evil\\u{1b}[2J\\rname\\n");
    }
}
