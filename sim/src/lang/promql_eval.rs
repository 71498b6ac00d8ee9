//! PromQL evaluation as Prometheus 2.54's engine does it (the engine
//! Mimir 2.14 runs by default), for the subset the stack's dashboards and
//! rules use, on float samples:
//!
//! - selectors with matchers; an instant selector takes the latest sample
//!   in `[t - 5m, t]`, a range selector every sample in `[t - range, t]`
//!   (both closed on the left, as in 2.x);
//! - `rate`, `irate`, `increase` (extrapolated and reset-corrected as
//!   `extrapolatedRate` does), `*_over_time` (sum, avg, min, max, count,
//!   last), `absent`, `absent_over_time`, `histogram_quantile` on `le`
//!   buckets (`bucketQuantile`), `time()`, `vector()`, `scalar()`;
//! - `sum`, `avg`, `min`, `max`, `count` with `by`/`without`;
//! - arithmetic and comparison operators (with `bool`) between scalars,
//!   vector and scalar, and vectors one-to-one with `on`/`ignoring`;
//!   `and`, `or`, `unless`; unary minus.
//!
//! Everything else that parses (offset and `@`, subqueries, other
//! functions and aggregations, `group_left`/`group_right`) is
//! [`Unserved`]: real Mimir would answer it, so the reference stack says it
//! does not rather than guessing. Runtime errors are Prometheus' own
//! (`EvalError::Execution`, answered 422).
//!
//! Upstream: Prometheus v2.54 `promql/engine.go`, `functions.go`,
//! `quantile.go`, `aggregations` in `engine.go` (Apache-2.0).
//!
//! Uses: lang::promql (AST, matchers), lang::matcher, go::strconv.

use std::collections::{BTreeMap, HashMap, HashSet};

use promql_parser::label::Labels as PpLabels;
use promql_parser::parser::{self as pp, Expr, LabelModifier, VectorMatchCardinality, token};

use super::matcher::Matcher;
use super::promql::{Unserved, has_or, plain_name, selector_matchers};
use crate::go::strconv;

pub type Labels = BTreeMap<String, String>;

/// Prometheus' default lookback for instant selectors.
pub const LOOKBACK_MS: i64 = 5 * 60 * 1000;

/// Prometheus' and Mimir's limit on points per series of a range query.
pub const MAX_POINTS: i64 = 11_000;

/// Samples the evaluator reads: every series `matchers` select, with its
/// samples in `[start_ms, end_ms]` in time order.
pub trait Samples {
    fn select(&self, matchers: &[Matcher], start_ms: i64, end_ms: i64) -> Vec<(Labels, Vec<(i64, f64)>)>;
}

/// One element of an instant vector.
#[derive(Debug, Clone, PartialEq)]
pub struct Element {
    pub labels: Labels,
    pub value: f64,
}

/// What an instant query evaluates to.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Scalar(f64),
    String(String),
    Vector(Vec<Element>),
}

/// A series of a range query's result: its labels and `(ms, value)`
/// points in time order.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub labels: Labels,
    pub points: Vec<(i64, f64)>,
}

/// Why a query has no result.
#[derive(Debug, Clone, PartialEq)]
pub enum EvalError {
    /// Valid PromQL the reference stack does not evaluate (501).
    Unserved(String),
    /// Prometheus' own runtime error (`execution`, 422).
    Execution(String),
    /// A range query of a string expression (`bad_data`, 400).
    BadData(String),
}

impl From<Unserved> for EvalError {
    fn from(u: Unserved) -> Self {
        EvalError::Unserved(u.to_string())
    }
}

impl std::fmt::Display for EvalError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EvalError::Unserved(m) | EvalError::Execution(m) | EvalError::BadData(m) => f.write_str(m),
        }
    }
}

fn unserved<T>(what: impl Into<String>) -> Result<T, EvalError> {
    Err(Unserved::new(what).into())
}

fn execution<T>(message: impl Into<String>) -> Result<T, EvalError> {
    Err(EvalError::Execution(message.into()))
}

/// Evaluates `expr` at `time_ms`.
pub fn instant(expr: &Expr, source: &dyn Samples, time_ms: i64) -> Result<Value, EvalError> {
    check(expr)?;
    let mut ev = Evaluator::new(source, time_ms, time_ms);
    match ev.eval(expr, time_ms)? {
        Inner::Scalar(v) => Ok(Value::Scalar(v)),
        Inner::String(s) => Ok(Value::String(s)),
        Inner::Vector(v) => Ok(Value::Vector(v)),
    }
}

/// Evaluates `expr` at `start`, `start + step`, … up to `end`, as a range
/// query does; a scalar becomes one series without labels. The caller has
/// checked `step > 0`, `end >= start` and the points limit.
pub fn range(
    expr: &Expr,
    source: &dyn Samples,
    start_ms: i64,
    end_ms: i64,
    step_ms: i64,
) -> Result<Vec<Series>, EvalError> {
    check(expr)?;
    if step_ms <= 0 || end_ms < start_ms || end_ms.saturating_sub(start_ms) / step_ms > MAX_POINTS {
        return Err(EvalError::BadData("range query parameters out of bounds".into()));
    }
    let mut ev = Evaluator::new(source, start_ms, end_ms);
    let mut out: BTreeMap<Labels, Vec<(i64, f64)>> = BTreeMap::new();
    let mut t = start_ms;
    while t <= end_ms {
        match ev.eval(expr, t)? {
            Inner::Scalar(v) => out.entry(Labels::new()).or_default().push((t, v)),
            Inner::Vector(v) => {
                for e in v {
                    out.entry(e.labels).or_default().push((t, e.value));
                }
            }
            Inner::String(_) => {
                return Err(EvalError::BadData(
                    "invalid expression type \"string\" for range query, must be Scalar or instant Vector".into(),
                ));
            }
        }
        let Some(next) = t.checked_add(step_ms) else { break };
        t = next;
    }
    Ok(out
        .into_iter()
        .map(|(labels, points)| Series { labels, points })
        .collect())
}

// ---------------------------------------------------------------------------
// What is served, decided before any sample is read

/// The functions evaluated, with the argument kinds they take.
const FUNCTIONS: &[&str] = &[
    "rate",
    "irate",
    "increase",
    "sum_over_time",
    "avg_over_time",
    "min_over_time",
    "max_over_time",
    "count_over_time",
    "last_over_time",
    "absent",
    "absent_over_time",
    "histogram_quantile",
    "time",
    "vector",
    "scalar",
];

/// Whether the reference stack evaluates `expr`, or what it does not
/// evaluate: decided from the expression alone, before any sample is read.
pub fn served(expr: &Expr) -> Result<(), Unserved> {
    let top = match expr {
        Expr::Paren(p) => p.expr.as_ref(),
        other => other,
    };
    if matches!(top, Expr::MatrixSelector(_)) {
        return Err(Unserved::new(
            "range vectors outside a function (a range vector result)",
        ));
    }
    check(expr)
}

/// Refuses what is not evaluated before evaluating anything, so a query is
/// either answered whole or refused whole.
fn check(expr: &Expr) -> Result<(), Unserved> {
    match expr {
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) => Ok(()),
        Expr::Paren(p) => check(&p.expr),
        Expr::Unary(u) => check(&u.expr),
        Expr::VectorSelector(vs) => check_selector(vs),
        Expr::MatrixSelector(ms) => check_selector(&ms.vs),
        Expr::Subquery(_) => refuse("subqueries"),
        Expr::Extension(_) => refuse("extensions"),
        Expr::Call(c) => {
            if !FUNCTIONS.contains(&c.func.name) {
                return refuse(format!("function {}()", c.func.name));
            }
            c.args.args.iter().try_for_each(|a| check(a))
        }
        Expr::Aggregate(a) => {
            let id = a.op.id();
            if !matches!(
                id,
                token::T_SUM | token::T_AVG | token::T_MIN | token::T_MAX | token::T_COUNT
            ) {
                return refuse(format!("the aggregation {}", a.op));
            }
            check(&a.expr)
        }
        Expr::Binary(b) => {
            if let Some(m) = &b.modifier
                && matches!(
                    m.card,
                    VectorMatchCardinality::ManyToOne(_) | VectorMatchCardinality::OneToMany(_)
                )
            {
                return refuse("group_left and group_right");
            }
            check(&b.lhs)?;
            check(&b.rhs)
        }
    }
}

fn refuse(what: impl Into<String>) -> Result<(), Unserved> {
    Err(Unserved::new(what))
}

fn check_selector(vs: &pp::VectorSelector) -> Result<(), Unserved> {
    if vs.offset.is_some() || vs.at.is_some() {
        return refuse("offset and @ modifiers");
    }
    if has_or(&vs.matchers) {
        return refuse("`or` between label matchers");
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// The evaluator

enum Inner {
    Scalar(f64),
    String(String),
    Vector(Vec<Element>),
}

type Fetched = Vec<(Labels, Vec<(i64, f64)>)>;

struct Evaluator<'a> {
    source: &'a dyn Samples,
    /// The query's first and last evaluation times.
    first: i64,
    last: i64,
    /// Each selector's samples over the whole query, read once: keyed by
    /// the selector's address in the expression, which outlives this.
    fetched: HashMap<usize, Fetched>,
}

impl<'a> Evaluator<'a> {
    fn new(source: &'a dyn Samples, first: i64, last: i64) -> Self {
        Evaluator {
            source,
            first,
            last,
            fetched: HashMap::new(),
        }
    }

    /// The selector's series with their samples in `[t - window, t]`.
    fn samples(&mut self, vs: &pp::VectorSelector, window_ms: i64, t: i64) -> Vec<(Labels, Vec<(i64, f64)>)> {
        let key = std::ptr::from_ref(vs) as usize;
        let (source, first, last) = (self.source, self.first, self.last);
        let all = self
            .fetched
            .entry(key)
            .or_insert_with(|| source.select(&selector_matchers(vs), first.saturating_sub(window_ms), last));
        all.iter()
            .filter_map(|(labels, points)| {
                let from = points.partition_point(|(ts, _)| *ts < t.saturating_sub(window_ms));
                let to = points.partition_point(|(ts, _)| *ts <= t);
                (from < to).then(|| (labels.clone(), points[from..to].to_vec()))
            })
            .collect()
    }

    fn eval(&mut self, expr: &Expr, t: i64) -> Result<Inner, EvalError> {
        match expr {
            Expr::NumberLiteral(n) => Ok(Inner::Scalar(n.val)),
            Expr::StringLiteral(s) => Ok(Inner::String(s.val.clone())),
            Expr::Paren(p) => self.eval(&p.expr, t),
            Expr::VectorSelector(vs) => Ok(Inner::Vector(
                self.samples(vs, LOOKBACK_MS, t)
                    .into_iter()
                    .filter_map(|(labels, points)| points.last().map(|(_, v)| Element { labels, value: *v }))
                    .collect(),
            )),
            Expr::Unary(u) => match self.eval(&u.expr, t)? {
                Inner::Scalar(v) => Ok(Inner::Scalar(-v)),
                Inner::Vector(v) => Ok(Inner::Vector(
                    v.into_iter()
                        .map(|e| Element {
                            labels: without_name(e.labels),
                            value: -e.value,
                        })
                        .collect(),
                )),
                Inner::String(_) => execution("unary minus on a string"),
            },
            Expr::Binary(b) => self.binary(b, t),
            Expr::Aggregate(a) => self.aggregate(a, t),
            Expr::Call(c) => self.call(c, t),
            Expr::MatrixSelector(_) => unserved("range vectors outside a function (a range vector result)"),
            Expr::Subquery(_) => unserved("subqueries"),
            Expr::Extension(_) => unserved("extensions"),
        }
    }

    fn vector(&mut self, expr: &Expr, t: i64) -> Result<Vec<Element>, EvalError> {
        match self.eval(expr, t)? {
            Inner::Vector(v) => Ok(v),
            // The parser's type checks make this unreachable for valid input.
            _ => execution("expected an instant vector"),
        }
    }

    fn scalar(&mut self, expr: &Expr, t: i64) -> Result<f64, EvalError> {
        match self.eval(expr, t)? {
            Inner::Scalar(v) => Ok(v),
            _ => execution("expected a scalar"),
        }
    }

    // --- functions

    fn call(&mut self, c: &pp::Call, t: i64) -> Result<Inner, EvalError> {
        let args = &c.args.args;
        let name = c.func.name;
        let arg = |i: usize| args.get(i).map(|a| a.as_ref());
        let range_arg = |i: usize| match arg(i) {
            Some(Expr::MatrixSelector(ms)) => Ok(ms),
            Some(Expr::Paren(p)) => match p.expr.as_ref() {
                Expr::MatrixSelector(ms) => Ok(ms),
                _ => Err(Unserved::new(format!("{name}() of a subquery")).into()),
            },
            _ => Err(EvalError::from(Unserved::new(format!("{name}() of a subquery")))),
        };
        let out = match name {
            "time" => return Ok(Inner::Scalar(t as f64 / 1000.0)),
            "vector" => {
                let v = self.scalar(
                    arg(0).ok_or_else(|| EvalError::Execution("vector() needs an argument".into()))?,
                    t,
                )?;
                vec![Element {
                    labels: Labels::new(),
                    value: v,
                }]
            }
            "scalar" => {
                let v = self.vector(
                    arg(0).ok_or_else(|| EvalError::Execution("scalar() needs an argument".into()))?,
                    t,
                )?;
                return Ok(Inner::Scalar(match v.as_slice() {
                    [one] => one.value,
                    _ => f64::NAN,
                }));
            }
            "absent" => {
                let inner = arg(0).ok_or_else(|| EvalError::Execution("absent() needs an argument".into()))?;
                let v = self.vector(inner, t)?;
                let selector = match inner {
                    Expr::VectorSelector(vs) => Some(vs),
                    _ => None,
                };
                if v.is_empty() {
                    vec![Element {
                        labels: absent_labels(selector),
                        value: 1.0,
                    }]
                } else {
                    Vec::new()
                }
            }
            "absent_over_time" => {
                let ms = range_arg(0)?;
                let found = self.samples(&ms.vs, range_ms(ms), t);
                if found.is_empty() {
                    vec![Element {
                        labels: absent_labels(Some(&ms.vs)),
                        value: 1.0,
                    }]
                } else {
                    Vec::new()
                }
            }
            "histogram_quantile" => {
                let q = self.scalar(
                    arg(0).ok_or_else(|| EvalError::Execution("histogram_quantile() needs φ".into()))?,
                    t,
                )?;
                let v = self.vector(
                    arg(1).ok_or_else(|| EvalError::Execution("histogram_quantile() needs buckets".into()))?,
                    t,
                )?;
                histogram_quantile(q, v)
            }
            _ => {
                let ms = range_arg(0)?;
                let window = range_ms(ms);
                let series = self.samples(&ms.vs, window, t);
                let mut out = Vec::with_capacity(series.len());
                for (labels, points) in series {
                    let value = match name {
                        "rate" => extrapolated_rate(&points, t.saturating_sub(window), t, true, true),
                        "increase" => extrapolated_rate(&points, t.saturating_sub(window), t, true, false),
                        "irate" => instant_rate(&points),
                        "sum_over_time" => Some(kahan_sum(points.iter().map(|p| p.1))),
                        "avg_over_time" => Some(kahan_sum(points.iter().map(|p| p.1)) / points.len() as f64),
                        "min_over_time" => Some(points.iter().map(|p| p.1).fold(f64::NAN, go_min)),
                        "max_over_time" => Some(points.iter().map(|p| p.1).fold(f64::NAN, go_max)),
                        "count_over_time" => Some(points.len() as f64),
                        // last_over_time keeps the metric name.
                        "last_over_time" => {
                            if let Some((_, v)) = points.last() {
                                out.push(Element { labels, value: *v });
                            }
                            continue;
                        }
                        other => return unserved(format!("function {other}()")),
                    };
                    if let Some(value) = value {
                        out.push(Element {
                            labels: without_name(labels),
                            value,
                        });
                    }
                }
                out
            }
        };
        no_duplicates(&out)?;
        Ok(Inner::Vector(out))
    }

    // --- aggregations

    fn aggregate(&mut self, a: &pp::AggregateExpr, t: i64) -> Result<Inner, EvalError> {
        let input = self.vector(&a.expr, t)?;
        let id = a.op.id();
        // Groups in the order their first element arrives, as the engine
        // fills them.
        let mut order: Vec<Labels> = Vec::new();
        let mut groups: HashMap<Labels, Group> = HashMap::new();
        for e in input {
            let key = grouping(&e.labels, a.modifier.as_ref());
            let group = groups.entry(key.clone()).or_insert_with(|| {
                order.push(key);
                Group::default()
            });
            group.add(e.value);
        }
        let out = order
            .into_iter()
            .filter_map(|labels| {
                let g = groups.remove(&labels)?;
                let value = match id {
                    token::T_SUM => g.sum + g.compensation,
                    token::T_AVG => (g.sum + g.compensation) / g.count as f64,
                    token::T_MIN => g.min,
                    token::T_MAX => g.max,
                    _ => g.count as f64,
                };
                Some(Element { labels, value })
            })
            .collect();
        Ok(Inner::Vector(out))
    }

    // --- binary operators

    fn binary(&mut self, b: &pp::BinaryExpr, t: i64) -> Result<Inner, EvalError> {
        let op = b.op;
        let return_bool = b.modifier.as_ref().is_some_and(|m| m.return_bool);
        let lhs = self.eval(&b.lhs, t)?;
        let rhs = self.eval(&b.rhs, t)?;
        let out = match (lhs, rhs) {
            (Inner::Scalar(l), Inner::Scalar(r)) => {
                let (v, keep) = elem_op(op.id(), l, r)?;
                // Comparisons between scalars need `bool`; the parser insists.
                return Ok(Inner::Scalar(if op.is_comparison_operator() {
                    f64::from(u8::from(keep))
                } else {
                    v
                }));
            }
            (Inner::Vector(v), Inner::Scalar(s)) => vector_scalar(op, v, s, false, return_bool)?,
            (Inner::Scalar(s), Inner::Vector(v)) => vector_scalar(op, v, s, true, return_bool)?,
            (Inner::Vector(l), Inner::Vector(r)) => {
                let matching = b.modifier.as_ref().and_then(|m| m.matching.as_ref());
                match op.id() {
                    token::T_LAND => set_op(l, r, matching, SetOp::And),
                    token::T_LOR => set_op(l, r, matching, SetOp::Or),
                    token::T_LUNLESS => set_op(l, r, matching, SetOp::Unless),
                    _ => vector_vector(op, l, r, matching, return_bool)?,
                }
            }
            _ => return execution("binary operators on strings"),
        };
        if !op.is_set_operator() {
            no_duplicates(&out)?;
        }
        Ok(Inner::Vector(out))
    }
}

fn range_ms(ms: &pp::MatrixSelector) -> i64 {
    i64::try_from(ms.range.as_millis()).unwrap_or(i64::MAX / 4)
}

fn without_name(mut labels: Labels) -> Labels {
    labels.remove("__name__");
    labels
}

/// "vector cannot contain metrics with the same labelset", as the engine
/// checks after every function and operator.
fn no_duplicates(v: &[Element]) -> Result<(), EvalError> {
    let mut seen = HashSet::with_capacity(v.len());
    if v.iter().all(|e| seen.insert(&e.labels)) {
        Ok(())
    } else {
        execution("vector cannot contain metrics with the same labelset")
    }
}

/// The labels `absent` gives its 1, as `createLabelsForAbsentFunction`
/// builds them: each equality matcher's label, unless the name is matched
/// again or by another kind of matcher.
fn absent_labels(vs: Option<&pp::VectorSelector>) -> Labels {
    let mut out = Labels::new();
    let Some(vs) = vs else { return out };
    for m in &vs.matchers.matchers {
        if m.name == "__name__" {
            continue;
        }
        if matches!(m.op, promql_parser::label::MatchOp::Equal) && !out.contains_key(&m.name) {
            out.insert(m.name.clone(), m.value.clone());
        } else {
            out.remove(&m.name);
        }
    }
    out
}

/// `extrapolatedRate` of Prometheus 2.54: the increase between the first
/// and last sample, corrected for counter resets, extrapolated towards the
/// window's edges (no further than half an average interval beyond a
/// sample, and not below zero for counters).
fn extrapolated_rate(
    points: &[(i64, f64)],
    range_start: i64,
    range_end: i64,
    is_counter: bool,
    is_rate: bool,
) -> Option<f64> {
    if points.len() < 2 {
        return None;
    }
    let (first_t, first_v) = points[0];
    let (last_t, last_v) = points[points.len() - 1];
    let mut result = last_v - first_v;
    if is_counter {
        let mut prev = first_v;
        for &(_, v) in &points[1..] {
            if v < prev {
                result += prev;
            }
            prev = v;
        }
    }
    let mut duration_to_start = (first_t - range_start) as f64 / 1000.0;
    let duration_to_end = (range_end - last_t) as f64 / 1000.0;
    let sampled = (last_t - first_t) as f64 / 1000.0;
    if sampled <= 0.0 {
        return None;
    }
    let average = sampled / (points.len() - 1) as f64;
    if is_counter && result > 0.0 && first_v >= 0.0 {
        let to_zero = sampled * (first_v / result);
        if to_zero < duration_to_start {
            duration_to_start = to_zero;
        }
    }
    let threshold = average * 1.1;
    let mut interval = sampled;
    interval += if duration_to_start < threshold {
        duration_to_start
    } else {
        average / 2.0
    };
    interval += if duration_to_end < threshold {
        duration_to_end
    } else {
        average / 2.0
    };
    let mut value = result * (interval / sampled);
    if is_rate {
        value /= (range_end - range_start) as f64 / 1000.0;
    }
    Some(value)
}

/// `irate`: the per-second rate between the last two samples.
fn instant_rate(points: &[(i64, f64)]) -> Option<f64> {
    let [.., (prev_t, prev_v), (last_t, last_v)] = points else {
        return None;
    };
    let gap = (last_t - prev_t) as f64 / 1000.0;
    if gap <= 0.0 {
        return None;
    }
    let delta = if last_v < prev_v { *last_v } else { last_v - prev_v };
    Some(delta / gap)
}

/// `kahanSumInc` with Neumaier's improvement, as the engine sums.
fn kahan_sum(values: impl Iterator<Item = f64>) -> f64 {
    let (mut sum, mut c) = (0.0f64, 0.0f64);
    for v in values {
        (sum, c) = kahan_inc(v, sum, c);
    }
    sum + c
}

fn kahan_inc(inc: f64, sum: f64, c: f64) -> (f64, f64) {
    let t = sum + inc;
    let c = if t.is_infinite() {
        0.0
    } else if sum.abs() >= inc.abs() {
        c + ((sum - t) + inc)
    } else {
        c + ((inc - t) + sum)
    };
    (t, c)
}

/// `min`/`max` as the engine folds them: a NaN is replaced by any number.
fn go_min(acc: f64, v: f64) -> f64 {
    if acc.is_nan() || v < acc { v } else { acc }
}

fn go_max(acc: f64, v: f64) -> f64 {
    if acc.is_nan() || v > acc { v } else { acc }
}

#[derive(Default)]
struct Group {
    sum: f64,
    compensation: f64,
    count: u64,
    min: f64,
    max: f64,
}

impl Group {
    fn add(&mut self, v: f64) {
        if self.count == 0 {
            self.min = v;
            self.max = v;
        } else {
            self.min = go_min(self.min, v);
            self.max = go_max(self.max, v);
        }
        (self.sum, self.compensation) = kahan_inc(v, self.sum, self.compensation);
        self.count += 1;
    }
}

fn label_names(labels: &PpLabels) -> impl Iterator<Item = &str> {
    labels.labels.iter().map(|l| plain_name(l))
}

/// An aggregation's output labels: only the `by` labels, or all but the
/// `without` labels and the name.
fn grouping(labels: &Labels, modifier: Option<&LabelModifier>) -> Labels {
    match modifier {
        None => Labels::new(),
        Some(LabelModifier::Include(by)) => {
            let keep: HashSet<&str> = label_names(by).collect();
            labels
                .iter()
                .filter(|(k, _)| keep.contains(k.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        }
        Some(LabelModifier::Exclude(without)) => {
            let drop: HashSet<&str> = label_names(without).collect();
            labels
                .iter()
                .filter(|(k, _)| k.as_str() != "__name__" && !drop.contains(k.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        }
    }
}

/// The labels two sides are matched on: the `on` labels, or all but the
/// `ignoring` labels and the name.
fn signature(labels: &Labels, matching: Option<&LabelModifier>) -> Labels {
    match matching {
        Some(LabelModifier::Include(on)) => {
            let keep: HashSet<&str> = label_names(on).collect();
            labels
                .iter()
                .filter(|(k, _)| keep.contains(k.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        }
        Some(LabelModifier::Exclude(ignoring)) => grouping(labels, Some(&LabelModifier::Exclude(ignoring.clone()))),
        None => without_name(labels.clone()),
    }
}

/// `labels.Labels.String()`: `{a="b", c="d"}`.
pub fn labels_string(labels: &Labels) -> String {
    let inner: Vec<String> = labels
        .iter()
        .map(|(k, v)| format!("{k}={}", strconv::quote(v)))
        .collect();
    format!("{{{}}}", inner.join(", "))
}

fn is_arithmetic(id: token::TokenId) -> bool {
    matches!(
        id,
        token::T_ADD | token::T_SUB | token::T_MUL | token::T_DIV | token::T_MOD | token::T_POW | token::T_ATAN2
    )
}

/// `vectorElemBinop`: the value, and for comparisons whether it holds.
fn elem_op(id: token::TokenId, l: f64, r: f64) -> Result<(f64, bool), EvalError> {
    Ok(match id {
        token::T_ADD => (l + r, true),
        token::T_SUB => (l - r, true),
        token::T_MUL => (l * r, true),
        token::T_DIV => (l / r, true),
        token::T_POW => (l.powf(r), true),
        token::T_MOD => (l % r, true),
        token::T_ATAN2 => (l.atan2(r), true),
        token::T_EQLC => (l, l == r),
        token::T_NEQ => (l, l != r),
        token::T_GTR => (l, l > r),
        token::T_LSS => (l, l < r),
        token::T_GTE => (l, l >= r),
        token::T_LTE => (l, l <= r),
        _ => return unserved("this operator"),
    })
}

fn vector_scalar(
    op: pp::token::TokenType,
    v: Vec<Element>,
    s: f64,
    scalar_left: bool,
    return_bool: bool,
) -> Result<Vec<Element>, EvalError> {
    let id = op.id();
    let mut out = Vec::with_capacity(v.len());
    for e in v {
        let (l, r) = if scalar_left { (s, e.value) } else { (e.value, s) };
        let (mut value, mut keep) = elem_op(id, l, r)?;
        // A comparison keeps the vector's value, whichever side it is on.
        if op.is_comparison_operator() && scalar_left {
            value = e.value;
        }
        if return_bool {
            value = f64::from(u8::from(keep));
            keep = true;
        }
        if keep {
            let labels = if is_arithmetic(id) || return_bool {
                without_name(e.labels)
            } else {
                e.labels
            };
            out.push(Element { labels, value });
        }
    }
    Ok(out)
}

fn vector_vector(
    op: pp::token::TokenType,
    lhs: Vec<Element>,
    rhs: Vec<Element>,
    matching: Option<&LabelModifier>,
    return_bool: bool,
) -> Result<Vec<Element>, EvalError> {
    let id = op.id();
    let mut right: HashMap<Labels, Element> = HashMap::with_capacity(rhs.len());
    for r in rhs {
        let sig = signature(&r.labels, matching);
        if let Some(previous) = right.get(&sig) {
            return execution(format!(
                "found duplicate series for the match group {} on the right hand-side of the operation: [{}, {}];\
                 many-to-many matching not allowed: matching labels must be unique on one side",
                labels_string(&sig),
                labels_string(&r.labels),
                labels_string(&previous.labels)
            ));
        }
        right.insert(sig, r);
    }
    let mut matched: HashSet<Labels> = HashSet::new();
    let mut out = Vec::new();
    for l in lhs {
        let sig = signature(&l.labels, matching);
        let Some(r) = right.get(&sig) else { continue };
        let (mut value, keep) = elem_op(id, l.value, r.value)?;
        if return_bool {
            value = f64::from(u8::from(keep));
        } else if !keep {
            continue;
        }
        let mut labels = l.labels;
        if is_arithmetic(id) || return_bool {
            labels.remove("__name__");
        }
        match matching {
            Some(LabelModifier::Include(on)) => {
                let keep: HashSet<&str> = label_names(on).collect();
                labels.retain(|k, _| keep.contains(k.as_str()));
            }
            Some(LabelModifier::Exclude(ignoring)) => {
                for name in label_names(ignoring) {
                    labels.remove(name);
                }
            }
            None => {}
        }
        if !matched.insert(sig) {
            return execution(
                "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)",
            );
        }
        out.push(Element { labels, value });
    }
    Ok(out)
}

#[derive(Clone, Copy)]
enum SetOp {
    And,
    Or,
    Unless,
}

fn set_op(lhs: Vec<Element>, rhs: Vec<Element>, matching: Option<&LabelModifier>, op: SetOp) -> Vec<Element> {
    let right: HashSet<Labels> = rhs.iter().map(|e| signature(&e.labels, matching)).collect();
    match op {
        SetOp::And => lhs
            .into_iter()
            .filter(|e| right.contains(&signature(&e.labels, matching)))
            .collect(),
        SetOp::Unless => lhs
            .into_iter()
            .filter(|e| !right.contains(&signature(&e.labels, matching)))
            .collect(),
        SetOp::Or => {
            let left: HashSet<Labels> = lhs.iter().map(|e| signature(&e.labels, matching)).collect();
            let mut out = lhs;
            out.extend(
                rhs.into_iter()
                    .filter(|e| !left.contains(&signature(&e.labels, matching))),
            );
            out
        }
    }
}

/// `histogram_quantile` over classic buckets: the series are grouped by
/// their labels without `le` and the name; a series without a parsable
/// `le` is ignored, as 2.54 does.
fn histogram_quantile(q: f64, v: Vec<Element>) -> Vec<Element> {
    let mut order: Vec<Labels> = Vec::new();
    let mut groups: HashMap<Labels, Vec<(f64, f64)>> = HashMap::new();
    for e in v {
        let Some(le) = e.labels.get("le").and_then(|s| strconv::parse_float(s).ok()) else {
            continue;
        };
        let mut key = without_name(e.labels);
        key.remove("le");
        groups
            .entry(key.clone())
            .or_insert_with(|| {
                order.push(key);
                Vec::new()
            })
            .push((le, e.value));
    }
    order
        .into_iter()
        .filter_map(|labels| {
            let buckets = groups.remove(&labels)?;
            Some(Element {
                labels,
                value: bucket_quantile(q, buckets),
            })
        })
        .collect()
}

/// `bucketQuantile` of Prometheus 2.54 (`promql/quantile.go`).
pub fn bucket_quantile(q: f64, mut buckets: Vec<(f64, f64)>) -> f64 {
    if q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    if !buckets.last().is_some_and(|b| b.0 == f64::INFINITY) {
        return f64::NAN;
    }
    // Coalesce buckets with the same bound.
    let mut merged: Vec<(f64, f64)> = Vec::with_capacity(buckets.len());
    for (le, count) in buckets {
        match merged.last_mut() {
            Some(last) if last.0 == le => last.1 += count,
            _ => merged.push((le, count)),
        }
    }
    // Counts that go down (scrape skew) are lifted to the maximum so far.
    let mut max = f64::NEG_INFINITY;
    for b in &mut merged {
        if b.1 > max {
            max = b.1;
        } else {
            b.1 = max;
        }
    }
    if merged.len() < 2 {
        return f64::NAN;
    }
    let observations = merged[merged.len() - 1].1;
    if observations == 0.0 {
        return f64::NAN;
    }
    let mut rank = q * observations;
    let b = merged.partition_point(|x| x.1 < rank).min(merged.len() - 1);
    if b == merged.len() - 1 {
        return merged[merged.len() - 2].0;
    }
    if b == 0 && merged[0].0 <= 0.0 {
        return merged[0].0;
    }
    let (mut start, end, mut count) = (0.0, merged[b].0, merged[b].1);
    if b > 0 {
        start = merged[b - 1].0;
        count -= merged[b - 1].1;
        rank -= merged[b - 1].1;
    }
    start + (end - start) * (rank / count)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lang::matcher::selects;
    use crate::lang::promql::parse;

    /// Series as `(labels, points)`, filtered as a store would.
    struct Fixed(Vec<(Labels, Vec<(i64, f64)>)>);

    impl Samples for Fixed {
        fn select(&self, matchers: &[Matcher], start: i64, end: i64) -> Vec<(Labels, Vec<(i64, f64)>)> {
            self.0
                .iter()
                .filter(|(l, _)| selects(matchers, l))
                .map(|(l, p)| {
                    (
                        l.clone(),
                        p.iter().copied().filter(|(t, _)| *t >= start && *t <= end).collect(),
                    )
                })
                .filter(|(_, p): &(Labels, Vec<(i64, f64)>)| !p.is_empty())
                .collect()
        }
    }

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn at(query: &str, source: &Fixed, t: i64) -> Result<Value, EvalError> {
        instant(&parse(query).unwrap_or_else(|e| panic!("{query}: {e}")), source, t)
    }

    fn vector(query: &str, source: &Fixed, t: i64) -> Vec<Element> {
        match at(query, source, t) {
            Ok(Value::Vector(v)) => v,
            other => panic!("{query}: {other:?}"),
        }
    }

    fn one(query: &str, source: &Fixed, t: i64) -> f64 {
        match vector(query, source, t).as_slice() {
            [e] => e.value,
            other => panic!("{query}: {other:?}"),
        }
    }

    /// A counter sampled every 15 s from t=0, `per_step` more each time.
    fn counter(name: &str, extra: &[(&str, &str)], per_step: f64, steps: i64) -> (Labels, Vec<(i64, f64)>) {
        let mut l = labels(extra);
        l.insert("__name__".into(), name.into());
        (l, (0..=steps).map(|i| (i * 15_000, per_step * i as f64)).collect())
    }

    #[test]
    fn rate_extrapolates_as_prometheus_does() {
        // 1 per 15 s; at t=300 s the 5 m window [0, 300] holds 21 samples
        // spanning the whole window: 20 / 300 per second.
        let s = Fixed(vec![counter("c_total", &[("job", "a")], 1.0, 40)]);
        let r = one("rate(c_total[5m])", &s, 300_000);
        assert!((r - 20.0 / 300.0).abs() < 1e-12, "{r}");
        // Samples at 60..300 s in a window from 0 s: the start is 60 s away,
        // beyond 1.1 average intervals, so only half an interval is added.
        let late = Fixed(vec![(
            labels(&[("__name__", "c_total")]),
            (4..=20).map(|i| (i * 15_000, i as f64)).collect(),
        )]);
        let inc = one("increase(c_total[5m])", &late, 300_000);
        // 16 over 240 s, extrapolated to 247.5 s.
        assert!((inc - 16.0 * 247.5 / 240.0).abs() < 1e-9, "{inc}");
        // A reset: 10, 12, 2, 4 is an increase of 6. The counter would
        // have been 0 at 45 s * 10/6 = 75 s before the first sample, inside
        // the 255 s to the window's start but beyond 1.1 intervals, so half
        // an interval (7.5 s) is added at the start and none at the end.
        let reset = Fixed(vec![(
            labels(&[("__name__", "c_total")]),
            vec![(0, 10.0), (15_000, 12.0), (30_000, 2.0), (45_000, 4.0)],
        )]);
        let inc = one("increase(c_total[5m])", &reset, 45_000);
        assert!((inc - 6.0 * 52.5 / 45.0).abs() < 1e-9, "{inc}");
        assert!(vector("rate(c_total[5m])", &s, -1_000_000).is_empty());
    }

    #[test]
    fn aggregations_group_as_by_and_without_say() {
        let s = Fixed(vec![
            counter("r_total", &[("job", "a"), ("path", "/x"), ("code", "200")], 1.0, 20),
            counter("r_total", &[("job", "a"), ("path", "/x"), ("code", "500")], 3.0, 20),
            counter("r_total", &[("job", "a"), ("path", "/y"), ("code", "200")], 2.0, 20),
        ]);
        let t = 300_000;
        let by = vector("sum by (path) (rate(r_total[5m]))", &s, t);
        assert_eq!(by.len(), 2);
        let x = by.iter().find(|e| e.labels == labels(&[("path", "/x")])).unwrap();
        assert!((x.value - 80.0 / 300.0).abs() < 1e-12);
        let without = vector("sum without (code) (r_total)", &s, t);
        assert_eq!(without.len(), 2);
        assert!(
            without
                .iter()
                .all(|e| !e.labels.contains_key("__name__") && e.labels.contains_key("job"))
        );
        assert_eq!(one("count(r_total)", &s, t), 3.0);
        assert_eq!(one("max(r_total)", &s, t), 60.0);
        assert_eq!(one("min(r_total)", &s, t), 20.0);
        assert_eq!(one("avg(r_total)", &s, t), 40.0);
        // The error ratio of the SLO recording rules.
        let ratio = one(
            r#"sum by (job) (rate(r_total{code=~"5.."}[5m])) / sum by (job) (rate(r_total[5m]))"#,
            &s,
            t,
        );
        assert!((ratio - 0.5).abs() < 1e-12, "{ratio}");
    }

    #[test]
    fn histogram_quantile_interpolates_within_the_bucket() {
        // 100 observations: 50 ≤ 0.5 s, 90 ≤ 1 s, 100 ≤ 2.5 s.
        let bucket = |le: &str, n: f64| {
            (
                labels(&[("__name__", "d_bucket"), ("le", le)]),
                vec![(0, 0.0), (300_000, n)],
            )
        };
        let s = Fixed(vec![
            bucket("0.5", 50.0),
            bucket("1", 90.0),
            bucket("2.5", 100.0),
            bucket("+Inf", 100.0),
        ]);
        let q = |phi: &str| {
            one(
                &format!("histogram_quantile({phi}, sum by (le) (rate(d_bucket[5m])))"),
                &s,
                300_000,
            )
        };
        // rank 99 of 100 falls in (1, 2.5]: 1 + 1.5 * 9/10.
        assert!((q("0.99") - 2.35).abs() < 1e-9, "{}", q("0.99"));
        assert!((q("0.5") - 0.5).abs() < 1e-9);
        assert!((q("0.25") - 0.25).abs() < 1e-9);
        assert_eq!(q("2"), f64::INFINITY);
        assert!(bucket_quantile(0.5, vec![(1.0, 3.0)]).is_nan());
        assert_eq!(bucket_quantile(1.0, vec![(1.0, 3.0), (f64::INFINITY, 3.0)]), 1.0);
    }

    #[test]
    fn burn_rate_alert_expressions_filter_and_intersect() {
        let ratio = |name: &str, v: f64| {
            (
                labels(&[("__name__", name), ("job", "durable-code/durable-code-backend")]),
                vec![(0, v)],
            )
        };
        let s = Fixed(vec![
            ratio("job:slo_errors_per_request:ratio_rate1h", 0.2),
            ratio("job:slo_errors_per_request:ratio_rate5m", 0.5),
        ]);
        let expr = "job:slo_errors_per_request:ratio_rate1h > (14.4 * 0.005) and job:slo_errors_per_request:ratio_rate5m > (14.4 * 0.005)";
        let v = vector(expr, &s, 1000);
        assert_eq!(v.len(), 1);
        // Comparisons keep the left side's value and name.
        assert_eq!(v[0].value, 0.2);
        assert_eq!(v[0].labels["__name__"], "job:slo_errors_per_request:ratio_rate1h");
        let low = Fixed(vec![
            ratio("job:slo_errors_per_request:ratio_rate1h", 0.01),
            ratio("job:slo_errors_per_request:ratio_rate5m", 0.5),
        ]);
        assert!(vector(expr, &low, 1000).is_empty());
        assert_eq!(one("job:slo_errors_per_request:ratio_rate1h > bool 0.1", &s, 1000), 1.0);
        assert_eq!(
            vector("1 - job:slo_errors_per_request:ratio_rate5m", &s, 1000)[0].value,
            0.5
        );
        assert_eq!(
            vector(
                "job:slo_errors_per_request:ratio_rate5m or job:slo_errors_per_request:ratio_rate1h",
                &s,
                1000
            )
            .len(),
            1
        );
        assert!(
            vector(
                "job:slo_errors_per_request:ratio_rate5m unless job:slo_errors_per_request:ratio_rate1h",
                &s,
                1000
            )
            .is_empty()
        );
    }

    #[test]
    fn absent_names_its_equality_labels() {
        let s = Fixed(vec![counter("up", &[("job", "a")], 1.0, 2)]);
        assert!(vector("absent(up)", &s, 10_000).is_empty());
        let v = vector(r#"absent(nope{job="x", path=~".*"})"#, &s, 10_000);
        assert_eq!(
            v,
            vec![Element {
                labels: labels(&[("job", "x")]),
                value: 1.0
            }]
        );
        let v = vector(r#"absent_over_time(nope{job=~".*backend"}[10m])"#, &s, 10_000);
        assert_eq!(
            v,
            vec![Element {
                labels: Labels::new(),
                value: 1.0
            }]
        );
        assert!(vector(r#"absent_over_time(up[10m])"#, &s, 10_000).is_empty());
    }

    #[test]
    fn matching_errors_are_prometheus_words() {
        let s = Fixed(vec![
            counter("a", &[("x", "1"), ("y", "1")], 1.0, 1),
            counter("a", &[("x", "1"), ("y", "2")], 1.0, 1),
            counter("b", &[("x", "1")], 1.0, 1),
        ]);
        let e = at("b / on (x) a", &s, 15_000).unwrap_err();
        assert!(
            matches!(&e, EvalError::Execution(m) if m.starts_with("found duplicate series for the match group {x=\"1\"} on the right hand-side")),
            "{e}"
        );
        let e = at("a / on (x) b", &s, 15_000).unwrap_err();
        assert_eq!(
            e,
            EvalError::Execution(
                "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)".into()
            )
        );
        let e = at("rate(a[1m]) or rate(b[1m])", &s, 15_000);
        assert!(e.is_ok());
        let e = at(
            r#"rate({__name__=~"a|b"}[1m])"#,
            &Fixed(vec![
                counter("a", &[("x", "1")], 1.0, 1),
                counter("b", &[("x", "1")], 1.0, 1),
            ]),
            15_000,
        )
        .unwrap_err();
        assert_eq!(
            e,
            EvalError::Execution("vector cannot contain metrics with the same labelset".into())
        );
    }

    #[test]
    fn matching_keeps_the_labels_prometheus_keeps() {
        let s = Fixed(vec![
            counter("errs", &[("job", "a"), ("code", "500")], 1.0, 1),
            counter("reqs", &[("job", "a"), ("path", "/x")], 4.0, 1),
        ]);
        let t = 15_000;
        // on(): only the matched labels; ignoring(): all but the ignored.
        let on = vector("errs / on (job) reqs", &s, t);
        assert_eq!(
            on,
            vec![Element {
                labels: labels(&[("job", "a")]),
                value: 0.25
            }]
        );
        let s2 = Fixed(vec![
            counter("errs", &[("job", "a"), ("code", "500")], 1.0, 1),
            counter("reqs", &[("job", "a"), ("code", "200")], 4.0, 1),
        ]);
        let ignoring = vector("errs / ignoring (code) reqs", &s2, t);
        assert_eq!(
            ignoring,
            vec![Element {
                labels: labels(&[("job", "a")]),
                value: 0.25
            }]
        );
        // Without matching labels in common nothing matches.
        assert!(vector("errs / reqs", &s, t).is_empty());
        // bool between vectors: 0 or 1, the name dropped, every match kept.
        let b = vector("errs > bool on (job) reqs", &s, t);
        assert_eq!(
            b,
            vec![Element {
                labels: labels(&[("job", "a")]),
                value: 0.0
            }]
        );
        // Unary minus and arithmetic drop the name; a filter keeps it.
        assert!(!vector("-errs", &s, t)[0].labels.contains_key("__name__"));
        assert!(!vector("errs * 2", &s, t)[0].labels.contains_key("__name__"));
        assert_eq!(vector("errs > 0", &s, t)[0].labels["__name__"], "errs");
        // The scalar on the left: the vector's value is kept.
        assert_eq!(vector("0 < errs", &s, t)[0].value, 1.0);
        assert!(vector("2 < errs", &s, t).is_empty());
        // absent() of an expression that is not a selector has no labels.
        assert_eq!(
            vector("absent(sum(nope))", &s, t),
            vec![Element {
                labels: Labels::new(),
                value: 1.0
            }]
        );
        assert_eq!(one("count without (code) (errs)", &s, t), 1.0);
        assert!(matches!(at("scalar(errs) + time()", &s, t), Ok(Value::Scalar(v)) if (v - 16.0).abs() < 1e-9));
    }

    #[test]
    fn what_is_not_evaluated_is_unserved_whole() {
        let s = Fixed(vec![]);
        for q in [
            "topk(1, up)",
            "up offset 5m",
            "a * on (x) group_left b",
            "label_replace(up, \"a\", \"b\", \"c\", \"d\")",
            "rate(up[5m:1m])",
            "up[5m]",
            "quantile(0.5, up)",
        ] {
            match at(q, &s, 0) {
                Err(EvalError::Unserved(m)) => {
                    assert!(m.starts_with("the reference stack does not evaluate"), "{q}: {m}")
                }
                other => panic!("{q}: {other:?}"),
            }
        }
    }

    #[test]
    fn range_queries_step_through_the_window() {
        let s = Fixed(vec![counter("c_total", &[("job", "a")], 1.0, 40)]);
        let out = range(&parse("sum(rate(c_total[1m]))").unwrap(), &s, 60_000, 120_000, 30_000).unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].points.len(), 3);
        assert!(out[0].points.iter().all(|(_, v)| (v - 1.0 / 15.0).abs() < 1e-12));
        let scalar = range(&parse("1 + 1").unwrap(), &s, 0, 30_000, 15_000).unwrap();
        assert_eq!(
            scalar,
            vec![Series {
                labels: Labels::new(),
                points: vec![(0, 2.0), (15_000, 2.0), (30_000, 2.0)]
            }]
        );
        assert!(matches!(
            range(&parse("\"x\"").unwrap(), &s, 0, 1, 1),
            Err(EvalError::BadData(_))
        ));
    }
}
