"""The devices a run trains on: what a run records about them, and which GPU a sweep worker gets.

``device_params`` is logged with every training run (the CPU's model and count, the GPUs
TensorFlow sees, ``CUDA_VISIBLE_DEVICES`` when set, TensorFlow's and Keras's versions).
``worker_gpu_env`` gives sweep worker ``index`` one GPU of ``gpus`` round-robin through
``CUDA_VISIBLE_DEVICES`` in its environment (more workers than GPUs share them evenly); with no
GPU it adds nothing. ``use_memory_growth`` lets TensorFlow take GPU memory as it needs it, so
that several processes can share one GPU (optuna#1365, optuna#3050). Standard library only at
import; TensorFlow is imported where a function needs it.
"""

from __future__ import annotations

import logging
import os
import platform
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)
CUDA_VISIBLE_DEVICES = "CUDA_VISIBLE_DEVICES"
# What CUDA_VISIBLE_DEVICES takes: device numbers, or GPU and MIG UUIDs (``nvidia-smi -L``).
GPU_ID = re.compile(r"\d+|(GPU|MIG)-[0-9A-Za-z/-]+")


def gpu_list(text: str) -> tuple[str, ...]:
    """``"0,1"`` -> ``("0", "1")``; ``""`` -> ``()``. ValueError names an entry that is not a
    device number or UUID (``-1``, which CUDA reads as "no GPU", included)."""
    gpus = tuple(part.strip() for part in text.split(",")) if text.strip() else ()
    for gpu in gpus:
        if not GPU_ID.fullmatch(gpu):
            raise ValueError(f"{gpu!r} is not a GPU number or UUID")
    return gpus


def visible_gpus(requested: str = "") -> tuple[str, ...]:
    """The GPUs to hand out: ``requested`` (``-P gpus=0,1``) or, when it is empty, every GPU
    this process may use: the entries of its ``CUDA_VISIBLE_DEVICES`` when that is set (``""``
    and ``-1`` hide every GPU), else each GPU TensorFlow finds, by number."""
    if requested.strip():
        return gpu_list(requested)
    inherited = os.environ.get(CUDA_VISIBLE_DEVICES)
    if inherited is not None:
        entries = [g.strip() for g in inherited.split(",") if g.strip()]
        # CUDA stops at the first invalid entry: "-1" or "" hides everything after it
        return tuple(entries[: next((i for i, g in enumerate(entries) if g == "-1"), None)])
    return tuple(str(i) for i in range(len(_tensorflow_gpus())))


def worker_gpu_env(index: int, gpus: Sequence[str]) -> dict[str, str]:
    """What sweep worker ``index`` adds to its environment: ``CUDA_VISIBLE_DEVICES`` set to one
    of ``gpus``, round-robin (workers 0, 1, 2 of ``("0", "1")`` get 0, 1, 0); nothing without
    GPUs, so that a CPU machine runs as before."""
    if not gpus:
        return {}
    return {CUDA_VISIBLE_DEVICES: gpus[index % len(gpus)]}


def cpu_model() -> str:
    """The processor's name (Linux's /proc/cpuinfo ``model name``), else what platform says."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def gpu_names() -> list[str]:
    """``NVIDIA A100-SXM4-40GB (GPU:0)``... for each GPU TensorFlow sees; [] on a CPU."""
    import tensorflow as tf

    names = []
    for gpu in _tensorflow_gpus():
        try:
            details = tf.config.experimental.get_device_details(gpu)
        except (RuntimeError, ValueError):  # not a CUDA device, or not ready: its TF name only
            details = {}
        label = gpu.name.removeprefix("/physical_device:")
        names.append(f"{details.get('device_name', 'GPU')} ({label})")
    return names


def device_params() -> dict[str, str]:
    """What a training run logs about where it ran (one param each)."""
    import keras
    import tensorflow as tf

    params = {
        "device.cpu": cpu_model(),
        "device.cpu_count": str(os.cpu_count() or 0),
        "device.gpus": ", ".join(gpu_names()) or "none",
        "tensorflow_version": tf.__version__,
        "keras_version": keras.__version__,
    }
    if CUDA_VISIBLE_DEVICES in os.environ:  # a sweep worker's GPU (-P gpus), or the user's
        params["device.cuda_visible_devices"] = os.environ[CUDA_VISIBLE_DEVICES]
    return params


def use_memory_growth() -> None:
    """TensorFlow takes GPU memory as it needs it instead of all of it at once, so that sweep
    workers sharing a GPU do not starve each other. Only possible before TensorFlow uses the
    GPU: later calls leave the setting as it was."""
    import tensorflow as tf

    for gpu in _tensorflow_gpus():
        try:
            if not tf.config.experimental.get_memory_growth(gpu):
                tf.config.experimental.set_memory_growth(gpu, True)
        except RuntimeError:  # "Physical devices cannot be modified after being initialized"
            log.debug("memory growth of %s left as it was: TensorFlow already uses it", gpu.name)


def _tensorflow_gpus() -> list[Any]:
    import tensorflow as tf

    return list(tf.config.list_physical_devices("GPU"))
