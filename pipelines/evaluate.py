"""Score a model URI on the test split: `python -m pipelines.evaluate --model-uri URI [data flags]`.

Works with any URI MLflow resolves (``models:/mnist-mlp@champion``, ``models:/mnist-mlp/3``,
``runs:/<id>/model``). The data flags are the training ones that pick and split the data
(``tracking.config.train.DATA_FIELDS``), so the test split is the one the model was scored on when
it was trained. The score is logged as an MLflow run, with what ``mlflow.models.evaluate`` logs
(its standard metrics and plots for a classifier or a regressor; ``tracking.run.evaluation``).
"""

from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Sequence

from pipelines import _cli
from tracking.config.errors import ConfigError, ModelUnavailable
from tracking.config.params import param
from tracking.config.train import DATA_FIELDS, TrainConfig, validate_data
from tracking.preflight.servers import check_tracking_uri
from tracking.preflight.sources import check_source


@dataclasses.dataclass(frozen=True)
class EvaluateConfig:
    model_uri: str = param("models:/mnist-mlp@champion", "model to score")


def parse(argv: Sequence[str] | None) -> tuple[EvaluateConfig, TrainConfig]:
    parser = _cli.OneLineParser(prog="python -m pipelines.evaluate", description=__doc__)
    _cli.add_flags(parser, EvaluateConfig)
    _cli.add_flags(parser, TrainConfig, only=DATA_FIELDS)
    ns = parser.parse_args(argv)
    data = TrainConfig(**{name: getattr(ns, name) for name in DATA_FIELDS})
    return EvaluateConfig(model_uri=ns.model_uri), data


def main(argv: Sequence[str] | None = None) -> int:
    _cli.setup()
    try:
        options, data_config = parse(argv)
        validate_data(data_config)
        check_source(data_config)
        check_tracking_uri(os.environ.get("MLFLOW_TRACKING_URI"))
    except ConfigError as error:
        return _cli.fail(error)
    except SystemExit as done:
        return int(done.code or 0)

    _cli.import_tensorflow()  # without its C++ start-up notices
    import keras

    from tracking.data.datasets import load_dataset
    from tracking.door.tracker import Tracker
    from tracking.run import evaluation
    from tracking.run.scoring import score_loaded

    dataset = load_dataset(data_config)
    keras.utils.disable_interactive_logging()  # no progress bar from an older model's predict()
    tracker = Tracker()
    try:
        model = tracker.load_model(options.model_uri)
    except ModelUnavailable as error:
        return _cli.fail(
            f"model_uri={options.model_uri!r} could not be loaded ({error}); pass a "
            "registered model alias or version such as models:/mnist-mlp@champion"
        )
    score = score_loaded(model, dataset)
    run_id = tracker.start_run(f"evaluate-{dataset.name}")
    with tracker.ending(run_id):
        data_params = {k: getattr(data_config, k) for k in DATA_FIELDS}
        tracker.log_params(run_id, {"model_uri": options.model_uri, **data_params})
        tracker.log_metrics(run_id, score.metrics)
        theirs = evaluation.log_mlflow_evaluation(
            tracker, run_id, model, dataset, label=data_config.label_column
        )
    print(f"{options.model_uri}: {score.describe()} on {score.n_test} {dataset.name} test rows")
    if theirs:
        shown = ", ".join(f"{k} {v:.4f}" for k, v in theirs.items() if k != "example_count")
        print(f"mlflow.models.evaluate: {shown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
