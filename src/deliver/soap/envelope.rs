//! SOAP envelopes: the body a binding's parameters make, wrapped in a SOAP
//! 1.1 or 1.2 envelope, and the content type and action headers that go
//! with it. Values are XML-escaped, so a caller name or a SIP header cannot
//! change the envelope's shape.

use crate::config::SoapVersion;

use super::wsdl::{Body, Param};

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

/// A parameter value that does not fit its schema type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("param {param}: {message}")]
pub struct ValueError {
    pub param: String,
    pub message: String,
}

/// Builds the envelope for `body` with the given parameter values (by
/// parameter name). Parameters without a value are left out; values are
/// written in the WSDL's order. Header parameters go into `soap:Header`.
/// A structured parameter's value (a complex type, or a `maxOccurs`
/// above one) is JSON: an object's keys name the type's fields, written
/// in schema order; an array is one element per item.
pub fn build(
    version: SoapVersion,
    body: &Body,
    values: &[(String, String)],
) -> Result<String, ValueError> {
    let mut xml = String::with_capacity(512);
    xml.push_str("<?xml version=\"1.0\" encoding=\"utf-8\"?>");
    xml.push_str("<soap:Envelope xmlns:soap=\"");
    xml.push_str(envelope_ns(version));
    xml.push_str("\">");
    let given = |p: &Param| values.iter().find(|(n, _)| *n == p.name).map(|(_, v)| v);
    if body.headers.iter().any(|h| given(h).is_some()) {
        xml.push_str("<soap:Header>");
        for header in &body.headers {
            if let Some(value) = given(header) {
                top_level(&mut xml, header, value, None)?;
            }
        }
        xml.push_str("</soap:Header>");
    }
    xml.push_str("<soap:Body>");
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
        if let Some(value) = given(param) {
            top_level(&mut xml, param, value, wrapper_ns)?;
        }
    }
    if let Some(w) = &body.wrapper {
        xml.push_str("</m:");
        xml.push_str(&w.local);
        xml.push('>');
    }
    xml.push_str("</soap:Body></soap:Envelope>");
    Ok(xml)
}

/// A parameter's rendered template: text for a simple type, JSON for a
/// structured one.
fn top_level(
    xml: &mut String,
    param: &Param,
    value: &str,
    wrapper_ns: Option<&str>,
) -> Result<(), ValueError> {
    if !param.structured() {
        element(xml, param, wrapper_ns, |xml| {
            escape_into(xml, value);
            Ok(())
        })?;
        return Ok(());
    }
    let json: serde_json::Value = serde_json::from_str(value).map_err(|e| ValueError {
        param: param.name.clone(),
        message: format!(
            "the template must produce JSON ({}) for this {}: {e}",
            if param.repeated {
                "an array"
            } else {
                "an object"
            },
            if param.repeated {
                "repeated element"
            } else {
                "structure"
            },
        ),
    })?;
    structured(xml, param, &json, wrapper_ns, &param.name, false)
}

/// A JSON value as the elements of `param`: an array (when repeated) as
/// one element per item, an object as the type's fields, a scalar as text.
/// `null` leaves the element out. `item`: `value` is one item of an array.
fn structured(
    xml: &mut String,
    param: &Param,
    value: &serde_json::Value,
    wrapper_ns: Option<&str>,
    path: &str,
    item: bool,
) -> Result<(), ValueError> {
    use serde_json::Value;
    match value {
        Value::Null => return Ok(()),
        Value::Array(_) if item => {
            return Err(bad(path, "an array inside an array".to_string()));
        }
        Value::Array(items) if param.repeated => {
            for (i, v) in items.iter().enumerate() {
                structured(xml, param, v, wrapper_ns, &format!("{path}[{i}]"), true)?;
            }
            return Ok(());
        }
        Value::Array(_) => {
            return Err(bad(
                path,
                format!("an array, but {} occurs at most once", param.name),
            ));
        }
        _ => {}
    }
    if param.fields.is_empty() {
        let text = match value {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            Value::Null => return Ok(()),
            _ => {
                return Err(bad(
                    path,
                    format!("{} is of simple type {}", param.name, param.type_name),
                ))
            }
        };
        return element(xml, param, wrapper_ns, |xml| {
            escape_into(xml, &text);
            Ok(())
        });
    }
    let Value::Object(object) = value else {
        return Err(bad(
            path,
            format!(
                "{} is a structure ({}): give a JSON object",
                param.name, param.type_name
            ),
        ));
    };
    if let Some(unknown) = object
        .keys()
        .find(|k| !param.fields.iter().any(|f| &f.name == *k))
    {
        let known: Vec<_> = param.fields.iter().map(|f| f.name.as_str()).collect();
        return Err(bad(
            path,
            format!(
                "{unknown:?} is not a field of {} (its fields: {})",
                param.type_name,
                known.join(", ")
            ),
        ));
    }
    if let Some(missing) = param
        .fields
        .iter()
        .find(|f| f.required && object.get(&f.name).map_or(true, Value::is_null))
    {
        return Err(bad(
            path,
            format!(
                "missing required field {:?} of {}",
                missing.name, param.type_name
            ),
        ));
    }
    element(xml, param, wrapper_ns, |xml| {
        for field in &param.fields {
            if let Some(v) = object.get(&field.name) {
                structured(
                    xml,
                    field,
                    v,
                    wrapper_ns,
                    &format!("{path}.{}", field.name),
                    false,
                )?;
            }
        }
        Ok(())
    })
}

fn bad(path: &str, message: String) -> ValueError {
    ValueError {
        param: path.to_string(),
        message,
    }
}

/// Writes `<name>…</name>` with the prefix its namespace needs around what
/// `content` writes.
fn element(
    xml: &mut String,
    param: &Param,
    wrapper_ns: Option<&str>,
    content: impl FnOnce(&mut String) -> Result<(), ValueError>,
) -> Result<(), ValueError> {
    let close = match param.ns.as_deref() {
        Some(ns) if Some(ns) == wrapper_ns => {
            xml.push_str("<m:");
            xml.push_str(&param.name);
            xml.push('>');
            format!("</m:{}>", param.name)
        }
        Some(ns) => {
            xml.push_str("<p:");
            xml.push_str(&param.name);
            xml.push_str(" xmlns:p=\"");
            escape_into(xml, ns);
            xml.push_str("\">");
            format!("</p:{}>", param.name)
        }
        None => {
            xml.push('<');
            xml.push_str(&param.name);
            xml.push('>');
            format!("</{}>", param.name)
        }
    };
    content(xml)?;
    xml.push_str(&close);
    Ok(())
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
        Param::simple(name, ns, "xsd:string", true)
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
            headers: vec![],
        };
        let values = vec![
            ("callerName".to_string(), "<&>\"'\r\u{1}".to_string()),
            ("callId".to_string(), "c-1".to_string()),
            ("extra".to_string(), "x".to_string()),
            ("plain".to_string(), "y".to_string()),
        ];
        assert_eq!(
            build(SoapVersion::V11, &body, &values).unwrap(),
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
                headers: vec![],
            };
            let xml = build(SoapVersion::V12, &body, &[("a".into(), value.clone()), ("b".into(), "x".into())]).unwrap();
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
            let _ = crate::deliver::soap::wsdl::Wsdl::parse(&text);
        }
    }

    #[test]
    fn soap12_unwrapped_parts_and_headers() {
        let body = Body {
            wrapper: None,
            params: vec![param("Ping", Some("urn:p"))],
            headers: vec![],
        };
        let xml = build(SoapVersion::V12, &body, &[("Ping".into(), "hi".into())]).unwrap();
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

    #[test]
    fn structures_arrays_and_headers_follow_the_schema() {
        let mut leg = param("legs", Some("urn:c"));
        leg.repeated = true;
        leg.type_name = "Leg".into();
        leg.fields = vec![
            param("number", Some("urn:t")),
            Param::simple("seconds", None, "xsd:int", false),
        ];
        let mut token = param("Auth", Some("urn:h"));
        token.fields = vec![param("token", Some("urn:h"))];
        let body = Body {
            wrapper: Some(QName {
                ns: "urn:c".into(),
                local: "R".into(),
            }),
            params: vec![param("id", Some("urn:c")), leg],
            headers: vec![token],
        };
        let values = vec![
            ("id".to_string(), "1".to_string()),
            // Keys in any order; written in schema order; null left out.
            (
                "legs".to_string(),
                r#"[{"seconds": 5, "number": "a<"}, {"number": "b", "seconds": null}]"#.to_string(),
            ),
            ("Auth".to_string(), r#"{"token": "t&"}"#.to_string()),
        ];
        assert_eq!(
            build(SoapVersion::V11, &body, &values).unwrap(),
            "<?xml version=\"1.0\" encoding=\"utf-8\"?>\
<soap:Envelope xmlns:soap=\"http://schemas.xmlsoap.org/soap/envelope/\">\
<soap:Header><p:Auth xmlns:p=\"urn:h\"><p:token xmlns:p=\"urn:h\">t&amp;</p:token></p:Auth></soap:Header>\
<soap:Body><m:R xmlns:m=\"urn:c\"><m:id>1</m:id>\
<m:legs><p:number xmlns:p=\"urn:t\">a&lt;</p:number><seconds>5</seconds></m:legs>\
<m:legs><p:number xmlns:p=\"urn:t\">b</p:number></m:legs></m:R></soap:Body></soap:Envelope>"
        );
        let bad = |legs: &str| {
            let values = vec![("legs".to_string(), legs.to_string())];
            build(SoapVersion::V11, &body, &values)
                .unwrap_err()
                .to_string()
        };
        assert!(
            bad("not json").starts_with("param legs: the template must produce JSON (an array)")
        );
        assert_eq!(
            bad(r#"[{"number": "a", "colour": 1}]"#),
            "param legs[0]: \"colour\" is not a field of Leg (its fields: number, seconds)"
        );
        assert_eq!(
            bad(r#"[{"seconds": 1}]"#),
            "param legs[0]: missing required field \"number\" of Leg"
        );
        assert_eq!(
            bad(r#"[{"number": {"x": 1}, "seconds": 1}]"#),
            "param legs[0].number: number is of simple type xsd:string"
        );
    }
}
