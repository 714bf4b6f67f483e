"""SES ASN.1: parsing real v1/v4/v5 seals and signatures, building v4, refusing malformed input."""

from __future__ import annotations

import contextlib
import json
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zhengwu.seals.errors import SESFormatError
from zhengwu.seals.ses import (
    SealSpec,
    assemble_seal,
    assemble_signature,
    build_seal_info,
    build_tbs_sign,
    parse_loose_time,
    parse_seal,
    parse_signature,
)


def test_standalone_seals_match_expected(ofd_dir: Path) -> None:
    expected = json.loads((ofd_dir / "expected.json").read_text("utf-8"))["seals"]
    for name, facts in expected.items():
        if facts["kind"] != "SESeal":
            continue
        seal = parse_seal((ofd_dir / "seals" / name).read_bytes())
        assert seal.version == facts["header"]["version"], name
        assert seal.info.vid == facts["header"]["vid"]
        assert seal.info.es_id == facts["esID"]
        assert seal.info.name == facts["name"]
        assert seal.info.seal_type == facts["prop_type"]
        assert seal.sign_alg == facts["maker_sigalg"]
        # v1 maker signs SEQ{info, cert, alg}; v4/v5 sign the stored SES_SealInfo bytes only.
        if seal.version == 1:
            assert seal.maker_signed_der != seal.info_der and seal.info_der in seal.maker_signed_der
        else:
            assert seal.maker_signed_der == seal.info_der
    ts = parse_seal((ofd_dir / "seals" / "ofdrw-gm__UserV5_ts.esl").read_bytes())
    assert ts.time_stamp is not None


def test_standalone_signed_values_match_expected(ofd_dir: Path) -> None:
    expected = json.loads((ofd_dir / "expected.json").read_text("utf-8"))["seals"]
    for name in ("ofdrw-gm__SignedValueV4.dat", "ofdrw-gm__SignedValueV5.dat"):
        facts = expected[name]
        sig = parse_signature((ofd_dir / "seals" / name).read_bytes())
        assert sig.version == facts["tbs_version"]
        assert sig.property_info == facts["propertyInfo"]
        assert sig.data_hash.hex() == facts["dataHash_hex"]
        assert sig.seal.info.es_id == facts["embedded_seal"]["esID"]
        assert sig.tbs_der in sig.der and sig.seal_der in sig.tbs_der


def test_signed_values_in_documents_parse(ofd_dir: Path) -> None:
    expected = json.loads((ofd_dir / "expected.json").read_text("utf-8"))["documents"]
    for name, doc in expected.items():
        with zipfile.ZipFile(ofd_dir / "documents" / name) as archive:
            for entry in doc["signatures"]:
                if not entry["ses_format"]:
                    continue
                folder = entry["BaseLoc"].lstrip("/").rsplit("/", 1)[0]
                if "/" not in folder:
                    folder = f"{doc['signatures_xml'].rsplit('/', 1)[0]}/{folder}"
                sig = parse_signature(archive.read(f"{folder}/SignedValue.dat"))
                assert sig.version == entry["ses_tbs_version"], name
                assert sig.seal.info.es_id == entry["seal"]["esID"], name
                assert sig.structure == (1 if entry["ses_tbs_version"] == 1 else 4)


def test_v1_signature_time_is_ascii_in_bit_string(ofd_dir: Path) -> None:
    with zipfile.ZipFile(ofd_dir / "documents" / "ofdrw-converter__n.ofd") as archive:
        sig = parse_signature(archive.read("Doc_0/Signs/Sign_0/SignedValue.dat"))
    assert sig.structure == 1 and sig.seal.version == 1
    assert sig.time_info == datetime(2020, 1, 25, 7, 31, 56, 377000, tzinfo=UTC)


def test_raw_rs_signature_value_is_kept(ofd_dir: Path) -> None:
    sig = parse_signature((ofd_dir / "extracted" / "keyword-tongz-sign1" / "SignedValue.dat").read_bytes())
    assert len(sig.signature) == 64


def _spec() -> SealSpec:
    return SealSpec(
        es_id="13000000000001",
        name="河北省测试局电子印章",
        seal_type=1,
        certs=[b"\x30\x03\x02\x01\x01"],
        valid_start=datetime(2025, 1, 1, tzinfo=UTC),
        valid_end=datetime(2030, 1, 1, tzinfo=UTC),
        picture=b"\x89PNG fake",
        create_date=datetime(2025, 1, 1, tzinfo=UTC),
    )


def test_built_v4_seal_and_signature_round_trip() -> None:
    info = build_seal_info(_spec())
    seal_der = assemble_seal(info, b"maker-cert", b"\x30\x06\x02\x01\x01\x02\x01\x02", time_stamp=b"ts")
    seal = parse_seal(seal_der)
    assert (seal.version, seal.info.name, seal.info.certs, seal.time_stamp) == (
        4,
        "河北省测试局电子印章",
        (b"\x30\x03\x02\x01\x01",),
        b"ts",
    )
    assert seal.info_der == info and seal.info.picture_type == "PNG"
    when = datetime(2025, 6, 1, 8, 0, tzinfo=UTC)
    tbs = build_tbs_sign(
        seal_der, time_info=when, data_hash=b"\x11" * 32, property_info="/Doc_0/Signs/Sign_0/Signature.xml"
    )
    sig = parse_signature(assemble_signature(tbs, b"signer-cert", b"\x01" * 64, time_stamp=b"tok"))
    assert (sig.version, sig.time_info, sig.data_hash, sig.time_stamp, sig.tbs_der) == (
        4,
        when,
        b"\x11" * 32,
        b"tok",
        tbs,
    )
    assert sig.seal_der == seal_der


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x30",
        b"\x04\x03abc",
        b"\x30\x80\x00\x00",  # indefinite length
        b"\x30\x85\xff\xff\xff\xff\xff",  # oversized length field
        b"\x30\x03\x02\x01\x01",  # one element: no version has that
        b"\x30\x03\x02\x01\x01\x00",  # trailing byte
    ],
)
def test_malformed_der_is_refused(data: bytes) -> None:
    with pytest.raises(SESFormatError):
        parse_seal(data)
    with pytest.raises(SESFormatError):
        parse_signature(data)


def test_oversized_input_is_refused_before_parsing() -> None:
    with pytest.raises(SESFormatError, match="too large"):
        parse_seal(b"\x30\x84\x02\x00\x00\x00" + b"\x00" * (32 * 1024 * 1024))


def test_truncations_of_a_real_seal_never_escape(ofd_dir: Path) -> None:
    data = (ofd_dir / "seals" / "ofdrw-gm__UserV4.esl").read_bytes()
    for cut in range(0, len(data), 97):
        with pytest.raises(SESFormatError):
            parse_seal(data[:cut])


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400))
def test_random_bytes_only_raise_format_errors(data: bytes) -> None:
    for parse in (parse_seal, parse_signature):
        with contextlib.suppress(SESFormatError):
            parse(b"\x30" + bytes([len(data)]) + data if len(data) < 128 else data)


@pytest.mark.parametrize(
    ("text", "iso"),
    [
        ("20200723130907.763Z", "2020-07-23T13:09:07.763000+00:00"),
        ("20200817111329Z", "2020-08-17T11:13:29+00:00"),
        ("20221031141634", "2022-10-31T06:16:34+00:00"),
        ("2021-05-19 20:53:44", "2021-05-19T12:53:44+00:00"),
        ("2020-01-25T07:31:56.377Z", "2020-01-25T07:31:56.377000+00:00"),
    ],
)
def test_signature_datetime_formats(text: str, iso: str) -> None:
    parsed = parse_loose_time(text)
    assert parsed is not None and parsed.isoformat() == iso


def test_unparseable_time_is_none() -> None:
    assert parse_loose_time("yesterday") is None
