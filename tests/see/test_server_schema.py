"""The OpenAPI schema matches every answer: schemathesis (all checks, fixed seed) against the live app of
a tiny digits run and a tiny language-model run. Before issue 21: 422s sent a string where the schema
promised a list, 404 and 422 went undocumented, the streams were documented as JSON.

No finding is allowed. The ``image`` field's custom format ``picture-base64`` (a picture of a digit, which
no JSON Schema keyword can say) is made by ``schemathesis_hooks.py``, so the positive phase sends pictures
a person could send; before, such a string was any base64 and ``positive_data_acceptance`` (ST202) found
422s. ``benchmarks/schemathesis_serve.py`` runs the same at 20,000+ requests."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from neuroplast.see.server import create_app

HOOKS = Path(__file__).resolve().parent  # schemathesis_hooks.py: the picture-base64 format


def hooked_env() -> dict[str, str]:
    """The environment for ``st run`` that loads :mod:`schemathesis_hooks`."""
    path = os.pathsep.join(p for p in (str(HOOKS), os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, "SCHEMATHESIS_HOOKS": "schemathesis_hooks", "PYTHONPATH": path}


def schemathesis(url: str, examples: int, cwd: Path, seed: int = 1) -> tuple[int, set[tuple[str, str]], str]:
    """Run ``st run`` (all checks) against ``url`` in ``cwd`` (where it keeps its cache of failures, which it
    would replay first): (test cases generated, {(operation, failure code)}, the output)."""
    st = Path(sys.executable).parent / "st"
    out = subprocess.run([str(st), "run", f"{url}/openapi.json", "--checks", "all", "--seed", str(seed),
                          "-n", str(examples), "--no-color", "--warnings", "off", "--request-timeout", "60"],
                         capture_output=True, text=True, timeout=600, cwd=cwd, env=hooked_env()).stdout
    found, operation = set(), None
    for line in out.splitlines():
        if m := re.match(r"^_+ (GET|POST|PUT|DELETE|PATCH|HEAD|OPTIONS) (\S+) _+$", line):
            operation = f"{m[1]} {m[2]}"
        elif m := re.match(r"^- (ST\d+) ", line):
            found.add((operation, m[1]))
    generated = re.search(r"(\d+) generated", out)
    return (int(generated[1]) if generated else 0), found, out


@pytest.mark.parametrize("run", ["tiny_digits_run", "tiny_lm_run"])
def test_schemathesis_finds_no_server_error_and_no_mismatch(run: str, request, live_server, tmp_path) -> None:
    s = live_server(create_app(request.getfixturevalue(run)))
    generated, found, out = schemathesis(s.url, examples=25, cwd=tmp_path)
    assert generated >= 100, out[-3000:]
    assert not found, out[-6000:]


def test_the_schema_documents_every_answer(tiny_digits_run, tiny_lm_run) -> None:
    """By hand: one error model (``detail`` a string), 400/401 on every route, the streams' media type,
    enums and bounds from the run."""
    from starlette.testclient import TestClient

    digits = TestClient(create_app(tiny_digits_run), base_url="http://127.0.0.1").get("/openapi.json").json()
    lm = TestClient(create_app(tiny_lm_run), base_url="http://127.0.0.1").get("/openapi.json").json()
    for schema in (digits, lm):
        for path, ops in schema["paths"].items():
            for op in ops.values():
                assert {"400", "401"} <= set(op["responses"]), path
                for code, answer in op["responses"].items():
                    if code.startswith("4"):
                        assert answer["content"]["application/json"]["schema"]["properties"]["detail"]["type"] == "string"
    assert "/api/generate" not in digits["paths"] and "/api/predict" not in lm["paths"]  # each serves one
    assert list(lm["paths"]["/api/generate"]["get"]["responses"]["200"]["content"]) == ["text/event-stream"]
    assert list(digits["paths"]["/api/train/events"]["get"]["responses"]["200"]["content"]) == ["text/event-stream"]
    pixels = digits["paths"]["/api/predict"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    grid = pixels["oneOf"][1]["properties"]["pixels"]
    assert (grid["minItems"], grid["items"]["minItems"], grid["items"]["items"]["maximum"]) == (8, 8, 1)
    params = {p["name"]: p["schema"] for p in lm["paths"]["/api/generate"]["get"]["parameters"]}
    assert params["tokens"]["maximum"] == 1000 and params["seed"]["minimum"] == 0
    assert re.fullmatch(params["prompt"]["pattern"], "ROMEO:\nHi!") and not re.fullmatch(params["prompt"]["pattern"], "é")
    names = digits["paths"]["/api/strings/{name}"]["get"]["parameters"][0]["schema"]["enum"]
    assert names == ["en", "zh-Hant"]
    # the vector space: the stored stages as an enum, 404 for a run without a space, the same body as predict
    stages = digits["paths"]["/api/space"]["get"]["parameters"][0]["schema"]["enum"]
    assert stages[0] == "input" and stages[-1] == "output" and len(stages) >= 3
    embed = digits["paths"]["/api/embed"]["post"]
    assert {"404", "413", "422"} <= set(embed["responses"])
    options = embed["requestBody"]["content"]["application/json"]["schema"]["oneOf"]
    assert [sorted(o["properties"]) for o in options] == [["image", "layer"], ["layer", "pixels"]]
    assert options[0]["properties"]["layer"]["anyOf"][0]["enum"] == stages
    text = lm["paths"]["/api/embed"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert text["properties"]["text"]["pattern"] == params["prompt"]["pattern"]
