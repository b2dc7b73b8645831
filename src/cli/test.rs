//! `postcall test APP`: the sample record sent once to each service of APP,
//! each response printed (like a "Send Test" button).

use std::process::ExitCode;

use postcall::config::Config;
use postcall::deliver::policy::Verdict;

pub fn test(config: Config, application: String) -> anyhow::Result<ExitCode> {
    super::runtime()?.block_on(send_test(config, application))
}

async fn send_test(config: Config, application: String) -> anyhow::Result<ExitCode> {
    if config.application(&application).is_none() {
        let known: Vec<&str> = config
            .applications
            .iter()
            .map(|a| a.name.as_str())
            .collect();
        anyhow::bail!(
            "no application named {application:?} (configured: {})",
            if known.is_empty() {
                "none".to_string()
            } else {
                known.join(", ")
            }
        );
    }
    // No queue is opened: a WSDL URL is fetched now, not cached.
    let wiring = postcall::deliver::plan::wire(&config, None).await?;
    for e in wiring
        .errors
        .iter()
        .filter(|e| e.application == application)
    {
        println!("{}: cannot be tested: {e}", e.service);
    }
    let mut mine: Vec<_> = wiring
        .plans
        .values()
        .filter(|entry| entry.plan.application == application)
        .collect();
    mine.sort_by(|a, b| a.plan.service.cmp(&b.plan.service));
    let plans: Vec<_> = mine.iter().map(|entry| &entry.plan).collect();
    if plans.is_empty() {
        println!("{application}: no service to test");
        return Ok(ExitCode::FAILURE);
    }
    let mut all_ok = true;
    for (service, report) in postcall::deliver::send_sample(&plans, chrono::Utc::now()).await {
        let ok = matches!(report.verdict, Verdict::Delivered);
        all_ok &= ok;
        let status = report
            .status
            .map(|s| s.to_string())
            .unwrap_or_else(|| "-".into());
        println!(
            "{service}: {} status {status} in {} ms",
            if ok { "delivered" } else { "NOT delivered" },
            report.latency.as_millis()
        );
        if let Some(error) = &report.error {
            println!("  error: {error}");
        }
        if !report.response_prefix.is_empty() {
            println!(
                "  response: {}",
                String::from_utf8_lossy(&report.response_prefix)
            );
        }
    }
    Ok(if all_ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
