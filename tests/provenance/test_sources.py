"""Unsigned sources: PNG generator text, XMP DigitalSourceType in JPEG / PNG / WebP, EXIF Software."""

from __future__ import annotations

import io
import json
import struct

from PIL import Image

from pinclip_sdk.provenance import EvidenceOptions, Finding, declares_generated_trusted, read_evidence

from .conftest import jpeg_bytes, png_bytes, raw_exif, xmp_packet

A1111 = (
    "a photo of a cat on the moon\nNegative prompt: blurry\n"
    "Steps: 20, Sampler: Euler a, CFG scale: 7, Seed: 1234, Size: 512x512, Model hash: abc, "
    "Model: sd_xl_base_1.0"
)


def only(findings: list[Finding], source: str) -> Finding:
    matching = [f for f in findings if f.source == source]
    assert len(matching) == 1, findings
    return matching[0]


def test_plain_images_have_no_evidence():
    assert read_evidence(png_bytes()) == []
    assert read_evidence(jpeg_bytes()) == []
    buf = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buf, "WEBP")
    assert read_evidence(buf.getvalue()) == []


def test_png_parameters_from_a_stable_diffusion_web_ui():
    f = only(read_evidence(png_bytes({"parameters": A1111})), "png_text")
    assert f.declares_generated
    assert f.error is None
    assert f.validation is None
    assert f.says["generator"] == "Stable Diffusion web UI"
    assert f.says["model"] == "sd_xl_base_1.0"
    assert f.says["steps"] == "20"
    assert f.says["sampler"] == "Euler a"
    assert f.says["prompt"] == "a photo of a cat on the moon"
    json.dumps(f.to_dict())  # JSON-ready


def test_png_comfyui_prompt_and_workflow_make_one_finding():
    prompt = {"3": {"class_type": "KSampler", "inputs": {}}, "4": {"class_type": "CheckpointLoaderSimple"}}
    workflow = {"nodes": [{"id": 3, "type": "KSampler"}, {"id": 4, "type": "CheckpointLoaderSimple"}]}
    png = png_bytes({"prompt": json.dumps(prompt)}, itxt={"workflow": json.dumps(workflow)})
    f = only(read_evidence(png), "png_text")
    assert f.declares_generated
    assert f.says["generator"] == "ComfyUI"
    assert f.says["keys"] == ["prompt", "workflow"]
    assert f.says["node_types"] == ["CheckpointLoaderSimple", "KSampler"]
    assert f.says["nodes"] == 2


def test_png_software_text_is_reported_and_named_generators_declare():
    f = only(read_evidence(png_bytes({"Software": "NovelAI"})), "png_text")
    assert f.declares_generated
    assert f.says["software"] == "NovelAI"
    g = only(read_evidence(png_bytes({"Software": "GIMP 2.10"})), "png_text")
    assert not g.declares_generated
    assert g.says["software"] == "GIMP 2.10"


def test_zero_length_and_unrelated_text_chunks_say_nothing():
    assert read_evidence(png_bytes({"Title": "holiday", "Comment": ""})) == []


def test_xmp_digital_source_type_in_png_and_jpeg():
    for data in (png_bytes(itxt={"XML:com.adobe.xmp": xmp_packet().decode()}), jpeg_bytes(xmp=xmp_packet())):
        f = only(read_evidence(data), "xmp")
        assert f.declares_generated
        assert f.error is None
        assert f.says["digital_source_type"] == "trainedAlgorithmicMedia"


def test_xmp_element_form_creator_tool_and_webp():
    packet = xmp_packet(
        "http://cv.iptc.org/newscodes/digitalsourcetype/digitalCapture", "Camera FW 1.2", element=True
    )
    f = only(read_evidence(jpeg_bytes(xmp=packet)), "xmp")
    assert not f.declares_generated
    assert f.says["digital_source_type"] == "digitalCapture"
    assert f.says["generator"] == "Camera FW 1.2"
    buf = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buf, "WEBP", xmp=xmp_packet())
    assert only(read_evidence(buf.getvalue()), "xmp").declares_generated


def test_exif_software_make_model():
    exif = Image.Exif()
    exif[0x0131], exif[0x010F], exif[0x0110] = "Adobe Firefly", "Canon", "EOS R5"
    f = only(read_evidence(jpeg_bytes(exif=exif.tobytes())), "exif")
    assert f.says == {
        "software": "Adobe Firefly",
        "make": "Canon",
        "model": "EOS R5",
        "generator": "Adobe Firefly",
    }
    assert f.declares_generated
    assert f.error is None
    exif = Image.Exif()
    exif[0x0131] = "darktable 4.6"
    g = only(read_evidence(jpeg_bytes(exif=exif.tobytes())), "exif")
    assert not g.declares_generated
    assert g.says["software"] == "darktable 4.6"


def test_exif_software_of_wrong_type():
    as_int = raw_exif([(0x0131, 3, struct.pack(">H", 42)), (0x010F, 2, b"Nikon\x00")])
    f = only(read_evidence(jpeg_bytes(exif=as_int)), "exif")
    assert f.error == "software is int, not text"
    assert f.says == {"make": "Nikon"}
    as_bytes = raw_exif([(0x0131, 7, b"Midjourney v6\x00")])
    g = only(read_evidence(jpeg_bytes(exif=as_bytes)), "exif")
    assert g.error is None
    assert g.says["software"] == "Midjourney v6"
    assert g.declares_generated


def test_several_sources_at_once_and_none_is_trusted():
    exif = Image.Exif()
    exif[0x0131] = "ComfyUI"
    data = png_bytes({"parameters": A1111}, itxt={"XML:com.adobe.xmp": xmp_packet().decode()})
    findings = read_evidence(data)
    assert {f.source for f in findings} == {"png_text", "xmp"}
    assert all(f.declares_generated for f in findings)
    assert not declares_generated_trusted(findings)  # unsigned metadata never sets a label


def test_path_input_and_fmt_hint(tmp_path):
    path = tmp_path / "a.png"
    path.write_bytes(png_bytes({"parameters": A1111}))
    assert read_evidence(path) == read_evidence(str(path), fmt_hint="png") == read_evidence(path.read_bytes())
    assert (
        read_evidence(bytearray(path.read_bytes()), options=EvidenceOptions(c2pa=False))[0].source
        == "png_text"
    )
