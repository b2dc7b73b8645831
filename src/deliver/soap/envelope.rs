//! SOAP envelopes: the body a binding's parameters make, wrapped in a SOAP
//! 1.1 or 1.2 envelope, and the content type and action headers that go
//! with it. Values are XML-escaped, so a caller name or a SIP header cannot
//! change the envelope's shape.

use crate::config::SoapVersion;

use super::wsdl::Body;

pub const SOAP11_ENV_NS: &str = "http://schemas.xmlsoap.org/soap/envelope/";
pub const SOAP12_ENV_NS: &str = "http://www.w3.org/2003/05/soap-envelope";

/// The envelope namespace of a version.
pub fn envelope_ns(version: SoapVersion) -> &'static str {
    match version {
        SoapVersion::V11 => SOAP11_ENV_NS,
        SoapVersion::V12 => SOAP12_ENV_NS,
    }
}

/// The `Content-Type` and extra headers of a request: SOAP 1.1 sends
/// `text/xml` and a quoted `SOAPAction` header; SOAP 1.2 puts the action
/// into the `application/soap+xml` content type.
pub fn headers(version: SoapVersion, action: &str) -> (String, Vec<(String, String)>) {
    match version {
        SoapVersion::V11 => (
            "text/xml; charset=utf-8".into(),
            vec![("SOAPAction".into(), format!("\"{action}\""))],
        ),
        SoapVersion::V12 if action.is_empty() => {
            ("application/soap+xml; charset=utf-8".into(), Vec::new())
        }
        SoapVersion::V12 => (
            format!("application/soap+xml; charset=utf-8; action=\"{action}\""),
            Vec::new(),
        ),
    }
}

/// Builds the envelope for `body` with the given parameter values (by
/// parameter name). Parameters without a value are left out; values are
/// written in the WSDL's order.
pub fn build(version: SoapVersion, body: &Body, values: &[(String, String)]) -> String {
    let mut xml = String::with_capacity(512);
    xml.push_str("<?xml version=\"1.0\" encoding=\"utf-8\"?>");
    xml.push_str("<soap:Envelope xmlns:soap=\"");
    xml.push_str(envelope_ns(version));
    xml.push_str("\"><soap:Body>");
    // `m` is the wrapper's (and qualified parameters') namespace prefix;
    // a parameter in another namespace declares `p` on itself.
    let wrapper_ns = body.wrapper.as_ref().map(|w| w.ns.as_str());
    if let Some(w) = &body.wrapper {
        xml.push_str("<m:");
        xml.push_str(&w.local);
        xml.push_str(" xmlns:m=\"");
        escape_into(&mut xml, &w.ns);
        xml.push_str("\">");
    }
    for param in &body.params {
        let Some((_, value)) = values.iter().find(|(n, _)| *n == param.name) else {
            continue;
        };
        let (open, close) = match param.ns.as_deref() {
            Some(ns) if Some(ns) == wrapper_ns => (
                format!("<m:{}>", param.name),
                format!("</m:{}>", param.name),
            ),
            Some(ns) => {
                let mut open = format!("<p:{} xmlns:p=\"", param.name);
                escape_into(&mut open, ns);
                open.push_str("\">");
                (open, format!("</p:{}>", param.name))
            }
            None => (format!("<{}>", param.name), format!("</{}>", param.name)),
        };
        xml.push_str(&open);
        escape_into(&mut xml, value);
        xml.push_str(&close);
    }
    if let Some(w) = &body.wrapper {
        xml.push_str("</m:");
        xml.push_str(&w.local);
        xml.push('>');
    }
    xml.push_str("</soap:Body></soap:Envelope>");
    xml
}

/// Escapes text for element content and attribute values. CR is written as
/// a character reference so it survives line-end normalisation; characters
/// XML 1.0 cannot carry at all become U+FFFD.
pub fn escape_into(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\r' => out.push_str("&#13;"),
            '\t' | '\n' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deliver::soap::wsdl::{Param, QName};

    fn param(name: &str, ns: Option<&str>) -> Param {
        Param {
            name: name.into(),
            ns: ns.map(str::to_string),
            type_name: "xsd:string".into(),
            required: true,
        }
    }

    #[test]
    fn wrapped_soap11_known_answer_with_hostile_value() {
        let body = Body {
            wrapper: Some(QName {
                ns: "urn:calls".into(),
                local: "RecordCall".into(),
            }),
            params: vec![
                param("callId", Some("urn:calls")),
                param("note", Some("urn:calls")),
                param("callerName", Some("urn:calls")),
                param("extra", Some("urn:other")),
                param("plain", None),
            ],
        };
        let values = vec![
            ("callerName".to_string(), "<&>\"'\r\u{1}".to_string()),
            ("callId".to_string(), "c-1".to_string()),
            ("extra".to_string(), "x".to_string()),
            ("plain".to_string(), "y".to_string()),
        ];
        assert_eq!(
            build(SoapVersion::V11, &body, &values),
            "<?xml version=\"1.0\" encoding=\"utf-8\"?>\
<soap:Envelope xmlns:soap=\"http://schemas.xmlsoap.org/soap/envelope/\"><soap:Body>\
<m:RecordCall xmlns:m=\"urn:calls\"><m:callId>c-1</m:callId>\
<m:callerName>&lt;&amp;&gt;&quot;&apos;&#13;\u{FFFD}</m:callerName>\
<p:extra xmlns:p=\"urn:other\">x</p:extra><plain>y</plain></m:RecordCall>\
</soap:Body></soap:Envelope>"
        );
    }

    proptest::proptest! {
        /// Any value, however hostile, comes back out of the envelope as
        /// the one text of its element (what XML 1.0 can carry of it).
        #[test]
        fn any_value_round_trips_and_keeps_the_shape(value in "\\PC*|[<>&\"'\\r\\n\\t a-z]*") {
            let body = Body {
                wrapper: Some(QName { ns: "urn:calls".into(), local: "R".into() }),
                params: vec![param("a", Some("urn:calls")), param("b", None)],
            };
            let xml = build(SoapVersion::V12, &body, &[("a".into(), value.clone()), ("b".into(), "x".into())]);
            let root = crate::deliver::soap::xml_tree::parse_xml(&xml).unwrap();
            let wrapper = &root.children[0].children[0];
            proptest::prop_assert_eq!(wrapper.children.len(), 2);
            proptest::prop_assert_eq!(&wrapper.children[0].name.local, "a");
            proptest::prop_assert_eq!(&wrapper.children[0].text, &value);
            proptest::prop_assert_eq!(&wrapper.children[1].text, "x");
        }

        #[test]
        fn readers_never_panic(text in "\\PC*") {
            let _ = crate::deliver::soap::fault::read(text.as_bytes());
            let _ = crate::deliver::soap::wsdl::Wsdl::parse(&text, None);
        }
    }

    #[test]
    fn soap12_unwrapped_parts_and_headers() {
        let body = Body {
            wrapper: None,
            params: vec![param("Ping", Some("urn:p"))],
        };
        let xml = build(SoapVersion::V12, &body, &[("Ping".into(), "hi".into())]);
        assert_eq!(
            xml,
            "<?xml version=\"1.0\" encoding=\"utf-8\"?>\
<soap:Envelope xmlns:soap=\"http://www.w3.org/2003/05/soap-envelope\"><soap:Body>\
<p:Ping xmlns:p=\"urn:p\">hi</p:Ping></soap:Body></soap:Envelope>"
        );
        assert_eq!(
            headers(SoapVersion::V12, "urn:p#Ping"),
            (
                "application/soap+xml; charset=utf-8; action=\"urn:p#Ping\"".to_string(),
                vec![]
            )
        );
        assert_eq!(
            headers(SoapVersion::V11, "urn:p#Ping"),
            (
                "text/xml; charset=utf-8".to_string(),
                vec![("SOAPAction".to_string(), "\"urn:p#Ping\"".to_string())]
            )
        );
    }
}
