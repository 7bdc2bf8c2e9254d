import datetime

import pytest

from kerasformers.text import demo_data


def test_date_pairs_are_deterministic_and_correct():
    pairs = demo_data.date_pairs(300, seed=3)
    assert pairs.sources == demo_data.date_pairs(300, seed=3).sources
    assert pairs.sources != demo_data.date_pairs(300, seed=4).sources
    for source, target in zip(pairs.sources, pairs.targets):
        date = datetime.date.fromisoformat(target)  # every target is an ISO date
        assert source in {demo_data.format_date(date, s) for s in range(len(demo_data.DATE_STYLES))}
    assert len({demo_data.DATE_STYLES.index(s) for s in demo_data.DATE_STYLES}) == 7


@pytest.mark.parametrize(
    "style, expected",
    [(0, "March 3rd, 2021"), (1, "3 March 2021"), (2, "Mar 3, 2021"), (3, "the 3rd of March, 2021"),
     (4, "03.03.2021"), (5, "Wed, 3 Mar 2021"), (6, "march 3 2021")],
)
def test_date_styles(style, expected):
    assert demo_data.format_date(datetime.date(2021, 3, 3), style) == expected


def test_ordinals():
    assert [demo_data._ordinal(d) for d in (1, 2, 3, 4, 11, 12, 13, 21, 22, 23, 31)] == [
        "1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "22nd", "23rd", "31st"]


def test_sentiment_labels_follow_negation():
    data = demo_data.sentiment_texts(400, seed=0)
    assert data.class_names == ["negative", "positive"]
    assert set(data.labels) == {0, 1}
    for sentence, label in zip(data.texts, data.labels):
        first = sentence.split(",")[0].split()
        negated = "not" in first
        adjective = first[-1]
        positive_word = adjective in demo_data._POSITIVE
        assert positive_word != negated if label == 1 else positive_word == negated


def test_play_text_layout():
    play = demo_data.play_text(2000, seed=1)
    assert len(play) >= 2000 and play == demo_data.play_text(2000, seed=1)
    for block in play.strip().split("\n\n"):
        speaker, *lines = block.split("\n")
        assert speaker.endswith(":") and speaker[:-1] in demo_data._SPEAKERS
        assert 1 <= len(lines) <= 2
