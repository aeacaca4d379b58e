"""A version's metadata has the shape `model_registry.metadata` declares: what training
writes is what the readers are typed against."""

from model_registry.metadata import VersionMetadata, shape_problems


def test_a_trained_version_matches_the_declared_metadata(trained):
    registry, version, _ = trained
    metadata = registry.load(version).metadata
    assert shape_problems(metadata) == []
    assert set(metadata["landmarks"]) and metadata["progression"]


def test_an_undeclared_or_missing_key_is_reported(trained):
    registry, version, _ = trained
    metadata = dict(registry.load(version).metadata)
    metadata["surprise"] = 1
    del metadata["notice"]
    landmark = next(iter(metadata["landmarks"]))
    metadata["landmarks"] = {landmark: {**metadata["landmarks"][landmark], "extra": 2}}
    assert shape_problems(metadata) == [
        "metadata: undeclared key 'surprise'",
        "metadata: missing key 'notice'",
        f"landmarks.{landmark}: undeclared key 'extra'",
    ]
    assert "notice" in VersionMetadata.__required_keys__
