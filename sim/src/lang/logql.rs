//! LogQL as Loki 3.3.2 reads it (`pkg/logql/syntax`): its lexer, a
//! recursive-descent parser for the whole grammar (log and metric
//! queries), its post-parse validation, and an evaluator for the log
//! queries the reference stack serves (metric queries in `metric`). Upstream: Loki v3.3.2
//! `pkg/logql/syntax/{lex.go,expr.y,parser.go}`, `pkg/logqlmodel/error.go`;
//! `shared/reference/api/09-query-strings.md` and `05-loki.md`.
//!
//! What Loki rejects is rejected here with its message and position:
//! `parse error at line L, col C: MSG`, or `parse error : MSG` for the
//! position-less validation and grammar-action errors. Syntax errors name
//! the unexpected token as goyacc does and list what was expected when the
//! parser state Loki would be in shifts at most four tokens (goyacc's
//! rule); the states were derived by hand from the grammar, not from
//! Loki's tables. Valid LogQL the reference stack does not evaluate
//! (most metric queries, `| unpack`, `| regexp`, templates, `ip()`, …) is
//! [`ParseError::Unserved`]: Loki would accept it, so it is neither a 400
//! nor a guess.
//!
//! The Go behaviour LogQL leans on (Go's `strconv` quoting and floats,
//! `time.ParseDuration`, Prometheus' `model.ParseDuration` and
//! `strutil.Unquote`, go-humanize's `ParseBytes`, RE2 regexp syntax) is
//! the crate's one copy in `go`, written from Go's BSD-licensed standard
//! library and the upstream behaviour; nothing is copied from Loki (AGPL).
//!
//! Uses: `lang::scanner` (Go's `text/scanner`), `lang::matcher`, `go`.

use std::collections::BTreeMap;
use std::fmt;

use regex::Regex;

use super::matcher::{Matcher, selects};
use super::scanner::{Mode, Scanner, Tok, go_ident};
use crate::go::fmt::percent_f;
use crate::go::{humanize, model, regexp, strconv, time};

/// Loki's `maxInputSize`: longer queries are refused before lexing.
const MAX_INPUT_SIZE: usize = 131072;
/// Deeper nesting than this is refused as unserved rather than risking
/// the stack; Loki's own parser is table-driven and has no such limit.
const MAX_DEPTH: usize = 64;
/// `max_entries_limit_per_query`'s default, for callers.
pub const MAX_ENTRIES_LIMIT: u32 = 5000;

type Labels = BTreeMap<String, String>;

pub mod metric;

/// Why a query is not run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    /// What Loki answers 400 with; `Display` is Loki's exact text.
    Invalid { line: usize, col: usize, msg: String },
    /// Valid LogQL that the reference stack does not evaluate (a 501).
    Unserved { kind: QueryKind, what: String },
}

/// Whether an unserved query is a log or a metric query: Loki checks a
/// log query's `limit` before running it, a metric query's not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueryKind {
    Log,
    Metric,
}

impl ParseError {
    fn at(line: usize, col: usize, msg: impl Into<String>) -> ParseError {
        ParseError::Invalid {
            line,
            col,
            msg: msg.into(),
        }
    }

    /// A position-less error (Loki's `NewParseError(msg, 0, 0)`).
    pub fn bare(msg: impl Into<String>) -> ParseError {
        ParseError::at(0, 0, msg)
    }

    fn unserved(kind: QueryKind, what: impl Into<String>) -> ParseError {
        ParseError::Unserved {
            kind,
            what: what.into(),
        }
    }

    pub fn is_unserved(&self) -> bool {
        matches!(self, ParseError::Unserved { .. })
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::Invalid { line: 0, col: 0, msg } => write!(f, "parse error : {msg}"),
            ParseError::Invalid { line, col, msg } => write!(f, "parse error at line {line}, col {col}: {msg}"),
            ParseError::Unserved {
                kind: QueryKind::Metric,
                what,
            } => write!(
                f,
                "the embedded reference stack serves log queries and some metric queries only: {what} is valid LogQL that Loki evaluates, but the reference stack does not"
            ),
            ParseError::Unserved {
                kind: QueryKind::Log,
                what,
            } => write!(
                f,
                "the embedded reference stack does not evaluate {what}: it is valid LogQL that Loki accepts, so it is refused rather than guessed at"
            ),
        }
    }
}

impl std::error::Error for ParseError {}

// ---------------------------------------------------------------------------
// Tokens
// ---------------------------------------------------------------------------

/// Loki's yacc tokens, in their internal numbering (the order goyacc
/// lists expected tokens in).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    End,
    Bytes,
    Identifier,
    Str,
    Number,
    ParserFlag,
    Duration,
    Range,
    Eq,
    Re,
    Nre,
    Npa,
    OpenBrace,
    CloseBrace,
    OpenBracket,
    CloseBracket,
    Comma,
    Dot,
    PipeMatch,
    PipeExact,
    PipePattern,
    OpenParen,
    CloseParen,
    By,
    Without,
    CountOverTime,
    Rate,
    RateCounter,
    Sum,
    Sort,
    SortDesc,
    Avg,
    Max,
    Min,
    Count,
    Stddev,
    Stdvar,
    Bottomk,
    Topk,
    ApproxTopk,
    BytesOverTime,
    BytesRate,
    Bool,
    Json,
    Regexp,
    Logfmt,
    Pipe,
    LineFmt,
    LabelFmt,
    Unwrap,
    AvgOverTime,
    SumOverTime,
    MinOverTime,
    MaxOverTime,
    StdvarOverTime,
    StddevOverTime,
    QuantileOverTime,
    BytesConv,
    DurationConv,
    DurationSecondsConv,
    FirstOverTime,
    LastOverTime,
    AbsentOverTime,
    Vector,
    LabelReplace,
    Unpack,
    Offset,
    Pattern,
    Ip,
    On,
    Ignoring,
    GroupLeft,
    GroupRight,
    Decolorize,
    Drop,
    Keep,
    Or,
    And,
    Unless,
    CmpEq,
    Neq,
    Lt,
    Lte,
    Gt,
    Gte,
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Pow,
}

use Kind as K;

/// Every token in numbering order, with its display name: the `tokens`
/// table's string where Loki's `init` put one, else the yacc name.
const KINDS: &[(Kind, &str)] = &[
    (K::End, "$end"),
    (K::Bytes, "BYTES"),
    (K::Identifier, "IDENTIFIER"),
    (K::Str, "STRING"),
    (K::Number, "NUMBER"),
    (K::ParserFlag, "PARSER_FLAG"),
    (K::Duration, "DURATION"),
    (K::Range, "RANGE"),
    (K::Eq, "="),
    (K::Re, "=~"),
    (K::Nre, "!~"),
    (K::Npa, "!>"),
    (K::OpenBrace, "{"),
    (K::CloseBrace, "}"),
    (K::OpenBracket, "["),
    (K::CloseBracket, "]"),
    (K::Comma, ","),
    (K::Dot, "."),
    (K::PipeMatch, "|~"),
    (K::PipeExact, "|="),
    (K::PipePattern, "|>"),
    (K::OpenParen, "("),
    (K::CloseParen, ")"),
    (K::By, "by"),
    (K::Without, "without"),
    (K::CountOverTime, "COUNT_OVER_TIME"),
    (K::Rate, "RATE"),
    (K::RateCounter, "RATE_COUNTER"),
    (K::Sum, "SUM"),
    (K::Sort, "SORT"),
    (K::SortDesc, "SORT_DESC"),
    (K::Avg, "AVG"),
    (K::Max, "MAX"),
    (K::Min, "MIN"),
    (K::Count, "COUNT"),
    (K::Stddev, "STDDEV"),
    (K::Stdvar, "STDVAR"),
    (K::Bottomk, "BOTTOMK"),
    (K::Topk, "TOPK"),
    (K::ApproxTopk, "APPROX_TOPK"),
    (K::BytesOverTime, "BYTES_OVER_TIME"),
    (K::BytesRate, "BYTES_RATE"),
    (K::Bool, "bool"),
    (K::Json, "json"),
    (K::Regexp, "regexp"),
    (K::Logfmt, "logfmt"),
    (K::Pipe, "|"),
    (K::LineFmt, "line_format"),
    (K::LabelFmt, "label_format"),
    (K::Unwrap, "unwrap"),
    (K::AvgOverTime, "AVG_OVER_TIME"),
    (K::SumOverTime, "SUM_OVER_TIME"),
    (K::MinOverTime, "MIN_OVER_TIME"),
    (K::MaxOverTime, "MAX_OVER_TIME"),
    (K::StdvarOverTime, "STDVAR_OVER_TIME"),
    (K::StddevOverTime, "STDDEV_OVER_TIME"),
    (K::QuantileOverTime, "QUANTILE_OVER_TIME"),
    (K::BytesConv, "BYTES_CONV"),
    (K::DurationConv, "DURATION_CONV"),
    (K::DurationSecondsConv, "DURATION_SECONDS_CONV"),
    (K::FirstOverTime, "FIRST_OVER_TIME"),
    (K::LastOverTime, "LAST_OVER_TIME"),
    (K::AbsentOverTime, "ABSENT_OVER_TIME"),
    (K::Vector, "VECTOR"),
    (K::LabelReplace, "label_replace"),
    (K::Unpack, "unpack"),
    (K::Offset, "offset"),
    (K::Pattern, "pattern"),
    (K::Ip, "ip"),
    (K::On, "on"),
    (K::Ignoring, "ignoring"),
    (K::GroupLeft, "group_left"),
    (K::GroupRight, "group_right"),
    (K::Decolorize, "decolorize"),
    (K::Drop, "drop"),
    (K::Keep, "keep"),
    (K::Or, "or"),
    (K::And, "and"),
    (K::Unless, "unless"),
    (K::CmpEq, "=="),
    (K::Neq, "!="),
    (K::Lt, "<"),
    (K::Lte, "<="),
    (K::Gt, ">"),
    (K::Gte, ">="),
    (K::Add, "+"),
    (K::Sub, "-"),
    (K::Mul, "*"),
    (K::Div, "/"),
    (K::Mod, "%"),
    (K::Pow, "^"),
];

impl Kind {
    fn rank(self) -> usize {
        KINDS.iter().position(|(k, _)| *k == self).unwrap_or(usize::MAX)
    }

    fn display(self) -> &'static str {
        KINDS
            .iter()
            .find(|(k, _)| *k == self)
            .map(|(_, name)| *name)
            .unwrap_or("$unk")
    }

    fn is_line_filter(self) -> bool {
        matches!(
            self,
            K::PipeExact | K::PipeMatch | K::PipePattern | K::Neq | K::Nre | K::Npa
        )
    }

    fn is_range_op(self) -> bool {
        matches!(
            self,
            K::CountOverTime
                | K::Rate
                | K::RateCounter
                | K::BytesOverTime
                | K::BytesRate
                | K::AvgOverTime
                | K::SumOverTime
                | K::MinOverTime
                | K::MaxOverTime
                | K::StdvarOverTime
                | K::StddevOverTime
                | K::QuantileOverTime
                | K::FirstOverTime
                | K::LastOverTime
                | K::AbsentOverTime
        )
    }

    fn is_vector_op(self) -> bool {
        matches!(
            self,
            K::Sum
                | K::Avg
                | K::Count
                | K::Max
                | K::Min
                | K::Stddev
                | K::Stdvar
                | K::Bottomk
                | K::Topk
                | K::Sort
                | K::SortDesc
                | K::ApproxTopk
        )
    }

    /// Binary operators: precedence (yacc's `%left`/`%right` order) and
    /// whether it associates to the right, with Loki's operator text.
    fn binop(self) -> Option<(u8, bool, &'static str)> {
        Some(match self {
            K::Or => (1, false, "or"),
            K::And => (2, false, "and"),
            K::Unless => (2, false, "unless"),
            K::CmpEq => (3, false, "=="),
            K::Neq => (3, false, "!="),
            K::Lt => (3, false, "<"),
            K::Lte => (3, false, "<="),
            K::Gt => (3, false, ">"),
            K::Gte => (3, false, ">="),
            K::Add => (4, false, "+"),
            K::Sub => (4, false, "-"),
            K::Mul => (5, false, "*"),
            K::Div => (5, false, "/"),
            K::Mod => (5, false, "%"),
            K::Pow => (6, true, "^"),
            _ => return None,
        })
    }
}

/// Lex's `tokens` table: always keywords, matched lower-cased.
fn table_token(text: &str) -> Option<Kind> {
    Some(match text {
        "," => K::Comma,
        "." => K::Dot,
        "{" => K::OpenBrace,
        "}" => K::CloseBrace,
        "=" => K::Eq,
        "!=" => K::Neq,
        "=~" => K::Re,
        "!~" => K::Nre,
        "!>" => K::Npa,
        "|=" => K::PipeExact,
        "|~" => K::PipeMatch,
        "|>" => K::PipePattern,
        "|" => K::Pipe,
        "unwrap" => K::Unwrap,
        "(" => K::OpenParen,
        ")" => K::CloseParen,
        "by" => K::By,
        "without" => K::Without,
        "bool" => K::Bool,
        "[" => K::OpenBracket,
        "]" => K::CloseBracket,
        "label_replace" => K::LabelReplace,
        "offset" => K::Offset,
        "on" => K::On,
        "ignoring" => K::Ignoring,
        "group_left" => K::GroupLeft,
        "group_right" => K::GroupRight,
        "or" => K::Or,
        "and" => K::And,
        "unless" => K::Unless,
        "+" => K::Add,
        "-" => K::Sub,
        "*" => K::Mul,
        "/" => K::Div,
        "%" => K::Mod,
        "^" => K::Pow,
        "==" => K::CmpEq,
        ">" => K::Gt,
        ">=" => K::Gte,
        "<" => K::Lt,
        "<=" => K::Lte,
        "json" => K::Json,
        "regexp" => K::Regexp,
        "logfmt" => K::Logfmt,
        "unpack" => K::Unpack,
        "pattern" => K::Pattern,
        "label_format" => K::LabelFmt,
        "line_format" => K::LineFmt,
        "ip" => K::Ip,
        "decolorize" => K::Decolorize,
        "drop" => K::Drop,
        "keep" => K::Keep,
        _ => return None,
    })
}

/// Lex's `functionTokens`: keywords only when a `(` (or `by`/`without`
/// and a `(`) follows.
fn function_token(text: &str) -> Option<Kind> {
    Some(match text {
        "rate" => K::Rate,
        "rate_counter" => K::RateCounter,
        "count_over_time" => K::CountOverTime,
        "bytes_rate" => K::BytesRate,
        "bytes_over_time" => K::BytesOverTime,
        "avg_over_time" => K::AvgOverTime,
        "sum_over_time" => K::SumOverTime,
        "min_over_time" => K::MinOverTime,
        "max_over_time" => K::MaxOverTime,
        "stdvar_over_time" => K::StdvarOverTime,
        "stddev_over_time" => K::StddevOverTime,
        "quantile_over_time" => K::QuantileOverTime,
        "first_over_time" => K::FirstOverTime,
        "last_over_time" => K::LastOverTime,
        "absent_over_time" => K::AbsentOverTime,
        "vector" => K::Vector,
        "sum" => K::Sum,
        "avg" => K::Avg,
        "max" => K::Max,
        "min" => K::Min,
        "count" => K::Count,
        "stddev" => K::Stddev,
        "stdvar" => K::Stdvar,
        "bottomk" => K::Bottomk,
        "topk" => K::Topk,
        "sort" => K::Sort,
        "sort_desc" => K::SortDesc,
        "label_replace" => K::LabelReplace,
        "approx_topk" => K::ApproxTopk,
        "bytes" => K::BytesConv,
        "duration" => K::DurationConv,
        "duration_seconds" => K::DurationSecondsConv,
        "ip" => K::Ip,
        _ => return None,
    })
}

#[derive(Debug, Clone)]
struct Token {
    kind: Kind,
    /// IDENTIFIER and NUMBER text, a STRING's unquoted value, a flag.
    text: String,
    /// DURATION and RANGE, in nanoseconds.
    nanos: i64,
    bytes: u64,
    line: usize,
    col: usize,
}

// ---------------------------------------------------------------------------
// Lexer (Loki's `lex.go` `Lex`)
// ---------------------------------------------------------------------------

/// Which characters a look-ahead run takes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Run {
    Duration,
    Bytes,
    Flag,
}

impl Run {
    fn takes(self, c: char) -> bool {
        match self {
            Run::Duration => c.is_numeric() || matches!(c, 'n' | 'u' | 'µ' | 'm' | 's' | 'h' | 'd' | 'w' | 'y' | '.'),
            Run::Bytes => c.is_numeric() || matches!(c, 'B' | 'i' | 'k' | 'K' | 'M' | 'G' | 'T' | 'P' | '.'),
            Run::Flag => c.is_alphabetic() || c == '-',
        }
    }
}

struct Lexer<'a> {
    src: &'a str,
    sc: Scanner<'a>,
    /// Every error in the order it was raised; Loki reports the first.
    errors: Vec<ParseError>,
    /// Byte offsets of NUL characters, which Go's scanner reports even
    /// when only a look-ahead copy of it reads them.
    nuls: Vec<usize>,
    /// The last look-ahead run per kind, `(start, end)`: a run's end is
    /// the same from anywhere inside it, which keeps lexing linear.
    runs: [(Run, usize, usize); 3],
}

impl<'a> Lexer<'a> {
    fn new(src: &'a str) -> Lexer<'a> {
        Lexer {
            src,
            sc: Scanner::new(src, Mode::GO_TOKENS, go_ident),
            errors: Vec::new(),
            nuls: src.match_indices('\0').map(|(i, _)| i).collect(),
            runs: [(Run::Duration, 0, 0), (Run::Bytes, 0, 0), (Run::Flag, 0, 0)],
        }
    }

    /// Moves the scanner's errors into the ordered list.
    fn sync(&mut self) {
        for e in self.sc.errors.drain(..) {
            self.errors.push(ParseError::at(e.line, e.column, e.message));
        }
    }

    /// A lexer error at the current token position (Loki's `l.Error`).
    fn error(&mut self, msg: impl Into<String>) {
        self.sync();
        let (line, col) = (self.sc.token_line, self.sc.token_column);
        self.errors.push(ParseError::at(line, col, msg));
    }

    fn token(&self, kind: Kind) -> Token {
        Token {
            kind,
            text: String::new(),
            nanos: 0,
            bytes: 0,
            line: self.sc.token_line,
            col: self.sc.token_column,
        }
    }

    fn offset_of(&self, text: &str) -> usize {
        (text.as_ptr() as usize).saturating_sub(self.src.as_ptr() as usize)
    }

    /// End of the run of `kind` characters starting at byte `from`.
    fn run_end(&mut self, kind: Run, from: usize) -> usize {
        let slot = kind as usize;
        let (_, start, end) = self.runs[slot];
        if from >= start && from < end {
            return end;
        }
        let rest = self.src.get(from..).unwrap_or("");
        let len = rest.find(|c: char| !kind.takes(c)).unwrap_or(rest.len());
        self.runs[slot] = (kind, from, from + len);
        from + len
    }

    /// Go's look-ahead copies share the scanner's error callback: a NUL
    /// a copy reads is reported at the current token.
    fn nul_read_by_copy(&mut self, at: usize) {
        if self.nuls.binary_search(&at).is_ok() {
            self.error("invalid character NUL");
        }
    }

    fn nul_ahead(&mut self, from: usize) {
        let i = self.nuls.partition_point(|&n| n < from);
        if i < self.nuls.len() {
            self.error("invalid character NUL");
        }
    }

    /// Consumes the characters of `src[from..to]` with `Next`.
    fn consume(&mut self, from: usize, to: usize) {
        let n = self.src.get(from..to).map(|s| s.chars().count()).unwrap_or(0);
        for _ in 0..n {
            self.sc.next();
        }
        self.sync();
    }

    /// `tryScanDuration`: the number (or `-`) and the duration-ish
    /// characters right after it, when they parse as a duration.
    fn try_duration(&mut self, prefix: &str, end: usize) -> Option<i64> {
        self.try_suffixed(Run::Duration, prefix, end, parse_duration_either)
    }

    /// `tryScanBytes`, the same with byte-size characters.
    fn try_bytes(&mut self, number: &str, end: usize) -> Option<u64> {
        self.try_suffixed(Run::Bytes, number, end, humanize::parse_bytes)
    }

    /// `prefix` and the run of `kind` characters after `end`, consumed
    /// when `parse` takes them.
    fn try_suffixed<T>(
        &mut self,
        kind: Run,
        prefix: &str,
        end: usize,
        parse: fn(&str) -> Result<T, String>,
    ) -> Option<T> {
        let run = self.run_end(kind, end);
        if run == end {
            return None;
        }
        self.nul_read_by_copy(run);
        let text = format!("{prefix}{}", self.src.get(end..run).unwrap_or(""));
        let value = parse(&text).ok()?;
        self.consume(end, run);
        Some(value)
    }

    /// `tryScanFlag`: `--strict` and `--keep-empty`, exactly.
    fn try_flag(&mut self, end: usize) -> Option<String> {
        let run = self.run_end(Run::Flag, end);
        if run > end {
            self.nul_read_by_copy(run);
        }
        let flag = format!("-{}", self.src.get(end..run).unwrap_or(""));
        if flag != "--strict" && flag != "--keep-empty" {
            return None;
        }
        self.consume(end, run);
        Some(flag)
    }

    /// `isFunction`: is the next text `(`, or `by`/`without` then `(`?
    fn is_function(&mut self, end: usize) -> bool {
        let rest = self.src.get(end..).unwrap_or("");
        let rest = rest.trim_start_matches(char::is_whitespace);
        if rest.starts_with('(') {
            return true;
        }
        let lower: String = rest.chars().take(7).collect::<String>().to_lowercase();
        for word in ["by", "without"] {
            if lower.starts_with(word) {
                let after = rest.get(word.len()..).unwrap_or("");
                return after.trim_start_matches(char::is_whitespace).starts_with('(');
            }
        }
        // Go's copy reads on to the end of the input.
        self.nul_ahead(end + 1);
        false
    }

    fn lex(&mut self) -> Token {
        loop {
            let tok = self.sc.scan();
            self.sync();
            let text = self.sc.token_text();
            let end = self.offset_of(text) + text.len();
            match tok {
                Tok::Other('#') => {
                    // A comment to the end of the line.
                    let mut next = self.sc.peek();
                    while !matches!(next, Some('\n') | None) {
                        next = self.sc.next();
                    }
                    self.sync();
                    continue;
                }
                Tok::Eof => return self.token(K::End),
                Tok::Int | Tok::Float => {
                    if let Some(nanos) = self.try_duration(text, end) {
                        return Token {
                            nanos,
                            ..self.token(K::Duration)
                        };
                    }
                    if let Some(bytes) = self.try_bytes(text, end) {
                        return Token {
                            bytes,
                            ..self.token(K::Bytes)
                        };
                    }
                    return Token {
                        text: text.to_owned(),
                        ..self.token(K::Number)
                    };
                }
                Tok::Other('-') => {
                    if self.sc.peek() == Some('-')
                        && let Some(flag) = self.try_flag(end)
                    {
                        return Token {
                            text: flag,
                            ..self.token(K::ParserFlag)
                        };
                    }
                    if let Some(nanos) = self.try_duration("-", end) {
                        return Token {
                            nanos,
                            ..self.token(K::Duration)
                        };
                    }
                }
                Tok::String | Tok::RawString => match strconv::unquote_strutil(text) {
                    Some(value) => {
                        return Token {
                            text: value,
                            ..self.token(K::Str)
                        };
                    }
                    None => {
                        self.error("invalid syntax");
                        return self.token(K::End);
                    }
                },
                Tok::Other('[') => return self.range(),
                _ => {}
            }
            let lower = text.to_lowercase();
            if let Some(kind) = function_token(&lower) {
                if !self.is_function(end) {
                    return Token {
                        text: text.to_owned(),
                        ..self.token(K::Identifier)
                    };
                }
                return self.token(kind);
            }
            if let Some(next) = self.sc.peek() {
                let pair = format!("{lower}{}", next.to_lowercase());
                if let Some(kind) = table_token(&pair) {
                    self.sc.next();
                    self.sync();
                    return self.token(kind);
                }
            }
            if let Some(kind) = table_token(&lower) {
                return self.token(kind);
            }
            // Any other character, a char literal included, is an
            // IDENTIFIER: `$unk` never occurs.
            return Token {
                text: text.to_owned(),
                ..self.token(K::Identifier)
            };
        }
    }

    /// `[duration]`, read raw up to `]`.
    fn range(&mut self) -> Token {
        let mut inner = String::new();
        while let Some(c) = self.sc.next() {
            if c == ']' {
                self.sync();
                return match model::parse_duration(&inner) {
                    Ok(nanos) => Token {
                        nanos: nanos as i64,
                        ..self.token(K::Range)
                    },
                    Err(e) => {
                        self.error(e);
                        self.token(K::End)
                    }
                };
            }
            inner.push(c);
        }
        self.error("missing closing ']' in duration");
        self.token(K::End)
    }
}

// ---------------------------------------------------------------------------
// Parsed pipeline stages
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LineType {
    Contains,
    NotContains,
    Matches,
    NotMatches,
    Pattern,
    NotPattern,
}

impl LineType {
    fn text(self) -> &'static str {
        match self {
            LineType::Contains => "|=",
            LineType::NotContains => "!=",
            LineType::Matches => "|~",
            LineType::NotMatches => "!~",
            LineType::Pattern => "|>",
            LineType::NotPattern => "!>",
        }
    }

    fn negated(self) -> bool {
        matches!(
            self,
            LineType::NotContains | LineType::NotMatches | LineType::NotPattern
        )
    }
}

/// One alternative of a line filter's `or` chain.
#[derive(Debug, Clone)]
struct LineAlt {
    value: String,
    ip: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cmp {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
}

impl Cmp {
    fn holds<T: PartialOrd>(self, a: T, b: T) -> bool {
        match self {
            Cmp::Eq => a == b,
            Cmp::Ne => a != b,
            Cmp::Gt => a > b,
            Cmp::Ge => a >= b,
            Cmp::Lt => a < b,
            Cmp::Le => a <= b,
        }
    }
}

/// A label filter: `and` (`,` and juxtaposition too) and `or` flattened.
#[derive(Debug, Clone)]
enum Filter {
    All(Vec<Filter>),
    Any(Vec<Filter>),
    Str(Matcher),
    Number {
        name: String,
        cmp: Cmp,
        value: f64,
    },
    Duration {
        name: String,
        cmp: Cmp,
        nanos: i64,
    },
    Bytes {
        name: String,
        cmp: Cmp,
        bytes: u64,
    },
    /// `ip("…")`: parsed, not evaluated (the query is unserved).
    Ip,
}

/// A `drop`/`keep` item: a name, or a matcher on the value.
#[derive(Debug, Clone)]
enum LabelRef {
    Name(String),
    Matcher(Matcher),
}

#[derive(Debug, Clone)]
enum Stage {
    Line {
        ty: LineType,
        alts: Vec<LineAlt>,
        /// Compiled `|~`/`!~` alternatives (empty when one is invalid:
        /// the query then answers its stage error).
        regexes: Vec<Regex>,
    },
    Json,
    Logfmt {
        keep_empty: bool,
    },
    Decolorize,
    LabelFilter(Filter),
    /// `| label_format NAME=`{{ contains "TEXT" __line__ }}``, the one
    /// template Grafana's trace-to-logs link uses.
    LabelContains(Vec<(String, String)>),
    Drop(Vec<LabelRef>),
    Keep(Vec<LabelRef>),
    /// A stage the query is unserved for; never evaluated.
    Unserved,
}

// ---------------------------------------------------------------------------
// Parser (expr.y, by recursive descent)
// ---------------------------------------------------------------------------

/// A parsed expression, only as far as validation and serving need it.
enum Node {
    Log(LogAst),
    Literal {
        value: f64,
        err: Option<ParseError>,
    },
    /// Any other metric expression: what it is, and the first validation
    /// error in Loki's tree order.
    Metric {
        what: String,
        err: Option<ParseError>,
    },
    /// A metric expression the reference stack evaluates.
    Served {
        plan: Box<metric::Plan>,
        what: String,
        err: Option<ParseError>,
    },
}

struct LogAst {
    /// `None` for `{}`.
    selector: Option<Vec<Matcher>>,
    stages: Vec<Stage>,
    piped: bool,
}

impl Node {
    fn validation_error(&self) -> Option<ParseError> {
        match self {
            Node::Log(log) => validate_selector(log.selector.as_deref()),
            Node::Literal { err, .. } | Node::Metric { err, .. } | Node::Served { err, .. } => err.clone(),
        }
    }

    fn what(&self) -> String {
        match self {
            Node::Log(_) => "a log query".into(),
            Node::Literal { .. } => "a literal expression".into(),
            Node::Metric { what, .. } | Node::Served { what, .. } => what.clone(),
        }
    }
}

const QUERIES_NEED_A_MATCHER: &str = "queries require at least one regexp or equality matcher that does not have an empty-compatible value. For instance, app=~\".*\" does not meet this requirement, but app=~\".+\" will";

/// `validateMatchers`: a selector needs a matcher that rejects "".
fn validate_selector(selector: Option<&[Matcher]>) -> Option<ParseError> {
    let ok = selector.is_some_and(|ms| ms.iter().any(|m| !m.op.matches("")));
    (!ok).then(|| ParseError::bare(QUERIES_NEED_A_MATCHER))
}

/// Parsing stopped: a syntax error was recorded or a grammar action failed.
struct Stop;
type PResult<T> = Result<T, Stop>;

struct Parser<'a> {
    lx: Lexer<'a>,
    tok: Option<Token>,
    /// A failure in a grammar action (Loki panics there): it replaces
    /// any error recorded before it.
    fatal: Option<ParseError>,
    depth: usize,
    /// The first log-query construct the reference stack does not
    /// evaluate.
    unserved: Option<String>,
}

impl<'a> Parser<'a> {
    fn new(src: &'a str) -> Parser<'a> {
        Parser {
            lx: Lexer::new(src),
            tok: None,
            fatal: None,
            depth: 0,
            unserved: None,
        }
    }

    fn peek(&mut self) -> &Token {
        let lx = &mut self.lx;
        self.tok.get_or_insert_with(|| lx.lex())
    }

    fn kind(&mut self) -> Kind {
        self.peek().kind
    }

    fn take(&mut self) -> Token {
        match self.tok.take() {
            Some(t) => t,
            None => self.lx.lex(),
        }
    }

    fn eat(&mut self, kind: Kind) -> bool {
        let hit = self.kind() == kind;
        if hit {
            self.take();
        }
        hit
    }

    /// goyacc's message for the look-ahead, given the tokens the parser
    /// state would shift (listed only when there are at most four).
    fn syntax_error(&mut self, shifts: &[Kind]) -> Stop {
        let (kind, line, col) = {
            let t = self.peek();
            (t.kind, t.line, t.col)
        };
        let mut msg = format!("syntax error: unexpected {}", kind.display());
        let mut expected = shifts.to_vec();
        expected.sort_by_key(|k| k.rank());
        expected.dedup();
        if !expected.is_empty() && expected.len() <= 4 {
            let names: Vec<&str> = expected.iter().map(|k| k.display()).collect();
            msg.push_str(", expecting ");
            msg.push_str(&names.join(" or "));
        }
        self.lx.errors.push(ParseError::at(line, col, msg));
        Stop
    }

    fn expect(&mut self, kind: Kind, shifts: &[Kind]) -> PResult<Token> {
        if self.kind() == kind {
            Ok(self.take())
        } else {
            Err(self.syntax_error(shifts))
        }
    }

    fn fail(&mut self, err: ParseError) -> Stop {
        if self.fatal.is_none() {
            self.fatal = Some(err);
        }
        Stop
    }

    fn enter(&mut self) -> PResult<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            let err = ParseError::unserved(
                QueryKind::Metric,
                format!("an expression nested deeper than {MAX_DEPTH} levels"),
            );
            return Err(self.fail(err));
        }
        Ok(())
    }

    fn leave(&mut self) {
        self.depth = self.depth.saturating_sub(1);
    }

    fn unserved(&mut self, what: impl Into<String>) {
        if self.unserved.is_none() {
            self.unserved = Some(what.into());
        }
    }

    // --- expressions -------------------------------------------------------

    fn root(&mut self) -> PResult<Node> {
        let node = self.expr(0)?;
        if self.kind() != K::End {
            return Err(self.syntax_error(&[]));
        }
        Ok(node)
    }

    fn expr(&mut self, min_prec: u8) -> PResult<Node> {
        self.enter()?;
        let left = self.operand()?;
        let node = self.expr_rest(left, min_prec)?;
        self.leave();
        Ok(node)
    }

    /// Precedence climbing over `expr OP binOpModifier expr`.
    fn expr_rest(&mut self, mut left: Node, min_prec: u8) -> PResult<Node> {
        while let Some((prec, right_assoc, op)) = self.kind().binop() {
            if prec < min_prec {
                break;
            }
            self.take();
            self.bin_modifiers()?;
            let right = self.expr(if right_assoc { prec } else { prec + 1 })?;
            left = binop(op, left, right);
        }
        Ok(left)
    }

    fn operand(&mut self) -> PResult<Node> {
        match self.kind() {
            K::OpenBrace => Ok(Node::Log(self.log_expr()?)),
            K::OpenParen => {
                self.take();
                let inner = self.expr(0)?;
                self.expect(K::CloseParen, &[])?;
                Ok(inner)
            }
            K::Number => {
                let n = self.take();
                Ok(literal(&n.text, false))
            }
            K::Add | K::Sub => {
                let negate = self.take().kind == K::Sub;
                let n = self.expect(K::Number, &[K::Number])?;
                Ok(literal(&n.text, negate))
            }
            k if k.is_range_op() => self.range_aggregation(),
            k if k.is_vector_op() => self.vector_aggregation(),
            K::LabelReplace => self.label_replace(),
            K::Vector => {
                self.take();
                self.expect(K::OpenParen, &[K::OpenParen])?;
                self.expect(K::Number, &[K::Number])?;
                self.expect(K::CloseParen, &[K::CloseParen])?;
                Ok(Node::Metric {
                    what: "`vector()`".into(),
                    err: None,
                })
            }
            _ => Err(self.syntax_error(&[])),
        }
    }

    /// A metricExpr argument: a bare log query does not fit there.
    fn metric_arg(&mut self) -> PResult<Node> {
        let node = self.expr(0)?;
        self.metric_only(node)
    }

    fn metric_only(&mut self, node: Node) -> PResult<Node> {
        if matches!(node, Node::Log(_)) {
            return Err(self.syntax_error(&[]));
        }
        Ok(node)
    }

    fn bin_modifiers(&mut self) -> PResult<()> {
        self.eat(K::Bool);
        if matches!(self.kind(), K::On | K::Ignoring) {
            self.take();
            self.expect(K::OpenParen, &[K::OpenParen])?;
            self.label_list()?;
            if matches!(self.kind(), K::GroupLeft | K::GroupRight) {
                self.take();
                if self.eat(K::OpenParen) {
                    self.label_list()?;
                }
            }
        }
        Ok(())
    }

    /// `labels )` or `)`, after a `(`.
    fn label_list(&mut self) -> PResult<Vec<String>> {
        if self.eat(K::CloseParen) {
            return Ok(Vec::new());
        }
        let mut names = vec![self.expect(K::Identifier, &[K::Identifier, K::CloseParen])?.text];
        loop {
            match self.kind() {
                K::Comma => {
                    self.take();
                    names.push(self.expect(K::Identifier, &[K::Identifier])?.text);
                }
                K::CloseParen => {
                    self.take();
                    return Ok(names);
                }
                _ => return Err(self.syntax_error(&[K::Comma, K::CloseParen])),
            }
        }
    }

    fn grouping(&mut self) -> PResult<metric::Grouping> {
        let without = self.take().kind == K::Without;
        self.expect(K::OpenParen, &[K::OpenParen])?;
        let labels = self.label_list()?;
        Ok(metric::Grouping { without, labels })
    }

    fn range_aggregation(&mut self) -> PResult<Node> {
        let op = self.take();
        let name = op.kind.display().to_lowercase();
        self.expect(K::OpenParen, &[K::OpenParen])?;
        let mut param = None;
        let first: &[Kind] = if self.kind() == K::Number {
            param = Some(self.take().text);
            self.expect(K::Comma, &[K::Comma])?;
            &[K::OpenBrace, K::OpenParen]
        } else {
            &[K::Number, K::OpenBrace, K::OpenParen]
        };
        let (selector, tail) = self.log_range(first)?;
        self.expect(K::CloseParen, &[K::CloseParen])?;
        let grouping = if matches!(self.kind(), K::By | K::Without) {
            Some(self.grouping()?)
        } else {
            None
        };
        let what = format!("the range aggregation `{name}`");
        let err = validate_selector(selector.as_deref());
        let plan = tail.and_then(|tail| {
            metric::Plan::range(
                op.kind,
                param.as_deref(),
                selector.clone().unwrap_or_default(),
                tail,
                grouping,
            )
        });
        Ok(match plan {
            Some(plan) => Node::Served {
                plan: Box::new(plan),
                what,
                err,
            },
            None => Node::Metric { what, err },
        })
    }

    fn vector_aggregation(&mut self) -> PResult<Node> {
        let op = self.take();
        let name = op.kind.display().to_lowercase();
        let mut grouping = None;
        let grouped = matches!(self.kind(), K::By | K::Without);
        if grouped {
            grouping = Some(self.grouping()?);
            self.expect(K::OpenParen, &[K::OpenParen])?;
        } else {
            self.expect(K::OpenParen, &[K::OpenParen, K::By, K::Without])?;
        }
        let mut param = false;
        let inner = if self.kind() == K::Number {
            let n = self.take();
            if self.eat(K::Comma) {
                param = true;
                self.metric_arg()?
            } else {
                // The number starts the metricExpr itself.
                self.enter()?;
                let node = self.expr_rest(literal(&n.text, false), 0)?;
                self.leave();
                self.metric_only(node)?
            }
        } else {
            self.metric_arg()?
        };
        self.expect(K::CloseParen, &[])?;
        if !grouped && matches!(self.kind(), K::By | K::Without) {
            grouping = Some(self.grouping()?);
        }
        let what = format!("the vector aggregation `{name}`");
        let err = inner.validation_error();
        let plan = match inner {
            Node::Served { plan, .. } if !param => metric::Plan::vector(op.kind, grouping, *plan),
            _ => None,
        };
        Ok(match plan {
            Some(plan) => Node::Served {
                plan: Box::new(plan),
                what,
                err,
            },
            None => Node::Metric { what, err },
        })
    }

    fn label_replace(&mut self) -> PResult<Node> {
        self.take();
        self.expect(K::OpenParen, &[K::OpenParen])?;
        let inner = self.metric_arg()?;
        self.expect(K::Comma, &[])?;
        for i in 0..4 {
            self.expect(K::Str, &[K::Str])?;
            if i < 3 {
                self.expect(K::Comma, &[K::Comma])?;
            }
        }
        self.expect(K::CloseParen, &[K::CloseParen])?;
        Ok(Node::Metric {
            what: "`label_replace()`".into(),
            err: inner.validation_error(),
        })
    }

    /// logRangeExpr, after `rate(` (and a parameter); returns the
    /// selector's matchers.
    fn log_range(&mut self, first: &[Kind]) -> PResult<(Option<Vec<Matcher>>, Option<metric::Tail>)> {
        self.enter()?;
        let mut tail = None;
        let selector = match self.kind() {
            K::OpenBrace => {
                let selector = self.selector()?;
                tail = Some(self.range_tail()?);
                selector
            }
            K::OpenParen => {
                self.take();
                match self.kind() {
                    K::OpenParen => {
                        let (selector, _) = self.log_range(&[K::OpenBrace, K::OpenParen])?;
                        self.expect(K::CloseParen, &[K::CloseParen])?;
                        selector
                    }
                    K::OpenBrace => {
                        let selector = self.selector()?;
                        let (piped, unwrap, _) = self.range_pipeline()?;
                        let unwrapped = unwrap.is_some();
                        match self.kind() {
                            K::CloseParen => {
                                // `( selector … ) RANGE`
                                self.take();
                                self.expect(K::Range, &[K::Range])?;
                                self.offset()?;
                                if !piped && !unwrapped && self.kind() == K::Pipe {
                                    self.take();
                                    if self.kind() != K::Unwrap {
                                        return Err(self.syntax_error(&[K::Unwrap]));
                                    }
                                    self.unwrap()?;
                                }
                            }
                            K::Range => {
                                // `( logRangeExpr )`
                                self.take();
                                self.offset()?;
                                if !piped && !unwrapped {
                                    self.range_pipeline()?;
                                }
                                self.expect(K::CloseParen, &[K::CloseParen])?;
                            }
                            _ if unwrapped => {
                                return Err(self.syntax_error(&[K::Range, K::CloseParen, K::Pipe]));
                            }
                            _ => return Err(self.syntax_error(&[])),
                        }
                        selector
                    }
                    _ => return Err(self.syntax_error(&[K::OpenBrace, K::OpenParen])),
                }
            }
            _ => return Err(self.syntax_error(first)),
        };
        self.leave();
        Ok((selector, tail))
    }

    /// After a selector inside a range aggregation: its pipeline, unwrap,
    /// range and offset, in either order Loki takes.
    fn range_tail(&mut self) -> PResult<metric::Tail> {
        let (piped, unwrap, stages) = self.range_pipeline()?;
        if !piped && unwrap.is_none() && self.kind() == K::Range {
            let range_ns = self.take().nanos;
            let offset_ns = self.offset()?;
            let (_, unwrap, stages) = self.range_pipeline()?;
            return Ok(metric::Tail {
                stages,
                unwrap,
                range_ns,
                offset_ns,
            });
        }
        let shifts: &[Kind] = if unwrap.is_some() { &[K::Range, K::Pipe] } else { &[] };
        let range_ns = self.expect(K::Range, shifts)?.nanos;
        let offset_ns = self.offset()?;
        Ok(metric::Tail {
            stages,
            unwrap,
            range_ns,
            offset_ns,
        })
    }

    fn offset(&mut self) -> PResult<i64> {
        if self.eat(K::Offset) {
            return Ok(self.expect(K::Duration, &[K::Duration])?.nanos);
        }
        Ok(0)
    }

    /// A pipeline that may end in `| unwrap …`; says whether it had
    /// stages, and gives the unwrap and the stages.
    fn range_pipeline(&mut self) -> PResult<(bool, Option<metric::Unwrap>, Vec<Stage>)> {
        let mut piped = false;
        let mut prev_line = false;
        let mut stages = Vec::new();
        loop {
            let kind = self.kind();
            if kind.is_line_filter() {
                stages.push(self.line_filter(!prev_line)?);
                prev_line = true;
            } else if kind == K::Pipe {
                self.take();
                if self.kind() == K::Unwrap {
                    let unwrap = self.unwrap()?;
                    return Ok((piped, Some(unwrap), stages));
                }
                stages.push(self.pipe_stage()?);
                prev_line = false;
            } else {
                return Ok((piped, None, stages));
            }
            piped = true;
        }
    }

    /// `unwrap IDENT` or `unwrap conv(IDENT)`, then `| labelFilter`s.
    fn unwrap(&mut self) -> PResult<metric::Unwrap> {
        self.take();
        let (conv, label) = match self.kind() {
            K::Identifier => (metric::Conv::Float, self.take().text),
            k @ (K::BytesConv | K::DurationConv | K::DurationSecondsConv) => {
                self.take();
                self.expect(K::OpenParen, &[K::OpenParen])?;
                let label = self.expect(K::Identifier, &[K::Identifier])?.text;
                self.expect(K::CloseParen, &[K::CloseParen])?;
                let conv = if k == K::BytesConv {
                    metric::Conv::Bytes
                } else {
                    metric::Conv::Duration
                };
                (conv, label)
            }
            _ => {
                return Err(self.syntax_error(&[K::Identifier, K::BytesConv, K::DurationConv, K::DurationSecondsConv]));
            }
        };
        let mut filters = Vec::new();
        while self.eat(K::Pipe) {
            if !matches!(self.kind(), K::Identifier | K::OpenParen) {
                return Err(self.syntax_error(&[K::Identifier, K::OpenParen]));
            }
            filters.push(self.label_filter()?);
        }
        Ok(metric::Unwrap { label, conv, filters })
    }

    // --- log queries -------------------------------------------------------

    fn log_expr(&mut self) -> PResult<LogAst> {
        let selector = self.selector()?;
        let mut stages = Vec::new();
        let mut prev_line = false;
        loop {
            let kind = self.kind();
            if kind.is_line_filter() {
                stages.push(self.line_filter(!prev_line)?);
                prev_line = true;
            } else if kind == K::Pipe {
                self.take();
                stages.push(self.pipe_stage()?);
                prev_line = false;
            } else {
                break;
            }
        }
        Ok(LogAst {
            selector,
            piped: !stages.is_empty(),
            stages,
        })
    }

    /// `{matchers}` or `{}`.
    fn selector(&mut self) -> PResult<Option<Vec<Matcher>>> {
        self.expect(K::OpenBrace, &[K::OpenBrace])?;
        if self.eat(K::CloseBrace) {
            return Ok(None);
        }
        let mut matchers = Vec::new();
        let mut shifts: &[Kind] = &[K::Identifier, K::CloseBrace];
        loop {
            let name = self.expect(K::Identifier, shifts)?.text;
            let op = match self.kind() {
                K::Eq | K::Neq | K::Re | K::Nre => self.take().kind,
                _ => return Err(self.syntax_error(&[K::Eq, K::Re, K::Nre, K::Neq])),
            };
            let value = self.expect(K::Str, &[K::Str])?.text;
            matchers.push(self.matcher(name, op, &value)?);
            match self.kind() {
                K::CloseBrace => {
                    self.take();
                    return Ok(Some(matchers));
                }
                K::Comma => {
                    self.take();
                    shifts = &[K::Identifier];
                }
                _ => {
                    // `{ matchers error`: yacc recovers and parses on; the
                    // error stands unless a grammar action fails later.
                    let _ = self.syntax_error(&[K::CloseBrace, K::Comma]);
                    return Ok(Some(matchers));
                }
            }
        }
    }

    /// `mustNewMatcher`: a bad regex fails the grammar action.
    fn matcher(&mut self, name: String, op: Kind, value: &str) -> PResult<Matcher> {
        let op = match op {
            K::Eq => "=",
            K::Neq => "!=",
            K::Re => "=~",
            K::Nre => "!~",
            _ => return Err(self.syntax_error(&[])),
        };
        match Matcher::new(name, op, value) {
            Ok(m) => Ok(m),
            Err(regexp::RegexTrouble::Go(e)) => Err(self.fail(ParseError::bare(e.to_string()))),
            Err(regexp::RegexTrouble::Uncompilable(_)) => Err(self.fail(uncompilable_regex())),
        }
    }

    /// A line filter and its `or` chain. Only the first of consecutive
    /// line filters may extend its chain past an `ip(…)` alternative
    /// (`lineFilters: lineFilter OR orFilter`).
    fn line_filter(&mut self, first: bool) -> PResult<Stage> {
        let ty = match self.take().kind {
            K::PipeExact => LineType::Contains,
            K::Neq => LineType::NotContains,
            K::PipeMatch => LineType::Matches,
            K::Nre => LineType::NotMatches,
            K::PipePattern => LineType::Pattern,
            _ => LineType::NotPattern,
        };
        if matches!(ty, LineType::Pattern | LineType::NotPattern) {
            self.unserved(format!("the pattern line filter `{}`", ty.text()));
        }
        let ip_limit = if first { 2 } else { 1 };
        let mut ips = 0;
        let mut alts = Vec::new();
        loop {
            match self.kind() {
                K::Str => alts.push(LineAlt {
                    value: self.take().text,
                    ip: false,
                }),
                K::Ip => {
                    self.take();
                    self.expect(K::OpenParen, &[K::OpenParen])?;
                    let value = self.expect(K::Str, &[K::Str])?.text;
                    self.expect(K::CloseParen, &[K::CloseParen])?;
                    self.unserved("the `ip()` line filter");
                    alts.push(LineAlt { value, ip: true });
                    ips += 1;
                }
                _ => return Err(self.syntax_error(&[K::Str, K::Ip])),
            }
            if ips >= ip_limit || !self.eat(K::Or) {
                break;
            }
        }
        Ok(Stage::Line {
            ty,
            alts,
            regexes: Vec::new(),
        })
    }

    /// What follows a `|`.
    fn pipe_stage(&mut self) -> PResult<Stage> {
        match self.kind() {
            K::Json => {
                self.take();
                if self.kind() == K::Identifier {
                    self.extraction_list()?;
                    self.unserved("`| json` with parameters");
                    return Ok(Stage::Unserved);
                }
                Ok(Stage::Json)
            }
            K::Logfmt => {
                self.take();
                let (mut strict, mut keep_empty) = (false, false);
                while self.kind() == K::ParserFlag {
                    match self.take().text.as_str() {
                        "--strict" => strict = true,
                        _ => keep_empty = true,
                    }
                }
                if self.kind() == K::Identifier {
                    self.extraction_list()?;
                    self.unserved("`| logfmt` with parameters");
                    return Ok(Stage::Unserved);
                }
                if strict {
                    self.unserved("`| logfmt --strict`");
                    return Ok(Stage::Unserved);
                }
                Ok(Stage::Logfmt { keep_empty })
            }
            K::Regexp => {
                self.take();
                let re = self.expect(K::Str, &[K::Str])?.text;
                if let Err(e) = regexp_parser(&re) {
                    return Err(self.fail(e));
                }
                self.unserved("`| regexp`");
                Ok(Stage::Unserved)
            }
            K::Pattern => {
                self.take();
                let pattern = self.expect(K::Str, &[K::Str])?.text;
                if let Err(e) = validate_pattern(&pattern) {
                    return Err(self.fail(ParseError::bare(format!("invalid pattern parser: {e}"))));
                }
                self.unserved("`| pattern`");
                Ok(Stage::Unserved)
            }
            K::Unpack => {
                self.take();
                self.unserved("`| unpack`");
                Ok(Stage::Unserved)
            }
            K::LineFmt => {
                self.take();
                self.expect(K::Str, &[K::Str])?;
                self.unserved("`| line_format`");
                Ok(Stage::Unserved)
            }
            K::Decolorize => {
                self.take();
                Ok(Stage::Decolorize)
            }
            K::LabelFmt => self.label_format(),
            K::Drop | K::Keep => self.drop_keep(),
            K::Identifier | K::OpenParen => Ok(Stage::LabelFilter(self.label_filter()?)),
            _ => Err(self.syntax_error(&[])),
        }
    }

    /// `a, b="c", …` after `json` or `logfmt`.
    fn extraction_list(&mut self) -> PResult<()> {
        loop {
            self.expect(K::Identifier, &[K::Identifier])?;
            if self.eat(K::Eq) {
                self.expect(K::Str, &[K::Str])?;
            }
            if !self.eat(K::Comma) {
                return Ok(());
            }
        }
    }

    fn label_format(&mut self) -> PResult<Stage> {
        self.take();
        let mut served = Vec::new();
        let mut all_served = true;
        loop {
            let name = self.expect(K::Identifier, &[K::Identifier])?.text;
            self.expect(K::Eq, &[K::Eq])?;
            match self.kind() {
                K::Identifier => {
                    self.take();
                    all_served = false;
                }
                K::Str => {
                    let template = self.take().text;
                    match contains_template(&template) {
                        Some(text) if !served.iter().any(|(n, _)| *n == name) => served.push((name, text)),
                        _ => all_served = false,
                    }
                }
                _ => return Err(self.syntax_error(&[K::Identifier, K::Str])),
            }
            if !self.eat(K::Comma) {
                break;
            }
            if self.kind() != K::Identifier {
                // `labelsFormat COMMA error`: yacc recovers and parses on.
                let _ = self.syntax_error(&[K::Identifier]);
                break;
            }
        }
        if !all_served {
            self.unserved(
                "`| label_format` other than NAME=`{{ contains \"TEXT\" __line__ }}` (the template Grafana's trace-to-logs link uses)",
            );
            return Ok(Stage::Unserved);
        }
        Ok(Stage::LabelContains(served))
    }

    fn drop_keep(&mut self) -> PResult<Stage> {
        let keep = self.take().kind == K::Keep;
        let mut items = Vec::new();
        loop {
            let name = self.expect(K::Identifier, &[K::Identifier])?.text;
            match self.kind() {
                K::Eq | K::Neq | K::Re | K::Nre => {
                    let op = self.take().kind;
                    let value = self.expect(K::Str, &[K::Str])?.text;
                    items.push(LabelRef::Matcher(self.matcher(name, op, &value)?));
                }
                _ => items.push(LabelRef::Name(name)),
            }
            if !self.eat(K::Comma) {
                break;
            }
        }
        Ok(if keep { Stage::Keep(items) } else { Stage::Drop(items) })
    }

    /// A label filter expression. yacc's precedence: `or` below `and`;
    /// `,` and juxtaposition have none, so they always shift and take
    /// everything to their right: `a or b, c` is `a or (b and c)`.
    fn label_filter(&mut self) -> PResult<Filter> {
        let mut segments: Vec<Vec<Vec<Filter>>> = Vec::new();
        loop {
            let mut ors = vec![vec![self.filter_atom()?]];
            let more = loop {
                match self.kind() {
                    K::And => {
                        self.take();
                        let atom = self.filter_atom()?;
                        if let Some(last) = ors.last_mut() {
                            last.push(atom);
                        }
                    }
                    K::Or => {
                        self.take();
                        ors.push(vec![self.filter_atom()?]);
                    }
                    K::Comma => {
                        self.take();
                        break true;
                    }
                    K::Identifier | K::OpenParen => break true,
                    _ => break false,
                }
            };
            segments.push(ors);
            if !more {
                break;
            }
        }
        let mut acc: Option<Filter> = None;
        let mut nesting = 0;
        for mut ors in segments.into_iter().rev() {
            if let Some(rest) = acc.take()
                && let Some(last) = ors.last_mut()
            {
                match rest {
                    Filter::All(v) => last.extend(v),
                    other => {
                        nesting += 1;
                        last.push(other);
                    }
                }
            }
            let mut alternatives: Vec<Filter> = ors.into_iter().map(all_of).collect();
            acc = Some(if alternatives.len() == 1 {
                alternatives.remove(0)
            } else {
                Filter::Any(alternatives)
            });
        }
        if nesting > MAX_DEPTH {
            let err = ParseError::unserved(QueryKind::Log, "a label filter nested this deeply");
            return Err(self.fail(err));
        }
        Ok(acc.unwrap_or(Filter::All(Vec::new())))
    }

    fn filter_atom(&mut self) -> PResult<Filter> {
        if self.kind() == K::OpenParen {
            self.take();
            self.enter()?;
            let inner = self.label_filter()?;
            self.expect(K::CloseParen, &[])?;
            self.leave();
            return Ok(inner);
        }
        let name = self.expect(K::Identifier, &[K::Identifier, K::OpenParen])?.text;
        let op = self.kind();
        let cmp = match op {
            K::Eq => Cmp::Eq,
            K::Neq => Cmp::Ne,
            K::CmpEq => Cmp::Eq,
            K::Gt => Cmp::Gt,
            K::Gte => Cmp::Ge,
            K::Lt => Cmp::Lt,
            K::Lte => Cmp::Le,
            K::Re | K::Nre => {
                self.take();
                let value = self.expect(K::Str, &[K::Str])?.text;
                return Ok(Filter::Str(self.matcher(name, op, &value)?));
            }
            _ => return Err(self.syntax_error(&[])),
        };
        self.take();
        match self.kind() {
            K::Str if matches!(op, K::Eq | K::Neq) => {
                let value = self.take().text;
                Ok(Filter::Str(self.matcher(name, op, &value)?))
            }
            K::Ip if matches!(op, K::Eq | K::Neq) => {
                self.take();
                self.expect(K::OpenParen, &[K::OpenParen])?;
                self.expect(K::Str, &[K::Str])?;
                self.expect(K::CloseParen, &[K::CloseParen])?;
                self.unserved("the `ip()` label filter");
                Ok(Filter::Ip)
            }
            K::Duration => Ok(Filter::Duration {
                name,
                cmp,
                nanos: self.take().nanos,
            }),
            K::Bytes => Ok(Filter::Bytes {
                name,
                cmp,
                bytes: self.take().bytes,
            }),
            K::Number => {
                let text = self.take().text;
                Ok(Filter::Number {
                    name,
                    cmp,
                    value: filter_number(&text, false),
                })
            }
            K::Add | K::Sub => {
                let negate = self.take().kind == K::Sub;
                let text = self.expect(K::Number, &[K::Number])?.text;
                Ok(Filter::Number {
                    name,
                    cmp,
                    value: filter_number(&text, negate),
                })
            }
            _ => Err(self.syntax_error(&[])),
        }
    }
}

fn all_of(mut filters: Vec<Filter>) -> Filter {
    if filters.len() == 1 {
        filters.remove(0)
    } else {
        Filter::All(filters)
    }
}

fn uncompilable_regex() -> ParseError {
    ParseError::unserved(QueryKind::Log, "a regular expression this deeply nested or this large")
}

/// A number filter's value: the literal's error is dropped (`$3.Val`).
fn filter_number(text: &str, negate: bool) -> f64 {
    let v = strconv::parse_float(text).unwrap_or_else(|e| e.float_value());
    if negate { -v } else { v }
}

/// `mustNewLiteralExpr`: an unparsable number is an error validation
/// reports.
fn literal(text: &str, negate: bool) -> Node {
    match strconv::parse_float(text) {
        Ok(v) => Node::Literal {
            value: if negate { -v } else { v },
            err: None,
        },
        Err(e) => {
            let v = e.float_value();
            Node::Literal {
                value: if negate { -v } else { v },
                err: Some(ParseError::bare(format!("unable to parse literal as a float: {e}"))),
            }
        }
    }
}

/// `mustNewBinOpExpr`: leg types, literal errors, literals in set
/// operations, and folding of two literals.
fn binop(op: &'static str, left: Node, right: Node) -> Node {
    let type_name = |n: &Node| match n {
        Node::Log(l) if l.piped => "*syntax.PipelineExpr",
        _ => "*syntax.MatchersExpr",
    };
    let logical = matches!(op, "or" | "and" | "unless");
    let what = format!("the binary operation `{op}`");
    let own = if matches!(left, Node::Log(_)) {
        Some(format!(
            "unexpected type for left leg of binary operation ({op}): {}",
            type_name(&left)
        ))
    } else if matches!(right, Node::Log(_)) {
        Some(format!(
            "unexpected type for right leg of binary operation ({op}): {}",
            type_name(&right)
        ))
    } else {
        None
    };
    if let Some(msg) = own {
        return Node::Metric {
            what,
            err: Some(ParseError::bare(msg)),
        };
    }
    if let Node::Literal { err: Some(e), .. } = &left {
        return Node::Metric {
            what,
            err: Some(e.clone()),
        };
    }
    if let Node::Literal { err: Some(e), .. } = &right {
        return Node::Metric {
            what,
            err: Some(e.clone()),
        };
    }
    let lv = match &left {
        Node::Literal { value, .. } => Some(*value),
        _ => None,
    };
    let rv = match &right {
        Node::Literal { value, .. } => Some(*value),
        _ => None,
    };
    if logical {
        let msg = match (lv, rv) {
            (Some(v), _) => Some(format!(
                "unexpected literal for left leg of logical/set binary operation ({op}): {}",
                percent_f(v)
            )),
            (_, Some(v)) => Some(format!(
                "unexpected literal for right leg of logical/set binary operation ({op}): {}",
                percent_f(v)
            )),
            _ => None,
        };
        if let Some(msg) = msg {
            return Node::Metric {
                what,
                err: Some(ParseError::bare(msg)),
            };
        }
    }
    if let (Some(a), Some(b)) = (lv, rv) {
        return Node::Literal {
            value: fold(op, a, b),
            err: None,
        };
    }
    let err = left.validation_error().or_else(|| right.validation_error());
    Node::Metric { what, err }
}

fn fold(op: &str, a: f64, b: f64) -> f64 {
    let keep = |ok: bool| if ok { a } else { f64::NAN };
    match op {
        "+" => a + b,
        "-" => a - b,
        "*" => a * b,
        "/" => a / b,
        "%" => a % b,
        "^" => a.powf(b),
        "==" => keep(a == b),
        "!=" => keep(a != b),
        ">" => keep(a > b),
        ">=" => keep(a >= b),
        "<" => keep(a < b),
        _ => keep(a <= b),
    }
}

/// The text of `{{ contains "TEXT" __line__ }}`.
fn contains_template(template: &str) -> Option<String> {
    let inner = template.trim().strip_prefix("{{")?.strip_suffix("}}")?.trim();
    let rest = inner.strip_prefix("contains")?;
    if !rest.starts_with(char::is_whitespace) {
        return None;
    }
    let quoted = rest.trim().strip_suffix("__line__")?;
    if !quoted.ends_with(char::is_whitespace) {
        return None;
    }
    strconv::unquote_strutil(quoted.trim())
}

/// Loki's pattern parser checks (`pkg/logql/log/pattern`): captures are
/// `<name>` (`<_>` unnamed), everything else literal.
fn validate_pattern(pattern: &str) -> Result<(), String> {
    if pattern.is_empty() {
        return Err(
            "parse error at line 1, col 1: syntax error: unexpected $end, expecting IDENTIFIER or LITERAL".into(),
        );
    }
    let chars: Vec<char> = pattern.chars().collect();
    // (is capture, name)
    let mut nodes: Vec<(bool, String)> = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        if chars[i] == '<'
            && let Some(len) = capture_len(&chars[i..])
        {
            nodes.push((true, chars[i + 1..i + len - 1].iter().collect()));
            i += len;
            continue;
        }
        match nodes.last_mut() {
            Some((false, lit)) => lit.push(chars[i]),
            _ => nodes.push((false, chars[i].to_string())),
        }
        i += 1;
    }
    let named: Vec<&String> = nodes.iter().filter(|(c, n)| *c && n != "_").map(|(_, n)| n).collect();
    if named.is_empty() {
        return Err("at least one capture is required".into());
    }
    for pair in nodes.windows(2) {
        if pair[0].0 && pair[1].0 {
            return Err(format!(
                "found consecutive capture '<{}><{}>': invalid expression",
                pair[0].1, pair[1].1
            ));
        }
    }
    for (i, name) in named.iter().enumerate() {
        if named[..i].contains(name) {
            return Err(format!("duplicate capture name ({name}): invalid expression"));
        }
    }
    Ok(())
}

/// Length of a `<name>` capture at the start of `chars`.
fn capture_len(chars: &[char]) -> Option<usize> {
    let first = *chars.get(1)?;
    if !(first.is_ascii_alphabetic() || first == '_') {
        return None;
    }
    let mut i = 2;
    while let Some(&c) = chars.get(i) {
        if c == '>' {
            return Some(i + 1);
        }
        if !(c.is_ascii_alphanumeric() || c == '_') {
            return None;
        }
        i += 1;
    }
    None
}

// ---------------------------------------------------------------------------
// Entry points
// ---------------------------------------------------------------------------

/// A parsed log query the reference stack evaluates.
#[derive(Debug, Clone)]
pub struct LogQuery {
    pub selector: Vec<Matcher>,
    /// In Loki's evaluation order (line filters move ahead of parsers
    /// within each run of stages between label filters).
    stages: Vec<Stage>,
    /// The error Loki raises building the pipeline (a bad line-filter
    /// regex), which it only reaches when it reads a stream.
    stage_error: Option<ParseError>,
}

/// Parses and validates a query as `syntax.ParseExpr` does: its root, and
/// the first stage the reference stack does not evaluate, if any.
fn parse_root(query: &str) -> Result<(Node, Option<String>), ParseError> {
    let (node, unserved) = parse_root_unvalidated(query)?;
    if let Some(err) = node.validation_error() {
        return Err(err);
    }
    Ok((node, unserved))
}

/// `syntax.ParseExprWithoutValidation`: the syntax only.
fn parse_root_unvalidated(query: &str) -> Result<(Node, Option<String>), ParseError> {
    if query.len() >= MAX_INPUT_SIZE {
        return Err(ParseError::bare(format!(
            "input size too long ({} > {MAX_INPUT_SIZE})",
            query.len()
        )));
    }
    let mut p = Parser::new(query);
    let parsed = p.root();
    if let Some(fatal) = p.fatal.take() {
        return Err(fatal);
    }
    if let Some(first) = p.lx.errors.first() {
        return Err(first.clone());
    }
    let Ok(node) = parsed else {
        // A stop always records an error; this is unreachable.
        return Err(ParseError::bare("syntax error: unexpected $end"));
    };
    Ok((node, p.unserved))
}

/// Parses a query as `syntax.ParseExpr` does, then says whether the
/// reference stack serves it.
pub fn parse(query: &str) -> Result<LogQuery, ParseError> {
    let (node, unserved) = parse_root(query)?;
    let log = match node {
        Node::Log(log) => log,
        other => return Err(ParseError::unserved(QueryKind::Metric, other.what())),
    };
    if let Some(what) = unserved {
        return Err(ParseError::unserved(QueryKind::Log, what));
    }
    Ok(LogQuery::build(log))
}

/// `syntax.ParseMatchers(query, false)`, as series requests read each
/// `match[]`: a selector, unvalidated, so `{}` and `{a=~".*"}` pass; `None`
/// when the query is not a bare selector (`logqlmodel.ErrParseMatchers`).
pub fn parse_matchers_unvalidated(query: &str) -> Result<Option<LogQuery>, ParseError> {
    match parse_root_unvalidated(query)? {
        (Node::Log(log), None) => {
            let query = LogQuery::build(log);
            Ok(query.is_selector_only().then_some(query))
        }
        _ => Ok(None),
    }
}

/// Parses a metric query as `parse` does, giving what the reference stack
/// evaluates; any other metric query is `Unserved`, a log query too.
pub fn parse_metric(query: &str) -> Result<metric::MetricQuery, ParseError> {
    match parse_root(query)? {
        (Node::Log(_), _) => Err(ParseError::unserved(QueryKind::Log, "a log query")),
        (Node::Served { plan, what, .. }, unserved) => match unserved {
            Some(stage) => Err(ParseError::unserved(QueryKind::Metric, format!("{what} over {stage}"))),
            None => Ok(metric::MetricQuery::new(*plan)),
        },
        (other, _) => Err(ParseError::unserved(QueryKind::Metric, other.what())),
    }
}

/// Parses a push request's stream labels, `{a="b", c="d"}` (`=` only);
/// empty values are dropped, as Loki's label builder drops them.
pub fn parse_labels(text: &str) -> Result<Labels, ParseError> {
    let mut p = Parser::new(text);
    let result = labels_body(&mut p);
    if let Some(fatal) = p.fatal.take() {
        return Err(fatal);
    }
    if let Some(first) = p.lx.errors.first() {
        return Err(first.clone());
    }
    result.map_err(|_| ParseError::bare("syntax error: unexpected $end"))
}

fn labels_body(p: &mut Parser<'_>) -> PResult<Labels> {
    let mut labels = Labels::new();
    p.expect(K::OpenBrace, &[K::OpenBrace])?;
    if !p.eat(K::CloseBrace) {
        let mut shifts: &[Kind] = &[K::Identifier, K::CloseBrace];
        loop {
            let name = p.expect(K::Identifier, shifts)?.text;
            p.expect(K::Eq, &[K::Eq])?;
            let value = p.expect(K::Str, &[K::Str])?.text;
            if !value.is_empty() {
                labels.insert(name, value);
            }
            match p.kind() {
                K::CloseBrace => {
                    p.take();
                    break;
                }
                K::Comma => {
                    p.take();
                    shifts = &[K::Identifier];
                }
                _ => return Err(p.syntax_error(&[K::CloseBrace, K::Comma])),
            }
        }
    }
    p.expect(K::End, &[])?;
    Ok(labels)
}

/// A log entry after the pipeline: the line (decolorize rewrites it) and
/// its labels by category, after `drop`/`keep`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Processed {
    pub line: String,
    pub stream: Labels,
    pub metadata: Labels,
    pub parsed: Labels,
}

impl Processed {
    /// Parsed labels first, then structured metadata, then stream labels.
    fn get(&self, name: &str) -> Option<&str> {
        self.parsed
            .get(name)
            .or_else(|| self.metadata.get(name))
            .or_else(|| self.stream.get(name))
            .map(String::as_str)
    }

    fn delete(&mut self, name: &str) {
        self.parsed.remove(name);
        self.metadata.remove(name);
        self.stream.remove(name);
    }

    fn set_error(&mut self, error: &str, details: String) {
        if !self.parsed.contains_key(ERROR_LABEL) {
            self.parsed.insert(ERROR_LABEL.into(), error.into());
            self.parsed.insert(ERROR_DETAILS_LABEL.into(), details);
        }
    }
}

const ERROR_LABEL: &str = "__error__";
const ERROR_DETAILS_LABEL: &str = "__error_details__";

impl LogQuery {
    fn build(log: LogAst) -> LogQuery {
        let mut stages = reorder(log.stages);
        let stage_error = compile_line_regexes(&mut stages);
        LogQuery {
            selector: log.selector.unwrap_or_default(),
            stages,
            stage_error,
        }
    }

    /// Whether a stream's index labels pass the selector.
    pub fn selects(&self, labels: &Labels) -> bool {
        selects(&self.selector, labels)
    }

    /// Whether the query is a bare selector (Loki's `MatchersExpr`), the
    /// only query label and series requests take.
    pub fn is_selector_only(&self) -> bool {
        self.stages.is_empty() && self.stage_error.is_none()
    }

    /// The error Loki answers once it builds this query's pipeline.
    pub fn stage_error(&self) -> Option<&ParseError> {
        self.stage_error.as_ref()
    }

    /// Runs the pipeline over one entry; `None` when it is filtered out.
    pub fn pipeline(&self, labels: &Labels, metadata: &Labels, line: &str) -> Option<Processed> {
        let mut e = Processed {
            line: line.to_owned(),
            stream: labels.clone(),
            metadata: metadata.clone(),
            parsed: Labels::new(),
        };
        for stage in &self.stages {
            let pass = match stage {
                Stage::Line { ty, alts, regexes } => line_passes(*ty, alts, regexes, &e.line),
                Stage::Json => {
                    match serde_json::from_str::<serde_json::Value>(&e.line) {
                        Ok(value @ serde_json::Value::Object(_)) => flatten_json("", &value, &mut e.parsed),
                        _ => {
                            e.parsed.insert(ERROR_LABEL.into(), "JSONParserErr".into());
                        }
                    }
                    true
                }
                Stage::Logfmt { keep_empty } => {
                    for (k, v) in logfmt_pairs(&e.line) {
                        if v.is_empty() && !keep_empty {
                            continue;
                        }
                        e.parsed.entry(sanitize(&k)).or_insert(v);
                    }
                    true
                }
                Stage::Decolorize => {
                    e.line = decolorize(&e.line);
                    true
                }
                Stage::LabelFilter(filter) => filter.eval(&mut e),
                Stage::LabelContains(formats) => {
                    for (name, text) in formats {
                        let hit = e.line.contains(text.as_str());
                        e.parsed.insert(name.clone(), hit.to_string());
                    }
                    true
                }
                Stage::Drop(items) => {
                    drop_labels(items, &mut e);
                    true
                }
                Stage::Keep(items) => {
                    keep_labels(items, &mut e);
                    true
                }
                Stage::Unserved => true,
            };
            if !pass {
                return None;
            }
        }
        Some(e)
    }
}

/// Loki's `reorderStages`: within each run of stages up to a label
/// filter, line filters run first.
fn reorder(stages: Vec<Stage>) -> Vec<Stage> {
    let mut out = Vec::with_capacity(stages.len());
    let mut lines = Vec::new();
    let mut others = Vec::new();
    for stage in stages {
        match stage {
            Stage::LabelFilter(_) => {
                out.append(&mut lines);
                out.append(&mut others);
                out.push(stage);
            }
            Stage::Line { .. } => lines.push(stage),
            _ => others.push(stage),
        }
    }
    out.append(&mut lines);
    out.append(&mut others);
    out
}

/// Compiles `|~`/`!~` alternatives; a bad one is Loki's stage error,
/// `stage '<the run's line filters>' : <regexp error>`.
fn compile_line_regexes(stages: &mut [Stage]) -> Option<ParseError> {
    let mut first_error = None;
    let mut i = 0;
    while i < stages.len() {
        if !matches!(stages[i], Stage::Line { .. }) {
            i += 1;
            continue;
        }
        let start = i;
        while i < stages.len() && matches!(stages[i], Stage::Line { .. }) {
            i += 1;
        }
        let run = &mut stages[start..i];
        // Loki builds a run's filters from the last one back.
        let mut error = None;
        for stage in run.iter_mut().rev() {
            let Stage::Line { ty, alts, regexes } = stage else {
                continue;
            };
            if !matches!(ty, LineType::Matches | LineType::NotMatches) {
                continue;
            }
            let compiled: Result<Vec<Regex>, String> = alts
                .iter()
                .filter(|a| !a.ip)
                .map(|a| regexp::regex(&a.value).map_err(|e| e.to_string()))
                .collect();
            match compiled {
                Ok(res) => *regexes = res,
                Err(e) => {
                    error.get_or_insert(e);
                }
            }
        }
        if let Some(e) = error
            && first_error.is_none()
        {
            let text: Vec<String> = run.iter().map(line_filter_text).collect();
            first_error = Some(ParseError::bare(format!("stage '{}' : {e}", text.join(" "))));
        }
    }
    first_error
}

/// `LineFilterExpr.String()`: negated `or` chains print as separate
/// filters, the others as `… or "b"`.
fn line_filter_text(stage: &Stage) -> String {
    let Stage::Line { ty, alts, .. } = stage else {
        return String::new();
    };
    let item = |a: &LineAlt| {
        if a.ip {
            format!("ip({})", strconv::quote(&a.value))
        } else {
            strconv::quote(&a.value)
        }
    };
    let joiner = if ty.negated() {
        format!(" {} ", ty.text())
    } else {
        " or ".to_owned()
    };
    let items: Vec<String> = alts.iter().map(item).collect();
    format!("{} {}", ty.text(), items.join(&joiner))
}

fn line_passes(ty: LineType, alts: &[LineAlt], regexes: &[Regex], line: &str) -> bool {
    let any = match ty {
        LineType::Contains | LineType::NotContains => alts.iter().any(|a| line.contains(a.value.as_str())),
        LineType::Matches | LineType::NotMatches => regexes.iter().any(|re| re.is_match(line)),
        // Unserved; never evaluated.
        LineType::Pattern | LineType::NotPattern => true,
    };
    any != ty.negated()
}

impl Filter {
    fn eval(&self, e: &mut Processed) -> bool {
        match self {
            // Loki evaluates both legs of an `and` (for their error labels).
            Filter::All(fs) => {
                let mut ok = true;
                for f in fs {
                    ok &= f.eval(e);
                }
                ok
            }
            Filter::Any(fs) => fs.iter().any(|f| f.eval(e)),
            Filter::Str(m) => m.op.matches(e.get(&m.name).unwrap_or("")),
            Filter::Number { name, cmp, value } => typed_filter(
                e,
                name,
                |v| strconv::parse_float(v).map_err(|err| err.to_string()),
                |x| cmp.holds(x, *value),
            ),
            Filter::Duration { name, cmp, nanos } => {
                typed_filter(e, name, time::parse_duration, |x| cmp.holds(x, *nanos))
            }
            Filter::Bytes { name, cmp, bytes } => {
                typed_filter(e, name, humanize::parse_bytes, |x| cmp.holds(x, *bytes))
            }
            Filter::Ip => true,
        }
    }
}

/// A number, duration or bytes filter: a missing label fails it; a value
/// that does not parse passes it, with Loki's `LabelFilterErr`.
fn typed_filter<T>(
    e: &mut Processed,
    name: &str,
    parse: impl Fn(&str) -> Result<T, String>,
    holds: impl Fn(T) -> bool,
) -> bool {
    let Some(v) = e.get(name).map(str::to_owned) else {
        return false;
    };
    match parse(&v) {
        Ok(x) => holds(x),
        Err(details) => {
            e.set_error("LabelFilterErr", details);
            true
        }
    }
}

fn is_error_label(name: &str) -> bool {
    name == ERROR_LABEL || name == ERROR_DETAILS_LABEL
}

fn drop_labels(items: &[LabelRef], e: &mut Processed) {
    for item in items {
        match item {
            LabelRef::Name(name) if is_error_label(name) => {
                e.parsed.remove(name);
            }
            LabelRef::Name(name) => e.delete(name),
            LabelRef::Matcher(m) => {
                if m.op.matches(e.get(&m.name).unwrap_or("")) {
                    if is_error_label(&m.name) {
                        e.parsed.remove(&m.name);
                    } else {
                        e.delete(&m.name);
                    }
                }
            }
        }
    }
}

fn keep_labels(items: &[LabelRef], e: &mut Processed) {
    let all: Vec<(String, String)> = [&e.stream, &e.metadata, &e.parsed]
        .into_iter()
        .flat_map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())))
        .collect();
    for (name, value) in all {
        if is_error_label(&name) || name == "__preserve_error__" {
            continue;
        }
        let kept = items.iter().any(|item| match item {
            LabelRef::Name(n) => *n == name,
            LabelRef::Matcher(m) => m.name == name && m.op.matches(&value),
        });
        if !kept {
            e.delete(&name);
        }
    }
}

/// Removes ANSI escape sequences, as Loki's `decolorize` stage does
/// (the stripansi pattern).
fn decolorize(line: &str) -> String {
    static ANSI: std::sync::LazyLock<Option<Regex>> = std::sync::LazyLock::new(|| {
        Regex::new(
            r"[\x1B\x{9B}][\[\]()#;?]*(?:(?:(?:[a-zA-Z0-9]*(?:;[a-zA-Z0-9]*)*)?\x07)|(?:(?:[0-9]{1,4}(?:;[0-9]{0,4})*)?[0-9A-PRZcf-ntqry=><~]))",
        )
        .ok()
    });
    match ANSI.as_ref() {
        Some(re) if line.contains(['\x1B', '\u{9B}']) => re.replace_all(line, "").into_owned(),
        _ => line.to_owned(),
    }
}

fn sanitize(name: &str) -> String {
    name.chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' })
        .collect()
}

fn flatten_json(prefix: &str, value: &serde_json::Value, out: &mut Labels) {
    match value {
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                let key = if prefix.is_empty() {
                    sanitize(k)
                } else {
                    format!("{prefix}_{}", sanitize(k))
                };
                flatten_json(&key, v, out);
            }
        }
        serde_json::Value::String(s) => {
            out.entry(prefix.to_owned()).or_insert_with(|| s.clone());
        }
        serde_json::Value::Array(_) => {}
        other => {
            out.entry(prefix.to_owned()).or_insert_with(|| other.to_string());
        }
    }
}

/// `key=value` and `key="quoted value"` pairs of a logfmt line.
pub fn logfmt_pairs(line: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let mut key = String::new();
        while let Some(c) = chars.next_if(|c| !c.is_whitespace() && *c != '=') {
            key.push(c);
        }
        if key.is_empty() && chars.peek().is_none() {
            break;
        }
        let mut value = String::new();
        if chars.next_if_eq(&'=').is_some() {
            if chars.next_if_eq(&'"').is_some() {
                while let Some(c) = chars.next() {
                    match c {
                        '\\' => match chars.next() {
                            Some('n') => value.push('\n'),
                            Some('t') => value.push('\t'),
                            Some(other) => value.push(other),
                            None => break,
                        },
                        '"' => break,
                        c => value.push(c),
                    }
                }
            } else {
                while let Some(c) = chars.next_if(|c| !c.is_whitespace()) {
                    value.push(c);
                }
            }
        }
        if !key.is_empty() {
            out.push((key, value));
        } else {
            chars.next();
        }
    }
    out
}

// ---------------------------------------------------------------------------
// Loki's own helpers over the Go behaviour in `crate::go`
// ---------------------------------------------------------------------------

/// Loki's `parseDuration`: Prometheus' units first, then Go's.
fn parse_duration_either(s: &str) -> Result<i64, String> {
    match model::parse_duration(s) {
        Ok(d) => Ok(d as i64),
        Err(_) => time::parse_duration(s),
    }
}

/// Loki's `NewRegexpParser` checks, as `invalid regexp parser: …`.
fn regexp_parser(src: &str) -> Result<(), ParseError> {
    let fail = |msg: String| ParseError::bare(format!("invalid regexp parser: {msg}"));
    let t = regexp::translate(src).map_err(|e| fail(e.to_string()))?;
    regexp::compile(&t.pattern).map_err(|e| fail(e.to_string()))?;
    if t.names.is_empty() {
        return Err(fail("at least one named capture must be supplied".into()));
    }
    let mut seen: Vec<&String> = Vec::new();
    for name in t.names.iter().flatten() {
        if name.starts_with(|c: char| c.is_ascii_digit()) {
            return Err(fail(format!("invalid extracted label name '{name}'")));
        }
        if seen.contains(&name) {
            return Err(fail(format!("duplicate extracted label name '{name}'")));
        }
        seen.push(name);
    }
    if seen.is_empty() {
        return Err(fail("at least one named capture must be supplied".into()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(query: &str) -> String {
        match parse(query) {
            Ok(_) => panic!("{query:?} parsed"),
            Err(e) => e.to_string(),
        }
    }

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    /// Every rejection with Loki 3.3.2's full message.
    #[test]
    fn rejections_match_lokis_messages() {
        let need = "parse error : queries require at least one regexp or equality matcher that does not have an empty-compatible value. For instance, app=~\".*\" does not meet this requirement, but app=~\".+\" will";
        for (query, message) in [
            ("", "parse error : syntax error: unexpected $end"),
            (
                r#"{a="b"} | nosuchstage"#,
                "parse error at line 1, col 22: syntax error: unexpected $end",
            ),
            (
                r#"{a="b""#,
                "parse error at line 1, col 7: syntax error: unexpected $end, expecting } or ,",
            ),
            (
                r#"{foo="bar""#,
                "parse error at line 1, col 11: syntax error: unexpected $end, expecting } or ,",
            ),
            (
                "{a=b}",
                "parse error at line 1, col 4: syntax error: unexpected IDENTIFIER, expecting STRING",
            ),
            (
                r#"{a="b"} |= "#,
                "parse error at line 1, col 12: syntax error: unexpected $end, expecting STRING or ip",
            ),
            (
                r#"{foo="bar"} |~"#,
                "parse error at line 1, col 15: syntax error: unexpected $end, expecting STRING or ip",
            ),
            (
                r#"{a="b"} | json |"#,
                "parse error at line 1, col 17: syntax error: unexpected $end",
            ),
            (
                r#"a="b""#,
                "parse error at line 1, col 1: syntax error: unexpected IDENTIFIER",
            ),
            (
                r#"{a="b"} |= |="#,
                "parse error at line 0, col 12: syntax error: unexpected |=, expecting STRING or ip",
            ),
            (
                r#"{a="b"} |= "a" or |= "b""#,
                "parse error at line 0, col 19: syntax error: unexpected |=, expecting STRING or ip",
            ),
            (
                r#"{a="b"} "foo""#,
                "parse error at line 1, col 9: syntax error: unexpected STRING",
            ),
            (
                r#"{a="b"} | x == "y""#,
                "parse error at line 1, col 16: syntax error: unexpected STRING",
            ),
            (
                r#"{a="b"} | x =~ 5"#,
                "parse error at line 1, col 16: syntax error: unexpected NUMBER, expecting STRING",
            ),
            (
                r#"{a="b",}"#,
                "parse error at line 1, col 8: syntax error: unexpected }, expecting IDENTIFIER",
            ),
            (
                "{,}",
                "parse error at line 1, col 2: syntax error: unexpected ,, expecting IDENTIFIER or }",
            ),
            (
                r#"{json="x"}"#,
                "parse error at line 1, col 2: syntax error: unexpected json, expecting IDENTIFIER or }",
            ),
            (
                r#"{a@="b"}"#,
                "parse error at line 1, col 3: syntax error: unexpected IDENTIFIER, expecting = or =~ or !~ or !=",
            ),
            (
                r#"{a="b"}}"#,
                "parse error at line 1, col 8: syntax error: unexpected }",
            ),
            (
                r#"{a="b"} | unwrap x"#,
                "parse error at line 1, col 11: syntax error: unexpected unwrap",
            ),
            (
                r#"{a="b"}[5m]"#,
                "parse error at line 0, col 8: syntax error: unexpected RANGE",
            ),
            (
                r#"{a="b"} | line_format"#,
                "parse error at line 1, col 22: syntax error: unexpected $end, expecting STRING",
            ),
            (
                r#"{a="b"} | label_format x="#,
                "parse error at line 1, col 26: syntax error: unexpected $end, expecting IDENTIFIER or STRING",
            ),
            (
                r#"{a="b"} | label_format x="a","#,
                "parse error at line 1, col 30: syntax error: unexpected $end, expecting IDENTIFIER",
            ),
            (
                r#"{a="b"} | label_format a=5"#,
                "parse error at line 1, col 26: syntax error: unexpected NUMBER, expecting IDENTIFIER or STRING",
            ),
            (
                r#"{a="b"} | json a=b"#,
                "parse error at line 1, col 18: syntax error: unexpected IDENTIFIER, expecting STRING",
            ),
            (
                r#"{a="b"} | drop a,"#,
                "parse error at line 1, col 18: syntax error: unexpected $end, expecting IDENTIFIER",
            ),
            (
                r#"{a="b"} | x="y","#,
                "parse error at line 1, col 17: syntax error: unexpected $end, expecting IDENTIFIER or (",
            ),
            (
                r#"{a="b"} | logfmt --bad"#,
                "parse error at line 1, col 20: syntax error: unexpected IDENTIFIER, expecting NUMBER",
            ),
            (
                r#"{a="b"} |= "\q""#,
                "parse error at line 1, col 12: invalid char escape",
            ),
            (r#"{a="b"} |= "\777""#, "parse error at line 1, col 12: invalid syntax"),
            ("{a=\"b\nc\"}", "parse error at line 1, col 4: literal not terminated"),
            (r#"{foo="bar}"#, "parse error at line 1, col 6: literal not terminated"),
            (
                r#"{service_name=~"a\-b"}"#,
                "parse error at line 1, col 16: invalid char escape",
            ),
            ("{a='bc'}", "parse error at line 1, col 4: invalid char literal"),
            (
                r#"{a="b"} /* x"#,
                "parse error at line 1, col 9: comment not terminated",
            ),
            (
                r#"{a="b"} | a > 08"#,
                "parse error at line 1, col 15: invalid digit '8' in octal literal",
            ),
            (
                r#"#{app="foo"} | json"#,
                "parse error at line 1, col 20: syntax error: unexpected $end",
            ),
            (
                "{a=\"b\"}\n  | json |\n",
                "parse error at line 3, col 1: syntax error: unexpected $end",
            ),
            (
                r#"min({ foo = "bar" }[5m])"#,
                "parse error at line 0, col 20: syntax error: unexpected RANGE",
            ),
            (
                r#"rate({ foo = "bar" }[5minutes])"#,
                r#"parse error at line 0, col 21: unknown unit "minutes" in duration "5minutes""#,
            ),
            (
                r#"rate({ foo = "bar" }[5"#,
                "parse error at line 0, col 21: missing closing ']' in duration",
            ),
            (
                "vector(abc)",
                "parse error at line 1, col 8: syntax error: unexpected IDENTIFIER, expecting NUMBER",
            ),
            (
                "rate(abc)",
                "parse error at line 1, col 6: syntax error: unexpected IDENTIFIER, expecting NUMBER or { or (",
            ),
            (
                r#"sum by (rate({a="b"}[1m])) (x)"#,
                "parse error at line 1, col 9: syntax error: unexpected RATE, expecting IDENTIFIER or )",
            ),
            ("bool", "parse error at line 1, col 1: syntax error: unexpected bool"),
            (
                r#"rate({a="b"}[5m]"#,
                "parse error at line 1, col 17: syntax error: unexpected $end, expecting )",
            ),
            ("{}", need),
            (r#"{a=""}"#, need),
            (r#"{a!="x"}"#, need),
            (r#"{a=~".*"}"#, need),
            (r#"{a=~"x|"}"#, need),
            (r#"{a!~"x"}"#, need),
            (r#"{service_name=~".*"} |= "x""#, need),
            (r#"rate({a=~".*"}[5m])"#, need),
            (
                r#"{a=~"("}"#,
                "parse error : error parsing regexp: missing closing ): `(`",
            ),
            (
                r#"{a="b"} | x=~"a)""#,
                "parse error : error parsing regexp: unexpected ): `a)`",
            ),
            (
                r#"{a="b"} | drop x=~"[a""#,
                "parse error : error parsing regexp: missing closing ]: `[a`",
            ),
            (
                r#"{a=~"a**"}"#,
                "parse error : error parsing regexp: invalid nested repetition operator: `**`",
            ),
            (
                r#"{a=~"*a"}"#,
                "parse error : error parsing regexp: missing argument to repetition operator: `*`",
            ),
            (
                r#"{a=~"\\q"}"#,
                r"parse error : error parsing regexp: invalid escape sequence: `\q`",
            ),
            (
                r#"{a=~"a{1001}"}"#,
                "parse error : error parsing regexp: invalid repeat count: `{1001}`",
            ),
            (
                r#"{a=~"(?x)a"}"#,
                "parse error : error parsing regexp: invalid or unsupported Perl syntax: `(?x`",
            ),
            (
                r#"{a=~"\\p{Foo}"}"#,
                r"parse error : error parsing regexp: invalid character class range: `\p{Foo}`",
            ),
            (
                r#"{a=~"\\p{greek}"}"#,
                r"parse error : error parsing regexp: invalid character class range: `\p{greek}`",
            ),
            (
                r#"{a=~"[z-a]"}"#,
                "parse error : error parsing regexp: invalid character class range: `z-a`",
            ),
            // A grammar action's failure replaces the syntax error before it.
            (
                r#"{a="b" | x=~"(""#,
                "parse error : error parsing regexp: missing closing ): `(`",
            ),
            (
                r#"{a="b"} | regexp "(a)""#,
                "parse error : invalid regexp parser: at least one named capture must be supplied",
            ),
            (
                r#"{a="b"} | regexp "(?P<x>a)(?P<x>b)""#,
                "parse error : invalid regexp parser: duplicate extracted label name 'x'",
            ),
            (
                r#"{a="b"} | pattern "<_> x""#,
                "parse error : invalid pattern parser: at least one capture is required",
            ),
            (
                r#"{a="b"} | pattern "<a><b>""#,
                "parse error : invalid pattern parser: found consecutive capture '<a><b>': invalid expression",
            ),
            (
                r#"{a="b"} + 1"#,
                "parse error : unexpected type for left leg of binary operation (+): *syntax.MatchersExpr",
            ),
            (
                r#"1 / {a="b"} |= "x""#,
                "parse error : unexpected type for right leg of binary operation (/): *syntax.PipelineExpr",
            ),
            (
                "1 and vector(1)",
                "parse error : unexpected literal for left leg of logical/set binary operation (and): 1.000000",
            ),
            (
                "0x1F",
                r#"parse error : unable to parse literal as a float: strconv.ParseFloat: parsing "0x1F": invalid syntax"#,
            ),
            (
                r#"{a="b"} | x < 0B"#,
                "parse error at line 1, col 15: binary literal has no digits",
            ),
        ] {
            assert_eq!(err(query), message, "{query:?}");
        }
        let long = format!("{{a=\"{}\"}}", "x".repeat(MAX_INPUT_SIZE));
        assert_eq!(
            err(&long),
            format!("parse error : input size too long ({} > 131072)", long.len())
        );
    }

    #[test]
    fn valid_queries_parse() {
        for query in [
            r#"{service_name=~`(.+/)?pillars-logs-1a2b3c4d`} |= "run=r1 ""#,
            r#"{app="durable-code-frontend"} |= "run=r1 ""#,
            "{service_name=\"svc\"} | label_format log_line_contains_trace_id=`{{ contains \"abc\" __line__ }}` | log_line_contains_trace_id=\"true\" OR trace_id=\"abc\"",
            r#"{job="a/b"} | json | traceid="x""#,
            // The harness's own renderings (src/query/lang/logql.rs).
            r#"{service_name=~`(.+/)?pillars-logs-1a2b`} |= "run=r \"1\" ""#,
            "{service_name=\"svc\"} | label_format log_line_contains_trace_id=`{{ contains \"abc\" __line__  }}` | log_line_contains_trace_id=\"true\" or trace_id=\"abc\"",
            r#"{a="b"} | JSON"#,
            r#"{a="b"} | Logfmt --keep-empty | x > 5 AND y <= 250ms Or z == 5MB"#,
            r#"{a!~""}"#,
            r#"{a!=""} != "debug" |~ "seq=\\d+" or "x" !~ `a\-b`"#,
            r#"({a="b"} | json)"#,
            r#"{rate="x", ip="y", bytes="z"}"#,
            r#"{a="b"} | ip="x" | drop a, b="c" | keep d, e=~"f.*""#,
            r#"{a="b"} # a comment"#,
            r#"{a="b"} | x = -5 | y != +3.5 | z > -5m | (u="1" or v="2") w="3", q="4""#,
            r#"{a="b"} | decolorize"#,
            r#"{a="b"} | label_format x=`{{ contains "a" __line__ }}`, y="{{ contains \"b\" __line__ }}""#,
        ] {
            assert!(parse(query).is_ok(), "{query:?}: {:?}", parse(query).err());
        }
    }

    #[test]
    fn what_the_stack_does_not_evaluate_is_unserved() {
        for (query, kind) in [
            (r#"rate({a="b"}[5m])"#, QueryKind::Metric),
            (
                r#"sum by (x) (count_over_time({a="b"} | json [1m]))"#,
                QueryKind::Metric,
            ),
            (
                r#"count_over_time({service_name="harness"} | run="r42" [5m])"#,
                QueryKind::Metric,
            ),
            (
                r#"quantile_over_time(0.99, {a="b"} | unwrap bytes(x) | __error__="" [5m]) by (a)"#,
                QueryKind::Metric,
            ),
            (
                r#"sum(rate({a="b"}[1m])) / on(x) group_left(y) sum(rate({a="b"}[1m]))"#,
                QueryKind::Metric,
            ),
            (
                r#"label_replace(rate({a="b"}[1m]), "d", "$1", "s", "(.*)")"#,
                QueryKind::Metric,
            ),
            (r#"topk(5, rate(({a="b"})[1m] offset 5m))"#, QueryKind::Metric),
            ("1 + 1", QueryKind::Metric),
            ("vector(1)", QueryKind::Metric),
            (r#"{a="b"} | unpack"#, QueryKind::Log),
            (r#"{a="b"} | regexp "(?P<x>a)""#, QueryKind::Log),
            (r#"{a="b"} | pattern "<x> y""#, QueryKind::Log),
            (r#"{a="b"} | line_format "{{.x}}""#, QueryKind::Log),
            (r#"{a="b"} | label_format x=y"#, QueryKind::Log),
            (r#"{a="b"} | label_format x=`{{ .foo }}`"#, QueryKind::Log),
            (r#"{a="b"} | json x="y""#, QueryKind::Log),
            (r#"{a="b"} | logfmt --strict"#, QueryKind::Log),
            (r#"{a="b"} |= ip("1.2.3.4")"#, QueryKind::Log),
            (r#"{a="b"} | x = ip("1.2.3.4")"#, QueryKind::Log),
            (r#"{a="b"} |> "<_> x""#, QueryKind::Log),
        ] {
            match parse(query) {
                Err(ParseError::Unserved { kind: k, .. }) => assert_eq!(k, kind, "{query:?}"),
                other => panic!("{query:?}: {other:?}"),
            }
        }
        let message = parse(r#"rate({a="b"}[5m])"#).unwrap_err().to_string();
        assert!(
            message.contains("serves log queries and some metric queries only"),
            "{message}"
        );
        assert!(message.contains("`rate`"), "{message}");
    }

    #[test]
    fn selectors_and_line_filters() {
        let q = parse(r#"{service_name=~"(.+/)?svc", kind!="x"} |= "run=r1" != "debug" |~ "seq=\\d+""#).unwrap();
        assert!(q.selects(&labels(&[("service_name", "ns/svc")])));
        assert!(q.selects(&labels(&[("service_name", "svc")])));
        assert!(!q.selects(&labels(&[("service_name", "other")])));
        let none = Labels::new();
        assert!(q.pipeline(&none, &none, "run=r1 seq=4").is_some());
        assert!(q.pipeline(&none, &none, "run=r1 seq=x").is_none());
        assert!(q.pipeline(&none, &none, "debug run=r1 seq=4").is_none());
        let q = parse(r#"{a="b"} |= "x" or "y" != "z" or "w""#).unwrap();
        assert!(q.pipeline(&none, &none, "y").is_some());
        assert!(q.pipeline(&none, &none, "x w").is_none());
        assert!(q.pipeline(&none, &none, "q").is_none());
        // Perl classes are ASCII, as Go's are.
        let q = parse(r#"{a="b"} |~ "^\\d$""#).unwrap();
        assert!(q.pipeline(&none, &none, "٣").is_none());
        assert!(q.pipeline(&none, &none, "3").is_some());
    }

    #[test]
    fn a_bad_line_regex_is_a_stage_error() {
        let q = parse(r#"{a="b"} |= "x" |~ "(" | json"#).unwrap();
        assert_eq!(
            q.stage_error().map(ToString::to_string).as_deref(),
            Some(r#"parse error : stage '|= "x" |~ "("' : error parsing regexp: missing closing ): `(`"#)
        );
        assert!(parse(r#"{a="b"} |~ "x""#).unwrap().stage_error().is_none());
    }

    #[test]
    fn label_filters_see_metadata_and_parsed_labels() {
        let q = parse(r#"{app="a"} | logfmt | kind="log" and level="info" or trace_id="abc""#).unwrap();
        let stream = labels(&[("app", "a")]);
        let meta = labels(&[("trace_id", "abc")]);
        let none = Labels::new();
        assert!(q.pipeline(&stream, &none, "kind=log level=info").is_some());
        assert!(q.pipeline(&stream, &none, "kind=log level=warn").is_none());
        assert!(q.pipeline(&stream, &meta, "kind=event").is_some());
        let q = parse(r#"{app="a"} | json | body_seq="3""#).unwrap();
        let hit = q.pipeline(&stream, &none, r#"{"body":{"seq":"3"}}"#).unwrap();
        assert_eq!(hit.parsed["body_seq"], "3");
        let hit = parse(r#"{app="a"} | json"#)
            .unwrap()
            .pipeline(&stream, &none, "not json")
            .unwrap();
        assert_eq!(hit.parsed["__error__"], "JSONParserErr");
        // `,` takes everything to its right: a, (b or c).
        let q = parse(r#"{app="a"} | logfmt | x="1", y="2" or z="3""#).unwrap();
        assert!(q.pipeline(&stream, &none, "x=1 z=3").is_some());
        assert!(q.pipeline(&stream, &none, "z=3").is_none());
    }

    #[test]
    fn numeric_duration_and_bytes_filters() {
        let none = Labels::new();
        let q = parse(r#"{a="b"} | logfmt | n > 5 | d <= 1s | s >= 1KB"#).unwrap();
        assert!(q.pipeline(&none, &none, "n=6 d=250ms s=2kB").is_some());
        assert!(q.pipeline(&none, &none, "n=5 d=250ms s=2kB").is_none());
        assert!(q.pipeline(&none, &none, "n=6 d=2s s=2kB").is_none());
        assert!(q.pipeline(&none, &none, "n=6 d=250ms s=999B").is_none());
        // A missing label fails a numeric filter; an unparsable one passes
        // with Loki's error labels.
        assert!(q.pipeline(&none, &none, "d=250ms s=2kB").is_none());
        let hit = q.pipeline(&none, &none, "n=abc d=250ms s=2kB").unwrap();
        assert_eq!(hit.parsed["__error__"], "LabelFilterErr");
        assert_eq!(
            hit.parsed["__error_details__"],
            r#"strconv.ParseFloat: parsing "abc": invalid syntax"#
        );
        let q = parse(r#"{a="b"} | logfmt | n = -2.5"#).unwrap();
        assert!(q.pipeline(&none, &none, "n=-2.5").is_some());
    }

    #[test]
    fn grafanas_trace_to_logs_query_runs() {
        let q = parse(
            "{service_name=\"svc\"} | label_format log_line_contains_trace_id=`{{ contains \"abc\" __line__ }}` | log_line_contains_trace_id=\"true\" OR trace_id=\"abc\"",
        )
        .unwrap();
        let stream = labels(&[("service_name", "svc")]);
        let none = Labels::new();
        let hit = q.pipeline(&stream, &none, "line with abc").unwrap();
        assert_eq!(hit.parsed["log_line_contains_trace_id"], "true");
        assert!(
            q.pipeline(&stream, &labels(&[("trace_id", "abc")]), "plain line")
                .is_some()
        );
        assert!(q.pipeline(&stream, &none, "plain line").is_none());
        assert!(
            parse("{a=\"b\"} | label_format x=`{{ .foo }}`")
                .unwrap_err()
                .is_unserved()
        );
    }

    #[test]
    fn drop_keep_and_decolorize_shape_the_entry() {
        let stream = labels(&[("app", "a"), ("env", "prod")]);
        let meta = labels(&[("trace_id", "t1")]);
        let q = parse(r#"{app="a"} | logfmt | drop env, level="debug", __error__"#).unwrap();
        let hit = q.pipeline(&stream, &meta, "level=debug msg=x").unwrap();
        assert_eq!(hit.stream, labels(&[("app", "a")]));
        assert_eq!(hit.parsed, labels(&[("msg", "x")]));
        let q = parse(r#"{app="a"} | logfmt | keep app, msg"#).unwrap();
        let hit = q.pipeline(&stream, &meta, "level=debug msg=x").unwrap();
        assert_eq!(
            (hit.stream, hit.metadata, hit.parsed),
            (labels(&[("app", "a")]), Labels::new(), labels(&[("msg", "x")]))
        );
        let q = parse(r#"{app="a"} | decolorize"#).unwrap();
        assert_eq!(q.pipeline(&stream, &meta, "plain").unwrap().line, "plain");
        assert_eq!(
            q.pipeline(&stream, &meta, "\u{1b}[31mred\u{1b}[0m").unwrap().line,
            "red"
        );
    }

    #[test]
    fn logfmt_reads_quoted_values() {
        let pairs = logfmt_pairs(r#"timestamp="2025-01-01 00:00:00 +0000 UTC" kind=log message="a \"b\"" empty="#);
        assert_eq!(pairs[0], ("timestamp".into(), "2025-01-01 00:00:00 +0000 UTC".into()));
        assert_eq!(pairs[2], ("message".into(), "a \"b\"".into()));
        assert_eq!(pairs[3], ("empty".into(), "".into()));
        let none = Labels::new();
        let skip = parse(r#"{a="b"} | logfmt"#)
            .unwrap()
            .pipeline(&none, &none, "e= k=v")
            .unwrap();
        assert_eq!(skip.parsed, labels(&[("k", "v")]));
        let keep = parse(r#"{a="b"} | logfmt --keep-empty"#)
            .unwrap()
            .pipeline(&none, &none, "e= k=v")
            .unwrap();
        assert_eq!(keep.parsed, labels(&[("e", ""), ("k", "v")]));
    }

    #[test]
    fn push_labels() {
        assert_eq!(
            parse_labels(r#"{service_name="svc", run="r1", empty=""}"#).unwrap(),
            labels(&[("run", "r1"), ("service_name", "svc")])
        );
        assert!(parse_labels("{}").unwrap().is_empty());
        assert_eq!(
            parse_labels(r#"{a=~"b"}"#).unwrap_err().to_string(),
            "parse error at line 0, col 3: syntax error: unexpected =~, expecting ="
        );
        assert_eq!(
            parse_labels(r#"{a="b\-c"}"#).unwrap_err().to_string(),
            "parse error at line 1, col 4: invalid char escape"
        );
        assert_eq!(
            parse_labels(r#"{a="b"} x"#).unwrap_err().to_string(),
            "parse error at line 1, col 9: syntax error: unexpected IDENTIFIER"
        );
    }

    /// Hostile and random input never panics, and what parses evaluates.
    #[test]
    fn no_input_panics() {
        let pieces = [
            "{",
            "}",
            "(",
            ")",
            "[",
            "]",
            "|",
            "|=",
            "!=",
            "|~",
            "!~",
            "|>",
            "!>",
            "=",
            "=~",
            "==",
            ">",
            "<=",
            ",",
            "\"",
            "`",
            "'",
            "\\",
            "a",
            "json",
            "logfmt",
            "--strict",
            "--keep-empty",
            "-",
            "--",
            "5m",
            "5MB",
            "0x",
            "0B",
            "08",
            "1e",
            "1.",
            ".5",
            "rate",
            "sum",
            "by",
            "without",
            "or",
            "and",
            "unless",
            "ip",
            "unwrap",
            "bytes",
            "offset",
            "label_format",
            "line_format",
            "drop",
            "keep",
            "regexp",
            "pattern",
            "unpack",
            "decolorize",
            "\"(\"",
            "\"a\\-b\"",
            "\"\\777\"",
            "`x`",
            "#",
            "/*",
            "//",
            "\n",
            " ",
            "\t",
            "\0",
            "é",
            "\u{feff}",
            "\u{a0}",
            "[5m]",
            "[5",
            "\"<a>\"",
            "{{",
            "}}",
            "__line__",
            "contains",
            "+",
            "*",
            "/",
            "%",
            "^",
            "bool",
            "on",
            "group_left",
            "vector",
            "label_replace",
            "\"a\"",
            "x",
            "=\"\"",
            "\"(?P<a>x)\"",
        ];
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let none = Labels::new();
        let stream = labels(&[("a", "b")]);
        for _ in 0..600 {
            let n = (next() % 24) as usize;
            let mut query = String::new();
            for _ in 0..n {
                query.push_str(pieces[(next() % pieces.len() as u64) as usize]);
                if next() % 3 == 0 {
                    query.push(' ');
                }
            }
            if let Ok(q) = parse(&query) {
                let _ = q.pipeline(&stream, &none, "a=1 b=\"x\" {\"j\":1} \u{1b}[0m");
            }
            let _ = parse_labels(&query);
        }
        for hostile in [
            "(".repeat(10_000),
            format!("{{a=\"b\"}} | {}x=\"1\"", "(".repeat(5_000)),
            format!("{{a=\"b\"}} | x=\"1\"{}", " , y=\"2\" or z=\"3\"".repeat(2_000)),
            format!("{{a=~\"{}\"}}", "(".repeat(3_000)),
            "1 ^ ".repeat(5_000) + "1",
            "rate rate rate ".repeat(5_000),
            "1.1.1.1.".repeat(10_000),
            "-".repeat(20_000),
            "\0".repeat(1_000),
        ] {
            let _ = parse(&hostile);
        }
    }
}
