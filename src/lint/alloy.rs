//! A parser for the subset of the Alloy configuration syntax this stack
//! uses (`shared/reference/api/07-alloy.md`): blocks with an optional
//! label, attributes, strings, numbers, booleans, `null`, lists, objects,
//! references (`otelcol.processor.batch.default.input`), function calls
//! and comments. Expressions with operators are kept whole but opaque.
//!
//! Terraform templates of Alloy files (`.alloy.tftpl`) parse too:
//! `${…}` outside a string is an opaque value, and `%{ … }` directive
//! lines are skipped, since neither can be judged before Terraform
//! renders them.
//!
//! Every node keeps its line; errors say line, column and what was
//! expected.
//!
//! Uses: nothing else in the crate.

/// A parsed file: its top-level blocks (attributes at the top level are
/// legal Alloy but unused here, and kept out).
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub blocks: Vec<Block>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Block {
    /// Dotted, e.g. `otelcol.exporter.otlp`.
    pub name: String,
    pub label: Option<String>,
    pub attributes: Vec<Attribute>,
    pub blocks: Vec<Block>,
    pub line: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Attribute {
    pub name: String,
    pub value: Value,
    pub line: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    String(String),
    Number(f64),
    Bool(bool),
    Null,
    List(Vec<Value>),
    Object(Vec<(String, Value)>),
    /// A dotted reference to another component's export.
    Reference(String),
    Call {
        function: String,
        args: Vec<Value>,
    },
    /// A Terraform interpolation, or an expression with operators: its text.
    Opaque(String),
}

impl Value {
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Number(n) => Some(*n),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// Every reference in the value, lists and objects included.
    pub fn references(&self) -> Vec<&str> {
        match self {
            Value::Reference(r) => vec![r.as_str()],
            Value::List(items) => items.iter().flat_map(Value::references).collect(),
            Value::Object(fields) => fields.iter().flat_map(|(_, v)| v.references()).collect(),
            Value::Call { args, .. } => args.iter().flat_map(Value::references).collect(),
            _ => Vec::new(),
        }
    }
}

impl Block {
    pub fn attribute(&self, name: &str) -> Option<&Attribute> {
        self.attributes.iter().find(|a| a.name == name)
    }

    pub fn value(&self, name: &str) -> Option<&Value> {
        self.attribute(name).map(|a| &a.value)
    }

    pub fn block(&self, name: &str) -> Option<&Block> {
        self.blocks.iter().find(|b| b.name == name)
    }

    /// `name.label` (`name` alone for an unlabelled block): the prefix
    /// references to this component start with.
    pub fn id(&self) -> String {
        match &self.label {
            Some(label) => format!("{}.{label}", self.name),
            None => self.name.clone(),
        }
    }
}

/// A syntax error: where, and what the parser expected there.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("expected {expected}, found {found}")]
pub struct ParseError {
    pub line: usize,
    pub column: usize,
    pub expected: String,
    pub found: String,
}

pub fn parse(text: &str) -> Result<Config, ParseError> {
    let tokens = lex(text)?;
    let mut parser = Parser {
        tokens,
        pos: 0,
        depth: 0,
    };
    let mut blocks = Vec::new();
    while !parser.at_end() {
        match parser.statement()? {
            Statement::Block(b) => blocks.push(b),
            Statement::Attribute(_) => {}
        }
    }
    Ok(Config { blocks })
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Str(String),
    Number(f64),
    Opaque(String),
    Punct(char),
    /// `==`, `!=`, `<=`, `>=`, `&&`, `||`.
    Operator(&'static str),
}

#[derive(Debug, Clone)]
struct Token {
    tok: Tok,
    line: usize,
    column: usize,
}

fn describe(tok: Option<&Token>) -> String {
    match tok.map(|t| &t.tok) {
        None => "the end of the file".into(),
        Some(Tok::Ident(s)) => format!("`{s}`"),
        Some(Tok::Str(s)) => format!("the string {s:?}"),
        Some(Tok::Number(n)) => format!("the number {n}"),
        Some(Tok::Opaque(s)) => format!("`{s}`"),
        Some(Tok::Punct(c)) => format!("`{c}`"),
        Some(Tok::Operator(o)) => format!("`{o}`"),
    }
}

fn lex(text: &str) -> Result<Vec<Token>, ParseError> {
    let chars: Vec<char> = text.chars().collect();
    let mut tokens = Vec::new();
    let (mut i, mut line, mut col) = (0usize, 1usize, 1usize);
    let err = |line, column, expected: &str, found: String| ParseError {
        line,
        column,
        expected: expected.into(),
        found,
    };
    // Advances over chars[i..j], keeping line and column.
    let advance = |i: &mut usize, line: &mut usize, col: &mut usize, to: usize| {
        while *i < to {
            if chars[*i] == '\n' {
                *line += 1;
                *col = 1;
            } else {
                *col += 1;
            }
            *i += 1;
        }
    };
    while i < chars.len() {
        let c = chars[i];
        let (start_line, start_col) = (line, col);
        let next = chars.get(i + 1).copied();
        if c.is_whitespace() {
            {
                let to = i + 1;
                advance(&mut i, &mut line, &mut col, to);
            }
        } else if c == '/' && next == Some('/') {
            let end = chars[i..]
                .iter()
                .position(|&c| c == '\n')
                .map_or(chars.len(), |p| i + p);
            advance(&mut i, &mut line, &mut col, end);
        } else if c == '/' && next == Some('*') {
            let end = (i + 2..chars.len().saturating_sub(1))
                .find(|&j| chars[j] == '*' && chars[j + 1] == '/')
                .ok_or_else(|| err(line, col, "`*/` closing the comment", "the end of the file".into()))?;
            advance(&mut i, &mut line, &mut col, end + 2);
        } else if (c == '%' || c == '$') && next == Some('{') {
            // A Terraform template directive or interpolation.
            let end = matching_brace(&chars, i + 1).ok_or_else(|| {
                err(
                    line,
                    col,
                    "`}` closing the template expression",
                    "the end of the file".into(),
                )
            })?;
            let raw: String = chars[i..=end].iter().collect();
            advance(&mut i, &mut line, &mut col, end + 1);
            if c == '$' {
                tokens.push(Token {
                    tok: Tok::Opaque(raw),
                    line: start_line,
                    column: start_col,
                });
            }
        } else if c == '"' {
            let mut value = String::new();
            let mut j = i + 1;
            loop {
                match chars.get(j) {
                    None | Some('\n') => {
                        return Err(err(
                            start_line,
                            start_col,
                            "`\"` closing the string",
                            "the end of the line".into(),
                        ));
                    }
                    Some('"') => break,
                    Some('\\') => {
                        let escaped = chars.get(j + 1).copied();
                        value.push(match escaped {
                            Some('n') => '\n',
                            Some('t') => '\t',
                            Some('r') => '\r',
                            Some('"') => '"',
                            Some('\\') => '\\',
                            other => {
                                let found = other.map_or("the end of the file".to_string(), |c| format!("`\\{c}`"));
                                return Err(err(line, col + (j - i), "an escape (\\n, \\t, \\r, \\\", \\\\)", found));
                            }
                        });
                        j += 2;
                    }
                    Some(&ch) => {
                        value.push(ch);
                        j += 1;
                    }
                }
            }
            advance(&mut i, &mut line, &mut col, j + 1);
            tokens.push(Token {
                tok: Tok::Str(value),
                line: start_line,
                column: start_col,
            });
        } else if c == '`' {
            let end = chars[i + 1..]
                .iter()
                .position(|&c| c == '`')
                .map(|p| i + 1 + p)
                .ok_or_else(|| err(line, col, "'`' closing the raw string", "the end of the file".into()))?;
            let value: String = chars[i + 1..end].iter().collect();
            advance(&mut i, &mut line, &mut col, end + 1);
            tokens.push(Token {
                tok: Tok::Str(value),
                line: start_line,
                column: start_col,
            });
        } else if c.is_ascii_digit() {
            let end = (i..chars.len())
                .find(|&j| !(chars[j].is_ascii_alphanumeric() || chars[j] == '.' || chars[j] == '_'))
                .unwrap_or(chars.len());
            let raw: String = chars[i..end].iter().collect();
            let number = raw
                .replace('_', "")
                .parse::<f64>()
                .map_err(|_| err(line, col, "a number", format!("`{raw}`")))?;
            advance(&mut i, &mut line, &mut col, end);
            tokens.push(Token {
                tok: Tok::Number(number),
                line: start_line,
                column: start_col,
            });
        } else if c.is_alphabetic() || c == '_' {
            let end = (i..chars.len())
                .find(|&j| !(chars[j].is_alphanumeric() || chars[j] == '_'))
                .unwrap_or(chars.len());
            let word: String = chars[i..end].iter().collect();
            advance(&mut i, &mut line, &mut col, end);
            tokens.push(Token {
                tok: Tok::Ident(word),
                line: start_line,
                column: start_col,
            });
        } else {
            let two: String = chars[i..(i + 2).min(chars.len())].iter().collect();
            let operator = ["==", "!=", "<=", ">=", "&&", "||"].into_iter().find(|o| *o == two);
            if let Some(op) = operator {
                {
                    let to = i + 2;
                    advance(&mut i, &mut line, &mut col, to);
                }
                tokens.push(Token {
                    tok: Tok::Operator(op),
                    line: start_line,
                    column: start_col,
                });
            } else if "{}[]()=,.:+-*/%<>!?".contains(c) {
                {
                    let to = i + 1;
                    advance(&mut i, &mut line, &mut col, to);
                }
                tokens.push(Token {
                    tok: Tok::Punct(c),
                    line: start_line,
                    column: start_col,
                });
            } else {
                return Err(err(line, col, "a block, an attribute or a value", format!("`{c}`")));
            }
        }
    }
    Ok(tokens)
}

/// The index of the `}` matching the `{` at `open`.
fn matching_brace(chars: &[char], open: usize) -> Option<usize> {
    let mut depth = 0usize;
    for (j, &c) in chars.iter().enumerate().skip(open) {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return Some(j);
                }
            }
            _ => {}
        }
    }
    None
}

enum Statement {
    Block(Block),
    Attribute(Attribute),
}

/// Deeper nesting is refused rather than recursed into: a garbage file
/// must not exhaust the stack.
const MAX_DEPTH: usize = 64;

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
    depth: usize,
}

impl Parser {
    fn at_end(&self) -> bool {
        self.pos >= self.tokens.len()
    }

    fn peek(&self) -> Option<&Tok> {
        self.tokens.get(self.pos).map(|t| &t.tok)
    }

    fn error(&self, expected: &str) -> ParseError {
        let (line, column) = match self.tokens.get(self.pos).or(self.tokens.last()) {
            Some(t) => (t.line, t.column),
            None => (1, 1),
        };
        ParseError {
            line,
            column,
            expected: expected.into(),
            found: describe(self.tokens.get(self.pos)),
        }
    }

    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(&Tok::Punct(c)) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, c: char, expected: &str) -> Result<(), ParseError> {
        if self.eat(c) { Ok(()) } else { Err(self.error(expected)) }
    }

    fn line(&self) -> u32 {
        self.tokens.get(self.pos).map_or(1, |t| t.line as u32)
    }

    fn ident(&mut self, expected: &str) -> Result<String, ParseError> {
        match self.peek() {
            Some(Tok::Ident(s)) => {
                let s = s.clone();
                self.pos += 1;
                Ok(s)
            }
            _ => Err(self.error(expected)),
        }
    }

    /// A dotted name: `a.b.c`.
    fn dotted(&mut self, expected: &str) -> Result<String, ParseError> {
        let mut name = self.ident(expected)?;
        while self.peek() == Some(&Tok::Punct('.')) {
            self.pos += 1;
            name.push('.');
            name.push_str(&self.ident("a name after `.`")?);
        }
        Ok(name)
    }

    fn nested<T>(&mut self, parse: fn(&mut Parser) -> Result<T, ParseError>) -> Result<T, ParseError> {
        if self.depth >= MAX_DEPTH {
            return Err(self.error(&format!("at most {MAX_DEPTH} levels of nested blocks and values")));
        }
        self.depth += 1;
        let result = parse(self);
        self.depth -= 1;
        result
    }

    fn statement(&mut self) -> Result<Statement, ParseError> {
        self.nested(Parser::statement_inner)
    }

    fn statement_inner(&mut self) -> Result<Statement, ParseError> {
        let line = self.line();
        let name = self.dotted("a block name or an attribute name")?;
        if self.eat('=') {
            if name.contains('.') {
                self.pos -= 1;
                return Err(self.error("`{` or a label: an attribute name has no `.`"));
            }
            let value = self.expression()?;
            return Ok(Statement::Attribute(Attribute { name, value, line }));
        }
        let label = match self.peek() {
            Some(Tok::Str(s)) => {
                let s = s.clone();
                self.pos += 1;
                Some(s)
            }
            _ => None,
        };
        self.expect('{', &format!("`=` or `{{` after `{name}`"))?;
        let mut block = Block {
            name,
            label,
            attributes: Vec::new(),
            blocks: Vec::new(),
            line,
        };
        loop {
            if self.eat('}') {
                return Ok(Statement::Block(block));
            }
            if self.at_end() {
                return Err(self.error(&format!("`}}` closing the block `{}` of line {line}", block.name)));
            }
            match self.statement()? {
                Statement::Block(b) => block.blocks.push(b),
                Statement::Attribute(a) => block.attributes.push(a),
            }
        }
    }

    fn expression(&mut self) -> Result<Value, ParseError> {
        let start = self.pos;
        let first = self.primary()?;
        let mut opaque = false;
        while let Some(tok) = self.peek() {
            let binary = matches!(tok, Tok::Operator(_)) || matches!(tok, Tok::Punct(c) if "+-*/%<>".contains(*c));
            if !binary {
                break;
            }
            self.pos += 1;
            self.primary()?;
            opaque = true;
        }
        if !opaque {
            return Ok(first);
        }
        let text = self.tokens[start..self.pos]
            .iter()
            .map(|t| describe(Some(t)).trim_matches('`').to_string())
            .collect::<Vec<_>>()
            .join(" ");
        Ok(Value::Opaque(text))
    }

    fn primary(&mut self) -> Result<Value, ParseError> {
        self.nested(Parser::primary_inner)
    }

    fn primary_inner(&mut self) -> Result<Value, ParseError> {
        const VALUE: &str = "a value (string, number, list, object or reference)";
        let Some(tok) = self.peek().cloned() else {
            return Err(self.error(VALUE));
        };
        match tok {
            Tok::Str(s) => {
                self.pos += 1;
                Ok(Value::String(s))
            }
            Tok::Number(n) => {
                self.pos += 1;
                Ok(Value::Number(n))
            }
            Tok::Opaque(s) => {
                self.pos += 1;
                Ok(Value::Opaque(s))
            }
            Tok::Punct('-') | Tok::Punct('!') => {
                self.pos += 1;
                match self.primary()? {
                    Value::Number(n) if tok == Tok::Punct('-') => Ok(Value::Number(-n)),
                    other => Ok(Value::Opaque(format!("{other:?}"))),
                }
            }
            Tok::Punct('(') => {
                self.pos += 1;
                let v = self.expression()?;
                self.expect(')', "`)`")?;
                Ok(v)
            }
            Tok::Punct('[') => {
                self.pos += 1;
                let mut items = Vec::new();
                loop {
                    if self.eat(']') {
                        return Ok(Value::List(items));
                    }
                    items.push(self.expression()?);
                    if !self.eat(',') {
                        self.expect(']', "`,` or `]` in the list")?;
                        return Ok(Value::List(items));
                    }
                }
            }
            Tok::Punct('{') => {
                self.pos += 1;
                let mut fields = Vec::new();
                loop {
                    if self.eat('}') {
                        return Ok(Value::Object(fields));
                    }
                    let key = match self.peek().cloned() {
                        Some(Tok::Str(s)) | Some(Tok::Ident(s)) => {
                            self.pos += 1;
                            s
                        }
                        _ => return Err(self.error("an object key (a name or a string)")),
                    };
                    if !self.eat('=') {
                        self.expect(':', "`=` after the object key")?;
                    }
                    fields.push((key, self.expression()?));
                    if !self.eat(',') {
                        self.expect('}', "`,` or `}` in the object")?;
                        return Ok(Value::Object(fields));
                    }
                }
            }
            Tok::Ident(word) => match word.as_str() {
                "true" | "false" => {
                    self.pos += 1;
                    Ok(Value::Bool(word == "true"))
                }
                "null" => {
                    self.pos += 1;
                    Ok(Value::Null)
                }
                _ => {
                    let mut name = self.dotted(VALUE)?;
                    // Indexing: `a.b[0]` stays one reference.
                    while self.peek() == Some(&Tok::Punct('[')) {
                        self.pos += 1;
                        let index = self.expression()?;
                        self.expect(']', "`]` closing the index")?;
                        name.push_str(&format!("[{index:?}]"));
                    }
                    if self.eat('(') {
                        let mut args = Vec::new();
                        loop {
                            if self.eat(')') {
                                break;
                            }
                            args.push(self.expression()?);
                            if !self.eat(',') {
                                self.expect(')', "`,` or `)` in the call")?;
                                break;
                            }
                        }
                        return Ok(Value::Call { function: name, args });
                    }
                    Ok(Value::Reference(name))
                }
            },
            _ => Err(self.error(VALUE)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_attributes_and_values_keep_their_lines() {
        let text = r#"// collector
otelcol.receiver.otlp "default" {
  grpc { endpoint = "0.0.0.0:4317" }
  output {
    traces = [otelcol.processor.batch.default.input]
  }
}

faro.receiver "default" {
  server {
    cors_allowed_origins = ["*"]
    rate_limiting { rate = 50.5  burst_size = -1 }
  }
  extra_log_labels = { app = "x", "kind" = "" }
  endpoint = sys.env("X") /* inline */
  sum = 1 + 2
}
"#;
        let config = parse(text).unwrap();
        assert_eq!(config.blocks.len(), 2);
        let otlp = &config.blocks[0];
        assert_eq!((otlp.id().as_str(), otlp.line), ("otelcol.receiver.otlp.default", 2));
        let out = otlp.block("output").unwrap();
        assert_eq!(out.attribute("traces").unwrap().line, 5);
        assert_eq!(
            out.value("traces").unwrap().references(),
            ["otelcol.processor.batch.default.input"]
        );
        let faro = &config.blocks[1];
        let limits = faro.block("server").unwrap().block("rate_limiting").unwrap();
        assert_eq!(limits.value("rate"), Some(&Value::Number(50.5)));
        assert_eq!(limits.value("burst_size"), Some(&Value::Number(-1.0)));
        assert_eq!(
            faro.value("extra_log_labels"),
            Some(&Value::Object(vec![
                ("app".into(), Value::String("x".into())),
                ("kind".into(), Value::String(String::new()))
            ]))
        );
        assert!(matches!(faro.value("endpoint"), Some(Value::Call { function, .. }) if function == "sys.env"));
        assert!(matches!(faro.value("sum"), Some(Value::Opaque(_))));
    }

    #[test]
    fn terraform_templates_parse_with_interpolations_opaque() {
        let text = "%{ if enabled }\nloki.write \"default\" {\n  endpoint { url = ${loki_url} }\n  tenant = \"${tenant}\"\n}\n%{ endif }\n";
        let config = parse(text).unwrap();
        let write = &config.blocks[0];
        assert_eq!(write.line, 2);
        assert_eq!(
            write.block("endpoint").unwrap().value("url"),
            Some(&Value::Opaque("${loki_url}".into()))
        );
        assert_eq!(write.value("tenant"), Some(&Value::String("${tenant}".into())));
    }

    #[test]
    fn errors_say_where_and_what_was_expected() {
        let e = parse("a \"x\" {\n  b = [1, 2\n}\n").unwrap_err();
        assert_eq!((e.line, e.column), (3, 1));
        assert_eq!(e.to_string(), "expected `,` or `]` in the list, found `}`");
        let e = parse("a \"x\" {\n  b = \"open\n}\n").unwrap_err();
        assert_eq!((e.line, e.column), (2, 7));
        assert!(e.to_string().contains("closing the string"));
        let e = parse("a {\n b = 1\n").unwrap_err();
        assert!(e.to_string().contains("`}` closing the block `a` of line 1"), "{e}");
        let deep = format!("a {{\n  b = {}1{}\n}}\n", "[".repeat(10_000), "]".repeat(10_000));
        let e = parse(&deep).unwrap_err();
        assert!(e.to_string().contains("levels of nested"), "{e}");
        let e = parse("a.b = 1").unwrap_err();
        assert!(e.to_string().contains("attribute name has no `.`"), "{e}");
    }
}
