//! TLS as operators configure it, against a real HTTPS receiver (Python's
//! standard library) whose certificate a throwaway CA made with the openssl
//! command signed: trusted through `tls.ca_bundle`, refused without it, and
//! accepted with the explicit `tls.insecure` flag.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

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

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn https_server(dir: &Path) -> (Server, u16) {
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
    (Server(child), port)
}

/// `postcall test survey` with `tls` as the service's TLS table.
fn send(dir: &Path, port: u16, tls: &str) -> (bool, String) {
    let config = dir.join("postcall.toml");
    std::fs::write(
        &config,
        format!(
            "[queue]\npath = \"{}\"\n[[applications]]\nname = \"survey\"\n[[applications.services]]\nname = \"crm\"\nurl = \"https://127.0.0.1:{port}/calls\"\n{tls}\n",
            dir.join("q.sqlite3").display()
        ),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_postcall"))
        .args(["test", "survey", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn ca_bundle_trusts_the_receiver_and_nothing_else_does_unless_insecure() {
    let dir = tempfile::tempdir().unwrap();
    make_certificates(dir.path());
    let (_server, port) = https_server(dir.path());

    let ca = dir.path().join("ca.pem");
    let (ok, text) = send(
        dir.path(),
        port,
        &format!("tls = {{ ca_bundle = \"{}\" }}", ca.display()),
    );
    assert!(ok, "{text}");
    assert!(text.contains("crm: delivered status 200"), "{text}");

    let (ok, text) = send(dir.path(), port, "");
    assert!(!ok, "an unknown CA must not be trusted: {text}");
    assert!(text.contains("crm: NOT delivered"), "{text}");

    let (ok, text) = send(dir.path(), port, "tls = { insecure = true }");
    assert!(ok, "{text}");
    assert!(text.contains("crm: delivered status 200"), "{text}");
    assert!(
        text.contains("TLS certificate verification is OFF for this service"),
        "the insecure flag is logged: {text}"
    );
}
