"""Lists a WSDL's operations and parameters the way zeep 4.3.3 reads them,
in the format of `postcall soap operations --wsdl URL` (one space between
columns instead of postcall's alignment), so tests/soap.rs can compare the
two readers line by line.

    python3 zeep_operations.py URL

Each operation: `NAME (SOAP 1.1, 1.2)` (the versions of the bindings that
carry it), then one line per body parameter and per SOAP header part:
`NAME TYPE[] required|optional`, header parts marked `(SOAP header)`, a
structure's fields indented below it. Types in the XML Schema namespace are
written `xsd:LOCAL`, others by their local name.
"""

import sys

import zeep
from zeep.wsdl.bindings.soap import Soap11Binding, Soap12Binding

XSD = "http://www.w3.org/2001/XMLSchema"
MAX_DEPTH = 16


def type_name(xsd_type):
    qname = xsd_type.qname
    if qname is None:
        return xsd_type.name or "?"
    if qname.namespace == XSD:
        return "xsd:" + qname.localname
    return qname.localname


def fields(xsd_type):
    return list(getattr(xsd_type, "elements", None) or [])


def param(out, name, element, depth, note=""):
    repeated = element.max_occurs == "unbounded" or element.max_occurs > 1
    required = element.min_occurs >= 1
    out.append("%s%s %s%s %s%s" % (
        "  " * depth, name, type_name(element.type), "[]" if repeated else "",
        "required" if required else "optional", note))
    if depth < MAX_DEPTH:
        for child_name, child in fields(element.type):
            param(out, child_name, child, depth + 1)


def main():
    client = zeep.Client(sys.argv[1])
    versions = {}
    operations = {}
    for service in client.wsdl.services.values():
        for port in service.ports.values():
            binding = port.binding
            version = ("1.1" if isinstance(binding, Soap11Binding) else
                       "1.2" if isinstance(binding, Soap12Binding) else None)
            if version is None:
                continue
            for name, operation in binding._operations.items():
                versions.setdefault(name, set()).add(version)
                operations.setdefault(name, operation)
    out = []
    for name, operation in operations.items():
        out.append("%s (SOAP %s)" % (name, ", ".join(sorted(versions[name]))))
        body = operation.input.body
        if body is not None:
            for part_name, part in fields(body.type):
                param(out, part_name, part, 1)
        header = operation.input.header
        if header is not None:
            for part_name, part in fields(header.type):
                param(out, part_name, part, 1, "  (SOAP header)")
    print("\n".join(out))


if __name__ == "__main__":
    main()
