//! TraceQL as Tempo 2.6.1 reads it, for the reference stack's
//! `/api/search`: a lexer, a parser and an evaluator for the part of the
//! language the reference stack serves.
//!
//! - **Lexer**: Tempo's `pkg/traceql/lexer.go` over Go's `text/scanner`
//!   (`lang::scanner`): its token table, scopes (`span.`, `trace:` …),
//!   attribute names read rune by rune (`isAttributeRune`, quoted parts
//!   `span."a b"`), durations tried before numbers, strings through
//!   `strconv.Unquote`, char literals left as identifiers, and the error
//!   positions that follow from it (`line 0` once the scanner's `Next` ran).
//!   When Tempo's look-ahead on a scanner copy crosses Go's 1024-byte read
//!   buffer, real Tempo loses input; such queries are `Unserved`.
//! - **Parser**: recursive descent written by hand from the grammar of
//!   `expr.y` (no code or tables taken from Tempo, which is AGPL). Its
//!   contexts mirror the `(`-states of Tempo's goyacc parser, so it
//!   accepts what Tempo accepts and rejects what the shift-preferring
//!   conflict resolution rejects (`({ }) && ({ } | count() > 1)` fails at
//!   `|`), with `syntax error: unexpected X[, expecting A or B]` at the same
//!   token and goyacc's expected list where a state has at most four
//!   shifts. Constant folding runs as in `newBinaryOperation`, so
//!   `{ 1 / 0 }` is Tempo's recovered panic `parse error : runtime error:
//!   integer divide by zero`. Checked against Tempo 2.6.1's parser on some
//!   400,000 generated queries without a difference.
//! - **Evaluation**: spanset filters joined by `&&` and `||`, with Tempo's
//!   typed comparison rules (`ast_execute.go`), attributes of the span and
//!   resource scopes, and the span and trace intrinsics the harness and
//!   Grafana use. Regexes are RE2 syntax (`regex` crate) and, as in 2.6.1,
//!   unanchored (Tempo anchors them from 2.7). Everything else Tempo
//!   accepts (structural operators, pipelines, metrics, hints, `event.`,
//!   `link.` and `parent.` scopes) is `Unserved`: valid, but not evaluated
//!   here, never guessed at.
//!
//! Uses: `lang::scanner`, `go` (`strconv`, `time`, `model`). Follows
//! `shared/reference/api/03-tempo.md`, `09-query-strings.md` and Tempo
//! 2.6.1 as run (research notes part A).

use std::collections::HashMap;
use std::fmt;

use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::trace::v1::Span;
use regex::Regex;

use super::scanner::{Mode, Scanner, Tok};
use crate::go::{model, strconv, time};

/// Deepest nesting (parentheses, unary operators) parsed before giving up;
/// the parser is recursive and hostile input must not exhaust the stack.
const MAX_NESTING: usize = 64;
/// Most operator nodes in one query; bounds the depth of the trees the
/// evaluator walks.
const MAX_NODES: usize = 2_000;

// ---------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------

/// A query Tempo rejects, with Tempo's position and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub line: usize,
    pub col: usize,
    pub msg: String,
}

impl ParseError {
    fn new(line: usize, col: usize, msg: impl Into<String>) -> ParseError {
        ParseError {
            line,
            col,
            msg: msg.into(),
        }
    }
}

impl fmt::Display for ParseError {
    /// Tempo's `ParseError.Error()`, odd `" : "` included.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 && self.col == 0 {
            write!(f, "parse error : {}", self.msg)
        } else {
            write!(f, "parse error at line {}, col {}: {}", self.line, self.col, self.msg)
        }
    }
}

impl std::error::Error for ParseError {}

/// A query Tempo accepts that the reference stack does not evaluate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unserved(pub String);

impl fmt::Display for Unserved {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the reference stack parses this TraceQL query but does not evaluate {}",
            self.0
        )
    }
}

impl std::error::Error for Unserved {}

/// Why a query gets no search result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueryError {
    /// Tempo answers 400 with this.
    Invalid(ParseError),
    /// Tempo would answer; the reference stack does not.
    Unserved(Unserved),
}

impl fmt::Display for QueryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            QueryError::Invalid(e) => e.fmt(f),
            QueryError::Unserved(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for QueryError {}

fn unserved(what: impl Into<String>) -> Unserved {
    Unserved(what.into())
}

// ---------------------------------------------------------------------
// Tokens
// ---------------------------------------------------------------------

/// Tempo's tokens, in `expr.y`'s declaration order: goyacc lists expected
/// tokens in this order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Tk {
    Identifier,
    Str,
    Integer,
    Float,
    Duration,
    Dot,
    OpenBrace,
    CloseBrace,
    OpenParens,
    CloseParens,
    Comma,
    Nil,
    True,
    False,
    StatusError,
    StatusOk,
    StatusUnset,
    KindUnspecified,
    KindInternal,
    KindServer,
    KindClient,
    KindProducer,
    KindConsumer,
    IDuration,
    ChildCount,
    Name,
    Status,
    StatusMessage,
    Parent,
    Kind,
    RootName,
    RootServiceName,
    TimeSinceStart,
    RootService,
    TraceDuration,
    NestedSetLeft,
    NestedSetRight,
    NestedSetParent,
    Id,
    TraceId,
    SpanId,
    ParentDot,
    ResourceDot,
    SpanDot,
    TraceColon,
    SpanColon,
    EventColon,
    EventDot,
    LinkColon,
    LinkDot,
    Count,
    Avg,
    Max,
    Min,
    Sum,
    By,
    Coalesce,
    Select,
    EndAttribute,
    Rate,
    CountOverTime,
    QuantileOverTime,
    HistogramOverTime,
    Compare,
    With,
    Pipe,
    And,
    Or,
    Eq,
    Neq,
    Lt,
    Lte,
    Gt,
    Gte,
    Nre,
    Re,
    Desc,
    Ance,
    Sibl,
    NotChild,
    NotParent,
    NotDesc,
    NotAnce,
    UnionChild,
    UnionParent,
    UnionDesc,
    UnionAnce,
    UnionSibl,
    Add,
    Sub,
    Not,
    Mul,
    Div,
    Mod,
    Pow,
    /// goyacc's `$end`: end of input, or what the lexer returns after an error.
    End,
}

/// Tempo's `tokens` map: the spelling of every token that has one.
const TABLE: &[(&str, Tk)] = &[
    (",", Tk::Comma),
    (".", Tk::Dot),
    ("{", Tk::OpenBrace),
    ("}", Tk::CloseBrace),
    ("(", Tk::OpenParens),
    (")", Tk::CloseParens),
    ("=", Tk::Eq),
    ("!=", Tk::Neq),
    ("=~", Tk::Re),
    ("!~", Tk::Nre),
    (">", Tk::Gt),
    (">=", Tk::Gte),
    ("<", Tk::Lt),
    ("<=", Tk::Lte),
    ("+", Tk::Add),
    ("-", Tk::Sub),
    ("/", Tk::Div),
    ("%", Tk::Mod),
    ("*", Tk::Mul),
    ("^", Tk::Pow),
    ("true", Tk::True),
    ("false", Tk::False),
    ("nil", Tk::Nil),
    ("ok", Tk::StatusOk),
    ("error", Tk::StatusError),
    ("unset", Tk::StatusUnset),
    ("unspecified", Tk::KindUnspecified),
    ("internal", Tk::KindInternal),
    ("server", Tk::KindServer),
    ("client", Tk::KindClient),
    ("producer", Tk::KindProducer),
    ("consumer", Tk::KindConsumer),
    ("&&", Tk::And),
    ("||", Tk::Or),
    ("!", Tk::Not),
    ("|", Tk::Pipe),
    (">>", Tk::Desc),
    ("<<", Tk::Ance),
    ("~", Tk::Sibl),
    ("!>", Tk::NotChild),
    ("!<", Tk::NotParent),
    ("!>>", Tk::NotDesc),
    ("!<<", Tk::NotAnce),
    ("&~", Tk::UnionSibl),
    ("&>", Tk::UnionChild),
    ("&<", Tk::UnionParent),
    ("&>>", Tk::UnionDesc),
    ("&<<", Tk::UnionAnce),
    ("duration", Tk::IDuration),
    ("childCount", Tk::ChildCount),
    ("name", Tk::Name),
    ("status", Tk::Status),
    ("statusMessage", Tk::StatusMessage),
    ("kind", Tk::Kind),
    ("rootName", Tk::RootName),
    ("rootServiceName", Tk::RootServiceName),
    ("rootService", Tk::RootService),
    ("traceDuration", Tk::TraceDuration),
    ("nestedSetLeft", Tk::NestedSetLeft),
    ("nestedSetRight", Tk::NestedSetRight),
    ("nestedSetParent", Tk::NestedSetParent),
    ("id", Tk::Id),
    ("traceID", Tk::TraceId),
    ("spanID", Tk::SpanId),
    ("timeSinceStart", Tk::TimeSinceStart),
    ("parent", Tk::Parent),
    ("parent.", Tk::ParentDot),
    ("resource.", Tk::ResourceDot),
    ("span.", Tk::SpanDot),
    ("trace:", Tk::TraceColon),
    ("span:", Tk::SpanColon),
    ("event:", Tk::EventColon),
    ("link:", Tk::LinkColon),
    ("event.", Tk::EventDot),
    ("link.", Tk::LinkDot),
    ("count", Tk::Count),
    ("avg", Tk::Avg),
    ("max", Tk::Max),
    ("min", Tk::Min),
    ("sum", Tk::Sum),
    ("by", Tk::By),
    ("coalesce", Tk::Coalesce),
    ("select", Tk::Select),
    ("rate", Tk::Rate),
    ("count_over_time", Tk::CountOverTime),
    ("quantile_over_time", Tk::QuantileOverTime),
    ("histogram_over_time", Tk::HistogramOverTime),
    ("compare", Tk::Compare),
    ("with", Tk::With),
];

fn lookup(text: &str) -> Option<Tk> {
    TABLE.iter().find(|(t, _)| *t == text).map(|(_, k)| *k)
}

impl Tk {
    /// goyacc's `yyTokname` after Tempo replaced names by spellings.
    fn name(self) -> &'static str {
        match self {
            Tk::Identifier => "IDENTIFIER",
            Tk::Str => "STRING",
            Tk::Integer => "INTEGER",
            Tk::Float => "FLOAT",
            Tk::Duration => "DURATION",
            Tk::EndAttribute => "END_ATTRIBUTE",
            Tk::End => "$end",
            other => TABLE
                .iter()
                .find(|(_, k)| *k == other)
                .map(|(t, _)| *t)
                .unwrap_or("$unk"),
        }
    }

    fn starts_attribute(self) -> bool {
        matches!(
            self,
            Tk::Dot | Tk::ResourceDot | Tk::SpanDot | Tk::ParentDot | Tk::EventDot | Tk::LinkDot
        )
    }

    fn is_scope(self) -> bool {
        matches!(
            self,
            Tk::ParentDot
                | Tk::SpanDot
                | Tk::ResourceDot
                | Tk::SpanColon
                | Tk::TraceColon
                | Tk::EventColon
                | Tk::LinkColon
                | Tk::EventDot
                | Tk::LinkDot
        )
    }

    fn is_aggregate(self) -> bool {
        matches!(self, Tk::Count | Tk::Avg | Tk::Max | Tk::Min | Tk::Sum)
    }

    fn is_metrics(self) -> bool {
        matches!(
            self,
            Tk::Rate | Tk::CountOverTime | Tk::QuantileOverTime | Tk::HistogramOverTime | Tk::Compare
        )
    }

    fn is_static(self) -> bool {
        matches!(
            self,
            Tk::Str
                | Tk::Integer
                | Tk::Float
                | Tk::True
                | Tk::False
                | Tk::Nil
                | Tk::Duration
                | Tk::StatusOk
                | Tk::StatusError
                | Tk::StatusUnset
                | Tk::KindUnspecified
                | Tk::KindInternal
                | Tk::KindServer
                | Tk::KindClient
                | Tk::KindProducer
                | Tk::KindConsumer
        )
    }

    /// `scalarFilterOperation`.
    fn is_comparison(self) -> bool {
        matches!(self, Tk::Eq | Tk::Neq | Tk::Lt | Tk::Lte | Tk::Gt | Tk::Gte)
    }

    fn is_arithmetic(self) -> bool {
        matches!(self, Tk::Add | Tk::Sub | Tk::Mul | Tk::Div | Tk::Mod | Tk::Pow)
    }

    /// Spanset operators and their `%left` level: `&&` and `||` bind
    /// looser than the structural ones.
    fn spanset_precedence(self) -> Option<u8> {
        match self {
            Tk::And | Tk::Or => Some(1),
            Tk::Gt
            | Tk::Lt
            | Tk::Desc
            | Tk::Ance
            | Tk::Sibl
            | Tk::NotChild
            | Tk::NotParent
            | Tk::NotDesc
            | Tk::NotAnce
            | Tk::Nre
            | Tk::UnionChild
            | Tk::UnionParent
            | Tk::UnionDesc
            | Tk::UnionAnce
            | Tk::UnionSibl => Some(2),
            _ => None,
        }
    }

    /// Field-expression operators: the operator, its `%left` level and
    /// whether it associates to the right (`^`, `%right POW`).
    fn field_operator(self) -> Option<(BinOp, u8, bool)> {
        Some(match self {
            Tk::And => (BinOp::And, 1, false),
            Tk::Or => (BinOp::Or, 1, false),
            Tk::Eq => (BinOp::Eq, 2, false),
            Tk::Neq => (BinOp::Neq, 2, false),
            Tk::Lt => (BinOp::Lt, 2, false),
            Tk::Lte => (BinOp::Lte, 2, false),
            Tk::Gt => (BinOp::Gt, 2, false),
            Tk::Gte => (BinOp::Gte, 2, false),
            Tk::Re => (BinOp::Re, 2, false),
            Tk::Nre => (BinOp::Nre, 2, false),
            Tk::Add => (BinOp::Add, 3, false),
            Tk::Sub => (BinOp::Sub, 3, false),
            Tk::Mul => (BinOp::Mul, 5, false),
            Tk::Div => (BinOp::Div, 5, false),
            Tk::Mod => (BinOp::Mod, 5, false),
            Tk::Pow => (BinOp::Pow, 6, true),
            _ => return None,
        })
    }
}

/// `%left` level of unary minus (`SUB fieldExpression` takes `SUB`'s) and
/// of `!`: operators binding tighter than these stay inside the operand.
const NEG_OPERAND: u8 = 4;
const NOT_OPERAND: u8 = 5;

#[derive(Debug, Clone, PartialEq)]
enum Val {
    None,
    Text(String),
    Str(Vec<u8>),
    Int(i64),
    Float(f64),
    Duration(i64),
}

#[derive(Debug, Clone, PartialEq)]
struct Token {
    tk: Tk,
    val: Val,
    line: usize,
    col: usize,
}

// ---------------------------------------------------------------------
// Lexer (Tempo's `lexer.Lex`)
// ---------------------------------------------------------------------

/// Tempo's `isAttributeRune`; `None` is EOF.
fn is_attribute_rune(c: Option<char>) -> bool {
    match c {
        None => false,
        Some(c) if c.is_whitespace() => false,
        Some('{' | '}' | '(' | ')' | '=' | '~' | '!' | '<' | '>' | '&' | '|' | '^' | ',') => false,
        Some(_) => true,
    }
}

/// Go's default identifier rule, `_` or `unicode.IsLetter`, then also
/// `unicode.IsDigit` (category Nd only: `½`, `²` and `Ⅻ` end an
/// identifier). Rust's `is_alphabetic` also takes the letter numbers and
/// circled letters, excluded here; combining marks it counts as
/// alphabetic stay a known gap.
fn go_ident_rune(c: char, i: usize) -> bool {
    c == '_' || is_go_letter(c) || (i > 0 && in_ranges(c, DECIMAL_DIGITS))
}

fn is_go_letter(c: char) -> bool {
    c.is_alphabetic() && !in_ranges(c, ALPHABETIC_NOT_LETTERS)
}

fn in_ranges(c: char, ranges: &[(u32, u32)]) -> bool {
    let c = c as u32;
    ranges
        .binary_search_by(|&(lo, hi)| {
            if hi < c {
                std::cmp::Ordering::Less
            } else if lo > c {
                std::cmp::Ordering::Greater
            } else {
                std::cmp::Ordering::Equal
            }
        })
        .is_ok()
}

/// Unicode 15.0 (Go 1.23) category Nd.
#[rustfmt::skip]
const DECIMAL_DIGITS: &[(u32, u32)] = &[
    (0x30, 0x39), (0x660, 0x669), (0x6f0, 0x6f9), (0x7c0, 0x7c9), (0x966, 0x96f), (0x9e6, 0x9ef), (0xa66, 0xa6f),
    (0xae6, 0xaef), (0xb66, 0xb6f), (0xbe6, 0xbef), (0xc66, 0xc6f), (0xce6, 0xcef), (0xd66, 0xd6f), (0xde6, 0xdef),
    (0xe50, 0xe59), (0xed0, 0xed9), (0xf20, 0xf29), (0x1040, 0x1049), (0x1090, 0x1099), (0x17e0, 0x17e9),
    (0x1810, 0x1819), (0x1946, 0x194f), (0x19d0, 0x19d9), (0x1a80, 0x1a89), (0x1a90, 0x1a99), (0x1b50, 0x1b59),
    (0x1bb0, 0x1bb9), (0x1c40, 0x1c49), (0x1c50, 0x1c59), (0xa620, 0xa629), (0xa8d0, 0xa8d9), (0xa900, 0xa909),
    (0xa9d0, 0xa9d9), (0xa9f0, 0xa9f9), (0xaa50, 0xaa59), (0xabf0, 0xabf9), (0xff10, 0xff19), (0x104a0, 0x104a9),
    (0x10d30, 0x10d39), (0x11066, 0x1106f), (0x110f0, 0x110f9), (0x11136, 0x1113f), (0x111d0, 0x111d9),
    (0x112f0, 0x112f9), (0x11450, 0x11459), (0x114d0, 0x114d9), (0x11650, 0x11659), (0x116c0, 0x116c9),
    (0x11730, 0x11739), (0x118e0, 0x118e9), (0x11950, 0x11959), (0x11c50, 0x11c59), (0x11d50, 0x11d59),
    (0x11da0, 0x11da9), (0x11f50, 0x11f59), (0x16a60, 0x16a69), (0x16ac0, 0x16ac9), (0x16b50, 0x16b59),
    (0x1d7ce, 0x1d7ff), (0x1e140, 0x1e149), (0x1e2f0, 0x1e2f9), (0x1e4f0, 0x1e4f9), (0x1e950, 0x1e959),
    (0x1fbf0, 0x1fbf9),
];

/// Alphabetic characters of category Nl or So, which Go's `IsLetter` refuses.
#[rustfmt::skip]
const ALPHABETIC_NOT_LETTERS: &[(u32, u32)] = &[
    (0x16ee, 0x16f0), (0x2160, 0x2182), (0x2185, 0x2188), (0x24b6, 0x24e9), (0x3007, 0x3007), (0x3021, 0x3029),
    (0x3038, 0x303a), (0xa6e6, 0xa6ef), (0x10140, 0x10174), (0x10341, 0x10341), (0x1034a, 0x1034a),
    (0x103d1, 0x103d5), (0x12400, 0x1246e), (0x1f130, 0x1f149), (0x1f150, 0x1f169), (0x1f170, 0x1f189),
];

/// Go's `text/scanner` reads its source 1024 bytes at a time.
const GO_SCANNER_BUFFER: usize = 1024;

/// Where the scanner's buffer ends once it has read up to `read`: it
/// refills when it reads the character at or across the buffer's end,
/// keeping that character's leading bytes.
fn go_buffer_end(src: &str, read: usize) -> usize {
    let mut end = src.len().min(GO_SCANNER_BUFFER);
    while end < src.len() {
        let refill_at = floor_char_boundary(src, end);
        if read <= refill_at {
            break;
        }
        end = (refill_at + GO_SCANNER_BUFFER).min(src.len());
    }
    end
}

fn floor_char_boundary(src: &str, mut i: usize) -> usize {
    while i > 0 && !src.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn is_duration_rune(c: char) -> bool {
    matches!(c, 'n' | 's' | 'u' | 'm' | 'h' | 'µ' | 'd' | 'w' | 'y')
}

struct Lexer<'a> {
    src: &'a str,
    sc: Scanner<'a>,
    /// Where a look-ahead copy took input the scanner itself will miss.
    lost_input_at: Option<usize>,
    parsing_attribute: bool,
    current_scope: Option<Tk>,
    /// Tempo keeps every error and returns the first one.
    first_error: Option<ParseError>,
}

impl<'a> Lexer<'a> {
    fn new(src: &'a str) -> Lexer<'a> {
        Lexer {
            src,
            sc: Scanner::new(src, Mode::GO_TOKENS, go_ident_rune),
            lost_input_at: None,
            parsing_attribute: false,
            current_scope: None,
            first_error: None,
        }
    }

    /// Picks up what the scanner reported through its error callback.
    fn sync(&mut self) {
        if self.first_error.is_none()
            && let Some(e) = self.sc.errors.first()
        {
            self.first_error = Some(ParseError::new(e.line, e.column, e.message.clone()));
        }
    }

    /// Tempo's `lexer.Error`: at the scanner's current token position.
    fn error_here(&mut self, msg: impl Into<String>) {
        self.sync();
        if self.first_error.is_none() {
            self.first_error = Some(ParseError::new(self.sc.token_line, self.sc.token_column, msg));
        }
    }

    /// After a look-ahead on a copy of the scanner (Go's `s := *l`).
    ///
    /// Go's copy shares the error callback, which reports at the
    /// original's position. It also shares the `io.Reader` behind the
    /// scanner's 1024-byte buffer: a copy that reads past the buffer
    /// takes the next chunk, and the original later misses it.
    fn absorb(&mut self, copy: &Scanner<'_>, before: usize, start: usize) {
        if let Some(e) = copy.errors.get(before) {
            let msg = e.message.clone();
            self.error_here(msg);
        }
        let end = go_buffer_end(self.src, start);
        if copy.offset() > end && self.lost_input_at.is_none() {
            self.lost_input_at = Some(floor_char_boundary(self.src, end));
        }
    }

    /// Whether Tempo's scanner read past input a copy had taken: from
    /// there on Tempo parses other text than the query.
    fn lost_input(&self) -> bool {
        self.lost_input_at.is_some_and(|at| self.sc.offset() > at)
    }

    fn lex(&mut self) -> Token {
        let (tk, val) = self.next_token();
        self.sync();
        Token {
            tk,
            val,
            line: self.sc.token_line,
            col: self.sc.token_column,
        }
    }

    fn next_token(&mut self) -> (Tk, Val) {
        if self.parsing_attribute && !is_attribute_rune(self.sc.peek()) {
            self.parsing_attribute = false;
            return (Tk::EndAttribute, Val::None);
        }
        if self.parsing_attribute {
            if let Some(scope) = self.try_scope_attribute() {
                self.current_scope = Some(scope);
                return (scope, Val::None);
            }
            return match self.parse_attribute() {
                Ok(name) => (Tk::Identifier, Val::Text(name)),
                Err(msg) => {
                    self.error_here(msg);
                    (Tk::End, Val::None)
                }
            };
        }

        let tok = self.sc.scan();
        match tok {
            Tok::Eof => return (Tk::End, Val::None),
            Tok::String | Tok::RawString => {
                return match strconv::unquote(self.sc.token_text()) {
                    Some(bytes) => (Tk::Str, Val::Str(bytes)),
                    None => {
                        self.error_here("invalid syntax");
                        (Tk::End, Val::None)
                    }
                };
            }
            Tok::Int | Tok::Float => {
                let text = self.sc.token_text();
                if let Some(d) = self.try_scan_duration(text) {
                    return (Tk::Duration, Val::Duration(d));
                }
                let parsed = if tok == Tok::Int {
                    strconv::atoi(text).map(Val::Int)
                } else {
                    strconv::parse_float(text).map(Val::Float)
                };
                return match parsed {
                    Ok(v) => (if tok == Tok::Int { Tk::Integer } else { Tk::Float }, v),
                    Err(e) => {
                        self.error_here(e.to_string());
                        (Tk::End, Val::None)
                    }
                };
            }
            _ => {}
        }

        // Tempo extends a token while the longer spelling is in its table
        // (`!` → `!>` → `!>>`, `span` → `span.`), one rune at a time.
        let base = self.sc.token_text().to_owned();
        let mut text = base.clone();
        let mut multi = None;
        while let Some(c) = self.sc.peek() {
            text.push(c);
            match lookup(&text) {
                Some(tk) => {
                    multi = Some(tk);
                    self.sc.next();
                }
                None => break,
            }
        }
        if let Some(tk) = multi {
            if tk.is_scope() {
                self.current_scope = Some(tk);
            }
            self.parsing_attribute = tk.starts_attribute();
            return (tk, Val::None);
        }
        if let Some(tk) = lookup(&base) {
            self.parsing_attribute = tk.starts_attribute();
            return (tk, Val::None);
        }
        (Tk::Identifier, Val::Text(base))
    }

    /// Tempo's `parseAttribute`: attribute runes and quoted parts.
    fn parse_attribute(&mut self) -> Result<String, &'static str> {
        let mut name = String::new();
        let mut r = self.sc.peek();
        loop {
            if r == Some('"') {
                name.push_str(&self.parse_quoted_attribute()?);
            } else if is_attribute_rune(r) {
                if let Some(c) = self.sc.next() {
                    name.push(c);
                }
            } else {
                break;
            }
            r = self.sc.peek();
        }
        Ok(name)
    }

    /// Tempo's `parseQuotedAtrribute`: only `\"` and `\\` escape.
    fn parse_quoted_attribute(&mut self) -> Result<String, &'static str> {
        let mut name = String::new();
        self.sc.next();
        let mut r = self.sc.peek();
        while let Some(c) = r {
            if c == '"' {
                self.sc.next();
                break;
            } else if c == '\\' {
                self.sc.next();
                match self.sc.peek() {
                    Some(e @ ('\\' | '"')) => {
                        name.push(e);
                        self.sc.next();
                    }
                    _ => return Err("invalid escape sequence"),
                }
            } else {
                name.push(c);
                self.sc.next();
            }
            r = self.sc.peek();
        }
        if r.is_none() {
            return Err("unexpected EOF, expecting \"");
        }
        Ok(name)
    }

    /// Tempo's `tryScopeAttribute`: `parent.span.x` and `parent.resource.x`.
    fn try_scope_attribute(&mut self) -> Option<Tk> {
        let mut copy = self.sc.clone();
        let (before, start) = (copy.errors.len(), copy.offset());
        let mut text = String::new();
        while let Some(r) = copy.peek() {
            if r == '.' {
                copy.next();
                text.push('.');
                break;
            }
            // "resource." is the longest scope.
            if !is_attribute_rune(Some(r)) || text.len() > 9 {
                break;
            }
            copy.next();
            text.push(r);
        }
        self.absorb(&copy, before, start);
        let tk = lookup(&text)?;
        if matches!(tk, Tk::SpanDot | Tk::ResourceDot) && self.current_scope == Some(Tk::ParentDot) {
            for _ in 0..text.len() {
                self.sc.next();
            }
            return Some(tk);
        }
        None
    }

    /// Tempo's `tryScanDuration`: the number plus the digits, `.` and
    /// unit runes after it, as a Prometheus or Go duration.
    fn try_scan_duration(&mut self, number: &str) -> Option<i64> {
        let mut copy = self.sc.clone();
        let (before, start) = (copy.errors.len(), copy.offset());
        let mut text = number.to_owned();
        let mut consumed = 0;
        while let Some(r) = copy.peek() {
            if r.is_whitespace() || (!r.is_numeric() && !is_duration_rune(r) && r != '.') {
                break;
            }
            text.push(r);
            copy.next();
            consumed += 1;
        }
        self.absorb(&copy, before, start);
        if consumed == 0 {
            return None;
        }
        let d = match model::parse_duration(&text) {
            Ok(d) => d as i64,
            Err(_) => time::parse_duration(&text).ok()?,
        };
        for _ in 0..consumed {
            self.sc.next();
        }
        Some(d)
    }
}

// ---------------------------------------------------------------------
// Values and field expressions
// ---------------------------------------------------------------------

/// A TraceQL value (Tempo's `Static`). Status and kind carry Tempo's
/// enum numbers: `error`=0, `ok`=1, `unset`=2; `unspecified`=0 …
/// `consumer`=5.
#[derive(Debug, Clone, PartialEq)]
enum Static {
    Nil,
    Int(i64),
    Float(f64),
    Str(Vec<u8>),
    Bool(bool),
    Duration(i64),
    Status(u8),
    Kind(u8),
}

/// Tempo's `StaticType`; `Attribute` is "unknown until evaluated".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ty {
    Nil,
    Int,
    Float,
    Str,
    Bool,
    Duration,
    Status,
    Kind,
    Attribute,
}

impl Ty {
    fn numeric(self) -> bool {
        matches!(self, Ty::Int | Ty::Float | Ty::Duration)
    }

    /// `isMatchingOperand`.
    fn matches(self, other: Ty) -> bool {
        self == Ty::Attribute
            || other == Ty::Attribute
            || self == other
            || (self.numeric() && other.numeric())
            || other == Ty::Nil
    }
}

impl Static {
    fn ty(&self) -> Ty {
        match self {
            Static::Nil => Ty::Nil,
            Static::Int(_) => Ty::Int,
            Static::Float(_) => Ty::Float,
            Static::Str(_) => Ty::Str,
            Static::Bool(_) => Ty::Bool,
            Static::Duration(_) => Ty::Duration,
            Static::Status(_) => Ty::Status,
            Static::Kind(_) => Ty::Kind,
        }
    }

    /// `Static.Float()`: NaN for what is not a number.
    fn float(&self) -> f64 {
        match self {
            Static::Float(f) => *f,
            Static::Int(i) | Static::Duration(i) => *i as f64,
            _ => f64::NAN,
        }
    }

    /// `Static.Equals`.
    fn equals(&self, other: &Static) -> bool {
        match (self, other) {
            (Static::Int(a) | Static::Duration(a), Static::Int(b) | Static::Duration(b)) => a == b,
            (Static::Int(a), Static::Status(b)) => *a == i64::from(*b),
            (Static::Int(_) | Static::Duration(_), Static::Float(b)) => self.float() == *b,
            (Static::Int(_) | Static::Duration(_), _) => false,
            (Static::Status(a), Static::Int(b)) => i64::from(*a) == *b,
            (Static::Status(a), Static::Status(b)) => a == b,
            (Static::Status(_), _) => false,
            (Static::Float(a), _) => *a == other.float(),
            (Static::Kind(a), Static::Kind(b)) => a == b,
            (Static::Bool(a), Static::Bool(b)) => a == b,
            (Static::Str(a), Static::Str(b)) => a == b,
            (Static::Nil, Static::Nil) => true,
            _ => false,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Pow,
    Eq,
    Neq,
    Lt,
    Lte,
    Gt,
    Gte,
    Re,
    Nre,
    And,
    Or,
}

impl BinOp {
    fn boolean(self) -> bool {
        !matches!(
            self,
            BinOp::Add | BinOp::Sub | BinOp::Mul | BinOp::Div | BinOp::Mod | BinOp::Pow
        )
    }

    /// `binaryTypeValid` for one operand.
    fn valid_for(self, t: Ty) -> bool {
        use BinOp::*;
        match t {
            Ty::Attribute => true,
            Ty::Bool => matches!(self, And | Or | Eq | Neq),
            Ty::Int | Ty::Float | Ty::Duration => {
                matches!(self, Add | Sub | Mul | Div | Mod | Pow | Eq | Neq | Gt | Gte | Lt | Lte)
            }
            Ty::Str => matches!(self, Eq | Neq | Re | Nre | Gt | Gte | Lt | Lte),
            Ty::Nil | Ty::Status | Ty::Kind => matches!(self, Eq | Neq),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum UnOp {
    Neg,
    Not,
}

impl UnOp {
    fn valid_for(self, t: Ty) -> bool {
        match self {
            _ if t == Ty::Attribute => true,
            UnOp::Neg => t.numeric(),
            UnOp::Not => t == Ty::Bool,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scope {
    None,
    Resource,
    Span,
    Event,
    Link,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Intrinsic {
    Duration,
    ChildCount,
    Name,
    Status,
    StatusMessage,
    Kind,
    Parent,
    RootName,
    RootServiceName,
    TraceDuration,
    NestedSetLeft,
    NestedSetRight,
    NestedSetParent,
    TraceId,
    SpanId,
    EventName,
    EventTimeSinceStart,
    LinkTraceId,
    LinkSpanId,
}

impl Intrinsic {
    fn ty(self) -> Ty {
        use Intrinsic::*;
        match self {
            Duration | TraceDuration | EventTimeSinceStart => Ty::Duration,
            ChildCount | NestedSetLeft | NestedSetRight | NestedSetParent => Ty::Int,
            Name | StatusMessage | RootName | RootServiceName | TraceId | SpanId | EventName | LinkTraceId
            | LinkSpanId => Ty::Str,
            Status => Ty::Status,
            Kind => Ty::Kind,
            Parent => Ty::Nil,
        }
    }

    fn spelling(self) -> &'static str {
        use Intrinsic::*;
        match self {
            Duration => "duration",
            ChildCount => "childCount",
            Name => "name",
            Status => "status",
            StatusMessage => "statusMessage",
            Kind => "kind",
            Parent => "parent",
            RootName => "rootName",
            RootServiceName => "rootServiceName",
            TraceDuration => "traceDuration",
            NestedSetLeft => "nestedSetLeft",
            NestedSetRight => "nestedSetRight",
            NestedSetParent => "nestedSetParent",
            TraceId => "trace:id",
            SpanId => "span:id",
            EventName => "event:name",
            EventTimeSinceStart => "event:timeSinceStart",
            LinkTraceId => "link:traceID",
            LinkSpanId => "link:spanID",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
struct Attr {
    scope: Scope,
    parent: bool,
    name: String,
    intrinsic: Option<Intrinsic>,
}

impl Attr {
    fn intrinsic(i: Intrinsic) -> Attr {
        Attr {
            scope: Scope::None,
            parent: false,
            name: i.spelling().to_owned(),
            intrinsic: Some(i),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Fe {
    Static(Static),
    Attr(Attr),
    Bin(BinOp, Box<Fe>, Box<Fe>),
    Un(UnOp, Box<Fe>),
}

impl Fe {
    /// `impliedType`.
    fn ty(&self) -> Ty {
        match self {
            Fe::Static(s) => s.ty(),
            Fe::Attr(a) => a.intrinsic.map_or(Ty::Attribute, Intrinsic::ty),
            Fe::Bin(op, _, _) if op.boolean() => Ty::Bool,
            Fe::Bin(_, l, r) => match l.ty() {
                Ty::Attribute => r.ty(),
                t => t,
            },
            Fe::Un(_, e) => e.ty(),
        }
    }
}

/// What executing an operation can do besides giving a value.
#[derive(Debug)]
enum ExecError {
    /// Go panics (integer division by zero).
    Panic(&'static str),
    /// `execute` returns an error.
    Error(String),
}

const DIVIDE_BY_ZERO: &str = "runtime error: integer divide by zero";

/// Tempo's `intPow(rhs, lhs)`, argument order and all: `2 ^ 3` is 9.
fn int_pow(base: i64, exp: i64) -> i64 {
    let (mut result, mut b, mut e) = (1i64, base, exp);
    while e > 0 {
        if e & 1 == 1 {
            result = result.wrapping_mul(b);
        }
        b = b.wrapping_mul(b);
        e >>= 1;
    }
    result
}

fn compile_regex(pattern: &[u8]) -> Result<Regex, String> {
    let text = std::str::from_utf8(pattern).map_err(|_| "invalid UTF-8".to_owned())?;
    Regex::new(text).map_err(|e| e.to_string())
}

/// `BinaryOperation.execute` on two values.
fn exec_binary(
    op: BinOp,
    l: &Static,
    r: &Static,
    regex: &mut dyn FnMut(&[u8]) -> Result<Regex, String>,
) -> Result<Static, ExecError> {
    let (lt, rt) = (l.ty(), r.ty());
    if !lt.matches(rt) || !op.valid_for(lt) || !op.valid_for(rt) {
        return Ok(Static::Bool(false));
    }
    if let (Static::Str(a), Static::Str(b)) = (l, r) {
        match op {
            BinOp::Gt => return Ok(Static::Bool(a > b)),
            BinOp::Gte => return Ok(Static::Bool(a >= b)),
            BinOp::Lt => return Ok(Static::Bool(a < b)),
            BinOp::Lte => return Ok(Static::Bool(a <= b)),
            BinOp::Re | BinOp::Nre => {
                let re = regex(b).map_err(ExecError::Error)?;
                let matched = re.is_match(&String::from_utf8_lossy(a));
                return Ok(Static::Bool(matched == (op == BinOp::Re)));
            }
            _ => {}
        }
    }
    if let (Static::Int(a), Static::Int(b)) = (l, r) {
        let (a, b) = (*a, *b);
        match op {
            BinOp::Add => return Ok(Static::Int(a.wrapping_add(b))),
            BinOp::Sub => return Ok(Static::Int(a.wrapping_sub(b))),
            BinOp::Mul => return Ok(Static::Int(a.wrapping_mul(b))),
            BinOp::Div | BinOp::Mod if b == 0 => return Err(ExecError::Panic(DIVIDE_BY_ZERO)),
            BinOp::Div => return Ok(Static::Int(a.wrapping_div(b))),
            BinOp::Mod => return Ok(Static::Int(a.wrapping_rem(b))),
            BinOp::Gt => return Ok(Static::Bool(a > b)),
            BinOp::Gte => return Ok(Static::Bool(a >= b)),
            BinOp::Lt => return Ok(Static::Bool(a < b)),
            BinOp::Lte => return Ok(Static::Bool(a <= b)),
            BinOp::Pow => return Ok(Static::Int(int_pow(b, a))),
            _ => {}
        }
    }
    if let (Static::Bool(a), Static::Bool(b)) = (l, r) {
        match op {
            BinOp::And => return Ok(Static::Bool(*a && *b)),
            BinOp::Or => return Ok(Static::Bool(*a || *b)),
            _ => {}
        }
    }
    let (a, b) = (l.float(), r.float());
    Ok(match op {
        BinOp::Add => Static::Float(a + b),
        BinOp::Sub => Static::Float(a - b),
        BinOp::Div => Static::Float(a / b),
        BinOp::Mod => Static::Float(a % b),
        BinOp::Mul => Static::Float(a * b),
        BinOp::Gt => Static::Bool(a > b),
        BinOp::Gte => Static::Bool(a >= b),
        BinOp::Lt => Static::Bool(a < b),
        BinOp::Lte => Static::Bool(a <= b),
        BinOp::Pow => Static::Float(a.powf(b)),
        BinOp::Eq => Static::Bool(l.equals(r)),
        BinOp::Neq => Static::Bool(!l.equals(r)),
        other => return Err(ExecError::Error(format!("unexpected operator {other:?}"))),
    })
}

/// `UnaryOperation.execute`.
fn exec_unary(op: UnOp, v: &Static) -> Result<Static, ExecError> {
    match (op, v) {
        (UnOp::Not, Static::Bool(b)) => Ok(Static::Bool(!b)),
        (UnOp::Neg, Static::Int(i)) => Ok(Static::Int(i.wrapping_neg())),
        (UnOp::Neg, Static::Float(f)) => Ok(Static::Float(-f)),
        (UnOp::Neg, Static::Duration(d)) => Ok(Static::Duration(d.wrapping_neg())),
        (UnOp::Not, _) => Err(ExecError::Error("`!` applied to a value that is not a boolean".into())),
        (UnOp::Neg, _) => Err(ExecError::Error("`-` applied to a value that is not a number".into())),
    }
}

/// `newBinaryOperation`'s folding of two statics; `Ok(None)` keeps the
/// operation (its validation or execution failed).
fn fold_binary(op: BinOp, l: &Static, r: &Static) -> Result<Option<Static>, &'static str> {
    let (lt, rt) = (l.ty(), r.ty());
    if !lt.matches(rt) || (rt == Ty::Nil && op == BinOp::Eq) || !op.valid_for(lt) || !op.valid_for(rt) {
        return Ok(None);
    }
    match exec_binary(op, l, r, &mut compile_regex) {
        Ok(v) => Ok(Some(v)),
        Err(ExecError::Panic(msg)) => Err(msg),
        Err(ExecError::Error(_)) => Ok(None),
    }
}

// ---------------------------------------------------------------------
// Pipeline-level structure
// ---------------------------------------------------------------------

/// A spanset expression: filters joined by spanset operators.
#[derive(Debug, Clone, PartialEq)]
enum Se {
    Filter(Fe),
    Op(Tk, Box<Se>, Box<Se>),
}

/// One pipeline element; only spanset expressions are kept in full.
#[derive(Debug, Clone, PartialEq)]
enum Stage {
    Spanset(Se),
    Other(&'static str),
}

const SCALAR_FILTER: &str = "scalar filters (`count() > 1` and the like)";
const GROUP_BY: &str = "grouping (`by(…)`)";
const SELECT: &str = "`select(…)`";
const COALESCE: &str = "`coalesce()`";
const METRICS: &str = "TraceQL metrics (`| rate()`, `| quantile_over_time(…)` …)";
const SPANSET_PIPELINE_EXPR: &str = "operators between parenthesised pipelines (`({ … } | …) && ({ … })`)";
const SCALAR_PIPELINE_FILTER: &str = "comparisons of pipeline aggregates (`({ … } | count()) > 1`)";
const PIPELINES: &str = "pipelines (`{ … } | { … }`)";
const HINTS: &str = "query hints (`with(…)`)";

#[derive(Debug, Clone, PartialEq)]
enum Body {
    Pipeline(Vec<Stage>),
    Other(&'static str),
}

/// A query Tempo 2.6.1 accepts.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    body: Body,
    hints: usize,
}

/// What a parenthesised group can close as (the `(`-states of Tempo's
/// parser): a bit set over the nonterminals that start with `(`.
const SPE: u8 = 1; // spansetPipelineExpression
const SP: u8 = 2; // wrappedSpansetPipeline
const SE: u8 = 4; // spansetExpression
const SPX: u8 = 8; // scalarPipelineExpression
const SCP: u8 = 16; // wrappedScalarPipeline
const SX: u8 = 32; // scalarExpression

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ctx {
    Root,
    Group(u8),
}

impl Ctx {
    /// Whether something valid in one of `kinds` may stand here.
    fn allows(self, kinds: u8) -> bool {
        match self {
            Ctx::Root => true,
            Ctx::Group(k) => k & kinds != 0,
        }
    }

    /// Whether the group may close right after a `kind`.
    fn closes(self, kind: u8) -> bool {
        matches!(self, Ctx::Group(k) if k & kind != 0)
    }

    /// The kinds of a group opened inside this context.
    fn nested(self) -> u8 {
        let k = match self {
            Ctx::Root => return SPE | SP | SE | SPX | SCP | SX,
            Ctx::Group(k) => k,
        };
        let mut n = 0;
        if k & SPE != 0 {
            n |= SPE | SP;
        }
        if k & (SP | SCP) != 0 {
            n |= SE | SX;
        }
        if k & SE != 0 {
            n |= SE;
        }
        if k & SPX != 0 {
            n |= SPX | SCP;
        }
        if k & SX != 0 {
            n |= SX;
        }
        n
    }
}

/// What has been read so far in a context: the nonterminal Tempo's
/// parser would have reduced to.
enum Have {
    Se(Se),
    Sp(Vec<Stage>),
    Sx,
    Spe,
    Spx,
    ScP,
    Metrics,
    Spxf,
}

enum Stop {
    /// A syntax error was recorded (it may not be the first error).
    Syntax,
    /// A Go panic during a reduction: Tempo's `recover` reports it alone.
    Panic(&'static str),
    TooBig,
}

type P<T> = Result<T, Stop>;

struct Parser<'a> {
    lx: Lexer<'a>,
    look: Option<Token>,
    depth: usize,
    nodes: usize,
}

impl<'a> Parser<'a> {
    fn peek(&mut self) -> &Token {
        let lx = &mut self.lx;
        self.look.get_or_insert_with(|| lx.lex())
    }

    fn tk(&mut self) -> Tk {
        self.peek().tk
    }

    fn bump(&mut self) -> Token {
        match self.look.take() {
            Some(t) => t,
            None => self.lx.lex(),
        }
    }

    /// goyacc's verbose error for the look-ahead token; the expected
    /// list is only given when the state has at most four shifts.
    fn fail(&mut self, expecting: &[Tk]) -> Stop {
        let (tk, line, col) = {
            let t = self.peek();
            (t.tk, t.line, t.col)
        };
        let mut msg = format!("syntax error: unexpected {}", tk.name());
        if !expecting.is_empty() && expecting.len() <= 4 {
            let mut expecting = expecting.to_vec();
            expecting.sort();
            let names: Vec<&str> = expecting.iter().map(|t| t.name()).collect();
            msg.push_str(", expecting ");
            msg.push_str(&names.join(" or "));
        }
        self.lx.error_here_at(line, col, msg);
        Stop::Syntax
    }

    fn expect(&mut self, tk: Tk, expecting: &[Tk]) -> P<Token> {
        if self.tk() == tk {
            Ok(self.bump())
        } else {
            Err(self.fail(expecting))
        }
    }

    fn nest<T>(&mut self, f: impl FnOnce(&mut Self) -> P<T>) -> P<T> {
        self.depth += 1;
        if self.depth > MAX_NESTING {
            return Err(Stop::TooBig);
        }
        let out = f(self);
        self.depth -= 1;
        out
    }

    fn count_node(&mut self) -> P<()> {
        self.nodes += 1;
        if self.nodes > MAX_NODES {
            return Err(Stop::TooBig);
        }
        Ok(())
    }

    // ---- root, groups and pipelines ----

    fn root(&mut self) -> P<Query> {
        let body = match self.content(Ctx::Root)? {
            Have::Sp(stages) => Body::Pipeline(stages),
            Have::Spe => Body::Other(SPANSET_PIPELINE_EXPR),
            Have::Spxf => Body::Other(SCALAR_PIPELINE_FILTER),
            Have::Metrics => Body::Other(METRICS),
            // `content` turns the rest into one of the above at the root.
            Have::Se(_) | Have::Sx | Have::Spx | Have::ScP => Body::Other(PIPELINES),
        };
        let mut hints = 0;
        while self.tk() == Tk::With {
            self.hints()?;
            hints += 1;
        }
        if self.tk() != Tk::End {
            return Err(self.fail(&[Tk::With]));
        }
        Ok(Query { body, hints })
    }

    /// The inside of a group (or the root): returns, in a group, only with
    /// `)` as the look-ahead.
    fn content(&mut self, ctx: Ctx) -> P<Have> {
        let mut have = self.content_start(ctx)?;
        loop {
            let tk = self.tk();
            have = match have {
                Have::Se(se) => {
                    if tk.spanset_precedence().is_some() {
                        Have::Se(self.se_rest(se, 0)?)
                    } else if tk == Tk::CloseParens && ctx.closes(SE) {
                        return Ok(Have::Se(se));
                    } else if ctx.allows(SP | SCP) {
                        Have::Sp(vec![Stage::Spanset(se)])
                    } else {
                        return Err(self.fail(&[]));
                    }
                }
                Have::Sp(stages) => {
                    if tk == Tk::Pipe {
                        self.bump();
                        self.stage(ctx, stages)?
                    } else if (tk == Tk::CloseParens && ctx.closes(SP)) || ctx == Ctx::Root {
                        return Ok(Have::Sp(stages));
                    } else if ctx.closes(SP) {
                        return Err(self.fail(&[Tk::CloseParens, Tk::Pipe]));
                    } else {
                        return Err(self.fail(&[Tk::Pipe]));
                    }
                }
                Have::Sx => {
                    if tk.is_arithmetic() {
                        self.sx_rest()?;
                        Have::Sx
                    } else if tk == Tk::CloseParens && ctx.closes(SX) {
                        return Ok(Have::Sx);
                    } else if tk.is_comparison() && ctx.allows(SP | SCP) {
                        self.scalar_filter_tail()?;
                        Have::Sp(vec![Stage::Other(SCALAR_FILTER)])
                    } else {
                        return Err(self.fail(&[]));
                    }
                }
                Have::Spe => {
                    if tk.spanset_precedence().is_some() {
                        self.spe_rest()?;
                        Have::Spe
                    } else if (tk == Tk::CloseParens && ctx.closes(SPE)) || ctx == Ctx::Root {
                        return Ok(Have::Spe);
                    } else {
                        return Err(self.fail(&[]));
                    }
                }
                Have::Spx => {
                    if tk.is_arithmetic() {
                        self.spx_rest()?;
                        Have::Spx
                    } else if tk == Tk::CloseParens && ctx.closes(SPX) {
                        return Ok(Have::Spx);
                    } else if tk.is_comparison() && ctx == Ctx::Root {
                        self.bump();
                        self.spxf_rhs()?;
                        return Ok(Have::Spxf);
                    } else {
                        return Err(self.fail(&[]));
                    }
                }
                done @ (Have::ScP | Have::Metrics | Have::Spxf) => return Ok(done),
            };
        }
    }

    fn content_start(&mut self, ctx: Ctx) -> P<Have> {
        let tk = self.tk();
        match tk {
            Tk::OpenParens => {
                self.bump();
                let inner = self.nest(|p| p.content(Ctx::Group(ctx.nested())))?;
                self.bump();
                Ok(match inner {
                    // `wrappedSpansetPipeline` is a spansetPipelineExpression,
                    // `wrappedScalarPipeline` a scalarPipelineExpression.
                    Have::Sp(_) | Have::Spe => Have::Spe,
                    Have::ScP | Have::Spx => Have::Spx,
                    other => other,
                })
            }
            Tk::OpenBrace if ctx.allows(SE | SP | SCP) => Ok(Have::Se(self.filter()?)),
            _ if starts_scalar(tk) && ctx.allows(SX | SP | SCP) => {
                self.scalar_primary()?;
                Ok(Have::Sx)
            }
            Tk::By | Tk::Select if ctx.allows(SP | SCP) => Ok(Have::Sp(vec![self.by_or_select()?])),
            _ if ctx == Ctx::Group(SE) => Err(self.fail(&[Tk::OpenBrace, Tk::OpenParens])),
            _ => Err(self.fail(&[])),
        }
    }

    /// A pipeline element after `|`.
    fn stage(&mut self, ctx: Ctx, mut stages: Vec<Stage>) -> P<Have> {
        let tk = self.tk();
        let stage = match tk {
            Tk::OpenBrace => {
                let f = self.filter()?;
                Stage::Spanset(self.se_rest(f, 0)?)
            }
            Tk::OpenParens => {
                self.bump();
                let inner = self.nest(|p| p.content(Ctx::Group(SE | SX)))?;
                self.bump();
                match inner {
                    Have::Se(se) => Stage::Spanset(self.se_rest(se, 0)?),
                    _ => {
                        self.sx_rest()?;
                        self.scalar_filter_tail()?;
                        Stage::Other(SCALAR_FILTER)
                    }
                }
            }
            _ if tk.is_aggregate() => {
                self.aggregate()?;
                if ctx.closes(SCP) && self.tk() == Tk::CloseParens {
                    return Ok(Have::ScP);
                }
                self.sx_rest()?;
                self.scalar_filter_tail()?;
                Stage::Other(SCALAR_FILTER)
            }
            Tk::Integer | Tk::Float | Tk::Duration | Tk::Sub => {
                self.scalar_primary()?;
                self.sx_rest()?;
                self.scalar_filter_tail()?;
                Stage::Other(SCALAR_FILTER)
            }
            Tk::By | Tk::Select => self.by_or_select()?,
            Tk::Coalesce => {
                self.bump();
                self.expect(Tk::OpenParens, &[Tk::OpenParens])?;
                self.expect(Tk::CloseParens, &[Tk::CloseParens])?;
                Stage::Other(COALESCE)
            }
            _ if ctx == Ctx::Root && tk.is_metrics() => {
                self.metrics()?;
                return Ok(Have::Metrics);
            }
            _ => return Err(self.fail(&[])),
        };
        stages.push(stage);
        Ok(Have::Sp(stages))
    }

    /// A group whose kinds are `kinds`, `(` included.
    fn group(&mut self, kinds: u8) -> P<Have> {
        self.expect(Tk::OpenParens, &[Tk::OpenParens])?;
        let inner = self.nest(|p| p.content(Ctx::Group(kinds)))?;
        self.bump();
        Ok(inner)
    }

    // ---- spanset expressions ----

    fn filter(&mut self) -> P<Se> {
        self.bump();
        if self.tk() == Tk::CloseBrace {
            self.bump();
            return Ok(Se::Filter(Fe::Static(Static::Bool(true))));
        }
        let fe = self.fe(0)?;
        self.expect(Tk::CloseBrace, &[])?;
        Ok(Se::Filter(fe))
    }

    fn se_operand(&mut self) -> P<Se> {
        match self.tk() {
            Tk::OpenBrace => self.filter(),
            Tk::OpenParens => match self.group(SE)? {
                Have::Se(se) => Ok(se),
                _ => Err(self.fail(&[])),
            },
            _ => Err(self.fail(&[Tk::OpenBrace, Tk::OpenParens])),
        }
    }

    /// Spanset operators after `lhs`, by precedence climbing.
    fn se_rest(&mut self, mut lhs: Se, min: u8) -> P<Se> {
        while let Some(prec) = self.tk().spanset_precedence()
            && prec >= min
        {
            let op = self.bump().tk;
            let mut rhs = self.se_operand()?;
            while let Some(next) = self.tk().spanset_precedence()
                && next > prec
            {
                rhs = self.nest(|p| p.se_rest(rhs, prec + 1))?;
            }
            self.count_node()?;
            lhs = Se::Op(op, Box::new(lhs), Box::new(rhs));
        }
        Ok(lhs)
    }

    /// The `(op operand)*` after an operand: while the next token is an
    /// operator `is_op` takes, the operator and one more operand.
    fn op_rest(&mut self, is_op: fn(Tk) -> bool, operand: fn(&mut Self) -> P<()>) -> P<()> {
        while is_op(self.tk()) {
            self.bump();
            operand(self)?;
            self.count_node()?;
        }
        Ok(())
    }

    /// Spanset operators between parenthesised pipelines.
    fn spe_rest(&mut self) -> P<()> {
        self.op_rest(|tk| tk.spanset_precedence().is_some(), |p| p.group(SPE | SP).map(drop))
    }

    // ---- scalar expressions ----

    fn scalar_primary(&mut self) -> P<()> {
        let tk = self.tk();
        if tk.is_aggregate() {
            return self.aggregate();
        }
        if self.bump().tk == Tk::Sub {
            let want = [Tk::Integer, Tk::Float, Tk::Duration];
            if !want.contains(&self.tk()) {
                return Err(self.fail(&want));
            }
            self.bump();
        }
        Ok(())
    }

    fn sx_operand(&mut self) -> P<()> {
        let tk = self.tk();
        if tk == Tk::OpenParens {
            self.group(SX).map(|_| ())
        } else if starts_scalar(tk) {
            self.scalar_primary()
        } else {
            Err(self.fail(&[]))
        }
    }

    fn sx_rest(&mut self) -> P<()> {
        self.op_rest(Tk::is_arithmetic, Self::sx_operand)
    }

    /// `scalarFilter`'s operator and right-hand side.
    fn scalar_filter_tail(&mut self) -> P<()> {
        if !self.tk().is_comparison() {
            return Err(self.fail(&[]));
        }
        self.bump();
        self.sx_operand()?;
        self.sx_rest()
    }

    fn spx_rest(&mut self) -> P<()> {
        self.op_rest(Tk::is_arithmetic, |p| p.group(SPX | SCP).map(drop))
    }

    /// `scalarPipelineExpressionFilter`'s right-hand side.
    fn spxf_rhs(&mut self) -> P<()> {
        let tk = self.tk();
        if tk == Tk::OpenParens {
            self.group(SPX | SCP)?;
            self.spx_rest()
        } else if tk.is_static() {
            self.static_value().map(|_| ())
        } else {
            Err(self.fail(&[]))
        }
    }

    fn aggregate(&mut self) -> P<()> {
        let op = self.bump().tk;
        self.expect(Tk::OpenParens, &[Tk::OpenParens])?;
        if op == Tk::Count {
            self.expect(Tk::CloseParens, &[Tk::CloseParens])?;
            return Ok(());
        }
        self.fe(0)?;
        self.expect(Tk::CloseParens, &[])?;
        Ok(())
    }

    fn by_or_select(&mut self) -> P<Stage> {
        let op = self.bump().tk;
        self.expect(Tk::OpenParens, &[Tk::OpenParens])?;
        if op == Tk::By {
            self.fe(0)?;
            self.expect(Tk::CloseParens, &[])?;
            return Ok(Stage::Other(GROUP_BY));
        }
        self.attribute_list()?;
        Ok(Stage::Other(SELECT))
    }

    /// After an item of a parenthesised list: `,` (another follows) or
    /// `)`, which ends it (`true`).
    fn list_end(&mut self) -> P<bool> {
        match self.tk() {
            Tk::Comma => {
                self.bump();
                Ok(false)
            }
            Tk::CloseParens => {
                self.bump();
                Ok(true)
            }
            _ => Err(self.fail(&[Tk::CloseParens, Tk::Comma])),
        }
    }

    /// `attributeList )`.
    fn attribute_list(&mut self) -> P<()> {
        loop {
            self.attribute()?;
            if self.list_end()? {
                return Ok(());
            }
        }
    }

    fn metrics(&mut self) -> P<()> {
        let op = self.bump().tk;
        self.expect(Tk::OpenParens, &[Tk::OpenParens])?;
        match op {
            Tk::Rate | Tk::CountOverTime => {
                self.expect(Tk::CloseParens, &[Tk::CloseParens])?;
            }
            Tk::QuantileOverTime => {
                self.attribute()?;
                self.expect(Tk::Comma, &[Tk::Comma])?;
                loop {
                    if !matches!(self.tk(), Tk::Integer | Tk::Float) {
                        return Err(self.fail(&[Tk::Integer, Tk::Float]));
                    }
                    self.bump();
                    if self.list_end()? {
                        break;
                    }
                }
            }
            Tk::HistogramOverTime => {
                self.attribute()?;
                self.expect(Tk::CloseParens, &[Tk::CloseParens])?;
            }
            _ => {
                // compare({…}[, n[, n, n]])
                if self.tk() != Tk::OpenBrace {
                    return Err(self.fail(&[Tk::OpenBrace]));
                }
                self.filter()?;
                if self.tk() == Tk::Comma {
                    self.bump();
                    self.expect(Tk::Integer, &[Tk::Integer])?;
                    if self.tk() == Tk::Comma {
                        self.bump();
                        self.expect(Tk::Integer, &[Tk::Integer])?;
                        self.expect(Tk::Comma, &[Tk::Comma])?;
                        self.expect(Tk::Integer, &[Tk::Integer])?;
                        self.expect(Tk::CloseParens, &[Tk::CloseParens])?;
                        return Ok(());
                    }
                }
                if self.tk() != Tk::CloseParens {
                    return Err(self.fail(&[Tk::CloseParens, Tk::Comma]));
                }
                self.bump();
                return Ok(());
            }
        }
        if self.tk() == Tk::By {
            self.bump();
            self.expect(Tk::OpenParens, &[Tk::OpenParens])?;
            self.attribute_list()?;
        }
        Ok(())
    }

    /// `with ( name = static, … )`.
    fn hints(&mut self) -> P<()> {
        self.bump();
        self.expect(Tk::OpenParens, &[Tk::OpenParens])?;
        loop {
            self.expect(Tk::Identifier, &[Tk::Identifier])?;
            self.expect(Tk::Eq, &[Tk::Eq])?;
            if !self.tk().is_static() {
                return Err(self.fail(&[]));
            }
            self.static_value()?;
            if self.list_end()? {
                return Ok(());
            }
        }
    }

    // ---- field expressions ----

    fn fe(&mut self, min: u8) -> P<Fe> {
        self.nest(|p| {
            let lhs = p.fe_unary()?;
            p.fe_rest(lhs, min)
        })
    }

    fn fe_unary(&mut self) -> P<Fe> {
        match self.tk() {
            Tk::Sub => {
                self.bump();
                let e = self.fe(NEG_OPERAND)?;
                self.unary(UnOp::Neg, e)
            }
            Tk::Not => {
                self.bump();
                let e = self.fe(NOT_OPERAND)?;
                self.unary(UnOp::Not, e)
            }
            _ => self.fe_primary(),
        }
    }

    fn fe_rest(&mut self, mut lhs: Fe, min: u8) -> P<Fe> {
        while let Some((op, prec, _)) = self.tk().field_operator()
            && prec >= min
        {
            self.bump();
            let mut rhs = self.fe_unary()?;
            while let Some((_, next, right)) = self.tk().field_operator()
                && (next > prec || (right && next == prec))
            {
                let floor = if next > prec { prec + 1 } else { prec };
                rhs = self.nest(|p| p.fe_rest(rhs, floor))?;
            }
            lhs = self.binary(op, lhs, rhs)?;
        }
        Ok(lhs)
    }

    /// `newBinaryOperation`: statics are folded at parse time.
    fn binary(&mut self, op: BinOp, l: Fe, r: Fe) -> P<Fe> {
        self.count_node()?;
        if let (Fe::Static(a), Fe::Static(b)) = (&l, &r) {
            match fold_binary(op, a, b) {
                Ok(Some(v)) => return Ok(Fe::Static(v)),
                Ok(None) => {}
                Err(panic) => return Err(Stop::Panic(panic)),
            }
        }
        Ok(Fe::Bin(op, Box::new(l), Box::new(r)))
    }

    /// `newUnaryOperation`.
    fn unary(&mut self, op: UnOp, e: Fe) -> P<Fe> {
        self.count_node()?;
        if let Fe::Static(v) = &e
            && op.valid_for(v.ty())
            && let Ok(folded) = exec_unary(op, v)
        {
            return Ok(Fe::Static(folded));
        }
        Ok(Fe::Un(op, Box::new(e)))
    }

    fn fe_primary(&mut self) -> P<Fe> {
        let tk = self.tk();
        if tk == Tk::OpenParens {
            self.bump();
            let e = self.fe(0)?;
            self.expect(Tk::CloseParens, &[])?;
            return Ok(e);
        }
        if tk.is_static() {
            return Ok(Fe::Static(self.static_value()?));
        }
        Ok(Fe::Attr(self.attribute()?))
    }

    fn static_value(&mut self) -> P<Static> {
        let t = self.bump();
        Ok(match (t.tk, t.val) {
            (Tk::Str, Val::Str(s)) => Static::Str(s),
            (Tk::Integer, Val::Int(i)) => Static::Int(i),
            (Tk::Float, Val::Float(f)) => Static::Float(f),
            (Tk::Duration, Val::Duration(d)) => Static::Duration(d),
            (Tk::True, _) => Static::Bool(true),
            (Tk::False, _) => Static::Bool(false),
            (Tk::StatusError, _) => Static::Status(0),
            (Tk::StatusOk, _) => Static::Status(1),
            (Tk::StatusUnset, _) => Static::Status(2),
            (Tk::KindUnspecified, _) => Static::Kind(0),
            (Tk::KindInternal, _) => Static::Kind(1),
            (Tk::KindServer, _) => Static::Kind(2),
            (Tk::KindClient, _) => Static::Kind(3),
            (Tk::KindProducer, _) => Static::Kind(4),
            (Tk::KindConsumer, _) => Static::Kind(5),
            _ => Static::Nil,
        })
    }

    /// `intrinsicField | attributeField | scopedIntrinsicField`.
    fn attribute(&mut self) -> P<Attr> {
        let tk = self.tk();
        let plain = match tk {
            Tk::IDuration => Some(Intrinsic::Duration),
            Tk::ChildCount => Some(Intrinsic::ChildCount),
            Tk::Name => Some(Intrinsic::Name),
            Tk::Status => Some(Intrinsic::Status),
            Tk::StatusMessage => Some(Intrinsic::StatusMessage),
            Tk::Kind => Some(Intrinsic::Kind),
            Tk::Parent => Some(Intrinsic::Parent),
            Tk::RootName => Some(Intrinsic::RootName),
            Tk::RootServiceName => Some(Intrinsic::RootServiceName),
            Tk::TraceDuration => Some(Intrinsic::TraceDuration),
            Tk::NestedSetLeft => Some(Intrinsic::NestedSetLeft),
            Tk::NestedSetRight => Some(Intrinsic::NestedSetRight),
            Tk::NestedSetParent => Some(Intrinsic::NestedSetParent),
            _ => None,
        };
        if let Some(i) = plain {
            self.bump();
            return Ok(Attr::intrinsic(i));
        }
        match tk {
            Tk::TraceColon | Tk::SpanColon | Tk::EventColon | Tk::LinkColon => {
                self.bump();
                self.scoped_intrinsic(tk).map(Attr::intrinsic)
            }
            Tk::Dot | Tk::ResourceDot | Tk::SpanDot | Tk::EventDot | Tk::LinkDot | Tk::ParentDot => {
                self.bump();
                let mut scope = match tk {
                    Tk::ResourceDot => Scope::Resource,
                    Tk::SpanDot => Scope::Span,
                    Tk::EventDot => Scope::Event,
                    Tk::LinkDot => Scope::Link,
                    _ => Scope::None,
                };
                let parent = tk == Tk::ParentDot;
                if parent {
                    match self.tk() {
                        Tk::Identifier => {}
                        Tk::ResourceDot | Tk::SpanDot => {
                            scope = if self.bump().tk == Tk::SpanDot {
                                Scope::Span
                            } else {
                                Scope::Resource
                            };
                        }
                        _ => return Err(self.fail(&[Tk::Identifier, Tk::ResourceDot, Tk::SpanDot])),
                    }
                }
                let name = match self.expect(Tk::Identifier, &[Tk::Identifier])?.val {
                    Val::Text(name) => name,
                    _ => String::new(),
                };
                self.expect(Tk::EndAttribute, &[Tk::EndAttribute])?;
                Ok(Attr {
                    scope,
                    parent,
                    name,
                    intrinsic: None,
                })
            }
            _ => Err(self.fail(&[])),
        }
    }

    fn scoped_intrinsic(&mut self, scope: Tk) -> P<Intrinsic> {
        let options: &[(Tk, Intrinsic)] = match scope {
            Tk::TraceColon => &[
                (Tk::IDuration, Intrinsic::TraceDuration),
                (Tk::RootName, Intrinsic::RootName),
                (Tk::RootService, Intrinsic::RootServiceName),
                (Tk::Id, Intrinsic::TraceId),
            ],
            Tk::SpanColon => &[
                (Tk::IDuration, Intrinsic::Duration),
                (Tk::Name, Intrinsic::Name),
                (Tk::Status, Intrinsic::Status),
                (Tk::StatusMessage, Intrinsic::StatusMessage),
                (Tk::Kind, Intrinsic::Kind),
                (Tk::Id, Intrinsic::SpanId),
            ],
            Tk::EventColon => &[
                (Tk::Name, Intrinsic::EventName),
                (Tk::TimeSinceStart, Intrinsic::EventTimeSinceStart),
            ],
            _ => &[
                (Tk::TraceId, Intrinsic::LinkTraceId),
                (Tk::SpanId, Intrinsic::LinkSpanId),
            ],
        };
        let tk = self.tk();
        if let Some((_, i)) = options.iter().find(|(t, _)| *t == tk) {
            self.bump();
            return Ok(*i);
        }
        let expecting: Vec<Tk> = options.iter().map(|(t, _)| *t).collect();
        Err(self.fail(&expecting))
    }
}

impl Lexer<'_> {
    /// A syntax error, at the look-ahead token's position (where Go's
    /// scanner still stands when goyacc reports it).
    fn error_here_at(&mut self, line: usize, col: usize, msg: String) {
        self.sync();
        if self.first_error.is_none() {
            self.first_error = Some(ParseError::new(line, col, msg));
        }
    }
}

fn starts_scalar(tk: Tk) -> bool {
    tk.is_aggregate() || matches!(tk, Tk::Integer | Tk::Float | Tk::Duration | Tk::Sub)
}

/// Parses a query as Tempo 2.6.1's `traceql.Parse` does.
pub fn parse(q: &str) -> Result<Query, QueryError> {
    let mut p = Parser {
        lx: Lexer::new(q),
        look: None,
        depth: 0,
        nodes: 0,
    };
    let outcome = p.root();
    if p.lx.lost_input() {
        return Err(QueryError::Unserved(unserved(
            "this query: Tempo 2.6.1's lexer loses part of it (a look-ahead crosses \
             text/scanner's 1024-byte buffer), so its answer is not reproduced",
        )));
    }
    match outcome {
        // Tempo's recover() answers with the panic alone.
        Err(Stop::Panic(msg)) => Err(QueryError::Invalid(ParseError::new(0, 0, msg))),
        _ if p.lx.first_error.is_some() => Err(QueryError::Invalid(
            p.lx.first_error.take().unwrap_or_else(|| ParseError::new(0, 0, "")),
        )),
        Ok(query) => Ok(query),
        Err(Stop::TooBig) => Err(QueryError::Unserved(unserved(format!(
            "queries nested deeper than {MAX_NESTING} levels or with more than {MAX_NODES} operators"
        )))),
        // A syntax error is always recorded; keep a message regardless.
        Err(Stop::Syntax) => Err(QueryError::Invalid(ParseError::new(0, 0, "unknown parse error: 1"))),
    }
}

// ---------------------------------------------------------------------
// Evaluation
// ---------------------------------------------------------------------

/// One span of a stored trace, with its resource's attributes.
#[derive(Debug, Clone, Copy)]
pub struct SpanView<'a> {
    pub resource: &'a [KeyValue],
    pub span: &'a Span,
}

/// A query the reference stack evaluates: spanset filters joined by `&&`
/// and `||`.
#[derive(Debug)]
pub struct Search {
    se: Se,
    regexes: HashMap<Vec<u8>, Result<Regex, String>>,
}

impl Query {
    /// What the reference stack evaluates of the query, or why not.
    pub fn search(&self) -> Result<Search, Unserved> {
        let stages = match &self.body {
            Body::Other(what) => return Err(unserved(*what)),
            Body::Pipeline(stages) => stages,
        };
        let se = match stages.as_slice() {
            [Stage::Spanset(se)] => se,
            [Stage::Other(what)] => return Err(unserved(*what)),
            more => {
                let what = more.iter().find_map(|s| match s {
                    Stage::Other(what) => Some(*what),
                    Stage::Spanset(_) => None,
                });
                return Err(unserved(what.unwrap_or(PIPELINES)));
            }
        };
        if self.hints > 0 {
            return Err(unserved(HINTS));
        }
        validate_se(se)?;
        let mut regexes = HashMap::new();
        collect_regexes(se, &mut regexes);
        Ok(Search {
            se: se.clone(),
            regexes,
        })
    }
}

fn rejected_by_querier(msg: &str) -> Unserved {
    unserved(format!(
        "this filter: Tempo 2.6.1's frontend accepts it but its querier fails it ({msg})"
    ))
}

fn validate_se(se: &Se) -> Result<(), Unserved> {
    match se {
        Se::Op(Tk::And | Tk::Or, l, r) => {
            validate_se(l)?;
            validate_se(r)
        }
        Se::Op(op, _, _) => Err(unserved(format!("the structural spanset operator `{}`", op.name()))),
        Se::Filter(fe) => {
            validate_fe(fe)?;
            match fe.ty() {
                Ty::Attribute | Ty::Bool => Ok(()),
                _ => Err(rejected_by_querier(
                    "span filter field expressions must resolve to a boolean",
                )),
            }
        }
    }
}

/// Tempo's `validate()` for field expressions, plus what is served.
fn validate_fe(fe: &Fe) -> Result<(), Unserved> {
    match fe {
        Fe::Static(_) => Ok(()),
        Fe::Attr(a) => {
            if a.parent {
                return Err(rejected_by_querier("parent not yet supported"));
            }
            match (a.scope, a.intrinsic) {
                (Scope::Event, _) => Err(unserved("`event.` attributes")),
                (Scope::Link, _) => Err(unserved("`link.` attributes")),
                (_, Some(i @ (Intrinsic::Parent | Intrinsic::ChildCount))) => Err(rejected_by_querier(&format!(
                    "intrinsic ({}) not yet supported",
                    i.spelling()
                ))),
                (
                    _,
                    Some(
                        i @ (Intrinsic::NestedSetLeft
                        | Intrinsic::NestedSetRight
                        | Intrinsic::NestedSetParent
                        | Intrinsic::TraceId
                        | Intrinsic::SpanId
                        | Intrinsic::EventName
                        | Intrinsic::EventTimeSinceStart
                        | Intrinsic::LinkTraceId
                        | Intrinsic::LinkSpanId),
                    ),
                ) => Err(unserved(format!("the intrinsic `{}`", i.spelling()))),
                _ => Ok(()),
            }
        }
        Fe::Bin(op, l, r) => {
            validate_fe(l)?;
            validate_fe(r)?;
            let (lt, rt) = (l.ty(), r.ty());
            if !lt.matches(rt) {
                return Err(rejected_by_querier("binary operations must operate on the same type"));
            }
            if rt == Ty::Nil && *op == BinOp::Eq {
                return Err(rejected_by_querier("{.a = nil} not yet supported"));
            }
            if !op.valid_for(lt) || !op.valid_for(rt) {
                return Err(rejected_by_querier("illegal operation for the given types"));
            }
            if matches!(op, BinOp::Re | BinOp::Nre)
                && let Fe::Static(Static::Str(pattern)) = r.as_ref()
                && compile_regex(pattern).is_err()
            {
                return Err(rejected_by_querier("invalid regex"));
            }
            Ok(())
        }
        Fe::Un(op, e) => {
            validate_fe(e)?;
            if op.valid_for(e.ty()) {
                Ok(())
            } else {
                Err(rejected_by_querier("illegal operation for the given type"))
            }
        }
    }
}

fn collect_regexes(se: &Se, out: &mut HashMap<Vec<u8>, Result<Regex, String>>) {
    fn fe_walk(fe: &Fe, out: &mut HashMap<Vec<u8>, Result<Regex, String>>) {
        match fe {
            Fe::Bin(op, l, r) => {
                if matches!(op, BinOp::Re | BinOp::Nre)
                    && let Fe::Static(Static::Str(p)) = r.as_ref()
                {
                    out.entry(p.clone()).or_insert_with(|| compile_regex(p));
                }
                fe_walk(l, out);
                fe_walk(r, out);
            }
            Fe::Un(_, e) => fe_walk(e, out),
            Fe::Static(_) | Fe::Attr(_) => {}
        }
    }
    match se {
        Se::Filter(fe) => fe_walk(fe, out),
        Se::Op(_, l, r) => {
            collect_regexes(l, out);
            collect_regexes(r, out);
        }
    }
}

/// Trace-level facts the intrinsics read.
struct TraceFacts {
    root_name: Vec<u8>,
    root_service: Vec<u8>,
    duration: i64,
}

impl TraceFacts {
    fn new(spans: &[SpanView<'_>]) -> TraceFacts {
        // The last span without a parent, as vParquet4 picks it.
        let root = spans.iter().rfind(|s| s.span.parent_span_id.is_empty());
        let start = spans.iter().map(|s| s.span.start_time_unix_nano).min().unwrap_or(0);
        let end = spans.iter().map(|s| s.span.end_time_unix_nano).max().unwrap_or(0);
        let root_service = root
            .and_then(|r| r.resource.iter().find(|kv| kv.key == "service.name"))
            .and_then(|kv| kv.value.as_ref()?.value.as_ref())
            .and_then(|v| match v {
                any_value::Value::StringValue(s) => Some(s.as_bytes().to_vec()),
                _ => None,
            })
            .unwrap_or_default();
        TraceFacts {
            root_name: root.map(|r| r.span.name.as_bytes().to_vec()).unwrap_or_default(),
            root_service,
            duration: i64::try_from(end.saturating_sub(start)).unwrap_or(i64::MAX),
        }
    }
}

/// What Tempo's engine reports of a matched span (`pkg/traceql/engine.go`
/// `asTraceSearchMetadata` at v2.6.1).
#[derive(Debug, Default, PartialEq)]
pub struct Reported {
    /// The span's name, when the query reads `name`.
    pub name: Option<String>,
    /// Every other attribute the query reads that the span has, by name,
    /// as `Static.AsAnyValue` writes it. (Tempo's order is its map's.)
    pub attributes: Vec<KeyValue>,
}

impl Search {
    /// What a matched span reports of the attributes this query read.
    pub fn reported(&self, sv: &SpanView<'_>) -> Reported {
        let mut attrs = Vec::new();
        collect_attrs(&self.se, &mut attrs);
        let facts = TraceFacts::new(std::slice::from_ref(sv));
        let mut out = Reported::default();
        for a in attrs {
            match a.intrinsic {
                Some(Intrinsic::Name) => out.name = Some(sv.span.name.clone()),
                // Left out of a span's attributes.
                Some(
                    Intrinsic::Duration
                    | Intrinsic::TraceDuration
                    | Intrinsic::RootServiceName
                    | Intrinsic::RootName
                    | Intrinsic::TraceId
                    | Intrinsic::SpanId,
                ) => {}
                intrinsic => {
                    let Some(value) = attribute_value(&a, sv, &facts).ok().and_then(any_value_of) else {
                        continue;
                    };
                    let key = intrinsic.map_or(a.name.clone(), |i| i.spelling().to_owned());
                    out.attributes.push(KeyValue {
                        key,
                        value: Some(value),
                        ..Default::default()
                    });
                }
            }
        }
        out
    }
}

/// Each attribute a spanset expression reads, once, in query order.
fn collect_attrs(se: &Se, out: &mut Vec<Attr>) {
    fn fe_walk(fe: &Fe, out: &mut Vec<Attr>) {
        match fe {
            Fe::Attr(a) if !out.contains(a) => out.push(a.clone()),
            Fe::Bin(_, l, r) => {
                fe_walk(l, out);
                fe_walk(r, out);
            }
            Fe::Un(_, e) => fe_walk(e, out),
            Fe::Attr(_) | Fe::Static(_) => {}
        }
    }
    match se {
        Se::Filter(fe) => fe_walk(fe, out),
        Se::Op(_, l, r) => {
            collect_attrs(l, out);
            collect_attrs(r, out);
        }
    }
}

/// `Static.AsAnyValue`; a missing attribute is not reported.
fn any_value_of(s: Static) -> Option<AnyValue> {
    const STATUSES: [&str; 3] = ["error", "ok", "unset"];
    const KINDS: [&str; 6] = ["unspecified", "internal", "server", "client", "producer", "consumer"];
    let value = match s {
        Static::Nil => return None,
        Static::Int(i) => any_value::Value::IntValue(i),
        Static::Float(f) => any_value::Value::DoubleValue(f),
        Static::Bool(b) => any_value::Value::BoolValue(b),
        Static::Str(b) => any_value::Value::StringValue(String::from_utf8_lossy(&b).into_owned()),
        Static::Duration(d) => any_value::Value::StringValue(time::duration_string(d)),
        Static::Status(i) => any_value::Value::StringValue(STATUSES.get(usize::from(i))?.to_string()),
        Static::Kind(i) => any_value::Value::StringValue(KINDS.get(usize::from(i))?.to_string()),
    };
    Some(AnyValue { value: Some(value) })
}

impl Search {
    /// Indices of the spans of one trace that the query matches; empty
    /// when the trace does not match.
    pub fn matches(&self, spans: &[SpanView<'_>]) -> Result<Vec<usize>, Unserved> {
        let facts = TraceFacts::new(spans);
        self.eval_se(&self.se, spans, &facts)
    }

    fn eval_se(&self, se: &Se, spans: &[SpanView<'_>], facts: &TraceFacts) -> Result<Vec<usize>, Unserved> {
        match se {
            Se::Filter(fe) => {
                let mut hits = Vec::new();
                for (i, sv) in spans.iter().enumerate() {
                    if self.eval_fe(fe, sv, facts)? == Static::Bool(true) {
                        hits.push(i);
                    }
                }
                Ok(hits)
            }
            Se::Op(op, l, r) => {
                let (l, r) = (self.eval_se(l, spans, facts)?, self.eval_se(r, spans, facts)?);
                let keep = if *op == Tk::And {
                    !l.is_empty() && !r.is_empty()
                } else {
                    !l.is_empty() || !r.is_empty()
                };
                if !keep {
                    return Ok(Vec::new());
                }
                // Tempo's uniqueSpans: the left spans, then the new right ones.
                let mut out = l;
                for i in r {
                    if !out.contains(&i) {
                        out.push(i);
                    }
                }
                Ok(out)
            }
        }
    }

    fn eval_fe(&self, fe: &Fe, sv: &SpanView<'_>, facts: &TraceFacts) -> Result<Static, Unserved> {
        match fe {
            Fe::Static(s) => Ok(s.clone()),
            Fe::Attr(a) => attribute_value(a, sv, facts),
            Fe::Un(op, e) => {
                let v = self.eval_fe(e, sv, facts)?;
                exec_unary(*op, &v).map_err(exec_unserved)
            }
            Fe::Bin(op, l, r) => {
                let (l, r) = (self.eval_fe(l, sv, facts)?, self.eval_fe(r, sv, facts)?);
                let mut regex = |p: &[u8]| match self.regexes.get(p) {
                    Some(compiled) => compiled.clone(),
                    None => compile_regex(p),
                };
                exec_binary(*op, &l, &r, &mut regex).map_err(exec_unserved)
            }
        }
    }
}

fn exec_unserved(e: ExecError) -> Unserved {
    match e {
        ExecError::Panic(msg) => rejected_by_querier(msg),
        ExecError::Error(msg) => rejected_by_querier(&msg),
    }
}

fn attribute_value(a: &Attr, sv: &SpanView<'_>, facts: &TraceFacts) -> Result<Static, Unserved> {
    if let Some(i) = a.intrinsic {
        let span = sv.span;
        return Ok(match i {
            Intrinsic::Duration => Static::Duration(
                i64::try_from(span.end_time_unix_nano.saturating_sub(span.start_time_unix_nano)).unwrap_or(i64::MAX),
            ),
            Intrinsic::Name => Static::Str(span.name.as_bytes().to_vec()),
            // OTLP codes: 0 unset, 1 ok, 2 error.
            Intrinsic::Status => Static::Status(match span.status.as_ref().map(|s| s.code) {
                Some(1) => 1,
                Some(2) => 0,
                _ => 2,
            }),
            Intrinsic::StatusMessage => Static::Str(
                span.status
                    .as_ref()
                    .map(|s| s.message.as_bytes().to_vec())
                    .unwrap_or_default(),
            ),
            Intrinsic::Kind => Static::Kind(u8::try_from(span.kind).ok().filter(|k| *k <= 5).unwrap_or(0)),
            Intrinsic::RootName => Static::Str(facts.root_name.clone()),
            Intrinsic::RootServiceName => Static::Str(facts.root_service.clone()),
            Intrinsic::TraceDuration => Static::Duration(facts.duration),
            other => return Err(unserved(format!("the intrinsic `{}`", other.spelling()))),
        });
    }
    let find = |attrs: &[KeyValue]| attrs.iter().find(|kv| kv.key == a.name).cloned();
    let kv = match a.scope {
        Scope::Span => find(&sv.span.attributes),
        Scope::Resource => find(sv.resource),
        // Unscoped: the span's attribute, else the resource's.
        Scope::None => find(&sv.span.attributes).or_else(|| find(sv.resource)),
        Scope::Event | Scope::Link => return Err(unserved("`event.` and `link.` attributes")),
    };
    Ok(match kv.and_then(|kv| kv.value).and_then(|v| v.value) {
        None => Static::Nil,
        Some(any_value::Value::StringValue(s)) => Static::Str(s.into_bytes()),
        Some(any_value::Value::IntValue(i)) => Static::Int(i),
        Some(any_value::Value::DoubleValue(d)) => Static::Float(d),
        Some(any_value::Value::BoolValue(b)) => Static::Bool(b),
        Some(_) => return Err(unserved("attributes holding arrays, key-value lists or bytes")),
    })
}

#[cfg(test)]
mod tests {
    use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
    use opentelemetry_proto::tonic::trace::v1::{Span, Status};

    use super::*;

    fn error(q: &str) -> String {
        match parse(q) {
            Err(QueryError::Invalid(e)) => e.to_string(),
            other => format!("not rejected: {other:?}"),
        }
    }

    /// Every message here is what Tempo 2.6.1's `traceql.Parse` returned
    /// for the same text (run against the real code).
    #[test]
    fn rejections_are_tempos_word_for_word() {
        for (q, want) in [
            (
                "{ span.a = }",
                "parse error at line 1, col 12: syntax error: unexpected }",
            ),
            (
                r#"{ span.a = "x" "#,
                "parse error at line 1, col 16: syntax error: unexpected $end",
            ),
            (
                r#"span.a = "x""#,
                "parse error at line 0, col 1: syntax error: unexpected span.",
            ),
            (
                r#"{ foo = "x" }"#,
                "parse error at line 1, col 3: syntax error: unexpected IDENTIFIER",
            ),
            (
                "{ span.a == 1 }",
                "parse error at line 1, col 11: syntax error: unexpected =",
            ),
            ("{{ }}", "parse error at line 1, col 2: syntax error: unexpected {"),
            (
                "{ span.a = 1 } x",
                "parse error at line 1, col 16: syntax error: unexpected IDENTIFIER, expecting with",
            ),
            (
                "{ span.a = 1 }}",
                "parse error at line 1, col 15: syntax error: unexpected }, expecting with",
            ),
            (
                r#"{ resource.service.name =~ "a\-b" }"#,
                "parse error at line 1, col 28: invalid char escape",
            ),
            (
                r#"{ span.a = "a\-b" }"#,
                "parse error at line 1, col 12: invalid char escape",
            ),
            (
                r#"{ span.a = "\xZZ" }"#,
                "parse error at line 1, col 12: invalid char escape",
            ),
            (
                r#"{ span.a = "\u12" }"#,
                "parse error at line 1, col 12: invalid char escape",
            ),
            (
                r#"{ span.a = "\'" }"#,
                "parse error at line 1, col 12: invalid char escape",
            ),
            (
                r#"{ span.a = "\400" }"#,
                "parse error at line 1, col 12: invalid syntax",
            ),
            (
                r#"{ span.a = "\ud800" }"#,
                "parse error at line 1, col 12: invalid syntax",
            ),
            (
                r#"{ span.a = "\U00110000" }"#,
                "parse error at line 1, col 12: invalid syntax",
            ),
            (
                r#"{ span.a = "abc }"#,
                "parse error at line 1, col 12: literal not terminated",
            ),
            (
                "{ span.a = `unterminated }",
                "parse error at line 1, col 12: literal not terminated",
            ),
            (
                "{ span.a = 'xy' }",
                "parse error at line 1, col 12: invalid char literal",
            ),
            (
                "{ span.a = 'x' }",
                "parse error at line 1, col 12: syntax error: unexpected IDENTIFIER",
            ),
            (
                "{ span.a = 1 } /* c",
                "parse error at line 1, col 16: comment not terminated",
            ),
            (
                "{ span.a = 1 } | by()",
                "parse error at line 1, col 21: syntax error: unexpected )",
            ),
            (
                "{ span.a = 1 } | count(",
                "parse error at line 1, col 24: syntax error: unexpected $end, expecting )",
            ),
            (
                r#"{ span.a = 1 } | count() > "x""#,
                "parse error at line 1, col 28: syntax error: unexpected STRING",
            ),
            (
                "{ span.a = 1 } ||",
                "parse error at line 1, col 18: syntax error: unexpected $end, expecting { or (",
            ),
            (
                "( { span.a = 1 }",
                "parse error at line 1, col 17: syntax error: unexpected $end, expecting ) or |",
            ),
            (
                "{ trace:foo = 1 }",
                "parse error at line 1, col 9: syntax error: unexpected IDENTIFIER, expecting duration or rootName or rootService or id",
            ),
            (
                "{ span:foo = 1 }",
                "parse error at line 1, col 8: syntax error: unexpected IDENTIFIER",
            ),
            (
                "{ event:foo = 1 }",
                "parse error at line 1, col 9: syntax error: unexpected IDENTIFIER, expecting name or timeSinceStart",
            ),
            (
                "{ link:foo = 1 }",
                "parse error at line 1, col 8: syntax error: unexpected IDENTIFIER, expecting traceID or spanID",
            ),
            (
                "{ span.a = 1 } with most_recent=true",
                "parse error at line 1, col 21: syntax error: unexpected IDENTIFIER, expecting (",
            ),
            (
                "{ span.a >= >= 1 }",
                "parse error at line 0, col 13: syntax error: unexpected >=",
            ),
            (
                "{ span.a = 1 } && && { }",
                "parse error at line 0, col 19: syntax error: unexpected &&, expecting { or (",
            ),
            (
                "{ span. = 1 }",
                "parse error at line 0, col 3: syntax error: unexpected END_ATTRIBUTE, expecting IDENTIFIER",
            ),
            (
                "{ parent. = 1 }",
                "parse error at line 0, col 3: syntax error: unexpected END_ATTRIBUTE, expecting IDENTIFIER or resource. or span.",
            ),
            (
                "{ . = 1 }",
                "parse error at line 1, col 3: syntax error: unexpected END_ATTRIBUTE, expecting IDENTIFIER",
            ),
            (
                r#"{ span."a\qb" = "x" }"#,
                "parse error at line 0, col 3: invalid escape sequence",
            ),
            (
                r#"{ span."a b = "x" }"#,
                r#"parse error at line 0, col 3: unexpected EOF, expecting ""#,
            ),
            (
                "{ parent.a = 1 && .span.b = 2 }",
                "parse error at line 0, col 19: syntax error: unexpected span., expecting IDENTIFIER",
            ),
            ("   ", "parse error at line 1, col 4: syntax error: unexpected $end"),
            (
                r#"{ span.a = "é" } }"#,
                "parse error at line 1, col 18: syntax error: unexpected }, expecting with",
            ),
            (
                "{ span.a = 10xyz }",
                "parse error at line 1, col 14: syntax error: unexpected IDENTIFIER",
            ),
            (
                "{ span.a = 0x1F }",
                r#"parse error at line 1, col 12: strconv.Atoi: parsing "0x1F": invalid syntax"#,
            ),
            (
                "{ span.a = 1_000 }",
                r#"parse error at line 1, col 12: strconv.Atoi: parsing "1_000": invalid syntax"#,
            ),
            (
                "{ span.a = 99999999999999999999 }",
                r#"parse error at line 1, col 12: strconv.Atoi: parsing "99999999999999999999": value out of range"#,
            ),
            (
                "{ span.a = 1e999 }",
                r#"parse error at line 1, col 12: strconv.ParseFloat: parsing "1e999": value out of range"#,
            ),
            (
                "{ span.a = 08 }",
                "parse error at line 1, col 12: invalid digit '8' in octal literal",
            ),
            (
                "{ span.a = 0x1.8 }",
                "parse error at line 1, col 12: hexadecimal mantissa requires a 'p' exponent",
            ),
            (
                "{ span.a = 1.5e }",
                "parse error at line 1, col 12: exponent has no digits",
            ),
            (
                "{ span.a = 1__0 }",
                "parse error at line 1, col 12: '_' must separate successive digits",
            ),
            (
                "{ span.a = 1 } 10ms",
                "parse error at line 0, col 16: syntax error: unexpected DURATION, expecting with",
            ),
            (
                "{ span.a = 1h1d }",
                "parse error at line 1, col 13: syntax error: unexpected IDENTIFIER",
            ),
            (
                "{ instrumentation.x = 1 }",
                "parse error at line 1, col 3: syntax error: unexpected IDENTIFIER",
            ),
            (
                "{ status = foo }",
                "parse error at line 1, col 12: syntax error: unexpected IDENTIFIER",
            ),
            (
                "{ Span.a = 1 }",
                "parse error at line 1, col 3: syntax error: unexpected IDENTIFIER",
            ),
            (
                "{ span.a = $x }",
                "parse error at line 1, col 12: syntax error: unexpected IDENTIFIER",
            ),
            (
                "{ span.a = 1 } & { }",
                "parse error at line 1, col 16: syntax error: unexpected IDENTIFIER, expecting with",
            ),
            (
                "{ span.a = 1 } ! { }",
                "parse error at line 1, col 16: syntax error: unexpected !, expecting with",
            ),
            (
                "{ count() > 1 }",
                "parse error at line 1, col 3: syntax error: unexpected count",
            ),
            (
                "coalesce()",
                "parse error at line 1, col 1: syntax error: unexpected coalesce",
            ),
            (
                "{ } | count() > - x",
                "parse error at line 1, col 19: syntax error: unexpected IDENTIFIER, expecting INTEGER or FLOAT or DURATION",
            ),
            (
                "({} | count()) > -1",
                "parse error at line 1, col 18: syntax error: unexpected -",
            ),
            (
                "{ } with(x=-1)",
                "parse error at line 1, col 12: syntax error: unexpected -",
            ),
            (
                "{ } with(",
                "parse error at line 1, col 10: syntax error: unexpected $end, expecting IDENTIFIER",
            ),
            (
                "{ } with(x",
                "parse error at line 1, col 11: syntax error: unexpected $end, expecting =",
            ),
            (
                "{ } with(x=1",
                "parse error at line 1, col 13: syntax error: unexpected $end, expecting ) or ,",
            ),
            (
                "{} && ({} | count() > 1)",
                "parse error at line 1, col 11: syntax error: unexpected |",
            ),
            (
                "({ }) && ({ } | count() > 1)",
                "parse error at line 1, col 15: syntax error: unexpected |",
            ),
            (
                "({} | count() > 1) && {}",
                "parse error at line 1, col 23: syntax error: unexpected {, expecting (",
            ),
            (
                "({} | count() > 1) | count() > 2",
                "parse error at line 1, col 20: syntax error: unexpected |, expecting with",
            ),
            (
                "({} | count()) + x",
                "parse error at line 1, col 18: syntax error: unexpected IDENTIFIER, expecting (",
            ),
            (
                "{ span.a = 1 } | quantile_over_time(duration,",
                "parse error at line 1, col 46: syntax error: unexpected $end, expecting INTEGER or FLOAT",
            ),
            (
                "{ span.a = 1 } | compare(",
                "parse error at line 1, col 26: syntax error: unexpected $end, expecting {",
            ),
            (
                "{ span.a = 1 } | compare({}, 1, 2",
                "parse error at line 1, col 34: syntax error: unexpected $end, expecting ,",
            ),
            (
                "{ span.a = 1 } | select(name",
                "parse error at line 1, col 29: syntax error: unexpected $end, expecting ) or ,",
            ),
            ("{ 1 / 0 = 1 }", "parse error : runtime error: integer divide by zero"),
            ("{ 1 % 0 }", "parse error : runtime error: integer divide by zero"),
            (
                r#"{ 1 / 0 "\q" }"#,
                "parse error : runtime error: integer divide by zero",
            ),
            ("\n", "parse error at line 2, col 1: syntax error: unexpected $end"),
            ("{\n", "parse error at line 2, col 1: syntax error: unexpected $end"),
            (
                "{ span.a = \"line1\nline2\" }",
                "parse error at line 1, col 12: literal not terminated",
            ),
            (
                "{ span.a = \"\0\" }",
                "parse error at line 1, col 12: invalid character NUL",
            ),
            ("", "parse error : syntax error: unexpected $end"),
        ] {
            assert_eq!(error(q), want, "{q:?}");
        }
    }

    /// One query per kind of message from differential runs against
    /// Tempo 2.6.1's parser (some 400,000 generated queries, all agreeing).
    #[test]
    fn fuzz_findings_stay_tempos() {
        for (q, want) in [
            ("{ 1/0", "parse error : runtime error: integer divide by zero"),
            ("", "parse error : syntax error: unexpected $end"),
            (
                "{ event: && }",
                "parse error at line 0, col 10: syntax error: unexpected &&, expecting name or timeSinceStart",
            ),
            (
                "select(name !=",
                "parse error at line 0, col 13: syntax error: unexpected !=, expecting ) or ,",
            ),
            (
                "{}|compare({},&&5)",
                "parse error at line 0, col 15: syntax error: unexpected &&, expecting INTEGER",
            ),
            (
                "(({})) with(x_y1.5s,",
                "parse error at line 0, col 17: syntax error: unexpected DURATION, expecting =",
            ),
            (
                "({}|count())+({}trace:id|>1",
                "parse error at line 0, col 17: syntax error: unexpected trace:, expecting |",
            ),
            ("&&", "parse error at line 0, col 1: syntax error: unexpected &&"),
            (
                "{span.a=1}|compare(span.b=2},10,1,2)",
                "parse error at line 0, col 20: syntax error: unexpected span., expecting {",
            ),
            (
                "-!=",
                "parse error at line 0, col 2: syntax error: unexpected !=, expecting INTEGER or FLOAT or DURATION",
            ),
            (
                "{span.",
                "parse error at line 0, col 2: syntax error: unexpected END_ATTRIBUTE, expecting IDENTIFIER",
            ),
            (
                "{}|quantile_over_time(duration,>>1)",
                "parse error at line 0, col 32: syntax error: unexpected >>, expecting INTEGER or FLOAT",
            ),
            (r#"{ ."\"#, "parse error at line 0, col 3: invalid escape sequence"),
            (
                "{ parent.",
                "parse error at line 0, col 3: syntax error: unexpected END_ATTRIBUTE, expecting IDENTIFIER or resource. or span.",
            ),
            (
                r#"{ .""#,
                r#"parse error at line 0, col 3: unexpected EOF, expecting ""#,
            ),
            (
                "by &>",
                "parse error at line 0, col 4: syntax error: unexpected &>, expecting (",
            ),
            (
                "{} >=",
                "parse error at line 0, col 4: syntax error: unexpected >=, expecting with",
            ),
            (
                "{} > 1h",
                "parse error at line 0, col 6: syntax error: unexpected DURATION, expecting { or (",
            ),
            (
                "((({}span.",
                "parse error at line 0, col 6: syntax error: unexpected span., expecting ) or |",
            ),
            (
                "count( !=",
                "parse error at line 0, col 8: syntax error: unexpected !=, expecting )",
            ),
            (
                "{ link: &> }",
                "parse error at line 0, col 9: syntax error: unexpected &>, expecting traceID or spanID",
            ),
            (
                "{ trace:1h",
                "parse error at line 0, col 9: syntax error: unexpected DURATION, expecting duration or rootName or rootService or id",
            ),
            (
                "select(name",
                "parse error at line 1, col 12: syntax error: unexpected $end, expecting ) or ,",
            ),
            (
                "{} with(atrue,",
                "parse error at line 1, col 14: syntax error: unexpected ,, expecting =",
            ),
            (
                "{} | compare({},",
                "parse error at line 1, col 17: syntax error: unexpected $end, expecting INTEGER",
            ),
            (
                "({}|count())+({}count())>1",
                "parse error at line 1, col 17: syntax error: unexpected count, expecting |",
            ),
            (
                "({ }) | compare(}, x 5)",
                "parse error at line 1, col 17: syntax error: unexpected }, expecting {",
            ),
            (
                "{}|compare({},2,3)",
                "parse error at line 1, col 18: syntax error: unexpected ), expecting ,",
            ),
            (
                "6P",
                "parse error at line 1, col 1: 'P' exponent requires hexadecimal mantissa",
            ),
            (
                "5_",
                "parse error at line 1, col 1: '_' must separate successive digits",
            ),
            (r#"0b""#, "parse error at line 1, col 1: binary literal has no digits"),
            ("/*", "parse error at line 1, col 1: comment not terminated"),
            ("7e ", "parse error at line 1, col 1: exponent has no digits"),
            (
                "0X }",
                "parse error at line 1, col 1: hexadecimal literal has no digits",
            ),
            (r#""\"#, "parse error at line 1, col 1: invalid char escape"),
            ("''}", "parse error at line 1, col 1: invalid char literal"),
            ("08", "parse error at line 1, col 1: invalid digit '8' in octal literal"),
            (r#""\400""#, "parse error at line 1, col 1: invalid syntax"),
            (r#"""#, "parse error at line 1, col 1: literal not terminated"),
            (
                "0x1F",
                r#"parse error at line 1, col 1: strconv.Atoi: parsing "0x1F": invalid syntax"#,
            ),
            (
                "1e999",
                r#"parse error at line 1, col 1: strconv.ParseFloat: parsing "1e999": value out of range"#,
            ),
            (
                "-",
                "parse error at line 1, col 2: syntax error: unexpected $end, expecting INTEGER or FLOAT or DURATION",
            ),
            (
                "{.",
                "parse error at line 1, col 2: syntax error: unexpected END_ATTRIBUTE, expecting IDENTIFIER",
            ),
            (
                "{}|quantile_over_time(duration,=1)",
                "parse error at line 1, col 32: syntax error: unexpected =, expecting INTEGER or FLOAT",
            ),
            (
                "( 0X5.trace:#nil. } | count() > 1",
                "parse error at line 1, col 3: hexadecimal mantissa requires a 'p' exponent",
            ),
            (
                r#"{ 0B.>>bP!3b"\"/*"#,
                "parse error at line 1, col 3: invalid radix point in binary literal",
            ),
            ("{ 0O^yab", "parse error at line 1, col 3: octal literal has no digits"),
            (
                "by",
                "parse error at line 1, col 3: syntax error: unexpected $end, expecting (",
            ),
            (
                "{})",
                "parse error at line 1, col 3: syntax error: unexpected ), expecting with",
            ),
            (
                "({}",
                "parse error at line 1, col 4: syntax error: unexpected $end, expecting ) or |",
            ),
            (
                "{} ~",
                "parse error at line 1, col 5: syntax error: unexpected $end, expecting { or (",
            ),
            (
                "{} | 0B9)",
                "parse error at line 1, col 6: invalid digit '9' in binary literal",
            ),
            (
                "count(",
                "parse error at line 1, col 7: syntax error: unexpected $end, expecting )",
            ),
            (
                "{trace:",
                "parse error at line 1, col 8: syntax error: unexpected $end, expecting duration or rootName or rootService or id",
            ),
            (
                "{event:",
                "parse error at line 1, col 8: syntax error: unexpected $end, expecting name or timeSinceStart",
            ),
            (
                "{ link: >",
                "parse error at line 1, col 9: syntax error: unexpected >, expecting traceID or spanID",
            ),
            ("\n", "parse error at line 2, col 1: syntax error: unexpected $end"),
        ] {
            assert_eq!(error(q), want, "{q:?}");
        }
    }

    #[test]
    fn accepted_queries_parse() {
        for q in [
            r#"{ resource.service.name = "pillars-traces-1a2b3c4d" && span.pillars.run = "r-1" }"#,
            "{}",
            "{ }",
            "{ span.http.status_code >= 500 }",
            "{ duration > 100ms }",
            r"{ resource.service.name =~ `(.+/)?a\-b` }",
            r#"{ .foo = "x" } && { name = "GET /" }"#,
            r#"{ span.a = "\x41\101\u00e9\U0001F600\a\b\f\n\r\t\v\\\"" }"#,
            "{ span.a = `abc` }",
            r#"{ span."a b" = 1 && span.a"b c"d = 2 && span.a-b/c:d[0] = 3 && span.é = 4 }"#,
            "{ parent.span.a = 1 && parent.resource.b = 2 && parent.c = 3 }",
            "{ trace:duration > 1s && trace:id = \"ab\" && span:id = \"cd\" && event:name = \"e\" && link:spanID = \"f\" }",
            "{ span.a = 1.5s && span.b = 1d && span.c = 5µs && span.d = 10h5m && span.e = 1e5 && span.f = .5 && span.g = -1 }",
            "{ span.a = 1_0.5 && span.b = 0x1p-2 && span.c = 1e-999 }",
            "{ !(span.a = 1) || -span.b < 2 ^ 3 * 4 % 5 / 6 - 7 + 8 }",
            "{ span.a } && { true } || { span.a != nil }",
            "{ span.a = 1 } >> { } << { } ~ { } !> { } !< { } !>> { } !<< { } &> { } &< { } &>> { } &<< { } &~ { } !~ { }",
            "{ span.a = 1 } | count() > 1",
            "{ span.a = 1 } | select(span.b, name)",
            "{ span.a = 1 } | by(span.b) | coalesce()",
            "{ span.a = 1 } | avg(duration) > 1s",
            "{ span.a = 1 } | rate() by (resource.service.name)",
            "{ span.a = 1 } | quantile_over_time(duration, .9, 1)",
            "{ span.a = 1 } | compare({ span.b = 2 }, 10, 1, 2)",
            "{ span.a = 1 } with(most_recent=true) with(x=\"y\")",
            "({ span.a = 1 } | count() > 1) && ({ span.b = 2 })",
            "({} | count()) + ({} | count()) > 1",
            "count() > 1",
            "by(name)",
            "(({ }))",
            "{ span.a = 1 } // trailing comment",
            "{ 2 ^ 3 = 9 }",
        ] {
            assert!(parse(q).is_ok(), "{q}: {:?}", parse(q));
        }
    }

    fn served(q: &str) -> Result<Search, Unserved> {
        match parse(q) {
            Ok(query) => query.search(),
            Err(e) => panic!("{q}: {e}"),
        }
    }

    #[test]
    fn what_is_valid_but_not_evaluated_is_unserved() {
        for q in [
            "{ span.a = 1 } >> { span.b = 1 }",
            "{ span.a = 1 } | count() > 1",
            "{ span.a = 1 } | select(name)",
            "{ span.a = 1 } | by(name)",
            "{ span.a = 1 } | avg(duration) > 1s",
            "{ span.a = 1 } | coalesce()",
            "{ span.a = 1 } | { span.b = 2 }",
            "{ span.a = 1 } | rate()",
            "{ span.a = 1 } with(most_recent=true)",
            "({} | count()) > 1",
            "({} | count() > 1) && ({})",
            "count() > 1",
            "{ event.a = 1 }",
            "{ link.a = 1 }",
            "{ parent.a = 1 }",
            "{ childCount > 1 }",
            "{ trace:id = \"ab\" }",
            // What Tempo 2.6.1's querier fails rather than answers.
            "{ span.a = nil }",
            "{ name = 1 }",
            "{ \"a\" =~ \"(\" }",
            "{ span.a =~ \"(\" }",
            "{ 1 }",
        ] {
            let why = served(q).expect_err(q);
            assert!(
                why.to_string()
                    .starts_with("the reference stack parses this TraceQL query but does not evaluate "),
                "{why}"
            );
        }
        for q in [
            r#"{ resource.service.name = "pillars-traces-1a2b3c4d" && span.pillars.run = "r-1" }"#,
            "{}",
            "{ span.http.status_code >= 500 }",
            "{ duration > 100ms }",
            r"{ resource.service.name =~ `(.+/)?a\-b` }",
            r#"{ .foo = "x" } && { name = "GET /" }"#,
            "({ span.a = 1 }) || ({ span.b = 2 } && { span.c = 3 })",
            "{ status = error && kind = server && statusMessage != \"\" }",
            "{ rootName = \"x\" && rootServiceName = \"y\" && traceDuration > 1s && trace:rootService = \"y\" }",
        ] {
            assert!(served(q).is_ok(), "{q}: {:?}", served(q));
        }
    }

    #[test]
    fn lookahead_past_gos_scanner_buffer_is_unserved() {
        // Tempo's duration look-ahead reads "ms " across byte 1024 on a
        // copy of the scanner, which takes the rest of the input with it:
        // Tempo answers `unexpected $end` to this valid query.
        let pad = "x".repeat(1020 - r#"{ span.a = "" && span.b = "#.len());
        let q = format!(r#"{{ span.a = "{pad}" && span.b = 10ms }}"#);
        assert!(matches!(parse(&q), Err(QueryError::Unserved(_))), "{:?}", parse(&q));
        // One byte earlier the look-ahead stays inside the buffer.
        let q = format!(r#"{{ span.a = "{pad}" && span.b = 10ms }}"#).replacen('x', "", 1);
        assert!(parse(&q).is_ok());
    }

    fn kv(key: &str, value: any_value::Value) -> KeyValue {
        KeyValue {
            key: key.into(),
            value: Some(AnyValue { value: Some(value) }),
            ..Default::default()
        }
    }

    fn s(v: &str) -> any_value::Value {
        any_value::Value::StringValue(v.into())
    }

    fn span(name: &str, parent: bool, ms: u64, attrs: Vec<KeyValue>) -> Span {
        Span {
            name: name.into(),
            span_id: vec![1; 8],
            parent_span_id: if parent { vec![2; 8] } else { Vec::new() },
            start_time_unix_nano: 1_000_000_000,
            end_time_unix_nano: 1_000_000_000 + ms * 1_000_000,
            attributes: attrs,
            ..Default::default()
        }
    }

    /// Indices of the spans the query matches in one small trace.
    fn hits(q: &str) -> Vec<usize> {
        let resource = vec![kv("service.name", s("svc")), kv("region", s("eu"))];
        let mut root = span(
            "GET /",
            false,
            250,
            vec![kv("http.status_code", any_value::Value::IntValue(503))],
        );
        root.kind = 2;
        root.status = Some(Status {
            code: 2,
            message: "boom".into(),
        });
        let spans = [
            root,
            span(
                "db",
                true,
                50,
                vec![
                    kv("region", s("us")),
                    kv("code", s("503")),
                    kv("ratio", any_value::Value::DoubleValue(3.0)),
                    kv("ok", any_value::Value::BoolValue(true)),
                ],
            ),
            span(
                "cache",
                true,
                150,
                vec![kv("pillars.seq", any_value::Value::IntValue(3))],
            ),
        ];
        let views: Vec<SpanView<'_>> = spans
            .iter()
            .map(|span| SpanView {
                resource: &resource,
                span,
            })
            .collect();
        served(q)
            .and_then(|s| s.matches(&views))
            .unwrap_or_else(|e| panic!("{q}: {e}"))
    }

    /// vParquet4 keeps the last span without a parent as the root
    /// (`tempodb/encoding/vparquet4/schema.go` `traceToParquet` at v2.6.1).
    #[test]
    fn the_root_is_the_last_span_without_a_parent() {
        let span = |name: &str| Span {
            name: name.into(),
            ..Default::default()
        };
        let spans = [span("first"), span("second")];
        let views: Vec<SpanView<'_>> = spans.iter().map(|span| SpanView { resource: &[], span }).collect();
        let hits = |q: &str| {
            served(q)
                .and_then(|s| s.matches(&views))
                .unwrap_or_else(|e| panic!("{q}: {e}"))
        };
        assert_eq!(hits(r#"{ trace:rootName = "second" }"#), [0, 1]);
        assert_eq!(hits(r#"{ trace:rootName = "first" }"#), Vec::<usize>::new());
    }

    #[test]
    fn filters_follow_tempos_comparison_rules() {
        let none: Vec<usize> = Vec::new();
        assert_eq!(hits("{}"), [0, 1, 2]);
        assert_eq!(hits(r#"{ name = "db" }"#), [1]);
        assert_eq!(
            hits(r#"{ resource.service.name = "svc" && span.pillars.seq = 3 }"#),
            [2]
        );
        // Typed: the string "503" is not the integer 503.
        assert_eq!(hits("{ span.http.status_code >= 500 }"), [0]);
        assert_eq!(hits("{ span.code = 503 }"), none);
        assert_eq!(hits(r#"{ span.code = "503" }"#), [1]);
        // Numbers compare across int and float.
        assert_eq!(hits("{ span.ratio = 3 && span.ratio > 2.5 }"), [1]);
        assert_eq!(hits("{ span.ok }"), [1]);
        // A missing attribute is nil: neither equal nor unequal to a string.
        assert_eq!(hits(r#"{ span.code != "x" }"#), [1]);
        assert_eq!(hits("{ span.code != nil }"), [1]);
        // Unscoped: the span's attribute, else its resource's.
        assert_eq!(hits(r#"{ .region = "eu" }"#), [0, 2]);
        assert_eq!(hits(r#"{ span.region = "eu" }"#), none);
        // 2.6.1's regexes are unanchored.
        assert_eq!(hits(r#"{ name =~ "b" }"#), [1]);
        assert_eq!(hits(r#"{ name =~ "^b" }"#), none);
        assert_eq!(hits(r#"{ name !~ "a" }"#), [0, 1]);
        assert_eq!(hits(r"{ resource.service.name =~ `(.+/)?s\wc` }"), [0, 1, 2]);
        assert_eq!(hits("{ duration > 100ms }"), [0, 2]);
        assert_eq!(hits("{ span:duration <= 50ms }"), [1]);
        assert_eq!(
            hits(r#"{ status = error && kind = server && statusMessage = "boom" }"#),
            [0]
        );
        assert_eq!(hits("{ status = unset }"), [1, 2]);
        assert_eq!(
            hits(r#"{ rootName = "GET /" && trace:rootService = "svc" && traceDuration = 250ms }"#),
            [0, 1, 2]
        );
        // Tempo's intPow takes its arguments the other way round.
        assert_eq!(hits("{ 2 ^ 3 = 9 }"), [0, 1, 2]);
        assert_eq!(hits("{ span.pillars.seq * 2 = 6 || span.pillars.seq - 1 = 2.0 }"), [2]);
    }

    #[test]
    fn spanset_operators_work_on_the_trace() {
        let none: Vec<usize> = Vec::new();
        assert_eq!(hits(r#"{ name = "db" } && { name = "cache" }"#), [1, 2]);
        assert_eq!(hits(r#"{ name = "db" } && { name = "nope" }"#), none);
        assert_eq!(hits(r#"{ name = "nope" } || { name = "cache" }"#), [2]);
        // `&&` and `||` have the same precedence and associate left.
        assert_eq!(
            hits(r#"{ name = "db" } || { name = "cache" } && { name = "nope" }"#),
            none
        );
        assert_eq!(
            hits(r#"{ name = "db" } || ({ name = "cache" } && { name = "nope" })"#),
            [1]
        );
        assert_eq!(hits(r#"{ .foo = "x" } && { name = "GET /" }"#), none);
    }

    #[test]
    fn evaluation_errors_are_unserved_not_guessed() {
        let resource = Vec::new();
        let span = span("s", false, 1, vec![kv("a", s("x"))]);
        let view = [SpanView {
            resource: &resource,
            span: &span,
        }];
        // Tempo fails the query when `!` meets a non-boolean value.
        assert!(served("{ !span.a }").and_then(|s| s.matches(&view)).is_err());
        assert!(served("{ span.n / 0 = 1 }").and_then(|s| s.matches(&view)).is_ok());
        let arr = Span {
            attributes: vec![kv("a", any_value::Value::ArrayValue(Default::default()))],
            ..span.clone()
        };
        let view = [SpanView {
            resource: &resource,
            span: &arr,
        }];
        assert!(served(r#"{ span.a = "x" }"#).and_then(|s| s.matches(&view)).is_err());
    }

    /// A small deterministic generator (no `rand` dependency).
    struct Lcg(u64);

    impl Lcg {
        fn next(&mut self, n: usize) -> usize {
            self.0 = self
                .0
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            ((self.0 >> 33) as usize) % n
        }
    }

    #[test]
    fn hostile_input_never_panics() {
        const PIECES: &[&str] = &[
            "{",
            "}",
            "(",
            ")",
            "|",
            "&&",
            "||",
            ">>",
            "!~",
            "=~",
            "=",
            "!=",
            ">",
            "<=",
            "!",
            "-",
            "^",
            "/",
            "%",
            "*",
            "span.",
            "resource.",
            "parent.",
            ".",
            "span:",
            "trace:",
            "event:",
            "link:",
            "\"",
            "`",
            "'",
            "\\",
            "\"\\u",
            "\"\\x",
            "\"\\4",
            "1",
            "0x",
            "1e",
            "1.",
            "10ms",
            "1_",
            "99999999999999999999",
            "count()",
            "max(",
            "by(",
            "select(",
            "coalesce()",
            "rate()",
            "compare(",
            "with(",
            "a=1",
            ",",
            "nil",
            "true",
            "error",
            "server",
            "duration",
            "name",
            "é",
            "\u{0}",
            "\n",
            " ",
            "\t",
            "/*",
            "//",
            "#",
            "$",
            "µ",
            "\u{fffd}",
            "1/0",
            "%0",
        ];
        let mut rng = Lcg(0x5eed);
        let resource = Vec::new();
        let span = span("s", false, 1, vec![kv("a", s("x"))]);
        let view = [SpanView {
            resource: &resource,
            span: &span,
        }];
        for _ in 0..600 {
            let mut q = String::new();
            for _ in 0..rng.next(24) {
                q.push_str(PIECES[rng.next(PIECES.len())]);
                if rng.next(3) == 0 {
                    q.push(' ');
                }
            }
            if let Ok(query) = parse(&q)
                && let Ok(search) = query.search()
            {
                let _ = search.matches(&view);
            }
        }
        // Deep nesting and long chains end in an answer, not a stack overflow.
        for q in [
            "(".repeat(100_000),
            format!("{}{{}}{}", "(".repeat(5_000), ")".repeat(5_000)),
            format!("{{ {} 1 }}", "-".repeat(100_000)),
            format!("{{ {}1 }}", "!(".repeat(50_000)),
            format!("{{ {} }}", vec!["span.a = 1"; 20_000].join(" && ")),
            format!("{{ 1{} }}", " ^ 1".repeat(20_000)),
            vec!["{ }"; 20_000].join(" && "),
        ] {
            assert!(parse(&q).is_err());
        }
    }
}
