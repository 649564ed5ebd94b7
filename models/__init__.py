"""Bundled style models (*.onnx), installed as package data of stylecam."""
