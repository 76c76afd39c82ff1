"""The model registry and what it adds to every answer a model computed."""

from pumpapi import models


def test_every_prediction_names_the_version_that_answered(all_families_app):
    """SPEC: X-Model-Version on every prediction, whatever the family, route or protocol."""
    client = all_families_app.test_client()
    registry = models.registry(all_families_app)
    reading = {"rotacao_motor_rpm": 1800, "pressao_oleo_bar": 4.5, "tensao_bateria_v": 24.1,
               "tensao_alternador_v": 27.8}  # fmt: skip
    window = {"Eng_RPM": 1800, "Cool_T": 82, "Oil_P": 4.5, "Oil_L": 78, "Recalque": 6.0,
              "Succao": 1.1, "Bat_V": 24.6, "Char_V": 27.8}  # fmt: skip
    series = {"data": [4.0 + i / 100 for i in range(60)]}
    for family, path, body in (
        ("xgboost", "/model/xgboost/predict", reading),
        ("xgboost", "/model/xgboost/predict", {"instances": [reading, reading]}),
        ("gru", "/model/gru/predict", window),
        ("lstm", "/model/lstm/predict", series),
        ("lstm", "/predict", series),
    ):
        answer = client.post(path, json=body)
        assert answer.status_code == 200, answer.get_json()
        assert answer.headers["X-Model-Version"] == registry.get(family).version.version
    # Answers no model computed carry none.
    assert "X-Model-Version" not in client.get("/health").headers
    refused = client.post("/model/xgboost/predict", json={**reading, "pressao_oleo_bar": 99})
    assert refused.status_code == 422 and "X-Model-Version" not in refused.headers
