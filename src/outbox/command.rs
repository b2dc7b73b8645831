//! `postcall queue …` as a clap subcommand and its execution, so `main.rs`
//! only nests [`QueueCommand`] and prints what [`QueueCommand::execute`]
//! returns.

use chrono::{DateTime, Utc};

use super::error::OutboxError;
use super::handle::Outbox;
use super::report;
use super::status::{Status, UnknownStatus};

/// Inspect and act on the delivery queue.
#[derive(Debug, Clone, PartialEq, Eq, clap::Subcommand)]
pub enum QueueCommand {
    /// Count deliveries per status; the oldest pending age.
    Stats,
    /// List the newest deliveries.
    List {
        /// Only this status: pending, leased, delivered, dead, held, orphaned.
        #[arg(long, short, value_parser = parse_status)]
        status: Option<Status>,
        /// At most this many rows.
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
    /// Show one delivery and every attempt made.
    Show {
        /// The delivery's id (first column of `list`).
        id: i64,
    },
    /// Queue a dead, orphaned or held delivery again (due now).
    ///
    /// A dead private delivery cannot be retried: its payload was deleted.
    Retry {
        /// The delivery's id.
        #[arg(required_unless_present = "dead", conflicts_with = "dead")]
        id: Option<i64>,
        /// Retry every dead delivery that still has its payload.
        #[arg(long)]
        dead: bool,
    },
    /// Delete dead deliveries and their attempts.
    Purge {
        /// Required: what to purge.
        #[arg(long, required = true)]
        dead: bool,
    },
    /// Re-enable a service a 410 Gone disabled; its held deliveries go out.
    EnableService {
        /// The service name as in the config; without it, list the
        /// disabled services.
        name: Option<String>,
    },
}

fn parse_status(s: &str) -> Result<Status, String> {
    s.parse().map_err(|e: UnknownStatus| e.to_string())
}

impl QueueCommand {
    /// Runs the command and returns the text to print.
    pub async fn execute(
        &self,
        outbox: &Outbox,
        now: DateTime<Utc>,
    ) -> Result<String, OutboxError> {
        Ok(match self {
            QueueCommand::Stats => {
                let stats = outbox.stats().await?;
                let mut text = report::format_stats(&stats, now);
                if stats.disabled_services > 0 {
                    text.push_str(&report::format_disabled_services(
                        &outbox.disabled_services().await?,
                    ));
                }
                text
            }
            QueueCommand::List { status, limit } => {
                report::format_list(&outbox.list(*status, *limit).await?)
            }
            QueueCommand::Show { id } => report::format_show(&outbox.show(*id).await?),
            QueueCommand::Retry { id: Some(id), .. } => {
                outbox.retry(*id).await?;
                report::format_retried(*id)
            }
            QueueCommand::Retry { id: None, .. } => {
                report::format_retried_dead(&outbox.retry_dead().await?)
            }
            QueueCommand::Purge { .. } => report::format_purged(outbox.purge_dead().await?),
            QueueCommand::EnableService { name: Some(name) } => {
                report::format_enabled(name, &outbox.enable_service(name).await?)
            }
            QueueCommand::EnableService { name: None } => {
                report::format_disabled_services(&outbox.disabled_services().await?)
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser, Debug)]
    struct Cli {
        #[command(subcommand)]
        cmd: QueueCommand,
    }

    fn parse(args: &[&str]) -> Result<QueueCommand, clap::Error> {
        Cli::try_parse_from(std::iter::once("queue").chain(args.iter().copied())).map(|c| c.cmd)
    }

    #[test]
    fn parses_the_cli_contract() {
        assert_eq!(parse(&["stats"]).unwrap(), QueueCommand::Stats);
        assert_eq!(
            parse(&["list", "--status", "dead"]).unwrap(),
            QueueCommand::List {
                status: Some(Status::Dead),
                limit: 50
            }
        );
        assert_eq!(
            parse(&["show", "12"]).unwrap(),
            QueueCommand::Show { id: 12 }
        );
        assert_eq!(
            parse(&["retry", "12"]).unwrap(),
            QueueCommand::Retry {
                id: Some(12),
                dead: false
            }
        );
        assert_eq!(
            parse(&["retry", "--dead"]).unwrap(),
            QueueCommand::Retry {
                id: None,
                dead: true
            }
        );
        assert_eq!(
            parse(&["purge", "--dead"]).unwrap(),
            QueueCommand::Purge { dead: true }
        );
        assert_eq!(
            parse(&["enable-service", "crm"]).unwrap(),
            QueueCommand::EnableService {
                name: Some("crm".into())
            }
        );
        assert!(parse(&["retry"]).is_err());
        assert!(parse(&["retry", "3", "--dead"]).is_err());
        assert!(parse(&["purge"]).is_err());
        let err = parse(&["list", "--status", "gone"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown delivery status"), "{err}");
    }

    #[tokio::test]
    async fn executes_against_a_queue() {
        use crate::outbox::{NewCall, NewDelivery, OutboxSettings};
        let outbox = Outbox::open(std::path::Path::new(":memory:"), OutboxSettings::default())
            .await
            .unwrap();
        let refs = outbox
            .enqueue(
                NewCall {
                    event_id: "e1".into(),
                    call_id: "c1".into(),
                    application: None,
                    record_json: "{}".into(),
                    raw_vars_json: "{}".into(),
                    recordings_json: None,
                    record_format: None,
                },
                vec![NewDelivery {
                    application: "sales".into(),
                    service: "crm".into(),
                    private: false,
                }],
            )
            .await
            .unwrap();
        let now = Utc::now();
        let stats = QueueCommand::Stats.execute(&outbox, now).await.unwrap();
        assert!(stats.starts_with("pending            1\n"), "{stats}");
        let show = QueueCommand::Show { id: refs[0].id }
            .execute(&outbox, now)
            .await
            .unwrap();
        assert!(show.contains(&refs[0].delivery_key), "{show}");
        let err = QueueCommand::Show { id: 999 }
            .execute(&outbox, now)
            .await
            .unwrap_err();
        assert_eq!(err.to_string(), "delivery 999 not found");
    }
}
