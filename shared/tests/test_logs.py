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


def test_broker_client_noise_only_at_debug():
    stream = io.StringIO()
    setup_logging("INFO", stream=stream)
    logging.getLogger("aiormq.connection").error("Unexpected connection close from remote")
    logging.getLogger("aio_pika.robust_connection").warning("Connection attempt failed")
    rstream_root_call = logging.makeLogRecord(
        {
            "name": "root",
            "levelno": logging.INFO,
            "levelname": "INFO",
            "msg": "recovery disabled",
            "pathname": "/venv/lib/python3.11/site-packages/rstream/consumer.py",
        }
    )
    logging.getLogger().handle(rstream_root_call)
    logging.getLogger("ingestor.service").warning("lost the stream: connection closed")
    assert stream.getvalue().splitlines() == [stream.getvalue().splitlines()[-1]]
    assert "lost the stream" in stream.getvalue()

    stream = io.StringIO()
    setup_logging("DEBUG", stream=stream)
    logging.getLogger("aiormq.connection").error("Unexpected connection close from remote")
    assert "DEBUG   aiormq.connection: Unexpected connection close" in stream.getvalue()
