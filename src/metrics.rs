//! What admins watch: Prometheus counters and gauges, and the health verdict
//! behind `/metrics` and `/healthz` (served by [`crate::ops::http`]).
//!
//! The daemon's loops update a shared [`Metrics`]; nothing here reads a
//! socket or the queue itself.

use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::Mutex;
use std::time::Duration;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SwitchLabel {
    switch: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CallLabels {
    switch: String,
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ServiceLabel {
    service: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ServiceResultLabels {
    service: String,
    result: String,
}

/// The daemon's metrics and health facts.
pub struct Metrics {
    registry: Registry,
    events: Family<SwitchLabel, Counter>,
    connected: Family<SwitchLabel, Gauge>,
    reconnects: Family<SwitchLabel, Counter>,
    calls: Family<CallLabels, Counter>,
    attempts: Family<ServiceResultLabels, Counter>,
    deliveries: Family<ServiceResultLabels, Counter>,
    dead: Family<ServiceLabel, Counter>,
    dead_total: AtomicU64,
    attempt_seconds: Histogram,
    queue_depth: Gauge,
    oldest_pending_seconds: Gauge<f64, AtomicU64>,
    queue_writable: AtomicBool,
    switches: Mutex<BTreeMap<String, bool>>,
}

/// The `/healthz` answer.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Health {
    /// `ok` when every switch is connected and the queue is writable.
    pub status: &'static str,
    /// Connection state per switch name.
    pub switches: BTreeMap<String, bool>,
    pub queue_writable: bool,
    pub queue_depth: i64,
    pub oldest_pending_seconds: f64,
    /// Deliveries that went dead since the daemon started (detail only: the
    /// status does not depend on it).
    pub deliveries_dead: u64,
}

impl Health {
    pub fn is_ok(&self) -> bool {
        self.status == "ok"
    }
}

impl Metrics {
    /// Fresh metrics for the named switches (all disconnected).
    pub fn new<S: AsRef<str>>(switches: &[S]) -> Metrics {
        let mut registry = Registry::with_prefix("postcall");
        let events = Family::<SwitchLabel, Counter>::default();
        let connected = Family::<SwitchLabel, Gauge>::default();
        let reconnects = Family::<SwitchLabel, Counter>::default();
        let calls = Family::<CallLabels, Counter>::default();
        let attempts = Family::<ServiceResultLabels, Counter>::default();
        let deliveries = Family::<ServiceResultLabels, Counter>::default();
        let dead = Family::<ServiceLabel, Counter>::default();
        let attempt_seconds = Histogram::new([
            0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
        ]);
        let queue_depth = Gauge::default();
        let oldest_pending_seconds = Gauge::<f64, AtomicU64>::default();
        registry.register(
            "switch_events",
            "Events read from the switch",
            events.clone(),
        );
        registry.register(
            "switch_connected",
            "1 while the switch session is authenticated and subscribed",
            connected.clone(),
        );
        registry.register(
            "switch_reconnects",
            "Switch connections lost or refused",
            reconnects.clone(),
        );
        registry.register("calls_finished", "Calls finished, by status", calls.clone());
        registry.register(
            "delivery_attempts",
            "Delivery attempts, by service and result (delivered, retry, dead, disabled, orphaned, held)",
            attempts.clone(),
        );
        registry.register(
            "deliveries",
            "Deliveries that ended, by service and result (delivered, dead)",
            deliveries.clone(),
        );
        registry.register(
            "deliveries_dead",
            "Deliveries that went dead (no more attempts), by service",
            dead.clone(),
        );
        registry.register(
            "delivery_attempt_seconds",
            "Latency of delivery attempts",
            attempt_seconds.clone(),
        );
        registry.register(
            "queue_depth",
            "Deliveries waiting (pending, leased or held)",
            queue_depth.clone(),
        );
        registry.register(
            "queue_oldest_pending_seconds",
            "Age of the oldest waiting delivery",
            oldest_pending_seconds.clone(),
        );
        let mut states = BTreeMap::new();
        for s in switches {
            let label = SwitchLabel {
                switch: s.as_ref().to_string(),
            };
            connected.get_or_create(&label).set(0);
            events.get_or_create(&label).inc_by(0);
            reconnects.get_or_create(&label).inc_by(0);
            states.insert(s.as_ref().to_string(), false);
        }
        Metrics {
            registry,
            events,
            connected,
            reconnects,
            calls,
            attempts,
            deliveries,
            dead,
            dead_total: AtomicU64::new(0),
            attempt_seconds,
            queue_depth,
            oldest_pending_seconds,
            queue_writable: AtomicBool::new(true),
            switches: Mutex::new(states),
        }
    }

    pub fn event_read(&self, switch: &str) {
        self.events.get_or_create(&label(switch)).inc();
    }

    pub fn switch_connected(&self, switch: &str, up: bool) {
        self.connected
            .get_or_create(&label(switch))
            .set(i64::from(up));
        if !up {
            self.reconnects.get_or_create(&label(switch)).inc();
        }
        if let Ok(mut states) = self.switches.lock() {
            states.insert(switch.to_string(), up);
        }
    }

    pub fn call_finished(&self, switch: &str, status: &str) {
        self.calls
            .get_or_create(&CallLabels {
                switch: switch.to_string(),
                status: status.to_string(),
            })
            .inc();
    }

    /// One delivery attempt to `service` ended with `result` (`delivered`,
    /// `retry`, `dead`, `disabled`, `orphaned`, `held`) after `latency`; a
    /// `delivered` or `dead` attempt also ends its delivery.
    pub fn attempt(&self, service: &str, result: &str, latency: Duration) {
        let labels = ServiceResultLabels {
            service: service.to_string(),
            result: result.to_string(),
        };
        self.attempts.get_or_create(&labels).inc();
        if matches!(result, "delivered" | "dead") {
            self.deliveries.get_or_create(&labels).inc();
        }
        self.attempt_seconds.observe(latency.as_secs_f64());
    }

    /// A delivery to `service` went dead.
    pub fn delivery_dead(&self, service: &str) {
        self.dead
            .get_or_create(&ServiceLabel {
                service: service.to_string(),
            })
            .inc();
        self.dead_total
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    /// The queue's depth and the age of its oldest waiting delivery.
    pub fn queue_figures(&self, depth: i64, oldest_pending: Duration) {
        self.queue_depth.set(depth);
        self.oldest_pending_seconds
            .set(oldest_pending.as_secs_f64());
    }

    /// Whether the queue's last write succeeded.
    pub fn queue_writable(&self, writable: bool) {
        self.queue_writable
            .store(writable, std::sync::atomic::Ordering::Relaxed);
    }

    /// Prometheus text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }

    pub fn health(&self) -> Health {
        let switches = self.switches.lock().map(|s| s.clone()).unwrap_or_default();
        let queue_writable = self
            .queue_writable
            .load(std::sync::atomic::Ordering::Relaxed);
        let ok = queue_writable && switches.values().all(|up| *up);
        Health {
            status: if ok { "ok" } else { "degraded" },
            switches,
            queue_writable,
            queue_depth: self.queue_depth.get(),
            oldest_pending_seconds: self.oldest_pending_seconds.get(),
            deliveries_dead: self.dead_total.load(std::sync::atomic::Ordering::Relaxed),
        }
    }
}

fn label(switch: &str) -> SwitchLabel {
    SwitchLabel {
        switch: switch.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_and_gauges_render_in_prometheus_text() {
        let m = Metrics::new(&["pbx1"]);
        m.event_read("pbx1");
        m.event_read("pbx1");
        m.switch_connected("pbx1", true);
        m.call_finished("pbx1", "completed");
        m.attempt("crm", "retry", Duration::from_millis(30));
        m.attempt("crm", "delivered", Duration::from_millis(30));
        m.queue_figures(3, Duration::from_secs(12));
        let text = m.render();
        for line in [
            "postcall_switch_events_total{switch=\"pbx1\"} 2",
            "postcall_switch_connected{switch=\"pbx1\"} 1",
            "postcall_switch_reconnects_total{switch=\"pbx1\"} 0",
            "postcall_calls_finished_total{switch=\"pbx1\",status=\"completed\"} 1",
            "postcall_delivery_attempts_total{service=\"crm\",result=\"retry\"} 1",
            "postcall_delivery_attempts_total{service=\"crm\",result=\"delivered\"} 1",
            "postcall_deliveries_total{service=\"crm\",result=\"delivered\"} 1",
            "postcall_delivery_attempt_seconds_bucket{le=\"0.05\"} 2",
            "postcall_delivery_attempt_seconds_bucket{le=\"0.025\"} 0",
            "postcall_queue_depth 3",
            "postcall_queue_oldest_pending_seconds 12.0",
        ] {
            assert!(text.contains(line), "missing {line:?} in\n{text}");
        }
        assert!(text.ends_with("# EOF\n"));
    }

    #[test]
    fn dead_deliveries_count_per_service_and_in_health_without_changing_status() {
        let m = Metrics::new(&["a"]);
        m.switch_connected("a", true);
        m.delivery_dead("crm");
        m.delivery_dead("crm");
        m.delivery_dead("erp");
        let text = m.render();
        for line in [
            "postcall_deliveries_dead_total{service=\"crm\"} 2",
            "postcall_deliveries_dead_total{service=\"erp\"} 1",
        ] {
            assert!(text.contains(line), "missing {line:?} in\n{text}");
        }
        let h = m.health();
        assert_eq!(h.deliveries_dead, 3);
        assert!(h.is_ok(), "dead deliveries are a detail, not a failure");
    }

    #[test]
    fn health_needs_every_switch_and_a_writable_queue() {
        let m = Metrics::new(&["a", "b"]);
        assert!(!m.health().is_ok(), "nothing connected yet");
        m.switch_connected("a", true);
        m.switch_connected("b", true);
        assert!(m.health().is_ok());
        m.queue_writable(false);
        let h = m.health();
        assert!(!h.is_ok());
        assert!(!h.queue_writable);
        m.queue_writable(true);
        m.switch_connected("b", false);
        let h = m.health();
        assert_eq!(h.status, "degraded");
        assert!(!h.switches["b"]);
        assert!(m
            .render()
            .contains("postcall_switch_reconnects_total{switch=\"b\"} 1"));
    }
}
