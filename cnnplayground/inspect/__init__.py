"""Analyses of a trained model: kernels, feature maps, receptive fields, attacks (Qt-free)."""
