"""Full CMC (RFC 5272 as updated by RFC 6402) for EST's /fullcmc (RFC 7030 §4.3).

Only what a minimal Full PKI Request and Response need: a SignedData (CMS, asn1crypto)
whose eContent is a PKIData or PKIResponse (pyasn1-alt-modules' rfc6402), with PKCS#10
requests in the reqSequence and CMCStatusInfoV2 controls. Every malformed input raises
`CmcError`; judging conformance is the caller's business.

    der = full_pki_request(csr, key)                  # signed with the CSR's key
    request = parse_full_pki_request(der)
    verify_request(request, csr.public_key())         # raises CmcError
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from asn1crypto import cms
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from pyasn1.codec.der.decoder import decode as der_decode
from pyasn1.codec.der.encoder import encode as der_encode
from pyasn1.error import PyAsn1Error
from pyasn1.type import univ
from pyasn1_alt_modules import rfc6402

from harness.crypto.pki import CertifiedKey, PrivateKey
from harness.errors import OnboardcheckError

ID_SIGNED_DATA = "1.2.840.113549.1.7.2"
ID_DATA = "1.2.840.113549.1.7.1"
ID_CCT_PKIDATA = str(rfc6402.id_cct_PKIData)  # 1.3.6.1.5.5.7.12.2
ID_CCT_PKIRESPONSE = str(rfc6402.id_cct_PKIResponse)  # 1.3.6.1.5.5.7.12.3
ID_CMC_STATUSINFOV2 = str(rfc6402.id_cmc_statusInfoV2)

# CMCStatus values (RFC 5272 §6.1.1)
SUCCESS, FAILED = 0, 2
# CMCFailInfo values used here
BAD_MESSAGE_CHECK, BAD_REQUEST = 1, 2

CMC_REQUEST = "application/pkcs7-mime; smime-type=CMC-request"
CMC_RESPONSE = "application/pkcs7-mime; smime-type=CMC-response"

_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "sha1": hashes.SHA1,
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}


class CmcError(OnboardcheckError):
    """Not a well-formed Full PKI Request/Response, or its signature does not verify."""


@dataclass
class SignedContent:
    """The parts of a SignedData that carry a CMC body, and what signs it."""

    content_type: str  # dotted eContentType
    econtent: bytes
    signer_infos: list[Any]  # asn1crypto cms.SignerInfo
    certificates: list[x509.Certificate] = field(default_factory=list)


@dataclass
class FullPkiRequest:
    signed: SignedContent
    requests: list[tuple[int, x509.CertificateSigningRequest]]  # (bodyPartID, PKCS#10)


@dataclass
class FullPkiResponse:
    signed: SignedContent
    statuses: list[tuple[int, list[int]]]  # (CMCStatus, bodyList bodyPartIDs)

    @property
    def certificates(self) -> list[x509.Certificate]:
        return self.signed.certificates


# -- building --------------------------------------------------------------------------------


def full_pki_request(
    csr: x509.CertificateSigningRequest,
    key: PrivateKey,
    body_part_id: int = 1,
    *,
    content_type: str = ID_CCT_PKIDATA,
) -> bytes:
    """A DER ContentInfo: SignedData over a PKIData holding `csr` as a TaggedRequest,
    signed by `key` (the CSR's key, named by its subjectKeyIdentifier, RFC 5272 §3.2.1.3.1).

    `content_type` other than id-cct-PKIData builds a request that is not a Full PKI one.
    """
    pkidata = rfc6402.PKIData()
    pkidata["controlSequence"].clear()
    pkidata["cmsSequence"].clear()
    pkidata["otherMsgSequence"].clear()
    request = rfc6402.TaggedRequest()
    request["tcr"]["bodyPartID"] = body_part_id
    certification_request, _ = der_decode(
        csr.public_bytes(serialization.Encoding.DER), asn1Spec=rfc6402.CertificationRequest()
    )
    request["tcr"]["certificationRequest"] = certification_request
    pkidata["reqSequence"].append(request)
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key()).digest  # type: ignore[arg-type]
    return _signed(der_encode(pkidata), content_type, key, {"subject_key_identifier": ski}, [])


def full_pki_response(
    status: int,
    body_parts: list[int],
    signer: CertifiedKey,
    certs: list[x509.Certificate],
    status_string: str | None = None,
    fail_info: int | None = None,
) -> bytes:
    """A DER ContentInfo: SignedData over a PKIResponse with one CMCStatusInfoV2 control
    naming `body_parts`; `certs` (the issued certificate) ride in the SignedData."""
    info = rfc6402.CMCStatusInfoV2()
    info["cMCStatus"] = status
    for part in body_parts:
        reference = rfc6402.BodyPartReference()
        reference["bodyPartID"] = part
        info["bodyList"].append(reference)
    if status_string:
        info["statusString"] = status_string
    if fail_info is not None:
        info["otherInfo"]["failInfo"] = fail_info
    control = rfc6402.TaggedAttribute()
    control["bodyPartID"] = 1
    control["attrType"] = rfc6402.id_cmc_statusInfoV2
    control["attrValues"].append(univ.Any(der_encode(info)))
    response = rfc6402.PKIResponse()
    response["controlSequence"].append(control)
    response["cmsSequence"].clear()
    response["otherMsgSequence"].clear()
    sid = {
        "issuer_and_serial_number": {
            "issuer": _asn1_name(signer.cert),
            "serial_number": signer.cert.serial_number,
        }
    }
    return _signed(der_encode(response), ID_CCT_PKIRESPONSE, signer.key, sid, certs)


def _asn1_name(cert: x509.Certificate) -> Any:
    from asn1crypto import x509 as asn1_x509

    return asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER)).issuer


def _signed(
    econtent: bytes,
    content_type: str,
    key: PrivateKey,
    sid: dict[str, Any],
    certs: list[x509.Certificate],
) -> bytes:
    attrs = cms.CMSAttributes(
        [
            cms.CMSAttribute({"type": "content_type", "values": [content_type]}),
            cms.CMSAttribute(
                {"type": "message_digest", "values": [hashlib.sha256(econtent).digest()]}
            ),
        ]
    )
    to_sign = attrs.dump()  # DER of the SET OF, as RFC 5652 §5.4 signs it
    if isinstance(key, ec.EllipticCurvePrivateKey):
        signature = key.sign(to_sign, ec.ECDSA(hashes.SHA256()))
        algorithm = "sha256_ecdsa"
    else:
        signature = key.sign(to_sign, padding.PKCS1v15(), hashes.SHA256())
        algorithm = "sha256_rsa"
    version = "v3" if "subject_key_identifier" in sid else "v1"
    signer_info = cms.SignerInfo(
        {
            "version": version,
            "sid": cms.SignerIdentifier(sid),
            "digest_algorithm": {"algorithm": "sha256"},
            "signed_attrs": attrs,
            "signature_algorithm": {"algorithm": algorithm},
            "signature": signature,
        }
    )
    signed_data: dict[str, Any] = {
        "version": "v3",
        "digest_algorithms": [{"algorithm": "sha256"}],
        "encap_content_info": {"content_type": content_type, "content": econtent},
        "signer_infos": [signer_info],
    }
    if certs:
        signed_data["certificates"] = [
            cms.CertificateChoices.load(c.public_bytes(serialization.Encoding.DER)) for c in certs
        ]
    return cms.ContentInfo({"content_type": "signed_data", "content": signed_data}).dump()


# -- parsing ---------------------------------------------------------------------------------


def parse_signed(der: bytes) -> SignedContent:
    """The eContentType, eContent, SignerInfos and certificates of a DER SignedData."""
    try:
        info = cms.ContentInfo.load(der, strict=True)
        if info["content_type"].dotted != ID_SIGNED_DATA:
            raise CmcError(f"ContentInfo carries {info['content_type'].dotted}, not SignedData")
        signed = info["content"]
        encap = signed["encap_content_info"]
        content = encap["content"]
        if content.native is None:
            raise CmcError("SignedData without eContent")
        certs = [
            x509.load_der_x509_certificate(choice.chosen.dump())
            for choice in signed["certificates"] or []
            if choice.name == "certificate"
        ]
        return SignedContent(
            encap["content_type"].dotted,
            bytes(content.contents if content.parsed is None else content.parsed.dump()),
            list(signed["signer_infos"]),
            certs,
        )
    except CmcError:
        raise
    except (ValueError, TypeError, KeyError, AttributeError, IndexError) as exc:
        raise CmcError(f"not a DER CMS SignedData: {exc}") from exc


def parse_full_pki_request(der: bytes) -> FullPkiRequest:
    """A Full PKI Request: SignedData with eContentType id-cct-PKIData (RFC 5272 §3.2)."""
    signed = parse_signed(der)
    if signed.content_type != ID_CCT_PKIDATA:
        raise CmcError(f"eContentType {signed.content_type} is not id-cct-PKIData")
    return FullPkiRequest(signed, pkidata_requests(signed.econtent))


def pkidata_requests(econtent: bytes) -> list[tuple[int, x509.CertificateSigningRequest]]:
    """(bodyPartID, PKCS#10) of each TaggedRequest of a DER PKIData."""
    try:
        pkidata, rest = der_decode(econtent, asn1Spec=rfc6402.PKIData())
        if rest:
            raise CmcError(f"{len(rest)} byte(s) after the PKIData")
        requests = []
        # The PKCS#10 as sent: re-encoding it with pyasn1 may reorder a SET and so
        # break its signature.
        raw_requests = _children(_children(econtent)[1])
        for tagged, raw in zip(pkidata["reqSequence"], raw_requests, strict=True):
            if tagged.getName() != "tcr":
                raise CmcError(f"TaggedRequest {tagged.getName()} is not a PKCS#10 (tcr)")
            csr_der = _children(raw)[1]
            body_part = int(tagged["tcr"]["bodyPartID"])
            requests.append((body_part, x509.load_der_x509_csr(csr_der)))
    except PyAsn1Error as exc:
        raise CmcError(f"eContent is not a PKIData: {exc}") from exc
    except (ValueError, IndexError) as exc:
        raise CmcError(f"PKIData request is not a PKCS#10: {exc}") from exc
    return requests


def parse_full_pki_response(der: bytes) -> FullPkiResponse:
    """A Full PKI Response: SignedData with eContentType id-cct-PKIResponse."""
    signed = parse_signed(der)
    if signed.content_type != ID_CCT_PKIRESPONSE:
        raise CmcError(f"eContentType {signed.content_type} is not id-cct-PKIResponse")
    try:
        response, rest = der_decode(signed.econtent, asn1Spec=rfc6402.PKIResponse())
        if rest:
            raise CmcError(f"{len(rest)} byte(s) after the PKIResponse")
        statuses = []
        for control in response["controlSequence"]:
            if control["attrType"] != rfc6402.id_cmc_statusInfoV2:
                continue
            for value in control["attrValues"]:
                info, _ = der_decode(bytes(value), asn1Spec=rfc6402.CMCStatusInfoV2())
                parts = [
                    int(ref["bodyPartID"])
                    for ref in info["bodyList"]
                    if ref.getName() == "bodyPartID"
                ]
                statuses.append((int(info["cMCStatus"]), parts))
    except PyAsn1Error as exc:
        raise CmcError(f"eContent is not a PKIResponse: {exc}") from exc
    return FullPkiResponse(signed, statuses)


def _children(element: bytes) -> list[bytes]:
    """The DER encodings of the elements inside one constructed DER element."""
    _, start, end = _tlv(element, 0)
    found, pos = [], start
    while pos < end:
        _, _, after = _tlv(element, pos)
        found.append(element[pos:after])
        pos = after
    return found


def _tlv(data: bytes, pos: int) -> tuple[int, int, int]:
    """(tag byte, content start, element end) of the DER element at `pos`."""
    if pos + 2 > len(data) or data[pos] & 0x1F == 0x1F:
        raise CmcError("truncated DER or multi-byte tag")
    length, at = data[pos + 1], pos + 2
    if length & 0x80:
        count = length & 0x7F
        if count == 0 or count > 4 or at + count > len(data):
            raise CmcError("bad DER length")
        length, at = int.from_bytes(data[at : at + count], "big"), at + count
    if at + length > len(data):
        raise CmcError("DER element runs past its container")
    return data[pos], at, at + length


# -- verification ----------------------------------------------------------------------------


def verify_signed(signed: SignedContent, public_key: object) -> None:
    """Raise CmcError unless a SignerInfo verifies with `public_key` (RFC 5652 §5.4, §5.6)."""
    if not signed.signer_infos:
        raise CmcError("SignedData has no SignerInfo")
    reasons = []
    for signer in signed.signer_infos:
        try:
            _verify_one(signed, signer, public_key)
            return
        except CmcError as exc:
            reasons.append(str(exc))
    raise CmcError("; ".join(reasons))


def verify_request(request: FullPkiRequest, public_key: object) -> None:
    verify_signed(request.signed, public_key)


def _verify_one(signed: SignedContent, signer: Any, public_key: object) -> None:
    try:
        digest_name = signer["digest_algorithm"]["algorithm"].native
        hash_cls = _HASHES.get(digest_name)
        if hash_cls is None:
            raise CmcError(f"unsupported digest algorithm {digest_name}")
        attrs = signer["signed_attrs"]
        if attrs.native is None or len(attrs) == 0:
            data = signed.econtent
        else:
            digests = [a["values"][0].native for a in attrs if a["type"].native == "message_digest"]
            expected = hashes.Hash(hash_cls())
            expected.update(signed.econtent)
            if digests != [expected.finalize()]:
                raise CmcError("messageDigest does not match the eContent")
            types = [a["values"][0].dotted for a in attrs if a["type"].native == "content_type"]
            if types != [signed.content_type]:
                raise CmcError("contentType attribute does not match the eContentType")
            data = b"\x31" + attrs.dump()[1:]  # signed as a SET OF, not as [0] IMPLICIT
        signature = signer["signature"].native
    except (ValueError, TypeError, KeyError, AttributeError, IndexError) as exc:
        raise CmcError(f"malformed SignerInfo: {exc}") from exc
    try:
        if isinstance(public_key, ec.EllipticCurvePublicKey):
            public_key.verify(signature, data, ec.ECDSA(hash_cls()))
        elif isinstance(public_key, rsa.RSAPublicKey):
            public_key.verify(signature, data, padding.PKCS1v15(), hash_cls())
        else:
            raise CmcError(f"unsupported signer key {type(public_key).__name__}")
    except InvalidSignature as exc:
        raise CmcError("SignerInfo signature does not verify") from exc
