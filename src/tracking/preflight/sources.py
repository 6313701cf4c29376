"""Refuse data that cannot work before anything heavy is imported (standard library and numpy).

``check_source`` is what the entry points call right after parsing: it reads the data source as
``tracking.data.datasets`` will (``tracking.data.sources``: a CSV with the ``csv`` module, an
``.npz`` with numpy, an image folder with Pillow), which refuses what the model cannot train on,
naming the culprit, and checks that ``max_train_samples`` and ``validation_split`` leave
training rows. MNIST and digits are not loaded: their sizes are known.
"""

from __future__ import annotations

from tracking.config.train import TrainConfig
from tracking.data.sources import check_csv, read_images, read_npz, split_sizes

MNIST_POOL = 60_000  # training rows; the official test split is separate
DIGITS_ROWS = 1_797


def check_source(config: TrainConfig) -> None:
    """Raise ConfigError if the data cannot work for ``config``."""
    own_test = False
    if config.dataset == "mnist":
        n_rows, own_test = MNIST_POOL, True
    elif config.dataset == "images":
        n_rows = len(read_images(config.data_path)[1])
    elif config.dataset == "npz":
        arrays = read_npz(config)
        n_rows, own_test = len(arrays["y_train"]), "y_test" in arrays
    elif config.dataset == "csv":
        n_rows = check_csv(config).n_rows
    else:
        n_rows = DIGITS_ROWS
    split_sizes(config, n_rows, own_test=own_test)
