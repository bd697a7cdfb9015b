"""Export of a trained PiN-CLIP detector (installed as `pinclip_sdk.export`; needs the `train` extra).

Importing this package must stay cheap: torch, onnx, onnxruntime and openvino are imported by
the submodules that need them.
"""
