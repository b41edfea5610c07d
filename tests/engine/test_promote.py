"""``python -m lossparity promote``: the only way a saved counterexample becomes a case."""
from __future__ import annotations

import cases
from lossparity.__main__ import main

SAVED = '''schema = "lossparity.cases/1"

[[case]]
id = "fuzz.faulty.mean_squared_error.0123456789ab"
kind = "fuzz"
loss = "mean_squared_error"
dtype = "float32"
notes = "saved by a run"
[case.inputs]
y_true = [[0.0, 1.0]]
y_pred = [[0.5, 0.25]]
'''


def test_promote_copies_once_and_validates(tmp_path, capsys):
    source = tmp_path / "faulty-mean_squared_error.toml"
    source.write_text(SAVED, encoding="utf-8")
    target = tmp_path / "cases"
    assert main(["promote", str(source), "--to", str(target)]) == 0
    assert main(["promote", str(source), "--to", str(target)]) == 0  # the second time adds nothing
    promoted = cases.load_file(target / source.name)
    assert [c.id for c in promoted] == ["fuzz.faulty.mean_squared_error.0123456789ab"]
    assert "0 case(s) added" in capsys.readouterr().out


def test_promote_refuses_a_malformed_file(tmp_path, capsys):
    source = tmp_path / "bad.toml"
    source.write_text(SAVED.replace('loss = "mean_squared_error"', 'loss = "nonesuch"'), encoding="utf-8")
    assert main(["promote", str(source), "--to", str(tmp_path / "cases")]) == 2
    assert "nonesuch" in capsys.readouterr().err
    assert not (tmp_path / "cases").exists()
