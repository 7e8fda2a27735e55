"""Start the predictor of one service worker: the champion, its features and the alias watcher."""

from __future__ import annotations

from retention.settings import Settings
from serving.predictor import RetentionPredictor
from serving.reload import ChampionWatcher


def start_predictor(settings: Settings) -> tuple[RetentionPredictor, ChampionWatcher | None]:
    """Load the champion and start following its alias, unless [serving] champion_poll_seconds is 0."""
    predictor = RetentionPredictor(settings)
    watcher = None
    if settings.serving.champion_poll_seconds > 0:
        watcher = ChampionWatcher(
            predictor, settings.serving.champion_poll_seconds, settings.serving.store_error_log_seconds
        )
        watcher.start()
    return predictor, watcher
