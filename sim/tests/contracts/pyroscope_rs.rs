//! A push as pyroscope-rs ≥ 1.0 sends it (`src/session.rs`,
//! `src/encode/pprof.rs` at lib 2.1.1; `/tmp/research/exporter-grafana-sdks.md`
//! §3c): Connect unary `POST <url>/push.v1.PusherService/Push`, the whole
//! `push.v1.PushRequest` gzipped (`Content-Type: application/proto`,
//! `Content-Encoding: gzip`, no `Connect-Protocol-Version`), series labels
//! `__name__=process_cpu` first, then the user's tags, then
//! `service_name`, `otel.scope.name`, `otel.scope.version`,
//! `process.runtime.name`, `process.runtime.version`; inside, a plain
//! (not gzipped) pprof with sample and period type `cpu`/`nanoseconds`,
//! period 1e9/100 = 10,000,000, values count × period, thread tags as
//! string sample labels, functions with file names and lines.
//!
//! The profile is read back with the querier's `SelectMergeStacktraces`,
//! and the dotted label names as Pyroscope 1.10 keeps them:
//! `validation.ValidateLabels` → `SanitizeLabelName` turns `.` into `_`.
//!
//! Uses: support.

use std::collections::HashMap;
use std::io::Write as _;

use prost::Message;
use serde_json::json;

use crate::support::{self, Stack, answer, base64};

const SERVICE: &str = "contract-rust";
const PERIOD: i64 = 1_000_000_000 / 100;
const TYPE_ID: &str = "process_cpu:cpu:nanoseconds:cpu:nanoseconds";

// push.v1 (api/push/v1/push.proto) and types.v1.LabelPair.
#[derive(Clone, PartialEq, prost::Message)]
struct PushRequest {
    #[prost(message, repeated, tag = "1")]
    series: Vec<RawProfileSeries>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct RawProfileSeries {
    #[prost(message, repeated, tag = "1")]
    labels: Vec<LabelPair>,
    #[prost(message, repeated, tag = "2")]
    samples: Vec<RawSample>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct LabelPair {
    #[prost(string, tag = "1")]
    name: String,
    #[prost(string, tag = "2")]
    value: String,
}

#[derive(Clone, PartialEq, prost::Message)]
struct RawSample {
    #[prost(bytes = "vec", tag = "1")]
    raw_profile: Vec<u8>,
    #[prost(string, tag = "2")]
    id: String,
}

// perftools.profiles (github.com/google/pprof proto/profile.proto), every
// field pyroscope-rs's generated `google::Profile` writes.
#[derive(Clone, PartialEq, prost::Message)]
struct Profile {
    #[prost(message, repeated, tag = "1")]
    sample_type: Vec<ValueType>,
    #[prost(message, repeated, tag = "2")]
    sample: Vec<Sample>,
    #[prost(message, repeated, tag = "3")]
    mapping: Vec<Mapping>,
    #[prost(message, repeated, tag = "4")]
    location: Vec<Location>,
    #[prost(message, repeated, tag = "5")]
    function: Vec<Function>,
    #[prost(string, repeated, tag = "6")]
    string_table: Vec<String>,
    #[prost(int64, tag = "7")]
    drop_frames: i64,
    #[prost(int64, tag = "8")]
    keep_frames: i64,
    #[prost(int64, tag = "9")]
    time_nanos: i64,
    #[prost(int64, tag = "10")]
    duration_nanos: i64,
    #[prost(message, optional, tag = "11")]
    period_type: Option<ValueType>,
    #[prost(int64, tag = "12")]
    period: i64,
    #[prost(int64, repeated, tag = "13")]
    comment: Vec<i64>,
    #[prost(int64, tag = "14")]
    default_sample_type: i64,
}

#[derive(Clone, PartialEq, prost::Message)]
struct ValueType {
    #[prost(int64, tag = "1")]
    r#type: i64,
    #[prost(int64, tag = "2")]
    unit: i64,
}

#[derive(Clone, PartialEq, prost::Message)]
struct Sample {
    #[prost(uint64, repeated, tag = "1")]
    location_id: Vec<u64>,
    #[prost(int64, repeated, tag = "2")]
    value: Vec<i64>,
    #[prost(message, repeated, tag = "3")]
    label: Vec<Label>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct Label {
    #[prost(int64, tag = "1")]
    key: i64,
    #[prost(int64, tag = "2")]
    str: i64,
    #[prost(int64, tag = "3")]
    num: i64,
    #[prost(int64, tag = "4")]
    num_unit: i64,
}

#[derive(Clone, PartialEq, prost::Message)]
struct Mapping {
    #[prost(uint64, tag = "1")]
    id: u64,
}

#[derive(Clone, PartialEq, prost::Message)]
struct Location {
    #[prost(uint64, tag = "1")]
    id: u64,
    #[prost(uint64, tag = "2")]
    mapping_id: u64,
    #[prost(uint64, tag = "3")]
    address: u64,
    #[prost(message, repeated, tag = "4")]
    line: Vec<Line>,
    #[prost(bool, tag = "5")]
    is_folded: bool,
}

#[derive(Clone, PartialEq, prost::Message)]
struct Line {
    #[prost(uint64, tag = "1")]
    function_id: u64,
    #[prost(int64, tag = "2")]
    line: i64,
}

#[derive(Clone, PartialEq, prost::Message)]
struct Function {
    #[prost(uint64, tag = "1")]
    id: u64,
    #[prost(int64, tag = "2")]
    name: i64,
    #[prost(int64, tag = "3")]
    system_name: i64,
    #[prost(int64, tag = "4")]
    filename: i64,
    #[prost(int64, tag = "5")]
    start_line: i64,
}

/// `PProfBuilder`: strings, functions and locations interned in first-use
/// order, ids from 1, the empty string first.
#[derive(Default)]
struct Builder {
    profile: Profile,
    strings: HashMap<String, i64>,
    functions: HashMap<(i64, i64), u64>,
    locations: HashMap<(u64, i64), u64>,
}

impl Builder {
    fn string(&mut self, s: &str) -> i64 {
        if let Some(id) = self.strings.get(s) {
            return *id;
        }
        let id = self.profile.string_table.len() as i64;
        self.strings.insert(s.to_owned(), id);
        self.profile.string_table.push(s.to_owned());
        id
    }

    fn location(&mut self, name: &str, file: &str, line: i64) -> u64 {
        let (name, file) = (self.string(name), self.string(file));
        let next = self.functions.len() as u64 + 1;
        let function_id = *self.functions.entry((name, file)).or_insert(next);
        if function_id == next {
            self.profile.function.push(Function {
                id: function_id,
                name,
                filename: file,
                ..Default::default()
            });
        }
        let next = self.locations.len() as u64 + 1;
        let id = *self.locations.entry((function_id, line)).or_insert(next);
        if id == next {
            self.profile.location.push(Location {
                id,
                line: vec![Line { function_id, line }],
                ..Default::default()
            });
        }
        id
    }

    /// One stack (leaf first, as the backtrace gives it) seen `count` times.
    fn sample(&mut self, frames: &[(&str, &str, i64)], count: i64, thread: (&str, &str)) {
        let location_id = frames.iter().map(|&(n, f, l)| self.location(n, f, l)).collect();
        let label = [("thread_id", thread.0), ("thread_name", thread.1)]
            .into_iter()
            .map(|(k, v)| Label {
                key: self.string(k),
                str: self.string(v),
                ..Default::default()
            })
            .collect();
        self.profile.sample.push(Sample {
            location_id,
            value: vec![count * PERIOD],
            label,
        });
    }
}

/// `pprof::encode` of a 10 s report from the pprof-rs backend.
fn cpu_profile(from_s: i64) -> Profile {
    let mut b = Builder::default();
    b.string("");
    let (cpu, ns) = (b.string("cpu"), b.string("nanoseconds"));
    b.profile.sample_type.push(ValueType { r#type: cpu, unit: ns });
    b.profile.period_type = Some(ValueType { r#type: cpu, unit: ns });
    b.profile.period = PERIOD;
    b.profile.time_nanos = from_s * 1_000_000_000;
    b.profile.duration_nanos = 10 * 1_000_000_000;
    b.sample(
        &[
            ("contract::checksum", "src/work.rs", 41),
            ("contract::handle", "src/server.rs", 88),
            ("contract::main", "src/main.rs", 12),
        ],
        3,
        ("140042", "tokio-runtime-worker"),
    );
    b.sample(
        &[
            ("std::thread::sleep", "library/std/src/thread/mod.rs", 880),
            ("contract::handle", "src/server.rs", 91),
            ("contract::main", "src/main.rs", 12),
        ],
        2,
        ("140043", "tokio-runtime-worker"),
    );
    b.profile
}

/// `labels_for_profile` for `application_name = contract-rust` with the
/// tag `env=prod`.
fn labels() -> Vec<LabelPair> {
    [
        ("__name__", "process_cpu"),
        ("env", "prod"),
        ("service_name", SERVICE),
        ("otel.scope.name", "com.grafana.pyroscope/rust"),
        ("otel.scope.version", "2.1.1"),
        ("process.runtime.name", "rust"),
        ("process.runtime.version", "1.88.0"),
    ]
    .into_iter()
    .map(|(name, value)| LabelPair {
        name: name.into(),
        value: value.into(),
    })
    .collect()
}

/// One push of one 10 s CPU report, as pyroscope-rs's session sends it.
fn one_profile(id: &str) -> PushRequest {
    PushRequest {
        series: vec![RawProfileSeries {
            labels: labels(),
            samples: vec![RawSample {
                raw_profile: cpu_profile(support::now_millis() / 1000 - 10).encode_to_vec(),
                id: id.into(),
            }],
        }],
    }
}

async fn push(stack: &Stack, request: &PushRequest) -> support::Answer {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&request.encode_to_vec()).expect("gzip");
    let body = gz.finish().expect("gzip");
    answer(
        stack
            .http
            .post(format!("{}/push.v1.PusherService/Push", stack.pyroscope))
            .header("User-Agent", "pyroscope-rs/pyroscope-rs/2.1.1 reqwest")
            .header("Content-Type", "application/proto")
            .header("Content-Encoding", "gzip")
            .body(body),
    )
    .await
}

/// A stack that accepted one `one_profile` push, and the push's answer.
async fn pushed(id: &str) -> (Stack, support::Answer) {
    let stack = support::start().await;
    let got = push(&stack, &one_profile(id)).await;
    assert_eq!(got.status, 200, "{}", got.text());
    (stack, got)
}

/// `SelectMergeStacktraces` of the CPU profiles `selector` picks over the
/// last hour: the flame graph.
async fn merged(stack: &Stack, selector: &str) -> serde_json::Value {
    let now = support::now_millis();
    let request = json!({
        "profileTypeID": TYPE_ID,
        "labelSelector": selector,
        "start": now - 3_600_000,
        "end": now + 60_000,
    });
    stack.pyroscope_query("SelectMergeStacktraces", request).await["flamegraph"].clone()
}

#[tokio::test]
async fn a_pyroscope_rs_push_becomes_a_flame_graph_with_its_frames() {
    let (stack, got) = pushed("3f1e7a52-9c4b-4d0e-8f6a-2b7c9d1e0a43").await;
    // connect-go answers in the request's codec and compression: the
    // empty `PushResponse` as protobuf (no bytes), gzipped as the request was.
    assert_eq!(
        (got.content_type.as_str(), got.content_encoding.as_str()),
        ("application/proto", "gzip")
    );
    let mut message = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&got.body[..]), &mut message).expect("gzip");
    assert_eq!(message, b"", "an empty PushResponse");

    let graph = &merged(&stack, &format!("{{service_name=\"{SERVICE}\"}}")).await;
    assert_eq!(graph["total"], (5 * PERIOD).to_string(), "{graph}");
    let names: Vec<&str> = graph["names"]
        .as_array()
        .expect("names")
        .iter()
        .filter_map(|n| n.as_str())
        .collect();
    // `NewFlameGraph` names frames as its stack walk takes them: the last
    // of a node's children (in name order) first.
    assert_eq!(
        names,
        [
            "total",
            "contract::main",
            "contract::handle",
            "std::thread::sleep",
            "contract::checksum"
        ]
    );
    // main (50 ms) -> handle (50 ms) -> checksum (30 ms, self) | sleep (20 ms, self).
    assert_eq!(
        graph["levels"],
        json!([
            {"values": ["0", "50000000", "0", "0"]},
            {"values": ["0", "50000000", "0", "1"]},
            {"values": ["0", "50000000", "0", "2"]},
            {"values": ["0", "30000000", "30000000", "4", "0", "20000000", "20000000", "3"]},
        ])
    );

    let now = support::now_millis();
    let types = stack
        .pyroscope_query("ProfileTypes", json!({ "start": now - 3_600_000, "end": now + 60_000 }))
        .await;
    assert_eq!(types["profileTypes"][0]["ID"], TYPE_ID, "{types}");
}

/// Pyroscope 1.10's distributor rewrites `.` in series label names to `_`
/// before it stores them, so pyroscope-rs's `otel.scope.name` is found as
/// `otel_scope_name`.
#[tokio::test]
async fn dotted_label_names_are_kept_as_pyroscope_sanitizes_them() {
    let (stack, _) = pushed("5d2c8b1a-0e3f-4a7b-9c6d-1f8e2a4b6c0d").await;

    for (name, value) in [
        ("otel_scope_name", "com.grafana.pyroscope/rust"),
        ("otel_scope_version", "2.1.1"),
        ("process_runtime_name", "rust"),
        ("process_runtime_version", "1.88.0"),
        ("env", "prod"),
    ] {
        let got = stack.pyroscope_query("LabelValues", json!({ "name": name })).await;
        assert_eq!(got["names"], json!([value]), "{name}");
    }
    let got = stack
        .pyroscope_query("LabelValues", json!({ "name": "otel.scope.name" }))
        .await;
    // protojson leaves the empty list out.
    assert_eq!(got, json!({}), "no dotted name is stored");

    let graph = merged(
        &stack,
        r#"{otel_scope_name="com.grafana.pyroscope/rust", process_runtime_name="rust"}"#,
    )
    .await;
    assert_eq!(graph["total"], (5 * PERIOD).to_string());
}

/// Pyroscope 1.10's distributor splits a profile by its samples' string
/// labels (`pkg/model/pprof_split/pprof_split.go` `VisitSampleSeries`,
/// `span_id` excepted), so pyroscope-rs's thread tags become series labels
/// a selector can use.
#[tokio::test]
async fn thread_tags_become_series_labels() {
    let (stack, _) = pushed("0b6f2d1e-4c3a-4e5f-8a7b-9c0d1e2f3a4b").await;

    let values = stack
        .pyroscope_query("LabelValues", json!({ "name": "thread_id" }))
        .await;
    assert_eq!(values["names"], json!(["140042", "140043"]));
    for (selector, total) in [
        (r#"{thread_name="tokio-runtime-worker"}"#, 5),
        (r#"{thread_id="140042"}"#, 3),
        (r#"{thread_id="140043", service_name="contract-rust"}"#, 2),
        (r#"{thread_id="1"}"#, 0),
    ] {
        let graph = merged(&stack, selector).await;
        // protojson leaves a zero total out.
        let want = if total == 0 {
            json!(null)
        } else {
            json!((total * PERIOD).to_string())
        };
        assert_eq!(graph["total"], want, "{selector}");
    }
}

/// connect-go's content negotiation: JSON in, JSON out (`{}`); a type no
/// protocol takes is 415 with `Accept-Post`; an unknown compression is
/// `unimplemented` (501), its error in JSON.
#[tokio::test]
async fn the_push_answers_in_the_request_codec() {
    let stack = support::start().await;
    let raw = base64(&cpu_profile(support::now_millis() / 1000 - 10).encode_to_vec());
    let body = json!({
        "series": [{
            "labels": [{"name": "__name__", "value": "process_cpu"}, {"name": "service_name", "value": SERVICE}],
            "samples": [{"rawProfile": raw}],
        }],
    })
    .to_string();
    let post = |content_type: &'static str, encoding: Option<&'static str>, body: String| {
        let mut request = stack
            .http
            .post(format!("{}/push.v1.PusherService/Push", stack.pyroscope))
            .header("Content-Type", content_type)
            .body(body);
        if let Some(encoding) = encoding {
            request = request.header("Content-Encoding", encoding);
        }
        answer(request)
    };
    let got = post("application/json", None, body.clone()).await;
    assert_eq!(
        (got.status, got.content_type.as_str(), got.text().as_str()),
        (200, "application/json", "{}")
    );
    let got = post("application/x-protobuf", None, body.clone()).await;
    assert_eq!((got.status, got.text().as_str()), (415, ""));
    let got = post("application/json", Some("br"), body).await;
    assert_eq!(got.status, 501);
    assert_eq!(
        got.json(),
        json!({"code": "unimplemented", "message": "unknown compression \"br\": supported encodings are gzip"})
    );
}

/// A Pyroscope panel's query through Grafana's `/api/ds/query`.
async fn panel(stack: &Stack, query: serde_json::Value) -> (u16, serde_json::Value) {
    let mut query = query;
    query["refId"] = json!("A");
    query["datasource"] = json!({ "type": "grafana-pyroscope-datasource", "uid": "pyroscope" });
    let body = json!({ "queries": [query], "from": "now-1h", "to": "now+1m" });
    let got = answer(stack.http.post(format!("{}/api/ds/query", stack.grafana)).json(&body)).await;
    (got.status, got.json())
}

#[tokio::test]
async fn grafana_shows_the_pushed_profile_as_a_nested_set_flame_graph() {
    let (stack, _) = pushed("7c2e9a41-1b3d-4f5e-9a8b-0c1d2e3f4a5b").await;
    let selector = format!("{{service_name=\"{SERVICE}\"}}");
    let (status, body) = panel(
        &stack,
        json!({ "queryType": "profile", "profileTypeId": TYPE_ID, "labelSelector": selector, "groupBy": [] }),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let frames = body["results"]["A"]["frames"].as_array().unwrap();
    assert_eq!(frames.len(), 1);
    let schema = &frames[0]["schema"];
    assert_eq!(schema["name"], "response");
    assert_eq!(schema["meta"]["preferredVisualisationType"], "flamegraph");
    let names: Vec<&str> = schema["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["level", "value", "self", "label"]);
    assert_eq!(schema["fields"][1]["config"]["unit"], "ns");
    let text = schema["fields"][3]["config"]["type"]["enum"]["text"].clone();
    let values = &frames[0]["data"]["values"];
    // total, main, handle, then its two callees: depth first.
    assert_eq!(values[0], json!([0, 1, 2, 3, 3]), "{body}");
    let label = |row: usize| {
        text[values[3][row].as_u64().unwrap() as usize]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(label(0), "total");
    assert_eq!(label(1), "contract::main");
    assert_eq!(label(2), "contract::handle");
    assert_eq!(values[1][0], values[1][1]);

    // A type with no samples: Pyroscope's flame graph of an empty tree,
    // one zero `total` node, which Grafana's levelsToTree keeps as a row.
    let (status, body) = panel(
        &stack,
        json!({ "queryType": "profile", "profileTypeId": "memory:alloc_space:bytes:space:bytes",
                "labelSelector": selector, "groupBy": [] }),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let frame = &body["results"]["A"]["frames"][0];
    assert_eq!(frame["data"]["values"], json!([[0], [0], [0], [0]]));
    assert_eq!(frame["schema"]["fields"][2]["config"]["unit"], "bytes");

    // Series queries are not run here, and say so.
    let (status, body) = panel(
        &stack,
        json!({ "queryType": "metrics", "profileTypeId": TYPE_ID, "labelSelector": selector, "groupBy": [] }),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["results"]["A"]["status"], 501);
}
