//! WSDL 1.1 reading: from the documents a WSDL is made of to the
//! operations a SOAP service can call — per operation its SOAP 1.1 and 1.2
//! bindings (endpoint, `soapAction`, style), the input's body parameters
//! with their XSD types, whether they are required or repeated and a
//! structure's fields, and its `soap:header` parts.
//!
//! - [`documents`]: which documents (`wsdl:import`, `xsd:import`,
//!   `xsd:include`, by location) make one WSDL, bounded.
//! - `model`: the operations, bindings and parameters.
//! - `reader`: definitions → operations; `schema`: XSD → parameters.
//!
//! Document/literal wrapped (one part naming an element of complex type)
//! gives the element's children as parameters; document/literal with
//! simple-element parts gives one parameter per part element; rpc/literal
//! gives one parameter per part, wrapped in an element named after the
//! operation in the `soap:body` namespace. Schemas come from `wsdl:types`
//! of every definitions document and from the documents they import.

pub mod documents;
mod model;
mod reader;
mod schema;

pub use crate::deliver::soap::xml_tree::QName;
pub use model::{Binding, Body, Operation, Param, Style, Wsdl, WsdlError};

pub const WSDL_NS: &str = "http://schemas.xmlsoap.org/wsdl/";
pub const SOAP11_BINDING_NS: &str = "http://schemas.xmlsoap.org/wsdl/soap/";
pub const SOAP12_BINDING_NS: &str = "http://schemas.xmlsoap.org/wsdl/soap12/";
pub const XSD_NS: &str = "http://www.w3.org/2001/XMLSchema";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SoapVersion;
    use std::path::Path;

    const PEER_WSDL: &str = include_str!("../../../../tests/soap-peer/calls.wsdl");

    #[test]
    fn the_peer_wsdl_lists_both_operations_with_both_versions() {
        let wsdl = Wsdl::parse(PEER_WSDL).unwrap();
        assert_eq!(wsdl.target_namespace, "http://example.com/postcall/calls");
        let names: Vec<_> = wsdl.operations.iter().map(|o| o.name.as_str()).collect();
        assert_eq!(names, ["RecordCall", "Ping"]);
        let op = wsdl.operation("RecordCall").unwrap();
        let v11 = op.binding(SoapVersion::V11).unwrap();
        assert_eq!(
            v11.soap_action,
            "http://example.com/postcall/calls/RecordCall"
        );
        assert_eq!(v11.endpoint.as_deref(), Some("__BASE__/calls"));
        assert_eq!(v11.style, Style::Document);
        let v12 = op.binding(SoapVersion::V12).unwrap();
        assert_eq!(v12.endpoint.as_deref(), Some("__BASE__/calls12"));
        assert_eq!(
            v11.body.wrapper,
            Some(QName {
                ns: "http://example.com/postcall/calls".into(),
                local: "RecordCall".into()
            })
        );
        let params: Vec<_> = op
            .params()
            .iter()
            .map(|p| (p.name.as_str(), p.type_name.as_str(), p.required))
            .collect();
        assert_eq!(
            params,
            [
                ("callId", "xsd:string", true),
                ("eventId", "xsd:string", true),
                ("caller", "xsd:string", true),
                ("callerName", "xsd:string", false),
                ("callee", "xsd:string", true),
                ("durationSeconds", "xsd:int", true),
                ("status", "xsd:string", true),
                ("note", "xsd:string", false),
            ]
        );
        assert!(op
            .params()
            .iter()
            .all(|p| p.ns.as_deref() == Some("http://example.com/postcall/calls")));
    }

    #[test]
    fn rpc_literal_parts_named_type_and_unqualified_children() {
        let text = r#"<definitions xmlns="http://schemas.xmlsoap.org/wsdl/"
  xmlns:s="http://schemas.xmlsoap.org/wsdl/soap/" xmlns:xs="http://www.w3.org/2001/XMLSchema"
  xmlns:t="urn:t" targetNamespace="urn:t">
 <message name="In"><part name="who" type="xs:string"/><part name="secs" type="xs:long"/></message>
 <portType name="P"><operation name="Hangup"><input message="t:In"/></operation></portType>
 <binding name="B" type="t:P"><s:binding style="rpc" transport="http://schemas.xmlsoap.org/soap/http"/>
  <operation name="Hangup"><s:operation soapAction=""/><input><s:body use="literal" namespace="urn:calls"/></input></operation>
 </binding>
 <service name="S"><port name="p" binding="t:B"><s:address location="http://h/x"/></port></service>
</definitions>"#;
        let wsdl = Wsdl::parse(text).unwrap();
        let b = wsdl.operations[0].binding(SoapVersion::V11).unwrap();
        assert_eq!(b.style, Style::Rpc);
        assert_eq!(b.body.wrapper.as_ref().unwrap().ns, "urn:calls");
        assert_eq!(b.body.wrapper.as_ref().unwrap().local, "Hangup");
        assert_eq!(
            b.body.params,
            [
                Param::simple("who", None, "xsd:string", true),
                Param::simple("secs", None, "xsd:long", true)
            ]
        );
        assert!(wsdl.operations[0].binding(SoapVersion::V12).is_none());
    }

    #[test]
    fn imported_schema_named_type_extension_and_unqualified_form() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("types.xsd"),
            r#"<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" targetNamespace="urn:types" xmlns:ty="urn:types">
  <xs:complexType name="Base"><xs:sequence><xs:element name="id" type="xs:string"/></xs:sequence></xs:complexType>
  <xs:complexType name="Call"><xs:complexContent><xs:extension base="ty:Base"><xs:sequence>
    <xs:element name="secs" type="xs:int" minOccurs="0"/>
    <xs:element name="kind"><xs:simpleType><xs:restriction base="xs:token"/></xs:simpleType></xs:element>
  </xs:sequence></xs:extension></xs:complexContent></xs:complexType>
  <xs:element name="Report" type="ty:Call"/>
</xs:schema>"#,
        )
        .unwrap();
        let wsdl_path = dir.path().join("svc.wsdl");
        std::fs::write(
            &wsdl_path,
            r#"<w:definitions xmlns:w="http://schemas.xmlsoap.org/wsdl/" xmlns:s12="http://schemas.xmlsoap.org/wsdl/soap12/"
  xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:ty="urn:types" xmlns:t="urn:svc" targetNamespace="urn:svc">
 <w:types><xs:schema targetNamespace="urn:svc"><xs:import namespace="urn:types" schemaLocation="types.xsd"/></xs:schema></w:types>
 <w:message name="In"><w:part name="body" element="ty:Report"/></w:message>
 <w:portType name="P"><w:operation name="Report"><w:input message="t:In"/></w:operation></w:portType>
 <w:binding name="B12" type="t:P"><s12:binding style="document"/>
  <w:operation name="Report"><s12:operation soapAction="urn:svc#Report"/><w:input><s12:body use="literal"/></w:input></w:operation>
 </w:binding>
</w:definitions>"#,
        )
        .unwrap();
        let wsdl = Wsdl::from_file(&wsdl_path).unwrap();
        let b = wsdl.operations[0].binding(SoapVersion::V12).unwrap();
        assert_eq!(b.endpoint, None);
        let params: Vec<_> = b
            .body
            .params
            .iter()
            .map(|p| {
                (
                    p.name.as_str(),
                    p.ns.is_some(),
                    p.type_name.as_str(),
                    p.required,
                )
            })
            .collect();
        assert_eq!(
            params,
            [
                ("id", false, "xsd:string", true),
                ("secs", false, "xsd:int", false),
                ("kind", false, "xsd:token", true)
            ]
        );
    }

    #[test]
    fn errors_are_named() {
        assert!(matches!(Wsdl::parse("<a><b></a>"), Err(WsdlError::Xml(_))));
        assert!(matches!(Wsdl::parse("<html/>"), Err(WsdlError::NotWsdl(_))));
        assert_eq!(
            Wsdl::parse(r#"<definitions xmlns="http://schemas.xmlsoap.org/wsdl/"/>"#),
            Err(WsdlError::NoSoapBinding)
        );
        assert!(matches!(
            Wsdl::from_file(Path::new("/nonexistent/x.wsdl")),
            Err(WsdlError::Read { .. })
        ));
    }

    /// JAX-WS style: the header is a part of the input message, named by
    /// `soap:header` and left out of the body by `soap:body parts`; a
    /// local file pulls its port type in by `wsdl:import`.
    #[test]
    fn header_parts_of_the_input_message_and_a_local_wsdl_import() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("port.wsdl"),
            r#"<w:definitions xmlns:w="http://schemas.xmlsoap.org/wsdl/" xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:t="urn:svc" targetNamespace="urn:svc">
 <w:types><xs:schema targetNamespace="urn:svc" elementFormDefault="qualified">
  <xs:element name="Report"><xs:complexType><xs:sequence>
   <xs:element name="id" type="xs:string"/>
   <xs:element name="tag" type="xs:string" minOccurs="0" maxOccurs="unbounded"/>
  </xs:sequence></xs:complexType></xs:element>
  <xs:element name="Auth"><xs:complexType><xs:sequence><xs:element name="key" type="xs:string"/></xs:sequence></xs:complexType></xs:element>
 </xs:schema></w:types>
 <w:message name="In"><w:part name="parameters" element="t:Report"/><w:part name="auth" element="t:Auth"/></w:message>
 <w:portType name="P"><w:operation name="Report"><w:input message="t:In"/></w:operation></w:portType>
</w:definitions>"#,
        )
        .unwrap();
        let main = dir.path().join("svc.wsdl");
        std::fs::write(
            &main,
            r#"<w:definitions xmlns:w="http://schemas.xmlsoap.org/wsdl/" xmlns:s="http://schemas.xmlsoap.org/wsdl/soap/" xmlns:t="urn:svc" targetNamespace="urn:svc">
 <w:import namespace="urn:svc" location="port.wsdl"/>
 <w:binding name="B" type="t:P"><s:binding style="document"/>
  <w:operation name="Report"><s:operation soapAction="urn:svc#Report"/>
   <w:input><s:body use="literal" parts="parameters"/><s:header use="literal" message="t:In" part="auth"/></w:input>
  </w:operation>
 </w:binding>
 <w:service name="S"><w:port name="p" binding="t:B"><s:address location="http://127.0.0.1:9/svc"/></w:port></w:service>
</w:definitions>"#,
        )
        .unwrap();
        let wsdl = Wsdl::from_file(&main).unwrap();
        let op = wsdl.operation("Report").unwrap();
        let names = |ps: &[Param]| -> Vec<(String, bool)> {
            ps.iter().map(|p| (p.name.clone(), p.repeated)).collect()
        };
        assert_eq!(
            names(op.params()),
            [("id".to_string(), false), ("tag".to_string(), true)]
        );
        assert_eq!(names(op.headers()), [("Auth".to_string(), false)]);
        assert_eq!(op.headers()[0].fields[0].name, "key");
        assert_eq!(op.headers()[0].ns.as_deref(), Some("urn:svc"));

        // Given as text alone, the import cannot be followed, and it says so.
        let text = std::fs::read_to_string(&main).unwrap();
        let err = Wsdl::parse(&text).unwrap_err().to_string();
        assert!(
            err.starts_with("import port.wsdl (from wsdl) could not be followed"),
            "{err}"
        );
    }
}
