//! [`Outbox`], the handle the daemon and the CLI hold: it opens the
//! database, starts the writer thread and routes each call to the writer
//! (writes) or the read-only connection (reads).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use rusqlite::Connection;
use tokio::sync::{mpsc, Notify, Semaphore};

use super::claims::{Claimed, Claims, Fresh, Handoff};
use super::error::OutboxError;
use super::model::{
    AttemptReport, Clock, DeliveryDetail, DeliveryRef, DeliverySummary, DisabledService, Enabled,
    Leased, NewCall, NewDelivery, Reconciled, RetriedDead, Stats,
};
use super::schema::{Pragmas, Synchronous};
use super::status::Status;
use super::writer::{self, WriteCtx, Writer, WriterConfig};
use super::{queries, views};

type Result<T> = std::result::Result<T, OutboxError>;

/// How the outbox opens its database.
#[derive(Debug, Clone)]
pub struct OutboxSettings {
    /// FULL (default) fsyncs every commit; NORMAL trades the last commits on
    /// power loss for speed.
    pub synchronous: Synchronous,
    /// How long a statement waits for another process's lock.
    pub busy_timeout: Duration,
    /// Most commands committed in one transaction.
    pub max_batch: usize,
    pub clock: Clock,
}

impl Default for OutboxSettings {
    fn default() -> Self {
        OutboxSettings {
            synchronous: Synchronous::Full,
            busy_timeout: Duration::from_secs(5),
            max_batch: 512,
            clock: Clock::system(),
        }
    }
}

/// A handle to the queue; clone it freely. The writer thread stops when the
/// last clone is dropped or [`Outbox::close`] is called.
#[derive(Clone)]
pub struct Outbox {
    inner: Arc<Inner>,
}

struct Inner {
    writer: Writer,
    /// None for an in-memory database: reads then run in the writer thread.
    reader: Option<Arc<Mutex<Option<Connection>>>>,
    notify: Arc<Notify>,
    commits: Arc<AtomicU64>,
    claims: Claims,
    handoff: Mutex<Option<Arc<Handoff>>>,
    pragmas: Pragmas,
    clock: Clock,
    path: PathBuf,
}

impl std::fmt::Debug for Outbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbox")
            .field("path", &self.inner.path)
            .field("pragmas", &self.inner.pragmas)
            .finish_non_exhaustive()
    }
}

impl Outbox {
    /// Opens (creating if needed) the queue at `path` (`:memory:` for a
    /// private in-memory database), migrates it, sets the pragmas and logs
    /// them as read back.
    pub async fn open(path: &Path, settings: OutboxSettings) -> Result<Outbox> {
        let in_memory = path == Path::new(":memory:");
        let notify = Arc::new(Notify::new());
        let commits = Arc::new(AtomicU64::new(0));
        let (writer, pragmas) = Writer::start(WriterConfig {
            path: path.to_path_buf(),
            in_memory,
            synchronous: settings.synchronous,
            busy_timeout: settings.busy_timeout,
            max_batch: settings.max_batch.max(1),
            clock: settings.clock.clone(),
            notify: notify.clone(),
            commits: commits.clone(),
        })
        .await?;
        let reader = if in_memory {
            None
        } else {
            let (path, timeout) = (path.to_path_buf(), settings.busy_timeout);
            let conn = tokio::task::spawn_blocking(move || writer::open_reader(&path, timeout))
                .await
                .map_err(|_| OutboxError::Closed)??;
            Some(Arc::new(Mutex::new(Some(conn))))
        };
        tracing::info!(
            path = %path.display(),
            journal_mode = %pragmas.journal_mode,
            synchronous = pragmas.synchronous,
            foreign_keys = pragmas.foreign_keys,
            secure_delete = pragmas.secure_delete,
            busy_timeout_ms = pragmas.busy_timeout_ms,
            "queue database open"
        );
        Ok(Outbox {
            inner: Arc::new(Inner {
                writer,
                reader,
                notify,
                commits,
                claims: Claims::default(),
                handoff: Mutex::new(None),
                pragmas,
                clock: settings.clock,
                path: path.to_path_buf(),
            }),
        })
    }

    /// The pragmas as read back at open.
    pub fn pragmas(&self) -> &Pragmas {
        &self.inner.pragmas
    }

    /// Transactions that changed rows committed by this handle's writer so
    /// far (each one fsync with `synchronous=FULL`; one that changed
    /// nothing, like an idle lease, writes nothing and is not counted).
    pub fn commit_count(&self) -> u64 {
        self.inner.commits.load(Ordering::Relaxed)
    }

    pub fn clock(&self) -> &Clock {
        &self.inner.clock
    }

    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Runs `f` in the writer thread, inside its next transaction.
    pub(super) async fn write<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut WriteCtx<'_>) -> Result<T> + Send + 'static,
    {
        self.inner.writer.call(f).await
    }

    pub(super) async fn read<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        match &self.inner.reader {
            Some(conn) => {
                let conn = conn.clone();
                tokio::task::spawn_blocking(move || {
                    let conn = conn.lock().unwrap_or_else(|e| e.into_inner());
                    f(conn.as_ref().ok_or(OutboxError::Closed)?)
                })
                .await
                .map_err(|_| OutboxError::Closed)?
            }
            None => self.inner.writer.call(move |ctx| f(ctx.conn)).await,
        }
    }

    // -- the daemon's side -------------------------------------------------

    /// Stores a call and one delivery per (application, service), durably
    /// committed before it returns. Enqueuing an `event_id` again returns
    /// the rows it already has for each service instead of adding new ones.
    ///
    /// While a dispatcher listens ([`Outbox::hand_off`]) and has a worker
    /// free, the same transaction leases the new row, which then goes to
    /// the dispatcher from memory: one commit before the first attempt.
    pub async fn enqueue(
        &self,
        call: NewCall,
        deliveries: Vec<NewDelivery>,
    ) -> Result<Vec<DeliveryRef>> {
        let handoff = self
            .inner
            .handoff
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .filter(|h| !h.tx.is_closed());
        let claims = self.inner.claims.clone();
        let to = handoff.clone();
        let (refs, fresh) = self
            .inner
            .writer
            .call(move |ctx| {
                let handoff = to.as_deref().map(|h| (h, &claims));
                queries::enqueue(ctx, &call, &deliveries, handoff)
            })
            .await?;
        if let Some(handoff) = handoff {
            for row in fresh {
                // The dispatcher stopped in between: the row stays leased
                // and is taken again when its lease expires.
                let _ = handoff.tx.send(row);
            }
        }
        Ok(refs)
    }

    /// Asks enqueue to lease each new row for `lease_for` in the commit
    /// that stores it, whenever one of `workers`' permits is free, and to
    /// send it here with that permit. Replaces an earlier dispatcher;
    /// dropping the receiver ends the hand-off.
    pub fn hand_off(
        &self,
        workers: Arc<Semaphore>,
        lease_for: Duration,
    ) -> mpsc::UnboundedReceiver<Fresh> {
        let (tx, rx) = mpsc::unbounded_channel();
        *self.inner.handoff.lock().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(Handoff {
            workers,
            lease_for,
            tx,
        }));
        rx
    }

    /// Resolves when rows became due now (an enqueue, a release, a retry)
    /// since the last call. Meant for one dispatcher; combine it with
    /// [`Outbox::next_due_at`] for rows due later.
    pub async fn wait_for_work(&self) {
        self.inner.notify.notified().await
    }

    /// When `lease` will next find a row (may be past: rows are due now).
    pub async fn next_due_at(&self) -> Result<Option<DateTime<Utc>>> {
        self.read(views::next_due_at).await
    }

    /// Leases up to `max` due rows for `lease_for`; a row whose lease expires
    /// without a result is leased again (unless a worker of this process
    /// holds it, see [`Outbox::claim`]). Rows of disabled services are held.
    pub async fn lease(&self, max: usize, lease_for: Duration) -> Result<Vec<Leased>> {
        Ok(self
            .claim(max, lease_for)
            .await?
            .into_iter()
            .map(|c| c.row)
            .collect())
    }

    /// [`Outbox::lease`] for a worker that keeps each row in memory until
    /// its attempt is reported: while a [`Claimed`] lives, this process
    /// does not lease its row again, even past the lease's end (a renewal
    /// stuck behind a busy writer cannot cause a second send).
    pub async fn claim(&self, max: usize, lease_for: Duration) -> Result<Vec<Claimed>> {
        let claims = self.inner.claims.clone();
        self.inner
            .writer
            .call(move |ctx| queries::lease(ctx, max, lease_for, &claims))
            .await
    }

    /// Gives back a claimed row that was never attempted (the dispatcher
    /// stopped first): it is due again at once, its attempt not counted.
    pub async fn unlease(&self, row: Claimed) -> Result<bool> {
        let (id, attempt) = (row.row.id, row.row.attempt);
        let released = self
            .inner
            .writer
            .call(move |ctx| queries::unlease(ctx, id, attempt))
            .await;
        drop(row);
        released
    }

    /// Marks a delivery private (its service became private after it was
    /// queued), so its stored payload is deleted when it ends.
    pub async fn mark_private(&self, id: i64) -> Result<()> {
        self.inner
            .writer
            .call(move |ctx| queries::mark_private(ctx, id))
            .await
    }

    /// Keeps a row leased for another `lease_for` while its attempt waits for
    /// a rate limit or a slow receiver, so it is not leased a second time.
    /// False when the lease was already lost.
    pub async fn renew_lease(&self, id: i64, attempt: u32, lease_for: Duration) -> Result<bool> {
        self.inner
            .writer
            .call(move |ctx| queries::renew_lease(ctx, id, attempt, lease_for))
            .await
    }

    /// Records the attempt and moves the row to the status the result names
    /// (returned). Fails with `NotLeased` if the row's lease was lost.
    pub async fn finish_attempt(&self, id: i64, report: AttemptReport) -> Result<Status> {
        self.inner
            .writer
            .call(move |ctx| queries::finish_attempt(ctx, id, &report))
            .await
    }

    /// [`Outbox::finish_attempt`], and in the same commit leases up to
    /// `next` due rows (claimed, as [`Outbox::claim`] does) for the worker
    /// the finished attempt frees: a worker going through a backlog costs
    /// one commit per row, not a result commit and then a lease commit.
    /// A failed lease leaves the result recorded and leases nothing.
    pub async fn finish_and_claim(
        &self,
        id: i64,
        report: AttemptReport,
        next: usize,
        lease_for: Duration,
    ) -> Result<(Result<Status>, Vec<Claimed>)> {
        let claims = self.inner.claims.clone();
        self.inner
            .writer
            .call_in_parts(move |ctx| {
                let finished =
                    writer::in_savepoint(ctx, |ctx| queries::finish_attempt(ctx, id, &report));
                let leased = match next {
                    0 => Vec::new(),
                    // No savepoint: a lease cut short leaves rows leased
                    // that nobody claims, which their leases' end gives back.
                    _ => queries::lease(ctx, next, lease_for, &claims).unwrap_or_else(|e| {
                        tracing::debug!(error = %e, "cannot lease with a result; the pool leases instead");
                        Vec::new()
                    }),
                };
                Ok((finished, leased))
            })
            .await
    }

    /// At start, against the configured service names: rows of vanished
    /// services become orphaned, orphaned rows of services back in the
    /// config become pending.
    pub async fn reconcile_services(&self, known: &[String]) -> Result<Reconciled> {
        let known = known.to_vec();
        self.inner
            .writer
            .call(move |ctx| queries::reconcile_services(ctx, &known))
            .await
    }

    /// Held rows of `services` become due now, except a 410's (those wait
    /// for `enable_service`); returns how many.
    pub async fn release_held(&self, services: &[String]) -> Result<u64> {
        let services = services.to_vec();
        self.inner
            .writer
            .call(move |ctx| queries::release_held(ctx, &services))
            .await
    }

    /// Deletes delivered rows finished before `older_than`, with their
    /// attempts and calls nothing refers to any more.
    pub async fn sweep_retention(&self, older_than: DateTime<Utc>) -> Result<u64> {
        self.inner
            .writer
            .call(move |ctx| queries::sweep_retention(ctx, older_than))
            .await
    }

    // -- the operator's side -----------------------------------------------

    /// Re-enables a service a 410 disabled; its held rows become due now.
    pub async fn enable_service(&self, name: &str) -> Result<Enabled> {
        let name = name.to_string();
        self.inner
            .writer
            .call(move |ctx| queries::enable_service(ctx, &name))
            .await
    }

    pub async fn disabled_services(&self) -> Result<Vec<DisabledService>> {
        self.read(views::disabled_services).await
    }

    /// Makes a dead, orphaned, held or pending row due now. A dead private
    /// row has no payload left: `PrivatePayloadDeleted`.
    pub async fn retry(&self, id: i64) -> Result<()> {
        self.inner
            .writer
            .call(move |ctx| queries::retry(ctx, id))
            .await
    }

    /// Retries every dead row that still has its payload.
    pub async fn retry_dead(&self) -> Result<RetriedDead> {
        self.inner.writer.call(queries::retry_dead).await
    }

    /// Deletes dead rows and their attempts; returns how many.
    pub async fn purge_dead(&self) -> Result<u64> {
        self.inner.writer.call(queries::purge_dead).await
    }

    pub async fn stats(&self) -> Result<Stats> {
        self.read(views::stats).await
    }

    /// The newest `limit` rows, optionally of one status.
    pub async fn list(&self, status: Option<Status>, limit: usize) -> Result<Vec<DeliverySummary>> {
        self.read(move |conn| views::list(conn, status, limit))
            .await
    }

    /// One row with its attempt log; `NotFound` if there is none.
    pub async fn show(&self, id: i64) -> Result<DeliveryDetail> {
        self.read(move |conn| views::show(conn, id)).await
    }

    /// Stops the writer after its current batch, checkpoints the WAL and
    /// closes the database. Other clones then fail with `Closed`.
    pub async fn close(&self) {
        self.inner.writer.stop().await;
        if let Some(reader) = &self.inner.reader {
            let reader = reader.clone();
            let _ = tokio::task::spawn_blocking(move || {
                reader.lock().unwrap_or_else(|e| e.into_inner()).take()
            })
            .await;
        }
    }
}
