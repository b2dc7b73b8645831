//! One call through the library's delivery path: routed by a config,
//! queued in a real SQLite outbox, sent by the real pool until drained.

use std::sync::Arc;

use postcall::call::record::CallRecord;
use postcall::call::tracker::FinishedCall;
use postcall::config::Config;
use postcall::deliver::enqueue_call;
use postcall::deliver::pool::Pool;
use postcall::metrics::Metrics;
use postcall::outbox::{DeliveryRef, Outbox, OutboxSettings, Stats};
use postcall::route::Router;
use tokio_util::sync::CancellationToken;

use super::config::{self as conf, App, Service};

/// What a drained run left: the outbox (its directory kept alive), the
/// rows queued and the final figures.
pub struct Drained {
    pub outbox: Outbox,
    pub refs: Vec<DeliveryRef>,
    pub stats: Stats,
    _dir: tempfile::TempDir,
}

/// `app` taking every call, with one REST service `crm` posting to `url`.
pub fn one_service_config(app: App, url: &str) -> Config {
    conf::Config::new()
        .app(app.match_any().service(Service::rest("crm", url)))
        .parse()
}

/// A fresh outbox in a temporary directory (kept alive with it) holding the
/// deliveries `config`'s router makes of `records`, in order.
pub async fn queue(
    config: &Config,
    records: impl IntoIterator<Item = CallRecord>,
) -> (tempfile::TempDir, Outbox, Vec<DeliveryRef>) {
    let dir = tempfile::tempdir().unwrap();
    let outbox = Outbox::open(&dir.path().join("q.sqlite3"), OutboxSettings::default())
        .await
        .unwrap();
    let router = Router::from_config(&config.applications).unwrap();
    let mut refs = Vec::new();
    for record in records {
        let queued = enqueue_call(
            &outbox,
            &router,
            &FinishedCall {
                raw_variables: Default::default(),
                record,
            },
        )
        .await
        .unwrap();
        refs.extend(queued);
    }
    (dir, outbox, refs)
}

/// Queues `record` under `config`, runs the pool (counting into
/// `metrics`, if given) until nothing is pending or leased.
pub async fn deliver_until_drained(
    config: &Config,
    record: CallRecord,
    metrics: Option<Arc<Metrics>>,
) -> Drained {
    let (dir, outbox, refs) = queue(config, [record]).await;
    let (pool, _) = Pool::from_config(outbox.clone(), config);
    if let Some(m) = metrics {
        pool.set_metrics(m);
    }
    let stats = pool
        .run_until_drained(CancellationToken::new())
        .await
        .unwrap();
    Drained {
        outbox,
        refs,
        stats,
        _dir: dir,
    }
}
