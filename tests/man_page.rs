//! contrib/man/postcall.1 (shipped in the .deb) is what `postcall man`
//! renders from the command-line definition, kept in sync.

mod support;

use support::cli::{bin, succeeded};

#[test]
fn contrib_man_page_matches_the_cli() {
    let out = succeeded(bin().arg("man").output().unwrap());
    let rendered = String::from_utf8(out.stdout).unwrap();
    assert!(rendered.contains(".TH postcall 1"), "{rendered}");
    let stored = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/contrib/man/postcall.1"
    ))
    .unwrap();
    assert_eq!(
        rendered, stored,
        "contrib/man/postcall.1 is stale: regenerate it with `cargo run -- man > contrib/man/postcall.1`"
    );
}
