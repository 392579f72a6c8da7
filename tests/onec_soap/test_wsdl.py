"""The WSDL is 1C-shaped, needs credentials, and the shipped local copy matches the live one."""

from __future__ import annotations

import httpx
from lxml import etree  # type: ignore[import-untyped]

from connectors.onec.emulator.wsdl import NS, OPERATIONS, generate_wsdl
from connectors.onec.soap_client import LOCAL_WSDL

from .conftest import ADMIN, Base, publication

WSDL = "http://schemas.xmlsoap.org/wsdl/"
SOAP11 = "http://schemas.xmlsoap.org/wsdl/soap/"
SOAP12 = "http://schemas.xmlsoap.org/wsdl/soap12/"
XS = "http://www.w3.org/2001/XMLSchema"
N = {"w": WSDL, "s11": SOAP11, "s12": SOAP12, "xs": XS}


def fetch(base: Base, auth: tuple[str, str] | None = ADMIN) -> httpx.Response:
    basic = None if auth is None else httpx.BasicAuth(auth[0].encode(), auth[1].encode())
    return httpx.get(f"{publication(base)}/ws/Loyalty.1cws?wsdl", auth=basic, timeout=5)


def test_wsdl_needs_auth(retail: Base) -> None:
    assert fetch(retail, None).status_code == 401
    assert fetch(retail, ("Сайт", "не тот")).status_code == 401
    ok = fetch(retail)
    assert ok.status_code == 200
    assert "xml" in ok.headers["content-type"]


def test_wsdl_shape(retail: Base) -> None:
    doc = etree.fromstring(fetch(retail).content)
    assert doc.get("targetNamespace") == NS
    assert doc.get("name") == "Loyalty"
    ops = list(OPERATIONS)
    assert set(ops) == {
        "FindCardsByPhone",
        "GetCardBalance",
        "PostBonusMovement",
        "BlockCard",
        "GetPartner",
        "UpdatePartner",
    }
    # messages: one part each, named "parameters", pointing at <op> / <op>Response
    parts = doc.findall("w:message/w:part", N)
    assert len(parts) == 2 * len(ops)
    assert {p.get("name") for p in parts} == {"parameters"}
    elements = {p.get("element") for p in parts}
    assert elements == {f"tns:{op}" for op in ops} | {f"tns:{op}Response" for op in ops}
    # each response element wraps exactly one "return"
    schema = doc.find("w:types/xs:schema", N)
    assert schema is not None and schema.get("elementFormDefault") == "qualified"
    for op in ops:
        returns = schema.findall(f"xs:element[@name='{op}Response']/xs:complexType/xs:sequence/xs:element", N)
        assert [r.get("name") for r in returns] == ["return"]
    # port type and both bindings, soapAction "<ns>#Loyalty:<op>"
    assert [p.get("name") for p in doc.findall("w:portType", N)] == ["LoyaltyPortType"]
    bindings = {b.get("name"): b for b in doc.findall("w:binding", N)}
    assert set(bindings) == {"LoyaltySoapBinding", "LoyaltySoap12Binding"}
    for name, prefix in (("LoyaltySoapBinding", "s11"), ("LoyaltySoap12Binding", "s12")):
        binding = bindings[name]
        assert binding.get("type") == "tns:LoyaltyPortType"
        assert binding.find(f"{prefix}:binding", N).get("style") == "document"
        actions = {
            o.get("name"): o.find(f"{prefix}:operation", N).get("soapAction")
            for o in binding.findall("w:operation", N)
        }
        assert actions == {op: f"{NS}#Loyalty:{op}" for op in ops}
        uses = {b.get("use") for b in binding.findall(f"w:operation/*/{prefix}:body", N)}
        assert uses == {"literal"}
    # service Loyalty with ports LoyaltySoap / LoyaltySoap12 at the host the request came through
    service = doc.find("w:service", N)
    assert service is not None and service.get("name") == "Loyalty"
    ports = {p.get("name"): p for p in service.findall("w:port", N)}
    assert set(ports) == {"LoyaltySoap", "LoyaltySoap12"}
    expected = f"{publication(retail)}/ws/Loyalty.1cws"
    assert ports["LoyaltySoap"].find("s11:address", N).get("location") == expected
    assert ports["LoyaltySoap12"].find("s12:address", N).get("location") == expected


def test_address_follows_the_request_host(retail: Base) -> None:
    """Behind a proxy the address names the host the proxy used — the reason for the client override."""
    response = httpx.get(
        f"{publication(retail)}/ws/Loyalty.1cws?wsdl",
        auth=httpx.BasicAuth("Администратор".encode(), b""),
        headers={"Host": "srv1c.internal:8080"},
        timeout=5,
    )
    assert 'location="http://srv1c.internal:8080/dobrostroy/ws/Loyalty.1cws"' in response.text


def test_shipped_local_wsdl_is_the_generated_one(retail: Base) -> None:
    local = LOCAL_WSDL.read_text(encoding="utf-8")
    live = fetch(retail).text
    location = f"{publication(retail)}/ws/Loyalty.1cws"
    assert live == generate_wsdl(location)
    assert local == generate_wsdl("http://srv1c.dobrostroy.local/dobrostroy/ws/Loyalty.1cws")


def test_get_without_wsdl_is_refused(retail: Base) -> None:
    response = httpx.get(
        f"{publication(retail)}/ws/Loyalty.1cws",
        auth=httpx.BasicAuth("Администратор".encode(), b""),
        timeout=5,
    )
    assert response.status_code == 400
