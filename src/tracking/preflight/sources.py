"""Refuse data that cannot work before anything heavy is imported (standard library and numpy).

``check_source`` is what the entry points call right after parsing: it reads the data source
(``tracking.preflight.files``: a CSV with the ``csv`` module, an ``.npz`` with numpy) and applies
every rule ``tracking.data.datasets`` relies on, naming the culprit; ``pool_sizes`` checks that
``max_train_samples`` and ``validation_split`` leave training rows.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import NamedTuple

from tracking.config.errors import ConfigError
from tracking.config.train import TrainConfig
from tracking.preflight.files import MIN_ROWS, read_csv_rows, read_images, read_npz

TEST_FRACTION = 0.2
MNIST_POOL = 60_000
DIGITS_ROWS = 1_797
# Cells pandas reads as missing (its default ``na_values``): refused as empty cells.
MISSING = frozenset(
    "|#N/A|#N/A N/A|#NA|-1.#IND|-1.#QNAN|-NaN|-nan|1.#IND|1.#QNAN|<NA>|N/A|NA|NULL|NaN|None"
    "|n/a|nan|null".split("|")
)


class CsvFacts(NamedTuple):
    separator: str
    columns: tuple[str, ...]
    n_rows: int


def check_source(config: TrainConfig) -> None:
    """Raise ConfigError if the data cannot work for ``config``."""
    if config.dataset == "mnist":
        n_pool = MNIST_POOL  # the official test split is separate
    elif config.dataset == "images":
        n_rows = len(read_images(config.data_path)[1])
        n_pool = n_rows - n_test(n_rows)
    elif config.dataset == "npz":
        arrays = read_npz(config)
        n_rows = len(arrays["y_train"])
        n_pool = n_rows if "y_test" in arrays else n_rows - n_test(n_rows)
    else:
        n_rows = check_csv(config).n_rows if config.dataset == "csv" else DIGITS_ROWS
        n_pool = n_rows - n_test(n_rows)
    pool_sizes(config, n_pool)


def check_csv(config: TrainConfig) -> CsvFacts:
    """Read ``data_path`` (``read_csv_rows``) and refuse what the model cannot train on, naming
    the culprit."""
    separator, columns, data = read_csv_rows(config)
    label, name = config.label_column, Path(config.data_path).name
    if label not in columns:
        fix = f"pass one of: {', '.join(columns)}"
        raise ConfigError("label_column", label, f"is not a column of {name}", fix)
    if problem := _naming_problem(columns):  # the names become the model's input names
        raise _refused(config, problem, "give every column its own name in the header row")
    cells = {c: [r[i].strip() for r in data] for i, c in enumerate(columns)}
    _check_features(config, columns, cells)
    if config.task == "regression":
        words = [v for v in cells[label] if v not in MISSING and not _is_number(v)]
        if words:
            raise ConfigError(
                "label_column",
                label,
                f"is not numeric in {name} (e.g. {words[0]!r}) but task=regression",
                "pass a numeric label column, or -P task=classification",
            )
    if len(set(cells[label])) < 2:
        raise ConfigError(
            "label_column",
            label,
            f"has fewer than 2 distinct values in {name}",
            "a model needs at least 2 distinct labels; pass the column that holds the label",
        )
    if len(data) < MIN_ROWS:
        raise _refused(
            config,
            f"has only {len(data)} data rows; need at least {MIN_ROWS}",
            "pass a larger CSV (20 % of rows are held out for the test split)",
        )
    return CsvFacts(separator, columns, len(data))


def _check_features(
    config: TrainConfig, columns: tuple[str, ...], cells: dict[str, list[str]]
) -> None:
    """Numeric feature columns, at least one, and no empty cell anywhere."""
    label = config.label_column
    features = [c for c in columns if c != label]
    text = [c for c in features if not all(_is_number(v) for v in cells[c] if v not in MISSING)]
    if text:
        raise _refused(
            config,
            f"has non-numeric feature columns: {', '.join(text)}",
            "drop or encode them as numbers (or pass one as -P label_column)",
        )
    if not features:
        problem = f"has no feature column besides {label!r}"
        raise _refused(config, problem, "pass a CSV with features")
    empty = [c for c in columns if any(v in MISSING for v in cells[c])]
    if empty:
        problem = f"has empty cells in columns: {', '.join(empty)}"
        raise _refused(config, problem, "fill or drop those rows")


def _refused(config: TrainConfig, problem: str, fix: str) -> ConfigError:
    return ConfigError("data_path", config.data_path, problem, fix)


def n_test(n_rows: int) -> int:
    return ceil(TEST_FRACTION * n_rows)


def ceil(value: float) -> int:
    return math.ceil(round(value, 6))  # 0.7 * 100 is 70.00000000000001


def pool_sizes(config: TrainConfig, n_pool: int) -> tuple[int, int]:
    """(rows kept after max_train_samples, of which validation); refuse an empty training set."""
    n_keep = min(config.max_train_samples or n_pool, n_pool)
    n_val = ceil(config.validation_split * n_keep)
    if n_keep - n_val < 1:
        name = "max_train_samples" if config.max_train_samples else "validation_split"
        raise ConfigError(
            name,
            getattr(config, name),
            f"leaves no training rows ({n_keep} rows, {n_val} of them for validation)",
            "pass a larger -P max_train_samples or a smaller -P validation_split",
        )
    return n_keep, n_val


def _naming_problem(columns: tuple[str, ...]) -> str | None:
    unnamed = [str(i + 1) for i, c in enumerate(columns) if not c]
    if unnamed:
        return f"has columns without a name (position {', '.join(unnamed)})"
    repeated = sorted({c for c in columns if columns.count(c) > 1})
    return f"has repeated column names: {', '.join(repeated)}" if repeated else None


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
