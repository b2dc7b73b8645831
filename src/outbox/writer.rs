//! The thread that owns the write connection.
//!
//! Every write is a job sent over a channel. The thread takes every job
//! waiting (up to `max_batch`), runs them in one transaction, each inside its
//! own savepoint so a failing job rolls back alone, commits once, and only
//! then answers each caller: many concurrent enqueues cost one fsync, and a
//! caller never hears "done" before its commit is durable.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OpenFlags};
use tokio::sync::{oneshot, Notify};

use super::backoff::{WriteBackoff, WriteState};
use super::error::OutboxError;
use super::model::Clock;
use super::schema::{self, Pragmas, Synchronous};

/// How soon a checkpoint that a reader blocked is tried again.
const CHECKPOINT_RETRY: Duration = Duration::from_millis(100);

/// What a job sees: the connection inside the open transaction, the clock,
/// and flags it raises for the thread to act on after the commit.
pub(crate) struct WriteCtx<'a> {
    pub conn: &'a Connection,
    clock: &'a Clock,
    /// Wake the dispatcher: rows became due now.
    pub wake: bool,
    /// Private payloads were deleted: checkpoint the WAL after the commit.
    pub checkpoint: bool,
}

impl WriteCtx<'_> {
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }
}

trait Job: Send {
    fn run(&mut self, ctx: &mut WriteCtx<'_>);
    /// `commit_error` is None when the batch committed.
    fn complete(self: Box<Self>, commit_error: Option<&str>);
}

struct FnJob<T, F> {
    f: Option<F>,
    /// Run inside a savepoint of its own; without, `f` keeps its own
    /// writes consistent (see [`Writer::call_in_parts`]).
    savepoint: bool,
    out: Option<Result<T, OutboxError>>,
    reply: oneshot::Sender<Result<T, OutboxError>>,
}

impl<T, F> Job for FnJob<T, F>
where
    T: Send,
    F: FnOnce(&mut WriteCtx<'_>) -> Result<T, OutboxError> + Send,
{
    fn run(&mut self, ctx: &mut WriteCtx<'_>) {
        if let Some(f) = self.f.take() {
            self.out = Some(match self.savepoint {
                true => in_savepoint(ctx, f),
                false => f(ctx),
            });
        }
    }

    fn complete(self: Box<Self>, commit_error: Option<&str>) {
        let out = match (commit_error, self.out) {
            (Some(e), _) => Err(OutboxError::Commit(e.to_string())),
            (None, Some(out)) => out,
            (None, None) => Err(OutboxError::Commit("job did not run".into())),
        };
        // The caller may have gone away; its work is committed regardless.
        let _ = self.reply.send(out);
    }
}

/// Runs `f` inside its own savepoint: an error rolls back `f`'s writes
/// alone (a job's, or part of one).
pub(crate) fn in_savepoint<T>(
    ctx: &mut WriteCtx<'_>,
    f: impl FnOnce(&mut WriteCtx<'_>) -> Result<T, OutboxError>,
) -> Result<T, OutboxError> {
    ctx.conn.prepare_cached("SAVEPOINT job")?.execute([])?;
    let out = f(ctx);
    let end = if out.is_ok() {
        "RELEASE job"
    } else {
        "ROLLBACK TO job"
    };
    ctx.conn.prepare_cached(end)?.execute([])?;
    if out.is_err() {
        ctx.conn.prepare_cached("RELEASE job")?.execute([])?;
    }
    out
}

enum Msg {
    Job(Box<dyn Job>),
    Stop(oneshot::Sender<()>),
}

/// Where the writer thread opens its database.
pub(crate) struct WriterConfig {
    pub path: PathBuf,
    pub in_memory: bool,
    pub synchronous: Synchronous,
    pub busy_timeout: Duration,
    pub max_batch: usize,
    pub clock: Clock,
    pub notify: Arc<Notify>,
    /// Committed batches that changed a row so far (the durable commits:
    /// an empty one writes nothing to the WAL, so costs no fsync).
    pub commits: Arc<AtomicU64>,
}

/// The handle to the writer thread.
pub(crate) struct Writer {
    tx: mpsc::Sender<Msg>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Writer {
    /// Starts the thread, which opens the database, migrates it and sets the
    /// pragmas before taking jobs.
    pub async fn start(config: WriterConfig) -> Result<(Writer, Pragmas), OutboxError> {
        let (tx, rx) = mpsc::channel();
        let (ready_tx, ready_rx) = oneshot::channel();
        let thread = std::thread::Builder::new()
            .name("postcall-outbox".into())
            .spawn(move || match open(&config) {
                Ok((conn, pragmas)) => {
                    let _ = ready_tx.send(Ok(pragmas));
                    run(conn, rx, &config);
                }
                Err(e) => {
                    let _ = ready_tx.send(Err(e));
                }
            })
            .map_err(|e| OutboxError::Commit(format!("cannot start the writer thread: {e}")))?;
        let pragmas = ready_rx.await.map_err(|_| OutboxError::Closed)??;
        Ok((
            Writer {
                tx,
                thread: Mutex::new(Some(thread)),
            },
            pragmas,
        ))
    }

    /// Runs `f` in the next batch, inside its own savepoint; resolves once
    /// that batch committed.
    pub async fn call<T, F>(&self, f: F) -> Result<T, OutboxError>
    where
        T: Send + 'static,
        F: FnOnce(&mut WriteCtx<'_>) -> Result<T, OutboxError> + Send + 'static,
    {
        self.send(f, true).await
    }

    /// [`Writer::call`] for a job made of parts that each run in their own
    /// [`in_savepoint`] and never fails between them: one savepoint less
    /// per job (each savepoint copies every page the job then changes).
    pub async fn call_in_parts<T, F>(&self, f: F) -> Result<T, OutboxError>
    where
        T: Send + 'static,
        F: FnOnce(&mut WriteCtx<'_>) -> Result<T, OutboxError> + Send + 'static,
    {
        self.send(f, false).await
    }

    async fn send<T, F>(&self, f: F, savepoint: bool) -> Result<T, OutboxError>
    where
        T: Send + 'static,
        F: FnOnce(&mut WriteCtx<'_>) -> Result<T, OutboxError> + Send + 'static,
    {
        let (reply, rx) = oneshot::channel();
        let job = FnJob {
            f: Some(f),
            savepoint,
            out: None,
            reply,
        };
        self.tx
            .send(Msg::Job(Box::new(job)))
            .map_err(|_| OutboxError::Closed)?;
        rx.await.map_err(|_| OutboxError::Closed)?
    }

    /// Finishes the current batch, checkpoints, closes the connection and
    /// waits for the thread. Jobs sent afterwards fail with `Closed`.
    pub async fn stop(&self) {
        let (reply, rx) = oneshot::channel();
        if self.tx.send(Msg::Stop(reply)).is_ok() {
            let _ = rx.await;
        }
        let thread = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(thread) = thread {
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
    }
}

fn open(config: &WriterConfig) -> Result<(Connection, Pragmas), OutboxError> {
    let open_err = |source| OutboxError::Open {
        path: config.path.clone(),
        source,
    };
    let mut conn = if config.in_memory {
        Connection::open_in_memory().map_err(open_err)?
    } else {
        Connection::open(&config.path).map_err(open_err)?
    };
    conn.set_prepared_statement_cache_capacity(64);
    // The first statements are where a file that is not a database fails:
    // name the file.
    let name_the_file = |e| match e {
        OutboxError::Sqlite(source) => open_err(source),
        other => other,
    };
    let pragmas = schema::apply_pragmas(
        &conn,
        config.synchronous,
        config.busy_timeout,
        config.in_memory,
    )
    .map_err(name_the_file)?;
    schema::migrate(&mut conn).map_err(name_the_file)?;
    Ok((conn, pragmas))
}

/// Opens a read-only connection beside the writer (file databases only).
pub(crate) fn open_reader(path: &Path, busy_timeout: Duration) -> Result<Connection, OutboxError> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|source| OutboxError::Open {
        path: path.to_path_buf(),
        source,
    })?;
    conn.busy_timeout(busy_timeout)?;
    Ok(conn)
}

fn run(conn: Connection, rx: mpsc::Receiver<Msg>, config: &WriterConfig) {
    let mut batch: Vec<Box<dyn Job>> = Vec::with_capacity(config.max_batch);
    // Only its log lines: the callers decide when to write again.
    let mut failures = WriteBackoff::new(Duration::ZERO, Duration::ZERO);
    let mut checkpoint_due = false;
    let mut stop = None;
    loop {
        let first = if checkpoint_due {
            rx.recv_timeout(CHECKPOINT_RETRY)
        } else {
            rx.recv().map_err(|_| RecvTimeoutError::Disconnected)
        };
        match first {
            Ok(Msg::Job(job)) => batch.push(job),
            Ok(Msg::Stop(reply)) => stop = Some(reply),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
        while stop.is_none() && batch.len() < config.max_batch {
            match rx.try_recv() {
                Ok(Msg::Job(job)) => batch.push(job),
                Ok(Msg::Stop(reply)) => stop = Some(reply),
                Err(_) => break,
            }
        }
        if !batch.is_empty() {
            let (wake, checkpoint) = match run_batch(&conn, &mut batch, config) {
                Ok((wrote, (_, wake, checkpoint))) => {
                    // A transaction that changed nothing commits even on a
                    // full disk: only a real write says the disk is back.
                    if wrote {
                        if let WriteState::WritableAgain { failures } = failures.succeeded() {
                            tracing::info!(failures, "queue writes succeed again");
                        }
                    }
                    (wake, checkpoint)
                }
                Err(msg) => {
                    match failures.failed().0 {
                        WriteState::BecameUnwritable => tracing::error!(error = %msg,
                            "queue writes fail; logged again when they succeed"),
                        _ => tracing::debug!(error = %msg, "queue write failed"),
                    }
                    (false, false)
                }
            };
            if wake {
                config.notify.notify_one();
            }
            checkpoint_due |= checkpoint;
        }
        if checkpoint_due {
            checkpoint_due = !checkpoint_truncate(&conn);
        }
        if stop.is_some() {
            break;
        }
    }
    checkpoint_truncate(&conn);
    if let Err((_, e)) = conn.close() {
        tracing::warn!(error = %e, "closing the queue database failed");
    }
    if let Some(reply) = stop {
        let _ = reply.send(());
    }
}

/// Runs one batch in one transaction; returns whether it changed any row and
/// (committed, wake, checkpoint), or what failed: every job of the batch has
/// been answered with it.
fn run_batch(
    conn: &Connection,
    batch: &mut Vec<Box<dyn Job>>,
    config: &WriterConfig,
) -> Result<(bool, (bool, bool, bool)), String> {
    let clock = &config.clock;
    let changes_before = conn.total_changes();
    if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
        let msg = e.to_string();
        batch.drain(..).for_each(|job| job.complete(Some(&msg)));
        return Err(msg);
    }
    let mut ctx = WriteCtx {
        conn,
        clock,
        wake: false,
        checkpoint: false,
    };
    for job in batch.iter_mut() {
        job.run(&mut ctx);
    }
    let (wake, checkpoint) = (ctx.wake, ctx.checkpoint);
    match conn.execute_batch("COMMIT") {
        Ok(()) => {
            let wrote = conn.total_changes() != changes_before;
            // Counted before any caller hears of the commit.
            if wrote {
                config.commits.fetch_add(1, Ordering::Relaxed);
            }
            batch.drain(..).for_each(|job| job.complete(None));
            Ok((wrote, (true, wake, checkpoint)))
        }
        Err(e) => {
            let msg = e.to_string();
            let _ = conn.execute_batch("ROLLBACK");
            batch.drain(..).for_each(|job| job.complete(Some(&msg)));
            Err(msg)
        }
    }
}

/// `PRAGMA wal_checkpoint(TRUNCATE)`: copies the WAL into the main file and
/// empties it, so deleted private payloads do not linger in old frames.
/// Returns false when a reader kept it from completing (try again soon).
fn checkpoint_truncate(conn: &Connection) -> bool {
    match conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
        r.get::<_, i64>(0)
    }) {
        Ok(0) => true,
        Ok(_) => {
            tracing::debug!("queue checkpoint blocked by a reader, will retry");
            false
        }
        // Not a transient state: retrying every 100 ms would only spin.
        Err(e) => {
            tracing::warn!(error = %e, "queue checkpoint failed");
            true
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn start() -> (Writer, Arc<AtomicU64>) {
        let commits = Arc::new(AtomicU64::new(0));
        let (writer, _) = Writer::start(WriterConfig {
            path: ":memory:".into(),
            in_memory: true,
            synchronous: Synchronous::Full,
            busy_timeout: Duration::from_secs(1),
            max_batch: 512,
            clock: Clock::system(),
            notify: Arc::new(Notify::new()),
            commits: commits.clone(),
        })
        .await
        .unwrap();
        writer
            .call(|ctx| Ok(ctx.conn.execute_batch("CREATE TABLE t (x INTEGER)")?))
            .await
            .unwrap();
        (writer, commits)
    }

    fn count(ctx: &mut WriteCtx<'_>) -> Result<i64, OutboxError> {
        Ok(ctx
            .conn
            .query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0))?)
    }

    /// Jobs queued while the thread is busy are committed together, and a
    /// failing job rolls back alone.
    #[tokio::test]
    async fn queued_jobs_share_one_commit_and_fail_alone() {
        let (writer, commits) = start().await;
        let writer = Arc::new(writer);
        let before = commits.load(Ordering::Relaxed);
        // Keep the thread inside a job until every other job is queued.
        let (release, gate) = mpsc::channel::<()>();
        let blocker = {
            let writer = writer.clone();
            tokio::spawn(async move {
                writer
                    .call(move |_| {
                        gate.recv_timeout(Duration::from_secs(30)).ok();
                        Ok(())
                    })
                    .await
            })
        };
        let mut jobs = Vec::new();
        for i in 0..100 {
            let writer = writer.clone();
            jobs.push(tokio::spawn(async move {
                writer
                    .call(move |ctx| {
                        ctx.conn.execute("INSERT INTO t (x) VALUES (?1)", [i])?;
                        if i == 50 {
                            return Err(OutboxError::Corrupt("job 50 fails".into()));
                        }
                        Ok(())
                    })
                    .await
            }));
        }
        // Every job is in the channel once the blocker's batch is the only
        // thing running; yield until the spawned tasks have sent.
        for _ in 0..1000 {
            tokio::task::yield_now().await;
        }
        release.send(()).unwrap();
        blocker.await.unwrap().unwrap();
        let mut failed = 0;
        for job in jobs {
            if job.await.unwrap().is_err() {
                failed += 1;
            }
        }
        assert_eq!(failed, 1);
        assert_eq!(writer.call(count).await.unwrap(), 99);
        // The blocker's batch, the 100 jobs' batch (or a few), the count.
        let batches = commits.load(Ordering::Relaxed) - before;
        assert!(batches < 10, "{batches} commits for 101 jobs");
    }

    #[tokio::test]
    async fn a_stopped_writer_refuses_jobs() {
        let (writer, _) = start().await;
        writer.stop().await;
        assert!(matches!(writer.call(count).await, Err(OutboxError::Closed)));
    }
}
