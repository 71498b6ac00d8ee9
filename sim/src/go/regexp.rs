//! Go's `regexp/syntax` as Go 1.22–1.23 parse it with Perl flags
//! (`src/regexp/syntax/parse.go`, `perl_groups.go`, the Unicode 15.0
//! tables of `unicode`), for the regexes Loki and Prometheus take: a
//! pattern is checked with Go's rules and error texts (`error parsing
//! regexp: missing closing ): …`) and rewritten into the `regex` crate's
//! dialect so it matches what Go's would. Label matchers
//! (`lang::matcher`, for LogQL and PromQL alike) are fully anchored, as
//! Prometheus' `labels.NewMatcher` anchors them; LogQL line filters are
//! not.
//!
//! Go's limits are kept: counts up to 1000, nested counted repetitions
//! whose product stays within 1000, a tree at most 1000 deep (its height
//! reckoned from groups, concatenations, alternations and repetitions,
//! without Go's simplifications). A valid pattern nested deeper than is
//! safe to compile here, or too big for the `regex` crate's limits, is
//! [`RegexTrouble::Uncompilable`], never one of Go's errors.
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
    /// What Go rejects, in Go's words.
    Go(RegexError),
    /// Valid in Go, beyond what can be compiled here (what, in words).
    Uncompilable(&'static str),
}

impl std::fmt::Display for RegexTrouble {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RegexTrouble::Go(e) => e.fmt(f),
            RegexTrouble::Uncompilable(what) => write!(f, "regular expression {what} to compile here"),
        }
    }
}

const TOO_DEEP: RegexTrouble = RegexTrouble::Uncompilable("nested too deeply");
const TOO_LARGE: RegexTrouble = RegexTrouble::Uncompilable("too large");

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

/// Groups nested deeper than this are not compiled (the `regex` crate
/// recurses while compiling); Go itself only counts the tree's height.
const NEST_LIMIT: usize = 200;
/// Go's `maxHeight` and `maxRepeat`.
const MAX_HEIGHT: usize = 1000;
const MAX_REPEAT: i64 = 1000;
const POSIX_CLASSES: &[&str] = &[
    "alnum", "alpha", "ascii", "blank", "cntrl", "digit", "graph", "lower", "print", "punct", "space", "upper", "word",
    "xdigit",
];
/// `unicode.Categories`' keys (Go has no `LC` and no `Cn` before 1.25).
const CATEGORIES: &[&str] = &[
    "C", "Cc", "Cf", "Co", "Cs", "L", "Ll", "Lm", "Lo", "Lt", "Lu", "M", "Mc", "Me", "Mn", "N", "Nd", "Nl", "No", "P",
    "Pc", "Pd", "Pe", "Pf", "Pi", "Po", "Ps", "S", "Sc", "Sk", "Sm", "So", "Z", "Zl", "Zp", "Zs",
];
/// `unicode.Scripts`' keys (Unicode 15.0.0), spelled as Go spells them.
#[rustfmt::skip]
const SCRIPTS: &[&str] = &[
    "Adlam", "Ahom", "Anatolian_Hieroglyphs", "Arabic", "Armenian", "Avestan", "Balinese", "Bamum", "Bassa_Vah",
    "Batak", "Bengali", "Bhaiksuki", "Bopomofo", "Brahmi", "Braille", "Buginese", "Buhid", "Canadian_Aboriginal",
    "Carian", "Caucasian_Albanian", "Chakma", "Cham", "Cherokee", "Chorasmian", "Common", "Coptic", "Cuneiform",
    "Cypriot", "Cypro_Minoan", "Cyrillic", "Deseret", "Devanagari", "Dives_Akuru", "Dogra", "Duployan",
    "Egyptian_Hieroglyphs", "Elbasan", "Elymaic", "Ethiopic", "Georgian", "Glagolitic", "Gothic", "Grantha", "Greek",
    "Gujarati", "Gunjala_Gondi", "Gurmukhi", "Han", "Hangul", "Hanifi_Rohingya", "Hanunoo", "Hatran", "Hebrew",
    "Hiragana", "Imperial_Aramaic", "Inherited", "Inscriptional_Pahlavi", "Inscriptional_Parthian", "Javanese",
    "Kaithi", "Kannada", "Katakana", "Kawi", "Kayah_Li", "Kharoshthi", "Khitan_Small_Script", "Khmer", "Khojki",
    "Khudawadi", "Lao", "Latin", "Lepcha", "Limbu", "Linear_A", "Linear_B", "Lisu", "Lycian", "Lydian", "Mahajani",
    "Makasar", "Malayalam", "Mandaic", "Manichaean", "Marchen", "Masaram_Gondi", "Medefaidrin", "Meetei_Mayek",
    "Mende_Kikakui", "Meroitic_Cursive", "Meroitic_Hieroglyphs", "Miao", "Modi", "Mongolian", "Mro", "Multani",
    "Myanmar", "Nabataean", "Nag_Mundari", "Nandinagari", "New_Tai_Lue", "Newa", "Nko", "Nushu",
    "Nyiakeng_Puachue_Hmong", "Ogham", "Ol_Chiki", "Old_Hungarian", "Old_Italic", "Old_North_Arabian", "Old_Permic",
    "Old_Persian", "Old_Sogdian", "Old_South_Arabian", "Old_Turkic", "Old_Uyghur", "Oriya", "Osage", "Osmanya",
    "Pahawh_Hmong", "Palmyrene", "Pau_Cin_Hau", "Phags_Pa", "Phoenician", "Psalter_Pahlavi", "Rejang", "Runic",
    "Samaritan", "Saurashtra", "Sharada", "Shavian", "Siddham", "SignWriting", "Sinhala", "Sogdian", "Sora_Sompeng",
    "Soyombo", "Sundanese", "Syloti_Nagri", "Syriac", "Tagalog", "Tagbanwa", "Tai_Le", "Tai_Tham", "Tai_Viet",
    "Takri", "Tamil", "Tangsa", "Tangut", "Telugu", "Thaana", "Thai", "Tibetan", "Tifinagh", "Tirhuta", "Toto",
    "Ugaritic", "Vai", "Vithkuqi", "Wancho", "Warang_Citi", "Yezidi", "Yi", "Zanabazar_Square",
];
/// A class nothing in a Rust string is in: what Go's surrogate runes
/// and empty tables match in valid UTF-8.
const NOTHING: &str = "[^\\x{0}-\\x{10FFFF}]";

/// Checks a pattern with Go's `regexp/syntax` (Perl flags) rules and
/// rewrites it so the `regex` crate means the same: Perl classes and
/// `\b` are ASCII, scripts are `Script` (not `Script_Extensions`),
/// `\Q…\E` and octal escapes are spelled out, a `{` that is not a repeat
/// is a literal, `\<` is `<`, names are dropped. What Go and the `regex`
/// crate read alike is left as written.
pub fn translate(src: &str) -> Result<Translated, RegexTrouble> {
    let chars: Vec<char> = src.chars().collect();
    let mut t = Translator {
        chars: &chars,
        src,
        out: String::with_capacity(src.len() + 8),
        names: Vec::new(),
        pending_flags: String::new(),
        frames: vec![Frame::default()],
        max_depth: 0,
    };
    t.run()?;
    if t.max_depth > NEST_LIMIT {
        return Err(TOO_DEEP);
    }
    Ok(Translated {
        pattern: t.out,
        names: t.names,
    })
}

/// A counted repetition (`OpRepeat`) and the ones nested in what it repeats,
/// for Go's `repeatIsValid`.
#[derive(Debug, Clone)]
struct Repeat {
    min: i64,
    max: i64,
    inner: Vec<Repeat>,
}

/// Go's `repeatIsValid(re, n)` over a forest of repetitions, without
/// recursion (the nesting is unbounded).
fn repeats_valid(forest: &[Repeat], n: i64) -> bool {
    let mut todo: Vec<(&Repeat, i64)> = forest.iter().map(|r| (r, n)).collect();
    while let Some((r, mut n)) = todo.pop() {
        let mut m = r.max;
        if m == 0 {
            continue;
        }
        if m < 0 {
            m = r.min;
        }
        if m > n {
            return false;
        }
        if m > 0 {
            n /= m;
        }
        todo.extend(r.inner.iter().map(|i| (i, n)));
    }
    true
}

/// One operand of a concatenation, as Go's parse stack holds it.
#[derive(Debug, Default)]
struct Item {
    /// Where its last atom starts in the output, for wrapping it.
    start: usize,
    height: usize,
    /// Runes in a literal string (Go merges adjacent literals), or 0.
    literal: usize,
    /// Whether it is a repetition already.
    repeated: bool,
    repeats: Vec<Repeat>,
}

/// An open group: the branches closed so far and the current one.
#[derive(Debug, Default)]
struct Frame {
    capture: bool,
    /// Where its `(` is in the output.
    open_at: usize,
    branches: usize,
    branch_height: usize,
    repeats: Vec<Repeat>,
    items: Vec<Item>,
}

impl Frame {
    fn concat_height(&self) -> usize {
        match self.items.len() {
            0 => 1,
            1 => self.items[0].height,
            _ => 1 + self.items.iter().map(|i| i.height).max().unwrap_or(1),
        }
    }

    fn close_branch(&mut self) {
        self.branches += 1;
        self.branch_height = self.branch_height.max(self.concat_height());
        for item in self.items.drain(..) {
            self.repeats.extend(item.repeats);
        }
    }

    /// The group's content as one operand.
    fn finish(mut self) -> Item {
        self.close_branch();
        let mut height = self.branch_height + usize::from(self.branches > 1);
        if self.capture {
            height += 1;
        }
        Item {
            start: 0,
            height,
            literal: 0,
            repeated: false,
            repeats: self.repeats,
        }
    }
}

struct Translator<'c> {
    chars: &'c [char],
    src: &'c str,
    out: String,
    names: Vec<Option<String>>,
    /// A `(?flags)` not yet written: written before the next operand, so
    /// a repetition right after it still repeats what came before, as in Go.
    pending_flags: String,
    frames: Vec<Frame>,
    max_depth: usize,
}

/// A literal rune as the `regex` crate reads it, outside a class or in one.
fn push_literal(out: &mut String, r: u32) {
    match char::from_u32(r) {
        None => out.push_str(NOTHING),
        Some(c) if c.is_control() => out.push_str(&format!("\\x{{{r:X}}}")),
        Some(c) => {
            if regex_syntax::is_meta_character(c) {
                out.push('\\');
            }
            out.push(c);
        }
    }
}

/// A class range; surrogates, which no Rust string holds, are left out.
fn push_class_range(out: &mut String, lo: u32, hi: u32) {
    let (lo, hi) = (
        if (0xD800..=0xDFFF).contains(&lo) { 0xE000 } else { lo },
        if (0xD800..=0xDFFF).contains(&hi) { 0xD7FF } else { hi },
    );
    if lo > hi {
        out.push_str(NOTHING);
        return;
    }
    push_literal(out, lo);
    if hi != lo {
        out.push('-');
        push_literal(out, hi);
    }
}

/// Go's `perl_groups.go`: ASCII only.
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

/// Go's `unicodeTable` (exact, case-sensitive names) as a `regex` class.
fn unicode_table(name: &str, negate: bool) -> Option<String> {
    let (p, caret) = if negate { ('P', "^") } else { ('p', "") };
    let class = match name {
        "Any" => format!("\\{p}{{Any}}"),
        // Go's C is Cc, Cf, Co and Cs; the `regex` crate's also has Cn.
        "C" => format!("[{caret}\\p{{gc=Cc}}\\p{{gc=Cf}}\\p{{gc=Co}}]"),
        "Cs" if negate => "\\p{Any}".to_owned(),
        "Cs" => NOTHING.to_owned(),
        _ if CATEGORIES.contains(&name) => format!("\\{p}{{gc={name}}}"),
        _ if SCRIPTS.contains(&name) => format!("\\{p}{{sc={name}}}"),
        _ => return None,
    };
    Some(class)
}

impl Translator<'_> {
    fn text(&self, a: usize, b: usize) -> String {
        let b = b.min(self.chars.len());
        self.chars.get(a..b).map(|s| s.iter().collect()).unwrap_or_default()
    }

    fn at(&self, i: usize) -> Option<char> {
        self.chars.get(i).copied()
    }

    fn frame(&mut self) -> &mut Frame {
        self.frames.last_mut().expect("the outermost frame stays")
    }

    fn flush_flags(&mut self) {
        if !self.pending_flags.is_empty() {
            let flags = std::mem::take(&mut self.pending_flags);
            self.out.push_str(&flags);
        }
    }

    /// Starts an operand's output; returns where it starts.
    fn begin(&mut self) -> usize {
        self.flush_flags();
        self.out.len()
    }

    fn push_item(&mut self, start: usize, literal: bool) {
        let frame = self.frame();
        if literal && let Some(last) = frame.items.last_mut().filter(|i| i.literal > 0) {
            last.literal += 1;
            last.start = start;
            return;
        }
        frame.items.push(Item {
            start,
            height: 1,
            literal: usize::from(literal),
            ..Item::default()
        });
    }

    fn run(&mut self) -> Result<(), RegexTrouble> {
        let n = self.chars.len();
        let mut last_repeat: Option<usize> = None;
        let mut i = 0;
        while i < n {
            let c = self.chars[i];
            let mut repeat = None;
            match c {
                '(' if self.at(i + 1) == Some('?') => i = self.perl_group(i)?,
                '(' => {
                    self.open(true, "(");
                    self.names.push(None);
                    i += 1;
                }
                '|' => {
                    self.flush_flags();
                    self.out.push('|');
                    self.frame().close_branch();
                    i += 1;
                }
                ')' => {
                    if self.frames.len() == 1 {
                        return Err(err("unexpected )", self.src.to_owned()));
                    }
                    self.flush_flags();
                    self.out.push(')');
                    let frame = self.frames.pop().expect("checked above");
                    let open_at = frame.open_at;
                    let mut item = frame.finish();
                    if item.height > MAX_HEIGHT {
                        return Err(err("expression nests too deeply", self.src.to_owned()));
                    }
                    item.start = open_at;
                    self.frame().items.push(item);
                    i += 1;
                }
                '^' | '$' | '.' => {
                    let start = self.begin();
                    self.out.push(c);
                    self.push_item(start, false);
                    i += 1;
                }
                '[' => {
                    let start = self.begin();
                    i = self.class(i)?;
                    self.push_item(start, false);
                }
                '*' | '+' | '?' => {
                    let mut after = i + 1;
                    if self.at(after) == Some('?') {
                        after += 1;
                    }
                    self.check_repeat(last_repeat, i, after)?;
                    let op = self.text(i, after);
                    self.apply_repeat(&op, None);
                    repeat = Some(i);
                    i = after;
                }
                '{' => match self.counted(i) {
                    None => {
                        let start = self.begin();
                        self.out.push_str("\\{");
                        self.push_item(start, true);
                        i += 1;
                    }
                    Some((min, max, end)) => {
                        if !(0..=MAX_REPEAT).contains(&min) || max > MAX_REPEAT || (max >= 0 && min > max) {
                            return Err(err("invalid repeat count", self.text(i, end)));
                        }
                        let mut after = end;
                        let lazy = self.at(after) == Some('?');
                        if lazy {
                            after += 1;
                        }
                        self.check_repeat(last_repeat, i, after)?;
                        let mut op = if max < 0 {
                            format!("{{{min},}}")
                        } else if max == min {
                            format!("{{{min}}}")
                        } else {
                            format!("{{{min},{max}}}")
                        };
                        if lazy {
                            op.push('?');
                        }
                        let repeats = self.apply_repeat(&op, Some((min, max)));
                        if (min >= 2 || max >= 2) && !repeats_valid(&repeats, MAX_REPEAT) {
                            return Err(err("invalid repeat count", self.text(i, after)));
                        }
                        repeat = Some(i);
                        i = after;
                    }
                },
                '\\' => i = self.escape_outside(i)?,
                _ => {
                    let start = self.begin();
                    push_literal(&mut self.out, c as u32);
                    self.push_item(start, true);
                    i += 1;
                }
            }
            last_repeat = repeat;
        }
        if self.frames.len() > 1 {
            return Err(err("missing closing )", self.src.to_owned()));
        }
        let top = self.frames.pop().expect("the outermost frame");
        if top.finish().height > MAX_HEIGHT {
            return Err(err("expression nests too deeply", self.src.to_owned()));
        }
        Ok(())
    }

    fn open(&mut self, capture: bool, text: &str) {
        let open_at = self.begin();
        self.out.push_str(text);
        self.frames.push(Frame {
            capture,
            open_at,
            ..Frame::default()
        });
        self.max_depth = self.max_depth.max(self.frames.len() - 1);
    }

    /// Repeats the last operand: a repetition of a repetition (Go allows
    /// one when something that is no operand came between) is grouped
    /// first. Returns the counted repetitions now at the top, for Go's
    /// `repeatIsValid`.
    fn apply_repeat(&mut self, op: &str, counted: Option<(i64, i64)>) -> Vec<Repeat> {
        let frame = self.frames.last_mut().expect("the outermost frame stays");
        let Some(last) = frame.items.last_mut() else {
            return Vec::new();
        };
        let mut item = if last.literal > 1 {
            // The repetition takes the string's last rune only.
            last.literal -= 1;
            Item {
                start: last.start,
                height: 1,
                ..Item::default()
            }
        } else {
            frame.items.pop().expect("checked above")
        };
        if item.repeated {
            self.out.insert_str(item.start, "(?:");
            self.out.push(')');
        }
        self.out.push_str(op);
        item.height += 1;
        item.literal = 0;
        item.repeated = true;
        if let Some((min, max)) = counted {
            item.repeats = vec![Repeat {
                min,
                max,
                inner: std::mem::take(&mut item.repeats),
            }];
        }
        let repeats = item.repeats.clone();
        self.frame().items.push(item);
        repeats
    }

    /// Go's `repeat`: no stacked repetitions, and something to repeat.
    fn check_repeat(&self, last_repeat: Option<usize>, start: usize, after: usize) -> Result<(), RegexTrouble> {
        if let Some(last) = last_repeat {
            return Err(err("invalid nested repetition operator", self.text(last, after)));
        }
        let frame = self.frames.last().expect("the outermost frame stays");
        if frame.items.is_empty() {
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
    fn perl_group(&mut self, i: usize) -> Result<usize, RegexTrouble> {
        let rest = self.chars.len() - i;
        let starts_p = rest > 4 && self.at(i + 2) == Some('P') && self.at(i + 3) == Some('<');
        let starts_name = rest > 3 && self.at(i + 2) == Some('<');
        if starts_p || starts_name {
            let name_start = if starts_p { i + 4 } else { i + 3 };
            let Some(end) = self.chars[i..].iter().position(|&c| c == '>').map(|p| p + i) else {
                return Err(err("invalid named capture", self.text(i, self.chars.len())));
            };
            let name = self.text(name_start, end);
            // Go's isValidCaptureName: [A-Za-z0-9_]+, duplicates allowed.
            if name.is_empty() || !name.chars().all(|c| c == '_' || c.is_ascii_alphanumeric()) {
                return Err(err("invalid named capture", self.text(i, end + 1)));
            }
            self.open(true, "(");
            self.names.push(Some(name));
            return Ok(end + 1);
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
                        self.open(false, &format!("(?{spec}:"));
                    } else if !spec.is_empty() {
                        self.pending_flags.push_str(&format!("(?{spec})"));
                    }
                    return Ok(j);
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
        let text = match c {
            'A' => "\\A",
            'z' => "\\z",
            'b' => "(?-u:\\b)",
            'B' => "(?-u:\\B)",
            'C' => return Err(err("invalid escape sequence", "\\C".into())),
            'Q' => {
                let mut j = i + 2;
                while j < self.chars.len() {
                    if self.chars[j] == '\\' && self.at(j + 1) == Some('E') {
                        return Ok(j + 2);
                    }
                    let start = self.begin();
                    push_literal(&mut self.out, self.chars[j] as u32);
                    self.push_item(start, true);
                    j += 1;
                }
                return Ok(j);
            }
            'p' | 'P' => {
                let (class, next) = self.unicode_class(i)?;
                let start = self.begin();
                self.out.push_str(&class);
                self.push_item(start, false);
                return Ok(next);
            }
            'd' | 'D' | 's' | 'S' | 'w' | 'W' => perl_class(c),
            _ => {
                let (r, next) = self.escape(i)?;
                let start = self.begin();
                push_literal(&mut self.out, r);
                self.push_item(start, true);
                return Ok(next);
            }
        };
        let start = self.begin();
        self.out.push_str(text);
        self.push_item(start, false);
        Ok(i + 2)
    }

    /// `\pL`, `\p{Greek}`, `\P{^Greek}` (Go's `parseUnicodeClass`).
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
        match unicode_table(&name, negate) {
            Some(class) => Ok((class, seq_end)),
            None => Err(err("invalid character class range", self.text(i, seq_end))),
        }
    }

    /// Go's `parseEscape`: one rune (possibly a surrogate), or an error.
    fn escape(&self, i: usize) -> Result<(u32, usize), RegexTrouble> {
        let Some(c) = self.at(i + 1) else {
            return Err(err("trailing backslash at end of expression", String::new()));
        };
        let mut j = i + 2;
        let bad = |j: usize| err("invalid escape sequence", self.text(i, j));
        if c.is_ascii() && !c.is_ascii_alphanumeric() {
            return Ok((c as u32, j));
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
                Ok((r, j))
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
                    return Ok((r, j));
                }
                let Some(c3) = self.at(j) else {
                    return Err(bad(j));
                };
                j += 1;
                match (c2.to_digit(16), c3.to_digit(16)) {
                    (Some(x), Some(y)) => Ok((x * 16 + y, j)),
                    _ => Err(bad(j)),
                }
            }
            'a' => Ok((0x7, j)),
            'f' => Ok((0xC, j)),
            'n' => Ok((0xA, j)),
            'r' => Ok((0xD, j)),
            't' => Ok((0x9, j)),
            'v' => Ok((0xB, j)),
            _ => Err(bad(j)),
        }
    }

    /// A character class (Go's `parseClass`); every rune the `regex` crate
    /// could read as class syntax (`[`, `&&`, `--`, `~~`) is escaped.
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
            push_class_range(&mut out, lo, hi);
        }
        out.push(']');
        self.out.push_str(&out);
        Ok(j + 1)
    }

    fn class_char(&self, j: usize, start: usize) -> Result<(u32, usize), RegexTrouble> {
        match self.at(j) {
            None => Err(err("missing closing ]", self.text(start, self.chars.len()))),
            Some('\\') => self.escape(j),
            Some(c) => Ok((c as u32, j + 1)),
        }
    }
}

/// Compiles a [`translate`]d pattern, which only fails on the `regex`
/// crate's limits.
pub fn compile(pattern: &str) -> Result<Regex, RegexTrouble> {
    RegexBuilder::new(pattern)
        .nest_limit(1000)
        .size_limit(64 << 20)
        .build()
        .map_err(|e| match e {
            regex::Error::CompiledTooBig(_) => TOO_LARGE,
            _ => TOO_DEEP,
        })
}

/// A label matcher's regex: fully anchored, as Prometheus anchors it.
pub fn anchored_regex(src: &str) -> Result<Regex, RegexTrouble> {
    let t = translate(src)?;
    compile(&format!("^(?:{})$", t.pattern))
}

/// The translated pattern inside an [`anchored_regex`].
pub fn unanchored(re: &Regex) -> &str {
    let s = re.as_str();
    s.strip_prefix("^(?:").and_then(|s| s.strip_suffix(")$")).unwrap_or(s)
}

/// A line filter's regex: unanchored.
pub fn regex(src: &str) -> Result<Regex, RegexTrouble> {
    let t = translate(src)?;
    compile(&t.pattern)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(src: &str) -> String {
        match anchored_regex(src) {
            Ok(re) => panic!("{src:?} compiled as {re:?}"),
            Err(e) => e.to_string(),
        }
    }

    // Each case follows `regexp/syntax/parse.go` (Go 1.22).
    #[test]
    fn rejections_are_gos_word_for_word() {
        let cases = [
            ("(?P<a.b>x)", "invalid named capture: `(?P<a.b>`"),
            ("(?<", "invalid or unsupported Perl syntax: `(?<`"),
            ("(?P<", "invalid or unsupported Perl syntax: `(?P`"),
            ("(?i-)a", "invalid or unsupported Perl syntax: `(?i-)`"),
            ("(?", "invalid or unsupported Perl syntax: `(?`"),
            (r"\p{Latn}", r"invalid character class range: `\p{Latn}`"),
            (r"\p{Garay}", r"invalid character class range: `\p{Garay}`"),
            (r"\p{LC}", r"invalid character class range: `\p{LC}`"),
            (r"\p{Greek", r"invalid character class range: `\p{Greek`"),
            (r"[a-\pL]", r"invalid escape sequence: `\p`"),
            ("[[:foo:]]", "invalid character class range: `[:foo:]`"),
            ("[a--b]", "invalid character class range: `a--`"),
            ("{1}?", "missing argument to repetition operator: `{1}?`"),
            (r"\Q\E*", "missing argument to repetition operator: `*`"),
            ("(a{10}){200}?", "invalid repeat count: `{200}?`"),
            ("(?:a{1000}){2}", "invalid repeat count: `{2}`"),
            (r"\x{110000}", r"invalid escape sequence: `\x{110000`"),
            (r"\xg1", r"invalid escape sequence: `\xg1`"),
        ];
        for (src, want) in cases {
            assert_eq!(error(src), format!("error parsing regexp: {want}"), "{src:?}");
        }
        let deep = format!("{}a{}", "(".repeat(1000), ")".repeat(1000));
        assert_eq!(
            error(&deep),
            format!("error parsing regexp: expression nests too deeply: `{deep}`")
        );
        let open = "(".repeat(1000);
        assert_eq!(
            error(&open),
            format!("error parsing regexp: missing closing ): `{open}`")
        );
    }

    #[test]
    fn what_go_accepts_matches_as_in_go() {
        let is = |src: &str, text: &str| {
            anchored_regex(src)
                .unwrap_or_else(|e| panic!("{src:?}: {e}"))
                .is_match(text)
        };
        assert!(is("(?P<n>x)(?P<n>y)(?P<1>z)", "xyz"), "duplicate and digit names");
        assert!(is("(?ii)(?)a(?i)*", "AA"), "flags repeated, empty, before a repetition");
        assert!(is("[a-z&&b~~[]+", "c&~["), "no set operators or nested classes in Go");
        assert!(
            is(r"[\d-z]x{01}", "-x{01}"),
            "a class then `-`; a count with a leading zero is literal"
        );
        assert!(is(r"\p{^Greek}\P{^Greek}", "aα"));
        assert!(!is(r"\d\w\s\b", "٣é\u{b}"), "Perl classes and \\b are ASCII");
        assert!(!is(r"\pC", "\u{378}"), "Go's C has no unassigned code points");
        assert!(!is(r"\x{D800}|\p{Cs}", "\u{FFFD}"), "surrogates match nothing");
        assert!(is(r"(.+/)?a\-b", "ns/a-b"));
        assert_eq!(
            anchored_regex(r"(.+/)?a\-b").unwrap().as_str(),
            r"^(?:(.+/)?a\-b)$",
            "kept as written"
        );
        let nested = format!("{}a{}", "(?:".repeat(300), ")".repeat(300));
        assert_eq!(
            anchored_regex(&nested).unwrap_err(),
            RegexTrouble::Uncompilable("nested too deeply")
        );
    }
}
