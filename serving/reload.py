"""A background thread that follows the champion alias in MLflow and switches the predictor to a new version."""

from __future__ import annotations

import logging
import threading

from serving.errors import RateLimitedLog, ReloadFailedError
from serving.predictor import RetentionPredictor

logger = logging.getLogger(__name__)


class ChampionWatcher:
    """Calls `predictor.reload()` every `interval_seconds` until `stop()`."""

    def __init__(self, predictor: RetentionPredictor, interval_seconds: float, error_log_seconds: float) -> None:
        self.predictor = predictor
        self.interval_seconds = interval_seconds
        self._stopped = threading.Event()
        self._errors = RateLimitedLog(logger, error_log_seconds)
        self._thread = threading.Thread(target=self._run, name="champion-watcher", daemon=True)

    def start(self) -> None:
        logger.info("Checking the champion alias every %g s", self.interval_seconds)
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join(timeout=self.interval_seconds + 30)

    def _run(self) -> None:
        while not self._stopped.wait(self.interval_seconds):
            try:
                self.predictor.reload()
            except ReloadFailedError as error:
                self._errors.error("Checking the champion alias failed: %s", error.message)
            else:
                self._errors.recovered("Checking the champion alias works again")
