//! `postcall queue …`: the queue commands run against the configured queue
//! file.

use std::process::ExitCode;

use postcall::config::Config;
use postcall::outbox::QueueCommand;

pub fn queue(config: Config, command: QueueCommand) -> anyhow::Result<ExitCode> {
    super::runtime()?.block_on(async {
        let outbox = super::open_queue(&config.queue.path).await?;
        let text = command.execute(&outbox, chrono::Utc::now()).await;
        outbox.close().await;
        print!("{}", text?);
        Ok(ExitCode::SUCCESS)
    })
}
