//! `postcall queue …`: the queue commands run against the configured queue
//! file. None of them creates the file: a missing queue is an error naming
//! the path (a wrong `--config` would otherwise show an empty new queue).

use std::process::ExitCode;

use postcall::config::Config;
use postcall::outbox::QueueCommand;

pub fn queue(config: Config, command: QueueCommand) -> anyhow::Result<ExitCode> {
    if let QueueCommand::EnableService { name: Some(name) } = &command {
        if config.service(name).is_none() {
            let known: Vec<&str> = config
                .applications
                .iter()
                .flat_map(|a| a.services.iter().map(|s| s.name.as_str()))
                .collect();
            anyhow::bail!(
                "no service named {name:?} in the configuration (configured: {})",
                known.join(", ")
            );
        }
    }
    let path = &config.queue.path;
    if !path.exists() {
        anyhow::bail!(
            "no queue at {}: nothing was queued yet with this configuration (is --config the daemon's?)",
            path.display()
        );
    }
    super::runtime()?.block_on(async {
        let outbox = super::open_queue(path).await?;
        let text = command.execute(&outbox, chrono::Utc::now()).await;
        outbox.close().await;
        print!("{}", text?);
        Ok(ExitCode::SUCCESS)
    })
}
