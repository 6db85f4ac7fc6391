"""slicectl's client commands against a running API (simulated switches): output,
field-path errors, exit codes."""
import json

import yaml

from slicectl.cli import main

MEDICAL = "examples/japan/medical.yaml"


def run(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_apply_get_list_delete(api, capsys):
    code, out, _ = run(capsys, "apply", "-f", MEDICAL, "--server", api.addr)
    assert code == 0 and "medical-lifeline" in out and "active" in out
    code, out, _ = run(capsys, "apply", "-f", MEDICAL, "--server", api.addr)  # again: unchanged
    assert code == 0
    code, out, _ = run(capsys, "get", "medical-lifeline", "--server", api.addr)
    assert code == 0 and "tokyo-dc" in out and "tree:" in out and "10.0.1.1" in out
    code, out, _ = run(capsys, "list", "--server", api.addr, "-o", "json")
    assert code == 0 and json.loads(out)[0]["spec"]["name"] == "medical-lifeline"
    code, out, _ = run(capsys, "topology", "--server", api.addr, "-o", "yaml")
    assert code == 0 and yaml.safe_load(out)["name"] == "japan-intercloud"
    code, out, _ = run(capsys, "delete", "medical-lifeline", "--server", api.addr)
    assert code == 0
    code, _, err = run(capsys, "delete", "medical-lifeline", "--server", api.addr)
    assert code == 3 and "no slice named" in err


def test_apply_updates_an_existing_slice(api, capsys, tmp_path):
    run(capsys, "apply", "-f", MEDICAL, "--server", api.addr)
    doc = yaml.safe_load(open(MEDICAL))
    doc["bandwidth_mbps"] = 25
    f = tmp_path / "m.yaml"
    f.write_text(yaml.safe_dump(doc))
    code, out, _ = run(capsys, "apply", "-f", str(f), "--server", api.addr, "-o", "json")
    assert code == 0 and json.loads(out)[0]["spec"]["bandwidth_mbps"] == 25


def test_apply_takes_several_files_and_sends_nothing_if_any_is_invalid(api, capsys, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\ntenant: t\nbandwidth_mbps: ___\nendpoints: []\n")
    code, _, err = run(capsys, "apply", "-f", MEDICAL, "-f", str(bad), "--server", api.addr)
    assert code == 2 and "bad.yaml" in err and "bandwidth_mbps" in err
    code, out, _ = run(capsys, "list", "--server", api.addr)
    assert "no slices" in out
    code, out, _ = run(capsys, "apply", "-f", MEDICAL, "-f", "examples/japan/business.yaml", "--server", api.addr)
    assert code == 0 and "medical-lifeline" in out and "retail-erp" in out


def test_errors_name_the_field_and_set_the_exit_code(api, capsys, tmp_path):
    f = tmp_path / "bad.yaml"
    f.write_text(yaml.safe_dump({"name": "bad", "tenant": "t", "bandwidth_mbps": 5, "endpoints": [
        {"site": "osaka-dcx", "port": 1}, {"site": "tokyo-dc", "port": 9}]}))
    code, _, err = run(capsys, "apply", "-f", str(f), "--server", api.addr)
    assert code == 2
    assert "spec.endpoints[0].site: unknown site 'osaka-dcx'" in err and "spec.endpoints[1].port" in err
    assert "Traceback" not in err
    code, _, err = run(capsys, "list", "--server", "127.0.0.1:1")
    assert code == 4 and "cannot reach the controller" in err
    code, _, err = run(capsys, "apply", "-f", str(tmp_path / "missing.yaml"), "--server", api.addr)
    assert code == 2 and "missing.yaml" in err


def test_apply_batch_creates_all_slices_of_the_files_or_none(api, capsys, tmp_path):
    huge = tmp_path / "huge.yaml"
    huge.write_text(yaml.safe_dump({"name": "huge", "tenant": "t", "bandwidth_mbps": 99, "endpoints": [
        {"site": "fukuoka-dc", "port": 2}, {"site": "seoul-dc", "port": 2}]}))
    code, _, err = run(capsys, "apply", "--batch", "-f", MEDICAL, "-f", str(huge), "--server", api.addr)
    assert code == 1 and "no slice created" in err and "slice huge" in err and "Traceback" not in err
    assert "no slices" in run(capsys, "list", "--server", api.addr)[1]
    code, out, _ = run(capsys, "apply", "--batch", "-f", MEDICAL, "-f", "examples/japan/business.yaml",
                       "--server", api.addr, "-o", "json")
    names = [s["spec"]["name"] for s in json.loads(out)]
    assert code == 0 and names[0] == "medical-lifeline" and "retail-erp" in names
    assert {s["state"] for s in json.loads(out)} == {"SLICE_STATE_ACTIVE"}
    code, out, _ = run(capsys, "apply", "--batch", "-f", MEDICAL, "--server", api.addr)   # again: unchanged
    assert code == 0 and "medical-lifeline" in out


def test_several_servers_each_call_goes_to_the_first_that_takes_it(api, capsys):
    from slicectl.launcher import free_port
    dead = f"127.0.0.1:{free_port()}"          # an instance that is gone
    code, out, _ = run(capsys, "apply", "-f", MEDICAL, "--server", dead, "--server", api.addr)
    assert code == 0 and "medical-lifeline" in out
    code, out, _ = run(capsys, "list", "--server", f"{dead},{api.addr}", "-o", "json")
    assert code == 0 and json.loads(out)[0]["spec"]["name"] == "medical-lifeline"
    code, _, err = run(capsys, "list", "--server", dead, "--server", f"127.0.0.1:{free_port()}")
    assert code == 4 and "cannot reach the controller" in err


def test_delete_with_several_names_sends_one_deletes_request_all_or_nothing(api, capsys):
    code, out, err = run(capsys, "apply", "--batch", "-f", "examples/japan/", "--server", api.addr)
    assert code == 0, err
    names = sorted(api.ctl.engine.slices)
    assert len(names) >= 3
    pushes = len(api.wire.batches)
    code, _, err = run(capsys, "delete", names[0], "nowhere", names[1], "--server", api.addr)
    assert code == 3 and "no slice named 'nowhere'" in err and sorted(api.ctl.engine.slices) == names
    code, out, _ = run(capsys, "delete", names[0], names[1], "--server", api.addr)
    assert code == 0 and out.splitlines() == [f"slice {names[0]} deleted", f"slice {names[1]} deleted"]
    assert len(api.wire.batches) == pushes + 1 and sorted(api.ctl.engine.slices) == names[2:]
    code, _, _ = run(capsys, "delete", "--batch", names[2], "--server", api.addr)   # one name, DeleteSlices
    assert code == 0 and names[2] not in api.ctl.engine.slices
