//! Command-line options: `loadgen run --key value ...`, every one with a default.

use std::collections::BTreeMap;
use std::net::IpAddr;

/// What the run measures after every client has joined.
#[derive(Clone, Copy, PartialEq, Debug)]
pub enum Mode {
    /// Connect, authenticate and join only: the handshake rate.
    Connect,
    /// Hold the connections and sample the server's memory.
    Idle,
    /// Ask the server for `count` broadcasts per channel back to back.
    Burst,
    /// Ask the server for one broadcast per channel every `interval_ms`, `count` times.
    Paced,
}

/// Every option of a run.
#[derive(Debug)]
pub struct Config {
    pub mode: Mode,
    pub host: IpAddr,
    pub port: u16,
    pub control_port: u16,
    pub path: String,
    pub clients: usize,
    pub channels: usize,
    pub category: String,
    pub prefix: String,
    pub token_prefix: String,
    pub count: u64,
    pub size: usize,
    pub interval_ms: u64,
    pub concurrency: usize,
    pub src_addrs: usize,
    pub hold_secs: f64,
    pub sample_ms: u64,
    pub settle_ms: u64,
    pub idle_timeout_secs: f64,
    pub connect_timeout_secs: f64,
    pub handshake_timeout_secs: f64,
    pub retries: u32,
    pub read_buf: usize,
    pub grace_ms: u64,
    pub label: String,
}

/// Clients per loopback source address when `--src-addrs` is 0.
const CLIENTS_PER_SOURCE_ADDRESS: usize = 10_000;

/// The options, their defaults and meaning, for `--help` and for parsing.
pub const OPTIONS: &[(&str, &str, &str)] = &[
    ("mode", "burst", "connect | idle | burst | paced"),
    ("host", "127.0.0.1", "server address (IPv4 loopback)"),
    ("port", "", "server port (required)"),
    ("control-port", "", "port of the server's /bench control routes (default: --port)"),
    ("path", "/socket.io/", "Engine.IO path"),
    ("clients", "100", "simulated clients, one websocket each"),
    ("channels", "1", "channels; client i joins <category>:<prefix><i % channels>"),
    ("category", "bench", "channel category (the broadcast event name)"),
    ("prefix", "r", "channel id prefix"),
    ("token-prefix", "tok-", "CONNECT auth token is <token-prefix><i>"),
    ("count", "100", "broadcasts per channel (burst, paced)"),
    ("size", "100", "payload bytes per broadcast, as the server builds it"),
    ("interval-ms", "100", "paced: ms between broadcasts"),
    ("concurrency", "256", "handshakes in flight at once"),
    ("src-addrs", "0", "loopback source addresses 127.0.0.1..N (0: one per 10k clients)"),
    ("hold-secs", "5", "idle: how long to hold the connections"),
    ("sample-ms", "1000", "idle: server memory sampling period"),
    ("settle-ms", "1000", "idle: wait after the last join before the first sample"),
    ("idle-timeout-secs", "15", "burst/paced: give up after this long without a delivery"),
    ("connect-timeout-secs", "300", "give up connecting after this long"),
    ("handshake-timeout-secs", "30", "one client's handshake limit (then retry)"),
    ("retries", "3", "handshake retries per client"),
    ("read-buf", "4096", "initial read buffer per connection, bytes"),
    ("grace-ms", "200", "burst/paced: wait after the last expected delivery, for duplicates"),
    ("label", "", "free text copied to the output"),
];

impl Config {
    /// Parses `--key value` pairs.
    pub fn parse(args: &[String]) -> Result<Config, String> {
        let mut given = BTreeMap::new();
        let mut it = args.iter();
        while let Some(arg) = it.next() {
            let key =
                arg.strip_prefix("--").ok_or_else(|| format!("expected --option, got {arg:?}"))?;
            if !OPTIONS.iter().any(|(k, _, _)| *k == key) {
                return Err(format!("unknown option --{key} (see loadgen --help)"));
            }
            let value = it.next().ok_or_else(|| format!("--{key} needs a value"))?;
            given.insert(key.to_string(), value.clone());
        }
        let get = |key: &str| -> String {
            given.get(key).cloned().unwrap_or_else(|| {
                OPTIONS
                    .iter()
                    .find(|(k, _, _)| *k == key)
                    .map(|(_, d, _)| d.to_string())
                    .unwrap_or_default()
            })
        };
        fn num<T: std::str::FromStr>(key: &str, v: String) -> Result<T, String> {
            v.parse().map_err(|_| format!("--{key}: not a valid number: {v:?}"))
        }
        let mode = match get("mode").as_str() {
            "connect" => Mode::Connect,
            "idle" => Mode::Idle,
            "burst" => Mode::Burst,
            "paced" => Mode::Paced,
            other => {
                return Err(format!(
                    "--mode: expected connect, idle, burst or paced, got {other:?}"
                ))
            }
        };
        let port: u16 = num("port", get("port")).map_err(|_| "--port is required".to_string())?;
        let control = get("control-port");
        let clients: usize = num("clients", get("clients"))?;
        let mut src_addrs: usize = num("src-addrs", get("src-addrs"))?;
        if src_addrs == 0 {
            // The kernel's ephemeral-port search in connect() slows sharply once one source
            // address has ~12k connections to the server (measured: the load generator's
            // system time per connection went 63 -> 230 us from 12k to 19k clients), so
            // spread clients before that.
            src_addrs = clients.div_ceil(CLIENTS_PER_SOURCE_ADDRESS).max(1);
        }
        let cfg = Config {
            mode,
            host: get("host").parse().map_err(|_| "--host: not an IP address".to_string())?,
            port,
            control_port: if control.is_empty() { port } else { num("control-port", control)? },
            path: get("path"),
            clients,
            channels: num::<usize>("channels", get("channels"))?.max(1),
            category: get("category"),
            prefix: get("prefix"),
            token_prefix: get("token-prefix"),
            count: num("count", get("count"))?,
            size: num("size", get("size"))?,
            interval_ms: num("interval-ms", get("interval-ms"))?,
            concurrency: num::<usize>("concurrency", get("concurrency"))?.max(1),
            src_addrs: src_addrs.min(250),
            hold_secs: num("hold-secs", get("hold-secs"))?,
            sample_ms: num::<u64>("sample-ms", get("sample-ms"))?.max(10),
            settle_ms: num("settle-ms", get("settle-ms"))?,
            idle_timeout_secs: num("idle-timeout-secs", get("idle-timeout-secs"))?,
            connect_timeout_secs: num("connect-timeout-secs", get("connect-timeout-secs"))?,
            handshake_timeout_secs: num("handshake-timeout-secs", get("handshake-timeout-secs"))?,
            retries: num("retries", get("retries"))?,
            read_buf: num("read-buf", get("read-buf"))?,
            grace_ms: num("grace-ms", get("grace-ms"))?,
            label: get("label"),
        };
        if cfg.category.is_empty() || cfg.category.contains([':', '"', '\\']) {
            return Err("--category must be non-empty, without ':', '\"' or '\\'".into());
        }
        Ok(cfg)
    }

    /// `Host` header value.
    pub fn host_header(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    /// The websocket URL's path and query.
    pub fn path_query(&self) -> String {
        format!("{}?EIO=4&transport=websocket", self.path)
    }

    /// `--help` text.
    pub fn help() -> String {
        let mut s = String::from(
            "loadgen: Engine.IO v4 / Socket.IO v5 websocket load generator (one thread).\n\n\
             usage: loadgen run --port PORT [--option value]...\n\n\
             Every client connects to ws://HOST:PORT<path>?EIO=4&transport=websocket, sends\n\
             CONNECT {\"token\":...}, joins its channel, then counts 42[\"<category>\",{\"t\":µs,\"s\":seq,...}]\n\
             messages. Burst/paced runs trigger the broadcasts with POST /bench/burst or /bench/paced\n\
             on the control port and read server stats from GET /bench/stats. Prints one JSON object.\n\noptions:\n",
        );
        for (key, default, what) in OPTIONS {
            s.push_str(&format!(
                "  --{key:<24} {what}{}\n",
                if default.is_empty() { String::new() } else { format!(" [{default}]") }
            ));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source_addresses(clients: usize) -> usize {
        let args: Vec<String> = ["--port", "1", "--clients", &clients.to_string()]
            .iter()
            .map(|s| s.to_string())
            .collect();
        Config::parse(&args).unwrap().src_addrs
    }

    #[test]
    fn spreads_clients_over_one_source_address_per_ten_thousand() {
        assert_eq!(source_addresses(1), 1);
        assert_eq!(source_addresses(10_000), 1);
        assert_eq!(source_addresses(10_001), 2);
        assert_eq!(source_addresses(100_000), 10);
    }
}
