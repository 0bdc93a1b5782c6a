"""The names of the classification backends, without importing torch: settings validate
XAI_BACKEND against them when they load, and runtimes.py runs them."""

AUTO = "auto"  # the fastest on this machine, measured when the worker starts
BACKENDS = ("torch", "onnxruntime", "openvino")
