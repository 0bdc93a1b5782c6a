"""The torch side of the app: the model registry, loading, preprocessing, classification,
Grad-CAM and the fast CPU runtimes. Nothing in this package imports Django."""
