//! The Prometheus text format (0.0.4) and the plain stats object of a [`Metrics`].

use std::{fmt::Write, sync::atomic::Ordering};

use serde_json::{json, Map, Value};

use super::{
    process, Hook, JoinResult, Metrics, RecoveryResult, Transport, REASONS, UNKNOWN_CATEGORY,
};

/// Prefix of every metric of this server.
const PREFIX: &str = "modelence_ws_";

/// Figures read from the server at scrape time.
#[derive(Debug, Default, Clone, Copy)]
pub struct Snapshot {
    /// Channels with at least one local member.
    pub channels: usize,
    /// Other instances heard from recently.
    pub cluster_peers: usize,
    /// The adapter's connections work (always so for a single instance).
    pub adapter_up: bool,
    /// Messages waiting in the adapter to be published.
    pub adapter_queue: usize,
    /// Broadcasts kept for connection state recovery, and their bytes (data plus overhead).
    pub history: (usize, usize),
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {PREFIX}{name} {help}\n# TYPE {PREFIX}{name} {kind}");
}

fn escape(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

impl Metrics {
    /// Every category with its counters, registered ones first, then `unknown`.
    fn each_category(&self) -> impl Iterator<Item = (&str, &super::CategoryCounters)> {
        let mut named: Vec<_> = self.categories.iter().map(|(k, v)| (&**k, v)).collect();
        named.sort_by_key(|(k, _)| *k);
        named.into_iter().chain(std::iter::once((UNKNOWN_CATEGORY, &self.unknown)))
    }

    /// The metrics in the Prometheus text format, version 0.0.4.
    pub fn render(&self, snapshot: Snapshot) -> String {
        let mut out = String::with_capacity(8 * 1024);
        let load = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);

        header(&mut out, "connections", "gauge", "Connected sockets, by transport.");
        for transport in Transport::ALL {
            let n = self.connections[transport as usize].load(Ordering::Relaxed).max(0);
            let _ = writeln!(out, "{PREFIX}connections{{transport=\"{}\"}} {n}", transport.label());
        }
        header(&mut out, "connections_total", "counter", "Sockets connected since start.");
        let _ = writeln!(out, "{PREFIX}connections_total {}", load(&self.connections_total));
        header(&mut out, "disconnects_total", "counter", "Disconnections, by reason.");
        for (reason, counter) in REASONS.iter().zip(&self.disconnects) {
            let _ =
                writeln!(out, "{PREFIX}disconnects_total{{reason=\"{reason}\"}} {}", load(counter));
        }
        header(&mut out, "channels", "gauge", "Channels with at least one local member.");
        let _ = writeln!(out, "{PREFIX}channels {}", snapshot.channels);

        header(&mut out, "joins_total", "counter", "joinChannel requests, by category and result.");
        for (category, counters) in self.each_category() {
            for result in JoinResult::ALL {
                let n = load(&counters.joins[result as usize]);
                let (c, r) = (escape(category), result.label());
                let _ = writeln!(out, "{PREFIX}joins_total{{category=\"{c}\",result=\"{r}\"}} {n}");
            }
        }
        for (name, help, pick) in [
            ("leaves_total", "leaveChannel requests, by category.", 0),
            ("broadcasts_total", "Broadcasts delivered locally, by category.", 1),
            ("deliveries_total", "Messages delivered to local members, by category.", 2),
        ] {
            header(&mut out, name, "counter", help);
            for (category, counters) in self.each_category() {
                let counter = [&counters.leaves, &counters.broadcasts, &counters.deliveries][pick];
                let _ = writeln!(
                    out,
                    "{PREFIX}{name}{{category=\"{}\"}} {}",
                    escape(category),
                    load(counter)
                );
            }
        }
        for (name, help, counter) in [
            ("bytes_sent_total", "Bytes written to clients.", &self.bytes_sent),
            ("bytes_received_total", "Bytes read from clients.", &self.bytes_received),
            ("messages_received_total", "Client events received.", &self.messages_received),
            (
                "slow_consumer_disconnects_total",
                "Clients cut off because their send queue was full.",
                &self.slow_consumers,
            ),
            (
                "adapter_published_total",
                "Messages handed to the adapter for other instances.",
                &self.adapter_published,
            ),
            (
                "adapter_received_total",
                "Messages received from other instances.",
                &self.adapter_received,
            ),
        ] {
            header(&mut out, name, "counter", help);
            let _ = writeln!(out, "{PREFIX}{name} {}", load(counter));
        }
        header(&mut out, "dropped_total", "counter", "Messages dropped, by reason.");
        let _ = writeln!(
            out,
            "{PREFIX}dropped_total{{reason=\"overloaded\"}} {}",
            load(&self.dropped_overloaded)
        );
        header(&mut out, "hook_duration_seconds", "histogram", "Duration of app hook calls.");
        for hook in Hook::ALL {
            let labels = format!("hook=\"{}\"", hook.label());
            let name = format!("{PREFIX}hook_duration_seconds");
            self.hook_durations[hook as usize].render(&mut out, &name, &labels);
        }
        header(&mut out, "hook_timeouts_total", "counter", "App hook calls that timed out.");
        for hook in Hook::ALL {
            let n = load(&self.hook_timeouts[hook as usize]);
            let _ = writeln!(out, "{PREFIX}hook_timeouts_total{{hook=\"{}\"}} {n}", hook.label());
        }
        header(
            &mut out,
            "recoveries_total",
            "counter",
            "Connection recoveries asked for, by result.",
        );
        for result in RecoveryResult::ALL {
            let n = load(&self.recoveries[result as usize]);
            let _ = writeln!(out, "{PREFIX}recoveries_total{{result=\"{}\"}} {n}", result.label());
        }
        header(
            &mut out,
            "recovery_replayed_total",
            "counter",
            "Broadcasts replayed to recovered sessions.",
        );
        let _ = writeln!(out, "{PREFIX}recovery_replayed_total {}", load(&self.replayed));
        let (kept, bytes) = snapshot.history;
        header(&mut out, "recovery_history_messages", "gauge", "Broadcasts kept for recovery.");
        let _ = writeln!(out, "{PREFIX}recovery_history_messages {kept}");
        header(
            &mut out,
            "recovery_history_bytes",
            "gauge",
            "Bytes of broadcasts kept for recovery (data plus per-message overhead).",
        );
        let _ = writeln!(out, "{PREFIX}recovery_history_bytes {bytes}");
        header(&mut out, "cluster_peers", "gauge", "Other instances heard from recently.");
        let _ = writeln!(out, "{PREFIX}cluster_peers {}", snapshot.cluster_peers);
        header(&mut out, "adapter_up", "gauge", "1 while the adapter reaches its backend.");
        let _ = writeln!(out, "{PREFIX}adapter_up {}", u8::from(snapshot.adapter_up));
        header(&mut out, "adapter_queue", "gauge", "Messages waiting to be published.");
        let _ = writeln!(out, "{PREFIX}adapter_queue {}", snapshot.adapter_queue);
        header(
            &mut out,
            "adapter_lag_seconds",
            "histogram",
            "Time from publish on another instance to receipt here.",
        );
        self.adapter_lag.render(&mut out, &format!("{PREFIX}adapter_lag_seconds"), "");
        process::render(&mut out);
        out
    }

    /// The main figures as a plain object (`server.stats()`).
    pub fn stats(&self, snapshot: Snapshot) -> Value {
        let load = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);
        let gauge = |t: Transport| self.connections[t as usize].load(Ordering::Relaxed).max(0);
        let mut categories = Map::new();
        for (category, counters) in self.each_category() {
            let joins: Map<String, Value> = JoinResult::ALL
                .iter()
                .map(|r| (r.label().to_owned(), load(&counters.joins[*r as usize]).into()))
                .collect();
            categories.insert(
                category.to_owned(),
                json!({
                    "joins": joins,
                    "leaves": load(&counters.leaves),
                    "broadcasts": load(&counters.broadcasts),
                    "deliveries": load(&counters.deliveries),
                }),
            );
        }
        json!({
            "connections": {
                "websocket": gauge(Transport::Websocket),
                "polling": gauge(Transport::Polling),
            },
            "connectionsTotal": load(&self.connections_total),
            "channels": snapshot.channels,
            "categories": categories,
            "bytesSent": load(&self.bytes_sent),
            "bytesReceived": load(&self.bytes_received),
            "messagesReceived": load(&self.messages_received),
            "slowConsumerDisconnects": load(&self.slow_consumers),
            "hookTimeouts": Hook::ALL
                .iter()
                .map(|h| (h.label().to_owned(), load(&self.hook_timeouts[*h as usize]).into()))
                .collect::<Map<String, Value>>(),
            "clusterPeers": snapshot.cluster_peers,
            "adapter": { "up": snapshot.adapter_up, "queued": snapshot.adapter_queue },
            "recoveries": RecoveryResult::ALL
                .iter()
                .map(|r| (r.label().to_owned(), load(&self.recoveries[*r as usize]).into()))
                .collect::<Map<String, Value>>(),
            "replayed": load(&self.replayed),
            "history": { "messages": snapshot.history.0, "bytes": snapshot.history.1 },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Metrics;
    use std::{sync::Arc, time::Duration};

    #[test]
    fn renders_labelled_counters_and_keeps_ids_out() {
        let metrics = Arc::new(Metrics::new(["chat"]));
        let gauge = metrics.connected(Transport::Websocket);
        metrics.join(Some("chat"), JoinResult::Ok);
        metrics.join(Some("nosuch"), JoinResult::Denied);
        metrics.broadcast("chat");
        metrics.delivered("chat", 3);
        metrics.hook(Hook::AccessCheck, Duration::from_millis(2), false);
        let text = metrics.render(Snapshot { channels: 1, ..Snapshot::default() });
        assert!(text.contains("modelence_ws_connections{transport=\"websocket\"} 1\n"));
        assert!(text.contains("modelence_ws_joins_total{category=\"chat\",result=\"ok\"} 1\n"));
        assert!(
            text.contains("modelence_ws_joins_total{category=\"unknown\",result=\"denied\"} 1\n")
        );
        assert!(text.contains("modelence_ws_deliveries_total{category=\"chat\"} 3\n"));
        assert!(
            text.contains("modelence_ws_hook_duration_seconds_count{hook=\"access_check\"} 1\n")
        );
        assert!(!text.contains("nosuch"));
        drop(gauge);
        let stats = metrics.stats(Snapshot::default());
        assert_eq!(stats["connections"]["websocket"], 0);
        assert_eq!(stats["categories"]["chat"]["deliveries"], 3);
    }
}
