"""Export of fitted models: ONNX graphs with a parity check."""
