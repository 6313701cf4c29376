"""Device check: what TensorFlow sees, and an epoch of the default MLP and of the CNN example on
each device it can train on, so that a GPU install (``make setup GPU=1``) is checked in minutes.

Prints TensorFlow's version, whether it was built with CUDA, ``CUDA_VISIBLE_DEVICES``, the CPU
(model, cores) and every GPU TensorFlow finds, then, on each device (``/CPU:0``, ``/GPU:0``...),
fits the default MLP (``tracking.model:mlp``, 300-200-100) and ``examples/cnn.py:build`` for
``--epochs`` epochs and reports each epoch's seconds: the first includes TensorFlow's tracing,
the later ones are the steady pace. Nothing is logged to MLflow.

    .venv/bin/python benchmarks/devices.py [--epochs 2] [--dataset digits] [--max-train-samples N]

Writes ``benchmarks/results/devices.json``.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from typing import Any

from common import add_data_flags, write_result

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

from tracking.config.train import TrainConfig  # noqa: E402
from tracking.data.datasets import Dataset, load_dataset  # noqa: E402
from tracking.model.build import build_model  # noqa: E402
from tracking.model.devices import cpu_model, gpu_names, use_memory_growth  # noqa: E402
from tracking.run.training import build_optimizer  # noqa: E402

MODELS = {
    "mlp": {"model": "tracking.model:mlp"},
    "cnn": {"model": "examples/cnn.py:build", "input_shape": "image"},
}


class EpochTimer(keras.callbacks.Callback):
    def on_train_begin(self, logs: Any = None) -> None:
        self.seconds: list[float] = []

    def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
        self.started = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
        self.seconds.append(time.perf_counter() - self.started)


def what_tensorflow_sees() -> dict[str, Any]:
    return {
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "built_with_cuda": tf.test.is_built_with_cuda(),
        "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "machine": platform.machine(),
        "physical_devices": [d.name for d in tf.config.list_physical_devices()],
        "gpus": gpu_names(),
        "logical_devices": [d.name for d in tf.config.list_logical_devices()],
    }


def time_epochs(config: TrainConfig, dataset: Dataset, device: str, epochs: int) -> dict[str, Any]:
    """``config``'s model fitted for ``epochs`` on ``device``; each epoch's seconds."""
    keras.backend.clear_session()
    keras.utils.set_random_seed(config.seed)
    timer = EpochTimer()
    with tf.device(device):
        model = build_model(config, dataset.input_shape, dataset.n_classes, dataset.scaling)
        build_optimizer(model)
        history = model.fit(
            dataset.x_train,
            dataset.y_train,
            validation_data=(dataset.x_val, dataset.y_val),
            epochs=epochs,
            batch_size=config.batch_size,
            callbacks=[timer],
            verbose=0,
        )
    steady = timer.seconds[1:] or timer.seconds
    return {
        "epoch_seconds": timer.seconds,
        "steady_epoch_seconds": sum(steady) / len(steady),
        "val_accuracy": float(history.history["val_accuracy"][-1]),
        "n_train": len(dataset.x_train),
        "params": model.count_params(),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_data_flags(parser, epochs=2)
    parser.add_argument("--batch-size", type=int, default=128)
    args = parser.parse_args()
    use_memory_growth()
    seen = what_tensorflow_sees()
    for key, value in seen.items():
        print(f"{key}: {value}", flush=True)
    devices = [d.name for d in tf.config.list_logical_devices() if d.device_type in ("CPU", "GPU")]
    timings: dict[str, dict[str, Any]] = {}
    for name, overrides in MODELS.items():
        config = TrainConfig(
            dataset=args.dataset,
            max_train_samples=args.max_train_samples,
            seed=args.seed,
            batch_size=args.batch_size,
            **overrides,  # type: ignore[arg-type]
        )
        dataset = load_dataset(config)
        for device in devices:
            timed = time_epochs(config, dataset, device, args.epochs)
            timings.setdefault(name, {})[device] = timed
            epochs = ", ".join(f"{s:.2f}" for s in timed["epoch_seconds"])
            print(
                f"{name} on {device}: epochs {epochs} s ({timed['n_train']} rows, "
                f"batch {args.batch_size}); val accuracy {timed['val_accuracy']:.4f}",
                flush=True,
            )
    write_result("devices", args, {"tensorflow_sees": seen, "epochs": timings})
    return 0


if __name__ == "__main__":
    sys.exit(main())
