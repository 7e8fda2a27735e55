import dagster as dg

from orchestration.definitions import defs

EXPECTED_ASSETS = {
    "raw_events",
    "validated_events",
    "user_attributes",
    "user_profile_features",
    "feast_feature_store",
    "training_set",
    "retention_models",
    "feature_drift_report",
    "weekly_predictions",
    "weekly_drift_report",
    "weekly_performance_report",
    "retrained_model",
    "retraining_decision",
}


def test_definitions_load_every_asset():
    graph = defs.resolve_asset_graph()
    names = {key.to_user_string() for key in graph.get_all_asset_keys()}
    assert names == EXPECTED_ASSETS


def test_blocking_checks_guard_publication():
    graph = defs.resolve_asset_graph()
    checks = {key.name: key for key in graph.asset_check_keys}
    assert checks["quarantine_share_within_limit"].asset_key == dg.AssetKey("validated_events")
    assert checks["features_pass_expectations"].asset_key == dg.AssetKey("user_profile_features")
    for key in checks.values():
        assert graph.get_check_spec(key).blocking


def test_feast_publication_follows_features():
    graph = defs.resolve_asset_graph()
    parents = graph.get(dg.AssetKey("feast_feature_store")).parent_keys
    assert parents == {dg.AssetKey("user_profile_features")}


def test_pipeline_job_is_defined():
    assert defs.resolve_job_def("retention_pipeline").name == "retention_pipeline"
