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


def test_first_start_generates_a_key_readable_only_by_its_owner_and_never_prints_it(home, capsys):
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


def test_a_keys_file_with_only_comments_is_a_clear_start_up_error(home, monkeypatch, tmp_path):
    from typer.testing import CliRunner

    from relapse_risk.cli import app
    from serving.config import ConfigError

    keys_file = tmp_path / "keys"
    keys_file.write_text("# relapse-risk API keys, one per line\n\n# none yet\n")
    monkeypatch.setenv("RELAPSE_RISK_API_KEYS_FILE", str(keys_file))
    with pytest.raises(ConfigError, match="holds no key"):
        load_settings()
    assert keys_file.read_text().count("#") == 2  # not replaced, not appended to
    result = CliRunner().invoke(app, ["serve", "--registry", str(tmp_path / "reg")])
    assert result.exit_code == 2 and "holds no key" in result.output
    assert result.output.count("\n") == 1


def test_a_readable_keys_file_and_a_short_key_are_warned_about(home, monkeypatch, tmp_path):
    from serving.config import KeyWarning

    keys_file = tmp_path / "keys"
    keys_file.write_text("a-long-enough-key-0123456789abcdef\n")
    keys_file.chmod(0o644)
    monkeypatch.setenv("RELAPSE_RISK_API_KEYS_FILE", str(keys_file))
    with pytest.warns(KeyWarning, match="readable by other users .mode 0644.*chmod 600"):
        load_settings()
    keys_file.chmod(0o600)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_settings()  # private and long: no warning
    keys_file.write_text("8charkey\n")
    with pytest.warns(KeyWarning, match="1 API key.* shorter than 16 characters"):
        load_settings()
    monkeypatch.setenv("RELAPSE_RISK_API_KEYS", "short")
    with pytest.warns(KeyWarning, match="RELAPSE_RISK_API_KEYS shorter than 16"):
        load_settings()
