//! The WSDL model: what a read WSDL says — its SOAP operations, per
//! operation the bindings that offer it and the parameters of its input —
//! and why a WSDL could not be read.

use crate::config::SoapVersion;

use crate::deliver::soap::xml_tree::QName;

/// Why a WSDL could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WsdlError {
    #[error("not well-formed XML: {0}")]
    Xml(String),
    #[error("not a WSDL 1.1 document (the root is {0:?}, expected wsdl:definitions)")]
    NotWsdl(String),
    #[error("{path}: cannot read: {message}")]
    Read { path: String, message: String },
    #[error("import {location} (from {importer}) could not be followed: {message}")]
    Import {
        location: String,
        importer: String,
        message: String,
    },
    #[error("the WSDL has no SOAP 1.1 or 1.2 binding")]
    NoSoapBinding,
}

/// A WSDL's SOAP operations, in document order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wsdl {
    pub target_namespace: String,
    pub operations: Vec<Operation>,
}

/// One operation and the SOAP bindings that offer it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operation {
    pub name: String,
    pub bindings: Vec<Binding>,
}

/// An operation as one SOAP binding offers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    pub version: SoapVersion,
    /// The binding's name (local part).
    pub binding: String,
    /// The `soap:address` of the first port using this binding.
    pub endpoint: Option<String>,
    /// `soapAction` (empty when the WSDL gives none).
    pub soap_action: String,
    pub style: Style,
    pub body: Body,
}

/// `document` or `rpc`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    Document,
    Rpc,
}

/// What goes inside `soap:Body`: an optional wrapper element and the
/// parameters, in schema order; and the `soap:header` parts, which go
/// inside `soap:Header`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Body {
    pub wrapper: Option<QName>,
    pub params: Vec<Param>,
    pub headers: Vec<Param>,
}

/// One input parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param {
    pub name: String,
    /// The element's namespace when it is qualified; `None` when unqualified.
    pub ns: Option<String>,
    /// The XSD type for display, e.g. `xsd:string`, `tns:Status`.
    pub type_name: String,
    /// `minOccurs` is not 0 (and it is not inside a choice).
    pub required: bool,
    /// `maxOccurs` is above 1 or `unbounded`: the value is a JSON array,
    /// one element per item.
    pub repeated: bool,
    /// A complex type's child elements, in schema order (empty for a
    /// simple type): the value is a JSON object keyed by their names.
    pub fields: Vec<Param>,
}

impl Param {
    /// A single element of simple type.
    pub fn simple(name: &str, ns: Option<&str>, type_name: &str, required: bool) -> Param {
        Param {
            name: name.to_string(),
            ns: ns.map(str::to_string),
            type_name: type_name.to_string(),
            required,
            repeated: false,
            fields: Vec::new(),
        }
    }

    /// Whether the parameter's template must produce JSON.
    pub fn structured(&self) -> bool {
        self.repeated || !self.fields.is_empty()
    }
}

impl Operation {
    /// The binding for `version`, when the WSDL has one.
    pub fn binding(&self, version: SoapVersion) -> Option<&Binding> {
        self.bindings.iter().find(|b| b.version == version)
    }

    /// The body parameters (of the first binding; bindings of one port
    /// type share their messages).
    pub fn params(&self) -> &[Param] {
        self.bindings
            .first()
            .map(|b| b.body.params.as_slice())
            .unwrap_or(&[])
    }

    /// The header parameters (of the first binding).
    pub fn headers(&self) -> &[Param] {
        self.bindings
            .first()
            .map(|b| b.body.headers.as_slice())
            .unwrap_or(&[])
    }
}

impl Wsdl {
    pub fn operation(&self, name: &str) -> Option<&Operation> {
        self.operations.iter().find(|o| o.name == name)
    }
}

impl From<crate::deliver::soap::xml_tree::XmlError> for WsdlError {
    fn from(e: crate::deliver::soap::xml_tree::XmlError) -> Self {
        WsdlError::Xml(e.0)
    }
}
