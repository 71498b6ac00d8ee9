//! Go's `text/scanner`, which Loki's LogQL lexer (a copy of it, in
//! `GoTokens` mode) and Tempo's TraceQL lexer are built on: the same
//! tokens, the same string, char and number rules, the same error texts
//! ("invalid char escape", "literal not terminated", …) and the same
//! positions (`Line`/`Column` of the token being scanned, 1-based, in
//! runes; `Next` sets the line to 0, as Go's does). Written from Go's
//! BSD-licensed standard library, `src/text/scanner/scanner.go`.
//!
//! Uses: nothing else in the crate.

/// What kinds of tokens are recognized (Go's `Mode` bits).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mode {
    pub idents: bool,
    pub floats: bool,
    pub chars: bool,
    pub strings: bool,
    pub raw_strings: bool,
    pub skip_comments: bool,
}

impl Mode {
    /// `scanner.GoTokens`: everything, comments skipped.
    pub const GO_TOKENS: Mode = Mode {
        idents: true,
        floats: true,
        chars: true,
        strings: true,
        raw_strings: true,
        skip_comments: true,
    };
}

/// A token class, as Go's negative token constants, or one character.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tok {
    Eof,
    Ident,
    Int,
    Float,
    Char,
    String,
    RawString,
    /// Any other character, as itself.
    Other(char),
}

/// A scanner error, at the position Go reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

/// `Clone` is Go's `s := *l`: TraceQL's lexer looks ahead on a copy.
#[derive(Clone)]
pub struct Scanner<'a> {
    src: &'a str,
    mode: Mode,
    is_ident: fn(char, usize) -> bool,
    /// Byte offset of the next character to read.
    pos: usize,
    /// Byte length of the last character read, 0 at EOF.
    last_len: usize,
    line: usize,
    column: usize,
    last_line_len: usize,
    /// One character of look-ahead; `None` before the first read.
    ch: Option<Option<char>>,
    tok_start: Option<usize>,
    tok_end: usize,
    /// Position of the last scanned token (Go's `Position`); line 0 once
    /// `next` was called after it.
    pub token_line: usize,
    pub token_column: usize,
    pub errors: Vec<ScanError>,
}

/// Go's default identifier rule: a letter or `_`, then also digits.
pub fn go_ident(c: char, i: usize) -> bool {
    c == '_' || c.is_alphabetic() || (c.is_numeric() && i > 0)
}

impl<'a> Scanner<'a> {
    pub fn new(src: &'a str, mode: Mode, is_ident: fn(char, usize) -> bool) -> Scanner<'a> {
        Scanner {
            src,
            mode,
            is_ident,
            pos: 0,
            last_len: 0,
            line: 1,
            column: 0,
            last_line_len: 0,
            ch: None,
            tok_start: None,
            tok_end: 0,
            token_line: 0,
            token_column: 0,
            errors: Vec::new(),
        }
    }

    fn error(&mut self, message: impl Into<String>) {
        self.errors.push(ScanError {
            line: self.token_line,
            column: self.token_column,
            message: message.into(),
        });
    }

    /// Reads one character (Go's unexported `next`); `None` at EOF.
    fn read(&mut self) -> Option<char> {
        let Some(c) = self.src[self.pos..].chars().next() else {
            if self.last_len > 0 {
                // The previous character was not EOF.
                self.column += 1;
            }
            self.last_len = 0;
            return None;
        };
        self.pos += c.len_utf8();
        self.last_len = c.len_utf8();
        self.column += 1;
        match c {
            '\0' => self.error("invalid character NUL"),
            '\n' => {
                self.line += 1;
                self.last_line_len = self.column;
                self.column = 0;
            }
            _ => {}
        }
        Some(c)
    }

    /// The next character without consuming it.
    pub fn peek(&mut self) -> Option<char> {
        if self.ch.is_none() {
            let mut c = self.read();
            if c == Some('\u{feff}') {
                c = self.read();
            }
            self.ch = Some(c);
        }
        self.ch.flatten()
    }

    /// Consumes one character outside any token; invalidates the token
    /// position as Go does (its line becomes 0). Named as Go's `Next`.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Option<char> {
        self.tok_start = None;
        self.token_line = 0;
        let c = self.peek();
        if c.is_some() {
            self.ch = Some(self.read());
        }
        c
    }

    /// Byte offset of the next character to read (Go's `srcBufOffset +
    /// srcPos`): how much of the source has been read.
    pub fn offset(&self) -> usize {
        self.pos
    }

    /// The text of the last scanned token.
    pub fn token_text(&self) -> &'a str {
        match self.tok_start {
            Some(start) => &self.src[start..self.tok_end.max(start)],
            None => "",
        }
    }

    fn whitespace(c: Option<char>) -> bool {
        matches!(c, Some('\t' | '\n' | '\r' | ' '))
    }

    /// Scans the next token.
    pub fn scan(&mut self) -> Tok {
        let mut ch = self.peek();
        self.tok_start = None;
        self.token_line = 0;
        loop {
            while Self::whitespace(ch) {
                ch = self.read();
            }
            self.tok_start = Some(self.pos - self.last_len);
            if self.column > 0 {
                self.token_line = self.line;
                self.token_column = self.column;
            } else {
                self.token_line = self.line - 1;
                self.token_column = self.last_line_len;
            }
            let mut tok = match ch {
                None => Tok::Eof,
                Some(c) => Tok::Other(c),
            };
            match ch {
                Some(c) if (self.is_ident)(c, 0) && self.mode.idents => {
                    tok = Tok::Ident;
                    ch = self.read();
                    let mut i = 1;
                    while ch.is_some_and(|c| (self.is_ident)(c, i)) {
                        ch = self.read();
                        i += 1;
                    }
                }
                Some(c) if c.is_ascii_digit() && self.mode.floats => {
                    let (t, next) = self.number(c, false);
                    tok = t;
                    ch = next;
                }
                Some('"') if self.mode.strings => {
                    self.string('"');
                    tok = Tok::String;
                    ch = self.read();
                }
                Some('\'') if self.mode.chars => {
                    if self.string('\'') != 1 {
                        self.error("invalid char literal");
                    }
                    tok = Tok::Char;
                    ch = self.read();
                }
                Some('`') if self.mode.raw_strings => {
                    self.raw_string();
                    tok = Tok::RawString;
                    ch = self.read();
                }
                Some('.') => {
                    ch = self.read();
                    if let Some(d) = ch.filter(char::is_ascii_digit)
                        && self.mode.floats
                    {
                        let (t, next) = self.number(d, true);
                        tok = t;
                        ch = next;
                    }
                }
                Some('/') => {
                    ch = self.read();
                    if matches!(ch, Some('/' | '*')) && self.mode.skip_comments {
                        self.tok_start = None;
                        ch = self.comment(ch);
                        continue;
                    }
                }
                None => {}
                Some(_) => ch = self.read(),
            }
            self.tok_end = self.pos - self.last_len;
            self.ch = Some(ch);
            return tok;
        }
    }

    fn comment(&mut self, ch: Option<char>) -> Option<char> {
        if ch == Some('/') {
            let mut ch = self.read();
            while ch.is_some_and(|c| c != '\n') {
                ch = self.read();
            }
            return ch;
        }
        let mut ch = self.read();
        loop {
            let Some(c0) = ch else {
                self.error("comment not terminated");
                return ch;
            };
            ch = self.read();
            if c0 == '*' && ch == Some('/') {
                return self.read();
            }
        }
    }

    /// Scans a quoted string after its opening quote; returns the number
    /// of characters in it.
    fn string(&mut self, quote: char) -> usize {
        let mut n = 0;
        let mut ch = self.read();
        while ch != Some(quote) {
            match ch {
                None | Some('\n') => {
                    self.error("literal not terminated");
                    return n;
                }
                Some('\\') => ch = self.escape(quote),
                Some(_) => ch = self.read(),
            }
            n += 1;
        }
        n
    }

    fn escape(&mut self, quote: char) -> Option<char> {
        let ch = self.read();
        match ch {
            Some(c) if "abfnrtv\\".contains(c) || c == quote => self.read(),
            Some(c @ '0'..='7') => self.digits(Some(c), 8, 3),
            Some('x') => {
                let first = self.read();
                self.digits(first, 16, 2)
            }
            Some('u') => {
                let first = self.read();
                self.digits(first, 16, 4)
            }
            Some('U') => {
                let first = self.read();
                self.digits(first, 16, 8)
            }
            _ => {
                self.error("invalid char escape");
                ch
            }
        }
    }

    fn digits(&mut self, mut ch: Option<char>, base: u32, mut n: usize) -> Option<char> {
        while n > 0 && ch.is_some_and(|c| c.is_digit(base)) {
            ch = self.read();
            n -= 1;
        }
        if n > 0 {
            self.error("invalid char escape");
        }
        ch
    }

    fn raw_string(&mut self) {
        let mut ch = self.read();
        while ch != Some('`') {
            if ch.is_none() {
                self.error("literal not terminated");
                return;
            }
            ch = self.read();
        }
    }

    /// Go 1.13+ number literals: prefixes, `_` separators, exponents.
    fn number(&mut self, first: char, mut seen_dot: bool) -> (Tok, Option<char>) {
        let mut ch = Some(first);
        let mut base = 10;
        let mut prefix = None;
        // Bit 0: a digit was seen; bit 1: a `_` was.
        let mut digsep = 0;
        let mut invalid = None;
        let mut tok = Tok::Int;
        if !seen_dot {
            if first == '0' {
                ch = self.read();
                match ch.map(|c| c.to_ascii_lowercase()) {
                    Some('x') => {
                        ch = self.read();
                        (base, prefix) = (16, Some('x'));
                    }
                    Some('o') => {
                        ch = self.read();
                        (base, prefix) = (8, Some('o'));
                    }
                    Some('b') => {
                        ch = self.read();
                        (base, prefix) = (2, Some('b'));
                    }
                    _ => {
                        (base, prefix) = (8, Some('0'));
                        digsep = 1;
                    }
                }
            }
            let (next, ds) = self.number_digits(ch, base, &mut invalid);
            ch = next;
            digsep |= ds;
            if ch == Some('.') && self.mode.floats {
                ch = self.read();
                seen_dot = true;
            }
        }
        if seen_dot {
            tok = Tok::Float;
            if matches!(prefix, Some('o' | 'b')) {
                self.error(format!("invalid radix point in {}", literal_name(prefix)));
            }
            let (next, ds) = self.number_digits(ch, base, &mut invalid);
            ch = next;
            digsep |= ds;
        }
        if digsep & 1 == 0 {
            self.error(format!("{} has no digits", literal_name(prefix)));
        }
        let exponent = ch.map(|c| c.to_ascii_lowercase());
        if let Some(e @ ('e' | 'p')) = exponent
            && self.mode.floats
        {
            let c = ch.unwrap_or(e);
            if e == 'e' && prefix.is_some() && prefix != Some('0') {
                self.error(format!("'{c}' exponent requires decimal mantissa"));
            } else if e == 'p' && prefix != Some('x') {
                self.error(format!("'{c}' exponent requires hexadecimal mantissa"));
            }
            ch = self.read();
            tok = Tok::Float;
            if matches!(ch, Some('+' | '-')) {
                ch = self.read();
            }
            let mut none = None;
            let (next, ds) = self.number_digits(ch, 10, &mut none);
            ch = next;
            digsep |= ds;
            if ds & 1 == 0 {
                self.error("exponent has no digits");
            }
        } else if prefix == Some('x') && tok == Tok::Float {
            self.error("hexadecimal mantissa requires a 'p' exponent");
        }
        if tok == Tok::Int
            && let Some(bad) = invalid
        {
            self.error(format!("invalid digit '{bad}' in {}", literal_name(prefix)));
        }
        if digsep & 2 != 0 {
            self.tok_end = self.pos - self.last_len;
            if invalid_separator(self.token_text()) {
                self.error("'_' must separate successive digits");
            }
        }
        (tok, ch)
    }

    fn number_digits(&mut self, mut ch: Option<char>, base: u32, invalid: &mut Option<char>) -> (Option<char>, u8) {
        let mut digsep = 0;
        while let Some(c) = ch {
            let ds = if c == '_' {
                2
            } else if base <= 10 && c.is_ascii_digit() {
                if c.to_digit(10).is_some_and(|d| d >= base) && invalid.is_none() {
                    *invalid = Some(c);
                }
                1
            } else if base == 16 && c.is_ascii_hexdigit() {
                1
            } else {
                break;
            };
            digsep |= ds;
            ch = self.read();
        }
        (ch, digsep)
    }
}

fn literal_name(prefix: Option<char>) -> &'static str {
    match prefix {
        Some('x') => "hexadecimal literal",
        Some('o' | '0') => "octal literal",
        Some('b') => "binary literal",
        _ => "decimal literal",
    }
}

/// Whether a `_` in a number literal does not sit between digits (Go's
/// `invalidSep`).
fn invalid_separator(text: &str) -> bool {
    let chars: Vec<char> = text.chars().collect();
    let mut x1 = ' ';
    let mut d = '.';
    let mut i = 0;
    if chars.len() >= 2 && chars[0] == '0' {
        x1 = chars[1].to_ascii_lowercase();
        if matches!(x1, 'x' | 'o' | 'b') {
            d = '0';
            i = 2;
        }
    }
    while i < chars.len() {
        let p = d;
        d = chars[i];
        if d == '_' {
            if p != '0' {
                return true;
            }
        } else if d.is_ascii_digit() || (x1 == 'x' && d.is_ascii_hexdigit()) {
            d = '0';
        } else {
            if p == '_' {
                return true;
            }
            d = '.';
        }
        i += 1;
    }
    d == '_'
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each token with its text and position, then the errors.
    type Scanned = (Vec<(Tok, String, usize, usize)>, Vec<ScanError>);

    fn tokens(src: &str) -> Scanned {
        let mut s = Scanner::new(src, Mode::GO_TOKENS, go_ident);
        let mut out = Vec::new();
        loop {
            let t = s.scan();
            out.push((t, s.token_text().to_owned(), s.token_line, s.token_column));
            if t == Tok::Eof {
                break;
            }
        }
        (out, s.errors)
    }

    #[test]
    fn tokens_and_positions_are_gos() {
        let (toks, errors) = tokens("{a=\"b\"} |= `x\\-y` 1.5e3 0x1F // c\n z");
        assert!(errors.is_empty(), "{errors:?}");
        let kinds: Vec<Tok> = toks.iter().map(|t| t.0).collect();
        assert_eq!(
            kinds,
            [
                Tok::Other('{'),
                Tok::Ident,
                Tok::Other('='),
                Tok::String,
                Tok::Other('}'),
                Tok::Other('|'),
                Tok::Other('='),
                Tok::RawString,
                Tok::Float,
                Tok::Int,
                Tok::Ident,
                Tok::Eof
            ]
        );
        assert_eq!(toks[3].1, "\"b\"");
        assert_eq!((toks[3].2, toks[3].3), (1, 4));
        assert_eq!(toks[7].1, "`x\\-y`");
        // `z` on the second line, after a skipped comment.
        assert_eq!((toks[10].2, toks[10].3), (2, 2));
        // EOF is one column past the end.
        assert_eq!((toks[11].2, toks[11].3), (2, 3));
    }

    #[test]
    fn string_errors_are_at_the_opening_quote() {
        let (_, errors) = tokens(r#"{service_name=~"a\-b"}"#);
        assert_eq!(
            errors,
            [ScanError {
                line: 1,
                column: 16,
                message: "invalid char escape".into()
            }]
        );
        let (_, errors) = tokens("{foo=\"bar}");
        assert_eq!(
            (errors[0].column, errors[0].message.as_str()),
            (6, "literal not terminated")
        );
        let (_, errors) = tokens("x = \"a\nb\"");
        assert_eq!(errors[0].message, "literal not terminated");
        for ok in [r#""\a\b\f\n\r\t\v\\\"""#, r#""\101\x41\u0041\U00000041""#] {
            assert!(tokens(ok).1.is_empty(), "{ok}");
        }
        for bad in [r#""\'""#, r#""\x4""#, r#""\u041""#, r#""\8""#] {
            assert_eq!(tokens(bad).1[0].message, "invalid char escape", "{bad}");
        }
        assert_eq!(tokens("'ab'").1[0].message, "invalid char literal");
        assert_eq!(tokens("/* x").1[0].message, "comment not terminated");
    }

    #[test]
    fn number_errors_are_gos() {
        assert_eq!(tokens("08").1[0].message, "invalid digit '8' in octal literal");
        assert_eq!(tokens("0x").1[0].message, "hexadecimal literal has no digits");
        assert_eq!(tokens("1e").1[0].message, "exponent has no digits");
        assert_eq!(tokens("1__0").1[0].message, "'_' must separate successive digits");
        assert!(tokens("1_000 0b101 0o17 .5").1.is_empty());
    }
}
