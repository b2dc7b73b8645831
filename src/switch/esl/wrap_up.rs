//! FreeSWITCH wrap-up, asked: no event carries an agent's wrap-up time, so
//! when `ask_wrap_up` is on, a finished queue call with an agent and no
//! `wrap_up_seconds` waits (at most the configured timeout) while the
//! connector's session asks `api callcenter_config agent list` and the
//! agent's `wrap_up_time` is read from the reply. Any failure leaves the
//! field null with one warning naming the call; the record always goes on.
//! Records that need no question pass straight through, and so do calls
//! backfilled from CDRs: they ended while postcall was away, so the answer
//! now would not be the one of their time (and a backfill can bring
//! thousands at once).

use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use crate::call::record::{CallRecord, RecordSource};
use crate::call::tracker::FinishedCall;
use crate::config::SwitchConfig;
use crate::event::SwitchKind;
use crate::switch::esl::api::{ApiRequests, EslApi};
use crate::switch::esl::callcenter::{wrap_up_time, AGENT_LIST};

/// The agent whose wrap-up to ask for: set on a FreeSWITCH queue call
/// followed live whose record has no wrap-up yet.
pub fn agent_to_ask(record: &CallRecord) -> Option<&str> {
    let asked = record.switch.kind == SwitchKind::Freeswitch
        && record.source == RecordSource::Events
        && record.queue.is_some()
        && record.wrap_up_seconds.is_none();
    record
        .agent
        .as_ref()
        .map(|a| a.id.as_str())
        .filter(|_| asked)
}

/// Asks for the agent's wrap-up and fills `wrap_up_seconds`; on failure
/// logs one warning and leaves it null.
pub async fn fill(record: &mut CallRecord, api: &EslApi, timeout: Duration) {
    let Some(agent) = agent_to_ask(record) else {
        return;
    };
    let answer = match api.ask(AGENT_LIST, timeout).await {
        Ok(body) => wrap_up_time(&body, agent).map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    match answer {
        Ok(seconds) => record.wrap_up_seconds = Some(seconds),
        Err(error) => tracing::warn!(
            call_id = %record.call_id,
            event_id = %record.event_id,
            switch = %record.switch.name,
            agent = %agent,
            %error,
            "cannot ask the switch for the agent's wrap-up time; wrap_up_seconds stays null"
        ),
    }
}

/// Where a switch's finished calls go: with `ask_wrap_up`, into a
/// [`forward`] stage (spawned on the `shutdown` tree) in front of `out`, with the
/// requests the switch's connector must serve; otherwise straight to `out`.
pub fn stage(
    switch: &SwitchConfig,
    out: mpsc::Sender<FinishedCall>,
    shutdown: &crate::shutdown::Shutdown,
) -> (Option<ApiRequests>, mpsc::Sender<FinishedCall>) {
    if !switch.ask_wrap_up {
        return (None, out);
    }
    let (api, requests) = EslApi::new();
    let (calls_tx, calls_rx) = mpsc::channel(STAGE_CAPACITY);
    let timeout = switch.wrap_up_timeout;
    shutdown.spawn("wrap-up", |_| forward(calls_rx, out, api, timeout));
    (Some(requests), calls_tx)
}

/// Finished calls waiting for the stage, as many as the daemon's own
/// channel of finished calls holds.
const STAGE_CAPACITY: usize = 1024;

/// Passes finished calls from `calls` to `out`, filling the wrap-up of
/// those that need it (concurrently: one slow answer holds up only its own
/// call). Ends when `calls` is closed and every question is settled.
pub async fn forward(
    mut calls: mpsc::Receiver<FinishedCall>,
    out: mpsc::Sender<FinishedCall>,
    api: EslApi,
    timeout: Duration,
) {
    let mut asking = JoinSet::new();
    loop {
        tokio::select! {
            Some(_) = asking.join_next(), if !asking.is_empty() => {}
            call = calls.recv() => {
                let Some(mut call) = call else { break };
                if agent_to_ask(&call.record).is_none() {
                    if out.send(call).await.is_err() {
                        return;
                    }
                    continue;
                }
                let (api, out) = (api.clone(), out.clone());
                asking.spawn(async move {
                    fill(&mut call.record, &api, timeout).await;
                    let _ = out.send(call).await;
                });
            }
        }
    }
    while asking.join_next().await.is_some() {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::call::record::Named;

    fn queue_call() -> CallRecord {
        let mut r = CallRecord::sample();
        r.switch.kind = SwitchKind::Freeswitch;
        r.wrap_up_seconds = None;
        r.agent = Some(Named {
            id: "1001@default".into(),
            name: Some("1001@default".into()),
        });
        r
    }

    #[test]
    fn only_freeswitch_queue_calls_with_an_agent_and_no_wrap_up_are_asked() {
        assert_eq!(agent_to_ask(&queue_call()), Some("1001@default"));
        let mut stated = queue_call();
        stated.wrap_up_seconds = Some(5);
        let mut no_agent = queue_call();
        no_agent.agent = None;
        let mut no_queue = queue_call();
        no_queue.queue = None;
        let mut asterisk = queue_call();
        asterisk.switch.kind = SwitchKind::Asterisk;
        let mut backfilled = queue_call();
        backfilled.source = RecordSource::Cdr;
        for r in [stated, no_agent, no_queue, asterisk, backfilled] {
            assert_eq!(agent_to_ask(&r), None);
        }
    }

    #[tokio::test]
    async fn an_unanswered_question_leaves_null_within_the_timeout() {
        let (api, _requests) = EslApi::new();
        let mut r = queue_call();
        fill(&mut r, &api, Duration::from_millis(30)).await;
        assert_eq!(r.wrap_up_seconds, None);
    }
}
