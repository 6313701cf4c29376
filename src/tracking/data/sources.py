"""A data source read with light imports only (standard library, numpy; Pillow when an image
folder is read): a CSV's rows, an .npz file's arrays, a folder of images, each refused with the
culprit named when the model cannot train on it; and the sizes of the splits made of its rows.

``tracking.data.datasets`` loads a source through these, so ``load_dataset`` refuses what they
refuse; ``tracking.preflight.sources.check_source`` calls them before anything heavy is imported.
"""

from __future__ import annotations

import csv
import functools
import math
import zipfile
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from tracking.config.errors import ConfigError
from tracking.config.train import TrainConfig

MIN_ROWS = 10  # examples a data source needs, whatever its kind
# Cells pandas reads as missing (its default ``na_values``): refused as empty cells.
MISSING = frozenset(
    "|#N/A|#N/A N/A|#NA|-1.#IND|-1.#QNAN|-NaN|-nan|1.#IND|1.#QNAN|<NA>|N/A|NA|NULL|NaN|None"
    "|n/a|nan|null".split("|")
)


def read_csv_rows(config: TrainConfig) -> tuple[str, tuple[str, ...], list[list[str]]]:
    """(separator, the header's column names stripped, the data rows) of ``data_path``: a
    UTF-8 CSV separated by ``,``, ``;`` or tabs, blank lines skipped as pandas skips them."""
    path = Path(config.data_path).expanduser()

    def refuse(problem: str, fix: str) -> ConfigError:
        return ConfigError("data_path", config.data_path, problem, fix)

    if not path.exists():
        raise refuse("does not exist", f"pass the path of a CSV file (relative to {Path.cwd()})")
    if not path.is_file():
        raise refuse("is not a file", "pass the path of a CSV file, not a directory")
    try:
        with path.open(encoding="utf-8", newline="") as f:
            header = f.readline()
            # winequality-red.csv separates with ';', most CSVs with ','.
            sep = max([",", ";", "\t"], key=header.count)
            f.seek(0)
            rows = list(csv.reader(f, delimiter=sep))
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise refuse(f"could not be read as CSV ({e})", "pass a UTF-8 CSV with a header row") from e
    rows = [r for r in rows if r]  # blank lines, as pandas skips them
    if not rows:
        raise refuse("is an empty file", "pass a CSV file with a header row and data rows")
    columns, data = tuple(c.strip() for c in rows[0]), rows[1:]
    ragged = [i + 2 for i, r in enumerate(data) if len(r) != len(columns)]
    if ragged:
        raise refuse(
            f"could not be read as CSV (line {ragged[0]} has a different number of fields)",
            "pass a UTF-8 CSV with a header row",
        )
    return sep, columns, data


class CsvFacts(NamedTuple):
    separator: str
    columns: tuple[str, ...]
    n_rows: int


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


NPZ_FIX = "save it with numpy.savez(path, x_train=x, y_train=y) (x_test, y_test optional)"


def read_npz(config: TrainConfig) -> dict[str, Any]:
    """The arrays of ``data_path`` (``x_train``, ``y_train``, optional ``x_test``, ``y_test``),
    checked: numeric examples of one shape, one label per example, finite values, at least
    2 classes for classification; labels flattened to one axis."""
    path = Path(config.data_path).expanduser()

    def refuse(problem: str, fix: str = NPZ_FIX) -> ConfigError:
        return ConfigError("data_path", config.data_path, problem, fix)

    if not path.is_file():
        problem = "is a directory" if path.exists() else "does not exist"
        raise refuse(problem, f"pass the path of an .npz file (relative to {Path.cwd()})")
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as error:
        raise refuse(f"could not be read as .npz ({' '.join(str(error).split())[:200]})") from None
    missing = [k for k in ("x_train", "y_train") if k not in arrays]
    if missing:
        raise refuse(f"has no {', '.join(missing)} (it holds: {', '.join(arrays) or 'nothing'})")
    if ("x_test" in arrays) != ("y_test" in arrays):
        raise refuse("has only one of x_test, y_test", "save both, or neither (20 % is held out)")
    shape = arrays["x_train"].shape[1:]
    for part in ("train", "test"):
        if f"x_{part}" not in arrays:
            continue
        x, y = arrays[f"x_{part}"], arrays[f"y_{part}"]
        if x.ndim < 2 or x.dtype.kind not in "biuf":
            raise refuse(f"x_{part} is not an array of numeric examples ({x.dtype}, {x.shape})")
        if x.shape[1:] != shape:
            raise refuse(f"x_test's examples are {x.shape[1:]} but x_train's are {shape}")
        if y.ndim > 1 and math.prod(y.shape[1:]) == 1:
            arrays[f"y_{part}"] = y = y.reshape(len(y))
        if y.ndim != 1 or len(y) != len(x):
            raise refuse(f"y_{part} {y.shape} is not one label per example of x_{part} {x.shape}")
        if x.dtype.kind == "f" and not np.isfinite(x).all():
            raise refuse(f"x_{part} holds NaN or infinite values", "fill or drop those examples")
    _check_npz_labels(config, arrays, refuse)
    if config.input_shape == "image" and len(shape) not in (2, 3):
        raise ConfigError(
            "input_shape", "image", f"needs 2-D or 3-D examples but {path.name}'s are {shape}",
            "pass -P input_shape=auto",
        )  # fmt: skip
    if len(arrays["y_train"]) < MIN_ROWS:
        raise refuse(f"has only {len(arrays['y_train'])} training examples; need {MIN_ROWS}")
    return arrays


def _check_npz_labels(config: TrainConfig, arrays: dict[str, Any], refuse: Any) -> None:
    labels = [arrays[k] for k in ("y_train", "y_test") if k in arrays]
    kinds = {y.dtype.kind for y in labels}
    if config.task == "regression":
        if not kinds <= set("biuf"):
            raise refuse(f"has labels that are not numbers ({labels[0].dtype}) but task=regression")
        return
    if kinds & set("f") and not all(np.all(np.mod(y, 1) == 0) for y in labels):
        raise refuse(
            "has fractional labels but task=classification",
            "pass -P task=regression, or save class labels (ints or text)",
        )
    if kinds - set("biufUS"):
        raise refuse(f"has labels of dtype {labels[0].dtype}; save ints or text as labels")
    classes = set(np.unique(arrays["y_train"]).tolist())
    if len(classes) < 2:
        raise refuse("has fewer than 2 distinct labels in y_train", "a model needs 2 classes")
    if "y_test" in arrays:
        unseen = sorted(set(np.unique(arrays["y_test"]).tolist()) - classes, key=str)
        if unseen:
            raise refuse(f"has labels in y_test that y_train lacks: {unseen[:5]}")


IMAGE_SUFFIXES = (".bmp", ".gif", ".jpeg", ".jpg", ".png")  # image_dataset_from_directory's


@functools.lru_cache(maxsize=1)
def read_images(data_path: str) -> tuple[np.ndarray, np.ndarray]:
    """A folder with one sub-folder per class of image files, as Keras's
    ``image_dataset_from_directory`` reads it: (x uint8 (n, h, w, c), y the folder names).
    Grey images stay one channel unless some image has colour (then all are RGB); every image
    takes the size most of them have. Raise ConfigError naming what is wrong."""
    from PIL import Image, UnidentifiedImageError

    root = Path(data_path).expanduser()

    def refuse(problem: str, fix: str) -> ConfigError:
        return ConfigError("data_path", data_path, problem, fix)

    layout = "pass a folder with one sub-folder of PNG/JPEG files per class"
    if not root.is_dir():
        raise refuse("is not a folder" if root.exists() else "does not exist", layout)
    classes = {
        d.name: files
        for d in sorted(root.iterdir())
        if d.is_dir()
        and (files := sorted(f for f in d.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES))
    }
    if len(classes) < 2:
        raise refuse(
            f"has {len(classes)} sub-folder(s) of images; need one per class, 2 or more", layout
        )
    images, labels = [], []
    for name, files in classes.items():
        for file in files:
            try:
                with Image.open(file) as image:
                    images.append(
                        image.convert("RGB") if image.mode not in ("L", "RGB") else image.copy()
                    )
            except (OSError, UnidentifiedImageError) as error:
                raise refuse(
                    f"holds {file.relative_to(root)}, not a readable image ({error})",
                    "remove or fix it",
                ) from None
            labels.append(name)
    size = max({i.size for i in images}, key=[i.size for i in images].count)
    colour = any(i.mode == "RGB" for i in images)
    arrays = [
        np.asarray(
            (i.convert("RGB") if colour else i).resize(size) if i.size != size or colour else i
        )
        for i in images
    ]
    x = np.stack([a if a.ndim == 3 else a[..., np.newaxis] for a in arrays]).astype(np.uint8)
    if len(x) < MIN_ROWS:
        raise refuse(f"has only {len(x)} images; need at least {MIN_ROWS}", layout)
    return x, np.asarray(labels)


TEST_FRACTION = 0.2  # of a source's rows, held out for the test split unless it has its own


class SplitSizes(NamedTuple):
    """Rows per split: ``n_test`` held out of the source's rows for the test split (0 when it
    has its own), ``n_keep`` of the rest kept by ``max_train_samples``, ``n_val`` of those for
    validation; the others train."""

    n_test: int
    n_keep: int
    n_val: int


def split_sizes(config: TrainConfig, n_rows: int, *, own_test: bool = False) -> SplitSizes:
    """The splits of a source of ``n_rows`` rows (training rows only, with ``own_test``);
    refuse a cap or a validation split that leaves no training rows."""
    n_test = 0 if own_test else _ceil(TEST_FRACTION * n_rows)
    n_pool = n_rows - n_test
    n_keep = min(config.max_train_samples or n_pool, n_pool)
    n_val = _ceil(config.validation_split * n_keep)
    if n_keep - n_val < 1:
        name = "max_train_samples" if config.max_train_samples else "validation_split"
        raise ConfigError(
            name,
            getattr(config, name),
            f"leaves no training rows ({n_keep} rows, {n_val} of them for validation)",
            "pass a larger -P max_train_samples or a smaller -P validation_split",
        )
    return SplitSizes(n_test, n_keep, n_val)


def _ceil(value: float) -> int:
    return math.ceil(round(value, 6))  # 0.7 * 100 is 70.00000000000001
