"""Score a model URI on the test split: `python -m pipelines.evaluate --model-uri URI [data flags]`.

Works with any URI MLflow resolves (``models:/mnist-mlp@champion``, ``models:/mnist-mlp/3``,
``runs:/<id>/model``). The data flags are the training ones, so the test split is the same one
the model was scored on when it was trained. The score is logged as an MLflow run.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Sequence

from pipelines import _cli
from tracking.config import TrainConfig, parse_dataclasses, validate
from tracking.data import check_source
from tracking.errors import ConfigError

DATA_FIELDS = (
    "dataset",
    "data_path",
    "label_column",
    "validation_split",
    "max_train_samples",
    "seed",
)


@dataclasses.dataclass(frozen=True)
class EvaluateConfig:
    model_uri: str = dataclasses.field(
        default="models:/mnist-mlp@champion", metadata={"help": "model to score"}
    )


def parse(argv: Sequence[str] | None) -> tuple[EvaluateConfig, TrainConfig]:
    options, data = parse_dataclasses(
        argv, "python -m pipelines.evaluate", __doc__, EvaluateConfig, TrainConfig
    )
    return options, data


def main(argv: Sequence[str] | None = None) -> int:
    _cli.setup()
    try:
        options, data_config = parse(argv)
        validate(data_config)
        check_source(data_config)
    except ConfigError as error:
        return _cli.fail(error)
    except SystemExit as done:
        return int(done.code or 0)

    import mlflow
    from mlflow.exceptions import MlflowException

    from tracking.artifacts import log_params
    from tracking.data import load_dataset
    from tracking.scoring import score_model_uri

    dataset = load_dataset(data_config)
    try:
        score = score_model_uri(options.model_uri, dataset)
    except (MlflowException, OSError) as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error)
        return _cli.fail(
            f"model_uri={options.model_uri!r} could not be loaded ({first_line}); pass a "
            "registered model alias or version such as models:/mnist-mlp@champion"
        )
    with mlflow.start_run(run_name=f"evaluate-{dataset.name}") as run:
        log_params(
            run.info.run_id,
            {"model_uri": options.model_uri, **{k: getattr(data_config, k) for k in DATA_FIELDS}},
        )
        mlflow.log_metrics({"test_loss": score.test_loss, "test_accuracy": score.test_accuracy})
    print(
        f"{options.model_uri}: test accuracy {score.test_accuracy:.4f}, "
        f"test loss {score.test_loss:.4f} on {score.n_test} {dataset.name} test rows"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
