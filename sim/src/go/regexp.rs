//! Go's `regexp/syntax` (Go 1.22–1.23, `src/regexp/syntax/parse.go`, Perl
//! flags) for the regexes LogQL takes: a pattern is checked with Go's
//! rules and error texts (`error parsing regexp: missing closing ): …`)
//! and rewritten into the `regex` crate's dialect so it matches what Go's
//! would. Prometheus-style label matchers are fully anchored; line
//! filters are not. PromQL's matchers still go through `lang::promql`'s
//! own check over `regex_syntax`, whose messages for malformed patterns
//! differ from these.
//!
//! Uses: nothing else in the crate.

use regex::{Regex, RegexBuilder};

/// Go's `regexp/syntax.Error`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegexError {
    pub code: String,
    pub expr: String,
}

impl std::fmt::Display for RegexError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "error parsing regexp: {}: `{}`", self.code, self.expr)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegexTrouble {
    Go(RegexError),
    /// Nested beyond what is safe to compile here.
    TooDeep,
}

impl std::fmt::Display for RegexTrouble {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RegexTrouble::Go(e) => e.fmt(f),
            RegexTrouble::TooDeep => f.write_str("regular expression nested too deeply to compile here"),
        }
    }
}

fn err(code: &str, expr: String) -> RegexTrouble {
    RegexTrouble::Go(RegexError {
        code: code.into(),
        expr,
    })
}

/// A Go pattern translated into the `regex` crate's dialect, with its
/// capture groups' names in order.
pub struct Translated {
    pub pattern: String,
    pub names: Vec<Option<String>>,
}

const NEST_LIMIT: usize = 200;
const POSIX_CLASSES: &[&str] = &[
    "alnum", "alpha", "ascii", "blank", "cntrl", "digit", "graph", "lower", "print", "punct", "space", "upper", "word",
    "xdigit",
];

/// Checks a pattern with Go's `regexp/syntax` (Perl flags) rules and
/// rewrites it so the `regex` crate means the same: Perl classes are
/// ASCII, `\Q…\E` and octal escapes are spelled out, a `{` that is
/// not a repeat is a literal, `\<` is `<`, names are dropped.
pub fn translate(src: &str) -> Result<Translated, RegexTrouble> {
    let chars: Vec<char> = src.chars().collect();
    let mut t = Translator {
        chars: &chars,
        out: String::with_capacity(src.len() + 8),
        names: Vec::new(),
    };
    t.run(src)?;
    Ok(Translated {
        pattern: t.out,
        names: t.names,
    })
}

struct Translator<'c> {
    chars: &'c [char],
    out: String,
    names: Vec<Option<String>>,
}

fn push_literal(out: &mut String, c: char) {
    if c.is_alphanumeric() && !c.is_control() {
        out.push(c);
    } else {
        out.push_str(&format!("\\x{{{:X}}}", c as u32));
    }
}

fn perl_class(c: char) -> &'static str {
    match c {
        'd' => "[0-9]",
        'D' => "[^0-9]",
        's' => "[\\t\\n\\x0C\\r ]",
        'S' => "[^\\t\\n\\x0C\\r ]",
        'w' => "[0-9A-Za-z_]",
        _ => "[^0-9A-Za-z_]",
    }
}

impl Translator<'_> {
    fn text(&self, a: usize, b: usize) -> String {
        let b = b.min(self.chars.len());
        self.chars.get(a..b).map(|s| s.iter().collect()).unwrap_or_default()
    }

    fn at(&self, i: usize) -> Option<char> {
        self.chars.get(i).copied()
    }

    fn run(&mut self, src: &str) -> Result<(), RegexTrouble> {
        let n = self.chars.len();
        let mut depth = 0usize;
        let mut operand = false;
        let mut last_repeat: Option<usize> = None;
        let mut i = 0;
        while i < n {
            let c = self.chars[i];
            let mut repeat = None;
            match c {
                '(' if self.at(i + 1) == Some('?') => {
                    let (next, opened) = self.perl_group(i)?;
                    if opened {
                        depth += 1;
                        operand = false;
                    }
                    i = next;
                }
                '(' => {
                    self.out.push('(');
                    self.names.push(None);
                    depth += 1;
                    operand = false;
                    i += 1;
                }
                '|' => {
                    self.out.push('|');
                    operand = false;
                    i += 1;
                }
                ')' => {
                    if depth == 0 {
                        return Err(err("unexpected )", src.to_owned()));
                    }
                    depth -= 1;
                    self.out.push(')');
                    operand = true;
                    i += 1;
                }
                '^' | '$' | '.' => {
                    self.out.push(c);
                    operand = true;
                    i += 1;
                }
                '[' => {
                    i = self.class(i)?;
                    operand = true;
                }
                '*' | '+' | '?' => {
                    let mut after = i + 1;
                    if self.at(after) == Some('?') {
                        after += 1;
                    }
                    self.check_repeat(last_repeat, operand, i, after)?;
                    let op = self.text(i, after);
                    self.out.push_str(&op);
                    repeat = Some(i);
                    i = after;
                }
                '{' => match self.counted(i) {
                    None => {
                        self.out.push_str("\\{");
                        operand = true;
                        i += 1;
                    }
                    Some((min, max, end)) => {
                        if !(0..=1000).contains(&min) || max > 1000 || (max >= 0 && min > max) {
                            return Err(err("invalid repeat count", self.text(i, end)));
                        }
                        let mut after = end;
                        let lazy = self.at(after) == Some('?');
                        if lazy {
                            after += 1;
                        }
                        self.check_repeat(last_repeat, operand, i, after)?;
                        if max < 0 {
                            self.out.push_str(&format!("{{{min},}}"));
                        } else {
                            self.out.push_str(&format!("{{{min},{max}}}"));
                        }
                        if lazy {
                            self.out.push('?');
                        }
                        repeat = Some(i);
                        i = after;
                    }
                },
                '\\' => {
                    i = self.escape_outside(i)?;
                    operand = true;
                }
                _ => {
                    push_literal(&mut self.out, c);
                    operand = true;
                    i += 1;
                }
            }
            if depth > NEST_LIMIT {
                return Err(RegexTrouble::TooDeep);
            }
            last_repeat = repeat;
        }
        if depth > 0 {
            return Err(err("missing closing )", src.to_owned()));
        }
        Ok(())
    }

    /// Go's `repeat`: no stacked repetitions, and something to repeat.
    fn check_repeat(
        &self,
        last_repeat: Option<usize>,
        operand: bool,
        start: usize,
        after: usize,
    ) -> Result<(), RegexTrouble> {
        if let Some(last) = last_repeat {
            return Err(err("invalid nested repetition operator", self.text(last, after)));
        }
        if !operand {
            return Err(err("missing argument to repetition operator", self.text(start, after)));
        }
        Ok(())
    }

    /// Go's `parseRepeat`: `{n}`, `{n,}`, `{n,m}`, no leading zeros.
    fn counted(&self, i: usize) -> Option<(i64, i64, usize)> {
        let int = |mut j: usize| -> Option<(i64, usize)> {
            let start = j;
            if !self.at(j)?.is_ascii_digit() {
                return None;
            }
            if self.at(j) == Some('0') && self.at(j + 1).is_some_and(|c| c.is_ascii_digit()) {
                return None;
            }
            let mut v: i64 = 0;
            while let Some(c) = self.at(j).filter(char::is_ascii_digit) {
                if v >= 100_000_000 {
                    v = -1;
                } else if v >= 0 {
                    v = v * 10 + i64::from(c as u8 - b'0');
                }
                j += 1;
            }
            (j > start).then_some((v, j))
        };
        let (min, mut j) = int(i + 1)?;
        let max;
        match self.at(j)? {
            ',' => {
                j += 1;
                if self.at(j)? == '}' {
                    max = -1;
                } else {
                    let (m, nj) = int(j)?;
                    j = nj;
                    max = m;
                    if m < 0 {
                        return (self.at(j)? == '}').then_some((-1, max, j + 1));
                    }
                }
            }
            _ => max = min,
        }
        (self.at(j)? == '}').then_some((min, max, j + 1))
    }

    /// `(?…`: named groups and flag groups (Go's `parsePerlFlags`).
    fn perl_group(&mut self, i: usize) -> Result<(usize, bool), RegexTrouble> {
        let rest = self.chars.len() - i;
        let starts_p = rest > 4 && self.at(i + 2) == Some('P') && self.at(i + 3) == Some('<');
        let starts_name = rest > 3 && self.at(i + 2) == Some('<');
        if starts_p || starts_name {
            let name_start = if starts_p { i + 4 } else { i + 3 };
            let Some(end) = self.chars[i..].iter().position(|&c| c == '>').map(|p| p + i) else {
                return Err(err("invalid named capture", self.text(i, self.chars.len())));
            };
            let name = self.text(name_start, end);
            if name.is_empty() || !name.chars().all(|c| c == '_' || c.is_ascii_alphanumeric()) {
                return Err(err("invalid named capture", self.text(i, end + 1)));
            }
            self.out.push('(');
            self.names.push(Some(name));
            return Ok((end + 1, true));
        }
        let mut j = i + 2;
        let mut negative = false;
        let mut saw_flag = false;
        // Each flag's final sign.
        let mut flags: Vec<(char, bool)> = Vec::new();
        while let Some(c) = self.at(j) {
            j += 1;
            match c {
                'i' | 'm' | 's' | 'U' => {
                    saw_flag = true;
                    flags.retain(|(f, _)| *f != c);
                    flags.push((c, !negative));
                }
                '-' => {
                    if negative {
                        break;
                    }
                    negative = true;
                    saw_flag = false;
                }
                ':' | ')' => {
                    if negative && !saw_flag {
                        break;
                    }
                    let on: String = flags.iter().filter(|f| f.1).map(|f| f.0).collect();
                    let off: String = flags.iter().filter(|f| !f.1).map(|f| f.0).collect();
                    let mut spec = on;
                    if !off.is_empty() {
                        spec.push('-');
                        spec.push_str(&off);
                    }
                    if c == ':' {
                        self.out.push_str(&format!("(?{spec}:"));
                        return Ok((j, true));
                    }
                    if !spec.is_empty() {
                        self.out.push_str(&format!("(?{spec})"));
                    }
                    return Ok((j, false));
                }
                _ => break,
            }
        }
        Err(err("invalid or unsupported Perl syntax", self.text(i, j)))
    }

    /// A backslash outside a class.
    fn escape_outside(&mut self, i: usize) -> Result<usize, RegexTrouble> {
        let Some(c) = self.at(i + 1) else {
            return Err(err("trailing backslash at end of expression", String::new()));
        };
        match c {
            'A' => self.out.push_str("\\A"),
            'z' => self.out.push_str("\\z"),
            'b' => self.out.push_str("(?-u:\\b)"),
            'B' => self.out.push_str("(?-u:\\B)"),
            'C' => return Err(err("invalid escape sequence", "\\C".into())),
            'Q' => {
                let mut j = i + 2;
                while j < self.chars.len() {
                    if self.chars[j] == '\\' && self.at(j + 1) == Some('E') {
                        return Ok(j + 2);
                    }
                    push_literal(&mut self.out, self.chars[j]);
                    j += 1;
                }
                return Ok(j);
            }
            'p' | 'P' => {
                let (class, next) = self.unicode_class(i)?;
                self.out.push_str(&class);
                return Ok(next);
            }
            'd' | 'D' | 's' | 'S' | 'w' | 'W' => self.out.push_str(perl_class(c)),
            _ => {
                let (ch, next) = self.escape(i)?;
                push_literal(&mut self.out, ch);
                return Ok(next);
            }
        }
        Ok(i + 2)
    }

    /// `\pL`, `\p{Greek}`, `\P{^Greek}`.
    fn unicode_class(&self, i: usize) -> Result<(String, usize), RegexTrouble> {
        let mut negate = self.at(i + 1) == Some('P');
        let (mut name, seq_end) = match self.at(i + 2) {
            None => return Err(err("invalid character class range", self.text(i, i + 2))),
            Some('{') => {
                let Some(end) = self.chars[i..].iter().position(|&c| c == '}').map(|p| p + i) else {
                    return Err(err("invalid character class range", self.text(i, self.chars.len())));
                };
                (self.text(i + 3, end), end + 1)
            }
            Some(c) => (c.to_string(), i + 3),
        };
        if let Some(stripped) = name.strip_prefix('^') {
            negate = !negate;
            name = stripped.to_owned();
        }
        if !go_unicode_table(&name) {
            return Err(err("invalid character class range", self.text(i, seq_end)));
        }
        let p = if negate { 'P' } else { 'p' };
        Ok((format!("\\{p}{{{name}}}"), seq_end))
    }

    /// Go's `parseEscape`: one character, or an error.
    fn escape(&self, i: usize) -> Result<(char, usize), RegexTrouble> {
        let Some(c) = self.at(i + 1) else {
            return Err(err("trailing backslash at end of expression", String::new()));
        };
        let mut j = i + 2;
        let bad = |j: usize| err("invalid escape sequence", self.text(i, j));
        if c.is_ascii() && !c.is_ascii_alphanumeric() {
            return Ok((c, j));
        }
        let octal = |c: Option<char>| c.filter(|d| ('0'..='7').contains(d));
        match c {
            '0'..='7' => {
                if c != '0' && octal(self.at(j)).is_none() {
                    return Err(bad(j));
                }
                let mut r = c as u32 - '0' as u32;
                for _ in 1..3 {
                    let Some(d) = octal(self.at(j)) else { break };
                    r = r * 8 + (d as u32 - '0' as u32);
                    j += 1;
                }
                Ok((char::from_u32(r).unwrap_or('\u{fffd}'), j))
            }
            'x' => {
                let Some(c2) = self.at(j) else {
                    return Err(bad(j));
                };
                j += 1;
                if c2 == '{' {
                    let mut r: u32 = 0;
                    let mut digits = 0;
                    loop {
                        let Some(d) = self.at(j) else {
                            return Err(bad(j));
                        };
                        j += 1;
                        if d == '}' {
                            break;
                        }
                        let Some(v) = d.to_digit(16) else {
                            return Err(bad(j));
                        };
                        r = r * 16 + v;
                        if r > 0x10ffff {
                            return Err(bad(j));
                        }
                        digits += 1;
                    }
                    if digits == 0 {
                        return Err(bad(j));
                    }
                    return Ok((char::from_u32(r).unwrap_or('\u{fffd}'), j));
                }
                let Some(c3) = self.at(j) else {
                    return Err(bad(j));
                };
                j += 1;
                match (c2.to_digit(16), c3.to_digit(16)) {
                    (Some(x), Some(y)) => Ok((char::from_u32(x * 16 + y).unwrap_or('\u{fffd}'), j)),
                    _ => Err(bad(j)),
                }
            }
            'a' => Ok(('\u{7}', j)),
            'f' => Ok(('\u{c}', j)),
            'n' => Ok(('\n', j)),
            'r' => Ok(('\r', j)),
            't' => Ok(('\t', j)),
            'v' => Ok(('\u{b}', j)),
            _ => Err(bad(j)),
        }
    }

    /// A character class (Go's `parseClass`); every literal is written
    /// as `\x{…}` so the `regex` crate's set operators cannot appear.
    fn class(&mut self, start: usize) -> Result<usize, RegexTrouble> {
        let n = self.chars.len();
        let missing = || err("missing closing ]", self.text(start, n));
        let mut j = start + 1;
        let mut out = String::from("[");
        if self.at(j) == Some('^') {
            out.push('^');
            j += 1;
        }
        let mut first = true;
        loop {
            match self.at(j) {
                None => return Err(missing()),
                Some(']') if !first => break,
                _ => {}
            }
            first = false;
            if self.at(j) == Some('[') && self.at(j + 1) == Some(':') && n - j > 2 {
                let close = (j + 2..n.saturating_sub(1)).find(|&k| self.chars[k] == ':' && self.chars[k + 1] == ']');
                if let Some(k) = close {
                    let name = self.text(j + 2, k);
                    let base = name.strip_prefix('^').unwrap_or(&name);
                    if !POSIX_CLASSES.contains(&base) {
                        return Err(err("invalid character class range", self.text(j, k + 2)));
                    }
                    out.push_str(&format!("[:{name}:]"));
                    j = k + 2;
                    continue;
                }
            }
            if self.at(j) == Some('\\') {
                match self.at(j + 1) {
                    Some('p' | 'P') => {
                        let (class, next) = self.unicode_class(j)?;
                        out.push_str(&class);
                        j = next;
                        continue;
                    }
                    Some(c @ ('d' | 'D' | 's' | 'S' | 'w' | 'W')) => {
                        out.push_str(perl_class(c));
                        j += 2;
                        continue;
                    }
                    _ => {}
                }
            }
            let range_start = j;
            let (lo, next) = self.class_char(j, start)?;
            j = next;
            let mut hi = lo;
            if self.at(j) == Some('-') && self.at(j + 1).is_some_and(|c| c != ']') {
                let (h, next) = self.class_char(j + 1, start)?;
                j = next;
                hi = h;
                if hi < lo {
                    return Err(err("invalid character class range", self.text(range_start, j)));
                }
            }
            push_literal_hex(&mut out, lo);
            if hi != lo {
                out.push('-');
                push_literal_hex(&mut out, hi);
            }
        }
        out.push(']');
        self.out.push_str(&out);
        Ok(j + 1)
    }

    fn class_char(&self, j: usize, start: usize) -> Result<(char, usize), RegexTrouble> {
        match self.at(j) {
            None => Err(err("missing closing ]", self.text(start, self.chars.len()))),
            Some('\\') => self.escape(j),
            Some(c) => Ok((c, j + 1)),
        }
    }
}

/// Go's `unicodeTable`: `Any`, a general category's short name, or a
/// script, spelled exactly (Go's maps are case-sensitive; the `regex`
/// crate's are loose, so it only vouches for the script).
fn go_unicode_table(name: &str) -> bool {
    const CATEGORIES: &[&str] = &[
        "C", "Cc", "Cf", "Co", "Cs", "L", "Ll", "Lm", "Lo", "Lt", "Lu", "M", "Mc", "Me", "Mn", "N", "Nd", "Nl", "No",
        "P", "Pc", "Pd", "Pe", "Pf", "Pi", "Po", "Ps", "S", "Sc", "Sk", "Sm", "So", "Z", "Zl", "Zp", "Zs",
    ];
    if name == "Any" || CATEGORIES.contains(&name) {
        return true;
    }
    let spelled = name.split('_').all(|w| w.starts_with(|c: char| c.is_ascii_uppercase()))
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    spelled && Regex::new(&format!("\\p{{Script={name}}}")).is_ok()
}

fn push_literal_hex(out: &mut String, c: char) {
    out.push_str(&format!("\\x{{{:X}}}", c as u32));
}

/// Compiles a [`translate`]d pattern; `src`, the Go pattern, is what errors print.
pub fn compile(pattern: &str, src: &str) -> Result<Regex, RegexTrouble> {
    RegexBuilder::new(pattern)
        .nest_limit(1000)
        .size_limit(64 << 20)
        .build()
        .map_err(|e| {
            let text = e.to_string();
            let code = if text.contains("size limit") {
                "expression too large".to_owned()
            } else {
                text.lines()
                    .rev()
                    .find_map(|l| l.trim().strip_prefix("error: "))
                    .unwrap_or("invalid or unsupported Perl syntax")
                    .to_owned()
            };
            RegexTrouble::Go(RegexError {
                code,
                expr: src.to_owned(),
            })
        })
}

/// A label matcher's regex: fully anchored, as Prometheus anchors it.
pub fn anchored_regex(src: &str) -> Result<Regex, RegexTrouble> {
    let t = translate(src)?;
    compile(&format!("^(?:{})$", t.pattern), src)
}

/// A line filter's regex: unanchored.
pub fn regex(src: &str) -> Result<Regex, RegexTrouble> {
    let t = translate(src)?;
    compile(&t.pattern, src)
}
