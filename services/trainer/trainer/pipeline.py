"""The whole flow and its steps, with a small state file so that `run` continues an interrupted run."""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

from azaion_shared.atomic import atomic_write_text, clean_temp_files
from azaion_shared.model_formats import FORMATS, ONNX
from azaion_shared.paths import DataRoot, DatasetDir
from trainer import archive, dataset, export, formats, gate, gpu, training
from trainer.classes import load_classes
from trainer.errors import TrainerError
from trainer.settings import TrainerSettings

log = logging.getLogger(__name__)

STATE = ".trainer-state.json"


@dataclass
class Report:
    run: str
    stages: dict[str, float] = field(default_factory=dict)  # seconds per stage
    dataset: dict = field(default_factory=dict)
    gate: dict = field(default_factory=dict)
    exported: str | None = None
    published: dict | None = None
    exports: dict = field(default_factory=dict)  # format -> {path, resource, seconds, published}


class Pipeline:
    def __init__(self, settings: TrainerSettings):
        self.settings = settings
        self.options = settings.trainer
        self.root = DataRoot(settings.root).ensure()
        self.resolved = self.options.resolved()

    # --- state ----------------------------------------------------------------------------
    @property
    def state_file(self) -> Path:
        return self.root.models / STATE

    def state(self) -> dict:
        try:
            return json.loads(self.state_file.read_text())
        except (FileNotFoundError, ValueError):
            return {}

    def set_state(self, run: str, stage: str) -> None:
        atomic_write_text(self.state_file, json.dumps({"run": run, "stage": stage, "at": time.time()}))

    def interrupted_run(self) -> str | None:
        state = self.state()
        return state.get("run") if state.get("stage") == "training" else None

    # --- steps ----------------------------------------------------------------------------
    def clean_abandoned(self) -> None:
        """Remove what crashed trainers left half-made (datasets being built, model files being written);
        never what another live trainer is writing (see azaion_shared.owners)."""
        for folder, recursive in ((self.root.datasets, False), (self.root.models, True)):
            cleaned = clean_temp_files(folder, recursive, max_age=self.settings.temp_max_age)
            if cleaned.removed or cleaned.kept:
                log.info("%s: %s", folder, cleaned)

    def form_dataset(self, run: str) -> dataset.DatasetResult:
        o = self.options
        self.clean_abandoned()
        result = dataset.form_dataset(
            self.root,
            run,
            load_classes(o.classes_file),
            o.seed,
            dataset.SplitRatios(o.train_ratio, o.valid_ratio, o.test_ratio),
            o.variants_in_eval,
            show_progress=True,
        )
        print(DatasetDir(result.path).histogram_text.read_text(), end="")
        print(
            f"dataset {run}: "
            + ", ".join(f"{s} {result.counts[s]} images ({result.groups[s]} originals)" for s in dataset.SPLITS)
            + f"; {len(result.corrupted)} pairs quarantined"
        )
        return result

    def train_args(self, extra: dict | None = None) -> dict:
        r = self.resolved
        args = {
            "epochs": r["epochs"],
            "batch": r["batch"],
            "imgsz": r["imgsz"],
            "save_period": self.options.save_period,
            "seed": self.options.seed,
            "workers": self.options.workers,
            "plots": True,
        }
        if self.options.device:
            args["device"] = self.options.device
        return {**args, **self.options.overrides, **(extra or {})}

    def train(self, run: str, extra: dict | None = None) -> None:
        data_yaml = self.root.dataset_dir(run).data_yaml
        if not data_yaml.exists():
            raise TrainerError(f"no dataset for run {run}: form it first (`python -m trainer dataset --run {run}`)")
        self.set_state(run, "training")
        log.info("%s", gpu.describe())
        training.train(self.root, run, data_yaml, self.train_args(extra), self.options.weights, self.resolved["model"])
        self.finish_training(run)

    def resume(self, run: str | None = None) -> str:
        run = run or self.interrupted_run()
        if not run:
            raise TrainerError("no interrupted run to resume (the state file says none is training)")
        if not training.finished(self.root, run):
            self.set_state(run, "training")
            training.resume(self.root, run)
        self.finish_training(run)
        return run

    def finish_training(self, run: str) -> None:
        archive.archive(self.root, run, self.root.dataset(run))
        self.set_state(run, "trained")

    def gate(self, run: str, force: bool = False) -> gate.GateDecision:
        files = self.root.dataset_dir(run)
        if not files.manifest.is_file():
            raise TrainerError(f"run {run!r} has no dataset: `python -m trainer dataset --run {run}`, then train it")
        if not self.root.run(run).best.is_file():
            raise TrainerError(f"run {run!r} has no trained weights ({self.root.run(run).best}): train it first")
        manifest = json.loads(files.manifest.read_text())
        decision = gate.decide(
            self.root,
            run,
            self.root.dataset_dir(run).data_yaml,
            manifest["counts"]["test"],
            self.resolved["imgsz"],
            self.options.device,
            self.options.gate_margin,
            force,
        )
        if decision.publish:
            archive.promote(self.root, run)
        self.set_state(run, "gated" if decision.publish else "rejected")
        return decision

    def export(
        self,
        run: str,
        fmt: str = ONNX.name,
        imgsz: int | None = None,
        batch: int | None = None,
        precision: str | None = None,
        target: str | None = None,
    ) -> export.Exported:
        """Export the promoted model (models/azaion.pt) in one format (trainer.formats)."""
        if fmt == ONNX.name and batch is None:
            batch = self.options.export_batch
        request = formats.resolve(
            fmt,
            imgsz or self.resolved["export_imgsz"],
            batch,
            precision,
            target,
            calibration_images=self.options.calibration_images,
        )
        exported = export.export(
            self.root,
            self.root.current_model,
            run,
            request,
            onnx_resource=self.options.resource_name,
            rknn_python=self.options.rknn_python,
            samples=self.samples(run),
        )
        self.set_state(run, "exported")
        return exported

    def samples(self, run: str) -> list[Path]:
        """Images for INT8 calibration and conversion checks: the run's training split, else data-processed."""
        found = sorted((self.root.dataset(run) / "train" / "images").glob("*.jpg"))
        return found or sorted(self.root.processed.images.glob("*.jpg"))

    def artifact(self, fmt: str) -> Path:
        """The newest exported artifact of a format (its JSON beside it names the resource)."""
        pattern = FORMATS[fmt].resource_pattern() if fmt in FORMATS else None
        if pattern is None:
            raise TrainerError(f"unknown format {fmt!r}; choose one of {', '.join(formats.FORMATS)}")
        found = sorted(self.root.models.glob(pattern), key=lambda p: p.stat().st_mtime)
        if not found:
            raise TrainerError(
                f"nothing to publish: no {pattern} in {self.root.models} "
                f"(run `python -m trainer export --format {fmt}`)"
            )
        return found[-1]

    def publisher(self, api):
        from azaion_shared.cdn import storage_from_settings
        from trainer.release import Publisher

        cdn = storage_from_settings(self.settings.cdn, self.root.root)
        return Publisher(
            api,
            cdn,
            self.settings.key(),
            self.settings.signing_key(),
            self.settings.trust_client(api),
            self.options.channel,
        )

    def publish(self, run: str | None = None, formats: list[str] | None = None, promote: bool | None = None):
        """Release the newest export of each format as the next version, signed; promote it to the channel
        (AZAION_TRAINER__PROMOTE) and prune old releases (AZAION_TRAINER__RELEASE_KEEP)."""
        from trainer.release import ArtifactFile

        files = [ArtifactFile.beside(self.artifact(fmt)) for fmt in formats or self.options.export_formats]
        run = run or json.loads(self.root.current_run_file.read_text()).get("run", "unknown")
        metrics = self.gate_metrics(run)
        classes = next((f.meta["names"] for f in files if f.meta.get("names")), {})
        promote = self.options.promote if promote is None else promote
        with self.settings.api_client.client(progress=True) as api:
            publisher = self.publisher(api)
            release = publisher.publish(run, metrics, classes, files)
            pointer = publisher.promote(release.version) if promote else None
            pruned = publisher.prune(self.options.release_keep)
        self.set_state(run, "published")
        return release, pointer, pruned

    def gate_metrics(self, run: str) -> dict[str, float]:
        try:
            gate_file = json.loads(self.root.run(run).gate.read_text())
        except (FileNotFoundError, ValueError):
            return {}
        return {"map50_95": gate_file.get("new_map50_95"), "map50": gate_file.get("new_map50")}

    # --- everything -----------------------------------------------------------------------
    def run(
        self, run: str | None = None, force: bool = False, publish: bool = True, extra: dict | None = None
    ) -> Report:
        resumed = self.interrupted_run()
        report = Report(run=resumed or run or time.strftime("%Y%m%d-%H%M%S"))
        clock = time.perf_counter()

        def lap(stage: str) -> None:
            nonlocal clock
            now = time.perf_counter()
            report.stages[stage] = round(now - clock, 1)
            clock = now

        if resumed:
            self.clean_abandoned()
            log.info("run %s was interrupted while training: resuming it", resumed)
            self.resume(resumed)
            lap("resume")
        else:
            result = self.form_dataset(report.run)
            report.dataset = {"counts": result.counts, "originals": result.groups, "corrupted": len(result.corrupted)}
            lap("dataset")
            self.train(report.run, extra)
            lap("train")
        decision = self.gate(report.run, force)
        report.gate = {
            "publish": decision.publish,
            "reason": decision.reason,
            "map50_95": decision.new_map50_95,
            "map50": decision.new_map50,
            "split": decision.split,
            "current_map50_95": decision.current_map50_95,
        }
        lap("gate")
        if not decision.publish:
            return report
        report.exported = str(self.export(report.run).path)
        lap("export")
        # further formats for the edge (AZAION_TRAINER__EXPORT_FORMATS), all in the one release
        for fmt in (f for f in self.options.export_formats if f != ONNX.name):
            exported = self.export(report.run, fmt)
            report.exports[fmt] = {"path": str(exported.path), "seconds": round(exported.seconds, 1)}
            lap(f"export {fmt}")
        if publish:
            release, pointer, pruned = self.publish(report.run, [ONNX.name, *report.exports])
            report.published = {
                "version": release.version,
                "artifacts": [a.resource for a in release.artifacts],
                "small": sum(a.small_size for a in release.artifacts),
                "big": sum(a.big_size for a in release.artifacts),
                "channel": f"{pointer.channel} -> {pointer.version}" if pointer else None,
                "pruned": pruned,
            }
            lap("publish")
        return report
