//! The server's metrics: figures read at scrape time, the Prometheus text, the stats object,
//! and the standalone `GET <metricsPath>` answer.

use std::{collections::HashSet, sync::Arc};

use serde_json::Value;
use tokio::{io::AsyncWriteExt, net::TcpStream};

use crate::{
    cluster::ClusterLink,
    engine::Engine,
    metrics::{Metrics, Snapshot},
    presence::Presence,
    recovery::Recovery,
    server::Server,
};

/// What answering a metrics request needs, detached from the server's lifetime.
pub(super) struct MetricsSource {
    metrics: Arc<Metrics>,
    engines: Vec<Arc<dyn Engine>>,
    presence: Arc<Presence>,
    link: Arc<ClusterLink>,
    recovery: Option<Arc<Recovery>>,
}

impl MetricsSource {
    async fn snapshot(&self) -> Snapshot {
        let mut rooms = HashSet::new();
        for engine in &self.engines {
            rooms.extend(engine.room_names().await);
        }
        let adapter = self.link.status();
        Snapshot {
            channels: rooms.len(),
            cluster_peers: self.presence.live_peers().len(),
            adapter_up: adapter.up,
            adapter_queue: adapter.queued,
            history: self.recovery.as_ref().map_or((0, 0), |r| r.history.size()),
        }
    }

    /// Answers one HTTP request with the metrics (`head_only`: the head of that answer),
    /// then closes the connection.
    pub(super) async fn answer_metrics(self, mut stream: TcpStream, head_only: bool) {
        let body = self.metrics.render(self.snapshot().await);
        let head = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n\
             Content-Length: {}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n",
            body.len()
        );
        if stream.write_all(head.as_bytes()).await.is_ok() && !head_only {
            let _ = stream.write_all(body.as_bytes()).await;
        }
        let _ = stream.shutdown().await;
    }
}

impl Server {
    pub(super) fn metrics_server(&self) -> MetricsSource {
        MetricsSource {
            metrics: self.shared.metrics.clone(),
            engines: self.engines.clone(),
            presence: self.presence.clone(),
            link: self.link.clone(),
            recovery: self.shared.recovery.clone(),
        }
    }

    /// Whether a standalone request head asks for the metrics (`GET`/`HEAD <metrics path>`;
    /// only a connection's first request is routed here).
    pub(super) fn is_metrics_request(&self, head: &[u8]) -> bool {
        let Some(path) = &self.config().metrics_path else { return false };
        let line = head.split(|&b| b == b'\r').next().unwrap_or_default();
        let mut parts = line.split(|&b| b == b' ');
        let (Some(b"GET" | b"HEAD"), Some(target)) = (parts.next(), parts.next()) else {
            return false;
        };
        let target = target.split(|&b| b == b'?').next().unwrap_or_default();
        target == path.as_bytes()
    }

    /// The metrics in the Prometheus text format (version 0.0.4).
    pub async fn metrics_text(&self) -> String {
        let source = self.metrics_server();
        source.metrics.render(source.snapshot().await)
    }

    /// The main figures as a plain object.
    pub async fn stats(&self) -> Value {
        let source = self.metrics_server();
        source.metrics.stats(source.snapshot().await)
    }

    /// The server's counters.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.shared.metrics
    }
}
