//! PromQL and label selectors as Mimir 2.14 and Pyroscope 1.10 parse them:
//! both vendor Prometheus' `promql/parser` (the 2.54 line), so
//! `parser.ParseExpr` answers Mimir's `/api/v1/query` and
//! `/api/v1/query_exemplars` and `parser.ParseMetricSelector` answers
//! Pyroscope's `labelSelector` (`shared/reference/api/04-mimir.md`,
//! `06-pyroscope.md`, `09-query-strings.md`).
//!
//! What Prometheus rejects is rejected here with its message and its
//! `line:col` (1-based, the column in bytes, the position of the token the
//! error is about — for a string, its opening quote):
//!
//! - The lexer is a port of Prometheus' `lex.go` (statements, braces,
//!   strings with `lexEscape`, raw strings, numbers and durations,
//!   comments), so every lexer error text and position is Prometheus' own:
//!   `1:8: parse error: unknown escape sequence U+002D '-'`.
//! - What the parser meets while it reads is checked here in token order,
//!   so the first error is the one Prometheus reports: the label-matcher
//!   grammar inside braces, range and subquery brackets, an operand that
//!   cannot start or a token that cannot follow one, `offset` and grouping
//!   modifiers, Go's `regexp/syntax` rules for `=~`/`!~`, `strconv` numbers,
//!   `model.ParseDuration`, the 2.54 function table.
//! - The rest of the grammar and the type checks are `promql-parser`'s
//!   (GreptimeTeam, Apache-2.0). It has no positions, says
//!   `invalid promql query` for every grammar error and wrongly rejects
//!   backslashes in raw strings, so it is handed a rewritten query (strings
//!   re-quoted canonically, numbers in plain decimal, regexes in Rust
//!   syntax, 2.54 names it misreads renamed). Its type-check messages are
//!   put in Prometheus' words at the token they most likely concern, and a
//!   bare grammar error is placed by the longest token prefix that parses.
//!   Those are "shape only": the text or position may differ, and a type
//!   error Prometheus meets mid-query may be reported after a later token
//!   error.
//!
//! Valid PromQL beyond what the reference stack evaluates (functions,
//! aggregations, range vectors, vector operators, modifiers) is
//! [`Unserved`], which the HTTP layer answers as such: never as a 400 and
//! never with a guessed result.
//!
//! Uses: `lang::matcher` (label matchers), `go` (`regexp`, `strconv`,
//! `fmt`, `model`).

use std::collections::BTreeMap;
use std::fmt;

use promql_parser::label::{MatchOp as PpMatchOp, Matchers as PpMatchers};
use promql_parser::parser as pp;
use regex::Regex;

use super::matcher::{MatchOp, Matcher};
use crate::go::fmt::percent_sharp_u;
use crate::go::regexp::RegexTrouble;
use crate::go::{model, strconv};

pub use promql_parser::parser::Expr;

// ---------------------------------------------------------------------------
// Errors

/// A Prometheus `ParseErr`: `1:8: parse error: …`, or `unknown position:
/// parse error: …` for an empty query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    position: Option<(usize, usize)>,
    message: String,
}

impl ParseError {
    /// Positioned at byte `offset` of `query`, as `StartPosInput` does.
    fn at(query: &str, offset: usize, message: impl Into<String>) -> ParseError {
        let message = message.into();
        if query.is_empty() {
            return ParseError {
                position: None,
                message,
            };
        }
        let before = query.get(..offset.min(query.len())).unwrap_or(query);
        let line = 1 + before.matches('\n').count();
        let col = match before.rfind('\n') {
            Some(nl) => offset - nl,
            None => offset + 1,
        };
        ParseError {
            position: Some((line, col)),
            message,
        }
    }

    /// The message without its position.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.position {
            Some((line, col)) => write!(f, "{line}:{col}: parse error: {}", self.message),
            None => write!(f, "unknown position: parse error: {}", self.message),
        }
    }
}

impl std::error::Error for ParseError {}

/// Valid PromQL the reference stack does not evaluate; real Mimir would
/// answer it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unserved(String);

impl Unserved {
    pub(crate) fn new(what: impl Into<String>) -> Unserved {
        Unserved(what.into())
    }
}

impl fmt::Display for Unserved {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the reference stack does not evaluate {}: it serves selectors (no offset or @), \
             rate, irate, increase, the *_over_time functions, absent, absent_over_time, \
             histogram_quantile, sum/avg/min/max/count by or without, arithmetic, comparisons \
             (bool too) and and/or/unless with on/ignoring one-to-one matching \
             (real Mimir accepts this query)",
            self.0
        )
    }
}

impl std::error::Error for Unserved {}

// ---------------------------------------------------------------------------
// The lexer: Prometheus 2.54 `promql/parser/lex.go`

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Comment,
    Ident,
    MetricIdent,
    Keyword,
    Number,
    Duration,
    Str,
    LeftParen,
    RightParen,
    LeftBrace,
    RightBrace,
    LeftBracket,
    RightBracket,
    Comma,
    Colon,
    At,
    /// Arithmetic, comparison and matching operators, and `=`.
    Op,
}

#[derive(Debug, Clone, Copy)]
struct Token {
    kind: Kind,
    start: usize,
    end: usize,
}

#[derive(Debug, Clone)]
struct LexError {
    offset: usize,
    message: String,
}

/// Prometheus 2.54's keywords (`key` in lex.go); `inf` and `nan` lex as
/// numbers.
#[rustfmt::skip]
const KEYWORDS: &[&str] = &[
    "and", "or", "unless", "atan2", "sum", "avg", "count", "min", "max", "group", "stddev", "stdvar", "topk",
    "bottomk", "count_values", "quantile", "limitk", "limit_ratio", "offset", "by", "without", "on", "ignoring",
    "group_left", "group_right", "bool", "start", "end",
];

/// Keywords that are also `metric_identifier`s in the grammar.
#[rustfmt::skip]
const METRIC_KEYWORDS: &[&str] = &[
    "avg", "bottomk", "by", "count", "count_values", "group", "and", "or", "unless", "max", "min", "offset",
    "quantile", "stddev", "stdvar", "sum", "topk", "without", "start", "end", "limitk", "limit_ratio",
];

/// Prometheus 2.54's functions (`promql/parser/functions.go`).
#[rustfmt::skip]
const FUNCTIONS: &[&str] = &[
    "abs", "absent", "absent_over_time", "acos", "acosh", "asin", "asinh", "atan", "atanh", "avg_over_time", "ceil",
    "changes", "clamp", "clamp_max", "clamp_min", "cos", "cosh", "count_over_time", "days_in_month", "day_of_month",
    "day_of_week", "day_of_year", "deg", "delta", "deriv", "exp", "floor", "histogram_avg", "histogram_count",
    "histogram_sum", "histogram_stddev", "histogram_stdvar", "histogram_fraction", "histogram_quantile",
    "holt_winters", "hour", "idelta", "increase", "irate", "label_replace", "label_join", "last_over_time", "ln",
    "log10", "log2", "mad_over_time", "max_over_time", "min_over_time", "minute", "month", "pi", "predict_linear",
    "present_over_time", "quantile_over_time", "rad", "rate", "resets", "round", "scalar", "sgn", "sin", "sinh",
    "sort", "sort_desc", "sort_by_label", "sort_by_label_desc", "sqrt", "stddev_over_time", "stdvar_over_time",
    "sum_over_time", "tan", "tanh", "time", "timestamp", "vector", "year",
];

/// Experimental in 2.54, off unless Mimir enables them (it does not by
/// default).
const EXPERIMENTAL_FUNCTIONS: &[&str] = &["mad_over_time", "sort_by_label", "sort_by_label_desc"];

fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r')
}

fn is_alpha(c: char) -> bool {
    c == '_' || c.is_ascii_alphabetic()
}

fn is_alnum(c: char) -> bool {
    is_alpha(c) || c.is_ascii_digit()
}

#[derive(Debug, Clone, Copy)]
enum State {
    Statements,
    InsideBraces,
    String,
    RawString,
    Escape,
    Space,
    LineComment,
    NumberOrDuration,
    Identifier,
    KeywordOrIdentifier,
    Done,
}

struct Lexer<'a> {
    input: &'a str,
    pos: usize,
    start: usize,
    width: usize,
    paren_depth: i64,
    brace_open: bool,
    bracket_open: bool,
    got_colon: bool,
    string_open: char,
    tokens: Vec<Token>,
}

/// Every token up to the first lexer error, and that error.
struct Lexed {
    tokens: Vec<Token>,
    error: Option<LexError>,
}

impl<'a> Lexer<'a> {
    fn lex(input: &'a str) -> Lexed {
        let mut lexer = Lexer {
            input,
            pos: 0,
            start: 0,
            width: 0,
            paren_depth: 0,
            brace_open: false,
            bracket_open: false,
            got_colon: false,
            string_open: '"',
            tokens: Vec::new(),
        };
        let mut state = State::Statements;
        let error = loop {
            let step = match state {
                State::Statements => lexer.statements(),
                State::InsideBraces => lexer.inside_braces(),
                State::String => lexer.string(),
                State::RawString => lexer.raw_string(),
                State::Escape => lexer.escape(),
                State::Space => lexer.space(),
                State::LineComment => lexer.line_comment(),
                State::NumberOrDuration => lexer.number_or_duration(),
                State::Identifier => lexer.identifier(),
                State::KeywordOrIdentifier => lexer.keyword_or_identifier(),
                State::Done => break None,
            };
            match step {
                Ok(next) => state = next,
                Err(e) => break Some(e),
            }
        };
        Lexed {
            tokens: lexer.tokens,
            error,
        }
    }

    fn next(&mut self) -> Option<char> {
        match self.input.get(self.pos..).and_then(|rest| rest.chars().next()) {
            Some(c) => {
                self.width = c.len_utf8();
                self.pos += self.width;
                Some(c)
            }
            None => {
                self.width = 0;
                None
            }
        }
    }

    fn peek(&mut self) -> Option<char> {
        let c = self.next();
        self.backup();
        c
    }

    fn backup(&mut self) {
        self.pos -= self.width;
    }

    fn emit(&mut self, kind: Kind) {
        self.tokens.push(Token {
            kind,
            start: self.start,
            end: self.pos,
        });
        self.start = self.pos;
    }

    fn ignore(&mut self) {
        self.start = self.pos;
    }

    fn accept(&mut self, valid: &str) -> bool {
        match self.next() {
            Some(c) if valid.contains(c) => true,
            _ => {
                self.backup();
                false
            }
        }
    }

    fn is(&mut self, valid: &str) -> bool {
        matches!(self.peek(), Some(c) if valid.contains(c))
    }

    fn accept_run(&mut self, valid: &str) {
        while let Some(c) = self.next() {
            if !valid.contains(c) {
                break;
            }
        }
        self.backup();
    }

    /// `errorf`: the error sits at the start of the token being scanned.
    fn error<T>(&self, message: String) -> Result<T, LexError> {
        Err(LexError {
            offset: self.start,
            message,
        })
    }

    fn at_comment(&self) -> bool {
        self.input.get(self.pos..).is_some_and(|rest| rest.starts_with('#'))
    }

    fn statements(&mut self) -> Result<State, LexError> {
        if self.brace_open {
            return Ok(State::InsideBraces);
        }
        if self.at_comment() {
            return Ok(State::LineComment);
        }
        let Some(r) = self.next() else {
            if self.paren_depth != 0 {
                return self.error("unclosed left parenthesis".into());
            }
            if self.bracket_open {
                return self.error("unclosed left bracket".into());
            }
            return Ok(State::Done);
        };
        match r {
            ',' => self.emit(Kind::Comma),
            c if is_space(c) => return Ok(State::Space),
            '*' | '/' | '%' | '+' | '-' | '^' => self.emit(Kind::Op),
            '=' => match self.peek() {
                Some('=') => {
                    self.next();
                    self.emit(Kind::Op);
                }
                Some('~') => return self.error("unexpected character after '=': '~'".into()),
                _ => self.emit(Kind::Op),
            },
            '!' => match self.next() {
                Some('=') => self.emit(Kind::Op),
                t => return self.error(format!("unexpected character after '!': {}", strconv::quote_rune(t))),
            },
            '<' | '>' => {
                if self.peek() == Some('=') {
                    self.next();
                }
                self.emit(Kind::Op);
            }
            c if c.is_ascii_digit() || (c == '.' && self.peek().is_some_and(|p| p.is_ascii_digit())) => {
                self.backup();
                return Ok(State::NumberOrDuration);
            }
            '"' | '\'' => {
                self.string_open = r;
                return Ok(State::String);
            }
            '`' => {
                self.string_open = r;
                return Ok(State::RawString);
            }
            c if is_alpha(c) || c == ':' => {
                if !self.bracket_open {
                    self.backup();
                    return Ok(State::KeywordOrIdentifier);
                }
                // 2.54 takes any letter inside brackets for the subquery colon.
                if self.got_colon {
                    return self.error(format!("unexpected colon {}", strconv::quote_rune(Some(c))));
                }
                self.emit(Kind::Colon);
                self.got_colon = true;
            }
            '(' => {
                self.emit(Kind::LeftParen);
                self.paren_depth += 1;
            }
            ')' => {
                self.emit(Kind::RightParen);
                self.paren_depth -= 1;
                if self.paren_depth < 0 {
                    // The error item replaces the `)` before the parser sees it.
                    self.tokens.pop();
                    return self.error("unexpected right parenthesis ')'".into());
                }
            }
            '{' => {
                self.emit(Kind::LeftBrace);
                self.brace_open = true;
                return Ok(State::InsideBraces);
            }
            '[' => {
                if self.bracket_open {
                    return self.error("unexpected left bracket '['".into());
                }
                self.got_colon = false;
                self.emit(Kind::LeftBracket);
                if self.peek().is_some_and(is_space) {
                    while self.peek().is_some_and(is_space) {
                        self.next();
                    }
                    self.ignore();
                }
                self.bracket_open = true;
                return Ok(State::NumberOrDuration);
            }
            ']' => {
                if !self.bracket_open {
                    return self.error("unexpected right bracket ']'".into());
                }
                self.emit(Kind::RightBracket);
                self.bracket_open = false;
            }
            '@' => self.emit(Kind::At),
            c => return self.error(format!("unexpected character: {}", strconv::quote_rune(Some(c)))),
        }
        Ok(State::Statements)
    }

    fn inside_braces(&mut self) -> Result<State, LexError> {
        if self.at_comment() {
            return Ok(State::LineComment);
        }
        let Some(r) = self.next() else {
            return self.error("unexpected end of input inside braces".into());
        };
        match r {
            c if is_space(c) => return Ok(State::Space),
            c if is_alpha(c) => {
                self.backup();
                return Ok(State::Identifier);
            }
            ',' => self.emit(Kind::Comma),
            '"' | '\'' => {
                self.string_open = r;
                return Ok(State::String);
            }
            '`' => {
                self.string_open = r;
                return Ok(State::RawString);
            }
            '=' => {
                if self.next() != Some('~') {
                    self.backup();
                }
                self.emit(Kind::Op);
            }
            '!' => match self.next() {
                Some('~' | '=') => self.emit(Kind::Op),
                nr => {
                    return self.error(format!(
                        "unexpected character after '!' inside braces: {}",
                        strconv::quote_rune(nr)
                    ));
                }
            },
            '{' => return self.error("unexpected left brace '{'".into()),
            '}' => {
                self.emit(Kind::RightBrace);
                self.brace_open = false;
                return Ok(State::Statements);
            }
            c => {
                return self.error(format!(
                    "unexpected character inside braces: {}",
                    strconv::quote_rune(Some(c))
                ));
            }
        }
        Ok(State::InsideBraces)
    }

    /// `lexEscape`: the backslash has been read.
    fn escape(&mut self) -> Result<State, LexError> {
        let mut ch = self.next();
        let (mut n, base, max): (u32, u32, u32) = match ch {
            Some('a' | 'b' | 'f' | 'n' | 'r' | 't' | 'v' | '\\') => return Ok(State::String),
            Some(c) if c == self.string_open => return Ok(State::String),
            Some('0'..='7') => (3, 8, 255),
            Some('x') => {
                ch = self.next();
                (2, 16, 255)
            }
            Some('u') => {
                ch = self.next();
                (4, 16, 0x10FFFF)
            }
            Some('U') => {
                ch = self.next();
                (8, 16, 0x10FFFF)
            }
            None => return self.error("escape sequence not terminated".into()),
            Some(c) => return self.error(format!("unknown escape sequence {}", percent_sharp_u(c))),
        };
        let mut x: u64 = 0;
        while n > 0 {
            let d = ch.and_then(|c| c.to_digit(16)).unwrap_or(16);
            if d >= base {
                return match ch {
                    None => self.error("escape sequence not terminated".into()),
                    Some(c) => self.error(format!("illegal character {} in escape sequence", percent_sharp_u(c))),
                };
            }
            x = x * u64::from(base) + u64::from(d);
            n -= 1;
            if n > 0 {
                ch = self.next();
            }
        }
        if x > u64::from(max) || (0xD800..0xE000).contains(&x) {
            return self.error("escape sequence is an invalid Unicode code point".into());
        }
        Ok(State::String)
    }

    fn string(&mut self) -> Result<State, LexError> {
        loop {
            match self.next() {
                Some('\\') => return Ok(State::Escape),
                // Go's decoder returns RuneError for U+FFFD itself too.
                Some('\u{FFFD}') => return self.error("invalid UTF-8 rune".into()),
                None | Some('\n') => return self.error("unterminated quoted string".into()),
                Some(c) if c == self.string_open => break,
                Some(_) => {}
            }
        }
        self.emit(Kind::Str);
        Ok(State::Statements)
    }

    fn raw_string(&mut self) -> Result<State, LexError> {
        loop {
            match self.next() {
                Some('\u{FFFD}') => return self.error("invalid UTF-8 rune".into()),
                None => return self.error("unterminated raw string".into()),
                Some('`') => break,
                Some(_) => {}
            }
        }
        self.emit(Kind::Str);
        Ok(State::Statements)
    }

    fn space(&mut self) -> Result<State, LexError> {
        while self.peek().is_some_and(is_space) {
            self.next();
        }
        self.ignore();
        Ok(State::Statements)
    }

    fn line_comment(&mut self) -> Result<State, LexError> {
        self.pos += 1;
        loop {
            match self.next() {
                None | Some('\r' | '\n') => break,
                Some(_) => {}
            }
        }
        self.backup();
        self.emit(Kind::Comment);
        Ok(State::Statements)
    }

    fn number_or_duration(&mut self) -> Result<State, LexError> {
        if self.scan_number() {
            self.emit(Kind::Number);
            return Ok(State::Statements);
        }
        if self.accept_remaining_duration() {
            self.backup();
            self.emit(Kind::Duration);
            return Ok(State::Statements);
        }
        let text = self.input.get(self.start..self.pos).unwrap_or("");
        self.error(format!("bad number or duration syntax: {}", strconv::quote(text)))
    }

    fn accept_remaining_duration(&mut self) -> bool {
        if !self.accept("smhdwy") {
            return false;
        }
        self.accept("s");
        while self.accept("0123456789") {
            while self.accept("0123456789") {}
            if !self.accept("smhdw") {
                return false;
            }
            self.accept("s");
        }
        !self.next().is_some_and(is_alnum)
    }

    /// `scanNumber`: decimal, hex or float; not necessarily valid, which
    /// `strconv` decides later.
    fn scan_number(&mut self) -> bool {
        let initial = self.pos;
        let mut digits = "0123456789";
        if self.accept("0") && self.accept("xX") {
            self.accept("_");
            digits = "0123456789abcdefABCDEF";
        }
        self.accept(".");
        self.accept(digits);
        let all = format!("{digits}._eE");
        let (mut dot, mut exponent) = (false, false);
        while self.is(&all) {
            if self.is(".") && dot {
                self.accept(".");
                return false;
            }
            if self.is("eE") && exponent {
                self.accept("eE");
                return false;
            }
            if self.accept(".") {
                dot = true;
                if self.accept("_.") {
                    return false;
                }
                if digits.len() > 10 {
                    return false;
                }
                continue;
            }
            if self.accept("eE") {
                exponent = true;
                self.accept("+-");
                if self.accept("._eE") || self.peek().is_none() {
                    return false;
                }
                continue;
            }
            if self.accept("_") {
                if self.accept("._eE") || self.peek().is_none() {
                    return false;
                }
                continue;
            }
            self.accept_run(digits);
        }
        if self.pos == initial {
            return false;
        }
        !self.peek().is_some_and(is_alnum)
    }

    fn identifier(&mut self) -> Result<State, LexError> {
        while self.next().is_some_and(is_alnum) {}
        self.backup();
        self.emit(Kind::Ident);
        Ok(State::Statements)
    }

    fn keyword_or_identifier(&mut self) -> Result<State, LexError> {
        while self.next().is_some_and(|c| is_alnum(c) || c == ':') {}
        self.backup();
        let word = self.input.get(self.start..self.pos).unwrap_or("").to_ascii_lowercase();
        let kind = if word == "inf" || word == "nan" {
            Kind::Number
        } else if KEYWORDS.contains(&word.as_str()) {
            Kind::Keyword
        } else if word.contains(':') {
            Kind::MetricIdent
        } else {
            Kind::Ident
        };
        self.emit(kind);
        Ok(State::Statements)
    }
}

// ---------------------------------------------------------------------------
// Values: strings (Prometheus' `strutil.Unquote`), numbers
// (`strconv.ParseInt` then `ParseFloat`)

/// The value of a string token the lexer accepted (`strutil.Unquote`,
/// which never fails on what `lexEscape` let through).
fn unquote(raw: &str) -> String {
    strconv::unquote_strutil(raw).unwrap_or_default()
}

/// A string promql-parser reads back as `value`.
fn canonical_string(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c == '\x7f' => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The parser's `number()`: `strconv.ParseInt(s, 0, 64)` (any Go base),
/// else `strconv.ParseFloat`, whose error it reports.
fn go_number(s: &str) -> Result<f64, String> {
    match strconv::parse_int(s, 0, 64) {
        Ok(n) => Ok(n as f64),
        Err(_) => strconv::parse_float(s).map_err(|e| e.to_string()),
    }
}

/// A number promql-parser reads back as `value`.
fn canonical_number(value: f64) -> String {
    if value.is_nan() {
        "NaN".into()
    } else if value.is_infinite() {
        "Inf".into()
    } else {
        format!("{value}")
    }
}

// ---------------------------------------------------------------------------
// Token-order checks: what the Prometheus parser rejects while it reads

/// The item description the parser prints in `unexpected …` (`desc()`).
fn describe(query: &str, t: Option<&Token>) -> String {
    let Some(t) = t else {
        return "end of input".into();
    };
    let text = query.get(t.start..t.end).unwrap_or("");
    match t.kind {
        Kind::Ident => format!("identifier {}", strconv::quote(text)),
        Kind::MetricIdent => format!("metric identifier {}", strconv::quote(text)),
        Kind::Str => {
            if text.chars().count() > 10 {
                let short: String = text.chars().take(10).collect();
                format!("string {}...", strconv::quote(&short))
            } else {
                format!("string {}", strconv::quote(text))
            }
        }
        Kind::Number => {
            if KEYWORDS.contains(&text.to_ascii_lowercase().as_str()) || text.len() <= 10 {
                format!("number {}", strconv::quote(text))
            } else {
                let short: String = text.chars().take(10).collect();
                format!("number {}...", strconv::quote(&short))
            }
        }
        Kind::Duration => format!("duration {}", strconv::quote(text)),
        Kind::Keyword => {
            let lower = text.to_ascii_lowercase();
            if BINARY_KEYWORDS.contains(&lower.as_str()) {
                format!("<op:{text}>")
            } else if AGGREGATORS.contains(&lower.as_str()) {
                format!("<aggr:{text}>")
            } else {
                format!("<{text}>")
            }
        }
        // 2.54 has no ItemTypeStr entry for AT, so desc() prints its number.
        Kind::At => "\"<Item 57399>\" <op:@>".into(),
        Kind::Op if text == "=" => "\"=\"".into(),
        Kind::Op => format!("<op:{text}>"),
        _ => strconv::quote(text),
    }
}

/// A matcher read from inside braces: the offset of its first token and the
/// indices of its string tokens.
struct RawMatcher {
    name: String,
    op: String,
    value: String,
    offset: usize,
    name_token: Option<usize>,
    value_token: usize,
}

/// The label-matcher grammar inside `{…}` (`label_matchers` in
/// `generated_parser.y`), from the `{` at `open`: the matchers read, and
/// the index of the `}` or the error `(index of the token it is about,
/// message)` that stopped them.
fn read_braces(query: &str, tokens: &[Token], open: usize) -> (Vec<RawMatcher>, Result<usize, (usize, String)>) {
    let mut matchers = Vec::new();
    let end = read_matchers(query, tokens, open, &mut matchers);
    (matchers, end)
}

fn read_matchers(
    query: &str,
    tokens: &[Token],
    open: usize,
    matchers: &mut Vec<RawMatcher>,
) -> Result<usize, (usize, String)> {
    let text = |t: &Token| query.get(t.start..t.end).unwrap_or("");
    let unexpected = |i: usize, expected: &str| {
        (
            i,
            format!(
                "unexpected {} in label matching, expected {expected}",
                describe(query, tokens.get(i))
            ),
        )
    };
    let is_match_op =
        |t: Option<&Token>| t.is_some_and(|t| t.kind == Kind::Op && matches!(text(t), "=" | "!=" | "=~" | "!~"));
    let mut i = open + 1;
    if tokens.get(i).map(|t| t.kind) == Some(Kind::RightBrace) {
        return Ok(i);
    }
    loop {
        // A matcher: IDENTIFIER op STRING, STRING op STRING, or a lone
        // STRING (the metric name).
        let Some(first) = tokens.get(i) else {
            return Err(unexpected(i, "identifier or \"}\""));
        };
        let (name, name_token) = match first.kind {
            Kind::Ident => (text(first).to_owned(), None),
            Kind::Str => (unquote(text(first)), Some(i)),
            _ => return Err(unexpected(i, "identifier or \"}\"")),
        };
        if is_match_op(tokens.get(i + 1)) {
            match tokens.get(i + 2) {
                Some(v) if v.kind == Kind::Str => {
                    matchers.push(RawMatcher {
                        name,
                        op: text(&tokens[i + 1]).to_owned(),
                        value: unquote(text(v)),
                        offset: first.start,
                        name_token,
                        value_token: i + 2,
                    });
                    i += 3;
                }
                _ => return Err(unexpected(i + 2, "string")),
            }
        } else if name_token.is_some() {
            matchers.push(RawMatcher {
                name: "__name__".into(),
                op: "=".into(),
                value: name,
                offset: first.start,
                name_token: None,
                value_token: i,
            });
            i += 1;
        } else {
            return Err(unexpected(i + 1, "label matching operator"));
        }
        // Then `,` or `}`; `,}` closes too.
        match tokens.get(i).map(|t| t.kind) {
            Some(Kind::RightBrace) => return Ok(i),
            Some(Kind::Comma) => {
                if tokens.get(i + 1).map(|t| t.kind) == Some(Kind::RightBrace) {
                    return Ok(i + 1);
                }
                i += 1;
            }
            _ => return Err(unexpected(i, "\",\" or \"}\"")),
        }
    }
}

/// A matcher as Prometheus' `newLabelMatcher` builds it, with the pattern
/// promql-parser is handed for a regex. promql-parser compiles that again
/// with the `regex` crate's default limits, so a pattern beyond those is
/// refused here too, in this crate's words: Prometheus would take it.
fn build_matcher(m: &RawMatcher) -> Result<(Matcher, Option<String>), String> {
    let matcher = Matcher::new(m.name.clone(), &m.op, &m.value).map_err(|e| e.to_string())?;
    let rust = matcher.rust_pattern().map(str::to_owned);
    if let MatchOp::Regex(re) | MatchOp::NotRegex(re) = &matcher.op
        && Regex::new(re.as_str()).is_err()
    {
        return Err(RegexTrouble::Uncompilable("too large or nested too deeply").to_string());
    }
    Ok((matcher, rust))
}

/// Whether the parser can start an expression with `t`.
fn can_start(query: &str, t: &Token) -> bool {
    let text = query.get(t.start..t.end).unwrap_or("");
    match t.kind {
        Kind::Comma | Kind::Colon | Kind::At | Kind::LeftBracket | Kind::RightBracket | Kind::RightParen => false,
        Kind::Op => text == "+" || text == "-",
        Kind::Keyword => !matches!(
            text.to_ascii_lowercase().as_str(),
            "atan2" | "bool" | "on" | "ignoring" | "group_left" | "group_right"
        ),
        _ => true,
    }
}

/// A range or subquery's brackets (`matrix_selector`, `subquery_expr`),
/// from the `[` at `open`.
fn read_brackets(query: &str, tokens: &[Token], open: usize) -> Result<(), (usize, String)> {
    let unexpected = |i: usize, context: &str, expected: &str| {
        (
            i,
            format!(
                "unexpected {} in {context}, expected {expected}",
                describe(query, tokens.get(i))
            ),
        )
    };
    let kind = |i: usize| tokens.get(i).map(|t| t.kind);
    let literal = |i: usize| matches!(kind(i), Some(Kind::Number | Kind::Duration));
    if !literal(open + 1) {
        return Err(unexpected(open + 1, "subquery selector", "number or duration"));
    }
    match kind(open + 2) {
        Some(Kind::RightBracket) => Ok(()),
        Some(Kind::Colon) => {
            if kind(open + 3) == Some(Kind::RightBracket) {
                Ok(())
            } else if !literal(open + 3) {
                Err(unexpected(open + 3, "subquery selector", "number or duration or \"]\""))
            } else if kind(open + 4) == Some(Kind::RightBracket) {
                Ok(())
            } else {
                Err(unexpected(open + 4, "subquery selector", "\"]\""))
            }
        }
        _ => Err(unexpected(open + 2, "subquery or range", "\":\" or \"]\"")),
    }
}

/// `model.ParseDuration` and the parser's `parseDuration` (no zero).
fn go_duration(s: &str) -> Result<u64, String> {
    match model::parse_duration(s)? {
        0 => Err("duration must be greater than 0".into()),
        d => Ok(d),
    }
}

/// What a `(` opens, for the checks that depend on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Group {
    /// `by (…)`, `on (…)` and the like: label names.
    Labels,
    /// The body of an aggregation: errors say `in aggregation`.
    Aggregation,
    /// Function arguments.
    Call,
    /// Plain parentheses (and `start()`/`end()`).
    Plain,
}

/// The keywords that are binary operators.
const BINARY_KEYWORDS: &[&str] = &["and", "or", "unless", "atan2"];

#[rustfmt::skip]
const AGGREGATORS: &[&str] = &[
    "sum", "avg", "count", "min", "max", "group", "stddev", "stdvar", "topk", "bottomk", "count_values", "quantile",
    "limitk", "limit_ratio",
];

/// The index of the opener matching the closer at `close`.
fn matching_back(tokens: &[Token], close: usize) -> Option<usize> {
    let (open_kind, close_kind) = match tokens.get(close)?.kind {
        Kind::RightParen => (Kind::LeftParen, Kind::RightParen),
        Kind::RightBracket => (Kind::LeftBracket, Kind::RightBracket),
        Kind::RightBrace => (Kind::LeftBrace, Kind::RightBrace),
        _ => return None,
    };
    let mut depth = 0usize;
    for j in (0..=close).rev() {
        if tokens[j].kind == close_kind {
            depth += 1;
        } else if tokens[j].kind == open_kind {
            depth = depth.saturating_sub(1);
            if depth == 0 {
                return Some(j);
            }
        }
    }
    None
}

/// The first token of the operand that ends at `end`.
fn operand_start(query: &str, tokens: &[Token], end: usize) -> usize {
    let text = |t: &Token| query.get(t.start..t.end).unwrap_or("").to_ascii_lowercase();
    let Some(t) = tokens.get(end) else { return end };
    match t.kind {
        Kind::RightParen => {
            let Some(open) = matching_back(tokens, end) else {
                return end;
            };
            match open.checked_sub(1).map(|p| &tokens[p]) {
                Some(p) if matches!(p.kind, Kind::Ident | Kind::Keyword) => open - 1,
                // `sum by (a) (…)`
                Some(p) if p.kind == Kind::RightParen => match matching_back(tokens, open - 1) {
                    Some(labels) if labels >= 2 && AGGREGATORS.contains(&text(&tokens[labels - 2]).as_str()) => {
                        labels - 2
                    }
                    _ => open,
                },
                _ => open,
            }
        }
        Kind::RightBracket | Kind::RightBrace => {
            let Some(open) = matching_back(tokens, end) else {
                return end;
            };
            match open.checked_sub(1) {
                Some(p)
                    if t.kind == Kind::RightBrace
                        && matches!(tokens[p].kind, Kind::Ident | Kind::MetricIdent | Kind::Keyword) =>
                {
                    p
                }
                Some(p) if t.kind == Kind::RightBracket => operand_start(query, tokens, p),
                _ => open,
            }
        }
        _ => end,
    }
}

/// The grammar errors the parser meets between tokens outside braces and
/// brackets: a token that cannot start an operand where one must start, a
/// token that cannot follow a finished operand, a modifier without what it
/// needs. `(trigger index, offset, message)` of the first.
fn local_grammar(query: &str, tokens: &[Token]) -> Option<(usize, usize, String)> {
    let text = |t: &Token| query.get(t.start..t.end).unwrap_or("").to_ascii_lowercase();
    let keyword = |t: &Token, words: &[&str]| t.kind == Kind::Keyword && words.contains(&text(t).as_str());
    let mut stack: Vec<Group> = Vec::new();
    // Whether the token before ends an operand, and whether it names a
    // metric (which braces may follow).
    let mut finished = false;
    let mut name = false;
    // Whether an operand must start here, and whether a binary operator
    // (which vector-matching modifiers may follow) was the token before.
    let mut operand = true;
    let mut after_binary = false;
    let mut offset_at: Option<usize> = None;
    let mut next_group: Option<Group> = None;
    let mut in_braces = false;
    let mut in_brackets = false;
    let mut prev: Option<usize> = None;
    for (i, t) in tokens.iter().enumerate() {
        let context = if stack.contains(&Group::Aggregation) {
            " in aggregation"
        } else {
            ""
        };
        let unexpected = |what: &str| Some((i, t.start, format!("unexpected {}{what}", describe(query, Some(t)))));
        if in_braces || in_brackets {
            if (in_braces && t.kind == Kind::RightBrace) || (in_brackets && t.kind == Kind::RightBracket) {
                in_braces = false;
                in_brackets = false;
                finished = true;
                name = false;
                operand = false;
                after_binary = false;
            }
            prev = Some(i);
            continue;
        }
        if stack.last() == Some(&Group::Labels) && t.kind != Kind::RightParen {
            prev = Some(i);
            continue;
        }
        let p = prev.map(|p| &tokens[p]);
        // What the token before asks of this one.
        if let Some(p) = p {
            let grouping = keyword(p, &["on", "ignoring"])
                || (keyword(p, &["by", "without"]) && next_group == Some(Group::Labels));
            if grouping && t.kind != Kind::LeftParen {
                return unexpected(" in grouping opts, expected \"(\"");
            }
        }
        if let Some(at) = offset_at {
            let sign = t.kind == Kind::Op && text(t) == "-";
            if prev == Some(at) && !sign && !matches!(t.kind, Kind::Number | Kind::Duration) {
                return unexpected(" in offset, expected number or duration");
            }
            if matches!(t.kind, Kind::Number | Kind::Duration) {
                // Reduced at its literal: the offset needs a selector.
                let mut before = at.checked_sub(1);
                // `up @ 10 offset 5m`: past the @ modifier.
                if let Some(b) = before {
                    let at_start = if tokens[b].kind == Kind::RightParen {
                        matching_back(tokens, b).and_then(|o| o.checked_sub(1))
                    } else {
                        Some(b)
                    };
                    if let Some(s) = at_start
                        && s > 0
                        && tokens[s - 1].kind == Kind::At
                    {
                        before = s.checked_sub(2);
                    } else if let Some(s) = at_start
                        && s > 1
                        && tokens[s - 1].kind == Kind::Op
                        && tokens[s - 2].kind == Kind::At
                    {
                        before = s.checked_sub(3);
                    }
                }
                // `x offset 1m offset 2m`: the first offset's literal.
                if let Some(b) = before
                    && matches!(tokens[b].kind, Kind::Number | Kind::Duration)
                {
                    let lit = if b > 0 && tokens[b - 1].kind == Kind::Op {
                        b - 1
                    } else {
                        b
                    };
                    if lit > 0 && keyword(&tokens[lit - 1], &["offset"]) {
                        let start = (lit - 1)
                            .checked_sub(1)
                            .map(|e| operand_start(query, tokens, e))
                            .unwrap_or(0);
                        return Some((i, tokens[start].start, "offset may not be set multiple times".into()));
                    }
                }
                let selector = before.is_some_and(|b| {
                    matches!(
                        tokens[b].kind,
                        Kind::RightBrace | Kind::RightBracket | Kind::Ident | Kind::MetricIdent
                    ) || keyword(&tokens[b], METRIC_KEYWORDS)
                });
                if !selector {
                    let start = before.map(|b| operand_start(query, tokens, b)).unwrap_or(0);
                    return Some((
                        i,
                        tokens[start].start,
                        "offset modifier must be preceded by an instant vector selector or range vector selector \
                         or a subquery"
                            .into(),
                    ));
                }
                offset_at = None;
            }
        }
        let modifier = after_binary && keyword(t, &["on", "ignoring", "group_left", "group_right", "bool"]);
        if operand && !modifier {
            if !can_start(query, t) || (t.kind == Kind::Op && text(t) == "=") {
                // After a comma in arguments the parser blames the comma.
                if let Some(pi) = prev
                    && tokens[pi].kind == Kind::Comma
                    && matches!(stack.last(), Some(Group::Call | Group::Aggregation))
                {
                    return Some((
                        i,
                        tokens[pi].start,
                        "trailing commas not allowed in function call args".into(),
                    ));
                }
                return unexpected(context);
            }
        } else if finished {
            let breaks = match t.kind {
                Kind::Ident | Kind::MetricIdent | Kind::Number | Kind::Duration | Kind::Str => true,
                Kind::LeftBrace => !name,
                Kind::Keyword => AGGREGATORS.contains(&text(t).as_str()),
                Kind::Op => text(t) == "=",
                Kind::Comma => stack.last() == Some(&Group::Plain) || stack.is_empty(),
                _ => false,
            };
            if breaks {
                return unexpected(context);
            }
        }
        // What this token makes of the next.
        let was_finished = finished;
        let was_operand = operand;
        finished = false;
        name = false;
        operand = false;
        after_binary = false;
        if !matches!(t.kind, Kind::LeftParen | Kind::Keyword) {
            next_group = None;
        }
        match t.kind {
            Kind::Ident | Kind::MetricIdent => {
                finished = true;
                name = true;
                if tokens.get(i + 1).map(|n| n.kind) == Some(Kind::LeftParen) {
                    next_group = Some(Group::Call);
                }
            }
            Kind::Keyword => {
                let word = text(t);
                let binary = BINARY_KEYWORDS.contains(&word.as_str());
                if AGGREGATORS.contains(&word.as_str()) && !was_finished {
                    next_group = Some(Group::Aggregation);
                    name = true;
                    finished = true;
                } else if (matches!(word.as_str(), "by" | "without") && was_finished && !was_operand)
                    || matches!(word.as_str(), "on" | "ignoring")
                {
                    next_group = Some(Group::Labels);
                } else if matches!(word.as_str(), "group_left" | "group_right") {
                    // Labels are optional; an operand may follow at once.
                    if tokens.get(i + 1).map(|n| n.kind) == Some(Kind::LeftParen) {
                        next_group = Some(Group::Labels);
                    } else {
                        operand = true;
                    }
                } else if (binary && was_finished) || word == "bool" {
                    operand = true;
                    after_binary = true;
                } else if word == "offset" && was_finished {
                    offset_at = Some(i);
                } else if matches!(word.as_str(), "start" | "end")
                    && tokens.get(i + 1).map(|n| n.kind) == Some(Kind::LeftParen)
                {
                    next_group = Some(Group::Plain);
                } else {
                    // A keyword naming a metric.
                    finished = true;
                    name = true;
                }
            }
            Kind::Number | Kind::Str | Kind::Duration => finished = true,
            Kind::Op => {
                operand = true;
                after_binary = was_finished;
            }
            Kind::At => {}
            Kind::LeftParen => {
                let group = next_group.take().unwrap_or(Group::Plain);
                stack.push(group);
                // `f()` and `sum()` are the parser's own errors or fine.
                operand = group != Group::Labels && tokens.get(i + 1).map(|n| n.kind) != Some(Kind::RightParen);
            }
            Kind::RightParen => {
                let closed = stack.pop();
                finished = true;
                if closed == Some(Group::Labels) {
                    let opener = matching_back(tokens, i).and_then(|o| o.checked_sub(1));
                    match opener.map(|o| (o, text(&tokens[o]))) {
                        // `sum by (a) (…)`: the body follows the labels.
                        Some((o, w))
                            if matches!(w.as_str(), "by" | "without")
                                && o > 0
                                && keyword(&tokens[o - 1], AGGREGATORS) =>
                        {
                            next_group = Some(Group::Aggregation);
                            finished = false;
                        }
                        Some((_, w)) if matches!(w.as_str(), "on" | "ignoring" | "group_left" | "group_right") => {
                            finished = false;
                            operand = true;
                            after_binary = true;
                        }
                        _ => {}
                    }
                }
            }
            Kind::Comma => {
                operand = matches!(stack.last(), Some(Group::Call | Group::Aggregation));
            }
            Kind::LeftBrace => in_braces = true,
            Kind::LeftBracket => in_brackets = true,
            _ => {}
        }
        prev = Some(i);
    }
    None
}

/// The matching `)` of the `(` at `open`.
fn closing_paren(tokens: &[Token], open: usize) -> Option<usize> {
    let mut depth = 0usize;
    for (i, t) in tokens.iter().enumerate().skip(open) {
        match t.kind {
            Kind::LeftParen => depth += 1,
            Kind::RightParen => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}

/// What the token pass hands on: per string token its canonical text, per
/// number token its value.
struct Checked {
    tokens: Vec<Token>,
    replacements: BTreeMap<usize, String>,
}

/// The first error the token pass found: the index of the token at which
/// the parser meets it, its offset and message.
struct Found {
    trigger: usize,
    offset: usize,
    message: String,
}

/// Runs the parser's in-reading checks in token order over `lexed`: the
/// rewritten tokens, and the first error, a lexer error included, by where
/// the parser meets it.
fn check_tokens(query: &str, lexed: Lexed) -> (Checked, Option<Found>) {
    let tokens: Vec<Token> = lexed.tokens.into_iter().filter(|t| t.kind != Kind::Comment).collect();
    let text = |t: &Token| query.get(t.start..t.end).unwrap_or("");
    // (trigger index, error offset, message); the lowest trigger wins.
    let mut first: Option<(usize, usize, String)> = None;
    let mut found = |trigger: usize, offset: usize, message: String| {
        if first.as_ref().is_none_or(|(t, _, _)| trigger < *t) {
            first = Some((trigger, offset, message));
        }
    };
    // The parser meets a lexer error when it asks for the token after the
    // last good one; an error found there by the grammar is the lexer's.
    if let Some(e) = &lexed.error {
        found(tokens.len(), e.offset, e.message.clone());
    }
    if let Some(t) = tokens.first()
        && !can_start(query, t)
    {
        found(0, t.start, format!("unexpected {}", describe(query, Some(t))));
    }
    let mut replacements = BTreeMap::new();
    let mut i = 0;
    while i < tokens.len() {
        let t = tokens[i];
        match t.kind {
            Kind::LeftBracket => {
                if let Err((at, message)) = read_brackets(query, &tokens, i) {
                    let offset = tokens.get(at).map(|t| t.start).unwrap_or(query.len());
                    found(at, offset, message);
                }
            }
            // 2.54 lexes any letter inside brackets as the subquery colon.
            Kind::Colon => {
                replacements.insert(i, ":".into());
            }
            Kind::Duration => {
                if let Err(message) = go_duration(text(&t)) {
                    found(i, t.start, message);
                }
            }
            Kind::LeftBrace => {
                let (matchers, end) = read_braces(query, &tokens, i);
                for m in &matchers {
                    if let Some(k) = m.name_token {
                        replacements.insert(k, canonical_string(&m.name));
                    }
                    match build_matcher(m) {
                        Ok((_, Some(pattern))) => {
                            replacements.insert(m.value_token, canonical_string(&pattern));
                        }
                        Ok((_, None)) => {
                            replacements.insert(m.value_token, canonical_string(&m.value));
                        }
                        // Checked when the matcher is reduced, right at its value.
                        Err(message) => found(m.value_token, m.offset, message),
                    }
                }
                match end {
                    Ok(close) => {
                        i = close + 1;
                        continue;
                    }
                    Err((at, message)) => {
                        let offset = tokens.get(at).map(|t| t.start).unwrap_or(query.len());
                        found(at, offset, message);
                        break;
                    }
                }
            }
            Kind::Str => {
                replacements.insert(i, canonical_string(&unquote(text(&t))));
            }
            Kind::Number => match go_number(text(&t)) {
                Ok(v) => {
                    replacements.insert(i, canonical_number(v));
                }
                Err(e) => found(i, t.start, format!("error parsing number: {e}")),
            },
            Kind::Keyword => {
                let word = text(&t).to_ascii_lowercase();
                // Checked when the aggregation is reduced, at its body's `)`;
                // `limitk()` is the parser's "no arguments" first.
                let body = match tokens.get(i + 1).map(|n| n.kind) {
                    Some(Kind::LeftParen) => Some(i + 1),
                    Some(Kind::Keyword) => closing_paren(&tokens, i + 2).map(|c| c + 1),
                    _ => None,
                };
                let close = body.and_then(|b| closing_paren(&tokens, b).map(|c| (b, c)));
                if (word == "limitk" || word == "limit_ratio")
                    && let Some((open, close)) = close
                    && close > open + 1
                {
                    found(
                        close,
                        t.start,
                        "limitk() and limit_ratio() are experimental and must be enabled with \
                         --enable-feature=promql-experimental-functions"
                            .into(),
                    );
                }
            }
            Kind::Ident if tokens.get(i + 1).map(|n| n.kind) == Some(Kind::LeftParen) => {
                let name = text(&t);
                let problem = if !FUNCTIONS.contains(&name) {
                    Some(format!("unknown function with name {}", strconv::quote(name)))
                } else if EXPERIMENTAL_FUNCTIONS.contains(&name) {
                    Some(format!("function {} is not enabled", strconv::quote(name)))
                } else {
                    None
                };
                // The parser checks the name when it reduces the call, at its `)`.
                if let (Some(message), Some(close)) = (problem, closing_paren(&tokens, i + 1)) {
                    found(close, t.start, message);
                }
                if name == "holt_winters" {
                    replacements.insert(i, "double_exponential_smoothing".into());
                }
            }
            Kind::Ident => {
                // 3.x keywords promql-parser knows; plain names in 2.54.
                let word = text(&t).to_ascii_lowercase();
                if word == "smoothed" || word == "anchored" {
                    replacements.insert(i, format!("{PLACEHOLDER}{}", text(&t)));
                }
            }
            _ => {}
        }
        i += 1;
    }
    // After the token checks: a literal's own error comes before the
    // modifier it completes.
    if let Some((at, offset, message)) = local_grammar(query, &tokens) {
        found(at, offset, message);
    }
    let found = first.map(|(trigger, offset, message)| Found {
        trigger,
        offset,
        message,
    });
    (Checked { tokens, replacements }, found)
}

/// Prefix for metric names promql-parser would read as keywords.
const PLACEHOLDER: &str = "pillars_keyword__";

/// A name as the query wrote it, without the prefix the rewrite gave a
/// keyword used as a name.
pub(crate) fn plain_name(name: &str) -> &str {
    name.strip_prefix(PLACEHOLDER).unwrap_or(name)
}

/// The query promql-parser reads as Prometheus reads the first `count`
/// tokens of `query`: tokens replaced where needed, comments dropped, each
/// gap a single space.
fn rewrite(query: &str, checked: &Checked, count: usize) -> String {
    let mut out = String::with_capacity(query.len() + 16);
    let mut last = 0;
    for (i, t) in checked.tokens.iter().enumerate().take(count) {
        if t.start > last {
            out.push(' ');
        }
        match checked.replacements.get(&i) {
            Some(text) => out.push_str(text),
            None => out.push_str(query.get(t.start..t.end).unwrap_or("")),
        }
        last = t.end;
    }
    out
}

// ---------------------------------------------------------------------------
// Parsing

/// Parses `query` as Mimir's query-frontend does (`parser.ParseExpr`).
pub fn parse(query: &str) -> Result<Expr, ParseError> {
    let lexed = Lexer::lex(query);
    if lexed.error.is_none() && lexed.tokens.iter().all(|t| t.kind == Kind::Comment) {
        return Err(ParseError::at(query, 0, "no expression found in input"));
    }
    let (checked, found) = check_tokens(query, lexed);
    if let Some(found) = found {
        // A grammar error on an earlier token is met first.
        return Err(unexpected_before(query, &checked, found.trigger)
            .unwrap_or_else(|| ParseError::at(query, found.offset, found.message)));
    }
    let n = checked.tokens.len();
    pp::parse(&rewrite(query, &checked, n)).map_err(|message| {
        unexpected_end(query, &checked)
            .or_else(|| unexpected_before(query, &checked, n))
            .unwrap_or_else(|| translate(query, &checked.tokens, &message))
    })
}

/// Queries longer than this get no search for the grammar error's token.
const SEARCH_LIMIT: usize = 256;

/// Whether the first `count` tokens are a whole expression.
fn parses(query: &str, checked: &Checked, count: usize) -> bool {
    count > 0 && pp::parse(&rewrite(query, checked, count)).is_ok()
}

/// Whether `t` is a binary operator: a symbol or one of [`BINARY_KEYWORDS`].
fn is_binary_op(query: &str, t: &Token) -> bool {
    let word = || query.get(t.start..t.end).unwrap_or("").to_ascii_lowercase();
    t.kind == Kind::Op || (t.kind == Kind::Keyword && BINARY_KEYWORDS.contains(&word().as_str()))
}

/// The generic `unexpected …` of Prometheus' start rule, when the tokens
/// before the first of `limit` that breaks the query form a whole
/// expression and that token cannot follow one (a name, a literal, a brace
/// after anything but a name).
fn unexpected_before(query: &str, checked: &Checked, limit: usize) -> Option<ParseError> {
    let tokens = &checked.tokens;
    if limit > SEARCH_LIMIT {
        return None;
    }
    let text = |t: &Token| query.get(t.start..t.end).unwrap_or("");
    let k = (1..limit.min(tokens.len()))
        .rev()
        .find(|&k| parses(query, checked, k))?;
    let t = &tokens[k];
    if is_binary_op(query, t) {
        // After an operator (and `bool`) an operand must start.
        let mut j = k + 1;
        if tokens
            .get(j)
            .is_some_and(|b| b.kind == Kind::Keyword && text(b).eq_ignore_ascii_case("bool"))
        {
            j += 1;
        }
        let operand = tokens.get(j).filter(|_| j < limit)?;
        let modifier = operand.kind == Kind::Keyword
            && matches!(
                text(operand).to_ascii_lowercase().as_str(),
                "on" | "ignoring" | "group_left" | "group_right"
            );
        return (!modifier && !can_start(query, operand)).then(|| {
            ParseError::at(
                query,
                operand.start,
                format!("unexpected {}", describe(query, Some(operand))),
            )
        });
    }
    let after_name = matches!(tokens[k - 1].kind, Kind::Ident | Kind::MetricIdent | Kind::Keyword);
    let cannot_follow = match t.kind {
        Kind::Ident | Kind::MetricIdent | Kind::Number | Kind::Duration | Kind::Str => true,
        Kind::LeftBrace => !after_name,
        // `limitk` and `limit_ratio` are left to the checks after this one.
        Kind::Keyword => {
            let word = text(t).to_ascii_lowercase();
            AGGREGATORS.contains(&word.as_str()) && !matches!(word.as_str(), "limitk" | "limit_ratio")
        }
        _ => false,
    };
    cannot_follow.then(|| ParseError::at(query, t.start, format!("unexpected {}", describe(query, Some(t)))))
}

/// `unexpected end of input…` when the query stops after an operator or
/// modifier keyword that the whole expression before it needs completed.
fn unexpected_end(query: &str, checked: &Checked) -> Option<ParseError> {
    let tokens = &checked.tokens;
    let text = |t: &Token| query.get(t.start..t.end).unwrap_or("").to_ascii_lowercase();
    let needs_more = |t: &Token| match t.kind {
        Kind::Op | Kind::At => true,
        Kind::Keyword => matches!(
            text(t).as_str(),
            "and"
                | "or"
                | "unless"
                | "atan2"
                | "bool"
                | "offset"
                | "by"
                | "without"
                | "on"
                | "ignoring"
                | "group_left"
                | "group_right"
        ),
        _ => false,
    };
    let last = tokens.last()?;
    let mut k = tokens.len();
    loop {
        if k > 0 && needs_more(&tokens[k - 1]) {
            k -= 1;
        } else if k > 1 && tokens[k - 1].kind == Kind::RightParen {
            // The label list of `on(…)`/`ignoring(…)` before `group_left`.
            let Some(open) = (0..k - 1).rev().find(|&j| tokens[j].kind == Kind::LeftParen) else {
                break;
            };
            if open > 0 && matches!(text(&tokens[open - 1]).as_str(), "on" | "ignoring") {
                k = open - 1;
            } else {
                break;
            }
        } else {
            break;
        }
    }
    if k == tokens.len() || k > SEARCH_LIMIT || (k > 0 && !parses(query, checked, k)) {
        return None;
    }
    let message = match text(last).as_str() {
        "offset" => "unexpected end of input in offset, expected number or duration",
        "by" | "without" | "on" | "ignoring" | "group_left" | "group_right" => {
            "unexpected end of input in grouping opts, expected \"(\""
        }
        _ => "unexpected end of input",
    };
    Some(ParseError::at(query, query.len(), message))
}

/// Parses a Pyroscope `labelSelector` as `parser.ParseMetricSelector` does:
/// one vector selector and nothing else. It skips the parser's type checks,
/// so `{}` (and `{a=~".*"}`) select everything, as on Pyroscope.
pub fn parse_selector(text: &str) -> Result<Vec<Matcher>, ParseError> {
    let Lexed { tokens, error } = Lexer::lex(text);
    let tokens: Vec<Token> = tokens.into_iter().filter(|t| t.kind != Kind::Comment).collect();
    let word = |t: &Token| text.get(t.start..t.end).unwrap_or("");
    // The first grammar error wins over a lexer error further on, which the
    // parser only meets when it asks for the token after the last good one.
    let grammar = |at: usize, message: String| {
        let offset = tokens.get(at).map(|t| t.start).unwrap_or(text.len());
        match &error {
            Some(e) if at >= tokens.len() => ParseError::at(text, e.offset, e.message.clone()),
            _ => ParseError::at(text, offset, message),
        }
    };
    let unexpected = |at: usize| grammar(at, format!("unexpected {}", describe(text, tokens.get(at))));
    let mut matchers = Vec::new();
    let mut i = 0;
    let metric_name = tokens.first().and_then(|t| match t.kind {
        Kind::Ident | Kind::MetricIdent => Some(word(t).to_owned()),
        Kind::Keyword if METRIC_KEYWORDS.contains(&word(t).to_ascii_lowercase().as_str()) => Some(word(t).to_owned()),
        _ => None,
    });
    if metric_name.is_some() {
        i = 1;
    }
    match tokens.get(i).map(|t| t.kind) {
        Some(Kind::LeftBrace) => {
            let (raw, end) = read_braces(text, &tokens, i);
            for m in &raw {
                let (matcher, _) = build_matcher(m).map_err(|message| match &error {
                    Some(e) if m.value_token >= tokens.len() => ParseError::at(text, e.offset, e.message.clone()),
                    _ => ParseError::at(text, m.offset, message),
                })?;
                matchers.push(matcher);
            }
            i = end.map_err(|(at, message)| grammar(at, message))? + 1;
        }
        None if metric_name.is_some() => {}
        _ => return Err(unexpected(i)),
    }
    if i < tokens.len() {
        return Err(unexpected(i));
    }
    if let Some(e) = error {
        return Err(ParseError::at(text, e.offset, e.message));
    }
    if let Some(name) = metric_name {
        matchers.push(Matcher::equal("__name__", name));
    }
    Ok(matchers)
}

/// promql-parser's message in Prometheus' words, at the token it is most
/// likely about (its errors carry no position).
fn translate(query: &str, tokens: &[Token], message: &str) -> ParseError {
    let text = |t: &Token| query.get(t.start..t.end).unwrap_or("");
    let lower = |t: &Token| text(t).to_ascii_lowercase();
    let first = tokens.first().map(|t| t.start).unwrap_or(0);
    let find = |pred: &dyn Fn(usize, &Token) -> bool| {
        tokens
            .iter()
            .enumerate()
            .find(|(i, t)| pred(*i, t))
            .map(|(_, t)| t.start)
            .unwrap_or(first)
    };
    // 'name' → "name", as Go's %q prints it.
    let requote = |s: &str| {
        let mut out = String::new();
        let mut rest = s;
        while let Some(open) = rest.find('\'') {
            let Some(close) = rest[open + 1..].find('\'') else {
                break;
            };
            out.push_str(&rest[..open]);
            out.push_str(&strconv::quote(&rest[open + 1..open + 1 + close]));
            rest = &rest[open + 2 + close..];
        }
        out.push_str(rest);
        out = out.replace(PLACEHOLDER, "");
        // The rewrite renamed 2.54's holt_winters for promql-parser.
        if query.contains("holt_winters") {
            out = out.replace("double_exponential_smoothing", "holt_winters");
        }
        out
    };
    let value_type = |t: &str| {
        match t.trim_matches(|c| c == '\'' || c == '"' || c == ':' || c == ' ') {
            "matrix" => "range vector",
            "vector" => "instant vector",
            other => other,
        }
        .to_owned()
    };
    let is_aggregator = |t: &Token| t.kind == Kind::Keyword && AGGREGATORS.contains(&lower(t).as_str());
    // The `(` of the first aggregation's body, and of a named call.
    let aggregation_body = || {
        tokens
            .iter()
            .enumerate()
            .find(|(_, t)| is_aggregator(t))
            .and_then(|(i, _)| match tokens.get(i + 1) {
                Some(n) if n.kind == Kind::LeftParen => Some(i + 1),
                Some(n) if n.kind == Kind::Keyword => closing_paren(tokens, i + 2).map(|c| c + 1),
                _ => None,
            })
    };
    let call = |name: &str| {
        tokens
            .iter()
            .enumerate()
            .find(|(i, t)| text(t) == name && tokens.get(i + 1).is_some_and(|n| n.kind == Kind::LeftParen))
            .map(|(i, _)| i)
    };
    // The arguments of the call whose `(` is at `open`, as token ranges.
    let arguments = |open: usize| {
        let mut args = Vec::new();
        let mut depth = 0usize;
        let mut start = open + 1;
        for (j, t) in tokens.iter().enumerate().skip(open) {
            match t.kind {
                Kind::LeftParen | Kind::LeftBracket | Kind::LeftBrace => depth += 1,
                Kind::RightParen | Kind::RightBracket | Kind::RightBrace => {
                    depth = depth.saturating_sub(1);
                    if depth == 0 {
                        args.push((start, j));
                        break;
                    }
                }
                Kind::Comma if depth == 1 => {
                    args.push((start, j));
                    start = j + 1;
                }
                _ => {}
            }
        }
        args
    };
    // What an argument's tokens look like it evaluates to.
    let shape = |(a, b): (usize, usize)| {
        let last = b.checked_sub(1).and_then(|l| tokens.get(l));
        match last.map(|t| t.kind) {
            Some(Kind::RightBracket) => "range vector",
            Some(Kind::Str) if b == a + 1 => "string",
            Some(Kind::Number) if b <= a + 2 => "scalar",
            _ => "instant vector",
        }
    };

    if message == "vector selector must contain at least one non-empty matcher" {
        let offset = find(&|i, t| {
            t.kind == Kind::LeftBrace
                && !(i > 0 && matches!(tokens[i - 1].kind, Kind::Ident | Kind::MetricIdent | Kind::Keyword))
        });
        return ParseError::at(query, offset, message);
    }
    if let Some(rest) = message.strip_prefix("metric name must not be set twice: ") {
        let name = rest.split('\'').nth(1).unwrap_or("").trim_start_matches(PLACEHOLDER);
        let offset = find(&|i, t| text(t) == name && tokens.get(i + 1).is_some_and(|n| n.kind == Kind::LeftBrace));
        return ParseError::at(
            query,
            offset,
            format!("metric name must not be set twice: {}", requote(rest)),
        );
    }
    if message.starts_with("no arguments for aggregate expression") {
        let offset = find(&|_, t| is_aggregator(t));
        return ParseError::at(query, offset, "no arguments for aggregate expression provided");
    }
    if let Some(rest) = message.strip_prefix("expected type ") {
        if let Some((want, got)) = rest.split_once(" in aggregation expression, got ") {
            let got = got.split(" in call").next().unwrap_or(got);
            let offset = aggregation_body()
                .and_then(|b| tokens.get(b + 1))
                .map(|t| t.start)
                .unwrap_or(first);
            return ParseError::at(
                query,
                offset,
                format!(
                    "expected type {} in aggregation expression, got {}",
                    value_type(want),
                    value_type(got)
                ),
            );
        }
        // expected type matrix in call to function 'rate', got vector
        let (want, tail) = rest.split_once(" in call to function ").unwrap_or((rest, ""));
        let name = tail.split('\'').nth(1).unwrap_or("");
        let got = value_type(tail.rsplit("got ").next().unwrap_or(""));
        let shown = if query.contains("holt_winters") && name == "double_exponential_smoothing" {
            "holt_winters"
        } else {
            name
        };
        let offset = call(if shown == name { name } else { "holt_winters" })
            .map(|c| {
                let args = arguments(c + 1);
                let arg = args.iter().find(|a| shape(**a) == got).or(args.first()).copied();
                arg.and_then(|(a, _)| tokens.get(a))
                    .map(|t| t.start)
                    .unwrap_or(tokens[c].start)
            })
            .unwrap_or(first);
        return ParseError::at(
            query,
            offset,
            format!(
                "expected type {} in call to function {}, got {got}",
                value_type(want),
                strconv::quote(shown)
            ),
        );
    }
    if message.starts_with("expected ") && message.contains(" argument(s) in call to ") {
        let name = message
            .split('"')
            .nth(1)
            .or_else(|| message.split('\'').nth(1))
            .unwrap_or("");
        let name = if query.contains("holt_winters") && name == "double_exponential_smoothing" {
            "holt_winters"
        } else {
            name
        };
        let offset = call(name).map(|c| tokens[c].start).unwrap_or(first);
        return ParseError::at(query, offset, requote(message));
    }
    if let Some(got) =
        message.strip_prefix("unary expression only allowed on expressions of type scalar or vector, got")
    {
        let offset = find(&|i, t| {
            t.kind == Kind::Op
                && text(t) == "-"
                && (i == 0 || matches!(tokens[i - 1].kind, Kind::Op | Kind::LeftParen | Kind::Comma))
        });
        return ParseError::at(
            query,
            offset,
            format!(
                "unary expression only allowed on expressions of type scalar or instant vector, got {}",
                strconv::quote(&value_type(got))
            ),
        );
    }
    if let Some(rest) = message.strip_prefix("subquery is only allowed on ") {
        // subquery is only allowed on vector, got scalar instead
        let got = rest.split("got ").nth(1).unwrap_or("").trim_end_matches(" instead");
        let offset = tokens
            .iter()
            .position(|t| t.kind == Kind::LeftBracket)
            .filter(|&b| b > 0)
            .map(|b| tokens[operand_start(query, tokens, b - 1)].start)
            .unwrap_or(first);
        return ParseError::at(
            query,
            offset,
            format!(
                "subquery is only allowed on instant vector, got {} instead",
                value_type(got)
            ),
        );
    }
    if message == "comparisons between scalars must use BOOL modifier" {
        let offset = find(&|_, t| t.kind == Kind::Op && matches!(text(t), "==" | "!=" | "<" | "<=" | ">" | ">="));
        return ParseError::at(query, offset, message);
    }
    if message.starts_with("duration must be greater than 0") {
        let offset = find(&|_, t| t.kind == Kind::Duration && go_duration(text(t)).is_err());
        return ParseError::at(query, offset, message);
    }
    if message == "ranges only allowed for vector selectors" {
        return ParseError::at(query, find(&|_, t| t.kind == Kind::LeftBracket), message);
    }
    if message == "binary expression must contain only scalar and instant vector types" {
        // At the first operand next to an operator that is a string or a
        // range.
        let is_op = |t: &Token| is_binary_op(query, t);
        let offset = tokens
            .iter()
            .enumerate()
            .filter(|(_, t)| is_op(t))
            .find_map(|(j, _)| {
                let left = j.checked_sub(1)?;
                if matches!(tokens[left].kind, Kind::Str | Kind::RightBracket) {
                    return Some(tokens[operand_start(query, tokens, left)].start);
                }
                let right = tokens.get(j + 1)?;
                let next_is_range = tokens[j + 1..]
                    .iter()
                    .take_while(|t| !is_op(t))
                    .any(|t| t.kind == Kind::LeftBracket);
                (right.kind == Kind::Str || next_is_range).then_some(right.start)
            })
            .unwrap_or(first);
        return ParseError::at(query, offset, message);
    }
    if message.starts_with("offset modifier must be preceded by") {
        return ParseError::at(
            query,
            first,
            "offset modifier must be preceded by an instant vector selector or range vector selector or a subquery",
        );
    }
    if let Some(rest) = message.strip_prefix("unknown function with name ") {
        let name = rest.trim_matches('\'');
        let offset = find(&|_, t| text(t) == name);
        return ParseError::at(
            query,
            offset,
            format!("unknown function with name {}", strconv::quote(name)),
        );
    }
    ParseError::at(query, first, requote(message))
}

// ---------------------------------------------------------------------------
// Selectors, for the evaluator (lang::promql_eval) and exemplar look-ups

/// The label matchers of a vector selector, its metric name included.
pub(crate) fn selector_matchers(vs: &pp::VectorSelector) -> Vec<Matcher> {
    let mut out: Vec<Matcher> = vs.matchers.matchers.iter().map(convert_matcher).collect();
    if let Some(name) = &vs.name {
        let name = name.strip_prefix(PLACEHOLDER).unwrap_or(name);
        out.push(Matcher::equal("__name__", name));
    }
    out
}

fn convert_matcher(m: &promql_parser::label::Matcher) -> Matcher {
    let op = match &m.op {
        PpMatchOp::Equal => MatchOp::Equal(m.value.clone()),
        PpMatchOp::NotEqual => MatchOp::NotEqual(m.value.clone()),
        PpMatchOp::Re(re) => MatchOp::Regex(re.clone()),
        PpMatchOp::NotRe(re) => MatchOp::NotRegex(re.clone()),
    };
    Matcher {
        name: m.name.clone(),
        op,
    }
}

pub(crate) fn has_or(matchers: &PpMatchers) -> bool {
    !matchers.or_matchers.is_empty()
}

/// Whether the reference stack evaluates `expr` (`lang::promql_eval`), or
/// what it does not; the name callers outside the crate know it by.
pub fn plan(expr: &Expr) -> Result<(), Unserved> {
    super::promql_eval::served(expr)
}

/// Every vector selector's matchers, as Prometheus' `ExtractSelectors`
/// (what `query_exemplars` looks up, whatever the expression around them).
pub fn selectors(expr: &Expr) -> Vec<Vec<Matcher>> {
    let mut out = Vec::new();
    collect_selectors(expr, &mut out);
    out
}

fn collect_selectors(expr: &Expr, out: &mut Vec<Vec<Matcher>>) {
    match expr {
        Expr::VectorSelector(vs) => out.push(selector_matchers(vs)),
        Expr::MatrixSelector(ms) => out.push(selector_matchers(&ms.vs)),
        Expr::Aggregate(a) => {
            collect_selectors(&a.expr, out);
            if let Some(p) = &a.param {
                collect_selectors(p, out);
            }
        }
        Expr::Unary(u) => collect_selectors(&u.expr, out),
        Expr::Binary(b) => {
            collect_selectors(&b.lhs, out);
            collect_selectors(&b.rhs, out);
        }
        Expr::Paren(p) => collect_selectors(&p.expr, out),
        Expr::Subquery(s) => collect_selectors(&s.expr, out),
        Expr::Call(c) => c.args.args.iter().for_each(|a| collect_selectors(a, out)),
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) | Expr::Extension(_) => {}
    }
}

/// A float as Prometheus writes sample values (`strconv.FormatFloat(v,
/// 'f', -1, 64)`).
pub fn format_value(v: f64) -> String {
    strconv::format_float(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lang::matcher::selects;

    fn error(query: &str) -> String {
        match parse(query) {
            Ok(e) => panic!("{query:?} parsed as {e:?}"),
            Err(e) => e.to_string(),
        }
    }

    fn vector(query: &str) -> Vec<Matcher> {
        match parse(query).map(|e| (selectors(&e), e)) {
            Ok((mut sets, Expr::VectorSelector(_))) if sets.len() == 1 => sets.remove(0),
            other => panic!("{query:?}: {other:?}"),
        }
    }

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    // Every expected text below was produced by Prometheus 2.54's
    // `parser.ParseExpr` (the parser Mimir 2.14 vendors).
    #[test]
    fn string_errors_are_prometheus_word_for_word() {
        let cases = [
            (
                r#"up{job="a\-b"}"#,
                "1:8: parse error: unknown escape sequence U+002D '-'",
            ),
            (
                r#"sum(rate(foo{bar="a\-b"}[5m]))"#,
                "1:18: parse error: unknown escape sequence U+002D '-'",
            ),
            (r#"up{job="a"#, "1:8: parse error: unterminated quoted string"),
            ("up{a='abc}", "1:6: parse error: unterminated quoted string"),
            ("up{a=`abc}", "1:6: parse error: unterminated raw string"),
            (r"up{a='a\-b'}", "1:6: parse error: unknown escape sequence U+002D '-'"),
            (
                r#"up{a="\xZZ"}"#,
                "1:6: parse error: illegal character U+005A 'Z' in escape sequence",
            ),
            (
                r#"up{a="\u12"}"#,
                "1:6: parse error: illegal character U+0022 '\"' in escape sequence",
            ),
            (
                r#"up{a="\ud800"}"#,
                "1:6: parse error: escape sequence is an invalid Unicode code point",
            ),
            (
                r#"up{a="\400"}"#,
                "1:6: parse error: escape sequence is an invalid Unicode code point",
            ),
            ("up{a=\"\\", "1:6: parse error: escape sequence not terminated"),
            ("up{a=\"a\nb\"}", "1:6: parse error: unterminated quoted string"),
            (r#"up{a="\é"}"#, "1:6: parse error: unknown escape sequence U+00E9 'é'"),
            ("up{a=\"\\\u{1}\"}", "1:6: parse error: unknown escape sequence U+0001"),
            (r#"up{a="\'"}"#, "1:6: parse error: unknown escape sequence U+0027 '''"),
            (
                "foo\n+ bar{a=\"\\-\"}",
                "2:9: parse error: unknown escape sequence U+002D '-'",
            ),
            (
                r#"label_replace(up, "a", "$1", "b", "\d+")"#,
                "1:35: parse error: unknown escape sequence U+0064 'd'",
            ),
            ("up{a=\"\u{FFFD}\"}", "1:6: parse error: invalid UTF-8 rune"),
        ];
        for (query, want) in cases {
            assert_eq!(error(query), want, "{query:?}");
        }
    }

    #[test]
    fn other_errors_match_prometheus() {
        let cases = [
            ("", "unknown position: parse error: no expression found in input"),
            ("   ", "1:1: parse error: no expression found in input"),
            ("#comment only", "1:1: parse error: no expression found in input"),
            ("up{", "1:4: parse error: unexpected end of input inside braces"),
            (
                "up{a=}",
                "1:6: parse error: unexpected \"}\" in label matching, expected string",
            ),
            (
                "up{a}",
                "1:5: parse error: unexpected \"}\" in label matching, expected label matching operator",
            ),
            (
                "up{a=\"b\" b=\"c\"}",
                "1:10: parse error: unexpected identifier \"b\" in label matching, expected \",\" or \"}\"",
            ),
            ("sum(up", "1:7: parse error: unclosed left parenthesis"),
            ("up}", "1:3: parse error: unexpected character: '}'"),
            (
                "rate(up[5m)",
                "1:11: parse error: unexpected \")\" in subquery or range, expected \":\" or \"]\"",
            ),
            ("rate(up[5x])", "1:9: parse error: bad number or duration syntax: \"5\""),
            (
                "up offset",
                "1:10: parse error: unexpected end of input in offset, expected number or duration",
            ),
            ("1 +", "1:4: parse error: unexpected end of input"),
            ("foo bar", "1:5: parse error: unexpected identifier \"bar\""),
            ("foo bar \"a\\-b\"", "1:5: parse error: unexpected identifier \"bar\""),
            (
                "rate(up)",
                "1:6: parse error: expected type range vector in call to function \"rate\", got instant vector",
            ),
            (
                "{}",
                "1:1: parse error: vector selector must contain at least one non-empty matcher",
            ),
            (
                "{job=~\".*\"}",
                "1:1: parse error: vector selector must contain at least one non-empty matcher",
            ),
            (
                "up{a!~\"(\"}",
                "1:4: parse error: error parsing regexp: missing closing ): `(`",
            ),
            (
                "up{a=~\"a**\"}",
                "1:4: parse error: error parsing regexp: invalid nested repetition operator: `**`",
            ),
            (
                "up{a=~\"x{1001}\"}",
                "1:4: parse error: error parsing regexp: invalid repeat count: `{1001}`",
            ),
            (
                "unknown_fn(up)",
                "1:1: parse error: unknown function with name \"unknown_fn\"",
            ),
            (
                "mad_over_time(up[5m])",
                "1:1: parse error: function \"mad_over_time\" is not enabled",
            ),
            (
                "1 == 1",
                "1:3: parse error: comparisons between scalars must use BOOL modifier",
            ),
            (
                "1e400",
                "1:1: parse error: error parsing number: strconv.ParseFloat: parsing \"1e400\": value out of range",
            ),
            ("up[0s]", "1:4: parse error: duration must be greater than 0"),
            (
                "up{a=\"b\" or c=\"d\"}",
                "1:10: parse error: unexpected identifier \"or\" in label matching, expected \",\" or \"}\"",
            ),
            ("1 +/2", "1:4: parse error: unexpected <op:/>"),
        ];
        for (query, want) in cases {
            assert_eq!(error(query), want, "{query:?}");
        }
    }

    #[test]
    fn a_raw_string_takes_backslashes_and_is_the_regex_as_written() {
        let matchers = vector(r"up{job=~`(.+/)?a\-b`}");
        let job = matchers.iter().find(|m| m.name == "job").expect("job matcher");
        match &job.op {
            MatchOp::Regex(re) => assert_eq!(re.as_str(), r"^(?:(.+/)?a\-b)$"),
            other => panic!("{other:?}"),
        }
        assert!(job.matches(&labels(&[("job", "ns/a-b")])));
        assert!(job.matches(&labels(&[("job", "a-b")])));
        assert!(!job.matches(&labels(&[("job", "xa-b")])), "anchored");
        // A raw string with an escape-like text and a plain one.
        assert!(parse(r"up{job=`a\-b`}").is_ok());
        assert!(parse(r"up{a=`\`}").is_ok());
    }

    #[test]
    fn selectors_become_matchers_with_the_metric_name() {
        let m = vector(r#"{job="x"}"#);
        assert!(selects(&m, &labels(&[("job", "x"), ("__name__", "up")])));
        assert!(!selects(&m, &labels(&[("job", "y")])));
        let m = vector(r#"{__name__="up"}"#);
        assert!(selects(&m, &labels(&[("__name__", "up")])));
        let m = vector(r#"up{job!="a", le=~"0\\.5|1", x!~"y+"}"#);
        assert!(selects(&m, &labels(&[("__name__", "up"), ("job", "b"), ("le", "0.5")])));
        assert!(!selects(
            &m,
            &labels(&[("__name__", "up"), ("job", "b"), ("le", "0x5")])
        ));
        assert!(!selects(&m, &labels(&[("__name__", "down"), ("le", "1")])));
        // Go's octal and \x escapes, and a quoted metric name.
        let m = vector(r#"{"up", a="\101\x42"}"#);
        assert!(selects(&m, &labels(&[("__name__", "up"), ("a", "AB")])));
        // 2.54 reads these as names; promql-parser would take them as keywords.
        let m = vector("smoothed");
        assert!(selects(&m, &labels(&[("__name__", "smoothed")])));
    }

    #[test]
    fn numbers_and_arithmetic_evaluate() {
        use crate::lang::promql_eval::{Samples, Value, instant};
        struct Empty;
        impl Samples for Empty {
            fn select(&self, _: &[Matcher], _: i64, _: i64) -> Vec<(BTreeMap<String, String>, Vec<(i64, f64)>)> {
                Vec::new()
            }
        }
        let eval = |q: &str| instant(&parse(q).unwrap_or_else(|e| panic!("{q:?}: {e}")), &Empty, 0);
        let scalar = |q: &str| match eval(q) {
            Ok(Value::Scalar(v)) => v,
            other => panic!("{q:?}: {other:?}"),
        };
        assert_eq!(scalar("1+1"), 2.0);
        assert_eq!(scalar("2 ^ 3 ^ 2"), 512.0);
        assert_eq!(scalar("-2 ^ 2"), -4.0);
        assert_eq!(scalar("017 + 0x1F + 1_000"), 15.0 + 31.0 + 1000.0);
        assert_eq!(scalar("5m"), 300.0);
        assert_eq!(scalar("1 > bool 2"), 0.0);
        assert_eq!(scalar("(7 % 4) * 2"), 6.0);
        assert!(scalar("NaN").is_nan());
        assert_eq!(format_value(scalar("1/0")), "+Inf");
        assert_eq!(format_value(0.1 + 0.2), "0.30000000000000004");
        assert_eq!(eval(r#""text""#), Ok(Value::String("text".into())));
        for query in [
            "holt_winters(up[5m], 0.5, 0.5)",
            "up[5m:1m]",
            "up offset 5m",
            "topk(1, up)",
        ] {
            let unserved = eval(query).expect_err(query).to_string();
            assert!(
                unserved.starts_with("the reference stack does not evaluate"),
                "{unserved}"
            );
        }
    }

    #[test]
    fn plan_says_what_the_reference_stack_does_not_evaluate() {
        for served in [
            "rate(up[5m])",
            "sum by (job) (up) / 2",
            "-up",
            "histogram_quantile(0.9, sum by (le) (rate(x_bucket[5m])))",
        ] {
            assert_eq!(plan(&parse(served).unwrap()), Ok(()), "{served}");
        }
        for query in [
            "up[5m]",
            "(up[5m])",
            "up offset 5m",
            "holt_winters(up[5m], 0.5, 0.5)",
            "up[5m:1m]",
            "topk(1, up)",
        ] {
            let unserved = plan(&parse(query).unwrap()).expect_err(query).to_string();
            assert!(
                unserved.starts_with("the reference stack does not evaluate"),
                "{unserved}"
            );
            assert_eq!(unserved.matches("does not evaluate").count(), 1, "{unserved}");
        }
    }

    #[test]
    fn exemplar_selectors_are_every_selector_in_the_query() {
        let expr = parse(r#"histogram_quantile(0.9, sum by (le) (rate(x_bucket{job="a"}[5m]))) / y"#).unwrap();
        let sets = selectors(&expr);
        assert_eq!(sets.len(), 2);
        assert!(selects(&sets[0], &labels(&[("__name__", "x_bucket"), ("job", "a")])));
        assert!(selectors(&parse("1+1").unwrap()).is_empty());
    }

    // Expected texts from Prometheus 2.54's `parser.ParseMetricSelector`.
    #[test]
    fn pyroscope_label_selectors() {
        let err = |s: &str| parse_selector(s).expect_err(s).to_string();
        assert_eq!(
            err(r#"{service_name="a\-b"}"#),
            "1:15: parse error: unknown escape sequence U+002D '-'"
        );
        let m = parse_selector(r#"{service_name="svc", pillars_run="r1"}"#).unwrap();
        assert!(selects(&m, &labels(&[("service_name", "svc"), ("pillars_run", "r1")])));
        assert!(!selects(&m, &labels(&[("service_name", "svc"), ("pillars_run", "r2")])));
        // No type checks: empty selectors select everything, as on Pyroscope.
        assert!(parse_selector("{}").unwrap().is_empty());
        assert!(parse_selector(r#"{a=~".*"}"#).is_ok());
        assert_eq!(err(""), "unknown position: parse error: unexpected end of input");
        assert_eq!(err("   "), "1:4: parse error: unexpected end of input");
        assert_eq!(err(r#"{a="b"} + 1"#), "1:9: parse error: unexpected <op:+>");
        assert_eq!(err(r#"{a="b"}[5m]"#), "1:8: parse error: unexpected \"[\"");
        assert_eq!(err("sum(up)"), "1:4: parse error: unexpected \"(\"");
        assert_eq!(err("1"), "1:1: parse error: unexpected number \"1\"");
        assert_eq!(err(r#"{a="b"}}"#), "1:8: parse error: unexpected character: '}'");
        assert_eq!(
            err(r#"{a!~"("}"#),
            "1:2: parse error: error parsing regexp: missing closing ): `(`"
        );
        assert_eq!(
            err(r#"{service_name="svc" pillars_run="r1"}"#),
            "1:21: parse error: unexpected identifier \"pillars_run\" in label matching, expected \",\" or \"}\""
        );
        let m = parse_selector(r#"up{a="b"}"#).unwrap();
        assert!(selects(&m, &labels(&[("__name__", "up"), ("a", "b")])));
    }

    /// Hostile input: nothing may panic, whatever comes back.
    #[test]
    fn no_input_panics() {
        let pieces = [
            "{",
            "}",
            "(",
            ")",
            "[",
            "]",
            "\"",
            "'",
            "`",
            "\\",
            "#",
            "\n",
            "=",
            "=~",
            "!~",
            "!",
            "~",
            ",",
            ":",
            "::",
            "@",
            "+",
            "-",
            "*",
            "/",
            "%",
            "^",
            "==",
            "<=",
            ">",
            "bool",
            "on",
            "by",
            "offset",
            "sum",
            "rate",
            "up",
            "a",
            "0x",
            "1e",
            "1e400",
            "5m",
            "5mm",
            "0s",
            "1_",
            ".",
            "..",
            "inf",
            "nan",
            "\u{FFFD}",
            "é",
            "\u{0}",
            "\\u",
            "\\x",
            "\\U0010FFFF",
            "\\777",
            "`(`",
            "\"(\"",
            "\"\\\\\"",
            "\"a{1001}\"",
            "\"(?x)\"",
            "\"\\\\Q\"",
            "\"[[:x:]]\"",
            "\"\\\\p{\"",
            "limitk",
            "holt_winters",
            "smoothed",
            "group_left",
            "atan2",
            "start()",
        ];
        let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for round in 0..600 {
            let len = (next() % 12) as usize + usize::from(round % 50 == 0) * 200;
            let query: String = (0..len)
                .map(|_| pieces[(next() % pieces.len() as u64) as usize])
                .collect();
            let _ = parse(&query).map(|e| selectors(&e).len());
            let _ = parse_selector(&query);
        }
        for query in [
            "{".repeat(300),
            "(".repeat(300),
            format!("up{{a=~\"{}\"}}", "(".repeat(2000)),
            format!("{}up{}", "(".repeat(500), ")".repeat(500)),
            format!("up{{a=\"{}\"}}", "\\x".repeat(100)),
            "1".repeat(5000),
            "-".repeat(1000) + "1",
        ] {
            let _ = parse(&query);
            let _ = parse_selector(&query);
        }
    }
}
