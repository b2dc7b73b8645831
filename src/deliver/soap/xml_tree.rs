//! A small namespace-aware XML tree over quick-xml: each element with its
//! resolved name, attributes, children, text and the namespace bindings in
//! scope. The WSDL reader and the Fault reader both read documents into it.

use std::collections::BTreeMap;
use std::rc::Rc;

use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;

/// Why a text is not a well-formed XML document.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct XmlError(pub String);

/// A qualified name: namespace URI (empty for none) and local name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct QName {
    pub ns: String,
    pub local: String,
}

// A small namespace-aware tree over quick-xml.

/// An element with its resolved name, attributes (raw names), children and
/// the namespace bindings in scope (prefix → URI; `""` is the default).
#[derive(Debug, Clone)]
pub struct Node {
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
pub fn parse_xml(text: &str) -> Result<Node, XmlError> {
    let mut reader = Reader::from_str(text);
    let mut stack: Vec<Node> = Vec::new();
    let bad = |e: &dyn std::fmt::Display| XmlError(e.to_string());
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
                    return Err(XmlError("unbalanced end tag".into()));
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
            Event::Eof => return Err(XmlError("no root element".into())),
            _ => {}
        }
    }
}

fn open(start: &BytesStart<'_>, parent: Rc<BTreeMap<String, String>>) -> Result<Node, XmlError> {
    let mut attrs = Vec::new();
    let mut scope = parent;
    for attr in start.attributes() {
        let attr = attr.map_err(|e| XmlError(e.to_string()))?;
        let key = String::from_utf8_lossy(attr.key.as_ref()).into_owned();
        let value = attr
            .unescape_value()
            .map_err(|e| XmlError(e.to_string()))?
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
        None => return Err(XmlError(format!("undeclared prefix {prefix:?} on <{raw}>"))),
    };
    Ok(Node {
        name: QName { ns, local },
        attrs,
        scope,
        children: Vec::new(),
        text: String::new(),
    })
}
