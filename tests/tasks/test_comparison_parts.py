import pytest

from kerasformers.tasks import lstm_transformer as comparison


@pytest.mark.parametrize("target, vocabulary, dim", [(417_794, 98, 128), (1_500_000, 8000, 128), (60_000, 500, 32)])
def test_lstm_width_matches_the_parameter_count(target, vocabulary, dim):
    units = comparison.matching_units(target, vocabulary, dim, 2)
    model = comparison.lstm_classifier(vocabulary, dim, units, 2)
    assert model.count_params() == comparison.lstm_parameters(vocabulary, dim, units, 2)
    assert abs(model.count_params() / target - 1) < 0.10


def _result(accuracy, tokens, seconds):
    return {"accuracy": accuracy, "tokens_per_second": tokens, "seconds_to_target": seconds}


def test_verdict_follows_the_numbers():
    tie = comparison.verdict(_result(0.80, 3000, 10.0), _result(0.79, 1000, 30.0), validation_size=872)
    assert "about the same best validation accuracy" in tie
    assert "the Transformer trained on 3.0x as many tokens per second" in tie
    assert "the Transformer reached the lower of the two best accuracies first (10.0 s" in tie

    lstm_wins = comparison.verdict(_result(0.70, 1000, None), _result(0.85, 1050, 12.0), validation_size=5000)
    assert "the LSTM was more accurate (0.850 against 0.700 for the Transformer)" in lstm_wins
    assert "about as many tokens per second" in lstm_wins and "first" not in lstm_wins


def test_noise_margin_shrinks_with_more_examples():
    assert comparison.noise_margin(0.8, 100) > comparison.noise_margin(0.8, 10_000) > 0
