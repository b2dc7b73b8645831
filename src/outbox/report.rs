//! Text for `postcall queue …`: pure formatters over what the outbox
//! returns, so the CLI only parses arguments and prints.
