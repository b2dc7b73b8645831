//! Asterisk: the AMI connector and call tracker against the real captures in
//! tests/fixtures/asterisk and the answer key tests/fixtures/expected.json.

#[path = "answer_key/mod.rs"]
mod answer_key;
#[path = "asterisk/codec.rs"]
mod codec;
#[path = "asterisk/common.rs"]
mod common;
#[path = "asterisk/concurrency.rs"]
mod concurrency;
#[path = "asterisk/early.rs"]
mod early;
#[path = "asterisk/load.rs"]
mod load;
#[path = "asterisk/replay.rs"]
mod replay;
#[path = "asterisk/server.rs"]
mod server;
#[path = "support/mod.rs"]
mod support;
