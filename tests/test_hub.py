"""The model zoo: catalog, resolve/download with sha256 checks, push_to_hub, model cards, CLI.

Everything runs offline against the *real* huggingface_hub client: either a Hub cache
built by hand on disk (HF_HUB_OFFLINE=1) or the loopback fake Hub in tests/fake_hub.py
(upload with HfApi, download with snapshot_download).  Our own functions are never mocked.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
from click.testing import CliRunner
from fake_hub import FakeHub
from huggingface_hub import ModelCard, constants
from huggingface_hub.repocard_data import model_index_to_eval_results

import zoo
from cli.main import cli, main
from keras_voidseg import hub
from keras_voidseg.model_card import render_model_card, write_model_card

ROOT = Path(__file__).resolve().parents[1]


# --------------------------------------------------------------------------- helpers
def reference_sha256(path: Path) -> str:
    """Independent of hub.sha256_file: one read, one hashlib call."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def make_pipeline_folder(path: Path, *, ap: float = 0.81, seg: float = 0.7, seed: int = 0) -> Path:
    """A small but complete pipeline folder: JSON parts, an HDF5 weights file, a model card."""
    path.mkdir(parents=True)
    parts = {
        "config": {
            hub.FORMAT_KEY: hub.PIPELINE_FORMAT_VERSION,
            "method": "stardist",
            "scheme": "sequential",
            "preset": "smoke",
            "backbone": {"depth": 1, "base_filters": 4},
            "head": {"kind": "stardist", "n_rays": 32},
            "has_denoiser": True,
        },
        "metadata": {
            "keras_version": "3.15.0",
            "keras_voidseg_version": "0.1.0",
            "backend": "tensorflow",
            "date": "2025-01-01",
            "parameter_count": 1234,
            "preset": "smoke",
            "seed": seed,
            "command": "kvs train --data synth --noise n200 --preset smoke",
            "data": {"dataset": "bbbc004", "noise": "n200", "n_train": 8},
        },
        "metrics": {"ap": ap, "seg": seg, "precision": 0.9, "baseline": {"name": "stardist-baseline", "ap": 0.6}},
        "thresholds": {"prob_thresh": 0.5, "nms_thresh": 0.4},
    }
    for name, data in parts.items():
        (path / f"{name}.json").write_text(json.dumps(data), encoding="utf-8")
    rng = np.random.default_rng(seed)
    with h5py.File(path / "segmenter.weights.h5", "w") as f:
        f.create_dataset("layers/conv/vars/0", data=rng.normal(size=(3, 3, 1, 4)).astype("float32"))
    write_model_card(path, name="bbbc004-n200/stardist-sequential")
    return path


def write_catalog(path: Path, entries: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"format": 1, "pipelines": entries}), encoding="utf-8")
    return path


def snapshot_files(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): reference_sha256(p) for p in folder.rglob("*") if p.is_file()}


@pytest.fixture
def hub_env(tmp_path, monkeypatch):
    """Private HF cache, online, and an empty private catalog ($KVS_CATALOG)."""
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf" / "hub"))
    monkeypatch.setenv("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    for name in ("HF_ENDPOINT", "HF_HUB_OFFLINE", "HF_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    catalog = write_catalog(tmp_path / "zoo" / "catalog.json", [])
    monkeypatch.setenv(zoo.CATALOG_ENV, str(catalog))
    return tmp_path


def go_offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)  # what huggingface_hub read at import


def build_cache(cache: Path, repo_id: str, commit: str, source: Path) -> Path:
    """Lay out a Hub cache by hand, as huggingface_hub does: blobs, snapshot symlinks, refs/main."""
    repo_dir = cache / f"models--{repo_id.replace('/', '--')}"
    snapshot = repo_dir / "snapshots" / commit
    for rel in hub.pipeline_files(source):
        data = (source / rel).read_bytes()
        blob = repo_dir / "blobs" / hashlib.sha1(data).hexdigest()
        blob.parent.mkdir(parents=True, exist_ok=True)
        blob.write_bytes(data)
        (snapshot / rel).parent.mkdir(parents=True, exist_ok=True)
        os.symlink(os.path.relpath(blob, (snapshot / rel).parent), snapshot / rel)
    (repo_dir / "refs").mkdir(parents=True)
    (repo_dir / "refs" / "main").write_text(commit)
    return snapshot


# --------------------------------------------------------------------------- folders & catalog
def test_pipeline_folder_checks_say_what_is_missing(tmp_path):
    good = make_pipeline_folder(tmp_path / "good")
    assert hub.is_pipeline_folder(good) and hub.check_pipeline_folder(str(good)) == good
    (tmp_path / "empty").mkdir()
    with pytest.raises(hub.NotAPipelineError, match="has no config.json"):
        hub.check_pipeline_folder(tmp_path / "empty")
    (tmp_path / "nokey").mkdir()
    (tmp_path / "nokey" / "config.json").write_text('{"method": "unet"}')
    with pytest.raises(hub.NotAPipelineError, match="keras_voidseg_pipeline"):
        hub.check_pipeline_folder(tmp_path / "nokey")
    (tmp_path / "nokey" / "config.json").write_text('{"keras_voidseg_pipeline": 99}')
    with pytest.raises(hub.NotAPipelineError, match="upgrade keras_voidseg"):
        hub.check_pipeline_folder(tmp_path / "nokey")
    assert not hub.is_pipeline_folder(tmp_path / "nokey")


def test_sha256_file_matches_hashlib_on_multi_chunk_file(tmp_path):
    path = tmp_path / "blob.bin"
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 300_001, dtype=np.uint8).tobytes())
    assert hub.sha256_file(path, chunk_size=4096) == reference_sha256(path)


def test_catalog_entry_for_folder_lists_every_file_with_its_sha256(tmp_path):
    folder = make_pipeline_folder(tmp_path / "p")
    (folder / ".cache").mkdir()
    (folder / ".cache" / "junk").write_text("not part of the pipeline")
    entry = hub.catalog_entry_for_folder(folder, "bbbc004-n200/stardist-sequential", shipped=True)
    expected = {p.name: reference_sha256(p) for p in folder.iterdir() if p.is_file()}
    assert entry["files"] == expected
    assert entry["size_bytes"] == sum((folder / name).stat().st_size for name in expected)
    assert (entry["method"], entry["scheme"], entry["dataset"], entry["noise"]) == (
        "stardist", "sequential", "bbbc004", "n200")
    assert entry["metrics"] == {"ap": 0.81, "seg": 0.7}
    assert zoo.CatalogEntry.from_dict(entry).name == "bbbc004-n200/stardist-sequential"


@pytest.mark.parametrize(
    "change, message",
    [
        ({"revision": "main"}, "40-hex"),
        ({"files": {"a.json": "xyz"}}, "64 lower-case hex"),
        ({"files": {"../a.json": "0" * 64}}, "relative"),
        ({"name": "Bad Name"}, "lower-case"),
        ({"shipped": False, "repo_id": None}, "neither shipped nor published"),
        ({"colour": "red"}, "unknown key"),
    ],
)
def test_malformed_catalog_entries_are_rejected_with_the_reason(tmp_path, change, message):
    entry = {"name": "a/b", "files": {"config.json": "0" * 64}, "shipped": True, **change}
    path = write_catalog(tmp_path / "catalog.json", [entry])
    with pytest.raises(ValueError, match=message):
        zoo.load_catalog(path)


def test_duplicate_names_are_rejected(tmp_path):
    entry = {"name": "a/b", "files": {"config.json": "0" * 64}, "shipped": True}
    with pytest.raises(ValueError, match="listed twice"):
        zoo.load_catalog(write_catalog(tmp_path / "catalog.json", [entry, entry]))


def test_the_real_catalog_is_valid_and_shipped_files_match_their_sha256(monkeypatch):
    """Passes trivially while zoo/catalog.json is empty; checks every shipped file once filled."""
    monkeypatch.delenv(zoo.CATALOG_ENV, raising=False)
    assert zoo.catalog_path() == ROOT / "zoo" / "catalog.json"
    entries = zoo.load_catalog()
    for entry in entries:
        if entry.repo_id is not None:
            assert entry.revision is not None, f"{entry.name}: a published entry must pin a commit"
        if entry.shipped:
            folder = zoo.shipped_path(entry.name)
            assert hub.is_pipeline_folder(folder), f"{entry.name}: {folder} is not a pipeline folder"
            for rel, digest in entry.files.items():
                assert reference_sha256(folder / rel) == digest, f"{entry.name}: {rel} differs from the catalog"
            assert sorted(entry.files) == hub.pipeline_files(folder), f"{entry.name}: unlisted files in {folder}"
    assert hub.list_pretrained() == sorted(e.name for e in entries)


def code_strings(path: Path) -> set[str]:
    """String literals of a Python file, docstrings excluded (help examples may name a pipeline)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
        and node.body and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant)
    }
    return {n.value for n in ast.walk(tree)
            if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in docstrings}


def test_no_pipeline_name_is_hard_coded_in_the_code(monkeypatch):
    """The catalog is the single source of names (DESIGN §7): no code literal repeats one."""
    monkeypatch.delenv(zoo.CATALOG_ENV, raising=False)
    names = [entry.name for entry in zoo.load_catalog()] + ["bbbc004-n200/stardist-sequential"]
    sources = {p: code_strings(p) for d in ("keras_voidseg", "cli", "zoo") for p in (ROOT / d).rglob("*.py")}
    for name in names:
        offenders = [str(p) for p, strings in sources.items() if any(name in text for text in strings)]
        assert not offenders, f"{name} is hard-coded in {offenders}; read it from the catalog instead"


def test_packaged_model_card_template_is_identical_to_the_top_level_master():
    packaged = ROOT / "keras_voidseg" / "templates" / "MODEL_CARD.md"
    assert packaged.read_bytes() == (ROOT / "MODEL_CARD.md").read_bytes(), (
        "run: cp MODEL_CARD.md keras_voidseg/templates/MODEL_CARD.md")


# --------------------------------------------------------------------------- model card
def test_model_card_front_matter_parses_with_huggingface_hub(tmp_path):
    folder = make_pipeline_folder(tmp_path / "p", ap=0.8123, seg=0.7012)
    text = (folder / "README.md").read_text(encoding="utf-8")
    card = ModelCard(text)  # huggingface_hub's own parser and validation
    data = card.data.to_dict()
    assert data["library_name"] == "keras"
    assert data["pipeline_tag"] == "image-segmentation"
    assert data["license"] == "bsd-3-clause"
    assert {"keras-voidseg", "noise2void", "stardist", "microscopy", "biology", "segmentation"} <= set(data["tags"])
    assert data["datasets"] == ["bbbc004"]
    model_name, results = model_index_to_eval_results(data["model-index"])
    assert model_name == "bbbc004-n200/stardist-sequential"
    values = {r.metric_type: r.metric_value for r in results}
    assert values["ap"] == pytest.approx(0.8123) and values["seg"] == pytest.approx(0.7012)
    body = card.text
    assert "kvs train --data synth --noise n200 --preset smoke" in body
    assert 'load_pretrained("bbbc004-n200/stardist-sequential")' in body
    assert "import keras_voidseg" in body and "predict_instances" in body
    for author in ("Prakash", "Krull", "Schmidt", "Weigert"):
        assert author in body
    # results table: our row and the baseline row from metrics.json
    assert re.search(r"\| bbbc004-n200/stardist-sequential \| 0\.812 \| 0\.701 \|", body)
    assert re.search(r"\| baseline \(stardist-baseline\) \| 0\.600 \| - \|", body)


def test_denoiser_card_uses_image_to_image_and_baseline_argument():
    text = render_model_card(
        {"config": {"task": "denoising"}, "metadata": {"data": {"dataset": "dsb2018", "noise": 20}},
         "metrics": {"psnr": 31.5}},
        name="dsb2018-n20/n2v",
        baseline={"name": "noisy input", "psnr": 22.0},
    )
    data = ModelCard(text).data.to_dict()
    assert data["pipeline_tag"] == "image-to-image"
    assert "denoising" in data["tags"] and "segmentation" not in data["tags"]
    assert "| dsb2018-n20/n2v | 31.500 |" in text and "| baseline (noisy input) | 22.000 |" in text
    with pytest.raises(ValueError, match="unknown part"):
        render_model_card({"weights": {}})


# --------------------------------------------------------------------------- resolving
def test_local_folder_and_non_pipeline_folder(hub_env):
    folder = make_pipeline_folder(hub_env / "p")
    assert hub.resolve_pretrained(folder) == folder
    assert hub.resolve_pretrained(str(folder)) == folder
    (hub_env / "not-a-pipeline").mkdir()
    with pytest.raises(hub.NotAPipelineError, match="no config.json"):
        hub.resolve_pretrained(hub_env / "not-a-pipeline")
    with pytest.raises(FileNotFoundError, match="no pipeline folder at"):
        hub.resolve_pretrained(str(hub_env / "missing" / "Folder"))


def test_unknown_name_suggests_close_names(hub_env):
    entries = [{"name": n, "files": {"config.json": "0" * 64}, "shipped": True}
               for n in ("bbbc004-n200/stardist-sequential", "bbbc004-n200/unet-baseline", "dsb2018-n20/unet-finetune")]
    write_catalog(Path(os.environ[zoo.CATALOG_ENV]), entries)
    with pytest.raises(ValueError) as info:
        hub.resolve_pretrained("bbbc004-n200/stardist-sequentail")
    message = str(info.value)
    assert "Did you mean: bbbc004-n200/stardist-sequential" in message and "kvs zoo list" in message
    assert "dsb2018" not in message.split("Did you mean")[1]
    assert hub.list_pretrained() == sorted(e["name"] for e in entries)


def test_shipped_pipeline_is_checksummed(hub_env):
    catalog = Path(os.environ[zoo.CATALOG_ENV])
    source = make_pipeline_folder(hub_env / "trained")
    entry = hub.add_to_catalog(source, "bbbc004-n200/stardist-sequential", ship=True)
    shipped = zoo.shipped_path(entry["name"])
    assert shipped == catalog.parent / "pipelines" / "bbbc004-n200" / "stardist-sequential"
    assert hub.resolve_pretrained("bbbc004-n200/stardist-sequential") == shipped
    assert snapshot_files(shipped) == entry["files"] == snapshot_files(source)
    with open(shipped / "thresholds.json", "a") as handle:
        handle.write(" ")
    with pytest.raises(hub.ChecksumError, match=r"sha256 mismatch for thresholds\.json.*expected .* got .*[Rr]einstall"):
        hub.resolve_pretrained("bbbc004-n200/stardist-sequential")
    (shipped / "thresholds.json").unlink()
    with pytest.raises(hub.ChecksumError, match=r"thresholds\.json is missing"):
        hub.resolve_pretrained("bbbc004-n200/stardist-sequential")


def test_prebuilt_offline_cache_by_name_and_by_uri(hub_env, monkeypatch):
    commit = "a" * 40
    source = make_pipeline_folder(hub_env / "trained")
    entry = hub.catalog_entry_for_folder(source, "bbbc004-n200/stardist-sequential", repo_id="org/voidseg", revision=commit)
    write_catalog(Path(os.environ[zoo.CATALOG_ENV]), [entry])
    snapshot = build_cache(hub_env / "hf" / "hub", "org/voidseg", commit, source)
    go_offline(monkeypatch)
    before = snapshot_files(snapshot)
    assert hub.resolve_pretrained("bbbc004-n200/stardist-sequential") == snapshot
    assert hub.resolve_pretrained("hf://org/voidseg") == snapshot  # refs/main -> commit
    assert hub.resolve_pretrained(f"hf://org/voidseg@{commit}") == snapshot
    assert snapshot_files(snapshot) == before  # the cache is only read
    # corrupt the cached blob: the catalog check names the file and the fix
    (snapshot / "segmenter.weights.h5").resolve().write_bytes(b"corrupted")
    for ref in ("bbbc004-n200/stardist-sequential", f"hf://org/voidseg@{commit}"):
        with pytest.raises(hub.ChecksumError) as info:
            hub.resolve_pretrained(ref)
        message = str(info.value)
        assert "segmenter.weights.h5" in message and entry["files"]["segmenter.weights.h5"] in message
        assert "models--org--voidseg" in message and "kvs zoo download" in message


def test_offline_with_empty_cache_says_how_to_fix(hub_env, monkeypatch):
    entry = {"name": "bbbc004-n200/unet-baseline", "files": {"config.json": "0" * 64},
             "repo_id": "org/voidseg-unet", "revision": "b" * 40}
    write_catalog(Path(os.environ[zoo.CATALOG_ENV]), [entry])
    go_offline(monkeypatch)
    for ref in ("bbbc004-n200/unet-baseline", "hf://org/other", "hf://org/other@v1"):
        with pytest.raises(hub.PretrainedNotAvailableError) as info:
            hub.resolve_pretrained(ref)
        message = str(info.value)
        assert "HF_HUB_OFFLINE is set" in message and "kvs zoo download" in message and "cache" in message
    assert main(["zoo", "download", "bbbc004-n200/unet-baseline"]) == 1


def test_hf_hub_offline_set_after_import_is_respected(hub_env, monkeypatch):
    """huggingface_hub reads HF_HUB_OFFLINE once at import; we read it at call time too."""
    source = make_pipeline_folder(hub_env / "trained")
    with FakeHub() as fake:
        hub.push_to_hub(source, "org/m", token="hf_test", endpoint=fake.endpoint)
        fake.requests.clear()
        monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # constants.HF_HUB_OFFLINE stays False
        with pytest.raises(hub.PretrainedNotAvailableError, match="HF_HUB_OFFLINE is set"):
            hub.resolve_pretrained("hf://org/m", endpoint=fake.endpoint)
        assert fake.requests == []  # not a single request went out
        monkeypatch.setenv("HF_HUB_OFFLINE", "0")
        assert hub.is_pipeline_folder(hub.resolve_pretrained("hf://org/m", endpoint=fake.endpoint))


def test_unreachable_hub_with_empty_cache(hub_env):
    with pytest.raises(hub.PretrainedNotAvailableError, match="could not be reached"):
        hub.resolve_pretrained("hf://org/x", endpoint="http://127.0.0.1:9")  # main: one unretried call


def test_bad_hf_references():
    for bad in ("hf://noslash", "hf://org/repo@", "hf://org/re po"):
        with pytest.raises(ValueError, match="not a Hub reference"):
            hub.parse_hf_uri(bad)
    assert hub.parse_hf_uri("hf://org/repo@v1.0") == ("org/repo", "v1.0")


# --------------------------------------------------------------------------- fake Hub round trip
def test_push_then_download_round_trip_through_the_real_client(hub_env):
    source = make_pipeline_folder(hub_env / "trained")
    with FakeHub() as fake:
        entry = hub.push_to_hub(source, "org/voidseg-demo", tag="v1", token="hf_test",
                                name="bbbc004-n200/stardist-sequential", endpoint=fake.endpoint)
        assert not fake.unknown, fake.unknown
        commit = entry["revision"]
        assert re.fullmatch(r"[0-9a-f]{40}", commit) and entry["repo_id"] == "org/voidseg-demo"
        assert fake.repos["org/voidseg-demo"].refs["v1"] == commit
        uploaded = fake.repos["org/voidseg-demo"].commits[commit]
        assert {p: hashlib.sha256(b).hexdigest() for p, b in uploaded.items()} == entry["files"] == snapshot_files(source)
        write_catalog(Path(os.environ[zoo.CATALOG_ENV]), [entry])

        # by name (pinned commit) and by hf:// with tag: same snapshot, sha256 verified
        folder = hub.resolve_pretrained("bbbc004-n200/stardist-sequential", endpoint=fake.endpoint)
        assert folder.name == commit and folder.is_relative_to(hub_env / "hf" / "hub")
        assert snapshot_files(folder) == entry["files"]
        assert hub.resolve_pretrained("hf://org/voidseg-demo@v1", endpoint=fake.endpoint) == folder

        # a tampered cache file is caught (and not silently re-fetched); --force repairs it
        (folder / "config.json").resolve().write_text('{"keras_voidseg_pipeline": 1, "tampered": true}')
        with pytest.raises(hub.ChecksumError, match=r"sha256 mismatch for config\.json"):
            hub.resolve_pretrained(f"hf://org/voidseg-demo@{commit}", endpoint=fake.endpoint)
        repaired = hub.download("bbbc004-n200/stardist-sequential", endpoint=fake.endpoint, force_download=True)
        assert snapshot_files(repaired) == entry["files"]

        # a second push of a changed folder makes a new commit; the old pin still resolves the old files
        with open(source / "metrics.json", "w") as handle:
            json.dump({"ap": 0.9, "seg": 0.8}, handle)
        entry2 = hub.push_to_hub(source, "org/voidseg-demo", token="hf_test", endpoint=fake.endpoint)
        assert entry2["revision"] != commit and entry2["metrics"] == {"ap": 0.9, "seg": 0.8}
        assert snapshot_files(hub.resolve_pretrained("bbbc004-n200/stardist-sequential",
                                                     endpoint=fake.endpoint)) == entry["files"]
        # a revision other than the pin: the catalog's sums do not apply, which we say
        with pytest.warns(UserWarning, match="only the folder layout was checked"):
            latest = hub.resolve_pretrained("bbbc004-n200/stardist-sequential", revision="main",
                                            endpoint=fake.endpoint)
        assert latest.name == entry2["revision"]
        with pytest.raises(ValueError, match="revision 'nope' does not exist"):
            hub.resolve_pretrained("hf://org/voidseg-demo@nope", endpoint=fake.endpoint)
        with pytest.raises(ValueError, match="not found"):
            hub.resolve_pretrained("hf://org/missing", endpoint=fake.endpoint)
        assert not fake.unknown, fake.unknown


def test_push_to_a_branch_writes_a_missing_model_card(hub_env):
    source = make_pipeline_folder(hub_env / "trained")
    (source / "README.md").unlink()
    with FakeHub() as fake:
        entry = hub.push_to_hub(source, "org/m", revision="experiments", token="hf_test", endpoint=fake.endpoint)
        repo = fake.repos["org/m"]
        assert repo.refs["experiments"] == entry["revision"] != repo.refs["main"]
        assert "README.md" in entry["files"] and ModelCard((source / "README.md").read_text()).data.library_name == "keras"
        with pytest.raises(hub.NotAPipelineError):
            hub.push_to_hub(hub_env, "org/m", token="hf_test", endpoint=fake.endpoint)


def test_a_hub_repo_that_is_not_a_pipeline_is_refused(hub_env):
    plain = hub_env / "plain"
    plain.mkdir()
    (plain / "notes.txt").write_text("hello")
    with FakeHub() as fake:
        from huggingface_hub import HfApi

        api = HfApi(endpoint=fake.endpoint, token="hf_test")
        api.create_repo("org/plain")
        api.upload_folder(repo_id="org/plain", folder_path=plain)
        with pytest.raises(hub.NotAPipelineError, match="no config.json"):
            hub.resolve_pretrained("hf://org/plain", endpoint=fake.endpoint)


# --------------------------------------------------------------------------- CLI
def test_kvs_zoo_list_info_download_and_push(hub_env, monkeypatch):
    source = make_pipeline_folder(hub_env / "trained")
    runner = CliRunner()
    result = runner.invoke(cli, ["zoo", "list"])
    assert result.exit_code == 0 and "catalog is empty" in result.output

    with FakeHub() as fake:
        monkeypatch.setenv("HF_ENDPOINT", fake.endpoint)
        result = runner.invoke(cli, ["push", str(source), "org/cli-demo", "--tag", "v1", "--token", "hf_test",
                                     "--name", "bbbc004-n200/stardist-sequential"])
        assert result.exit_code == 0, result.output
        pushed = json.loads(result.output)
        assert pushed["revision"] == fake.repos["org/cli-demo"].refs["v1"]
        result = runner.invoke(cli, ["zoo", "add", str(source), "bbbc004-n200/stardist-sequential",
                                     "--repo-id", "org/cli-demo", "--revision", pushed["revision"]])
        assert result.exit_code == 0, result.output

        result = runner.invoke(cli, ["zoo", "list"])
        assert result.exit_code == 0, result.output
        lines = result.output.splitlines()
        assert lines[0].split() == ["name", "method", "scheme", "data", "noise", "AP", "SEG", "size", "source"]
        size = sum(p.stat().st_size for p in source.iterdir())
        assert lines[2].split()[:7] == ["bbbc004-n200/stardist-sequential", "stardist", "sequential", "bbbc004",
                                        "n200", "0.810", "0.700"]
        assert f"{size / 1000:.1f} kB" in lines[2] and "hf:org/cli-demo" in lines[2]

        result = runner.invoke(cli, ["zoo", "download", "bbbc004-n200/stardist-sequential"])
        assert result.exit_code == 0, result.output
        assert pushed["revision"] in result.output
        result = runner.invoke(cli, ["zoo", "info", "bbbc004-n200/stardist-sequential"])
        assert result.exit_code == 0 and "library_name: keras" in result.output and "## Citation" in result.output


def test_cli_errors_are_one_line(hub_env, capsys):
    assert main(["zoo", "info", "bbbc004-n200/stardist"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("Error: ") and "kvs zoo list" in err and "\n" not in err
    assert main(["push", str(hub_env), "org/x", "--token", "t"]) == 1
    assert "not a keras_voidseg pipeline folder" in capsys.readouterr().err
    assert main(["zoo", "--help"]) == 0 and "kvs zoo download" in capsys.readouterr().out


def test_zoo_cli_does_not_import_a_deep_learning_framework():
    code = ("import sys; from cli.main import main; rc = main(['zoo', 'list']);"
            "bad = [m for m in ('tensorflow', 'torch', 'keras') if m in sys.modules]; sys.exit(10 if bad else rc)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr


# --------------------------------------------------------------------------- load_pretrained
@pytest.mark.keras
def test_load_pretrained_returns_a_pipeline(hub_env):
    from keras_voidseg.pipeline import Pipeline
    from keras_voidseg import load_pretrained
    from keras_voidseg.config import PipelineConfig, get_preset

    preset = get_preset("smoke")
    config = PipelineConfig(method="unet", scheme="baseline", backbone=preset.backbone, train=preset.train,
                            preset="smoke")
    # an untrained pipeline rebuilt from a config
    pipe = Pipeline.build(config)
    pipe.save_pretrained(hub_env / "saved")
    assert hub.is_pipeline_folder(hub_env / "saved")
    loaded = load_pretrained(str(hub_env / "saved"))
    assert isinstance(loaded, Pipeline)
    with FakeHub() as fake:
        entry = hub.push_to_hub(hub_env / "saved", "org/smoke", token="hf_test", endpoint=fake.endpoint)
        write_catalog(Path(os.environ[zoo.CATALOG_ENV]), [{**entry, "name": "smoke/unet-baseline"}])
        assert isinstance(load_pretrained("smoke/unet-baseline", endpoint=fake.endpoint), Pipeline)
