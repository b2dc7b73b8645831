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
/// parameters, in schema order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Body {
    pub wrapper: Option<QName>,
    pub params: Vec<Param>,
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
}

impl Operation {
    /// The binding for `version`, when the WSDL has one.
    pub fn binding(&self, version: SoapVersion) -> Option<&Binding> {
        self.bindings.iter().find(|b| b.version == version)
    }

    /// The parameters (of the first binding; bindings of one port type
    /// share their messages).
    pub fn params(&self) -> &[Param] {
        self.bindings
            .first()
            .map(|b| b.body.params.as_slice())
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
