"""The model registry: versioned folders of readable artifacts under ``$CARDMIND_HOME/models``.

Layout::

    $CARDMIND_HOME/models/<name>/<version>/model.txt       LightGBM text model
    $CARDMIND_HOME/models/<name>/<version>/metadata.json   feature service, window, metrics, ...
    $CARDMIND_HOME/models/<name>/stages.json               {"production": "v0002", "history": [...]}

Versions are ``v0001``, ``v0002``, ... in save order. A version is written to a hidden folder and
renamed into place, so a crash never leaves half a model. No pickle anywhere.

>>> import tempfile, lightgbm as lgb, numpy as np
>>> reg = Registry(Path(tempfile.mkdtemp()))
>>> b = lgb.train({"objective": "binary", "verbose": -1}, lgb.Dataset(np.eye(20)[:, :2],
...               np.arange(20) % 2), num_boost_round=2)
>>> v = reg.save("fraud", model_text=b.model_to_string(), metadata={"feature_names": ["a", "b"]})
>>> v, reg.versions("fraud")
('v0001', ['v0001'])
>>> reg.promote("fraud", v)
>>> reg.load("fraud").version, reg.production_version("fraud")
('v0001', 'v0001')
"""

from __future__ import annotations

import json
import os
import re
import shutil
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cardmind.errors import InvalidInput
from cardmind.models.scoring import ScoringModel

MODEL_FILE = "model.txt"
METADATA_FILE = "metadata.json"
STAGES_FILE = "stages.json"
_NAME = re.compile(r"^[a-z][a-z0-9_\-]{0,63}$")
_VERSION = re.compile(r"^v(\d{4,})$")


@dataclass(frozen=True, kw_only=True)
class ModelRecord:
    """One row of ``Registry.list()``."""

    name: str
    version: str
    created_at: str
    stage: str
    metrics: dict[str, Any]


def default_root() -> Path:
    """``$CARDMIND_HOME/models``."""
    from cardmind.settings import get_settings

    return get_settings().home / "models"


class Registry:
    """Save, list, describe, promote and load versioned models."""

    def __init__(self, root: str | Path | None = None) -> None:
        self.root = Path(root) if root is not None else default_root()

    # --- writing ----------------------------------------------------------------------------
    def save(self, name: str, *, model_text: str, metadata: dict[str, Any]) -> str:
        """Store a new version; returns its version id (``v0001`` ...)."""
        _check_name(name)
        if "feature_names" not in metadata:
            raise InvalidInput("metadata must list feature_names")
        ScoringModel(model_text=model_text, metadata=metadata)  # refuse what cannot be served
        folder = self.root / name
        folder.mkdir(parents=True, exist_ok=True)
        for _ in range(20):
            existing = self.versions(name)
            n = int(_VERSION.match(existing[-1]).group(1)) + 1 if existing else 1  # type: ignore[union-attr]
            version = f"v{n:04d}"
            tmp = folder / f".{version}.tmp-{uuid.uuid4().hex[:8]}"
            tmp.mkdir()
            meta = {
                **metadata,
                "name": name,
                "version": version,
                "created_at": metadata.get("created_at") or datetime.now(UTC).isoformat(),
            }
            (tmp / MODEL_FILE).write_text(model_text)
            (tmp / METADATA_FILE).write_text(
                json.dumps(meta, indent=2, ensure_ascii=False, default=str, allow_nan=False)
            )
            try:
                os.rename(tmp, folder / version)  # fails if another writer took the number
                return version
            except OSError:
                shutil.rmtree(tmp, ignore_errors=True)
        raise RuntimeError(f"could not allocate a version for model {name!r}")

    def promote(self, name: str, version: str, stage: str = "production") -> None:
        """Mark ``version`` as the ``stage`` version of ``name`` (default: production)."""
        if stage not in ("production", "staging"):
            raise InvalidInput(f"stage must be production or staging, got {stage!r}")
        self._folder(name, version)
        stages = self.stages(name)
        previous = stages.get(stage)
        stages[stage] = version
        stages.setdefault("history", []).append(
            {
                "stage": stage,
                "version": version,
                "previous": previous,
                "at": datetime.now(UTC).isoformat(),
            }
        )
        path = self.root / name / STAGES_FILE
        tmp = path.with_suffix(f".tmp-{uuid.uuid4().hex[:8]}")
        tmp.write_text(json.dumps(stages, indent=2))
        os.replace(tmp, path)

    # --- reading ----------------------------------------------------------------------------
    def names(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if p.is_dir() and _NAME.match(p.name))

    def versions(self, name: str) -> list[str]:
        """Versions of ``name`` in save order (empty when the model is unknown)."""
        folder = self.root / name
        if not folder.is_dir():
            return []
        found = [p.name for p in folder.iterdir() if p.is_dir() and _VERSION.match(p.name)]
        return sorted(found, key=lambda v: int(v[1:]))

    def stages(self, name: str) -> dict[str, Any]:
        path = self.root / name / STAGES_FILE
        return json.loads(path.read_text()) if path.is_file() else {}

    def production_version(self, name: str) -> str | None:
        return self.stages(name).get("production")

    def resolve(self, name: str, version: str | None = None) -> str:
        """The concrete version for ``None``/``"production"``, ``"latest"`` or an id."""
        _check_name(name)
        if version in (None, "production", "staging"):
            stage = version or "production"
            v = self.stages(name).get(stage)
            if v is None:
                known = self.versions(name)
                hint = (
                    f"; promote one with `cardmind models promote {name} {known[-1]}`"
                    if known
                    else "; train one first"
                )
                raise InvalidInput(f"model {name!r} has no {stage} version{hint}")
            return v
        if version == "latest":
            known = self.versions(name)
            if not known:
                raise InvalidInput(f"no model named {name!r} in {self.root}")
            return known[-1]
        self._folder(name, version)
        return version

    def describe(self, name: str, version: str | None = "latest") -> dict[str, Any]:
        """The metadata of one version, plus its current stages."""
        v = self.resolve(name, version)
        meta = json.loads((self._folder(name, v) / METADATA_FILE).read_text())
        stages = self.stages(name)
        meta["stages"] = sorted(k for k, val in stages.items() if k != "history" and val == v)
        meta["path"] = str(self._folder(name, v))
        return meta

    def list(self, name: str | None = None) -> list[ModelRecord]:
        """Every stored version (of ``name`` or of all models)."""
        out = []
        for n in [name] if name else self.names():
            stages = self.stages(n)
            for v in self.versions(n):
                meta = json.loads((self.root / n / v / METADATA_FILE).read_text())
                stage = ",".join(k for k, val in stages.items() if k != "history" and val == v)
                out.append(
                    ModelRecord(
                        name=n,
                        version=v,
                        created_at=meta.get("created_at", ""),
                        stage=stage or "-",
                        metrics=meta.get("metrics", {}),
                    )
                )
        return out

    def load(self, name: str, version: str | None = None) -> ScoringModel:
        """The model ``name`` at ``version`` (None or ``"production"``: the production one)."""
        v = self.resolve(name, version)
        folder = self._folder(name, v)
        meta = json.loads((folder / METADATA_FILE).read_text())
        return ScoringModel(model_text=(folder / MODEL_FILE).read_text(), metadata=meta)

    def _folder(self, name: str, version: str) -> Path:
        _check_name(name)
        if not _VERSION.match(version or ""):
            raise InvalidInput(f"version must look like v0001, got {version!r}")
        folder = self.root / name / version
        if not (folder / METADATA_FILE).is_file():
            known = ", ".join(self.versions(name)) or "none"
            raise InvalidInput(f"model {name!r} has no version {version} (known: {known})")
        return folder


def _check_name(name: str) -> None:
    if not _NAME.match(name or ""):
        raise InvalidInput(
            f"model name must be lower-case letters, digits, '_' or '-' (got {name!r})"
        )


def load(name: str, version: str | None = None) -> ScoringModel:
    """Load from the default registry (``$CARDMIND_HOME/models``)."""
    return Registry().load(name, version)
