//! Faro Web SDK 2.x payloads (`@grafana/faro-web-sdk` 2.10,
//! `/tmp/research/exporter-grafana-sdks.md` §3b) posted to `/collect` as
//! the SDK's fetch transport posts them, read back from Loki as Alloy
//! v1.13's `faro.receiver` writes them (logfmt, fixed key order, meta
//! suffix; `shared/reference/api/01-faro-receiver.md` §1.3) and from Tempo.
//!
//! What the SDK sends that the harness does not: `meta.browser.brands` (an
//! array on Chromium, the string `"unknown"` elsewhere — Alloy v1.13's
//! `payload.go` `Browser` has the field commented out, `// TODO: properly
//! serialize brands`, so Go's `encoding/json` ignores it whatever its type),
//! `mobile` as a bool and viewport sizes as strings, `session.attributes`,
//! `user.fullName`/`roles`, `app.bundleId`, a log `action`, an exception
//! `fingerprint` (all ignored by Alloy), web-vitals values with attribution
//! numbers and string context, stack frames without `module` and without
//! `lineno`/`colno` (Go's zero: `:0:0`), level `log`, `faro.performance.*`
//! events with string timings, and traces as OTLP/JSON.
//!
//! Measurement values print twice: un-prefixed with Go's `%f` (six
//! decimals, ties to even) and as `value_*` with `%v`
//! (`strconv.FormatFloat(f, 'g', -1, 64)`: the shortest decimal, in
//! exponent form when its exponent is < -4 or >= 6, with at least two
//! exponent digits: `2.5e-07`, `1e+06`, `1e+21`).
//!
//! Fixtures: `tests/fixtures/contracts/faro-web-2.x.json`,
//! `faro-web-brands-unknown.json`.
//!
//! Uses: support.

use serde_json::{Value, json};

use crate::support::{self, Stack, answer, attribute, base64, span_named, unhex};

pub(crate) const PAYLOAD: &str = include_str!("../fixtures/contracts/faro-web-2.x.json");
const BRANDS_UNKNOWN: &str = include_str!("../fixtures/contracts/faro-web-brands-unknown.json");
const TRACE: &str = "8f3a1b2c4d5e6f708192a3b4c5d6e7f8";
const SPAN: &str = "1a2b3c4d5e6f7081";

/// The meta keys Alloy appends to every line of `faro-web-2.x.json`:
/// `brands`, `fullName`, `roles` and `bundleId` leave no trace.
const META: &str = concat!(
    "sdk_name=faro-web sdk_version=2.10.0 app_name=durable-code-frontend app_namespace=durable-code ",
    "app_version=1.4.2 app_environment=production user_email=ada@example.com user_id=u-17 user_username=ada ",
    "user_attr_plan=pro session_id=kB4nMrRMh3 session_attr_previousSession=Z9y8X7w6V5 session_attr_tenant=acme ",
    "page_id=nav-8c1f page_url=\"http://localhost:5173/orders?status=open\" browser_name=Chrome ",
    "browser_version=126.0.0.0 browser_os=\"Mac OS 10.15.7\" browser_mobile=false ",
    "browser_userAgent=\"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36\" ",
    "browser_language=en-US browser_viewportWidth=1512 browser_viewportHeight=823 view_name=default"
);

/// `POST /collect` as the fetch transport sends it.
pub(crate) async fn collect(stack: &Stack, body: &str) -> support::Answer {
    answer(
        stack
            .http
            .post(&stack.faro)
            .header("Content-Type", "application/json")
            .header("x-faro-session-id", "kB4nMrRMh3")
            .header("Origin", "http://localhost:5173")
            .body(body.to_owned()),
    )
    .await
}

/// The lines of one kind, in the order Alloy wrote them.
async fn lines(stack: &Stack, kind: &str) -> Vec<String> {
    let lines = stack
        .loki_lines(&format!("{{app=\"durable-code-frontend\", kind=\"{kind}\"}}"))
        .await;
    for line in &lines {
        assert_eq!(
            line.labels,
            json!({ "app": "durable-code-frontend", "kind": kind, "service_name": "durable-code-frontend" })
        );
    }
    lines.into_iter().map(|l| l.line).collect()
}

#[tokio::test]
async fn faro_web_2x_payload_lands_in_loki_as_alloy_writes_it() {
    let stack = support::start().await;
    let got = collect(&stack, PAYLOAD).await;
    assert_eq!((got.status, got.text().as_str()), (202, "ok"));

    assert_eq!(
        lines(&stack, "log").await,
        vec![format!(
            "timestamp=\"2025-06-01 10:15:30.123 +0000 UTC\" kind=log message=\"order submitted\" level=log context_orderId=o-42 context_step=2 traceID={TRACE} spanID={SPAN} {META}"
        )]
    );

    let value = "Cannot read properties of undefined (reading 'map')";
    let hash = xxhash_rust::xxh3::xxh3_64(value.as_bytes());
    assert_eq!(
        lines(&stack, "exception").await,
        vec![format!(
            concat!(
                r#"timestamp="2025-06-01 10:15:31.5 +0000 UTC" kind=exception type=TypeError value="{value}" "#,
                r#"stacktrace="TypeError: {value}\n  at renderOrders (http://localhost:5173/assets/index-Bq1xT4.js:12:3456)\n  at ? (http://localhost:5173/assets/vendor-9aF2.js:0:0)" "#,
                "hash={hash} context_component=OrderList traceID={trace} spanID={span} {meta}"
            ),
            value = value,
            hash = hash,
            trace = TRACE,
            span = SPAN,
            meta = META,
        )]
    );

    let lcp = concat!(
        r#"timestamp="2025-06-01 10:15:32 +0000 UTC" kind=measurement type=web-vitals "#,
        "delta=1006.600000 element_render_delay=12.400000 lcp=1006.600000 resource_load_delay=210.500000 ",
        "resource_load_duration=418.200000 time_to_first_byte=365.500000 ",
        "context_element=#root>div.hero>img context_id=v5-1748772932000-8213478923423 ",
        "context_navigation_entry_id=nav-8c1f context_navigation_type=navigate context_rating=good ",
        "value_delta=1006.5999999999767 value_element_render_delay=12.399999999906868 value_lcp=1006.5999999999767 ",
        "value_resource_load_delay=210.5 value_resource_load_duration=418.20000000018626 ",
        "value_time_to_first_byte=365.4999999999418"
    );
    // 0.0078125 is a tie at six decimals: `%f` rounds it to even.
    let cls = concat!(
        r#"timestamp="2025-06-01 10:15:33.25 +0000 UTC" kind=measurement type=web-vitals "#,
        "cls=0.052350 delta=0.007812 largest_shift_time=1523.400000 largest_shift_value=0.040000 ",
        "context_id=v5-1748772932001-4410927311874 context_largest_shift_target=div.banner>p ",
        "context_load_state=complete context_navigation_entry_id=nav-8c1f context_navigation_type=navigate ",
        "context_rating=good value_cls=0.05235042735042735 value_delta=0.0078125 ",
        "value_largest_shift_time=1523.4000000000233 value_largest_shift_value=0.04"
    );
    let inp = concat!(
        r#"timestamp="2025-06-01 10:15:35 +0000 UTC" kind=measurement type=web-vitals "#,
        "delta=48.000000 inp=48.000000 input_delay=1.500000 interaction_time=5123.500000 ",
        "next_paint_time=5171.500000 presentation_delay=12.300000 processing_duration=34.200000 ",
        "total_script_duration=30.000000 total_style_and_layout_duration=0.000000 ",
        "context_id=v5-1748772935000-1187762254120 context_interaction_target=button#submit-order ",
        "context_interaction_type=pointer context_longest_script_invoker_type=event-listener ",
        "context_longest_script_subpart=processing-duration context_navigation_entry_id=nav-8c1f ",
        "context_navigation_type=navigate context_rating=good ",
        "value_delta=48 value_inp=48 value_input_delay=1.5 value_interaction_time=5123.5 ",
        "value_next_paint_time=5171.5 value_presentation_delay=12.300000000745058 ",
        "value_processing_duration=34.19999999925494 value_total_script_duration=30 ",
        "value_total_style_and_layout_duration=0"
    );
    // `%v` switches to exponent form by the shortest decimal's exponent
    // (< -4 or >= 6), not by the value's magnitude: 999999.9999999999 stays
    // plain, 9.999999999999999e-05 does not.
    let cart = format!(
        concat!(
            r#"timestamp="2025-06-01 10:15:36 +0000 UTC" kind=measurement type=cart "#,
            "below_1e-4=0.000100 below_1e6=1000000.000000 huge=1000000000000000000000.000000 items=3.000000 ",
            "million=1000000.000000 sum=0.300000 tiny=0.000000 traceID={trace} spanID={span} ",
            "value_below_1e-4=9.999999999999999e-05 value_below_1e6=999999.9999999999 value_huge=1e+21 ",
            "value_items=3 value_million=1e+06 value_sum=0.30000000000000004 value_tiny=2.5e-07"
        ),
        trace = TRACE,
        span = SPAN,
    );
    assert_eq!(
        lines(&stack, "measurement").await,
        [lcp.to_owned(), cls.to_owned(), inp.to_owned(), cart]
            .into_iter()
            .map(|l| format!("{l} {META}"))
            .collect::<Vec<_>>()
    );

    let resource = format!(
        concat!(
            r#"timestamp="2025-06-01 10:15:30.1 +0000 UTC" kind=event event_name=faro.performance.resource event_domain=browser "#,
            "event_data_cacheHitStatus=fullLoad event_data_decodedBodySize=58 event_data_dnsLookupTime=0 ",
            "event_data_duration=48 event_data_encodedBodySize=58 event_data_faroNavigationId=nav-8c1f ",
            "event_data_faroResourceId=res-3e9a event_data_fetchTime=46 event_data_httpHost=localhost:5173 ",
            "event_data_initiatorType=fetch event_data_name=http://localhost:5173/api/orders ",
            "event_data_protocol=http/1.1 event_data_redirectTime=0 event_data_renderBlockingStatus=non-blocking ",
            "event_data_requestTime=41 event_data_responseStatus=201 event_data_responseTime=1 ",
            "event_data_serviceWorkerTime=0 event_data_tcpHandshakeTime=0 event_data_tlsNegotiationTime=0 ",
            "event_data_transferSize=358 event_data_ttfb=42 event_data_visibilityState=visible ",
            "traceID={trace} spanID={span} {meta}"
        ),
        trace = TRACE,
        span = SPAN,
        meta = META,
    );
    assert_eq!(
        lines(&stack, "event").await,
        vec![
            format!(
                r#"timestamp="2025-06-01 10:15:29.9 +0000 UTC" kind=event event_name=session_start event_domain=browser {META}"#
            ),
            resource,
        ]
    );
}

#[tokio::test]
async fn faro_web_traces_reach_tempo_with_the_browser_resource() {
    let stack = support::start().await;
    let got = collect(&stack, PAYLOAD).await;
    assert_eq!(got.status, 202, "{}", got.text());

    let trace = stack.tempo_trace(TRACE).await.expect("the fetch trace is in Tempo");
    let (resource, scope, fetch) = span_named(&trace, "HTTP POST");
    assert_eq!(
        attribute(&resource, "service.name"),
        Some(&json!({ "stringValue": "durable-code-frontend" }))
    );
    assert_eq!(
        attribute(&resource, "browser.mobile"),
        Some(&json!({ "boolValue": false }))
    );
    assert_eq!(
        attribute(&resource, "telemetry.distro.name"),
        Some(&json!({ "stringValue": "faro-web-sdk" }))
    );
    assert_eq!(scope["name"], "@opentelemetry/instrumentation-fetch");
    assert_eq!(fetch["traceId"], base64(&unhex(TRACE)));
    assert_eq!(fetch["spanId"], base64(&unhex(SPAN)));
    assert_eq!(fetch["kind"], "SPAN_KIND_CLIENT");
    assert_eq!(fetch["startTimeUnixNano"], "1748772930100000000");
    assert_eq!(fetch["endTimeUnixNano"], "1748772930148000000");
    assert_eq!(
        attribute(&fetch["attributes"], "http.status_code"),
        Some(&json!({ "intValue": "201" }))
    );
    assert_eq!(
        attribute(&fetch["attributes"], "session.id"),
        Some(&json!({ "stringValue": "kB4nMrRMh3" }))
    );

    let load = stack
        .tempo_trace("0af7651916cd43dd8448eb211c80319c")
        .await
        .expect("the page-load trace is in Tempo");
    let (_, scope, span) = span_named(&load, "documentLoad");
    assert_eq!(scope["name"], "@opentelemetry/instrumentation-document-load");
    assert_eq!(span["kind"], "SPAN_KIND_INTERNAL");
}

/// Alloy v1.13 does not declare `brands`, so `"brands":"unknown"` (every
/// browser without `navigator.userAgentData`) is accepted like the array,
/// and neither leaves a key in the line.
#[tokio::test]
async fn brands_as_the_string_unknown_is_accepted_and_ignored() {
    let stack = support::start().await;
    let got = collect(&stack, BRANDS_UNKNOWN).await;
    assert_eq!((got.status, got.text().as_str()), (202, "ok"));
    assert_eq!(
        lines(&stack, "log").await,
        vec![concat!(
            r#"timestamp="2025-06-01 11:00:00.001 +0000 UTC" kind=log message="cart opened" level=info "#,
            "sdk_name=faro-web sdk_version=2.10.0 app_name=durable-code-frontend app_namespace=durable-code ",
            "app_version=1.4.2 app_environment=production session_id=Qm7cT2pLx9 page_url=http://localhost:5173/ ",
            r#"browser_name=Firefox browser_version=127.0 browser_os="Ubuntu unknown" browser_mobile=false "#,
            r#"browser_userAgent="Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:127.0) Gecko/20100101 Firefox/127.0" "#,
            "browser_language=de-DE browser_viewportWidth=1280 browser_viewportHeight=720 view_name=default"
        )]
    );
    // Whatever else `brands` holds, Go never looks at it.
    let mut odd: Value = serde_json::from_str(BRANDS_UNKNOWN).expect("fixture");
    odd["meta"]["browser"]["brands"] = json!({ "brand": 7 });
    let got = collect(&stack, &odd.to_string()).await;
    assert_eq!(got.status, 202, "{}", got.text());
}

/// The declared fields keep their Go types: a mismatch anywhere is a 400
/// for the whole payload and nothing is exported — as Alloy's
/// `json.NewDecoder(req.Body).Decode(&p)` fails before any exporter runs.
#[tokio::test]
async fn type_mismatches_in_declared_fields_are_alloys_400() {
    let stack = support::start().await;
    let base: Value = serde_json::from_str(PAYLOAD).expect("fixture");
    // (what, JSON pointer, the wrongly typed value, Alloy's 400 body: Go's
    // `encoding/json` error and a newline, from the same payload decoded
    // into Alloy v1.13's `payload.Payload` by Go's v1 decoder).
    let cases = [
        (
            "mobile as a string",
            "/meta/browser/mobile",
            json!("false"),
            "json: cannot unmarshal string into Go struct field Browser.meta.browser.mobile of type bool",
        ),
        (
            "viewportWidth as a number",
            "/meta/browser/viewportWidth",
            json!(1512),
            "json: cannot unmarshal number into Go struct field Browser.meta.browser.viewportWidth of type string",
        ),
        (
            "a measurement value as a string",
            "/measurements/0/values/lcp",
            json!("1006.6"),
            "json: cannot unmarshal string into Go struct field Measurement.measurements.values of type float64",
        ),
        (
            "a measurement context value as a number",
            "/measurements/0/context/rating",
            json!(1),
            "json: cannot unmarshal number into Go struct field Measurement.measurements.context of type string",
        ),
        (
            "a log timestamp as epoch milliseconds",
            "/logs/0/timestamp",
            json!(1748772930123_u64),
            "Time.UnmarshalJSON: input is not a JSON string",
        ),
        (
            "a log timestamp that is not RFC 3339",
            "/logs/0/timestamp",
            json!("2025-06-01 10:15:30"),
            r#"parsing time "2025-06-01 10:15:30" as "2006-01-02T15:04:05Z07:00": cannot parse " 10:15:30" as "T""#,
        ),
        (
            "a fractional lineno",
            "/exceptions/0/stacktrace/frames/0/lineno",
            json!(12.5),
            "json: cannot unmarshal number 12.5 into Go struct field Frame.exceptions.stacktrace.frames.lineno of type int",
        ),
        (
            "an event attribute as a number",
            "/events/1/attributes/duration",
            json!(48),
            "json: cannot unmarshal number into Go struct field Event.events.attributes of type string",
        ),
    ];
    for (what, pointer, wrong, message) in cases {
        let mut payload = base.clone();
        *payload.pointer_mut(pointer).expect("the fixture has the field") = wrong;
        let got = collect(&stack, &payload.to_string()).await;
        assert_eq!(
            (got.status, got.content_type.as_str(), got.text()),
            (400, "text/plain; charset=utf-8", format!("{message}\n")),
            "{what}"
        );
    }
    // pdata's OTLP/JSON decoding fails the request too (its texts are not
    // reproduced).
    let mut payload = base.clone();
    let span_id = "/traces/resourceSpans/0/scopeSpans/0/spans/0/spanId";
    *payload.pointer_mut(span_id).expect("the fixture has a span") = json!("not-a-span-id!!!");
    assert_eq!(
        collect(&stack, &payload.to_string()).await.status,
        400,
        "a span id that is not hex"
    );
    assert_eq!(stack.sim.log_counts().entries_received, 0, "nothing exported");
    assert_eq!(stack.sim.trace_counts().export_requests, 0, "nothing exported");
}

/// Faro ≥ 2.8 can gzip its requests (`requestCompression`); Alloy v1.13's
/// handler has no `Content-Encoding` support (added after v1.13), so it
/// JSON-decodes the gzip bytes and answers 400.
#[tokio::test]
async fn a_gzipped_faro_request_is_v1_13s_400() {
    use std::io::Write as _;

    let stack = support::start().await;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(BRANDS_UNKNOWN.as_bytes()).expect("gzip");
    let got = answer(
        stack
            .http
            .post(&stack.faro)
            .header("Content-Type", "application/json")
            .header("Content-Encoding", "gzip")
            .body(gz.finish().expect("gzip")),
    )
    .await;
    assert_eq!(
        (got.status, got.text().as_str()),
        (400, "invalid character '\\x1f' looking for beginning of value\n")
    );
    assert_eq!(stack.sim.log_counts().entries_received, 0, "nothing exported");
}

/// Go's decoder leaves a declared field at its zero value for `null`
/// (Alloy's `payload.go` has no pointer but `stacktrace` and `traces`),
/// matches keys case-insensitively, and a legacy OTLP/JSON
/// `instrumentationLibrarySpans` key is skipped by pdata v1.49's
/// `ResourceSpans.UnmarshalJSON` (it knows `scopeSpans`/`scope_spans`
/// only), so those spans are dropped with a 202, as Alloy v1.13 drops them.
#[tokio::test]
async fn nulls_folded_keys_and_legacy_span_keys_are_taken_as_go_takes_them() {
    let stack = support::start().await;
    let payload = json!({
        "meta": {
            "app": {"name": "null-app", "version": null},
            "browser": {"mobile": null, "name": null},
            "sdk": {"integrations": null},
            "session": {"id": "s-null", "attributes": null},
        },
        "LOGS": [{"Message": "folded", "level": null, "context": {"k": null}, "timestamp": null, "trace": null}],
        "exceptions": [{"type": "Error", "value": "v", "stacktrace": null}],
        "traces": {"resourceSpans": [{
            "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "legacy"}}]},
            "instrumentationLibrarySpans": [{"spans": [{
                "traceId": TRACE, "spanId": SPAN, "name": "legacy", "kind": 1,
                "startTimeUnixNano": "1", "endTimeUnixNano": "2",
            }]}],
        }]},
    });
    let got = collect(&stack, &payload.to_string()).await;
    assert_eq!((got.status, got.text().as_str()), (202, "ok"));
    let logs = lines(&stack, "log").await;
    assert_eq!(
        logs,
        [concat!(
            "timestamp=\"0001-01-01 00:00:00 +0000 UTC\" kind=log message=folded ",
            "app_name=null-app session_id=s-null browser_mobile=false"
        )]
    );
    let exceptions = lines(&stack, "exception").await;
    assert!(exceptions[0].contains(r#"stacktrace="Error: v""#), "{exceptions:?}");
    assert!(stack.tempo_trace(TRACE).await.is_none(), "no span from a legacy key");
}
