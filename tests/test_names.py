"""Names that say one thing, and the old names users have in scripts still work (issue 17)."""

import dataclasses

import pytest

from btlstm.forecast.walkforward import WalkForward, WalkForwardConfig
from btlstm.settings import Settings


def test_the_predictor_is_named_for_what_it_is_and_lstm_predictor_is_the_same_class():
    from btlstm.bt import indicators

    assert indicators.LSTMPredictor is indicators.WalkForwardPredictor
    assert {"LSTMPredictor", "WalkForwardPredictor"} <= set(indicators.__all__)
    assert issubclass(indicators.LSTMPred, indicators.WalkForwardPredictor)  # Backtrader alias


def test_learner_settings_have_their_own_name_and_model_still_works():
    new = WalkForwardConfig(learner="ridge", learner_settings={"alpha": 2.0})
    old = WalkForwardConfig(learner="ridge", model={"alpha": 2.0})
    assert (
        new == old and old.learner_settings == {"alpha": 2.0} and old.model is old.learner_settings
    )
    assert WalkForwardConfig.from_dict({"learner": "ridge", "model": {"alpha": 2.0}}) == new
    assert "learner_settings" in {f.name for f in dataclasses.fields(WalkForwardConfig)}
    assert "model" not in {f.name for f in dataclasses.fields(WalkForwardConfig)}
    assert dataclasses.replace(old, seed=3).learner_settings == {"alpha": 2.0}
    with pytest.raises(TypeError, match="not both"):
        WalkForwardConfig(model={"alpha": 1.0}, learner_settings={"alpha": 1.0})
    with pytest.raises(ValueError, match="did you mean 'alpha'"):
        WalkForwardConfig(learner="ridge", model={"alpah": 1.0})
    # the engine reads the renamed field: alpha reaches the learner
    assert WalkForward(old).learner.settings.alpha == 2.0


def test_toml_keys_users_write_still_fill_the_learner_settings(tmp_path):
    toml = tmp_path / "run.toml"
    toml.write_text("[model]\nlstm_units = 8\nlookback = 20\n[model.model]\ndropout = 0.1\n")
    s = Settings.from_toml(toml)
    assert s.model.lookback == 20
    assert s.model.learner_settings == {"lstm_units": 8, "dropout": 0.1}
    assert s.to_dict()["model"]["lstm_units"] == 8  # the TOML layout: learner keys in [model]
    assert Settings.from_dict(s.to_dict()) == s


def test_one_settings_suffix_and_one_fit_record():
    from btlstm.forecast.xswalkforward import RankerFit
    from btlstm.learners import FitRecord, FitResult, RankerConfig, RankerSettings, settings_class

    assert RankerConfig is RankerSettings is settings_class("ranker")
    assert FitResult is FitRecord and RankerFit is FitRecord
    assert all(settings_class(n).__name__.endswith("Settings") for n in ("lstm", "ridge", "ranker"))


def test_regularizers_are_public_and_models_re_exports_them():
    import btlstm.learners.models as models
    import btlstm.learners.regularizers as regularizers

    for name in regularizers.__all__:
        assert getattr(models, name) is getattr(regularizers, name), name

    def l1(w):
        return 0.0

    try:
        assert models.register_regularizer_fn(l1, name="names_test>l1") is l1
        assert regularizers.registered_regularizer_fns()["names_test>l1"] is l1
    finally:  # the allow-list is process-wide: leave it as it was
        regularizers._ALLOWED_FNS.pop("names_test>l1", None)
