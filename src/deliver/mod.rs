//! Delivery: from a leased outbox row to a sent, signed request and a
//! verdict.
//!
//! - [`render`]: the service's templates over the record → a request.
//! - [`links`]: the application's recording link, signed to expire.
//! - [`sign`]: authentication headers and signatures, per attempt.
//! - [`rest`]: sends a rendered request (reqwest, rustls).
//! - [`policy`]: the response → delivered / retry / dead / disable service,
//!   and when to retry.
//! - [`limits`]: per-service rate and concurrency, the global worker limit.
//! - [`pool`]: the workers: lease from the outbox, attempt, report.
//! - [`plan`]: the configuration → per-service plans (secrets resolved).
//! - [`check`]: what only delivery can check in a configuration (dry
//!   renders, SOAP parameters against the WSDL), keyed like its errors.
//!
//! [`attempt`] is one attempt end to end (render, sign, send, classify);
//! `postcall test` uses it, the worker pool [`attempt_row`], which sends
//! the body stored with the call ([`stored_call`]) as it is when the plan
//! would render the record to exactly those bytes.

pub mod check;
pub mod limits;
pub mod links;
pub mod plan;
pub mod policy;
pub mod pool;
pub mod render;
pub mod rest;
pub mod sign;
pub mod soap;

use chrono::{DateTime, Utc};
use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::sync::OnceLock;
use std::time::Duration;

use crate::call::record::{CallRecord, Recording};
use links::RecordingLink;
use policy::{classify, Answer, Verdict};
use render::CompiledRequest;
use rest::{ClientCache, ClientSettings};
use sign::{auth_headers, Auth, SignInput};

/// Everything needed to send to one service, built from the current
/// configuration (templates compiled, secrets resolved) and never stored.
#[derive(Debug)]
pub struct ServicePlan {
    pub application: String,
    pub service: String,
    pub request: CompiledRequest,
    pub auth: Vec<Auth>,
    pub client: ClientSettings,
    /// Nothing of the request in logs or errors.
    pub private: bool,
    /// Whether the application includes recordings; when not, the record
    /// is sent with `recordings: []` and `recording_url: null`.
    pub include_recordings: bool,
    /// The application's `recording_url` template; `None` when the
    /// application does not include recordings (the record then carries
    /// `recording_url: null`).
    pub recording: Option<RecordingLink>,
    /// A SOAP service's operation and binding; `request` then holds only
    /// its parameter templates.
    pub soap: Option<std::sync::Arc<soap::SoapPlan>>,
}

/// What one attempt came to.
#[derive(Debug, Clone)]
pub struct AttemptReport {
    pub verdict: Verdict,
    /// The HTTP status, when the receiver answered.
    pub status: Option<u16>,
    pub latency: Duration,
    /// What went wrong, for the attempt log; `<private>` details for a
    /// private service. `None` when delivered.
    pub error: Option<String>,
    /// The first bytes of the response (empty for a private service).
    pub response_prefix: Vec<u8>,
}

impl AttemptReport {
    fn failed_before_sending(verdict: Verdict, error: String) -> AttemptReport {
        AttemptReport {
            verdict,
            status: None,
            latency: Duration::ZERO,
            error: Some(error),
            response_prefix: Vec::new(),
        }
    }
}

/// The record as the plan sends it: without recordings when the application
/// does not include them, else with the call's and each transfer's
/// `recording_url` made from the application's template at `now`.
fn fill_recording_links(
    plan: &ServicePlan,
    record: &mut CallRecord,
    vars: &BTreeMap<String, String>,
    now: DateTime<Utc>,
) -> Result<(), render::RenderError> {
    clear_recordings(record, plan.include_recordings);
    let Some(link) = &plan.recording else {
        return Ok(());
    };
    record.recording_url = link.render(record, vars, now.timestamp())?;
    let links = link.render_transfers(record, vars, now.timestamp())?;
    for (t, url) in record.transfers.iter_mut().zip(links) {
        t.recording_url = url;
    }
    Ok(())
}

/// The record before its links are made: no `recording_url`, and no
/// recordings unless the application includes them.
fn clear_recordings(record: &mut CallRecord, include_recordings: bool) {
    if !include_recordings {
        record.recordings.clear();
        for t in &mut record.transfers {
            t.recordings.clear();
        }
    }
    record.recording_url = None;
    for t in &mut record.transfers {
        t.recording_url = None;
    }
}

/// The record format this binary reads and writes: a fingerprint of the
/// record's JSON Schema, so a body stored by a binary whose record had
/// other fields is not sent by this one.
pub fn record_format() -> i64 {
    static FORMAT: OnceLock<i64> = OnceLock::new();
    *FORMAT.get_or_init(|| {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        crate::call::record::json_schema()
            .to_string()
            .hash(&mut hasher);
        hasher.finish() as i64
    })
}

/// The stored record of `row` when `plan` sends it as it is: a record
/// [`stored_call`] wrote in this format (without recordings or links, named
/// after the row's application), sent as the default body (a POST_RAW or
/// PUT whose templates read nothing of the call) by a service that includes
/// no recordings and has no recording link.
fn stored_body<'a>(plan: &ServicePlan, row: &'a crate::outbox::Leased) -> Option<&'a str> {
    let plain = row.record_format == Some(record_format())
        && !plan.include_recordings
        && plan.recording.is_none()
        && plan.soap.is_none()
        && plan.request.sends_only_the_default_body();
    plain.then_some(row.record_json.as_str())
}

/// A record's recordings as [`stored_call`] keeps them apart from it.
#[derive(serde::Serialize, serde::Deserialize)]
struct StoredRecordings {
    call: Vec<Recording>,
    #[serde(default)]
    transfers: Vec<Vec<Recording>>,
}

/// The record and variables stored for `row`, its recordings put back; an
/// unreadable one is an error saying so (it would never become readable).
pub fn stored_record(
    row: &crate::outbox::Leased,
) -> Result<(CallRecord, BTreeMap<String, String>), String> {
    let mut record: CallRecord = serde_json::from_str(&row.record_json)
        .map_err(|e| format!("the stored call record is not readable: {e}"))?;
    if let Some(json) = &row.recordings_json {
        let kept: StoredRecordings = serde_json::from_str(json)
            .map_err(|e| format!("the stored recordings are not readable: {e}"))?;
        record.recordings = kept.call;
        for (t, recordings) in record.transfers.iter_mut().zip(kept.transfers) {
            t.recordings = recordings;
        }
    }
    let vars: BTreeMap<String, String> = if row.raw_vars_json.trim().is_empty() {
        BTreeMap::new()
    } else {
        serde_json::from_str(&row.raw_vars_json)
            .map_err(|e| format!("the stored variables are not readable: {e}"))?
    };
    Ok((record, vars))
}

/// One attempt: fills `recording_url`, renders the plan's request for
/// `record`, signs it for `delivery_key` at `now`, sends it and classifies
/// the result. Never panics on the record's content: a template or signing
/// failure is a `Dead` verdict with a message naming the part.
pub async fn attempt(
    plan: &ServicePlan,
    clients: &ClientCache,
    record: &CallRecord,
    vars: &BTreeMap<String, String>,
    delivery_key: &str,
    now: DateTime<Utc>,
) -> AttemptReport {
    attempt_owned(plan, clients, record.clone(), vars, delivery_key, now).await
}

/// [`attempt`] for a caller done with `record` (the pool, which parsed it
/// for this attempt): the links are filled in place, without a copy.
pub async fn attempt_owned(
    plan: &ServicePlan,
    clients: &ClientCache,
    mut record: CallRecord,
    vars: &BTreeMap<String, String>,
    delivery_key: &str,
    now: DateTime<Utc>,
) -> AttemptReport {
    if let Err(e) = fill_recording_links(plan, &mut record, vars, now) {
        return render_failure(plan, &e);
    }
    let rendered = match &plan.soap {
        Some(soap) => soap::render(&plan.request, soap, &record, vars),
        None => plan.request.render(&record, vars),
    };
    drop(record);
    send_rendered(plan, clients, rendered, delivery_key, now).await
}

/// One leased row's attempt: the body stored with its call when the plan
/// sends that body as it is ([`stored_body`]), without reading the record;
/// else [`attempt_owned`] over the record `parse` reads (an unreadable one
/// is a `Dead` attempt saying why).
pub async fn attempt_row(
    plan: &ServicePlan,
    clients: &ClientCache,
    row: &crate::outbox::Leased,
    parse: impl FnOnce() -> Result<(CallRecord, BTreeMap<String, String>), String>,
    now: DateTime<Utc>,
) -> AttemptReport {
    if let Some(body) = stored_body(plan, row) {
        let rendered = plan.request.render_default(body.as_bytes().to_vec());
        return send_rendered(plan, clients, rendered, &row.delivery_key, now).await;
    }
    match parse() {
        Ok((mut record, vars)) => {
            record.application = Some(row.application.clone());
            attempt_owned(plan, clients, record, &vars, &row.delivery_key, now).await
        }
        Err(e) => AttemptReport::failed_before_sending(Verdict::Dead { reason: e.clone() }, e),
    }
}

/// Signs, sends and classifies a rendered request.
async fn send_rendered(
    plan: &ServicePlan,
    clients: &ClientCache,
    rendered: Result<render::RenderedRequest, render::RenderError>,
    delivery_key: &str,
    now: DateTime<Utc>,
) -> AttemptReport {
    let request = match rendered {
        Ok(r) => r,
        Err(e) => return render_failure(plan, &e),
    };
    let body: &[u8] = request
        .body
        .as_ref()
        .map(|b| b.bytes.as_slice())
        .unwrap_or(b"");
    let extra = match auth_headers(
        &plan.auth,
        SignInput {
            delivery_key,
            timestamp: now.timestamp(),
            body,
        },
    ) {
        Ok(h) => h,
        Err(e) => {
            let message = format!("auth: {e}");
            return AttemptReport::failed_before_sending(
                Verdict::Dead {
                    reason: message.clone(),
                },
                message,
            );
        }
    };
    let client = match clients.get(&plan.service, &plan.client) {
        Ok(c) => c,
        Err(e) => {
            // A configuration problem (an unreadable CA file, say) that a
            // fix can cure: retried, so the row is not lost meanwhile.
            return AttemptReport::failed_before_sending(
                Verdict::Retry { after: None },
                format!("tls: {e}"),
            );
        }
    };
    let keep = match plan.soap {
        Some(_) => soap::RESPONSE_LIMIT,
        None => rest::RESPONSE_PREFIX,
    };
    let sent = rest::send(
        &client,
        &request,
        &extra,
        delivery_key,
        plan.client.timeout,
        plan.private,
        keep,
    )
    .await;
    match sent.result {
        Ok(mut response) => {
            let (verdict, error) = match plan.soap {
                Some(_) => soap::verdict(&response, now, plan.private),
                None => rest::verdict(&response, now, plan.private),
            };
            response.body_prefix.truncate(rest::RESPONSE_PREFIX);
            AttemptReport {
                verdict,
                status: Some(response.status),
                latency: sent.latency,
                error,
                response_prefix: if plan.private {
                    Vec::new()
                } else {
                    response.body_prefix
                },
            }
        }
        Err(e) => {
            let answer = match e {
                rest::SendError::Timeout(_) => Answer::Timeout,
                _ => Answer::Transport,
            };
            AttemptReport {
                verdict: classify(answer, now),
                status: None,
                latency: sent.latency,
                error: Some(e.to_string()),
                response_prefix: Vec::new(),
            }
        }
    }
}

fn render_failure(plan: &ServicePlan, e: &render::RenderError) -> AttemptReport {
    let message = if plan.private {
        e.redacted()
    } else {
        e.to_string()
    };
    AttemptReport::failed_before_sending(
        Verdict::Dead {
            reason: message.clone(),
        },
        message,
    )
}

/// `postcall test APP`: sends [`CallRecord::sample`] (named after the
/// application) to each of `plans` once, without the queue or retries, and
/// returns each service's report in order.
pub async fn send_sample(
    plans: &[&ServicePlan],
    now: DateTime<Utc>,
) -> Vec<(String, AttemptReport)> {
    let clients = ClientCache::new();
    let mut out = Vec::with_capacity(plans.len());
    for plan in plans {
        let mut record = CallRecord::sample();
        record.application = Some(plan.application.clone());
        let vars = record.variables.clone();
        let delivery_key = format!("postcall-test-{}-{}", plan.service, now.timestamp());
        let report = attempt(plan, &clients, &record, &vars, &delivery_key, now).await;
        out.push((plan.service.clone(), report));
    }
    out
}

/// Routes a finished call and, when any service wants it, commits the call
/// and its deliveries to the outbox (durably, before any attempt). A call
/// no application takes is not stored. Returns the stored deliveries.
pub async fn enqueue_call(
    outbox: &crate::outbox::Outbox,
    router: &crate::route::Router,
    call: &crate::call::tracker::FinishedCall,
) -> Result<Vec<crate::outbox::DeliveryRef>, crate::outbox::OutboxError> {
    let deliveries = router.route(&call.record, &call.raw_variables);
    if deliveries.is_empty() {
        return Ok(Vec::new());
    }
    let new_call = stored_call(&call.record, &call.raw_variables, &deliveries)?;
    outbox.enqueue(new_call, deliveries).await
}

/// A routed call as the outbox stores it: the record named after the first
/// delivery's application, without `recording_url` (made per attempt) and
/// with its recordings apart, so that it is byte for byte the default body
/// of a service that includes no recordings; its format when every
/// delivery is of that application (then that body may be sent as stored);
/// and its variables.
pub fn stored_call(
    record: &CallRecord,
    raw_variables: &BTreeMap<String, String>,
    deliveries: &[crate::outbox::NewDelivery],
) -> Result<crate::outbox::NewCall, crate::outbox::OutboxError> {
    let corrupt = |what: &str, e: serde_json::Error| {
        crate::outbox::OutboxError::Corrupt(format!("{what}: {e}"))
    };
    let mut record = record.clone();
    record.application = deliveries.first().map(|d| d.application.clone());
    let kept = StoredRecordings {
        call: std::mem::take(&mut record.recordings),
        transfers: record
            .transfers
            .iter_mut()
            .map(|t| std::mem::take(&mut t.recordings))
            .collect(),
    };
    clear_recordings(&mut record, false);
    let any = !kept.call.is_empty() || kept.transfers.iter().any(|t| !t.is_empty());
    let recordings_json = match any {
        true => Some(serde_json::to_string(&kept).map_err(|e| corrupt("recordings", e))?),
        false => None,
    };
    let one_application = deliveries
        .iter()
        .all(|d| Some(&d.application) == record.application.as_ref());
    Ok(crate::outbox::NewCall {
        event_id: record.event_id.clone(),
        call_id: record.call_id.clone(),
        application: record.application.clone(),
        record_json: serde_json::to_string(&record).map_err(|e| corrupt("call record", e))?,
        raw_vars_json: serde_json::to_string(raw_variables).map_err(|e| corrupt("variables", e))?,
        recordings_json,
        record_format: one_application.then(record_format),
    })
}
