//! TLS as operators configure it, against a real HTTPS receiver (Python's
//! standard library) whose certificate a throwaway CA made with the openssl
//! command signed: trusted through `tls.ca_bundle`, refused without it, and
//! accepted with the explicit `tls.insecure` flag.

mod support;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

use support::cli::{postcall, text};
use support::config::{path, App, Config, Service};
use support::process::ChildGuard;

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the openssl command is installed (Debian package openssl)");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// ca.pem, and srv.pem/srv.key for 127.0.0.1 signed by it.
fn make_certificates(dir: &Path) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=postcall test CA",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign",
        ],
    );
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "srv.key",
            "-out",
            "srv.csr",
            "-subj",
            "/CN=127.0.0.1",
        ],
    );
    std::fs::write(
        dir.join("srv.ext"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "srv.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "srv.pem",
            "-days",
            "2",
            "-extfile",
            "srv.ext",
        ],
    );
}

const SERVER: &str = r#"
import http.server, ssl, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.send_response(200); self.send_header("Content-Length", "2"); self.end_headers()
        self.wfile.write(b"ok")
    def log_message(self, *a): pass
s = http.server.HTTPServer(("127.0.0.1", 0), H)
c = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER); c.load_cert_chain(sys.argv[1], sys.argv[2])
s.socket = c.wrap_socket(s.socket, server_side=True)
print(s.server_address[1], flush=True)
s.serve_forever()
"#;

fn https_server(dir: &Path) -> (ChildGuard, u16) {
    let mut child = Command::new("python3")
        .args(["-c", SERVER])
        .arg(dir.join("srv.pem"))
        .arg(dir.join("srv.key"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("python3 runs");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port = line.trim().parse().expect("the server printed its port");
    (ChildGuard(child), port)
}

/// Service `crm` posting to the HTTPS receiver on `port`.
fn crm(port: u16) -> Service {
    Service::rest("crm", &format!("https://127.0.0.1:{port}/calls"))
}

/// `postcall test survey` with `crm` as the application's one service.
fn send(dir: &Path, crm: Service) -> (bool, String) {
    let config = Config::new()
        .queue_in(dir)
        .app(App::new("survey").service(crm))
        .write(dir);
    let out = postcall(&["test", "survey"], &config);
    (out.status.success(), text(&out))
}

#[test]
fn ca_bundle_trusts_the_receiver_and_nothing_else_does_unless_insecure() {
    let dir = tempfile::tempdir().unwrap();
    make_certificates(dir.path());
    let (_server, port) = https_server(dir.path());

    let ca = dir.path().join("ca.pem");
    let (ok, text) = send(dir.path(), crm(port).tls("ca_bundle", path(&ca)));
    assert!(ok, "{text}");
    assert!(text.contains("crm: delivered status 200"), "{text}");

    let (ok, text) = send(dir.path(), crm(port));
    assert!(!ok, "an unknown CA must not be trusted: {text}");
    assert!(text.contains("crm: NOT delivered"), "{text}");

    let (ok, text) = send(dir.path(), crm(port).tls("insecure", true));
    assert!(ok, "{text}");
    assert!(text.contains("crm: delivered status 200"), "{text}");
    assert!(
        text.contains("TLS certificate verification is OFF for this service"),
        "the insecure flag is logged: {text}"
    );
}
