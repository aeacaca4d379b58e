"""API keys: generated once into a file only its owner can read, never printed; taken from
the environment or the keys file otherwise."""
import stat

import pytest

from serving.config import load_settings


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.delenv("RELAPSE_RISK_API_KEYS", raising=False)
    monkeypatch.delenv("RELAPSE_RISK_API_KEYS_FILE", raising=False)
    monkeypatch.setenv("RELAPSE_RISK_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def test_first_start_generates_a_key_readable_only_by_its_owner_and_never_prints_it(
        home, capsys):
    settings = load_settings()
    (key,) = settings.api_keys
    keys_file = home / "api_keys"
    assert settings.keys_file == keys_file
    assert stat.S_IMODE(keys_file.stat().st_mode) == 0o600
    assert len(key) >= 40 and key in keys_file.read_text()
    printed = capsys.readouterr()
    assert str(keys_file) in printed.out and key not in printed.out + printed.err
    # The next start reads the same key and prints nothing.
    assert load_settings().api_keys == (key,)
    assert capsys.readouterr().out == ""


def test_keys_from_the_environment_or_the_file(home, monkeypatch, tmp_path):
    keys_file = tmp_path / "keys"
    keys_file.write_text("# comment\nfirst\n\nsecond\n")
    monkeypatch.setenv("RELAPSE_RISK_API_KEYS_FILE", str(keys_file))
    assert load_settings().api_keys == ("first", "second")
    monkeypatch.setenv("RELAPSE_RISK_API_KEYS", " a, b ,")
    assert load_settings().api_keys == ("a", "b")
    assert not (home / "api_keys").exists()
