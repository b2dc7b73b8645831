"""A second, independent SOAP toolkit for postcall's tests: a spyne server
with strict lxml validation of every request.

    python3 server.py --port 0     (127.0.0.1; prints "listening <port>")

Serves its own WSDL at /calls?wsdl (SOAP 1.1, port /calls) and the same
service's WSDL split the way the enterprise toolkits split theirs:

- WCF (.NET): /wcf/Calls.svc?wsdl imports ?wsdl=wsdl0 (wsdl:import, the
  messages and port type), which imports ?xsd=xsd0, ?xsd=xsd1 (xsd:import,
  one per schema), all by absolute URL;
- CXF (JAX-WS): /cxf/calls?wsdl imports calls?wsdl=CallsPort.wsdl, which
  imports calls?xsd=calls_schemaN.xsd, all by relative location.

RecordCall takes an AuthHeader in the SOAP Header, a nested `caller`
structure and a repeated `legs` element. GET /received returns what was
received as JSON: [{path, body (raw XML), header, args}], as spyne parsed
them. Install: pip install -r tests/soap-peer-py/requirements.txt
"""

import argparse
import io
import json
import sys
import threading
from wsgiref.simple_server import WSGIRequestHandler, make_server

from lxml import etree
from spyne import (Application, ComplexModel, Integer, ServiceBase, Unicode,
                   rpc)
from spyne.protocol.soap import Soap11
from spyne.server.wsgi import WsgiApplication

TNS = "urn:postcall:py"
TYPES = "urn:postcall:py:types"
WSDL = "http://schemas.xmlsoap.org/wsdl/"
XSD = "http://www.w3.org/2001/XMLSchema"
MAX_RECORDS = 1000
MAX_BODY = 1024 * 1024

received = []
lock = threading.Lock()


# In the service's namespace: spyne 2.14 names a header message by its
# type's namespace prefix, which is only right when the two are the same.
class AuthHeader(ComplexModel):
    __namespace__ = TNS
    token = Unicode(min_occurs=1, nillable=False)


class Party(ComplexModel):
    __namespace__ = TYPES
    number = Unicode(min_occurs=1, nillable=False)
    name = Unicode


class Leg(ComplexModel):
    __namespace__ = TYPES
    number = Unicode(min_occurs=1, nillable=False)
    seconds = Integer(min_occurs=1, nillable=False)


def plain(value):
    """A spyne value as JSON-able data."""
    if isinstance(value, ComplexModel):
        return {k: plain(getattr(value, k, None))
                for k in type(value).get_flat_type_info(type(value))}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


class CallService(ServiceBase):
    __in_header__ = AuthHeader

    @rpc(Unicode(min_occurs=1, nillable=False),
         Party.customize(min_occurs=1, nillable=False),
         Leg.customize(max_occurs="unbounded"),
         Integer(min_occurs=1, nillable=False),
         _returns=Unicode)
    def RecordCall(ctx, callId, caller, legs, durationSeconds):
        with lock:
            if received and "args" not in received[-1]:
                received[-1]["header"] = plain(ctx.in_header)
                received[-1]["args"] = {
                    "callId": callId,
                    "caller": plain(caller),
                    "legs": plain(legs or []),
                    "durationSeconds": durationSeconds,
                }
        return "ref-" + callId


soap_app = WsgiApplication(Application(
    [CallService], tns=TNS, name="CallService",
    in_protocol=Soap11(validator="lxml"), out_protocol=Soap11()))


def own_wsdl(environ):
    """spyne's WSDL for this host, as an lxml tree."""
    inner = dict(environ, PATH_INFO="/calls", QUERY_STRING="wsdl",
                 REQUEST_METHOD="GET")
    inner["wsgi.input"] = io.BytesIO(b"")
    out = b"".join(soap_app(inner, lambda *a, **k: None))
    return etree.fromstring(out)


def split(environ, style):
    """The split documents: {query: bytes} for the WCF or CXF form."""
    root = own_wsdl(environ)
    host = "http://%s" % environ["HTTP_HOST"]
    if style == "wcf":
        base = host + "/wcf/Calls.svc"
        wsdl0 = base + "?wsdl=wsdl0"
        xsd = lambda i: base + "?xsd=xsd%d" % i
    else:
        wsdl0 = "calls?wsdl=CallsPort.wsdl"
        xsd = lambda i: "calls?xsd=calls_schema%d.xsd" % (i + 1)
    types = root.find("{%s}types" % WSDL)
    schemas = list(types)
    by_ns = {s.get("targetNamespace"): i for i, s in enumerate(schemas)}
    docs = {}
    for i, schema in enumerate(schemas):
        doc = etree.fromstring(etree.tostring(schema))
        for imp in doc.findall("{%s}import" % XSD):
            j = by_ns.get(imp.get("namespace"))
            if j is not None:
                imp.set("schemaLocation", xsd(j).split("/")[-1]
                        if style == "cxf" else xsd(j))
        key = "xsd=xsd%d" % i if style == "wcf" else "xsd=calls_schema%d.xsd" % (i + 1)
        docs[key] = etree.tostring(doc, xml_declaration=True, encoding="utf-8")

    # wsdl0: the types (by import), the messages and the port type.
    part = etree.fromstring(etree.tostring(root))
    for child in list(part):
        if child.tag not in ("{%s}types" % WSDL, "{%s}message" % WSDL,
                             "{%s}portType" % WSDL):
            part.remove(child)
    ptypes = part.find("{%s}types" % WSDL)
    for s in list(ptypes):
        ptypes.remove(s)
    holder = etree.SubElement(ptypes, "{%s}schema" % XSD,
                              targetNamespace=TNS + ":imports")
    for i, schema in enumerate(schemas):
        etree.SubElement(holder, "{%s}import" % XSD,
                         namespace=schema.get("targetNamespace"),
                         schemaLocation=xsd(i))
    docs["wsdl=wsdl0" if style == "wcf" else "wsdl=CallsPort.wsdl"] = \
        etree.tostring(part, xml_declaration=True, encoding="utf-8")

    # The main document: an import of wsdl0, the binding and the service.
    main = etree.fromstring(etree.tostring(root))
    for child in list(main):
        if child.tag in ("{%s}types" % WSDL, "{%s}message" % WSDL,
                         "{%s}portType" % WSDL):
            main.remove(child)
    imp = etree.Element("{%s}import" % WSDL, namespace=TNS, location=wsdl0)
    main.insert(0, imp)
    docs["wsdl"] = etree.tostring(main, xml_declaration=True, encoding="utf-8")
    return docs


def app(environ, start_response):
    path = environ.get("PATH_INFO", "")
    query = environ.get("QUERY_STRING", "")
    method = environ["REQUEST_METHOD"]
    if method == "GET" and path == "/received":
        with lock:
            body = json.dumps(received).encode()
        start_response("200 OK", [("Content-Type", "application/json")])
        return [body]
    if method == "GET" and path in ("/wcf/Calls.svc", "/cxf/calls"):
        docs = split(environ, "wcf" if path.startswith("/wcf") else "cxf")
        if query not in docs:
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"no such document"]
        start_response("200 OK", [("Content-Type", "text/xml; charset=utf-8")])
        return [docs[query]]
    if method == "POST" and path == "/calls":
        length = int(environ.get("CONTENT_LENGTH") or 0)
        raw = environ["wsgi.input"].read(min(length, MAX_BODY))
        with lock:
            if len(received) < MAX_RECORDS:
                received.append({"path": path,
                                 "body": raw.decode("utf-8", "replace")})
        environ["wsgi.input"] = io.BytesIO(raw)
        environ["CONTENT_LENGTH"] = str(len(raw))
    return soap_app(environ, start_response)


class Quiet(WSGIRequestHandler):
    def log_message(self, *args):
        pass


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    port = parser.parse_args().port
    server = make_server("127.0.0.1", port, app, handler_class=Quiet)
    print("listening %d" % server.server_port, flush=True)
    # Stops when its parent closes stdin (the test is over).
    threading.Thread(target=server.serve_forever, daemon=True).start()
    sys.stdin.read()
    server.shutdown()


if __name__ == "__main__":
    main()
