"""The run folder: everything a trained model is, as plain files.

    RUN/
      config.json          the whole RunConfig (architecture, training, data, versions)
      model.safetensors    the best weights (by validation ELBO)
      preprocessing.json   scaling / standardisation statistics
      metrics.jsonl        one JSON object per epoch
      checkpoints/last.safetensors   model + optimiser + RNG, for --resume
      samples.png, reconstructions.png, loss.png
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from vaekit.config.configs import RunConfig
from vaekit.data.preprocessing import Preprocessor
from vaekit.errors import ConfigError, ModelFileError, TrainingError
from vaekit.io import atomic
from vaekit.io.serialization import load_state_strict, load_tensors, save_tensors
from vaekit.model.build import build_module
from vaekit.model.module import VAEModule


class RunFolder:
    CONFIG = "config.json"
    MODEL = "model.safetensors"
    PREPROCESSING = "preprocessing.json"
    METRICS = "metrics.jsonl"

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"RunFolder({str(self.path)!r})"

    @property
    def checkpoint(self) -> Path:
        return self.path / "checkpoints" / "last.safetensors"

    def require_checkpoint(self) -> Path:
        if not self.checkpoint.is_file():
            raise TrainingError(f"nothing to resume: {self.path} has no checkpoint (train without --resume)")
        return self.checkpoint

    def file(self, name: str) -> Path:
        return self.path / name

    def require(self) -> RunFolder:
        """Fail clearly unless this is a complete run folder."""
        if not self.path.is_dir():
            raise ModelFileError(f"{self.path} is not a directory, so not a vaekit run folder")
        for name in (self.CONFIG, self.MODEL, self.PREPROCESSING):
            if not (self.path / name).is_file():
                raise ModelFileError(
                    f"{self.path} is not a vaekit run folder (no {name}); train one with `vaekit train DATA --out RUN`"
                )
        return self

    # -- config and preprocessing ------------------------------------------------------------
    def write_config(self, config: RunConfig) -> None:
        atomic.write_text(self.path / self.CONFIG, config.to_json() + "\n")

    def read_config(self) -> RunConfig:
        raw = self._read_json(self.CONFIG)
        try:
            return RunConfig.from_dict(raw)
        except ConfigError as err:
            raise ModelFileError(f"{self.path / self.CONFIG}: {err}") from None

    def write_preprocessing(self, pre: Preprocessor) -> None:
        atomic.write_text(self.path / self.PREPROCESSING, json.dumps(pre.to_dict(), indent=2) + "\n")

    def read_preprocessing(self) -> Preprocessor:
        try:
            return Preprocessor.from_dict(self._read_json(self.PREPROCESSING))
        except (KeyError, TypeError) as err:
            raise ModelFileError(f"{self.path / self.PREPROCESSING} is malformed ({err})") from None

    def _read_json(self, name: str) -> Any:
        path = self.path / name
        try:
            return json.loads(path.read_text())
        except FileNotFoundError:
            raise ModelFileError(f"{self.path} is not a vaekit run folder (no {name})") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise ModelFileError(f"{path} is not valid JSON ({err})") from None

    # -- weights -----------------------------------------------------------------------------
    def save_weights(self, module: VAEModule) -> None:
        save_tensors(self.path / self.MODEL, module.state_dict())

    def load_module(self, config: RunConfig | None = None) -> VAEModule:
        config = config or self.read_config()
        module = build_module(config.model)
        tensors, _ = load_tensors(self.path / self.MODEL)
        load_state_strict(module, tensors, str(self.path / self.MODEL))
        return module.eval()

    # -- metrics -----------------------------------------------------------------------------
    def read_metrics(self) -> list[dict[str, Any]]:
        path = self.path / self.METRICS
        if not path.is_file():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

    def write_metrics(self, rows: list[dict[str, Any]]) -> None:
        atomic.write_text(self.path / self.METRICS, "".join(json.dumps(r) + "\n" for r in rows))
