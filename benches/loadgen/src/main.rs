//! Load generator for the modelence-native-ws benchmarks (`benches/run.mjs` drives it).
//!
//! One thread (tokio `current_thread`), a hand-rolled websocket client with a few KiB of state
//! per connection, so it is never the bottleneck and reaches 100k connections (several
//! loopback source addresses). It reports its own CPU time so a run can show that.

mod client;
mod config;
mod control;
mod sys;
mod ws;

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::sync::Semaphore;

use crate::client::Shared;
use crate::config::{Config, Mode};
use crate::sys::{mono_us, usage};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("run") => {}
        Some("--help" | "-h" | "help") | None => {
            print!("{}", Config::help());
            return;
        }
        Some(other) => {
            eprintln!("loadgen: unknown command {other:?} (try loadgen --help)");
            std::process::exit(2);
        }
    }
    let cfg = match Config::parse(&args[1..]) {
        Ok(cfg) => Rc::new(cfg),
        Err(e) => {
            eprintln!("loadgen: {e}");
            std::process::exit(2);
        }
    };
    let (soft, hard) = sys::raise_nofile(cfg.clients as u64 + 256);
    if (soft as usize) < cfg.clients + 32 {
        eprintln!(
            "loadgen: {} clients need ~{} open files but RLIMIT_NOFILE is {soft} (hard {hard}); \
             raise it (ulimit -Hn, prlimit) or use fewer clients",
            cfg.clients,
            cfg.clients + 32
        );
        std::process::exit(3);
    }
    let runtime =
        tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime");
    let local = tokio::task::LocalSet::new();
    let mut out = local.block_on(&runtime, run(cfg.clone()));
    out["loadgen"]["nofile"] = json!([soft, hard]);
    println!("{out}");
    // Exit without dropping 100k tasks one by one; the kernel closes the sockets.
    std::process::exit(0);
}

/// Sleeps until `done()` or `limit` elapsed; returns whether `done()` held.
async fn wait_until(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if done() {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn run(cfg: Rc<Config>) -> Value {
    let wall0 = mono_us();
    let usage0 = usage();
    let (host, cport) = (cfg.host, cfg.control_port);
    let stats_limit = Duration::from_secs(60);
    let gc = cfg.mode == Mode::Idle;

    // Connect, authenticate and join every client, `concurrency` handshakes at a time.
    let pre_connect = control::stats(host, cport, gc, stats_limit).await;
    let shared = Rc::new(RefCell::new(Shared::new(cfg.clients)));
    let sem = Rc::new(Semaphore::new(cfg.concurrency));
    let usage_c0 = usage();
    let t_connect = mono_us();
    for idx in 0..cfg.clients {
        tokio::task::spawn_local(client::run(idx, cfg.clone(), shared.clone(), sem.clone()));
    }
    let connected = wait_until(Duration::from_secs_f64(cfg.connect_timeout_secs), || {
        let sh = shared.borrow();
        sh.joined + sh.failed >= cfg.clients
    })
    .await;
    let usage_c1 = usage();
    let post_connect = control::stats(host, cport, false, stats_limit).await;
    let connect = {
        let mut sh = shared.borrow_mut();
        let end = if sh.joined > 0 { sh.last_join_at } else { mono_us() };
        let secs = (end.saturating_sub(t_connect)) as f64 / 1e6;
        let mut hs = std::mem::take(&mut sh.handshake_us);
        hs.sort_unstable();
        json!({
            "requested": cfg.clients,
            "joined": sh.joined,
            "failed": sh.failed,
            "retries": sh.retries,
            "completed": connected,
            "seconds": secs,
            "rate": if secs > 0.0 { sh.joined as f64 / secs } else { 0.0 },
            "handshake_ms": percentiles_ms(&hs),
            "server_before": pre_connect,
            "server_after": post_connect,
            "loadgen_cpu_seconds": usage_c1.total() - usage_c0.total(),
            "client_buffer_bytes": sh.buffer_bytes,
        })
    };

    let mut out = json!({
        "label": cfg.label,
        "mode": format!("{:?}", cfg.mode).to_lowercase(),
        "clients": cfg.clients,
        "channels": cfg.channels,
        "count": cfg.count,
        "size": cfg.size,
        "interval_ms": cfg.interval_ms,
        "src_addrs": cfg.src_addrs,
        "connect": connect,
    });

    match cfg.mode {
        Mode::Connect => {}
        Mode::Idle => out["idle"] = hold(&cfg, &shared, pre_connect).await,
        Mode::Burst | Mode::Paced => out["delivery"] = deliver(&cfg, &shared).await,
    }

    let sh = shared.borrow();
    let usage1 = usage();
    out["closed_early"] = json!(sh.closed);
    out["errors"] = json!(sh.errors);
    out["loadgen"] = json!({
        "wall_seconds": (mono_us() - wall0) as f64 / 1e6,
        "cpu_user_seconds": usage1.user - usage0.user,
        "cpu_system_seconds": usage1.system - usage0.system,
        "cpu_seconds": usage1.total() - usage0.total(),
        "max_rss_kib": usage1.max_rss_kib,
    });
    out
}

/// Burst or paced: trigger the server's broadcasts, count deliveries until all arrived (or
/// none arrived for `idle_timeout_secs`), and summarize.
async fn deliver(cfg: &Rc<Config>, shared: &Rc<RefCell<Shared>>) -> Value {
    let (host, port) = (cfg.host, cfg.control_port);
    let joined = shared.borrow().records.iter().filter(|r| r.joined).count() as u64;
    let expected = joined * cfg.count;
    let before = control::stats(host, port, false, Duration::from_secs(60)).await;
    let (route, body) = match cfg.mode {
        Mode::Paced => ("/bench/paced", trigger_body(cfg)),
        _ => ("/bench/burst", trigger_body(cfg)),
    };
    let usage0 = usage();
    let t0 = mono_us();
    let trigger = tokio::task::spawn_local(async move {
        control::request(host, port, "POST", route, Some(&body)).await
    });

    let idle_limit = (cfg.idle_timeout_secs * 1e6) as u64;
    let (mut last_count, mut last_progress) = (0u64, mono_us());
    let complete = loop {
        tokio::time::sleep(Duration::from_millis(2)).await;
        let delivered = shared.borrow().delivered;
        let now = mono_us();
        if delivered >= expected {
            break true;
        }
        if delivered != last_count {
            (last_count, last_progress) = (delivered, now);
        } else if now - last_progress > idle_limit {
            break false;
        }
        if trigger.is_finished() && joined > 0 && shared.borrow().closed as u64 >= joined {
            break false; // everyone is gone
        }
    };
    let usage1 = usage();
    let t1 = mono_us();
    let after = control::stats(host, port, false, Duration::from_secs(60)).await;
    let trigger_result = match tokio::time::timeout(Duration::from_secs(30), trigger).await {
        Ok(Ok(Ok(v))) => v,
        Ok(Ok(Err(e))) => json!({ "error": e.to_string() }),
        _ => json!({ "error": "trigger request did not finish" }),
    };
    tokio::time::sleep(Duration::from_millis(cfg.grace_ms)).await;

    let mut sh = shared.borrow_mut();
    let mut lat = std::mem::take(&mut sh.latencies);
    lat.sort_unstable();
    let mut from_start = std::mem::take(&mut sh.from_burst_start);
    from_start.sort_unstable();
    let window = sh.last_recv.saturating_sub(sh.first_send) as f64 / 1e6;
    let lost: u64 =
        sh.records.iter().filter(|r| r.joined).map(|r| cfg.count - r.received.min(cfg.count)).sum();
    let clients_missing = sh.records.iter().filter(|r| r.joined && r.received < cfg.count).count();
    json!({
        "expected": expected,
        "received": sh.delivered,
        "lost": lost,
        "clients_missing": clients_missing,
        "duplicates": sh.duplicates,
        "out_of_order": sh.out_of_order,
        "malformed": sh.malformed,
        "complete": complete,
        "seconds": window,
        "rate": if window > 0.0 { sh.delivered as f64 / window } else { 0.0 },
        "latency_ms": percentiles_ms(&lat),
        "from_burst_start_ms": percentiles_ms(&from_start),
        "measure_wall_seconds": (t1 - t0) as f64 / 1e6,
        "loadgen_cpu_seconds": usage1.total() - usage0.total(),
        "server_before": before,
        "server_after": after,
        "trigger": trigger_result,
    })
}

fn trigger_body(cfg: &Config) -> String {
    json!({
        "category": cfg.category,
        "prefix": cfg.prefix,
        "channels": cfg.channels,
        "count": cfg.count,
        "size": cfg.size,
        "intervalMs": cfg.interval_ms,
    })
    .to_string()
}

/// Idle: settle, then sample the server's memory for `hold_secs` (a full GC at both ends).
async fn hold(cfg: &Rc<Config>, shared: &Rc<RefCell<Shared>>, baseline: Value) -> Value {
    let (host, port) = (cfg.host, cfg.control_port);
    let limit = Duration::from_secs(60);
    tokio::time::sleep(Duration::from_millis(cfg.settle_ms)).await;
    let start = control::stats(host, port, true, limit).await;
    let t0 = mono_us();
    let mut samples = vec![sample(&start, 0.0, shared)];
    let end_at = t0 + (cfg.hold_secs * 1e6) as u64;
    while mono_us() < end_at {
        let wait = (end_at - mono_us()).min(cfg.sample_ms * 1000);
        tokio::time::sleep(Duration::from_micros(wait)).await;
        let s = control::stats(host, port, false, limit).await;
        samples.push(sample(&s, (mono_us() - t0) as f64 / 1e6, shared));
    }
    let end = control::stats(host, port, true, limit).await;
    samples.push(sample(&end, (mono_us() - t0) as f64 / 1e6, shared));
    let sh = shared.borrow();
    json!({
        "held": sh.joined - sh.closed,
        "hold_seconds": (mono_us() - t0) as f64 / 1e6,
        "baseline": baseline,
        "start": start,
        "end": end,
        "samples": samples,
    })
}

fn sample(stats: &Value, t: f64, shared: &Rc<RefCell<Shared>>) -> Value {
    let sh = shared.borrow();
    json!({ "t": t, "rss": stats["rss"], "cpu_us": stats["cpuUs"], "open": sh.joined - sh.closed })
}

/// p50/p90/p99/p99.9/max/mean of sorted µs samples, in ms.
fn percentiles_ms(sorted: &[u32]) -> Value {
    if sorted.is_empty() {
        return json!({ "n": 0 });
    }
    let at = |q: f64| {
        let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
        sorted[rank - 1] as f64 / 1e3
    };
    let mean = sorted.iter().map(|&v| v as f64).sum::<f64>() / sorted.len() as f64 / 1e3;
    json!({
        "n": sorted.len(),
        "p50": at(0.50),
        "p90": at(0.90),
        "p99": at(0.99),
        "p999": at(0.999),
        "max": *sorted.last().unwrap_or(&0) as f64 / 1e3,
        "mean": mean,
    })
}
