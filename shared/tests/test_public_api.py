import subprocess
import sys

import azaion_shared


def test_public_names():
    assert sorted(azaion_shared.__all__) == [
        "AtomicWriteError",
        "AzaionError",
        "ConfigError",
        "LabelError",
        "MessageDecodeError",
        "__version__",
    ]
    for name in azaion_shared.__all__:
        assert hasattr(azaion_shared, name)


def test_errors_share_one_base():
    for name in ("AtomicWriteError", "ConfigError", "LabelError", "MessageDecodeError"):
        assert issubclass(getattr(azaion_shared, name), azaion_shared.AzaionError)


def test_import_does_no_work_and_pulls_no_heavy_modules():
    code = (
        "import sys, azaion_shared, azaion_shared.settings, azaion_shared.messages, azaion_shared.atomic, "
        "azaion_shared.labels, azaion_shared.boxes, azaion_shared.paths, azaion_shared.logs; "
        "heavy = [m for m in ('torch', 'cv2', 'boto3', 'httpx', 'ultralytics') if m in sys.modules]; "
        "print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
