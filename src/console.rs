//! Where commands write: standard output for results, standard error for
//! banners and progress. Library code writes only here, so tests capture it;
//! on the terminal both mask secrets (`secrets`). Whether to colour is
//! [`ColorWhen::decide`]: the one rule, a terminal and `NO_COLOR` unset.
//!
//! Uses: secrets, env (`NO_COLOR`).

use std::io::{self, IsTerminal, Write};

use crate::env::Env;
use crate::secrets::Redacting;

pub struct Console {
    pub out: Box<dyn Write + Send>,
    pub err: Box<dyn Write + Send>,
    /// Whether standard output is a terminal.
    pub out_is_terminal: bool,
    /// Standard output's width in columns, when it is a terminal.
    pub out_width: Option<usize>,
}

impl Console {
    pub fn stdio() -> Self {
        Console {
            out: Box::new(Redacting::new(io::stdout())),
            err: Box::new(Redacting::new(io::stderr())),
            out_is_terminal: io::stdout().is_terminal(),
            out_width: terminal_size::terminal_size_of(io::stdout()).map(|(w, _)| usize::from(w.0)),
        }
    }

    /// A console whose output is thrown away, for tests and benchmarks.
    pub fn sink() -> Self {
        Console {
            out: Box::new(io::sink()),
            err: Box::new(io::sink()),
            out_is_terminal: false,
            out_width: None,
        }
    }
}

/// When to colour (or draw progress on) a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ColorWhen {
    /// When the stream is a terminal and `NO_COLOR` is unset (or empty).
    #[default]
    Auto,
    Always,
    Never,
}

impl ColorWhen {
    /// Whether a stream that is (or is not) a terminal gets colour.
    pub fn decide(self, is_terminal: bool, env: &Env) -> bool {
        match self {
            ColorWhen::Always => true,
            ColorWhen::Never => false,
            ColorWhen::Auto => is_terminal && !env.no_color(),
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

    #[test]
    fn colour_is_off_under_no_color_unless_forced() {
        let no_color = Env::from_pairs([("NO_COLOR", "1")]);
        assert!(!ColorWhen::Auto.decide(true, &no_color));
        assert!(ColorWhen::Auto.decide(true, &Env::from_pairs([("NO_COLOR", "")])));
        assert!(!ColorWhen::Auto.decide(false, &Env::default()));
        assert!(ColorWhen::Always.decide(false, &no_color));
        assert!(!ColorWhen::Never.decide(true, &Env::default()));
    }
}
