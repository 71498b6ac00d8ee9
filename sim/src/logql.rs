//! The LogQL subset the reference stack's Loki serves: what this harness and
//! Grafana's trace-to-logs links send (`shared/reference/api/05-loki.md`).
//!
//! `{a="x", b=~"y.*"}` stream selectors (`=`, `!=`, `=~`, `!~`), line
//! filters (`|=`, `!=`, `|~`, `!~`), `| logfmt`, `| json`, and label filters
//! over stream labels, structured metadata and parsed labels, joined with
//! `and`/`or` (`,` means `and`). Anything else is a parse error that names
//! what is not served.
//!
//! Uses: nothing else in the crate.

use std::collections::BTreeMap;

use regex::Regex;

#[derive(Debug, Clone)]
pub enum MatchOp {
    Eq(String),
    Ne(String),
    Re(Regex),
    NotRe(Regex),
}

impl MatchOp {
    fn new(op: &str, value: String) -> Result<MatchOp, String> {
        let anchored = |v: &str| Regex::new(&format!("^(?:{v})$")).map_err(|e| format!("bad regex {v:?}: {e}"));
        Ok(match op {
            "=" => MatchOp::Eq(value),
            "!=" => MatchOp::Ne(value),
            "=~" => MatchOp::Re(anchored(&value)?),
            "!~" => MatchOp::NotRe(anchored(&value)?),
            other => return Err(format!("unsupported operator {other:?}")),
        })
    }

    pub fn matches(&self, value: &str) -> bool {
        match self {
            MatchOp::Eq(v) => value == v,
            MatchOp::Ne(v) => value != v,
            MatchOp::Re(re) => re.is_match(value),
            MatchOp::NotRe(re) => !re.is_match(value),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Matcher {
    pub name: String,
    pub op: MatchOp,
}

#[derive(Debug, Clone)]
enum Stage {
    LineContains(String),
    LineNotContains(String),
    LineMatches(Regex),
    LineNotMatches(Regex),
    Logfmt,
    Json,
    /// `| label_format NAME=`{{ contains "TEXT" __line__ }}``, the one
    /// template Grafana's trace-to-logs query uses.
    LabelContains {
        name: String,
        text: String,
    },
    /// Alternatives of conjunctions: `a="x" and b="y" or c="z"`.
    LabelFilter(Vec<Vec<Matcher>>),
}

/// A parsed log query.
#[derive(Debug, Clone)]
pub struct LogQuery {
    pub selector: Vec<Matcher>,
    stages: Vec<Stage>,
}

impl LogQuery {
    /// Whether a stream's index labels pass the selector.
    pub fn selects(&self, labels: &BTreeMap<String, String>) -> bool {
        self.selector
            .iter()
            .all(|m| m.op.matches(labels.get(&m.name).map(String::as_str).unwrap_or("")))
    }

    /// Runs the pipeline over one entry; returns the labels parsed from the
    /// line when it passes.
    pub fn pipeline(
        &self,
        labels: &BTreeMap<String, String>,
        metadata: &BTreeMap<String, String>,
        line: &str,
    ) -> Option<BTreeMap<String, String>> {
        let mut parsed = BTreeMap::new();
        let lookup = |parsed: &BTreeMap<String, String>, name: &str| -> String {
            parsed
                .get(name)
                .or_else(|| metadata.get(name))
                .or_else(|| labels.get(name))
                .cloned()
                .unwrap_or_default()
        };
        for stage in &self.stages {
            let pass = match stage {
                Stage::LineContains(s) => line.contains(s.as_str()),
                Stage::LineNotContains(s) => !line.contains(s.as_str()),
                Stage::LineMatches(re) => re.is_match(line),
                Stage::LineNotMatches(re) => !re.is_match(line),
                Stage::Logfmt => {
                    for (k, v) in logfmt_pairs(line) {
                        parsed.entry(sanitize(&k)).or_insert(v);
                    }
                    true
                }
                Stage::Json => {
                    if let Ok(serde_json::Value::Object(map)) = serde_json::from_str(line) {
                        flatten_json("", &serde_json::Value::Object(map), &mut parsed);
                    } else {
                        parsed.insert("__error__".into(), "JSONParserErr".into());
                    }
                    true
                }
                Stage::LabelContains { name, text } => {
                    parsed.insert(name.clone(), line.contains(text.as_str()).to_string());
                    true
                }
                Stage::LabelFilter(alternatives) => alternatives
                    .iter()
                    .any(|all| all.iter().all(|m| m.op.matches(&lookup(&parsed, &m.name)))),
            };
            if !pass {
                return None;
            }
        }
        Some(parsed)
    }
}

fn sanitize(name: &str) -> String {
    name.chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' })
        .collect()
}

fn flatten_json(prefix: &str, value: &serde_json::Value, out: &mut BTreeMap<String, String>) {
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

/// Parses a Prometheus instant-vector selector, `name{a="b"}`, `name` or
/// `{__name__="name"}`, into matchers.
pub fn parse_series_selector(text: &str) -> Result<Vec<Matcher>, String> {
    let text = text.trim();
    let (name, braces) = match text.find('{') {
        Some(i) => (text[..i].trim(), Some(&text[i..])),
        None => (text, None),
    };
    if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':') {
        return Err(format!("only instant vector selectors are served, not {text:?}"));
    }
    let mut matchers = Vec::new();
    if !name.is_empty() {
        matchers.push(Matcher {
            name: "__name__".into(),
            op: MatchOp::Eq(name.to_owned()),
        });
    }
    if let Some(braces) = braces {
        let mut p = Parser { src: braces, pos: 0 };
        p.expect("{")?;
        if !p.eat("}") {
            loop {
                matchers.push(p.matcher()?);
                if p.eat("}") {
                    break;
                }
                p.expect(",")?;
            }
        }
        p.skip_ws();
        if !p.done() {
            return Err(format!("only instant vector selectors are served, not {text:?}"));
        }
    }
    if matchers.is_empty() {
        return Err("a selector needs a metric name or a matcher".into());
    }
    Ok(matchers)
}

/// Parses a log query, or says what part is not served.
pub fn parse(query: &str) -> Result<LogQuery, String> {
    let mut p = Parser { src: query, pos: 0 };
    let selector = p.selector()?;
    let mut stages = Vec::new();
    loop {
        p.skip_ws();
        if p.done() {
            break;
        }
        stages.push(p.stage()?);
    }
    Ok(LogQuery { selector, stages })
}

struct Parser<'a> {
    src: &'a str,
    pos: usize,
}

impl Parser<'_> {
    fn rest(&self) -> &str {
        &self.src[self.pos..]
    }

    fn done(&self) -> bool {
        self.pos >= self.src.len()
    }

    fn skip_ws(&mut self) {
        let trimmed = self.rest().trim_start();
        self.pos = self.src.len() - trimmed.len();
    }

    fn eat(&mut self, token: &str) -> bool {
        self.skip_ws();
        if self.rest().starts_with(token) {
            self.pos += token.len();
            true
        } else {
            false
        }
    }

    fn expect(&mut self, token: &str) -> Result<(), String> {
        if self.eat(token) {
            Ok(())
        } else {
            Err(format!("expected `{token}` at {:?}", self.rest()))
        }
    }

    fn ident(&mut self) -> Result<String, String> {
        self.skip_ws();
        let len = self
            .rest()
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(self.rest().len());
        if len == 0 {
            return Err(format!("expected a label name at {:?}", self.rest()));
        }
        let name = self.rest()[..len].to_owned();
        self.pos += len;
        Ok(name)
    }

    fn string(&mut self) -> Result<String, String> {
        self.skip_ws();
        let mut chars = self.rest().char_indices();
        match chars.next() {
            Some((_, '`')) => {
                let end = self.rest()[1..].find('`').ok_or("unterminated `string`")?;
                let s = self.rest()[1..1 + end].to_owned();
                self.pos += end + 2;
                Ok(s)
            }
            Some((_, '"')) => {
                let mut out = String::new();
                let mut escaped = false;
                for (i, c) in chars {
                    if escaped {
                        out.push(match c {
                            'n' => '\n',
                            't' => '\t',
                            other => other,
                        });
                        escaped = false;
                    } else if c == '\\' {
                        escaped = true;
                    } else if c == '"' {
                        self.pos += i + 1;
                        return Ok(out);
                    } else {
                        out.push(c);
                    }
                }
                Err("unterminated \"string\"".into())
            }
            _ => Err(format!("expected a quoted string at {:?}", self.rest())),
        }
    }

    /// A label value in a filter: a string or a bare number.
    fn value(&mut self) -> Result<String, String> {
        self.skip_ws();
        if self.rest().starts_with(['"', '`']) {
            return self.string();
        }
        let len = self
            .rest()
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '.' || c == '-'))
            .unwrap_or(self.rest().len());
        if len == 0 {
            return Err(format!("expected a value at {:?}", self.rest()));
        }
        let v = self.rest()[..len].to_owned();
        self.pos += len;
        Ok(v)
    }

    fn op(&mut self) -> Result<&'static str, String> {
        for op in ["=~", "!~", "!=", "==", "="] {
            if self.eat(op) {
                return Ok(if op == "==" { "=" } else { op });
            }
        }
        Err(format!("expected a comparison at {:?}", self.rest()))
    }

    fn matcher(&mut self) -> Result<Matcher, String> {
        let name = self.ident()?;
        let op = self.op()?;
        let value = self.value()?;
        Ok(Matcher {
            name,
            op: MatchOp::new(op, value)?,
        })
    }

    fn selector(&mut self) -> Result<Vec<Matcher>, String> {
        self.expect("{")?;
        let mut out = Vec::new();
        if self.eat("}") {
            return Err("a stream selector needs at least one matcher".into());
        }
        loop {
            out.push(self.matcher()?);
            if self.eat("}") {
                break;
            }
            self.expect(",")?;
        }
        if !out.iter().any(|m| !matches!(&m.op, MatchOp::Re(re) if re.is_match(""))) {
            return Err("queries require at least one matcher that does not match the empty string".into());
        }
        Ok(out)
    }

    fn stage(&mut self) -> Result<Stage, String> {
        let line_regex = |s: String| Regex::new(&s).map_err(|e| format!("bad regex {s:?}: {e}"));
        if self.eat("|=") {
            return Ok(Stage::LineContains(self.string()?));
        }
        if self.eat("!=") {
            return Ok(Stage::LineNotContains(self.string()?));
        }
        if self.eat("|~") {
            return Ok(Stage::LineMatches(line_regex(self.string()?)?));
        }
        if self.eat("!~") {
            return Ok(Stage::LineNotMatches(line_regex(self.string()?)?));
        }
        self.expect("|")?;
        self.skip_ws();
        let word_end = self
            .rest()
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(self.rest().len());
        let word = &self.rest()[..word_end];
        let after = self.rest()[word_end..].trim_start();
        let is_filter = after.starts_with(['=', '!']);
        match word {
            "logfmt" if !is_filter => {
                self.pos += word_end;
                Ok(Stage::Logfmt)
            }
            "json" if !is_filter => {
                self.pos += word_end;
                Ok(Stage::Json)
            }
            "label_format" if !is_filter => {
                self.pos += word_end;
                let name = self.ident()?;
                self.expect("=")?;
                let template = self.string()?;
                let text = template
                    .trim()
                    .strip_prefix("{{")
                    .and_then(|t| t.strip_suffix("}}"))
                    .map(str::trim)
                    .and_then(|t| t.strip_prefix("contains"))
                    .and_then(|t| t.trim().strip_suffix("__line__"))
                    .map(str::trim)
                    .and_then(|t| t.strip_prefix('"').and_then(|t| t.strip_suffix('"')))
                    .ok_or_else(|| format!("the label_format template {template:?} is not served; only {{{{ contains \"…\" __line__ }}}}"))?;
                Ok(Stage::LabelContains {
                    name,
                    text: text.to_owned(),
                })
            }
            _ if is_filter => self.label_filter(),
            other => Err(format!("the stage `| {other}` is not served by the reference stack")),
        }
    }

    fn label_filter(&mut self) -> Result<Stage, String> {
        let mut alternatives = vec![vec![self.matcher()?]];
        loop {
            self.skip_ws();
            let rest = self.rest();
            let keyword = |k: &str| {
                rest.len() > k.len()
                    && rest[..k.len()].eq_ignore_ascii_case(k)
                    && rest[k.len()..].starts_with(char::is_whitespace)
            };
            if keyword("or") {
                self.pos += 2;
                alternatives.push(vec![self.matcher()?]);
            } else if keyword("and") {
                self.pos += 3;
                let m = self.matcher()?;
                alternatives.last_mut().expect("one alternative").push(m);
            } else if rest.starts_with(',') {
                self.pos += 1;
                let m = self.matcher()?;
                alternatives.last_mut().expect("one alternative").push(m);
            } else {
                break;
            }
        }
        Ok(Stage::LabelFilter(alternatives))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn selectors_and_line_filters() {
        let q = parse(r#"{service_name=~"(.+/)?svc", kind!="x"} |= "run=r1" != "debug" |~ "seq=\\d+""#).unwrap();
        assert!(q.selects(&labels(&[("service_name", "ns/svc")])));
        assert!(q.selects(&labels(&[("service_name", "svc")])));
        assert!(!q.selects(&labels(&[("service_name", "other")])));
        let none = BTreeMap::new();
        assert!(q.pipeline(&none, &none, "run=r1 seq=4").is_some());
        assert!(q.pipeline(&none, &none, "run=r1 seq=x").is_none());
        assert!(q.pipeline(&none, &none, "debug run=r1 seq=4").is_none());
    }

    #[test]
    fn label_filters_see_metadata_and_parsed_labels() {
        let q = parse(r#"{app="a"} | logfmt | kind="log" and level=info or trace_id="abc""#).unwrap();
        let stream = labels(&[("app", "a")]);
        let meta = labels(&[("trace_id", "abc")]);
        let none = BTreeMap::new();
        assert!(q.pipeline(&stream, &none, "kind=log level=info").is_some());
        assert!(q.pipeline(&stream, &none, "kind=log level=warn").is_none());
        assert!(q.pipeline(&stream, &meta, "kind=event").is_some());
        let q = parse(r#"{app="a"} | json | body_seq="3""#).unwrap();
        assert!(q.pipeline(&stream, &none, r#"{"body":{"seq":"3"}}"#).is_some());
    }

    #[test]
    fn grafanas_trace_to_logs_query_runs() {
        let q = parse(
            "{service_name=\"svc\"} | label_format log_line_contains_trace_id=`{{ contains \"abc\" __line__ }}` | log_line_contains_trace_id=\"true\" OR trace_id=\"abc\"",
        )
        .unwrap();
        let stream = labels(&[("service_name", "svc")]);
        let none = BTreeMap::new();
        assert!(q.pipeline(&stream, &none, "line with abc").is_some());
        assert!(
            q.pipeline(&stream, &labels(&[("trace_id", "abc")]), "plain line")
                .is_some()
        );
        assert!(q.pipeline(&stream, &none, "plain line").is_none());
        assert!(parse("{a=\"b\"} | label_format x=`{{ .foo }}`").is_err());
    }

    #[test]
    fn logfmt_reads_quoted_values() {
        let pairs = logfmt_pairs(r#"timestamp="2025-01-01 00:00:00 +0000 UTC" kind=log message="a \"b\"" empty="#);
        assert_eq!(pairs[0], ("timestamp".into(), "2025-01-01 00:00:00 +0000 UTC".into()));
        assert_eq!(pairs[2], ("message".into(), "a \"b\"".into()));
        assert_eq!(pairs[3], ("empty".into(), "".into()));
    }

    #[test]
    fn series_selectors() {
        let m = parse_series_selector(r#"pillars_marker{pillars_run="r1", le!="+Inf"}"#).unwrap();
        assert_eq!(m.len(), 3);
        assert!(parse_series_selector("up").is_ok());
        assert!(parse_series_selector(r#"{__name__="up"}"#).is_ok());
        assert!(parse_series_selector("rate(up[1m])").is_err());
        assert!(parse_series_selector("up + 1").is_err());
    }

    #[test]
    fn unsupported_queries_say_so() {
        assert!(parse("{}").is_err());
        assert!(parse(r#"{a=~".*"}"#).is_err());
        assert!(parse(r#"{a="b"} | unpack"#).unwrap_err().contains("unpack"));
        assert!(parse(r#"rate({a="b"}[1m])"#).is_err());
    }
}
