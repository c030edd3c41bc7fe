"""Every spec error names file:line:col and says what was expected; nothing is built."""

from __future__ import annotations

import pytest
from engine_kinds import ENV

from imagineer_build.core.project import Project
from imagineer_build.core.registry import load_kinds
from imagineer_build.core.spec import SpecErrors


@pytest.fixture(autouse=True)
def fake_kinds(monkeypatch):
    monkeypatch.setenv("IMAGINEER_KINDS", ENV["IMAGINEER_KINDS"])
    load_kinds.cache_clear()
    yield
    load_kinds.cache_clear()


def errors(project) -> list[str]:
    with pytest.raises(SpecErrors) as e:
        Project.load(project.root)
    return [str(x) for x in e.value.errors]


def only_error(project) -> str:
    errs = errors(project)
    assert len(errs) == 1, errs
    return errs[0]


def test_unknown_key_suggests_the_right_one(project, shapes):
    project.spec("""
        sources:
          photos:
            dir: data/shapes
            filtr: {min_size: [1, 1]}
    """)
    msg = only_error(project)
    assert msg.startswith("specs/main.yaml:4:5: unknown key 'filtr' (did you mean 'filter'?)")
    assert "expected one of:" in msg and "dedup" in msg


def test_unknown_nested_key_points_at_the_key(project, shapes):
    project.spec("""
        sources:
          photos:
            dir: data/shapes
            filter:
              min_sise: [1, 1]
    """)
    assert only_error(project).startswith(
        "specs/main.yaml:5:7: unknown key 'min_sise' (did you mean 'min_size'?)")


def test_wrong_type_points_at_the_value(project, shapes):
    project.spec("""
        sources:
          photos:
            dir: data/shapes
            filter: {max_aspect: wide}
    """)
    msg = only_error(project)
    assert msg.startswith("specs/main.yaml:4:26: filter.max_aspect:")
    assert "number" in msg and "'wide'" in msg


def test_missing_required_field(project):
    project.spec("""
        fakes:
          ok: {output: x}
        strictfakes:
          needy:
            uses: [ok]
    """)
    msg = only_error(project)
    assert msg.startswith("specs/main.yaml:5:5: missing required field 'value'")


def test_unknown_target_reference_points_at_the_reference(project):
    project.spec("""
        fakes:
          base: {output: x}
          top:
            uses: [base, bsae]
    """)
    assert only_error(project) == "specs/main.yaml:4:18: unknown target 'bsae' (did you mean 'base'?)"


def test_duplicate_names_across_files_name_both_places(project):
    project.spec("""
        fakes:
          shared: {output: a}
    """, name="a.yaml")
    project.spec("""
        fakes:
          other: {output: b}
        strictfakes:
          shared: {value: 1}
    """, name="b.yaml")
    errs = errors(project)
    assert len(errs) == 2
    assert errs[0].startswith("specs/a.yaml:2:3: duplicate target name 'shared'")
    assert "also declared at specs/b.yaml:4:3" in errs[0]
    assert errs[1].startswith("specs/b.yaml:4:3: duplicate target name 'shared'")
    assert "also declared at specs/a.yaml:2:3" in errs[1]


def test_duplicate_key_in_one_file(project):
    project.spec("""
        fakes:
          twice: {output: a}
          twice: {output: b}
    """)
    msg = only_error(project)
    assert msg.startswith("specs/main.yaml:3:3: duplicate key 'twice'")
    assert "first defined at specs/main.yaml:2:3" in msg


def test_cycle_is_reported_whole_and_in_order(project):
    project.spec("""
        fakes:
          free: {output: x}
          b: {uses: [a]}
          c: {uses: [b, free]}
          a: {uses: [c]}
    """)
    msg = only_error(project)
    lines = msg.splitlines()
    assert lines[0] == "specs/main.yaml:5:3: dependency cycle: a → b → c → a"
    assert lines[1:] == [
        "  specs/main.yaml:3:14: b uses a",
        "  specs/main.yaml:4:14: c uses b",
        "  specs/main.yaml:5:14: a uses c",
    ]


def test_self_reference_is_a_cycle(project):
    project.spec("""
        fakes:
          me: {uses: [me]}
    """)
    assert only_error(project).startswith("specs/main.yaml:2:3: dependency cycle: me → me")


def test_malformed_yaml(project):
    project.spec("""
        fakes:
          a: {output: x
          b: {output: y}
    """)
    msg = only_error(project)
    assert msg.startswith("specs/main.yaml:3:")
    assert "malformed YAML" in msg


def test_malformed_settings_file(project):
    project.write("imagineer.yaml", "cache: [unclosed\n")
    msg = only_error(project)
    assert msg.startswith("imagineer.yaml:2:1: malformed YAML")


def test_unknown_setting(project):
    project.write("imagineer.yaml", "cache: cache\nexecuter: {gpu: 2}\n")
    assert only_error(project).startswith(
        "imagineer.yaml:2:1: unknown key 'executer' (did you mean 'executor'?)")


def test_missing_folder(project):
    project.spec("""
        sources:
          photos: {dir: data/nowhere}
    """)
    msg = only_error(project)
    assert msg.startswith("specs/main.yaml:2:17: data/nowhere: no such file or folder")


def test_unknown_section(project):
    project.spec("""
        fakes:
          a: {output: x}
        sourcs:
          b: {dir: data}
    """)
    msg = only_error(project)
    assert msg.startswith("specs/main.yaml:3:1: unknown section 'sourcs' (did you mean 'sources'?)")
    assert "expected one of:" in msg


def test_a_source_needs_a_variant(project):
    project.spec("""
        sources:
          empty: {sidecar_ext: .txt}
    """)
    assert only_error(project).startswith("specs/main.yaml:2:10: a source needs exactly one of: dir")


def test_every_error_is_reported_at_once_and_nothing_is_built(project, shapes):
    project.spec("""
        sources:
          photos: {dir: data/shapes, dedupe: {}}
        fakes:
          top: {uses: [photoz]}
    """)
    project.spec("""
        fakes: {broken: [
    """, name="z.yaml")
    r = project.build(env=ENV)
    assert r.code == 2
    lines = r.err.splitlines()
    assert lines[0].startswith("specs/main.yaml:2:30: unknown key 'dedupe' (did you mean 'dedup'?)")
    assert any(x.startswith("specs/main.yaml:4:16: unknown target 'photoz'") for x in lines)
    assert any(x.startswith("specs/z.yaml:2:1: malformed YAML") for x in lines)
    assert lines[-1] == "3 errors in the specs; nothing was built."
    assert r.events() == []
    assert not (project.root / "out").exists()
    assert not (project.root / "imagineer.lock").exists()


def test_set_override_is_validated_like_the_spec(project, shapes):
    project.spec("""
        sources:
          photos: {dir: data/shapes}
    """)
    r = project.build("--set", "photos:filter.max_aspect=wide", env=ENV)
    assert r.code == 2
    assert "filter.max_aspect" in r.err and "'wide'" in r.err


def test_shapes_that_are_not_mappings(project):
    project.spec("- just\n- a list\n", name="list.yaml")
    project.spec("""
        fakes:
          scalar: 3
          "bad name!": {output: x}
    """)
    errs = errors(project)
    assert errs[0].startswith("specs/list.yaml:1:1: a spec file must be a mapping of sections")
    assert errs[1] == "specs/main.yaml:2:11: target 'scalar' must be a mapping of settings, got int"
    assert errs[2].startswith("specs/main.yaml:3:3: bad target name 'bad name!'")


def test_no_project_found(tmp_path):
    from conftest import Project as TestProject

    r = TestProject(tmp_path).run("status")
    assert r.code == 2 and f"no imagineer.yaml in {tmp_path}" in r.err


def test_two_separate_cycles_are_two_errors(project):
    project.spec("""
        fakes:
          x2: {uses: [x1]}
          x1: {uses: [x2]}
          y1: {uses: [y3]}
          y2: {uses: [y1]}
          y3: {uses: [y2, x1]}
    """)
    errs = [e.splitlines()[0] for e in errors(project)]
    assert errs == ["specs/main.yaml:3:3: dependency cycle: x1 → x2 → x1",
                    "specs/main.yaml:4:3: dependency cycle: y1 → y2 → y3 → y1"]
