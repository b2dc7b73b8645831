//! SOAP responses, pure: what a receiver's answer means. A SOAP Fault
//! decides by its code whatever the HTTP status (servers send faults with
//! 500): SOAP 1.1 `Client` / SOAP 1.2 `Sender` mean the content was refused
//! (dead), `Server` / `Receiver` a passing trouble (retry); other codes
//! (`VersionMismatch`, `MustUnderstand`, …) cannot get better by retrying.
//! Without a fault, a 2xx with a SOAP envelope or an empty body (a one-way
//! operation's 202) is delivered, and other statuses follow the REST policy.

use super::envelope::{SOAP11_ENV_NS, SOAP12_ENV_NS};
use super::xml_tree::parse_xml;

/// A SOAP Fault's code (as written, e.g. `soap:Client`) and string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    pub code: String,
    pub string: String,
}

/// What a response body is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// A SOAP envelope without a fault (or an empty body).
    Ok,
    Fault(Fault),
    /// Not a SOAP envelope (HTML, JSON, broken XML, …).
    NotSoap(String),
}

/// How a fault is to be treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind {
    /// The receiver refused the content: dead.
    Refused,
    /// The receiver had trouble: retry.
    Transient,
}

impl Fault {
    pub fn kind(&self) -> FaultKind {
        // `soap:Server.Database` and `Receiver` both are the server's side.
        let local = self.code.rsplit(':').next().unwrap_or("");
        let head = local.split('.').next().unwrap_or("");
        match head {
            "Server" | "Receiver" => FaultKind::Transient,
            _ => FaultKind::Refused,
        }
    }
}

/// Reads a response body (SOAP 1.1 or 1.2, whatever was sent).
pub fn read(body: &[u8]) -> Answer {
    let text = String::from_utf8_lossy(body);
    if text.trim().is_empty() {
        return Answer::Ok;
    }
    let root = match parse_xml(&text) {
        Ok(root) => root,
        Err(e) => return Answer::NotSoap(e.to_string()),
    };
    let ns = root.name.ns.as_str();
    if root.name.local != "Envelope" || (ns != SOAP11_ENV_NS && ns != SOAP12_ENV_NS) {
        return Answer::NotSoap(format!(
            "the root element is {:?}, not a SOAP Envelope",
            root.name.local
        ));
    }
    let Some(body) = root.children_named(ns, "Body").next() else {
        return Answer::NotSoap("the envelope has no Body".into());
    };
    let Some(fault) = body.children_named(ns, "Fault").next() else {
        return Answer::Ok;
    };
    let text_of = |path: &[(&str, &str)]| -> String {
        let mut node = Some(fault);
        for (ns, local) in path {
            node = node.and_then(|n| {
                n.children
                    .iter()
                    .find(|c| c.name.local == *local && c.name.ns == *ns)
            });
        }
        node.map(|n| n.text.trim().to_string()).unwrap_or_default()
    };
    let fault = if ns == SOAP12_ENV_NS {
        Fault {
            code: text_of(&[(ns, "Code"), (ns, "Value")]),
            string: text_of(&[(ns, "Reason"), (ns, "Text")]),
        }
    } else {
        // SOAP 1.1 fault children are unqualified.
        Fault {
            code: text_of(&[("", "faultcode")]),
            string: text_of(&[("", "faultstring")]),
        }
    };
    Answer::Fault(fault)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn soap11_client_fault_is_refused() {
        let body = br#"<?xml version="1.0"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><s:Fault><faultcode>s:Client</faultcode><faultstring>bad &amp; wrong</faultstring></s:Fault></s:Body></s:Envelope>"#;
        let Answer::Fault(f) = read(body) else {
            panic!("{:?}", read(body))
        };
        assert_eq!(f.code, "s:Client");
        assert_eq!(f.string, "bad & wrong");
        assert_eq!(f.kind(), FaultKind::Refused);
    }

    #[test]
    fn soap12_receiver_fault_is_transient() {
        let body = br#"<e:Envelope xmlns:e="http://www.w3.org/2003/05/soap-envelope"><e:Body><e:Fault><e:Code><e:Value>e:Receiver</e:Value></e:Code><e:Reason><e:Text xml:lang="en">down</e:Text></e:Reason></e:Fault></e:Body></e:Envelope>"#;
        assert_eq!(
            read(body),
            Answer::Fault(Fault {
                code: "e:Receiver".into(),
                string: "down".into()
            })
        );
        let f = Fault {
            code: "soap:Server.Database".into(),
            string: String::new(),
        };
        assert_eq!(f.kind(), FaultKind::Transient);
        let f = Fault {
            code: "Sender".into(),
            string: String::new(),
        };
        assert_eq!(f.kind(), FaultKind::Refused);
    }

    #[test]
    fn plain_answers() {
        assert_eq!(read(b""), Answer::Ok);
        assert_eq!(
            read(br#"<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body><R xmlns="urn:x"/></soap:Body></soap:Envelope>"#),
            Answer::Ok
        );
        assert!(matches!(
            read(b"<html><body>oops</body></html>"),
            Answer::NotSoap(_)
        ));
        assert!(matches!(read(b"{\"ok\":true}"), Answer::NotSoap(_)));
    }
}
