//! WSDL 1.1 reading: from the document's text to the operations a SOAP
//! service can call — per operation its SOAP 1.1 and 1.2 bindings
//! (endpoint, `soapAction`, style) and the input's parameters with their
//! XSD types and whether they are required.
//!
//! Document/literal wrapped (one part naming an element of complex type)
//! gives the element's children as parameters; document/literal with
//! simple-element parts gives one parameter per part element; rpc/literal
//! gives one parameter per part, wrapped in an element named after the
//! operation in the `soap:body` namespace. Schemas come from `wsdl:types`
//! and from `xsd:import`/`xsd:include` of files beside a local WSDL.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;

use crate::config::SoapVersion;

pub const WSDL_NS: &str = "http://schemas.xmlsoap.org/wsdl/";
pub const SOAP11_BINDING_NS: &str = "http://schemas.xmlsoap.org/wsdl/soap/";
pub const SOAP12_BINDING_NS: &str = "http://schemas.xmlsoap.org/wsdl/soap12/";
pub const XSD_NS: &str = "http://www.w3.org/2001/XMLSchema";

/// How deep `xsd:import`/`include` chains are followed.
const MAX_IMPORT_DEPTH: usize = 8;

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

/// A qualified name: namespace URI (empty for none) and local name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct QName {
    pub ns: String,
    pub local: String,
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

    /// Reads a WSDL file; schemas it imports are read from beside it.
    pub fn from_file(path: &Path) -> Result<Wsdl, WsdlError> {
        let text = read(path)?;
        Wsdl::parse(&text, path.parent())
    }

    /// Parses a WSDL's text. `dir` is where relative `schemaLocation`s are
    /// read from (a local WSDL's directory); `None` for a fetched WSDL,
    /// whose imports are then not followed.
    pub fn parse(text: &str, dir: Option<&Path>) -> Result<Wsdl, WsdlError> {
        let root = parse_xml(text)?;
        if root.name.ns != WSDL_NS || root.name.local != "definitions" {
            return Err(WsdlError::NotWsdl(root.name.local.clone()));
        }
        let tns = root.attr("targetNamespace").unwrap_or("").to_string();
        let mut schemas = Schemas::default();
        for types in root.children_named(WSDL_NS, "types") {
            for schema in types.children_named(XSD_NS, "schema") {
                schemas.add(schema.clone(), None, dir, 0)?;
            }
        }
        let messages: BTreeMap<String, &Node> = root
            .children_named(WSDL_NS, "message")
            .filter_map(|m| Some((m.attr("name")?.to_string(), m)))
            .collect();
        let port_types: BTreeMap<String, &Node> = root
            .children_named(WSDL_NS, "portType")
            .filter_map(|p| Some((p.attr("name")?.to_string(), p)))
            .collect();
        let mut endpoints: BTreeMap<String, String> = BTreeMap::new();
        for service in root.children_named(WSDL_NS, "service") {
            for port in service.children_named(WSDL_NS, "port") {
                let Some(binding) = port.attr("binding").and_then(|b| port.resolve(b)) else {
                    continue;
                };
                let address = port
                    .children
                    .iter()
                    .find(|c| c.name.local == "address")
                    .and_then(|a| a.attr("location"));
                if let Some(address) = address {
                    endpoints
                        .entry(binding.local)
                        .or_insert_with(|| address.to_string());
                }
            }
        }

        let mut operations: Vec<Operation> = Vec::new();
        for binding in root.children_named(WSDL_NS, "binding") {
            let Some(soap) = binding
                .children
                .iter()
                .find(|c| c.name.local == "binding" && soap_version(&c.name.ns).is_some())
            else {
                continue;
            };
            let Some(version) = soap_version(&soap.name.ns) else {
                continue;
            };
            let binding_name = binding.attr("name").unwrap_or("").to_string();
            let default_style = soap.attr("style").unwrap_or("document");
            let port_type = binding
                .attr("type")
                .and_then(|t| binding.resolve(t))
                .and_then(|q| port_types.get(&q.local).copied());
            for op in binding.children_named(WSDL_NS, "operation") {
                let Some(name) = op.attr("name") else {
                    continue;
                };
                let soap_op = op
                    .children
                    .iter()
                    .find(|c| c.name.local == "operation" && c.name.ns == soap.name.ns);
                let soap_action = soap_op
                    .and_then(|o| o.attr("soapAction"))
                    .unwrap_or("")
                    .to_string();
                let style = match soap_op
                    .and_then(|o| o.attr("style"))
                    .unwrap_or(default_style)
                {
                    "rpc" => Style::Rpc,
                    _ => Style::Document,
                };
                let body_ns = op
                    .children_named(WSDL_NS, "input")
                    .flat_map(|i| i.children.iter())
                    .find(|c| c.name.local == "body" && c.name.ns == soap.name.ns)
                    .and_then(|b| b.attr("namespace"))
                    .unwrap_or(&tns)
                    .to_string();
                let message = port_type
                    .and_then(|pt| {
                        pt.children_named(WSDL_NS, "operation")
                            .find(|o| o.attr("name") == Some(name))
                    })
                    .and_then(|o| o.children_named(WSDL_NS, "input").next())
                    .and_then(|i| i.attr("message").and_then(|m| i.resolve(m)))
                    .and_then(|q| messages.get(&q.local).copied());
                let parts: Vec<&Node> = message
                    .map(|m| m.children_named(WSDL_NS, "part").collect())
                    .unwrap_or_default();
                let body = match style {
                    Style::Rpc => Body {
                        wrapper: Some(QName {
                            ns: body_ns,
                            local: name.to_string(),
                        }),
                        params: parts.iter().map(|p| schemas.part_param(p)).collect(),
                    },
                    Style::Document => schemas.document_body(&parts),
                };
                let entry = Binding {
                    version,
                    binding: binding_name.clone(),
                    endpoint: endpoints.get(&binding_name).cloned(),
                    soap_action,
                    style,
                    body,
                };
                match operations.iter_mut().find(|o| o.name == name) {
                    Some(existing) => {
                        if existing.binding(version).is_none() {
                            existing.bindings.push(entry);
                        }
                    }
                    None => operations.push(Operation {
                        name: name.to_string(),
                        bindings: vec![entry],
                    }),
                }
            }
        }
        if operations.is_empty() {
            return Err(WsdlError::NoSoapBinding);
        }
        for op in &mut operations {
            op.bindings.sort_by_key(|b| b.version == SoapVersion::V12);
        }
        Ok(Wsdl {
            target_namespace: tns,
            operations,
        })
    }
}

fn soap_version(ns: &str) -> Option<SoapVersion> {
    match ns {
        SOAP11_BINDING_NS => Some(SoapVersion::V11),
        SOAP12_BINDING_NS => Some(SoapVersion::V12),
        _ => None,
    }
}

fn read(path: &Path) -> Result<String, WsdlError> {
    std::fs::read_to_string(path).map_err(|e| WsdlError::Read {
        path: path.display().to_string(),
        message: e.to_string(),
    })
}

// ---------------------------------------------------------------------------
// Schemas

/// A schema element with the target namespace and element form it has.
#[derive(Debug)]
struct Schema {
    tns: String,
    qualified: bool,
    node: Node,
}

#[derive(Debug, Default)]
struct Schemas {
    list: Vec<Schema>,
    seen: HashSet<PathBuf>,
}

impl Schemas {
    /// Adds `node` (an `xsd:schema`) and what it imports or includes from
    /// `dir`. `chameleon` is the includer's namespace for an include
    /// without its own.
    fn add(
        &mut self,
        node: Node,
        chameleon: Option<&str>,
        dir: Option<&Path>,
        depth: usize,
    ) -> Result<(), WsdlError> {
        let tns = node
            .attr("targetNamespace")
            .or(chameleon)
            .unwrap_or("")
            .to_string();
        let qualified = node.attr("elementFormDefault") == Some("qualified");
        let mut pending = Vec::new();
        if let Some(dir) = dir {
            for child in &node.children {
                let include = match (child.name.ns.as_str(), child.name.local.as_str()) {
                    (XSD_NS, "import") => false,
                    (XSD_NS, "include") => true,
                    _ => continue,
                };
                if let Some(location) = child.attr("schemaLocation") {
                    if !location.contains("://") {
                        pending.push((dir.join(location), include));
                    }
                }
            }
        }
        self.list.push(Schema {
            tns: tns.clone(),
            qualified,
            node,
        });
        if depth >= MAX_IMPORT_DEPTH {
            return Ok(());
        }
        for (path, include) in pending {
            if !self.seen.insert(path.clone()) {
                continue;
            }
            let root = parse_xml(&read(&path)?)?;
            if root.name.ns != XSD_NS || root.name.local != "schema" {
                return Err(WsdlError::Read {
                    path: path.display().to_string(),
                    message: "not an XML Schema document".into(),
                });
            }
            let chameleon = include.then_some(tns.as_str());
            self.add(root, chameleon, path.parent(), depth + 1)?;
        }
        Ok(())
    }

    fn global<'a>(&'a self, kind: &'a str, name: &QName) -> Option<(&'a Schema, &'a Node)> {
        self.list.iter().filter(|s| s.tns == name.ns).find_map(|s| {
            s.node
                .children_named(XSD_NS, kind)
                .find(|n| n.attr("name") == Some(name.local.as_str()))
                .map(|n| (s, n))
        })
    }

    /// Document style: one part naming an element of complex type is the
    /// wrapped form; otherwise every part is a parameter.
    fn document_body(&self, parts: &[&Node]) -> Body {
        if let [part] = parts {
            let element = part.attr("element").and_then(|e| part.resolve(e));
            if let Some((schema, node)) = element.as_ref().and_then(|q| self.global("element", q)) {
                if let Some(params) = self.complex_params(schema, node) {
                    return Body {
                        wrapper: element,
                        params,
                    };
                }
            }
        }
        Body {
            wrapper: None,
            params: parts.iter().map(|p| self.part_param(p)).collect(),
        }
    }

    /// A message part as a parameter: named after its element (qualified)
    /// or after the part itself (typed, unqualified).
    fn part_param(&self, part: &Node) -> Param {
        if let Some(element) = part.attr("element").and_then(|e| part.resolve(e)) {
            let type_name = self
                .global("element", &element)
                .map(|(_, n)| type_label(n))
                .unwrap_or_else(|| "unknown".into());
            return Param {
                name: element.local.clone(),
                ns: Some(element.ns),
                type_name,
                required: true,
            };
        }
        Param {
            name: part.attr("name").unwrap_or("").to_string(),
            ns: None,
            type_name: part
                .attr("type")
                .map(|t| qname_label(part, t))
                .unwrap_or_else(|| "anyType".into()),
            required: true,
        }
    }

    /// The children of a complex-typed element (inline or named type), or
    /// `None` when the element is simple.
    fn complex_params(&self, schema: &Schema, element: &Node) -> Option<Vec<Param>> {
        let mut out = Vec::new();
        if let Some(inline) = element.children_named(XSD_NS, "complexType").next() {
            self.collect(schema, inline, true, &mut out, 0);
            return Some(out);
        }
        let ty = element.attr("type").and_then(|t| element.resolve(t))?;
        let (ty_schema, ty_node) = self.global("complexType", &ty)?;
        self.collect(ty_schema, ty_node, true, &mut out, 0);
        Some(out)
    }

    /// Walks a complex type's particles (sequence, all, choice, extension)
    /// and adds its elements in order.
    fn collect(
        &self,
        schema: &Schema,
        node: &Node,
        required: bool,
        out: &mut Vec<Param>,
        depth: usize,
    ) {
        if depth > 16 {
            return;
        }
        for child in node.children.iter().filter(|c| c.name.ns == XSD_NS) {
            match child.name.local.as_str() {
                "sequence" | "all" => {
                    let optional = child.attr("minOccurs") == Some("0");
                    self.collect(schema, child, required && !optional, out, depth + 1);
                }
                "choice" => self.collect(schema, child, false, out, depth + 1),
                "complexContent" | "extension" => {
                    if let Some((base_schema, base)) = child
                        .attr("base")
                        .and_then(|b| child.resolve(b))
                        .and_then(|q| self.global("complexType", &q))
                    {
                        self.collect(base_schema, base, required, out, depth + 1);
                    }
                    self.collect(schema, child, required, out, depth + 1);
                }
                "element" => {
                    let optional = child.attr("minOccurs") == Some("0");
                    if let Some(name) = child.attr("name") {
                        let qualified = match child.attr("form") {
                            Some(form) => form == "qualified",
                            None => schema.qualified,
                        };
                        out.push(Param {
                            name: name.to_string(),
                            ns: qualified.then(|| schema.tns.clone()),
                            type_name: type_label(child),
                            required: required && !optional,
                        });
                    } else if let Some(target) = child.attr("ref").and_then(|r| child.resolve(r)) {
                        let type_name = self
                            .global("element", &target)
                            .map(|(_, n)| type_label(n))
                            .unwrap_or_else(|| "unknown".into());
                        out.push(Param {
                            name: target.local.clone(),
                            ns: Some(target.ns),
                            type_name,
                            required: required && !optional,
                        });
                    }
                }
                _ => {}
            }
        }
    }
}

/// An element's type for display: its `type`, an inline simple type's
/// base, or `complex`.
fn type_label(element: &Node) -> String {
    if let Some(t) = element.attr("type") {
        return qname_label(element, t);
    }
    if let Some(simple) = element.children_named(XSD_NS, "simpleType").next() {
        if let Some(base) = simple
            .children_named(XSD_NS, "restriction")
            .next()
            .and_then(|r| r.attr("base").map(|b| qname_label(r, b)))
        {
            return base;
        }
    }
    if element
        .children_named(XSD_NS, "complexType")
        .next()
        .is_some()
    {
        return "complex".into();
    }
    "anyType".into()
}

/// `xsd:local` for XML Schema types, the local name otherwise.
fn qname_label(node: &Node, raw: &str) -> String {
    match node.resolve(raw) {
        Some(q) if q.ns == XSD_NS => format!("xsd:{}", q.local),
        Some(q) => q.local,
        None => raw.to_string(),
    }
}

// ---------------------------------------------------------------------------
// A small namespace-aware tree over quick-xml.

/// An element with its resolved name, attributes (raw names), children and
/// the namespace bindings in scope (prefix → URI; `""` is the default).
#[derive(Debug, Clone)]
pub(crate) struct Node {
    pub name: QName,
    attrs: Vec<(String, String)>,
    scope: Rc<BTreeMap<String, String>>,
    pub children: Vec<Node>,
    pub text: String,
}

impl Node {
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Resolves a QName-valued attribute in this element's scope.
    pub fn resolve(&self, raw: &str) -> Option<QName> {
        let (prefix, local) = match raw.split_once(':') {
            Some((p, l)) => (p, l),
            None => ("", raw),
        };
        let ns = match self.scope.get(prefix) {
            Some(ns) => ns.clone(),
            None if prefix.is_empty() => String::new(),
            None => return None,
        };
        Some(QName {
            ns,
            local: local.to_string(),
        })
    }

    pub fn children_named<'a>(
        &'a self,
        ns: &'a str,
        local: &'a str,
    ) -> impl Iterator<Item = &'a Node> + 'a {
        self.children
            .iter()
            .filter(move |c| c.name.ns == ns && c.name.local == local)
    }
}

/// Parses a whole document into its root element. DTDs are not expanded.
pub(crate) fn parse_xml(text: &str) -> Result<Node, WsdlError> {
    let mut reader = Reader::from_str(text);
    let mut stack: Vec<Node> = Vec::new();
    let bad = |e: &dyn std::fmt::Display| WsdlError::Xml(e.to_string());
    loop {
        match reader.read_event().map_err(|e| bad(&e))? {
            Event::Start(start) => {
                let scope = stack.last().map(|n| n.scope.clone()).unwrap_or_default();
                stack.push(open(&start, scope)?);
            }
            Event::Empty(start) => {
                let scope = stack.last().map(|n| n.scope.clone()).unwrap_or_default();
                let node = open(&start, scope)?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(node),
                    None => return Ok(node),
                }
            }
            Event::End(_) => {
                let Some(node) = stack.pop() else {
                    return Err(WsdlError::Xml("unbalanced end tag".into()));
                };
                match stack.last_mut() {
                    Some(parent) => parent.children.push(node),
                    None => return Ok(node),
                }
            }
            Event::Text(t) => {
                if let Some(node) = stack.last_mut() {
                    node.text.push_str(&t.unescape().map_err(|e| bad(&e))?);
                }
            }
            Event::CData(c) => {
                if let Some(node) = stack.last_mut() {
                    node.text.push_str(&String::from_utf8_lossy(&c));
                }
            }
            Event::Eof => return Err(WsdlError::Xml("no root element".into())),
            _ => {}
        }
    }
}

fn open(start: &BytesStart<'_>, parent: Rc<BTreeMap<String, String>>) -> Result<Node, WsdlError> {
    let mut attrs = Vec::new();
    let mut scope = parent;
    for attr in start.attributes() {
        let attr = attr.map_err(|e| WsdlError::Xml(e.to_string()))?;
        let key = String::from_utf8_lossy(attr.key.as_ref()).into_owned();
        let value = attr
            .unescape_value()
            .map_err(|e| WsdlError::Xml(e.to_string()))?
            .into_owned();
        if key == "xmlns" {
            Rc::make_mut(&mut scope).insert(String::new(), value);
        } else if let Some(prefix) = key.strip_prefix("xmlns:") {
            Rc::make_mut(&mut scope).insert(prefix.to_string(), value);
        } else {
            attrs.push((key, value));
        }
    }
    let raw = String::from_utf8_lossy(start.name().as_ref()).into_owned();
    let (prefix, local) = match raw.split_once(':') {
        Some((p, l)) => (p.to_string(), l.to_string()),
        None => (String::new(), raw.clone()),
    };
    let ns = match scope.get(&prefix) {
        Some(ns) => ns.clone(),
        None if prefix.is_empty() => String::new(),
        None => {
            return Err(WsdlError::Xml(format!(
                "undeclared prefix {prefix:?} on <{raw}>"
            )))
        }
    };
    Ok(Node {
        name: QName { ns, local },
        attrs,
        scope,
        children: Vec::new(),
        text: String::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PEER_WSDL: &str = include_str!("../../../tests/soap-peer/calls.wsdl");

    #[test]
    fn the_peer_wsdl_lists_both_operations_with_both_versions() {
        let wsdl = Wsdl::parse(PEER_WSDL, None).unwrap();
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
        let wsdl = Wsdl::parse(text, None).unwrap();
        let b = wsdl.operations[0].binding(SoapVersion::V11).unwrap();
        assert_eq!(b.style, Style::Rpc);
        assert_eq!(b.body.wrapper.as_ref().unwrap().ns, "urn:calls");
        assert_eq!(b.body.wrapper.as_ref().unwrap().local, "Hangup");
        assert_eq!(
            b.body.params,
            [
                Param {
                    name: "who".into(),
                    ns: None,
                    type_name: "xsd:string".into(),
                    required: true
                },
                Param {
                    name: "secs".into(),
                    ns: None,
                    type_name: "xsd:long".into(),
                    required: true
                }
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
        assert!(matches!(
            Wsdl::parse("<a><b></a>", None),
            Err(WsdlError::Xml(_))
        ));
        assert!(matches!(
            Wsdl::parse("<html/>", None),
            Err(WsdlError::NotWsdl(_))
        ));
        assert_eq!(
            Wsdl::parse(
                r#"<definitions xmlns="http://schemas.xmlsoap.org/wsdl/"/>"#,
                None
            ),
            Err(WsdlError::NoSoapBinding)
        );
        assert!(matches!(
            Wsdl::from_file(Path::new("/nonexistent/x.wsdl")),
            Err(WsdlError::Read { .. })
        ));
    }
}
