"""Scores spec errors name file:line:col, found from the upstream target's spec; nothing is built."""

from __future__ import annotations

import pytest

from imagineer_build.core.project import Project
from imagineer_build.core.spec import SpecErrors

SETTINGS = ("cache: cache\nout: out\nmodels:\n  tiny: {base: 'builtin:tiny-sd'}\n"
            "  clip: {base: 'builtin:tiny-clip', arch: clip}\n")
UPSTREAM = """
sources:
  photos: {dir: data/photos}
generations:
  deck:
    template: data/deck.csv
    prompt: "{character}, {HairColor} hair, {Solo}"
    variations: {HairColor: [red, blue], Solo: [only]}
    model: tiny
labels:
  deck-labels: {of: deck, labeler: manifest}
"""


@pytest.fixture
def proj(project):
    project.root.joinpath("imagineer.yaml").write_text(SETTINGS)
    project.write("data/deck.csv", "character,mood\nknight,calm\nwitch,calm\n")
    (project.root / "data/photos").mkdir()
    project.write("specs/upstream.yaml", UPSTREAM)
    return project


def errors(project) -> list[str]:
    with pytest.raises(SpecErrors) as e:
        Project.load(project.root)
    return [str(x) for x in e.value.errors]


def test_a_valid_scores_spec_loads(proj):
    proj.spec("""
        scores:
          deck-q: {of: deck-labels, model: clip, variations: [HairColor, Solo], columns: [character],
                   options: {Solo: [only, other]}}
    """)
    t = Project.load(proj.root).targets["deck-q"]
    assert [r.target for r in t.refs] == ["deck-labels"]


def test_unknown_variation_and_column_through_a_labels_target(proj):
    proj.spec("""
        scores:
          deck-q:
            of: deck-labels
            model: clip
            variations: [HairColour]
            columns: [suit]
    """)
    errs = errors(proj)
    assert errs == [
        "specs/main.yaml:5:18: deck has no variation 'HairColour' (did you mean 'HairColor'?) "
        "(variations: HairColor, Solo)",
        "specs/main.yaml:6:15: deck has no column 'suit' (columns: character, mood)",
    ]


def test_a_choice_needs_two_options(proj):
    proj.spec("""
        scores:
          deck-q:
            of: deck
            model: clip
            variations: [HairColor, Solo]
            columns: [mood]
    """)
    errs = errors(proj)
    assert len(errs) == 2
    assert errs[0].startswith("specs/main.yaml:5:29: Solo has one value ('only'): there is nothing to choose among")
    assert errs[1].startswith("specs/main.yaml:6:15: mood has one value ('calm')")


def test_adherence_on_an_album_without_prompts(proj):
    proj.spec("""
        scores:
          photos-q:
            of: photos
            model: clip
    """)
    (err,) = errors(proj)
    assert err.startswith("specs/main.yaml:3:9: photos holds no prompts (photos is not a generation)")
    assert "set `prompt:`" in err
    proj.spec("""
        scores:
          photos-q: {of: photos, model: clip, prompt: "a tarot card"}
    """)
    assert "photos-q" in Project.load(proj.root).targets


def test_baseline_must_be_a_scores_target(proj):
    proj.spec("""
        scores:
          deck-q: {of: deck, model: clip, baseline: deck-labels}
    """)
    (err,) = errors(proj)
    assert err.startswith("specs/main.yaml:2:45: baseline deck-labels is a labels target; it must be a scores target")


def test_models_must_fit_the_kind(proj):
    proj.spec("""
        scores:
          deck-q: {of: deck, model: tiny}
        generations:
          clip-deck: {prompt: "a card", model: clip}
    """)
    errs = errors(proj)
    assert any(e.startswith("specs/main.yaml:2:29: model 'tiny' is a sd15 model; this target needs clip") for e in errs)
    assert any(e.startswith("specs/main.yaml:4:40: model 'clip' is a clip model; this target needs sd15 or sdxl")
               for e in errs)


def test_status_of_a_scores_project_imports_no_heavy_library(proj):
    from test_light_imports import run_probe

    proj.spec("""
        scores:
          deck-q: {of: deck, model: clip, variations: [HairColor]}
    """)
    p, heavy = run_probe(proj.root, "status")
    assert p.returncode == 0, p.stderr
    assert heavy == ""
