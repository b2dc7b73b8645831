//! From a WSDL's documents to the model: the definitions of the main
//! document and of those it imports (`wsdl:import`) joined — bindings,
//! port types, messages — into operations, each operation's input
//! resolved against the schemas into its body and header parameters.

use std::collections::BTreeMap;
use std::path::Path;

use crate::config::SoapVersion;
use crate::deliver::soap::xml_tree::{parse_xml, Node, QName};

use super::documents::{gather_files, imported, Documents};
use super::model::{Binding, Body, Operation, Style, Wsdl, WsdlError};
use super::schema::Schemas;
use super::{SOAP11_BINDING_NS, SOAP12_BINDING_NS, WSDL_NS, XSD_NS};

/// Named WSDL components (messages, port types) of every definitions
/// document, by qualified name.
type Named<'a> = BTreeMap<QName, &'a Node>;

impl Wsdl {
    /// Reads a WSDL file and the files it imports by relative path.
    pub fn from_file(path: &Path) -> Result<Wsdl, WsdlError> {
        Wsdl::assemble(&gather_files(&path.display().to_string())?)
    }

    /// Parses one WSDL document that imports nothing by location.
    pub fn parse(text: &str) -> Result<Wsdl, WsdlError> {
        Wsdl::assemble(&Documents::single("wsdl", text))
    }

    /// Reads a WSDL from all its documents.
    pub fn assemble(docs: &Documents) -> Result<Wsdl, WsdlError> {
        let mut parsed: BTreeMap<&str, Node> = BTreeMap::new();
        for (location, text) in &docs.texts {
            parsed.insert(location.as_str(), parse_xml(text)?);
        }
        let main = parsed
            .get(docs.main.as_str())
            .ok_or_else(|| WsdlError::Read {
                path: docs.main.clone(),
                message: "not read".into(),
            })?;
        if main.name.ns != WSDL_NS || main.name.local != "definitions" {
            return Err(WsdlError::NotWsdl(main.name.local.clone()));
        }
        let tns = main.attr("targetNamespace").unwrap_or("").to_string();

        // The main definitions and those it imports, depth first, once each.
        let mut definitions: Vec<(&str, &Node)> = Vec::new();
        let mut schemas = Schemas::default();
        let mut stack: Vec<&str> = vec![docs.main.as_str()];
        let mut seen = std::collections::BTreeSet::new();
        while let Some(location) = stack.pop() {
            if !seen.insert(location) {
                continue;
            }
            let node = &parsed[location];
            if node.name.ns == XSD_NS && node.name.local == "schema" {
                schemas.add(node, None, location, &parsed, 0)?;
                continue;
            }
            if node.name.ns != WSDL_NS || node.name.local != "definitions" {
                return Err(WsdlError::Read {
                    path: location.to_string(),
                    message: format!(
                        "not a WSDL or XML Schema document (root {:?})",
                        node.name.local
                    ),
                });
            }
            definitions.push((location, node));
            for import in node.children_named(WSDL_NS, "import") {
                let Some(reference) = import.attr("location") else {
                    continue;
                };
                let target = imported(location, reference, &parsed)?;
                stack.push(target);
            }
        }
        for (location, defs) in &definitions {
            for types in defs.children_named(WSDL_NS, "types") {
                for schema in types.children_named(XSD_NS, "schema") {
                    schemas.add(schema, None, location, &parsed, 0)?;
                }
            }
        }
        let named = |kind: &'static str| -> Named<'_> {
            let mut out = Named::new();
            for (_, defs) in &definitions {
                let ns = defs.attr("targetNamespace").unwrap_or("");
                for n in defs.children_named(WSDL_NS, kind) {
                    if let Some(name) = n.attr("name") {
                        out.entry(QName {
                            ns: ns.to_string(),
                            local: name.to_string(),
                        })
                        .or_insert(n);
                    }
                }
            }
            out
        };
        let messages = named("message");
        let port_types = named("portType");
        let mut endpoints: BTreeMap<String, String> = BTreeMap::new();
        for service in definitions
            .iter()
            .flat_map(|(_, d)| d.children_named(WSDL_NS, "service"))
        {
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
        for binding in definitions
            .iter()
            .flat_map(|(_, d)| d.children_named(WSDL_NS, "binding"))
        {
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
                .and_then(|q| lookup(&port_types, &q));
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
                let input: Vec<&Node> = op
                    .children_named(WSDL_NS, "input")
                    .flat_map(|i| i.children.iter())
                    .filter(|c| c.name.ns == soap.name.ns)
                    .collect();
                let soap_body = input.iter().find(|c| c.name.local == "body");
                let body_ns = soap_body
                    .and_then(|b| b.attr("namespace"))
                    .unwrap_or(&tns)
                    .to_string();
                // `soap:header` parts: (message, part name) each.
                let header_parts: Vec<(Option<&Node>, &str)> = input
                    .iter()
                    .filter(|c| c.name.local == "header")
                    .filter_map(|h| {
                        let message = h
                            .attr("message")
                            .and_then(|m| h.resolve(m))
                            .and_then(|q| lookup(&messages, &q));
                        Some((message, h.attr("part")?))
                    })
                    .collect();
                let body_only: Option<Vec<&str>> = soap_body
                    .and_then(|b| b.attr("parts"))
                    .map(|p| p.split_whitespace().collect());
                let message = port_type
                    .and_then(|pt| {
                        pt.children_named(WSDL_NS, "operation")
                            .find(|o| o.attr("name") == Some(name))
                    })
                    .and_then(|o| o.children_named(WSDL_NS, "input").next())
                    .and_then(|i| i.attr("message").and_then(|m| i.resolve(m)))
                    .and_then(|q| lookup(&messages, &q));
                let is_header = |part: &Node| {
                    header_parts.iter().any(|(m, name)| {
                        part.attr("name") == Some(*name)
                            && m.is_some_and(|m| message.is_some_and(|i| std::ptr::eq(m, i)))
                    })
                };
                let parts: Vec<&Node> = message
                    .map(|m| m.children_named(WSDL_NS, "part").collect::<Vec<_>>())
                    .unwrap_or_default()
                    .into_iter()
                    .filter(|p| match &body_only {
                        Some(names) => p.attr("name").is_some_and(|n| names.contains(&n)),
                        None => !is_header(p),
                    })
                    .collect();
                let headers = header_parts
                    .iter()
                    .filter_map(|(m, name)| {
                        m.and_then(|m| {
                            m.children_named(WSDL_NS, "part")
                                .find(|p| p.attr("name") == Some(*name))
                        })
                    })
                    .map(|p| schemas.part_param(p))
                    .collect();
                let body = match style {
                    Style::Rpc => Body {
                        wrapper: Some(QName {
                            ns: body_ns,
                            local: name.to_string(),
                        }),
                        params: parts.iter().map(|p| schemas.part_param(p)).collect(),
                        headers,
                    },
                    Style::Document => schemas.document_body(&parts, headers),
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

/// A component by qualified name; by local name when the WSDL's prefixes
/// and target namespaces do not agree (as in some generated WSDLs).
fn lookup<'a>(named: &Named<'a>, name: &QName) -> Option<&'a Node> {
    named.get(name).copied().or_else(|| {
        named
            .iter()
            .find(|(q, _)| q.local == name.local)
            .map(|(_, n)| *n)
    })
}
