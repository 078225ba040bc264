import io
import json
import logging

from azaion_shared.logs import setup_logging


def test_json_lines_keep_extra_fields():
    stream = io.StringIO()
    setup_logging("DEBUG", json_lines=True, stream=stream)
    logging.getLogger("azaion.test").info("applied %s", "a", extra={"offset": 42})
    entry = json.loads(stream.getvalue().splitlines()[-1])
    assert entry["message"] == "applied a"
    assert entry["offset"] == 42
    assert entry["level"] == "INFO" and entry["logger"] == "azaion.test"


def test_text_by_default_and_bad_level():
    stream = io.StringIO()
    setup_logging("loud", stream=stream)
    logging.getLogger("azaion.test").info("hello")
    out = stream.getvalue()
    assert "unknown log level 'loud'" in out
    assert "INFO    azaion.test: hello" in out
