//! `postcall replay FILE…`: captured switch bytes through the codec, tracker
//! and classifier; then the records printed (`--print`, routed as the
//! daemon routes them), or queued and delivered as the daemon would, until
//! the queue is drained.

use anyhow::Context;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use postcall::call::tracker::FinishedCall;
use postcall::config::Config;
use postcall::event::SwitchKind;
use postcall::shutdown::Shutdown;

pub fn replay(
    config: Config,
    kind: Option<SwitchKind>,
    print: bool,
    files: &[PathBuf],
) -> anyhow::Result<ExitCode> {
    let mut finished = Vec::new();
    for file in files {
        let (kind, bytes) = postcall::replay::read_capture(file, kind)?;
        let mut switch = config.switches[0].clone();
        switch.kind = kind;
        let settings = config.call_settings(&switch);
        finished.extend(postcall::replay::replay_bytes(
            kind, &bytes, &switch, settings,
        ));
    }
    if print {
        // `application` as services receive it: the application that takes
        // the call under this configuration's routing, null when none does
        // (the channel variable's value stays in `variables`). Without any
        // application configured (the embedded defaults), the default match
        // rule: the application named like the variable's value.
        let router = postcall::route::Router::from_config(&config.applications)?;
        let mut out = std::io::stdout().lock();
        for call in &finished {
            let mut record = call.record.clone();
            if !config.applications.is_empty() {
                record.application = router
                    .application(&record, &call.raw_variables)
                    .map(|app| app.name.clone());
            }
            serde_json::to_writer(&mut out, &record)?;
            out.write_all(b"\n")?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    super::runtime()?.block_on(deliver(config, finished))
}

/// Queues every record, delivers until the queue is drained, prints the
/// queue's figures. Router and plans are the daemon's
/// (`deliver::plan::wire`): a WSDL URL is fetched, or taken from the cache.
pub(crate) async fn deliver(
    config: Config,
    finished: Vec<FinishedCall>,
) -> anyhow::Result<ExitCode> {
    let outbox = super::open_queue(&config.queue.path).await?;
    let wiring = postcall::deliver::plan::wire(&config, Some(&outbox)).await?;
    let problems = postcall::deliver::check::soap_problems(&config, &wiring.wsdls);
    if !problems.is_empty() {
        outbox.close().await;
        return Ok(super::unusable(config.source.as_deref(), &problems));
    }
    wiring.log_errors();
    let before = outbox.stats().await?;
    let mut routed = 0;
    for call in &finished {
        routed += postcall::deliver::enqueue_call(&outbox, &wiring.router, call)
            .await
            .context("cannot queue a replayed call")?
            .len();
    }
    let queued = total_rows(&outbox.stats().await?).saturating_sub(total_rows(&before));
    let known = (routed as u64).saturating_sub(queued);
    eprintln!(
        "postcall: {} call(s) replayed, {queued} new delivery(ies) queued{}",
        finished.len(),
        if known > 0 {
            format!(", {known} already in the queue (same event id and service: not queued again)")
        } else {
            String::new()
        }
    );
    let pool = postcall::deliver::pool::Pool::new(
        outbox.clone(),
        wiring.plans,
        config.queue.workers,
        config.queue.lease,
    );
    pool.set_unplanned(&wiring.errors);
    let shutdown = Shutdown::new();
    postcall::shutdown::signals::cancel_on_signals(&shutdown)
        .context("cannot install signal handlers")?;
    let stats = pool.run_until_drained(shutdown.token.clone()).await?;
    shutdown.token.cancel();
    outbox.close().await;
    print!(
        "{}",
        postcall::outbox::report::format_stats(&stats, chrono::Utc::now())
    );
    let died = stats.dead.saturating_sub(before.dead);
    if died > 0 {
        eprintln!(
            "postcall: {died} delivery(ies) ended dead in this replay; `postcall queue list --status dead` shows them"
        );
        return Ok(ExitCode::from(EXIT_DEAD));
    }
    Ok(ExitCode::SUCCESS)
}

/// Exit status of a delivering `replay` when a delivery ended dead during
/// it (README, command table).
pub const EXIT_DEAD: u8 = 2;

fn total_rows(stats: &postcall::outbox::Stats) -> u64 {
    postcall::outbox::Status::ALL
        .iter()
        .map(|s| stats.count(*s))
        .sum()
}
