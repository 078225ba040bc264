"""The data root: one object that knows every folder (DESIGN.md, "Data root")."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

IMAGE_SUFFIX = ".jpg"
LABEL_SUFFIX = ".txt"
REJECTED_RAW_SUFFIX = ".bin"
REJECTED_REASON_SUFFIX = ".reason.txt"


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


@dataclass(frozen=True)
class DataRoot:
    """Every folder under ``AZAION_ROOT``; nothing is created until :meth:`ensure`."""

    root: Path

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
    def processed(self) -> PairDir:
        """Original + 7 augmented variants per annotation."""
        return PairDir(self.root / "data-processed")

    @property
    def corrupted(self) -> PairDir:
        """Pairs the trainer found invalid."""
        return PairDir(self.root / "data-corrupted")

    @property
    def datasets(self) -> Path:
        return self.root / "datasets"

    @property
    def models(self) -> Path:
        return self.root / "models"

    @property
    def offset_file(self) -> Path:
        """The ingestor's checkpoint: last stream offset whose effects are durable."""
        return self.root / "offset.yaml"

    def dataset(self, run: str) -> Path:
        return self.datasets / run

    def model_run(self, run: str) -> Path:
        return self.models / run

    def pair_dirs(self) -> tuple[PairDir, ...]:
        return (self.data, self.seed, self.deleted, self.processed, self.corrupted)

    def ensure(self) -> DataRoot:
        """Create every folder (idempotent)."""
        for pair_dir in self.pair_dirs():
            pair_dir.ensure()
        for folder in (self.rejected, self.datasets, self.models):
            folder.mkdir(parents=True, exist_ok=True)
        return self
