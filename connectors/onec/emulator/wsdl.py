"""The WSDL of the ``Loyalty`` web service, generated the way 1C:Enterprise generates one.

1C's shape (see ``/work/shared/reference/onec.md``): document/literal; one XSD schema in the
service's targetNamespace (``elementFormDefault="qualified"``); per operation a request element named
like the operation and a response element ``<op>Response`` wrapping one ``return`` element; messages
``<op>RequestMessage`` / ``<op>ResponseMessage`` whose only part is named ``parameters``; port type
``LoyaltyPortType``; bindings ``LoyaltySoapBinding`` (SOAP 1.1) and ``LoyaltySoap12Binding`` (SOAP 1.2)
with ``soapAction="<ns>#Loyalty:<op>"``; service ``Loyalty`` with ports ``LoyaltySoap`` and
``LoyaltySoap12`` whose address is the publication host the request came through (so behind a proxy
it is wrong, which is why clients can override it). 1C declares no ``fault`` elements: errors are
plain ``soap:Fault``s.

Operations (parameters → ``return``):

- ``FindCardsByPhone(phone)`` → ``CardList`` (``card*``: ref, number, kind, status, owner, ownerName,
  balance)
- ``GetCardBalance(cardNumber)`` → ``Balance`` (cardNumber, accrued, toWriteOff)
- ``PostBonusMovement(cardNumber, amount, externalId, comment?)`` → ``MovementResult`` (ref, number,
  date, externalId, created) — idempotent by ``externalId``
- ``BlockCard(cardNumber, reason?)`` → ``Card``
- ``GetPartner(ref)`` → ``Partner`` (ref, code, name, fullName, phone, email, birthDate?)
- ``UpdatePartner(ref, name?, fullName?, phone?, email?, birthDate?)`` → ``Partner`` (an absent
  element is left as it is; an empty string, or ``xsi:nil`` for ``birthDate``, clears it)
"""

from __future__ import annotations

from dataclasses import dataclass

NS = "http://dobrostroy.ru/loyalty"
SERVICE = "Loyalty"
SOAP11_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12_ENV = "http://www.w3.org/2003/05/soap-envelope"


@dataclass(frozen=True)
class Param:
    name: str
    type: str  # xs:… or tns:…
    optional: bool = False
    nillable: bool = False
    many: bool = False

    def xsd(self, indent: str) -> str:
        attrs = f'name="{self.name}" type="{self.type}"'
        if self.optional or self.many:
            attrs += ' minOccurs="0"'
        if self.many:
            attrs += ' maxOccurs="unbounded"'
        if self.nillable:
            attrs += ' nillable="true"'
        return f"{indent}<xs:element {attrs}/>"


TYPES: dict[str, tuple[Param, ...]] = {
    "Card": (
        Param("ref", "xs:string"),
        Param("number", "xs:string"),
        Param("kind", "xs:string"),
        Param("status", "xs:string"),
        Param("owner", "xs:string"),
        Param("ownerName", "xs:string"),
        Param("balance", "xs:decimal"),
    ),
    "CardList": (Param("card", "tns:Card", many=True),),
    "Balance": (
        Param("cardNumber", "xs:string"),
        Param("accrued", "xs:decimal"),
        Param("toWriteOff", "xs:decimal"),
    ),
    "MovementResult": (
        Param("ref", "xs:string"),
        Param("number", "xs:string"),
        Param("date", "xs:dateTime"),
        Param("externalId", "xs:string"),
        Param("created", "xs:boolean"),
    ),
    "Partner": (
        Param("ref", "xs:string"),
        Param("code", "xs:string"),
        Param("name", "xs:string"),
        Param("fullName", "xs:string"),
        Param("phone", "xs:string"),
        Param("email", "xs:string"),
        Param("birthDate", "xs:date", optional=True, nillable=True),
    ),
}

#: operation → (parameters, return type)
OPERATIONS: dict[str, tuple[tuple[Param, ...], str]] = {
    "FindCardsByPhone": ((Param("phone", "xs:string"),), "tns:CardList"),
    "GetCardBalance": ((Param("cardNumber", "xs:string"),), "tns:Balance"),
    "PostBonusMovement": (
        (
            Param("cardNumber", "xs:string"),
            Param("amount", "xs:decimal"),
            Param("externalId", "xs:string"),
            Param("comment", "xs:string", optional=True),
        ),
        "tns:MovementResult",
    ),
    "BlockCard": (
        (Param("cardNumber", "xs:string"), Param("reason", "xs:string", optional=True)),
        "tns:Card",
    ),
    "GetPartner": ((Param("ref", "xs:string"),), "tns:Partner"),
    "UpdatePartner": (
        (
            Param("ref", "xs:string"),
            Param("name", "xs:string", optional=True),
            Param("fullName", "xs:string", optional=True),
            Param("phone", "xs:string", optional=True),
            Param("email", "xs:string", optional=True),
            Param("birthDate", "xs:date", optional=True, nillable=True),
        ),
        "tns:Partner",
    ),
}


def soap_action(operation: str, ns: str = NS) -> str:
    return f"{ns}#{SERVICE}:{operation}"


def generate_wsdl(location: str, ns: str = NS) -> str:
    """The WSDL text with both ports at ``location`` (the ``…/ws/Loyalty.1cws`` URL)."""
    schema: list[str] = []
    for name, params in TYPES.items():
        schema.append(f'\t\t\t<xs:complexType name="{name}">')
        schema.append("\t\t\t\t<xs:sequence>")
        schema.extend(p.xsd("\t\t\t\t\t") for p in params)
        schema.append("\t\t\t\t</xs:sequence>")
        schema.append("\t\t\t</xs:complexType>")
    for op, (params, returns) in OPERATIONS.items():
        for element, members in ((op, params), (f"{op}Response", (Param("return", returns),))):
            schema.append(f'\t\t\t<xs:element name="{element}">')
            schema.append("\t\t\t\t<xs:complexType>")
            schema.append("\t\t\t\t\t<xs:sequence>")
            schema.extend(p.xsd("\t\t\t\t\t\t") for p in members)
            schema.append("\t\t\t\t\t</xs:sequence>")
            schema.append("\t\t\t\t</xs:complexType>")
            schema.append("\t\t\t</xs:element>")
    messages: list[str] = []
    port_ops: list[str] = []
    for op in OPERATIONS:
        messages.append(
            f'\t<message name="{op}RequestMessage">\n\t\t<part name="parameters" element="tns:{op}"/>\n'
            f'\t</message>\n\t<message name="{op}ResponseMessage">\n'
            f'\t\t<part name="parameters" element="tns:{op}Response"/>\n\t</message>'
        )
        port_ops.append(
            f'\t\t<operation name="{op}">\n\t\t\t<input message="tns:{op}RequestMessage"/>\n'
            f'\t\t\t<output message="tns:{op}ResponseMessage"/>\n\t\t</operation>'
        )

    def binding(name: str, prefix: str) -> str:
        ops = "\n".join(
            f'\t\t<operation name="{op}">\n'
            f'\t\t\t<{prefix}:operation style="document" soapAction="{soap_action(op, ns)}"/>\n'
            f'\t\t\t<input>\n\t\t\t\t<{prefix}:body use="literal"/>\n\t\t\t</input>\n'
            f'\t\t\t<output>\n\t\t\t\t<{prefix}:body use="literal"/>\n\t\t\t</output>\n\t\t</operation>'
            for op in OPERATIONS
        )
        return (
            f'\t<binding name="{name}" type="tns:{SERVICE}PortType">\n'
            f'\t\t<{prefix}:binding style="document" transport="http://schemas.xmlsoap.org/soap/http"/>\n'
            f"{ops}\n\t</binding>"
        )

    location = _attr(location)
    claim = (
        '\t\t\t<documentation>\n\t\t\t\t<wsi:Claim xmlns:wsi="http://ws-i.org/schemas/conformanceClaim/" '
        'conformsTo="http://ws-i.org/profiles/basic/1.1"/>\n\t\t\t</documentation>\n'
    )
    nl = "\n"
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="http://schemas.xmlsoap.org/wsdl/"
		xmlns:soap12bind="http://schemas.xmlsoap.org/wsdl/soap12/"
		xmlns:soapbind="http://schemas.xmlsoap.org/wsdl/soap/"
		xmlns:tns="{ns}"
		xmlns:wsp="http://schemas.xmlsoap.org/ws/2004/09/policy"
		xmlns:wsu="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
		xmlns:xsd="http://www.w3.org/2001/XMLSchema"
		xmlns:xsd1="{ns}"
		name="{SERVICE}"
		targetNamespace="{ns}">
	<types>
		<xs:schema xmlns:tns="{ns}"
				xmlns:xs="http://www.w3.org/2001/XMLSchema"
				targetNamespace="{ns}"
				attributeFormDefault="unqualified"
				elementFormDefault="qualified">
{nl.join(schema)}
		</xs:schema>
	</types>
{nl.join(messages)}
	<portType name="{SERVICE}PortType">
{nl.join(port_ops)}
	</portType>
{binding(f"{SERVICE}SoapBinding", "soapbind")}
{binding(f"{SERVICE}Soap12Binding", "soap12bind")}
	<service name="{SERVICE}">
		<port name="{SERVICE}Soap" binding="tns:{SERVICE}SoapBinding">
{claim}			<soapbind:address location="{location}"/>
		</port>
		<port name="{SERVICE}Soap12" binding="tns:{SERVICE}Soap12Binding">
			<soap12bind:address location="{location}"/>
		</port>
	</service>
</definitions>
"""


def _attr(text: str) -> str:
    return text.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;").replace(">", "&gt;")
