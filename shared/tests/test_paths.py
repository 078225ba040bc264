from azaion_shared.paths import DataRoot


def test_every_design_folder(tmp_path):
    root = DataRoot(tmp_path)
    assert root.data.image("a") == tmp_path / "data/images/a.jpg"
    assert root.data.label("a") == tmp_path / "data/labels/a.txt"
    assert root.seed.images == tmp_path / "data-seed/images"
    assert root.deleted.labels == tmp_path / "data_deleted/labels"
    assert root.rejected == tmp_path / "data-rejected"
    assert root.processed.image("a_3") == tmp_path / "data-processed/images/a_3.jpg"
    assert root.corrupted.labels == tmp_path / "data-corrupted/labels"
    assert root.dataset("run1") == tmp_path / "datasets/run1"
    assert root.model_run("run1") == tmp_path / "models/run1"
    assert root.offset_file == tmp_path / "offset.yaml"


def test_nothing_created_until_ensure(tmp_path):
    root = DataRoot(tmp_path / "root")
    assert not (tmp_path / "root").exists()
    root.ensure()
    root.ensure()  # idempotent
    for sub in (
        "data/images",
        "data-seed/labels",
        "data_deleted/images",
        "data-processed/labels",
        "data-corrupted/images",
        "data-rejected",
        "datasets",
        "models",
    ):
        assert (tmp_path / "root" / sub).is_dir(), sub


def test_names_sorted_and_skip_temporaries(tmp_path):
    root = DataRoot(tmp_path).ensure()
    for name in ("b.jpg", "a.jpg", ".a.jpg.1234.azaion-tmp", "notes.txt"):
        (root.data.images / name).write_bytes(b"x")
    assert list(root.data.names()) == ["a", "b"]
    assert list(DataRoot(tmp_path / "missing").data.names()) == []
