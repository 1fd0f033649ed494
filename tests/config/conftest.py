"""Truss's TensorRT-LLM checks try to read config.json from the Hub; the Hub is unreachable
here, so keep every Hugging Face client offline before anything imports it."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
