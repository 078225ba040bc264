"""The data root: one object that knows every folder (DESIGN.md, "Data root")."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

IMAGE_SUFFIX = ".jpg"
LABEL_SUFFIX = ".txt"
REJECTED_RAW_SUFFIX = ".bin"
REJECTED_REASON_SUFFIX = ".reason.txt"
MARKER_SUFFIX = ".json"

log = logging.getLogger(__name__)


def rejected_stem(epoch: int, offset: int, raw: bytes) -> str:
    """``{epoch}-{offset}-{sha12}`` (sha12: the first 12 hex digits of the raw bytes' SHA-256).

    The offset alone repeats when a stream is recreated (a new epoch starts its offsets at 0) and
    the epoch alone when the checkpoint is lost; with the content hash no two different rejected
    messages share a name, and a replay of the same message rewrites the same files.
    """
    return f"{epoch}-{offset}-{hashlib.sha256(raw).hexdigest()[:12]}"


@dataclass(frozen=True)
class PairDir:
    """A folder of image/label pairs: ``images/{name}.jpg`` beside ``labels/{name}.txt``."""

    path: Path

    @property
    def images(self) -> Path:
        return self.path / "images"

    @property
    def labels(self) -> Path:
        return self.path / "labels"

    def image(self, name: str) -> Path:
        return self.images / f"{name}{IMAGE_SUFFIX}"

    def label(self, name: str) -> Path:
        return self.labels / f"{name}{LABEL_SUFFIX}"

    def names(self) -> Iterator[str]:
        """Names of the images present, sorted (temporary files are skipped)."""
        if not self.images.is_dir():
            return iter(())
        return iter(
            sorted(p.stem for p in self.images.iterdir() if p.suffix == IMAGE_SUFFIX and not p.name.startswith("."))
        )

    def ensure(self) -> PairDir:
        self.images.mkdir(parents=True, exist_ok=True)
        self.labels.mkdir(parents=True, exist_ok=True)
        return self


# --- data-processed/: the agreement between the augmentor (writer) and the trainer (reader) -------

#: Variant i of annotation ``name`` is ``{name}+{i}`` (DESIGN.md): ``+`` is outside the name alphabet,
#: so no annotation name can be a variant's. Scheme 1, before 2026-11, wrote ``{name}_{i}``, which
#: collides with names such as ``img_3``; its outputs are redone by the augmentor's reconciliation.
VARIANT_SEPARATOR = "+"
LEGACY_VARIANT_SEPARATOR = "_"
VARIANT_COUNT = 7
#: The naming scheme each completion marker records; a marker without one is of scheme 1.
OUTPUT_SCHEME = 2


def variant_stem(name: str, index: int, scheme: int = OUTPUT_SCHEME) -> str:
    """The output name of variant ``index`` (1..7) of annotation ``name``."""
    return f"{name}{VARIANT_SEPARATOR if scheme >= 2 else LEGACY_VARIANT_SEPARATOR}{index}"


@dataclass(frozen=True)
class CompletionMarker:
    """``data-processed/.complete/{name}.json``: written last, once all of ``name``'s outputs are durable,
    removed first when they are redone. A reader uses an annotation's outputs only while its marker exists."""

    name: str
    variants: tuple[int, ...]  # the variant indexes written (a variant whose transform failed is absent)
    source: dict | None = None  # size and mtime of data/'s image and label when processed
    config: str = ""  # hash of everything that shapes the outputs
    scheme: int = 1
    extra: dict = field(default_factory=dict)  # skipped variants, who and when

    def stems(self) -> list[str]:
        """The output names, the original first."""
        return [self.name] + [variant_stem(self.name, v, self.scheme) for v in self.variants]

    def to_json(self) -> str:
        record = {
            **self.extra,
            "name": self.name,
            "variants": list(self.variants),
            "source": self.source,
            "config": self.config,
            "scheme": self.scheme,
        }
        return json.dumps(record, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> CompletionMarker:
        """Raises ValueError (or TypeError/KeyError) on a marker that is not one."""
        record = json.loads(text)
        known = {"name", "variants", "source", "config", "scheme"}
        return cls(
            name=str(record["name"]),
            variants=tuple(int(v) for v in record.get("variants", [])),
            source=record.get("source"),
            config=str(record.get("config", "")),
            scheme=int(record.get("scheme", 1)),
            extra={k: v for k, v in record.items() if k not in known},
        )


@dataclass(frozen=True)
class ProcessedDir(PairDir):
    """``data-processed/``: originals and variants, completion markers, set-aside images, locks."""

    @property
    def markers(self) -> Path:
        return self.path / ".complete"

    @property
    def failed(self) -> Path:
        """``{name}.json`` for an image set aside until it changes (it could not be read)."""
        return self.path / ".failed"

    @property
    def locks(self) -> Path:
        """``{name}.lock``: one replica at a time works on an image."""
        return self.path / ".locks"

    def marker_path(self, name: str) -> Path:
        return self.markers / f"{name}{MARKER_SUFFIX}"

    def read_marker(self, name: str) -> CompletionMarker | None:
        """The marker of ``name``; None when there is none or it is unreadable (outputs not complete)."""
        try:
            return CompletionMarker.from_json(self.marker_path(name).read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError, TypeError, KeyError) as exc:
            log.warning("ignoring unreadable marker %s: %s", self.marker_path(name), exc)
            return None

    def marker_names(self) -> list[str]:
        """Names that have a marker file, sorted."""
        if not self.markers.is_dir():
            return []
        return sorted(p.stem for p in self.markers.glob("*.json") if not p.name.startswith("."))

    def completed(self) -> Iterator[CompletionMarker]:
        """Every readable marker, by name."""
        for name in self.marker_names():
            marker = self.read_marker(name)
            if marker is not None:
                yield marker

    def ensure(self) -> ProcessedDir:
        super().ensure()
        for folder in (self.markers, self.failed, self.locks):
            folder.mkdir(parents=True, exist_ok=True)
        return self


@dataclass(frozen=True)
class DatasetDir:
    """``datasets/{run}/``: a training set the trainer formed (``trainer.dataset``), with its files; the
    same files copied into a run's folder carry the prefix ``dataset-`` (:attr:`RunDir.dataset`)."""

    path: Path
    prefix: str = ""

    YAML = "data.yaml"  # ultralytics' dataset description: paths and class names
    MANIFEST = "manifest.json"  # which original went to which split, with counts
    HISTOGRAM = "histogram.json"  # boxes per class and split
    HISTOGRAM_TEXT = "histogram.txt"  # the same, as a table for people
    FILES = (MANIFEST, HISTOGRAM_TEXT, HISTOGRAM, YAML)

    def file(self, name: str) -> Path:
        return self.path / f"{self.prefix}{name}"

    @property
    def data_yaml(self) -> Path:
        return self.file(self.YAML)

    @property
    def manifest(self) -> Path:
        return self.file(self.MANIFEST)

    @property
    def histogram(self) -> Path:
        return self.file(self.HISTOGRAM)

    @property
    def histogram_text(self) -> Path:
        return self.file(self.HISTOGRAM_TEXT)


@dataclass(frozen=True)
class RunDir:
    """``models/{run}/``: a training run as the trainer archives it (``trainer.archive``, ``trainer.gate``)
    and the console reads it: weights, ultralytics' results and plots, the gate's decision, and a copy of
    the dataset's files (:attr:`dataset`)."""

    path: Path

    RESULTS = "results.csv"
    GATE = "gate.json"
    CONFUSION = "confusion.json"
    WEIGHTS = "weights"
    BEST = "best.pt"
    LAST = "last.pt"

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def weights(self) -> Path:
        return self.path / self.WEIGHTS

    @property
    def best(self) -> Path:
        return self.weights / self.BEST

    @property
    def last(self) -> Path:
        return self.weights / self.LAST

    @property
    def results(self) -> Path:
        return self.path / self.RESULTS

    @property
    def gate(self) -> Path:
        return self.path / self.GATE

    @property
    def confusion(self) -> Path:
        """The gate's confusion matrix of the new model, restricted to the classes present (gate.py)."""
        return self.path / self.CONFUSION

    @property
    def dataset(self) -> DatasetDir:
        """The dataset's files as copied into the run: ``dataset-data.yaml``, ``dataset-manifest.json`` ..."""
        return DatasetDir(self.path, prefix="dataset-")

    def watched(self) -> tuple[Path, ...]:
        """The files whose change means the run changed (for readers that cache)."""
        return (self.results, self.gate, self.confusion, self.dataset.manifest, self.dataset.histogram)


#: models/: the current model (promoted from a run) and which run it came from
CURRENT_MODEL = "azaion.pt"
CURRENT_RUN = "azaion.pt.json"


@dataclass(frozen=True)
class DataRoot:
    """Every folder under ``AZAION_ROOT``; nothing is created until :meth:`ensure`. ``models_dir``: where
    ``models/`` is when it is mounted apart (the console mounts the data root read-only, and a mount
    point cannot be made inside a read-only mount)."""

    root: Path
    models_dir: Path | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root))

    @property
    def data(self) -> PairDir:
        """Validated annotations (Validator, Admin)."""
        return PairDir(self.root / "data")

    @property
    def seed(self) -> PairDir:
        """Operator annotations awaiting validation."""
        return PairDir(self.root / "data-seed")

    @property
    def deleted(self) -> PairDir:
        """Deleted annotations, kept and never erased."""
        return PairDir(self.root / "data_deleted")

    @property
    def rejected(self) -> Path:
        """Stream messages that could not be applied: ``{stem}.bin`` (the raw bytes) + ``{stem}.reason.txt``,
        the stem from :func:`rejected_stem`."""
        return self.root / "data-rejected"

    @property
    def processed(self) -> ProcessedDir:
        """Original + 7 augmented variants per annotation, with completion markers."""
        return ProcessedDir(self.root / "data-processed")

    @property
    def corrupted(self) -> PairDir:
        """Pairs the trainer found invalid."""
        return PairDir(self.root / "data-corrupted")

    @property
    def datasets(self) -> Path:
        return self.root / "datasets"

    @property
    def models(self) -> Path:
        return Path(self.models_dir) if self.models_dir is not None else self.root / "models"

    @property
    def offset_file(self) -> Path:
        """The ingestor's checkpoint: last stream offset whose effects are durable."""
        return self.root / "offset.yaml"

    @property
    def current_model(self) -> Path:
        """``models/azaion.pt``: the weights that passed the gate last."""
        return self.models / CURRENT_MODEL

    @property
    def current_run_file(self) -> Path:
        """``models/azaion.pt.json``: ``{"run": NAME}``, the run the current model came from."""
        return self.models / CURRENT_RUN

    def dataset(self, run: str) -> Path:
        return self.datasets / run

    def dataset_dir(self, run: str) -> DatasetDir:
        return DatasetDir(self.dataset(run))

    def model_run(self, run: str) -> Path:
        return self.models / run

    def run(self, run: str) -> RunDir:
        return RunDir(self.model_run(run))

    def pair_dirs(self) -> tuple[PairDir, ...]:
        return (self.data, self.seed, self.deleted, self.processed, self.corrupted)

    def ensure(self) -> DataRoot:
        """Create every folder (idempotent)."""
        for pair_dir in self.pair_dirs():
            pair_dir.ensure()
        for folder in (self.rejected, self.datasets, self.models):
            folder.mkdir(parents=True, exist_ok=True)
        return self
