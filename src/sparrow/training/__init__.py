"""Training: encoders, datasets, the training loop, ONNX export, versioned model folders."""
