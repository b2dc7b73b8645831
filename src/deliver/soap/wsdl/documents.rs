//! The documents one WSDL is made of: the main document and every document
//! it reaches through `wsdl:import`, `xsd:import` and `xsd:include`, by
//! location (a URL, or a file path) resolved against the importing
//! document's own location.
//!
//! [`Gather`] decides which documents are needed; it does no I/O, so the
//! same walk serves a fetch over HTTP, a read of files and a read of the
//! cache: the caller asks it for the next location, obtains that text its
//! own way and hands it back. Cycles are cut by location; depth, document
//! count and each document's size are bounded.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::io::Read;
use std::path::Path;

use crate::deliver::soap::xml_tree::{parse_xml, Node};

use super::model::WsdlError;
use super::{WSDL_NS, XSD_NS};

/// The largest document (a WSDL or one it imports) that is read.
pub const DOCUMENT_LIMIT: usize = 4 * 1024 * 1024;
/// How deep import chains are followed.
pub const MAX_IMPORT_DEPTH: usize = 8;
/// How many documents one WSDL may be made of.
pub const MAX_DOCUMENTS: usize = 64;

/// A WSDL's documents, by absolute location; `main` is among them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Documents {
    pub main: String,
    pub texts: BTreeMap<String, String>,
}

impl Documents {
    /// One document that imports nothing by location (a test's text, say).
    pub fn single(location: &str, text: &str) -> Documents {
        Documents {
            main: location.to_string(),
            texts: BTreeMap::from([(location.to_string(), text.to_string())]),
        }
    }

    /// The imported documents (all but the main one).
    pub fn imports(&self) -> impl Iterator<Item = (&str, &str)> {
        self.texts
            .iter()
            .filter(|(l, _)| **l != self.main)
            .map(|(l, t)| (l.as_str(), t.as_str()))
    }
}

/// The walk over a WSDL's imports.
#[derive(Debug)]
pub struct Gather {
    main: String,
    texts: BTreeMap<String, String>,
    /// Locations still to obtain: (location, depth, who imports it).
    queue: VecDeque<(String, usize, Option<String>)>,
    current: Option<(String, usize, Option<String>)>,
    seen: BTreeSet<String>,
}

impl Gather {
    pub fn new(main: &str) -> Gather {
        Gather {
            main: main.to_string(),
            texts: BTreeMap::new(),
            queue: VecDeque::from([(main.to_string(), 0, None)]),
            current: None,
            seen: BTreeSet::from([main.to_string()]),
        }
    }

    /// The next location to obtain, or `None` when every document is in.
    pub fn next_location(&mut self) -> Option<String> {
        self.current = self.queue.pop_front();
        self.current.as_ref().map(|(l, _, _)| l.clone())
    }

    /// Hands back the text of the location [`Gather::next_location`] gave (or why it
    /// could not be obtained) and queues what that document imports.
    pub fn supply(&mut self, text: Result<String, String>) -> Result<(), WsdlError> {
        let Some((location, depth, importer)) = self.current.take() else {
            return Ok(());
        };
        let failed = |message: String| match &importer {
            None => WsdlError::Read {
                path: location.clone(),
                message,
            },
            Some(from) => WsdlError::Import {
                location: location.clone(),
                importer: from.clone(),
                message,
            },
        };
        let text = text.map_err(failed)?;
        let root = parse_xml(&text).map_err(|e| match &importer {
            None => WsdlError::Xml(e.0),
            Some(_) => failed(format!("not well-formed XML: {e}")),
        })?;
        for reference in references(&root) {
            let target = resolve(&location, &reference).map_err(failed)?;
            if !self.seen.insert(target.clone()) {
                continue;
            }
            if depth + 1 > MAX_IMPORT_DEPTH {
                return Err(WsdlError::Import {
                    location: target,
                    importer: location.clone(),
                    message: format!("imports are nested deeper than {MAX_IMPORT_DEPTH}"),
                });
            }
            if self.seen.len() > MAX_DOCUMENTS {
                return Err(WsdlError::Import {
                    location: target,
                    importer: location.clone(),
                    message: format!("the WSDL is made of more than {MAX_DOCUMENTS} documents"),
                });
            }
            self.queue
                .push_back((target, depth + 1, Some(location.clone())));
        }
        self.texts.insert(location, text);
        Ok(())
    }

    pub fn finish(self) -> Documents {
        Documents {
            main: self.main,
            texts: self.texts,
        }
    }
}

/// The locations a document refers to: `wsdl:import@location` and, in its
/// schemas (the document itself, or inside `wsdl:types`),
/// `xsd:import@schemaLocation` and `xsd:include@schemaLocation`. An
/// `xsd:import` without a location names a namespace another schema of the
/// same WSDL defines.
pub fn references(root: &Node) -> Vec<String> {
    let mut out = Vec::new();
    let mut schema = |s: &Node| {
        for child in &s.children {
            if child.name.ns == XSD_NS && matches!(child.name.local.as_str(), "import" | "include")
            {
                if let Some(l) = child.attr("schemaLocation") {
                    out.push(l.to_string());
                }
            }
        }
    };
    if root.name.ns == XSD_NS && root.name.local == "schema" {
        schema(root);
        return out;
    }
    for types in root.children_named(WSDL_NS, "types") {
        types.children_named(XSD_NS, "schema").for_each(&mut schema);
    }
    for import in root.children_named(WSDL_NS, "import") {
        if let Some(l) = import.attr("location") {
            out.push(l.to_string());
        }
    }
    out
}

/// `reference` resolved against the location of the document that holds
/// it: a URL against a URL (RFC 3986, so `?xsd=xsd0` and `schema1.xsd`
/// both work), a path against the importing file's directory. A file may
/// not import a URL, and a fetched WSDL may not import a file.
pub fn resolve(base: &str, reference: &str) -> Result<String, String> {
    if is_url(base) {
        let base = url::Url::parse(base).map_err(|e| format!("bad URL {base:?}: {e}"))?;
        let joined = base
            .join(reference)
            .map_err(|e| format!("bad location {reference:?}: {e}"))?;
        if !matches!(joined.scheme(), "http" | "https") {
            return Err(format!("location {reference:?} is not an http(s) URL"));
        }
        let mut joined = joined;
        joined.set_fragment(None);
        return Ok(joined.to_string());
    }
    if reference.contains("://") {
        return Err(format!(
            "location {reference:?} is a URL, imported by a local file (save that document beside the WSDL and import it by a relative path)"
        ));
    }
    let dir = Path::new(base).parent().unwrap_or(Path::new(""));
    Ok(dir.join(reference).display().to_string())
}

/// The document `reference` (in the document at `base`) names, among
/// those read.
pub fn imported<'a>(
    base: &str,
    reference: &str,
    parsed: &'a BTreeMap<&str, Node>,
) -> Result<&'a str, WsdlError> {
    let failed = |message: String| WsdlError::Import {
        location: reference.to_string(),
        importer: base.to_string(),
        message,
    };
    let target = resolve(base, reference).map_err(failed)?;
    parsed
        .get_key_value(target.as_str())
        .map(|(k, _)| *k)
        .ok_or_else(|| {
            failed("the document was not read (a WSDL given as text is read alone)".into())
        })
}

/// Whether a WSDL location is a URL (else a file path).
pub fn is_url(location: &str) -> bool {
    location.starts_with("http://") || location.starts_with("https://")
}

/// Reads a local document, at most [`DOCUMENT_LIMIT`] bytes.
pub fn read_file(path: &str) -> Result<String, String> {
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let mut bytes = Vec::new();
    file.take(DOCUMENT_LIMIT as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| e.to_string())?;
    if bytes.len() > DOCUMENT_LIMIT {
        return Err(too_large());
    }
    String::from_utf8(bytes).map_err(|_| "not UTF-8 text".to_string())
}

/// The message of a document over [`DOCUMENT_LIMIT`].
pub fn too_large() -> String {
    format!(
        "larger than the {} MiB limit for one WSDL document",
        DOCUMENT_LIMIT / (1024 * 1024)
    )
}

/// Every document of a local WSDL (imports by relative path).
pub fn gather_files(path: &str) -> Result<Documents, WsdlError> {
    let mut gather = Gather::new(path);
    while let Some(location) = gather.next_location() {
        gather.supply(read_file(&location))?;
    }
    Ok(gather.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_resolve_the_way_wcf_and_cxf_write_them() {
        let wcf = "http://127.0.0.1:8/Calls.svc?wsdl";
        assert_eq!(
            resolve(wcf, "?xsd=xsd0").unwrap(),
            "http://127.0.0.1:8/Calls.svc?xsd=xsd0"
        );
        assert_eq!(
            resolve(wcf, "http://127.0.0.1:8/Calls.svc?wsdl=wsdl0").unwrap(),
            "http://127.0.0.1:8/Calls.svc?wsdl=wsdl0"
        );
        let cxf = "http://127.0.0.1:8/cxf/calls?wsdl";
        assert_eq!(
            resolve(cxf, "calls?wsdl=CallsPort.wsdl").unwrap(),
            "http://127.0.0.1:8/cxf/calls?wsdl=CallsPort.wsdl"
        );
        assert_eq!(
            resolve("http://127.0.0.1:8/a/b.wsdl", "../x/t.xsd").unwrap(),
            "http://127.0.0.1:8/x/t.xsd"
        );
        assert_eq!(resolve("/srv/w/svc.wsdl", "t.xsd").unwrap(), "/srv/w/t.xsd");
        assert!(resolve("/srv/w/svc.wsdl", "http://h/t.xsd").is_err());
        assert!(resolve(wcf, "file:///etc/passwd").is_err());
    }

    #[test]
    fn cycles_are_followed_once_and_depth_is_bounded() {
        let schema = |to: &str| {
            format!(
                r#"<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema"><xs:include schemaLocation="{to}"/></xs:schema>"#
            )
        };
        let mut gather = Gather::new("http://h/a.xsd");
        let mut asked = Vec::new();
        while let Some(l) = gather.next_location() {
            asked.push(l.clone());
            let to = if l.ends_with("a.xsd") {
                "b.xsd"
            } else {
                "a.xsd"
            };
            gather.supply(Ok(schema(to))).unwrap();
        }
        assert_eq!(asked, ["http://h/a.xsd", "http://h/b.xsd"]);

        let mut gather = Gather::new("http://h/0.xsd");
        let mut n = 0;
        let err = loop {
            let Some(_) = gather.next_location() else {
                panic!("a chain deeper than the bound must fail")
            };
            n += 1;
            if let Err(e) = gather.supply(Ok(schema(&format!("{n}.xsd")))) {
                break e;
            }
        };
        assert_eq!(n, MAX_IMPORT_DEPTH + 1);
        assert_eq!(
            err.to_string(),
            format!("import http://h/9.xsd (from http://h/8.xsd) could not be followed: imports are nested deeper than {MAX_IMPORT_DEPTH}")
        );
    }

    #[test]
    fn a_missing_import_names_itself_and_its_importer() {
        let mut gather = Gather::new("http://h/svc?wsdl");
        gather.next_location();
        gather
            .supply(Ok(r#"<w:definitions xmlns:w="http://schemas.xmlsoap.org/wsdl/"><w:import namespace="urn:x" location="?wsdl=wsdl0"/></w:definitions>"#.into()))
            .unwrap();
        assert_eq!(
            gather.next_location().as_deref(),
            Some("http://h/svc?wsdl=wsdl0")
        );
        let err = gather.supply(Err("HTTP 404".into())).unwrap_err();
        assert_eq!(
            err.to_string(),
            "import http://h/svc?wsdl=wsdl0 (from http://h/svc?wsdl) could not be followed: HTTP 404"
        );
    }
}
