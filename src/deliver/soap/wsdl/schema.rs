//! XML Schema resolution: the schemas of a WSDL (inline, imported,
//! included) and, from them, a message part's or an element's parameters
//! in schema order with their types and whether they are required.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use crate::deliver::soap::xml_tree::{parse_xml, Node, QName};

use super::model::{Body, Param, WsdlError};
use super::reader::read;
use super::XSD_NS;

/// How deep `xsd:import`/`include` chains are followed.
const MAX_IMPORT_DEPTH: usize = 8;

// Schemas

/// A schema element with the target namespace and element form it has.
#[derive(Debug)]
struct Schema {
    tns: String,
    qualified: bool,
    node: Node,
}

#[derive(Debug, Default)]
pub(super) struct Schemas {
    list: Vec<Schema>,
    seen: HashSet<PathBuf>,
}

impl Schemas {
    /// Adds `node` (an `xsd:schema`) and what it imports or includes from
    /// `dir`. `chameleon` is the includer's namespace for an include
    /// without its own.
    pub(super) fn add(
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
    pub(super) fn document_body(&self, parts: &[&Node]) -> Body {
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
    pub(super) fn part_param(&self, part: &Node) -> Param {
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
