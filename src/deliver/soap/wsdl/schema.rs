//! XML Schema resolution: the schemas of a WSDL (inline, imported,
//! included, by location among the WSDL's documents) and, from them, a
//! message part's or an element's parameters in schema order with their
//! types, whether they are required or repeated, and — for a complex
//! type — their own child elements.

use std::collections::{BTreeMap, BTreeSet};

use crate::deliver::soap::xml_tree::{Node, QName};

use super::documents::{imported, MAX_IMPORT_DEPTH};
use super::model::{Body, Param, WsdlError};
use super::XSD_NS;

/// How deep nested complex types are unfolded into fields (a recursive
/// type stops here, its deepest level shown as `complex` without fields).
const MAX_NESTING: usize = 12;
/// How many parameters one operation's input may unfold into.
const MAX_PARAMS: usize = 4096;

/// A schema element with the target namespace and element form it has.
#[derive(Debug)]
struct Schema<'a> {
    tns: String,
    qualified: bool,
    node: &'a Node,
}

#[derive(Debug, Default)]
pub(super) struct Schemas<'a> {
    list: Vec<Schema<'a>>,
    seen: BTreeSet<String>,
}

impl<'a> Schemas<'a> {
    /// Adds `node` (an `xsd:schema` in the document at `base`) and what it
    /// imports or includes, found among the `parsed` documents.
    /// `chameleon` is the includer's namespace for an include without its
    /// own.
    pub(super) fn add(
        &mut self,
        node: &'a Node,
        chameleon: Option<&str>,
        base: &str,
        parsed: &'a BTreeMap<&str, Node>,
        depth: usize,
    ) -> Result<(), WsdlError> {
        let tns = node
            .attr("targetNamespace")
            .or(chameleon)
            .unwrap_or("")
            .to_string();
        let qualified = node.attr("elementFormDefault") == Some("qualified");
        self.list.push(Schema {
            tns: tns.clone(),
            qualified,
            node,
        });
        if depth >= MAX_IMPORT_DEPTH {
            return Ok(());
        }
        for child in &node.children {
            let include = match (child.name.ns.as_str(), child.name.local.as_str()) {
                (XSD_NS, "import") => false,
                (XSD_NS, "include") => true,
                _ => continue,
            };
            let Some(reference) = child.attr("schemaLocation") else {
                continue;
            };
            let target = imported(base, reference, parsed)?;
            if !self.seen.insert(target.to_string()) {
                continue;
            }
            let root = &parsed[target];
            if root.name.ns != XSD_NS || root.name.local != "schema" {
                return Err(WsdlError::Read {
                    path: target.to_string(),
                    message: "not an XML Schema document".into(),
                });
            }
            let chameleon = include.then_some(tns.as_str());
            self.add(root, chameleon, target, parsed, depth + 1)?;
        }
        Ok(())
    }

    fn global(&self, kind: &'static str, name: &QName) -> Option<(&Schema<'a>, &'a Node)> {
        self.list.iter().filter(|s| s.tns == name.ns).find_map(|s| {
            s.node
                .children_named(XSD_NS, kind)
                .find(|n| n.attr("name") == Some(name.local.as_str()))
                .map(|n| (s, n))
        })
    }

    /// Document style: one part naming an element of complex type is the
    /// wrapped form; otherwise every part is a parameter.
    pub(super) fn document_body(&self, parts: &[&Node], headers: Vec<Param>) -> Body {
        if let [part] = parts {
            let element = part.attr("element").and_then(|e| part.resolve(e));
            if let Some((schema, node)) = element.as_ref().and_then(|q| self.global("element", q)) {
                if let Some(params) = self.complex_params(schema, node, &mut 0, 0) {
                    return Body {
                        wrapper: element,
                        params,
                        headers,
                    };
                }
            }
        }
        Body {
            wrapper: None,
            params: parts.iter().map(|p| self.part_param(p)).collect(),
            headers,
        }
    }

    /// A message part as a parameter: named after its element (qualified)
    /// or after the part itself (typed, unqualified).
    pub(super) fn part_param(&self, part: &Node) -> Param {
        let mut budget = 0;
        if let Some(element) = part.attr("element").and_then(|e| part.resolve(e)) {
            let found = self.global("element", &element);
            let type_name = found
                .map(|(_, n)| type_label(n))
                .unwrap_or_else(|| "unknown".into());
            let fields = found
                .and_then(|(s, n)| self.complex_params(s, n, &mut budget, 1))
                .unwrap_or_default();
            return Param {
                fields,
                ..Param::simple(&element.local, Some(&element.ns), &type_name, true)
            };
        }
        let fields = part
            .attr("type")
            .and_then(|t| part.resolve(t))
            .and_then(|q| self.global("complexType", &q))
            .map(|(s, n)| self.fields_of(s, n, &mut budget, 1))
            .unwrap_or_default();
        let type_name = part
            .attr("type")
            .map(|t| qname_label(part, t))
            .unwrap_or_else(|| "anyType".into());
        Param {
            fields,
            ..Param::simple(part.attr("name").unwrap_or(""), None, &type_name, true)
        }
    }

    /// The children of a complex-typed element (inline or named type), or
    /// `None` when the element is simple.
    fn complex_params(
        &self,
        schema: &Schema<'a>,
        element: &Node,
        budget: &mut usize,
        nesting: usize,
    ) -> Option<Vec<Param>> {
        if let Some(inline) = element.children_named(XSD_NS, "complexType").next() {
            return Some(self.fields_of(schema, inline, budget, nesting));
        }
        let ty = element.attr("type").and_then(|t| element.resolve(t))?;
        let (ty_schema, ty_node) = self.global("complexType", &ty)?;
        Some(self.fields_of(ty_schema, ty_node, budget, nesting))
    }

    fn fields_of(
        &self,
        schema: &Schema<'a>,
        node: &Node,
        budget: &mut usize,
        nesting: usize,
    ) -> Vec<Param> {
        let mut out = Vec::new();
        if nesting <= MAX_NESTING {
            self.collect(schema, node, true, &mut out, 0, budget, nesting);
        }
        out
    }

    /// Walks a complex type's particles (sequence, all, choice, extension)
    /// and adds its elements in order, each with its own fields.
    #[allow(clippy::too_many_arguments)]
    fn collect(
        &self,
        schema: &Schema<'a>,
        node: &Node,
        required: bool,
        out: &mut Vec<Param>,
        depth: usize,
        budget: &mut usize,
        nesting: usize,
    ) {
        if depth > 16 {
            return;
        }
        for child in node.children.iter().filter(|c| c.name.ns == XSD_NS) {
            match child.name.local.as_str() {
                "sequence" | "all" => {
                    let optional = child.attr("minOccurs") == Some("0");
                    self.collect(
                        schema,
                        child,
                        required && !optional,
                        out,
                        depth + 1,
                        budget,
                        nesting,
                    );
                }
                "choice" => self.collect(schema, child, false, out, depth + 1, budget, nesting),
                "complexContent" | "extension" => {
                    if let Some((base_schema, base)) = child
                        .attr("base")
                        .and_then(|b| child.resolve(b))
                        .and_then(|q| self.global("complexType", &q))
                    {
                        self.collect(base_schema, base, required, out, depth + 1, budget, nesting);
                    }
                    self.collect(schema, child, required, out, depth + 1, budget, nesting);
                }
                "element" => {
                    if *budget >= MAX_PARAMS {
                        return;
                    }
                    *budget += 1;
                    let optional = child.attr("minOccurs") == Some("0");
                    let repeated = child
                        .attr("maxOccurs")
                        .is_some_and(|m| m == "unbounded" || m.parse::<u64>().is_ok_and(|n| n > 1));
                    if let Some(name) = child.attr("name") {
                        let qualified = match child.attr("form") {
                            Some(form) => form == "qualified",
                            None => schema.qualified,
                        };
                        let fields = self
                            .complex_params(schema, child, budget, nesting + 1)
                            .unwrap_or_default();
                        out.push(Param {
                            repeated,
                            fields,
                            ..Param::simple(
                                name,
                                qualified.then_some(schema.tns.as_str()),
                                &type_label(child),
                                required && !optional,
                            )
                        });
                    } else if let Some(target) = child.attr("ref").and_then(|r| child.resolve(r)) {
                        let found = self.global("element", &target);
                        let type_name = found
                            .map(|(_, n)| type_label(n))
                            .unwrap_or_else(|| "unknown".into());
                        let fields = found
                            .and_then(|(s, n)| self.complex_params(s, n, budget, nesting + 1))
                            .unwrap_or_default();
                        out.push(Param {
                            repeated,
                            fields,
                            ..Param::simple(
                                &target.local,
                                Some(&target.ns),
                                &type_name,
                                required && !optional,
                            )
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
