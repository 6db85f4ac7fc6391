"""kubectl's conventions in slicectl (issue 29): client options before or after the
subcommand, `apply -f` with files, directories and several paths, `-o wide|json|yaml`
on every read command, `wan up --topology`, and `make report` without the benchmarks."""
from __future__ import annotations

import json
import shutil

import pytest
import yaml

from slicectl.cli import build_parser, main

MEDICAL = "examples/japan/medical.yaml"


def run(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.parametrize("argv", [
    ["--server", "a:1", "--server", "b:2", "-o", "json", "list"],
    ["list", "--server", "a:1", "--server", "b:2", "-o", "json"],
    ["--server", "a:1", "list", "--server", "b:2", "-o", "json"],      # after the subcommand wins
])
def test_client_options_go_before_or_after_the_subcommand(argv):
    args = build_parser().parse_args(argv)
    assert args.output == "json" and args.server[-1] == "b:2"
    assert build_parser().parse_args(["--ca", "ca.pem", "--token-file", "t", "get", "x"]).ca == "ca.pem"
    assert build_parser().parse_args(["get", "x"]).output == "table"


def test_the_ha_sections_commands_parse():
    args = build_parser().parse_args(["--server", "127.0.0.1:50050", "--server", "127.0.0.1:50051", "apply", "-f",
                                      MEDICAL])
    assert args.server == ["127.0.0.1:50050", "127.0.0.1:50051"] and args.file == [MEDICAL]
    from slicectl.commands.wan import wan_topology
    from topologies.errors import TopologyError
    for argv in (["wan", "up", "--topology", "japan-intercloud", "--controller", "127.0.0.1:6650"],
                 ["wan", "up", "japan-intercloud", "--controller", "127.0.0.1:6650"]):
        assert wan_topology(build_parser().parse_args(argv)) == "japan-intercloud"
    with pytest.raises(TopologyError, match="give one topology"):
        wan_topology(build_parser().parse_args(["wan", "up", "two-clouds", "--topology", "japan-intercloud"]))
    with pytest.raises(TopologyError, match="give one topology"):
        wan_topology(build_parser().parse_args(["wan", "check"]))


def test_apply_takes_directories_globs_and_several_paths(api, capsys, tmp_path):
    d = tmp_path / "specs"
    d.mkdir()
    shutil.copy(MEDICAL, d / "medical.yaml")
    shutil.copy("examples/japan/business.yaml", d / "business.yml")
    (d / "notes.txt").write_text("not a spec")
    code, out, err = run(capsys, "apply", "-f", str(d), "--server", api.addr)
    assert code == 0 and "medical-lifeline" in out and "retail-erp" in out, err
    # a shell glob: several paths after one -f; and -f again
    code, out, err = run(capsys, "apply", "-f", "examples/japan/government.yaml", "examples/japan/best-effort.yaml",
                         "-f", str(d), "--server", api.addr)
    assert code == 0 and len(out.splitlines()) == 5, err
    empty = tmp_path / "empty"
    empty.mkdir()
    code, _, err = run(capsys, "apply", "-f", str(empty), "--server", api.addr)
    assert code == 2 and f"{empty}: a directory with no *.yaml or *.yml file" in err
    code, out, err = run(capsys, "spec", "check", str(d), "--topology", "japan-intercloud")
    assert code == 0 and "2 valid" in err


def test_every_read_command_prints_wide_json_and_yaml(api, capsys):
    assert run(capsys, "apply", "-f", MEDICAL, "--server", api.addr)[0] == 0
    code, out, _ = run(capsys, "-o", "wide", "list", "--server", api.addr)
    head = out.splitlines()[0]
    assert code == 0 and "PREFIX" in head and "PROTECTION" in head and "tokyo-dc:1=10.0.1.1" in out
    code, out, _ = run(capsys, "get", "medical-lifeline", "-o", "wide", "--server", api.addr)
    assert code == 0 and "ENDPOINTS" in out and "tree:" in out
    code, out, _ = run(capsys, "topology", "-o", "wide", "--server", api.addr)
    assert code == 0 and "LAT" in out and "USED %" in out
    code, out, _ = run(capsys, "get", "medical-lifeline", "-o", "yaml", "--server", api.addr)
    assert code == 0 and yaml.safe_load(out)["spec"]["name"] == "medical-lifeline"
    code, out, _ = run(capsys, "-o", "yaml", "topology", "show", "two-clouds")
    assert code == 0 and yaml.safe_load(out)["name"] == "two-clouds"
    code, out, _ = run(capsys, "topology", "show", "two-clouds", "--json")
    assert code == 0 and json.loads(out)["name"] == "two-clouds"


def test_help_documents_the_exit_codes(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert "exit codes: 0 ok; 1 refused" in out and "4 the controller cannot be" in out


def test_make_report_right_after_the_demo_leaves_the_missing_benchmarks_out(tmp_path, capsys):
    from tests.test_htmlreport import record
    run_file = tmp_path / "demo-run.json"
    run_file.write_text(json.dumps(record()))
    code, out, err = run(capsys, "report", "--run", str(run_file), "--ttc", str(tmp_path / "ttc-japan.json"),
                         "--failover", str(tmp_path / "failover-japan.json"), "--out", str(tmp_path / "report.html"))
    assert code == 0 and (tmp_path / "report.html").exists(), err
    assert "ttc-japan.json: not there, so the page leaves that benchmark out (`sudo make bench-ttc`" in err
    assert "failover-japan.json: not there" in err and "sudo make bench-failover" in err


def test_a_spec_without_tenant_is_checked_as_the_callers(capsys):
    code, out, err = run(capsys, "spec", "check", "examples/tenants/web-shop.yaml", "--topology", "japan-intercloud")
    assert code == 0 and "web-shop: ok" in out and "tenant: the caller's" in out, err
