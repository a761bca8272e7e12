use std::time::Duration;

use axum::http::Method;

use super::process::ProcessStats;
use super::{Gauges, Metrics, OTHER_METHOD, UNMATCHED_ROUTE, method_label};
use crate::storage::PoolStats;

#[test]
fn histogram_buckets_are_cumulative() {
    let m = Metrics::default();
    m.observe_request(&Method::POST, "/t", 201, Duration::from_micros(300));
    m.observe_request(&Method::POST, "/t", 201, Duration::from_millis(3));
    m.observe_request(&Method::POST, "/t", 422, Duration::from_secs(10));
    let text = m.render(&Gauges {
        pool: PoolStats { size: 3, idle: 1, max: 8 },
        issuance_queue_depth: 2,
        clock: None,
        clock_states: vec![],
    });
    assert!(text.contains("tessera_http_requests_total{method=\"POST\",route=\"/t\",status=\"201\"} 2"));
    assert!(text.contains("le=\"0.0005\"} 1"));
    assert!(text.contains("le=\"0.005\"} 2"));
    assert!(text.contains("le=\"5\"} 2"));
    assert!(text.contains("le=\"+Inf\"} 3"));
    assert!(text.contains("tessera_db_pool_connections{state=\"in_use\"} 2"));
    assert!(text.contains("tessera_issuance_queue_depth 2"));
}

/// A route of the table counts in its series made at start-up, exactly as any other
/// route counts in the locked map; both render alike.
#[test]
fn fixed_series_count_and_render_like_the_rest() {
    let fixed = Metrics::with_routes(["/t"]);
    let other = Metrics::default();
    for m in [&fixed, &other] {
        m.observe_request(&Method::POST, "/t", 201, Duration::from_micros(300));
        m.observe_request(&Method::POST, "/t", 201, Duration::from_millis(3));
        m.observe_request(&Method::POST, "/t", 299, Duration::from_secs(10));
        m.observe_request(&Method::GET, UNMATCHED_ROUTE, 404, Duration::from_millis(1));
    }
    assert!(fixed.other_routes.lock().expect("lock").is_empty(), "the table's routes need no lock");
    assert_eq!(other.other_routes.lock().expect("lock").len(), 2);
    let gauges = || Gauges {
        pool: PoolStats { size: 1, idle: 1, max: 1 },
        issuance_queue_depth: 0,
        clock: None,
        clock_states: vec![],
    };
    let requests = |m: &Metrics| {
        m.render(&gauges()).lines().filter(|l| l.starts_with("tessera_http_")).map(str::to_owned).collect::<Vec<_>>()
    };
    assert_eq!(requests(&fixed), requests(&other));
    assert!(
        requests(&fixed)
            .contains(&"tessera_http_requests_total{method=\"POST\",route=\"/t\",status=\"299\"} 1".to_owned())
    );
    assert_eq!(fixed.summary(), other.summary());
}

#[test]
fn build_info_and_process_metrics_are_rendered() {
    let m = Metrics::default();
    let text = m.render(&Gauges {
        pool: PoolStats { size: 1, idle: 1, max: 1 },
        issuance_queue_depth: 0,
        clock: None,
        clock_states: vec![],
    });
    let build = format!(
        "tessera_build_info{{version=\"{}\",commit=\"{}\"}} 1",
        env!("CARGO_PKG_VERSION"),
        env!("TESSERA_COMMIT")
    );
    assert!(text.contains(&build), "{text}");
    assert!(text.contains("# TYPE tessera_build_info gauge"));
    #[cfg(target_os = "linux")]
    {
        let value = |name: &str| -> f64 {
            let line = text.lines().find(|l| l.starts_with(&format!("{name} "))).expect(name);
            line[name.len() + 1..].parse().expect("a number")
        };
        assert!(value("process_resident_memory_bytes") > 1_000_000.0, "a running test binary holds a megabyte");
        assert!(value("process_open_fds") >= 3.0, "stdin, stdout, stderr at least");
        assert!(value("process_cpu_seconds_total") >= 0.0);
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("after 1970").as_secs_f64();
        let started = value("process_start_time_seconds");
        assert!(started > now - 86_400.0 && started <= now + 1.0, "started {started}, now {now}");
        assert!(text.contains("# TYPE process_cpu_seconds_total counter"));
    }
}

#[test]
fn proc_stat_is_read_after_a_command_name_with_spaces() {
    let stat = "4242 (tokio runtime) S 1 2 3 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 9 0 12345 1000 300 1844 0";
    let status = "Name:\ttessera\nVmRSS:\t   20480 kB\nThreads:\t9\n";
    let boot = "cpu  1 2 3\nbtime 1700000000\nprocesses 1\n";
    let p = ProcessStats::parse(stat, status, boot, 12).expect("parses");
    assert_eq!(
        p,
        ProcessStats {
            cpu_seconds: 3.25,
            resident_bytes: 20_971_520,
            open_fds: 12,
            start_time_seconds: 1_700_000_123.45
        }
    );
    assert!(ProcessStats::parse("garbage", status, boot, 1).is_none());
}

#[test]
fn methods_outside_the_standard_set_share_one_label() {
    let m = Metrics::default();
    for name in ["PROPFIND", "get", "M".repeat(5000).as_str()] {
        let method = Method::from_bytes(name.as_bytes()).expect("a method token");
        assert_eq!(method_label(&method), OTHER_METHOD);
        m.observe_request(&method, UNMATCHED_ROUTE, 405, Duration::from_millis(1));
    }
    m.observe_request(&Method::DELETE, UNMATCHED_ROUTE, 404, Duration::from_millis(1));
    let text = m.render(&Gauges {
        pool: PoolStats { size: 1, idle: 1, max: 1 },
        issuance_queue_depth: 0,
        clock: None,
        clock_states: vec![],
    });
    assert!(text.contains("tessera_http_requests_total{method=\"other\",route=\"<unmatched>\",status=\"405\"} 3"));
    assert!(text.contains("tessera_http_requests_total{method=\"DELETE\",route=\"<unmatched>\",status=\"404\"} 1"));
    assert!(!text.contains("PROPFIND") && !text.contains("MMMM") && !text.contains("\"get\""));
}
