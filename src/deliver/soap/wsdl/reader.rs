//! From a WSDL document's definitions to the model: bindings, port types
//! and messages joined into operations, each operation's input resolved
//! against the schemas into its parameters.

use std::collections::BTreeMap;
use std::path::Path;

use crate::config::SoapVersion;
use crate::deliver::soap::xml_tree::{parse_xml, Node, QName};

use super::model::{Binding, Body, Operation, Style, Wsdl, WsdlError};
use super::schema::Schemas;
use super::{SOAP11_BINDING_NS, SOAP12_BINDING_NS, WSDL_NS, XSD_NS};

impl Wsdl {
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

pub(super) fn read(path: &Path) -> Result<String, WsdlError> {
    std::fs::read_to_string(path).map_err(|e| WsdlError::Read {
        path: path.display().to_string(),
        message: e.to_string(),
    })
}
